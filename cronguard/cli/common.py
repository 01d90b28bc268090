"""What every command group shares: the console, the options, the exit codes, loading the
environment and finding a job, and the one error path.

Every error is one line on stderr. Exit codes: 2 for a usage or config error (what the
user typed or wrote), 1 for a runtime failure (AWS, a broken guarantee, an unexpected
error; ``--debug`` shows its traceback). Command groups import this module, operations and
config, never each other.
"""

from __future__ import annotations

import os
import shlex
import sys
from datetime import datetime
from pathlib import Path
from typing import Any, NoReturn

import typer
from rich.console import Console

from cronguard.config import (
    ConfigError,
    Environment,
    Job,
    ProjectNotFound,
    find_config_dir,
    load_environment,
)
from cronguard.operations.environment import OperationError, parse_time
from lambdas.core import input_contract
from lambdas.core.input_contract import Overrides
from lambdas.core.times import in_future, not_due

USAGE_ERROR, RUNTIME_ERROR = 2, 1
DEBUG_FLAG = "--debug"
# Piped output (CI logs, `| less`) gets a wide table instead of rich's 80-column default.
# No emoji codes: ARNs hold ":secret:", which rich would print as an emoji.
console = Console(width=None if sys.stdout.isatty() else 160, emoji=False)
errors = Console(stderr=True, soft_wrap=True, emoji=False)

EnvOption = typer.Option(
    "dev", "--env", "-e", help="Environment name (config/environments/<env>.yaml)"
)


def say(text: str) -> None:
    """One message as written: no markup, no highlighting, never cut."""
    console.print(text, markup=False, highlight=False, soft_wrap=True)


def print_error(message: str) -> None:
    errors.print(f"error: {message}", markup=False, highlight=False)


def fail(error: Exception, code: int = RUNTIME_ERROR) -> NoReturn:
    print_error(str(error))
    raise typer.Exit(code)


def config_dir() -> Path:
    """The project's config directory: ``CRONGUARD_CONFIG``, else found from the working
    directory upward (``cronguard.config.project``)."""
    try:
        return find_config_dir(Path.cwd(), os.environ)
    except ProjectNotFound as error:
        fail(error, USAGE_ERROR)


def load(env: str) -> Environment:
    try:
        return load_environment(env, config_dir())
    except ConfigError as error:
        for problem in error.problems:
            print_error(str(problem))
        raise typer.Exit(USAGE_ERROR) from None


def find_job(environment: Environment, name: str) -> Job:
    try:
        return environment.job(name)
    except KeyError as error:
        print_error(error.args[0])
        raise typer.Exit(USAGE_ERROR) from None


# --env names the environment in every command: a variable for one run is --var.
VarOption = typer.Option(
    None,
    "--var",
    help="K=V: set a variable in the job's container for this run (one the job declares in "
    f"environment:, or named {input_contract.OVERRIDE_PREFIX}*; never "
    f"{input_contract.RESERVED_PREFIX}*); repeatable",
)
CommandOption = typer.Option(
    None, "--command", help="Run the job's container with this command instead (shell words)"
)


def parse_overrides(
    job: Job, slot: str, variables: list[str] | None, command: str | None
) -> Overrides | None:
    """A person's overrides as the guard will check them (its own function), or a usage
    error; None when there are none. Counted with the longest execution ARN there can be."""
    if not variables and command is None:
        return None
    raw: dict[str, Any] = {}
    if variables:
        pairs = [variable.partition("=") for variable in variables]
        malformed = [name for name, equals, _ in pairs if not equals or not name]
        if malformed:
            fail(OperationError(f"--var takes K=V, got {malformed[0]!r}"), USAGE_ERROR)
        raw[input_contract.ENVIRONMENT] = {name: value for name, _, value in pairs}
    if command is not None:
        raw[input_contract.COMMAND] = shlex.split(command)
    longest = "x" * input_contract.EXECUTION_ARN_LIMIT
    try:
        return input_contract.check_overrides(
            raw,
            declared=job.environment,
            container=input_contract.JOB_CONTAINER,
            own=input_contract.own_variables(job.name, slot, longest),
        )
    except input_contract.InvalidOverrides as problem:
        fail(OperationError(f"{job.name}: {problem}"), USAGE_ERROR)


def parse_when(text: str) -> datetime:
    """A time the user typed (a slot, --since, --from): a usage error when it is not one."""
    try:
        return parse_time(text)
    except OperationError as error:
        fail(error, USAGE_ERROR)


def refuse_future(slot: datetime, now: datetime, command: str = "") -> None:
    """A usage error for a slot not due yet (the guard's own rule, ``times.in_future``): the
    guard would refuse it anyway, and a typo'd date must not wait for that."""
    if in_future(slot, now):
        fail(OperationError(f"{command}{not_due(slot, now)}"), USAGE_ERROR)
