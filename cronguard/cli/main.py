"""The ``cronguard`` command line: the command groups composed into one app, and the
entry point that keeps every error on one line (``cronguard.cli.common``)."""

from __future__ import annotations

import sys

import typer

from cronguard.cli import jobs, pause, replay, runs, simulate, stacks
from cronguard.cli.common import DEBUG_FLAG, RUNTIME_ERROR, USAGE_ERROR, print_error

app = typer.Typer(
    help="Guarded schedules for ECS batch jobs.",
    epilog=(
        f"Exit codes: 0 done; {USAGE_ERROR} a usage or config error; {RUNTIME_ERROR} a runtime "
        f"failure (AWS, a failed simulation, an unexpected error). Add {DEBUG_FLAG} anywhere "
        "to see an unexpected error's traceback."
    ),
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
for group in (jobs, runs, replay, pause, simulate):
    app.add_typer(group.app)
app.add_typer(stacks.app, name="stacks")


def _unexpected(error: BaseException) -> str:
    """An error nobody planned for, on one line."""
    text = " ".join(str(error).split())
    detail = f": {text[:200]}{'…' if len(text) > 200 else ''}" if text else ""
    return f"unexpected {type(error).__name__}{detail} (run with {DEBUG_FLAG} for the traceback)"


def _run(args: list[str]) -> int:
    """Run a command; a usage error (a missing argument, a bad option value) is one line too,
    where typer would draw a box."""
    try:
        code = app(args=args, prog_name="cronguard", standalone_mode=False)
    except typer.TyperException as error:
        if args:  # with no arguments at all, typer has shown the help instead
            context = getattr(error, "ctx", None)
            command = context.command_path if context is not None else "cronguard"
            print_error(f"{error.format_message()} (see {command} --help)")
        return error.exit_code
    except typer.Abort:
        print_error("aborted")
        return RUNTIME_ERROR
    return code if isinstance(code, int) else 0


def main(argv: list[str] | None = None) -> None:
    """The ``cronguard`` entry point: ``--debug`` may come anywhere on the line."""
    args = sys.argv[1:] if argv is None else argv
    debug = DEBUG_FLAG in args
    try:
        code = _run([arg for arg in args if arg != DEBUG_FLAG])
    except Exception as error:
        if debug:
            raise
        print_error(_unexpected(error))
        code = RUNTIME_ERROR
    sys.exit(code)
