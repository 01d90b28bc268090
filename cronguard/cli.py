"""The ``cronguard`` command line: check config and see an environment's jobs.

Every error is one line on stderr. Exit codes: 2 for a usage or config error (what the
user typed or wrote), 1 for a runtime failure (AWS, a broken guarantee, an unexpected
error; ``--debug`` shows its traceback).
"""

from __future__ import annotations

import json
import os
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, NoReturn

import typer
from rich.console import Console
from rich.table import Table

from cronguard import catch_up as catch_up_module
from cronguard import pause as pause_module
from cronguard import stacks_cli
from cronguard import status as status_module
from cronguard.config import DEFAULT_CONFIG_DIR, ConfigError, Environment, Job, load_environment
from cronguard.config.loader import ENVIRONMENTS_DIR, display_path
from cronguard.config.model import format_duration, shown
from cronguard.operations import OperationError, Operations, parse_time
from lambdas.core.schedule import upcoming_slots
from lambdas.core.times import slot_key

USAGE_ERROR, RUNTIME_ERROR = 2, 1
DEBUG_FLAG = "--debug"
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
app.add_typer(stacks_cli.app, name="stacks")
# Piped output (CI logs, `| less`) gets a wide table instead of rich's 80-column default.
# No emoji codes: ARNs hold ":secret:", which rich would print as an emoji.
console = Console(width=None if sys.stdout.isatty() else 160, emoji=False)
errors = Console(stderr=True, soft_wrap=True, emoji=False)

CONFIG_VARIABLE = "CRONGUARD_CONFIG"  # another config directory than the repository's config/
EnvOption = typer.Option(
    "dev", "--env", "-e", help="Environment name (config/environments/<env>.yaml)"
)


def _error(message: str) -> None:
    errors.print(f"error: {message}", markup=False, highlight=False)


def _config_dir() -> Path:
    configured = os.environ.get(CONFIG_VARIABLE)
    if not configured:
        return DEFAULT_CONFIG_DIR
    config_dir = Path(configured)
    if not config_dir.is_dir():
        _error(f"{CONFIG_VARIABLE}={shown(configured)}: no such config directory")
        raise typer.Exit(USAGE_ERROR)
    return config_dir


def _load(env: str) -> Environment:
    try:
        return load_environment(env, _config_dir())
    except ConfigError as error:
        for problem in error.problems:
            _error(str(problem))
        raise typer.Exit(USAGE_ERROR) from None


@app.command()
def validate(env: str = EnvOption) -> None:
    """Check an environment's config with the same rules as synth."""
    environment = _load(env)
    env_file = display_path(_config_dir() / ENVIRONMENTS_DIR / f"{environment.name}.yaml")
    console.print(f"{env_file}: OK, {len(environment.jobs)} jobs", markup=False, highlight=False)


def jobs_table(environment: Environment) -> Table:
    table = Table(title=f"cronguard {environment.name}: {len(environment.jobs)} jobs")
    for column in ("job", "schedule", "time zone", "concurrency", "timeout", "deadline", "enabled"):
        table.add_column(column)
    for job in environment.jobs:
        table.add_row(
            job.name,
            job.schedule,
            job.timezone,
            job.concurrency.value,
            format_duration(job.timeout),
            format_duration(job.starting_deadline) if job.starting_deadline else "-",
            "yes" if job.enabled else "no",
        )
    return table


def jobs_document(environment: Environment) -> dict[str, Any]:
    """What tools and other stacks need to find each job (``cronguard jobs --json``)."""
    return {
        "environment": environment.name,
        "stack": environment.stack_name,
        "jobs": [
            {
                "name": job.name,
                "stateMachineName": environment.state_machine_name(job),
                "stateMachineArn": environment.state_machine_arn(job),
                "stateMachineArnParameter": environment.state_machine_parameter(job),
                "schedule": job.schedule,
                "timezone": job.timezone,
                "concurrency": job.concurrency.value,
                "enabled": job.enabled,
            }
            for job in environment.jobs
        ],
    }


