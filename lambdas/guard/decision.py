"""Run or skip, and why: the guard's decision as a pure function of what the ledger holds.

The handler reads a consistent snapshot of the slot record and the job's lease, asks
``decide``, and then writes the decision with conditions that assert the snapshot. If
another execution changed either item in between, the write fails and the handler decides
again on a fresh snapshot — so the DynamoDB conditional write is the only authority, and
``ListExecutions`` (eventually consistent) is only ever asked whether a lease holder still
runs, never whether a slot is free.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from lambdas.guard.trigger import Trigger


class Policy(StrEnum):
    FORBID = "forbid"
    REPLACE = "replace"
    ALLOW = "allow"


class Status(StrEnum):
    RUNNING = "RUNNING"
    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"
    TIMED_OUT = "TIMED_OUT"
    ABORTED = "ABORTED"
    SKIPPED_OVERLAP = "SKIPPED_OVERLAP"
    SKIPPED_LATE = "SKIPPED_LATE"


class Verdict(StrEnum):
    RUN = "run"
    DUPLICATE = "duplicate"
    OVERLAP = "overlap"
    LATE = "late"
    CHECK_HOLDER = "check-holder"  # not final: ask whether the lease holder still runs

    @property
    def skips(self) -> bool:
        return self in (Verdict.DUPLICATE, Verdict.OVERLAP, Verdict.LATE)


SKIP_STATUS = {Verdict.OVERLAP: Status.SKIPPED_OVERLAP, Verdict.LATE: Status.SKIPPED_LATE}


@dataclass(frozen=True)
class SlotRecord:
    owner: str  # execution ARN that claimed the slot
    status: Status


@dataclass(frozen=True)
class Lease:
    holder: str  # execution ARN running the job
    slot: str
    until: datetime  # after this the lease is void whatever the holder's state


@dataclass(frozen=True)
class Snapshot:
    slot: SlotRecord | None
    lease: Lease | None


@dataclass(frozen=True)
class Decision:
    verdict: Verdict
    reason: str
    take_over: Lease | None = None  # RUN: replace this lease (conditional on its holder)
    stop_holder: bool = False  # RUN under `replace`: stop the holder's execution first
    overwrite: SlotRecord | None = None  # RUN with force: the finished record being replaced
    resume: bool = False  # the slot is already ours: a retried guard invocation


def decide(
    *,
    policy: Policy,
    trigger: Trigger,
    me: str,
    now: datetime,
    starting_deadline: timedelta | None,
    snapshot: Snapshot,
    holder_running: bool | None = None,
) -> Decision:
    record, lease = snapshot.slot, snapshot.lease

    overwrite = None
    if record is not None:
        if record.owner == me:
            if record.status is Status.SKIPPED_OVERLAP:
                return Decision(Verdict.OVERLAP, "already recorded as skipped (overlap)")
            if record.status is Status.SKIPPED_LATE:
                return Decision(Verdict.LATE, "already recorded as skipped (late)")
            return Decision(Verdict.RUN, "slot already claimed by this execution", resume=True)
        if not trigger.force:
            state = record.status.value.lower().replace("_", " ")
            return Decision(Verdict.DUPLICATE, f"slot already taken by {record.owner} ({state})")
        if record.status is Status.RUNNING:
            return Decision(
                Verdict.DUPLICATE,
                f"slot is running in {record.owner}; force re-runs only a finished slot",
            )
        overwrite = record

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
        )

    if policy is Policy.ALLOW:
        return Decision(Verdict.RUN, "claimed (concurrency allow)", overwrite=overwrite)
    if lease is None:
        return Decision(Verdict.RUN, "claimed", overwrite=overwrite)
    if lease.holder == me:
        return Decision(Verdict.RUN, "lease already held by this execution", resume=True)
    if lease.until <= now:
        return Decision(
            Verdict.RUN,
            f"took over the lease of {lease.holder}, expired at {lease.until.isoformat()}",
            take_over=lease,
            overwrite=overwrite,
        )
    if holder_running is None:
        return Decision(Verdict.CHECK_HOLDER, f"lease held by {lease.holder}")
    if not holder_running:
        return Decision(
            Verdict.RUN,
            f"took over the lease of {lease.holder}, which no longer runs",
            take_over=lease,
            overwrite=overwrite,
        )
    if policy is Policy.REPLACE:
        return Decision(
            Verdict.RUN,
            f"replaced {lease.holder} (slot {lease.slot})",
            take_over=lease,
            stop_holder=True,
            overwrite=overwrite,
        )
    return Decision(Verdict.OVERLAP, f"previous run {lease.holder} (slot {lease.slot}) still runs")
