"""Run or skip, and why: the guard's decision as a pure function of what the ledger holds.

The handler reads a consistent snapshot of the slot record and the job's lease, asks
``decide``, and then writes the decision with conditions that assert the snapshot. If
another execution changed either item in between, the write fails and the handler decides
again on a fresh snapshot — so the DynamoDB conditional write is the only authority.
Whether a lease holder (or a forced slot's owner) still runs is asked of Step Functions, and
a skip or a stop rests on DescribeExecution of that one execution, never on the eventually
consistent ListExecutions alone; nothing ever asks Step Functions whether a slot is free.

The snapshot holds the job's pause record too (``cronguard pause``), read in the same call,
and, for a renamed job (``renamed_from``), its old name's record of the slot (a slot the old
name ran is a duplicate) and its lease (held, it keeps the new name's slots back, unless
``allow``).
What a paused job does, in this order:

- a slot that already has a record is a duplicate, paused or not (its run is not repeated,
  and a redriven or retried execution gets its first answer again: a run already claimed goes
  on — a pause stops no run in progress);
- otherwise a paused job starts no new run: the slot is skipped as ``paused`` and recorded
  ``SKIPPED_PAUSED`` with the pause's reason — before the starting deadline and the
  concurrency are even looked at, so a paused slot is never reported as late or an overlap.
  A slot the slot watch recorded ``MISSED`` is free, and is skipped as paused the same way;
- a forced run (``cronguard run JOB --slot SLOT --force``) is the one exception: a person
  asked for that slot by name, so it runs while the job is paused (the concurrency and the
  lease still apply).

A pause written after the snapshot was read cannot let a run start: the claim asserts, in
the same transaction, that the pause record does not say paused (``LedgerTable.claim_slot``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from lambdas.core.guard_contract import Concurrency
from lambdas.core.ledger_contract import Status
from lambdas.core.pause import Pause
from lambdas.core.records import Lease, SlotRecord, Snapshot
from lambdas.core.times import slot_time
from lambdas.core.trigger import Trigger


class Verdict(StrEnum):
    RUN = "run"
    DUPLICATE = "duplicate"
    OVERLAP = "overlap"
    LATE = "late"
    PAUSED = "paused"  # the job is paused (its pause record): no new run starts
    CHECK = "check"  # not final: ask whether an execution (``Decision.check``) still runs

    @property
    def skips(self) -> bool:
        return self in (Verdict.DUPLICATE, Verdict.OVERLAP, Verdict.LATE, Verdict.PAUSED)


SKIP_STATUS = {
    Verdict.OVERLAP: Status.SKIPPED_OVERLAP,
    Verdict.LATE: Status.SKIPPED_LATE,
    Verdict.PAUSED: Status.SKIPPED_PAUSED,
}


@dataclass(frozen=True)
class Decision:
    verdict: Verdict
    reason: str
    take_over: Lease | None = None  # RUN: replace this lease (conditional on its holder)
    stop_holder: bool = False  # RUN under `replace`: stop the holder's execution first
    overwrite: SlotRecord | None = None  # RUN with force: the record being replaced (and kept)
    resume: bool = False  # the slot is already ours: a retried guard invocation
    check: str | None = None  # CHECK: the execution whose state the decision waits on
    record: bool = True  # a skip consumes the slot; not when the slot already has a record


def _state(status: Status) -> str:
    return status.value.lower().replace("_", " ")


def paused_reason(pause: Pause) -> str:
    """Why a paused job's slot was skipped: the pause's reason, since when and by whom (what
    the ledger records with ``SKIPPED_PAUSED``)."""
    since = f" since {pause.since:%Y-%m-%dT%H:%M:%SZ}" if pause.since is not None else ""
    by = f" by {pause.by}" if pause.by else ""
    return f"job paused{since}{by}: {pause.reason or 'no reason given'}"


def _time_of(slot: str, lease: Lease) -> datetime | None:
    """When the lease's run was due: its scheduled time, or when a manual run took it."""
    return slot_time(slot) or lease.acquired