@app.command()
def jobs(
    env: str = EnvOption,
    as_json: bool = typer.Option(
        False,
        "--json",
        help="Print JSON for tools: each job's state machine ARN (${AWS::…} where the "
        "environment is not pinned), its SSM parameter, schedule and concurrency",
    ),
) -> None:
    """List an environment's jobs: schedule, time zone, concurrency, enabled."""
    environment = _load(env)
    if as_json:
        print(json.dumps(jobs_document(environment), indent=2))
        return
    console.print(jobs_table(environment))


def _job(environment: Environment, name: str) -> Job:
    try:
        return environment.job(name)
    except KeyError as error:
        _error(error.args[0])
        raise typer.Exit(USAGE_ERROR) from None


def _fail(error: Exception, code: int = RUNTIME_ERROR) -> NoReturn:
    _error(str(error))
    raise typer.Exit(code)


def _time(text: str) -> datetime:
    try:
        return parse_time(text)
    except OperationError as error:
        _fail(error, USAGE_ERROR)


@app.command("next")
def next_slots(
    job: str = typer.Argument(..., help="Job name"),
    env: str = EnvOption,
    count: int = typer.Option(5, "-n", "--count", min=1, max=1000, help="How many slots"),
    after: str | None = typer.Option(None, help="Start from this time (default: now)"),
) -> None:
    """The job's next slots, in its time zone and in UTC, as Scheduler will fire them."""
    environment = _load(env)
    the_job = _job(environment, job)
    start = _time(after) if after else datetime.now(UTC).replace(microsecond=0)
    slots = upcoming_slots(the_job.schedule, the_job.timezone, after=start, count=count)
    table = Table(
        title=f"{environment.name}/{the_job.name}: {the_job.schedule} ({the_job.timezone})"
    )
    table.add_column("#", justify="right")
    table.add_column(f"slot ({the_job.timezone})")
    table.add_column("slot (UTC)")
    # A rate schedule counts from any second: both columns then show it.
    local_format = (
        "%Y-%m-%d %H:%M:%S %a %Z" if any(s.second for s in slots) else "%Y-%m-%d %H:%M %a %Z"
    )
    for number, slot in enumerate(slots, start=1):
        table.add_row(
            str(number),
            slot.strftime(local_format),
            slot_key(slot),
        )
    console.print(table)
    if not the_job.enabled:
        console.print(
            f"{the_job.name} is disabled in environment '{environment.name}' (enabled: false): "
            "its schedule is deployed disabled and fires none of these slots.",
            markup=False,
            highlight=False,
        )
    if the_job.schedule.startswith("rate("):
        console.print(
            "rate schedules count from when the schedule was created; shown counting from "
            f"{start.strftime('%Y-%m-%dT%H:%M:%SZ')}.",
            markup=False,
        )


@app.command()
def history(
    job: str = typer.Argument(..., help="Job name"),
    env: str = EnvOption,
    limit: int = typer.Option(20, "--limit", "-l", min=1, help="How many slots"),
) -> None:
    """The job's slots from the ledger: status, reason, execution, task, exit code, duration.

    A slot run again with --force shows its earlier runs below it."""
    environment = _load(env)
    the_job = _job(environment, job)
    try:
        records = Operations(environment).history(the_job, limit)
    except OperationError as error:
        _fail(error)
    slots = sum(not record.earlier for record in records)
    table = Table(title=f"{environment.name}/{the_job.name}: last {slots} slots")
    for column in ("slot", "status", "reason", "execution", "task", "exit", "duration", "dups"):
        table.add_column(column)
    for record in records:
        duration = record.duration_seconds
        table.add_row(
            f"  ↳ earlier run of {record.slot}" if record.earlier else record.slot,
            record.status,
            record.reason,
            record.execution,
            record.task or "-",
            "-" if record.exit_code is None else str(record.exit_code),
            "-" if duration is None else f"{duration:.0f}s",
            str(record.duplicates),
        )
    console.print(table)


@app.command()
def run(
    job: str = typer.Argument(..., help="Job name"),
    env: str = EnvOption,
    slot: str | None = typer.Option(
        None, help="Backfill or re-run this slot (its scheduled time, e.g. 2026-11-22T03:00:00Z)"
    ),
    force: bool = typer.Option(False, help="Run the slot even if it already finished"),
) -> None:
    """Start a manual run, or a backfill of one slot; prints the execution and its console link."""
    environment = _load(env)
    the_job = _job(environment, job)
    when = _time(slot) if slot else None
    try:
        arn, link = Operations(environment).start_run(the_job, when, force)
    except OperationError as error:
        _fail(error)
    console.print(f"started {arn}", markup=False, highlight=False, soft_wrap=True)
    console.print(link, markup=False, highlight=False, soft_wrap=True)


