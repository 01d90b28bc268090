"""Commands about one job's runs: ``history`` and ``run``, and every job's ``status``."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import typer
from rich.table import Table

from cronguard.cli.common import (
    CommandOption,
    EnvOption,
    VarOption,
    console,
    fail,
    find_job,
    load,
    parse_overrides,
    parse_when,
    refuse_future,
)
from cronguard.operations import status as status_module
from cronguard.operations.environment import OperationError, Operations
from lambdas.core.execution_contract import EXECUTION_NAME_LIMIT
from lambdas.core.times import slot_key

app = typer.Typer()


@app.command()
def history(
    job: str = typer.Argument(..., help="Job name"),
    env: str = EnvOption,
    limit: int = typer.Option(20, "--limit", "-l", min=1, help="How many slots"),
) -> None:
    """The job's slots from the ledger: status, reason, execution, task, exit code, duration.

    A slot run again with --force shows its earlier runs below it."""
    environment = load(env)
    the_job = find_job(environment, job)
    try:
        records = Operations(environment).history(the_job, limit)
    except OperationError as error:
        fail(error)
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
    var: list[str] | None = VarOption,
    command: str | None = CommandOption,
) -> None:
    """Start a manual run, or a backfill of one slot; prints the execution and its console link.

    --var and --command change the job's container for this run only (the guard checks them
    and records them on the slot)."""
    environment = load(env)
    the_job = find_job(environment, job)
    when = parse_when(slot) if slot else None
    if when is not None:
        refuse_future(when, datetime.now(UTC))
    # A manual run's slot is "manual:<execution name>": counted at its longest.
    run_slot = slot_key(when) if when is not None else f"manual:{'x' * EXECUTION_NAME_LIMIT}"
    overrides = parse_overrides(the_job, run_slot, var, command)
    try:
        arn, link = Operations(environment).start_run(the_job, when, force, overrides=overrides)
    except OperationError as error:
        fail(error)
    console.print(f"started {arn}", markup=False, highlight=False, soft_wrap=True)
    console.print(link, markup=False, highlight=False, soft_wrap=True)


@app.command()
def status(
    env: str = EnvOption,
    as_json: bool = typer.Option(False, "--json", help="Print the stable JSON shape for tools"),
) -> None:
    """One row per job: last slot, running, next slot, missed, failed, paused or disabled.

    Last slot with status, age and duration; missed and failed slots of the last 7 days.
    One ledger query per job."""
    environment = load(env)
    now = datetime.now(UTC)
    try:
        rows = status_module.environment_status(Operations(environment), now)
    except OperationError as error:
        fail(error)
    if as_json:
        print(json.dumps(status_module.status_document(environment, rows, now), indent=2))
        return
    table = Table(title=f"cronguard {environment.name}: {len(rows)} jobs")
    for column in status_module.COLUMNS:
        table.add_column(column)
    for row in rows:
        table.add_row(*status_module.table_rows(row))
    console.print(table)
