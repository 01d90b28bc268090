"""Commands that start many slots, bounded and paced: ``catch-up``, ``backfill`` and
``redrive-dlq``."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import typer
from rich.table import Table

from cronguard.cli.common import (
    RUNTIME_ERROR,
    USAGE_ERROR,
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
from cronguard.config import Environment, Job
from cronguard.operations import catch_up as catch_up_module
from cronguard.operations import pause as pause_module
from cronguard.operations import status as status_module
from cronguard.operations.environment import OperationError, Operations
from lambdas.core.execution_contract import BACKFILL, CATCH_UP
from lambdas.core.input_contract import Overrides
from lambdas.core.times import slot_key, slot_time

app = typer.Typer()

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
    overrides: Overrides | None = None,
) -> None:
    """Start the slots ``plan(items, pause)`` names, bounded and paced, and print the table.
    ``command`` (catch-up, backfill) names the executions too (``replay_names``); every slot
    runs with ``overrides`` (backfill)."""
    try:
        per_second = catch_up_module.parse_rate(rate)
    except ValueError as error:
        fail(error, USAGE_ERROR)
    try:
        ops = Operations(environment)
        items = status_module.read_partition(ops, the_job)
        pause = status_module.pause_of(items)
        if pause.paused:
            fail(
                OperationError(pause_module.refusal(the_job, pause, environment.name)),
                USAGE_ERROR,
            )
        try:
            slots = plan(items, pause)
            latest = slot_time(max(slots)) if slots else None  # slot keys sort as times do
            if latest is not None:
                refuse_future(latest, datetime.now(UTC), f"{command} {the_job.name}: ")
            catch_up_module.check_bounds(the_job, slots, limit, yes, command)
        except (ValueError, catch_up_module.TooMany) as error:
            fail(error, USAGE_ERROR)
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
            ops,
            the_job,
            catch_up_module.Pacer(per_second),
            kind=command,
            wait=wait,
            overrides=overrides,
        ).run(slots)
    except OperationError as error:
        fail(error)
    table = Table(title=f"{environment.name}/{the_job.name}: {command}")
    for column in ("slot", f"slot ({the_job.timezone})", "execution", "start", "decision"):
        table.add_column(column)
    for replay in replays:
        local = catch_up_module.local_time(replay.slot, the_job.timezone)
        table.add_row(
            replay.slot,
            local,
            replay.name,
            replay.start,
            replay.error or replay.decision,
        )
    console.print(table)
    for replay in replays:
        if replay.passed_over:
            console.print(f"{replay.slot}: {replay.passed_over}", markup=False, highlight=False)
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
    environment = load(env)
    the_job = find_job(environment, job)
    now = datetime.now(UTC)
    start = parse_when(since) if since else now - status_module.missed_window(environment)
    if not the_job.enabled:
        console.print(
            f"{the_job.name} is disabled in environment '{environment.name}' (enabled: false): "
            "none of its slots is missed; use cronguard backfill to run slots anyway",
            markup=False,
            highlight=False,
        )
        return

    def plan(items: Any, pause: Any) -> list[str]:
        return status_module.missed_of(the_job, items, pause, now=now, since=start)

    _replay(environment, the_job, CATCH_UP, plan, limit, yes, rate, wait)


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
    var: list[str] | None = VarOption,
    container_command: str | None = CommandOption,
) -> None:
    """Start every slot of the job's schedule from --from to --to.

    Slots that already have a record are skipped by the guard as duplicates. --var and
    --command change the job's container for these runs only."""
    environment = load(env)
    the_job = find_job(environment, job)
    start, end = parse_when(from_), parse_when(to)
    overrides = parse_overrides(the_job, slot_key(start), var, container_command)

    def plan(items: Any, _pause: Any) -> list[str]:
        recorded = catch_up_module.recorded_slots(items)
        return catch_up_module.range_slots(the_job, start, end, recorded)

    _replay(environment, the_job, BACKFILL, plan, limit, yes, rate, wait, overrides)


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

    from cronguard.operations import redrive as redrive_module

    environment = load(env)
    try:
        per_second = catch_up_module.parse_rate(rate)
    except ValueError as error:
        fail(error, USAGE_ERROR)
    try:
        ops = Operations(environment)
        url = queue_url or redrive_module.queue_url(ops)
        count = redrive_module.waiting(ops, url)
        if count > limit and not yes:
            fail(
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
        fail(error)
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
    for result in results:
        if result.replay is not None and result.replay.passed_over:
            console.print(
                f"{result.letter.slot}: {result.replay.passed_over}", markup=False, highlight=False
            )
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