LimitOption = typer.Option(
    catch_up_module.DEFAULT_LIMIT, "--max", min=1, help="Refuse more slots than this without --yes"
)
YesOption = typer.Option(False, "--yes", help="Start more slots than --max")
RateOption = typer.Option(
    catch_up_module.DEFAULT_RATE, "--rate", help="At most this many starts: 1/s, 30/m, 100/h"
)
WaitOption = typer.Option(
    False,
    "--wait",
    help="Start each slot once the previous execution ended, so every slot runs (forbid, replace)",
)


def _replay(
    environment: Environment,
    the_job: Job,
    command: str,
    plan: Any,
    limit: int,
    yes: bool,
    rate: str,
    wait: bool,
) -> None:
    """Start the slots ``plan(items, pause)`` names, bounded and paced, and print the table."""
    try:
        per_second = catch_up_module.parse_rate(rate)
    except ValueError as error:
        _fail(error, USAGE_ERROR)
    try:
        ops = Operations(environment)
        items = status_module.read_partition(ops, the_job)
        pause = status_module.pause_of(items)
        if pause.paused:
            _fail(
                OperationError(
                    f"{the_job.name} is paused since {pause.since:%Y-%m-%dT%H:%M:%SZ} "
                    f"({pause.reason}): the guard skips its slots; resume it first "
                    f"(cronguard resume {the_job.name} --env {environment.name})"
                ),
                USAGE_ERROR,
            )
        try:
            slots, names = plan(items, pause)
            catch_up_module.check_bounds(the_job, slots, limit, yes, command)
        except (ValueError, catch_up_module.TooMany) as error:
            _fail(error, USAGE_ERROR)
        if not slots:
            console.print(f"{command} {the_job.name}: no slots to start", markup=False)
            return
        console.print(
            f"{command} {the_job.name}: {len(slots)} slot(s), at most {rate}"
            + (", each after the previous one ended" if wait else ""),
            markup=False,
            highlight=False,
        )
        note = catch_up_module.concurrency_note(the_job, len(slots), wait)
        if note:
            console.print(f"note: {note}", markup=False, highlight=False)
        replays = catch_up_module.Replayer(
            ops, the_job, catch_up_module.Pacer(per_second), wait=wait
        ).run(list(zip(slots, names, strict=True)))
    except OperationError as error:
        _fail(error)
    table = Table(title=f"{environment.name}/{the_job.name}: {command}")
    for column in ("slot", f"slot ({the_job.timezone})", "execution", "start", "decision"):
        table.add_column(column)
    for replay in replays:
        local = catch_up_module.local_time(replay.slot, the_job.timezone)
        table.add_row(
            replay.slot,
            local,
            replay.name,
            "started" if replay.new else "existed",
            replay.error or replay.decision,
        )
    console.print(table)
    if not all(replay.ok for replay in replays):
        raise typer.Exit(RUNTIME_ERROR)


@app.command("catch-up")
def catch_up(
    job: str = typer.Argument(..., help="Job name"),
    env: str = EnvOption,
    since: str | None = typer.Option(
        None, help="Look back to this time (default: the ledger retention, at most 7 days)"
    ),
    limit: int = LimitOption,
    yes: bool = YesOption,
    rate: str = RateOption,
    wait: bool = WaitOption,
) -> None:
    """Start the job's missed slots: MISSED in the ledger, or due without any record."""
    environment = _load(env)
    the_job = _job(environment, job)
    now = datetime.now(UTC)
    start = _time(since) if since else now - catch_up_module.look_back_of(environment)
    if not the_job.enabled:
        console.print(
            f"{the_job.name} is disabled in environment '{environment.name}' (enabled: false): "
            "none of its slots is missed; use cronguard backfill to run slots anyway",
            markup=False,
            highlight=False,
        )
        return

    def plan(items: Any, pause: Any) -> tuple[list[str], list[str]]:
        slots = catch_up_module.catch_up_slots(the_job, items, pause, now=now, since=start)
        return slots, [catch_up_module.catch_up_name(slot) for slot in slots]

    _replay(environment, the_job, "catch-up", plan, limit, yes, rate, wait)