def decide(
    *,
    concurrency: Concurrency,
    trigger: Trigger,
    me: str,
    now: datetime,
    starting_deadline: timedelta | None,
    snapshot: Snapshot,
    running: Mapping[str, bool] | None = None,
) -> Decision:
    """Run or skip. ``running`` holds what DescribeExecution said of the executions the
    decision asked about (``Verdict.CHECK``); a skip or a stop never rests on less."""
    record, lease = snapshot.slot, snapshot.lease
    running = running or {}

    overwrite = None
    if record is not None:
        if record.owner == me:
            if record.status is Status.SKIPPED_OVERLAP:
                return Decision(Verdict.OVERLAP, "already recorded as skipped (overlap)")
            if record.status is Status.SKIPPED_LATE:
                return Decision(Verdict.LATE, "already recorded as skipped (late)")
            if record.status is Status.SKIPPED_PAUSED:
                # Keep the record as it is: its reason is the pause's.
                return Decision(
                    Verdict.PAUSED, "already recorded as skipped (paused)", record=False
                )
            if record.status is Status.RUNNING:
                return Decision(Verdict.RUN, "slot already claimed by this execution", resume=True)
            # A redriven execution: its run ended (and was recorded); it never runs twice.
            return Decision(
                Verdict.DUPLICATE,
                f"this execution's run of slot {trigger.slot} already ended "
                f"({_state(record.status)}); a redrive does not run a slot again — start a new "
                "execution with force (cronguard run JOB --slot SLOT --force)",
            )
        if not trigger.force:
            return Decision(
                Verdict.DUPLICATE,
                f"slot already taken by {record.owner} ({_state(record.status)})",
            )
        if record.status is Status.RUNNING:
            if record.owner not in running:
                return Decision(
                    Verdict.CHECK, f"slot is running in {record.owner}", check=record.owner
                )
            if running[record.owner]:
                return Decision(
                    Verdict.DUPLICATE,
                    f"slot is running in {record.owner}; force re-runs only a finished slot",
                )
            # Its execution ended without recording an outcome: force may run it again.
        overwrite = record

    before = snapshot.predecessor  # a renamed job's old name: its slots and lease count
    if record is None and before is not None and before.slot is not None and not trigger.force:
        return Decision(
            Verdict.DUPLICATE,
            f"slot already taken by {before.slot.owner} ({_state(before.slot.status)}) as "
            f"{before.name}, this job's name before the rename",
        )

    if snapshot.pause.paused and not trigger.force:
        return Decision(Verdict.PAUSED, paused_reason(snapshot.pause))

    if (
        starting_deadline is not None
        and trigger.from_schedule
        and trigger.scheduled_time is not None
        and now - trigger.scheduled_time > starting_deadline
    ):
        late = now - trigger.scheduled_time
        return Decision(
            Verdict.LATE,
            f"trigger arrived {int(late.total_seconds())}s after its slot; "
            f"starting deadline is {int(starting_deadline.total_seconds())}s",
            record=record is None,
        )

    if concurrency is Concurrency.ALLOW:
        return Decision(Verdict.RUN, "claimed (concurrency allow)", overwrite=overwrite)
    if lease is not None and lease.holder == me:
        return Decision(Verdict.RUN, "lease already held by this execution", resume=True)
    if before is not None and before.lease is not None and before.lease.until > now:
        # Not replaceable from here: the cleanup stops that run once its state machine is
        # being deleted, and releases the lease (or it expires).
        return Decision(
            Verdict.OVERLAP,
            f"run {before.lease.holder} (slot {before.lease.slot}) of {before.name}, this "
            "job's name before the rename, still holds its lease",
            record=record is None,
        )
    if lease is None:
        return Decision(Verdict.RUN, "claimed", overwrite=overwrite)
    if lease.until <= now:
        return Decision(
            Verdict.RUN,
            f"took over the lease of {lease.holder}, expired at {lease.until.isoformat()}",
            take_over=lease,
            overwrite=overwrite,
        )
    if lease.holder not in running:
        return Decision(Verdict.CHECK, f"lease held by {lease.holder}", check=lease.holder)
    if not running[lease.holder]:
        return Decision(
            Verdict.RUN,
            f"took over the lease of {lease.holder}, which no longer runs",
            take_over=lease,
            overwrite=overwrite,
        )
    if concurrency is Concurrency.REPLACE:
        mine, theirs = trigger.scheduled_time or now, _time_of(lease.slot, lease)
        if theirs is None or mine > theirs:
            return Decision(
                Verdict.RUN,
                f"replaced {lease.holder} (slot {lease.slot})",
                take_over=lease,
                stop_holder=True,
                overwrite=overwrite,
            )
        return Decision(
            Verdict.OVERLAP,
            f"slot {trigger.slot} is not later than slot {lease.slot}, which still runs in "
            f"{lease.holder}; replace stops only the run of an earlier slot",
            record=record is None,
        )
    return Decision(
        Verdict.OVERLAP,
        f"previous run {lease.holder} (slot {lease.slot}) still runs",
        record=record is None,
    )
