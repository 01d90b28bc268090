"""The ``cronguard`` command line: check config and see an environment's jobs."""

from __future__ import annotations

import os
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import NoReturn

import typer
from rich.console import Console
from rich.table import Table

from cronguard.config import DEFAULT_CONFIG_DIR, ConfigError, Environment, Job, load_environment
from cronguard.config.model import format_duration
from cronguard.operations import OperationError, Operations, parse_time
from cronguard.schedule import upcoming_slots

app = typer.Typer(
    help="Guarded schedules for ECS batch jobs.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
# Piped output (CI logs, `| less`) gets a wide table instead of rich's 80-column default.
console = Console(width=None if sys.stdout.isatty() else 160)
errors = Console(stderr=True, soft_wrap=True)

CONFIG_VARIABLE = "CRONGUARD_CONFIG"  # another config directory than the repository's config/
EnvOption = typer.Option(
    "dev", "--env", "-e", help="Environment name (config/environments/<env>.yaml)"
)


def _load(env: str) -> Environment:
    config_dir = Path(os.environ.get(CONFIG_VARIABLE) or DEFAULT_CONFIG_DIR)
    try:
        return load_environment(env, config_dir)
    except ConfigError as error:
        for problem in error.problems:
            errors.print(f"error: {problem}", markup=False, highlight=False)
        raise typer.Exit(2) from None


@app.command()
def validate(env: str = EnvOption) -> None:
    """Check an environment's config with the same rules as synth."""
    environment = _load(env)
    console.print(
        f"config/environments/{environment.name}.yaml: OK, {len(environment.jobs)} jobs",
        markup=False,
        highlight=False,
    )


def jobs_table(environment: Environment) -> Table:
    table = Table(title=f"cronguard {environment.name}: {len(environment.jobs)} jobs")
    for column in ("job", "schedule", "time zone", "policy", "timeout", "deadline", "enabled"):
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


@app.command()
def jobs(env: str = EnvOption) -> None:
    """List an environment's jobs: schedule, time zone, concurrency policy, enabled."""
    console.print(jobs_table(_load(env)))


def _job(environment: Environment, name: str) -> Job:
    try:
        return environment.job(name)
    except KeyError as error:
        errors.print(f"error: {error.args[0]}", markup=False, highlight=False)
        raise typer.Exit(2) from None


def _fail(error: Exception) -> NoReturn:
    errors.print(f"error: {error}", markup=False, highlight=False)
    raise typer.Exit(1)


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
    try:
        start = parse_time(after) if after else datetime.now(UTC)
    except OperationError as error:
        _fail(error)
    slots = upcoming_slots(the_job.schedule, the_job.timezone, after=start, count=count)
    table = Table(
        title=f"{environment.name}/{the_job.name}: {the_job.schedule} ({the_job.timezone})"
    )
    table.add_column("#", justify="right")
    table.add_column(f"slot ({the_job.timezone})")
    table.add_column("slot (UTC)")
    for number, slot in enumerate(slots, start=1):
        table.add_row(
            str(number),
            slot.strftime("%Y-%m-%d %H:%M %a %Z"),
            slot.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        )
    console.print(table)
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
    try:
        when = parse_time(slot) if slot else None
        arn, link = Operations(environment).start_run(the_job, when, force)
    except OperationError as error:
        _fail(error)
    console.print(f"started {arn}", markup=False, highlight=False, soft_wrap=True)
    console.print(link, markup=False, highlight=False, soft_wrap=True)


@app.command()
def simulate(
    env: str = EnvOption,
    assembly: Path = typer.Option(
        Path("cdk.out"), help="The synthesized cloud assembly (npx cdk synth -c env=<env>)"
    ),
    job: str | None = typer.Option(None, help="Job to simulate (default: first forbid job)"),
    burst: int = typer.Option(8, min=2, max=50, help="Duplicate triggers for one slot"),
) -> None:
    """Run the synthesized state machines and the real guard locally (no AWS): a burst of
    duplicate triggers, an overlapping slot, a late duplicate and a failing run."""
    environment = _load(env)
    # Only the simulation needs the local engine: import it here, not for every command.
    from cronguard.simulation.run import simulate_environment

    try:
        result = simulate_environment(environment, assembly, job, burst, console)
    except (KeyError, FileNotFoundError) as error:
        _fail(error)
    if not result.ok:
        raise typer.Exit(1)


def main() -> None:
    app()