@app.command()
def backfill(
    job: str = typer.Argument(..., help="Job name"),
    env: str = EnvOption,
    from_: str = typer.Option(..., "--from", help="First slot time (inclusive)"),
    to: str = typer.Option(..., "--to", help="Last slot time (inclusive)"),
    limit: int = LimitOption,
    yes: bool = YesOption,
    rate: str = RateOption,
    wait: bool = WaitOption,
) -> None:
    """Start every slot of the job's schedule from --from to --to.

    Slots that already have a record are skipped by the guard as duplicates."""
    environment = _load(env)
    the_job = _job(environment, job)
    start, end = _time(from_), _time(to)

    def plan(items: Any, _pause: Any) -> tuple[list[str], list[str]]:
        recorded = catch_up_module.recorded_slots(items)
        slots = catch_up_module.range_slots(the_job, start, end, recorded)
        return slots, [catch_up_module.backfill_name(slot) for slot in slots]

    _replay(environment, the_job, "backfill", plan, limit, yes, rate, wait)


@app.command("redrive-dlq")
def redrive_dlq(
    env: str = EnvOption,
    queue_url: str | None = typer.Option(
        None, help="The queue (default: the environment stack's output DeadLetterQueueUrl)"
    ),
    limit: int = LimitOption,
    yes: bool = YesOption,
    rate: str = RateOption,
) -> None:
    """Start the schedule deliveries in the dead-letter queue, as backfill does.

    A message is deleted once its execution started; messages that are not a delivery of
    one of the environment's jobs, or could not be started, stay in the queue."""
    import time

    from cronguard import redrive as redrive_module

    environment = _load(env)
    try:
        per_second = catch_up_module.parse_rate(rate)
    except ValueError as error:
        _fail(error, USAGE_ERROR)
    try:
        ops = Operations(environment)
        url = queue_url or redrive_module.queue_url(ops)
        count = redrive_module.waiting(ops, url)
        if count > limit and not yes:
            _fail(
                OperationError(
                    f"the dead-letter queue holds about {count} messages, more than {limit}: "
                    "add --yes to redrive them all"
                ),
                USAGE_ERROR,
            )
        console.print(
            f"redrive-dlq {environment.name}: about {count} message(s), at most {rate}",
            markup=False,
            highlight=False,
        )
        visibility = min(redrive_module.MAX_VISIBILITY, int(max(count, 1) / per_second) + 120)

        def settle(started: list[Any]) -> None:
            redrive_module.settle_decisions(ops, started, attempts=5, sleep=time.sleep)

        results = redrive_module.redrive(
            ops,
            url,
            catch_up_module.Pacer(per_second),
            visibility_seconds=visibility,
            settle=settle,
        )
    except OperationError as error:
        _fail(error)
    table = Table(title=f"{environment.name}: dead-letter queue")
    for column in ("message", "job", "slot", "error", "execution", "deleted", "decision"):
        table.add_column(column)
    for result in results:
        letter = result.letter
        table.add_row(
            letter.message_id[:8],
            letter.job.name if letter.job else "-",
            letter.slot or "-",
            letter.error or "-",
            result.replay.name if result.replay else "-",
            "yes" if result.deleted else "no",
            result.outcome,
        )
    console.print(table)
    kept = [result for result in results if result.kept_because is not None]
    if kept:
        console.print(f"{len(kept)} message(s) kept in the queue:", markup=False)
    for result in kept:
        console.print(
            f"  {result.letter.message_id[:8]}: {result.kept_because}",
            markup=False,
            highlight=False,
            soft_wrap=True,
        )


