"""The guard's decision table: every concurrency × ledger state × deadline case."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from lambdas.core.guard_contract import Concurrency
from lambdas.core.ledger_contract import Status
from lambdas.core.pause import Pause, PausePeriod
from lambdas.core.records import Lease, SlotRecord, Snapshot
from lambdas.core.trigger import Trigger
from lambdas.guard.decision import Decision, Verdict, decide

NOW = datetime(2026, 11, 22, 3, 0, 30, tzinfo=UTC)
SLOT_TIME = datetime(2026, 11, 22, 3, 0, tzinfo=UTC)
ME = "arn:aws:states:us-east-1:111111111111:execution:dev-report:me"
OTHER = "arn:aws:states:us-east-1:111111111111:execution:dev-report:other"
LIVE_LEASE = Lease(holder=OTHER, slot="2026-11-22T02:00:00Z", until=NOW + timedelta(hours=1))
EXPIRED_LEASE = Lease(holder=OTHER, slot="2026-11-22T02:00:00Z", until=NOW - timedelta(seconds=1))
MY_LEASE = Lease(holder=ME, slot="2026-11-22T03:00:00Z", until=NOW + timedelta(hours=1))


def trigger(*, force: bool = False, from_schedule: bool = True, late_by: int = 30) -> Trigger:
    scheduled = NOW - timedelta(seconds=late_by)
    return Trigger(
        slot=scheduled.strftime("%Y-%m-%dT%H:%M:%SZ"),
        scheduled_time=scheduled,
        from_schedule=from_schedule,
        attempt=0 if from_schedule else None,
        force=force,
    )


def run(
    concurrency: Concurrency,
    snapshot: Snapshot,
    *,
    holder_running: bool | None = None,
    deadline: timedelta | None = None,
    the_trigger: Trigger | None = None,
) -> Decision:
    return decide(
        concurrency=concurrency,
        trigger=the_trigger or trigger(),
        me=ME,
        now=NOW,
        starting_deadline=deadline,
        snapshot=snapshot,
        running=None if holder_running is None else {OTHER: holder_running},
    )


ALL = list(Concurrency)
FREE = Snapshot(slot=None, lease=None)


def record(status: Status, owner: str = OTHER) -> Snapshot:
    return Snapshot(slot=SlotRecord(owner=owner, status=status), lease=None)


def describe(snapshot: Snapshot) -> str:
    slot = f"slot:{snapshot.slot.status.value}" if snapshot.slot else "free"
    lease = snapshot.lease
    if lease is None:
        return f"{slot}-nolease"
    state = "mine" if lease.holder == ME else "expired" if lease.until <= NOW else "live"
    return f"{slot}-lease:{state}"


# (concurrency, snapshot, holder_running, expected verdict, take over?, stop holder?)
TABLE = [
    *[(p, FREE, None, Verdict.RUN, False, False) for p in ALL],
    # The slot is already someone's: a duplicate, concurrent or days later, whatever its state.
    *[(p, record(s), None, Verdict.DUPLICATE, False, False) for p in ALL for s in Status],
    # A live lease of another execution: ask whether it still runs before deciding.
    (Concurrency.FORBID, Snapshot(None, LIVE_LEASE), None, Verdict.CHECK, False, False),
    (Concurrency.REPLACE, Snapshot(None, LIVE_LEASE), None, Verdict.CHECK, False, False),
    (Concurrency.ALLOW, Snapshot(None, LIVE_LEASE), None, Verdict.RUN, False, False),
    # ...it does: forbid skips as overlap, replace stops it, allow runs beside it.
    (Concurrency.FORBID, Snapshot(None, LIVE_LEASE), True, Verdict.OVERLAP, False, False),
    (Concurrency.REPLACE, Snapshot(None, LIVE_LEASE), True, Verdict.RUN, True, True),
    (Concurrency.ALLOW, Snapshot(None, LIVE_LEASE), True, Verdict.RUN, False, False),
    # ...it does not (crashed, stopped, timed out without cleanup): take the lease over.
    (Concurrency.FORBID, Snapshot(None, LIVE_LEASE), False, Verdict.RUN, True, False),
    (Concurrency.REPLACE, Snapshot(None, LIVE_LEASE), False, Verdict.RUN, True, False),
    # An expired lease is void without asking anyone (the last backstop).
    (Concurrency.FORBID, Snapshot(None, EXPIRED_LEASE), None, Verdict.RUN, True, False),
    (Concurrency.REPLACE, Snapshot(None, EXPIRED_LEASE), None, Verdict.RUN, True, False),
    # Our own lease (a retried guard invocation) is ours to keep.
    (Concurrency.FORBID, Snapshot(None, MY_LEASE), None, Verdict.RUN, False, False),
]


@pytest.mark.parametrize(
    ("concurrency", "snapshot", "holder_running", "verdict", "takes_over", "stops"),
    TABLE,
    ids=[f"{p.value}-{describe(s)}-running:{r}" for p, s, r, *_ in TABLE],
)
def test_decision_table(
    concurrency: Concurrency,
    snapshot: Snapshot,
    holder_running: bool | None,
    verdict: Verdict,
    takes_over: bool,
    stops: bool,
) -> None:
    decision = run(concurrency, snapshot, holder_running=holder_running)
    assert decision.verdict is verdict
    assert (decision.take_over is not None) is takes_over
    assert decision.stop_holder is stops
    if takes_over:
        assert decision.take_over == snapshot.lease


@pytest.mark.parametrize("concurrency", ALL)
@pytest.mark.parametrize(
    ("late_by", "deadline", "from_schedule", "verdict"),
    [
        (30, None, True, Verdict.RUN),
        (30, timedelta(minutes=1), True, Verdict.RUN),
        (60, timedelta(minutes=1), True, Verdict.RUN),  # exactly at the deadline still runs
        (61, timedelta(minutes=1), True, Verdict.LATE),
        (3 * 86400, timedelta(minutes=1), True, Verdict.LATE),
        # A person backfilling an old slot is not a late delivery.
        (3 * 86400, timedelta(minutes=1), False, Verdict.RUN),
    ],
)
def test_starting_deadline(
    concurrency: Concurrency,
    late_by: int,
    deadline: timedelta | None,
    from_schedule: bool,
    verdict: Verdict,
) -> None:
    the_trigger = trigger(late_by=late_by, from_schedule=from_schedule)
    assert run(concurrency, FREE, deadline=deadline, the_trigger=the_trigger).verdict is verdict


def test_a_late_duplicate_is_reported_as_duplicate() -> None:
    decision = run(
        Concurrency.FORBID,
        record(Status.SUCCEEDED),
        deadline=timedelta(seconds=10),
        the_trigger=trigger(late_by=86400),
    )
    assert decision.verdict is Verdict.DUPLICATE


@pytest.mark.parametrize("status", [s for s in Status if s is not Status.RUNNING])
def test_force_reruns_a_finished_slot(status: Status) -> None:
    decision = run(Concurrency.FORBID, record(status), the_trigger=trigger(force=True))
    assert decision.verdict is Verdict.RUN
    assert decision.overwrite == SlotRecord(owner=OTHER, status=status)


def test_force_asks_whether_a_running_slot_still_runs() -> None:
    decision = run(Concurrency.FORBID, record(Status.RUNNING), the_trigger=trigger(force=True))
    assert (decision.verdict, decision.check) == (Verdict.CHECK, OTHER)


def test_force_never_runs_a_slot_that_is_running() -> None:
    decision = run(
        Concurrency.FORBID,
        record(Status.RUNNING),
        holder_running=True,
        the_trigger=trigger(force=True),
    )
    assert decision.verdict is Verdict.DUPLICATE
    assert "force re-runs only a finished slot" in decision.reason


def test_force_runs_a_running_slot_whose_execution_no_longer_runs() -> None:
    dead = record(Status.RUNNING)
    decision = run(Concurrency.FORBID, dead, holder_running=False, the_trigger=trigger(force=True))
    assert decision.verdict is Verdict.RUN
    assert decision.overwrite == dead.slot


def test_force_still_respects_the_running_lease() -> None:
    snapshot = Snapshot(SlotRecord(OTHER, Status.FAILED), LIVE_LEASE)
    decision = run(
        Concurrency.FORBID, snapshot, holder_running=True, the_trigger=trigger(force=True)
    )
    assert decision.verdict is Verdict.OVERLAP
    # The slot has a record already (the run being forced again): the skip must not claim it.
    assert decision.record is False


def test_a_skip_of_a_free_slot_consumes_it() -> None:
    decision = run(Concurrency.FORBID, Snapshot(None, LIVE_LEASE), holder_running=True)
    assert (decision.verdict, decision.record) == (Verdict.OVERLAP, True)


@pytest.mark.parametrize(
    ("trigger_slot_hour", "stops"),
    [(3, True), (2, False), (1, False)],  # the lease's run is of the 02:00 slot
)
def test_replace_stops_only_the_run_of_an_earlier_slot(trigger_slot_hour: int, stops: bool) -> None:
    scheduled = datetime(2026, 11, 22, trigger_slot_hour, tzinfo=UTC)
    the_trigger = Trigger(
        slot=scheduled.strftime("%Y-%m-%dT%H:%M:%SZ"),
        scheduled_time=scheduled,
        from_schedule=True,
        attempt=3,
        force=False,
    )
    decision = run(
        Concurrency.REPLACE,
        Snapshot(None, LIVE_LEASE),
        holder_running=True,
        the_trigger=the_trigger,
    )
    assert decision.stop_holder is stops
    if not stops:
        assert decision.verdict is Verdict.OVERLAP
        assert the_trigger.slot in decision.reason and LIVE_LEASE.slot in decision.reason


def test_a_manual_run_replaces_a_manual_run_that_took_the_lease_earlier() -> None:
    manual_lease = Lease(
        holder=OTHER,
        slot="manual:other",
        until=NOW + timedelta(hours=1),
        acquired=NOW - timedelta(minutes=5),
    )
    manual = Trigger("manual:me", None, from_schedule=False, attempt=None, force=False)
    decision = run(
        Concurrency.REPLACE, Snapshot(None, manual_lease), holder_running=True, the_trigger=manual
    )
    assert decision.stop_holder is True


@pytest.mark.parametrize(
    "status", [Status.SUCCEEDED, Status.FAILED, Status.TIMED_OUT, Status.ABORTED]
)
def test_a_redriven_execution_never_runs_its_ended_slot_again(status: Status) -> None:
    decision = run(Concurrency.FORBID, record(status, owner=ME))
    assert decision.verdict is Verdict.DUPLICATE
    assert "--force" in decision.reason


@pytest.mark.parametrize(
    ("status", "verdict", "resume"),
    [
        (Status.RUNNING, Verdict.RUN, True),
        (Status.SKIPPED_OVERLAP, Verdict.OVERLAP, False),
        (Status.SKIPPED_LATE, Verdict.LATE, False),
        (Status.SKIPPED_PAUSED, Verdict.PAUSED, False),
    ],
)
def test_a_retried_guard_gets_its_first_answer_again(
    status: Status, verdict: Verdict, resume: bool
) -> None:
    decision = run(Concurrency.FORBID, record(status, owner=ME))
    assert (decision.verdict, decision.resume) == (verdict, resume)


PAUSED = Pause(
    paused=True,
    reason="warehouse migration",
    since=NOW - timedelta(hours=1),
    by="arn:aws:iam::111111111111:user/ops",
)
RESUMED = Pause(
    periods=(PausePeriod(NOW - timedelta(hours=2), NOW - timedelta(minutes=1), "migration"),)
)


def paused(snapshot: Snapshot = FREE, pause: Pause = PAUSED) -> Snapshot:
    return Snapshot(slot=snapshot.slot, lease=snapshot.lease, pause=pause)


@pytest.mark.parametrize("concurrency", ALL)
@pytest.mark.parametrize(
    "lease", [None, LIVE_LEASE, EXPIRED_LEASE], ids=["no-lease", "live-lease", "expired-lease"]
)
def test_a_paused_job_starts_no_run_and_records_the_skip_with_the_pause_reason(
    concurrency: Concurrency, lease: Lease | None
) -> None:
    decision = run(concurrency, paused(Snapshot(None, lease)))
    assert decision.verdict is Verdict.PAUSED
    assert decision.verdict.skips
    assert decision.record is True  # the slot is consumed: recorded SKIPPED_PAUSED
    assert decision.take_over is None and decision.stop_holder is False
    assert decision.check is None  # decided without asking whether anything runs
    assert "warehouse migration" in decision.reason
    assert PAUSED.by in decision.reason and "2026-11-22T02:00:30Z" in decision.reason


def test_paused_comes_before_the_starting_deadline() -> None:
    late = trigger(late_by=3600)
    decision = run(Concurrency.FORBID, paused(), deadline=timedelta(minutes=1), the_trigger=late)
    assert decision.verdict is Verdict.PAUSED


def test_a_manual_run_of_a_paused_job_is_skipped_too() -> None:
    manual = Trigger("manual:me", None, from_schedule=False, attempt=None, force=False)
    assert run(Concurrency.FORBID, paused(), the_trigger=manual).verdict is Verdict.PAUSED


@pytest.mark.parametrize("status", list(Status))
def test_a_slot_that_already_has_a_record_is_still_a_duplicate_while_paused(
    status: Status,
) -> None:
    decision = run(Concurrency.FORBID, paused(record(status)))
    assert decision.verdict is Verdict.DUPLICATE


def test_a_run_already_claimed_goes_on_when_its_guard_is_retried_after_a_pause() -> None:
    decision = run(Concurrency.FORBID, paused(Snapshot(SlotRecord(ME, Status.RUNNING), MY_LEASE)))
    assert (decision.verdict, decision.resume) == (Verdict.RUN, True)


def test_a_retried_guard_of_a_paused_skip_keeps_the_recorded_reason() -> None:
    # Resumed in between: the slot was skipped as paused and stays so.
    decision = run(Concurrency.FORBID, paused(record(Status.SKIPPED_PAUSED, owner=ME), RESUMED))
    assert (decision.verdict, decision.record) == (Verdict.PAUSED, False)


@pytest.mark.parametrize("concurrency", ALL)
def test_a_forced_run_of_a_paused_job_runs(concurrency: Concurrency) -> None:
    decision = run(concurrency, paused(), the_trigger=trigger(force=True))
    assert decision.verdict is Verdict.RUN


def test_a_forced_run_of_a_paused_job_reruns_a_slot_skipped_as_paused() -> None:
    snapshot = paused(record(Status.SKIPPED_PAUSED))
    decision = run(Concurrency.FORBID, snapshot, the_trigger=trigger(force=True))
    assert decision.verdict is Verdict.RUN
    assert decision.overwrite == snapshot.slot


def test_a_forced_run_of_a_paused_job_still_respects_the_running_lease() -> None:
    decision = run(
        Concurrency.FORBID,
        paused(Snapshot(None, LIVE_LEASE)),
        holder_running=True,
        the_trigger=trigger(force=True),
    )
    assert decision.verdict is Verdict.OVERLAP


@pytest.mark.parametrize("concurrency", ALL)
def test_a_resumed_job_runs_again(concurrency: Concurrency) -> None:
    assert run(concurrency, paused(pause=RESUMED)).verdict is Verdict.RUN
