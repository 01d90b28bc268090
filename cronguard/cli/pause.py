"""Pausing a job without a deploy: ``pause`` and ``resume``."""

from __future__ import annotations

import typer

from cronguard.cli.common import USAGE_ERROR, EnvOption, console, fail, find_job, load
from cronguard.operations import pause as pause_module
from cronguard.operations.environment import OperationError, Operations

app = typer.Typer()


@app.command()
def pause(
    job: str = typer.Argument(..., help="Job name"),
    env: str = EnvOption,
    reason: str = typer.Option(..., help="Why (shown in status and in the skipped slots)"),
) -> None:
    """Pause a job without a deploy: the guard skips its slots until it is resumed.

    Writes the job's pause record in the ledger; the schedule and CloudFormation stay
    untouched."""
    environment = load(env)
    the_job = find_job(environment, job)
    try:
        text = pause_module.check_reason(reason)
    except ValueError as error:
        fail(error, USAGE_ERROR)
    try:
        change = pause_module.pause(Operations(environment), the_job, text)
    except OperationError as error:
        fail(error)
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
    environment = load(env)
    the_job = find_job(environment, job)
    try:
        change = pause_module.resume(Operations(environment), the_job)
    except OperationError as error:
        fail(error)
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