@app.command()
def pause(
    job: str = typer.Argument(..., help="Job name"),
    env: str = EnvOption,
    reason: str = typer.Option(..., help="Why (shown in status and in the skipped slots)"),
) -> None:
    """Pause a job without a deploy: the guard skips its slots until it is resumed.

    Writes the job's pause record in the ledger; the schedule and CloudFormation stay
    untouched."""
    environment = _load(env)
    the_job = _job(environment, job)
    try:
        text = pause_module.check_reason(reason)
    except ValueError as error:
        _fail(error, USAGE_ERROR)
    try:
        change = pause_module.pause(Operations(environment), the_job, text)
    except OperationError as error:
        _fail(error)
    record = change.pause
    since = f"{record.since:%Y-%m-%dT%H:%M:%SZ}" if record.since else "?"
    if change.changed:
        message = f"paused {the_job.name} in '{environment.name}' at {since}: {record.reason}"
    else:
        message = (
            f"{the_job.name} was already paused since {since} by {record.by}: {record.reason} "
            "(unchanged)"
        )
    console.print(message, markup=False, highlight=False, soft_wrap=True)


@app.command()
def resume(job: str = typer.Argument(..., help="Job name"), env: str = EnvOption) -> None:
    """Resume a paused job: its next slots run again.

    The slots skipped while it was paused stay skipped; cronguard backfill runs them."""
    environment = _load(env)
    the_job = _job(environment, job)
    try:
        change = pause_module.resume(Operations(environment), the_job)
    except OperationError as error:
        _fail(error)
    if not change.changed:
        message = f"{the_job.name} is not paused in '{environment.name}' (unchanged)"
    else:
        period = change.pause.periods[-1]
        message = (
            f"resumed {the_job.name} in '{environment.name}': paused from "
            f"{period.start:%Y-%m-%dT%H:%M:%SZ} to {period.end:%Y-%m-%dT%H:%M:%SZ} "
            f"({period.reason})"
        )
    console.print(message, markup=False, highlight=False, soft_wrap=True)


@app.command()
def status(
    env: str = EnvOption,
    as_json: bool = typer.Option(False, "--json", help="Print the stable JSON shape for tools"),
) -> None:
    """One row per job: last slot, running, next slot, missed, failed, paused or disabled.

    Last slot with status, age and duration; missed and failed slots of the last 7 days.
    One ledger query per job."""
    environment = _load(env)
    now = datetime.now(UTC)
    try:
        rows = status_module.environment_status(Operations(environment), now)
    except OperationError as error:
        _fail(error)
    if as_json:
        print(json.dumps(status_module.status_document(environment, rows, now), indent=2))
        return
    table = Table(title=f"cronguard {environment.name}: {len(rows)} jobs")
    for column in status_module.COLUMNS:
        table.add_column(column)
    for row in rows:
        table.add_row(*status_module.table_rows(row))
    console.print(table)


@app.command()
def simulate(
    env: str = EnvOption,
    assembly: Path = typer.Option(
        Path("cdk.out"), help="The synthesized cloud assembly (npx cdk synth -c env=<env>)"
    ),
    job: list[str] | None = typer.Option(
        None,
        help="Job to simulate; repeat it for several, deployed once (default: first forbid job)",
    ),
    burst: int = typer.Option(8, min=2, max=50, help="Duplicate triggers for one slot"),
    report: Path | None = typer.Option(
        None,
        dir_okay=False,
        help="Also write the timeline as a self-contained HTML page (e.g. simulation.html)",
    ),
) -> None:
    """Run the synthesized state machines and the real guard locally (no AWS): a burst of
    duplicate triggers, an overlapping slot, a late duplicate and a failing run (and a retried
    one, for a job with job_retries)."""
    environment = _load(env)
    chosen = [_job(environment, name) for name in job or []]  # before 20 s of deploying
    # Only the simulation needs the local engine, the optional simulate extra: import it
    # here, not for every command, and say so in one line when it is not installed.
    from cronguard.extras import MissingExtra

    try:
        from cronguard.simulation.report import ReportError
        from cronguard.simulation.run import simulate_environment
    except MissingExtra as error:
        _fail(error, USAGE_ERROR)

    try:
        results = simulate_environment(environment, assembly, chosen, burst, console, report)
    except KeyError as error:
        _fail(Exception(error.args[0]))
    except (FileNotFoundError, ReportError) as error:
        _fail(error)
    if not all(result.ok for result in results):
        raise typer.Exit(RUNTIME_ERROR)


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
            _error(f"{error.format_message()} (see {command} --help)")
        return error.exit_code
    except typer.Abort:
        _error("aborted")
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
        _error(_unexpected(error))
        code = RUNTIME_ERROR
    sys.exit(code)
