"""``cronguard catch-up`` and ``backfill``: start a job's slots again, safely.

Replaying a slot is always safe because the guard deduplicates: a slot that already has a
record is skipped as a duplicate. What this module adds is the rest of "safe":

- **Bounded**: more than ``limit`` slots (default 24) are refused without ``--yes``.
- **Paced**: starts are at most ``rate`` per second (``--rate 1/s``; ``5/m`` for minutes).
- **The job's concurrency is the guard's**: under ``forbid`` a slot started while another
  runs is skipped for overlap (and recorded so: it is not started again); under ``replace``
  it stops the earlier run. ``--wait`` starts each slot only after the previous execution
  ended, so every slot really runs.
- **Idempotent**: each slot's execution has a deterministic name (``catch-up-<slot>``, the
  name the slot watch's own catch-up uses, ``backfill-<slot>`` or ``redrive-<slot>``:
  ``lambdas.core.execution_contract.replay_names``), and an execution that exists already is
  not started again — Step Functions keeps names 90 days; StartExecution of an open
  execution with the same name and input is idempotent, of a closed one
  ``ExecutionAlreadyExists``.
- **Never burned**: an execution under the name that ended without claiming the slot (its
  guard's retries ran out: DescribeExecution says it ended, and the ledger has no claim of the
  slot, only nothing or its ``MISSED`` record) does not stand for the slot: it is started
  again under the next name (``…-2``, up to ``MAX_REPLAY_STARTS``), and the table says so.

Every start goes through ``start_slot``, which ``cronguard redrive-dlq`` uses too.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from botocore.exceptions import ClientError

from cronguard.config import Concurrency, Job
from cronguard.operations.environment import OperationError, Operations
from lambdas.core.execution_contract import replay_names
from lambdas.core.input_contract import Overrides, RunInput
from lambdas.core.ledger_contract import (
    OWNER,
    PARTITION_KEY,
    SLOT_PREFIX,
    SORT_KEY,
    STATUS,
    Status,
    partition,
    slot_sort_key,
)
from lambdas.core.missed import due_slots, rate_anchor
from lambdas.core.schedule import RateSchedule, load_time_zone, parse_schedule
from lambdas.core.times import slot_key, slot_time

DEFAULT_LIMIT = 24
DEFAULT_RATE = "1/s"
MAX_BACKFILL = 100_000  # counting stops here: a range this big is a typo
SETTLE_SECONDS = 5.0  # how long to wait for the guard's decisions after the last start
POLL_SECONDS = 1.0
_RATE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*/\s*(s|sec|second|m|min|minute|h|hour)\s*$")
_PER = {"s": 1, "sec": 1, "second": 1, "m": 60, "min": 60, "minute": 60, "h": 3600, "hour": 3600}


def parse_rate(text: str) -> float:
    """Starts per second from ``N/s``, ``N/m`` or ``N/h``; ValueError names the problem."""
    match = _RATE.match(text)
    if not match or float(match.group(1)) <= 0:
        raise ValueError(f"--rate {text!r}: expected starts per time like 1/s, 30/m or 100/h")
    return float(match.group(1)) / _PER[match.group(2)]


class TooMany(Exception):
    """More slots than the limit, without ``--yes``."""


def range_slots(
    job: Job, start: datetime, end: datetime, recorded: Iterable[str] = ()
) -> list[str]:
    """Every slot of the job's schedule from ``start`` to ``end`` (both inclusive), as slot
    keys. A rate schedule's slots count from the latest slot the ledger records
    (``recorded``): config does not say when Scheduler created the schedule."""
    if end < start:
        raise ValueError(f"--to {slot_key(end)} is before --from {slot_key(start)}")
    anchor = None
    if job.schedule.startswith("rate("):
        anchor = rate_anchor(recorded)
        if anchor is None:
            raise ValueError(
                f"{job.name} runs on {job.schedule}, which counts from when its schedule was "
                "created, and the ledger has no slot of it to count from yet; start single "
                "slots with cronguard run JOB --slot TIME"
            )
        # A rate anchor only counts forward: step back to before the range first.
        interval = _interval(job.schedule)
        if anchor >= start:
            anchor -= ((anchor - start) // interval + 1) * interval
    slots = []
    for moment in due_slots(job.watched_schedule, after=start, until=end, anchor=anchor):
        if moment < start:
            continue
        slots.append(slot_key(moment))
        if len(slots) > MAX_BACKFILL:
            raise ValueError(
                f"more than {MAX_BACKFILL:,} slots from {slot_key(start)} to {slot_key(end)}; "
                "narrow --from/--to"
            )
    return slots


def _interval(expression: str) -> timedelta:
    parsed = parse_schedule(expression)
    assert isinstance(parsed, RateSchedule)
    return parsed.interval


def check_bounds(job: Job, slots: Sequence[str], limit: int, yes: bool, command: str) -> None:
    if len(slots) > limit and not yes:
        raise TooMany(
            f"{command} would start {len(slots)} slots of {job.name} ({slots[0]} … "
            f"{slots[-1]}), more than {limit}: add --yes to start them all, or narrow the range"
        )


def concurrency_note(job: Job, count: int, wait: bool) -> str | None:
    """What the guard will do to slots started one after another without ``--wait``."""
    if count < 2 or wait:
        return None
    if job.concurrency is Concurrency.FORBID:
        return (
            f"{job.name} is forbid: while the first slot runs, the guard skips the later ones "
            "for overlap and records them so (they are not started again); add --wait to run "
            "them one after another"
        )
    if job.concurrency is Concurrency.REPLACE:
        return (
            f"{job.name} is replace: each slot's run stops the run of the slot before it; "
            "add --wait to run them one after another"
        )
    return None


@dataclass
class Replay:
    """One slot started (or found started): the table's row."""

    slot: str
    name: str
    execution_arn: str
    new: bool  # started now; False: the execution existed already
    decision: str = "started"
    error: str | None = None
    unclaimed: tuple[str, ...] = ()  # earlier executions that ended without claiming the slot

    @property
    def ok(self) -> bool:
        return self.error is None

    @property
    def start(self) -> str:
        """The table's start column."""
        if not self.new:
            return "existed"
        return "started again" if self.unclaimed else "started"

    @property
    def passed_over(self) -> str | None:
        """Why the slot runs under a later name: the executions that ended unclaimed."""
        if not self.unclaimed:
            return None
        return f"{', '.join(self.unclaimed)} without claiming the slot; {self.name} runs it"


def execution_arn(machine_arn: str, name: str) -> str:
    prefix, machine = machine_arn.rsplit(":stateMachine:", 1)
    return f"{prefix}:execution:{machine}:{name}"


def _code(error: ClientError) -> str:
    return str(error.response["Error"]["Code"])


def start_slot(
    ops: Operations,
    job: Job,
    machine_arn: str,
    slot: str,
    names: Sequence[str],
    overrides: Overrides | None = None,
) -> Replay:
    """Start ``slot`` with the input a person's backfill has (``{"scheduledTime": slot}``,
    and the ``overrides`` they gave) as
    the first of ``names`` (``replay_names``) that is free, or whose execution (with that
    input) runs, or ended having claimed the slot or found it claimed; an execution that ended
    with no claim of the slot in the ledger is passed over for the next name."""
    sfn = ops._client("stepfunctions")
    run_input: RunInput = {"scheduledTime": slot}
    if overrides:
        run_input["overrides"] = overrides

    def existing(arn: str) -> dict[str, Any] | None:
        try:
            return dict(sfn.describe_execution(executionArn=arn))
        except ClientError as error:
            if _code(error) == "ExecutionDoesNotExist":
                return None
            raise

    def start(name: str) -> Replay | str:
        """``name``'s replay, or how its execution ended when it ended with no claim."""
        arn = execution_arn(machine_arn, name)
        found = existing(arn)
        if found is None:
            try:
                sfn.start_execution(
                    stateMachineArn=machine_arn, name=name, input=json.dumps(run_input)
                )
                return Replay(slot, name, arn, new=True)
            except ClientError as error:
                if _code(error) != "ExecutionAlreadyExists":
                    raise
                found = existing(arn)  # started by someone else in between
        if found is None or json.loads(found.get("input") or "{}") != run_input:
            return Replay(slot, name, arn, new=False, error="its name is taken by another input")
        closed = _closed(found)
        if closed is not None and slot_claim(ops, job, slot) is None:
            return str(found["status"])
        return Replay(slot, name, arn, new=False, decision=closed or "started")

    unclaimed: list[str] = []
    for name in names:
        started: Replay | str = ops._call(f"start {name} of {job.name}", start, name=name)
        if isinstance(started, Replay):
            started.unclaimed = tuple(unclaimed)
            return started
        unclaimed.append(f"{name} ended {started}")
    return Replay(
        slot,
        names[-1],
        execution_arn(machine_arn, names[-1]),
        new=False,
        error=(
            f"{len(names)} executions ({names[0]} …) ended without claiming the slot: see why "
            f"in their history, then cronguard run {job.name} --slot {slot}"
        ),
        unclaimed=tuple(unclaimed),
    )


def slot_claim(ops: Operations, job: Job, slot: str) -> dict[str, Any] | None:
    """The slot's record in the ledger (a consistent read), unless there is none or it is the
    slot watch's ``MISSED`` record: that one is no claim, the slot is free."""
    table = ops.environment.ledger_table_name
    item = ops._call(
        f"read the ledger {table}",
        ops._client("dynamodb").get_item,
        TableName=table,
        Key={
            PARTITION_KEY: {"S": partition(job.name)},
            SORT_KEY: {"S": slot_sort_key(slot)},
        },
        ConsistentRead=True,
    ).get("Item")
    if item is None or item.get(STATUS, {}).get("S") == Status.MISSED:
        return None
    return dict(item)


def _closed(described: dict[str, Any]) -> str | None:
    status = described.get("status")
    return None if status in (None, "RUNNING", "PENDING_REDRIVE") else f"execution {status}"


def decision_of(ops: Operations, job: Job, replay: Replay) -> tuple[str, bool]:
    """The guard's decision for a started slot, from the ledger (and the execution when the
    ledger cannot say), and whether it is final."""
    item = slot_claim(ops, job, replay.slot)
    owner = item.get(OWNER, {}).get("S") if item else None
    status = item.get(STATUS, {}).get("S") if item else None
    if owner == replay.execution_arn:
        return _verdict(status), status != Status.RUNNING
    described = ops._call(
        f"describe {replay.name}",
        ops._client("stepfunctions").describe_execution,
        executionArn=replay.execution_arn,
    )
    closed = _closed(described)
    if item is not None and status is not None:
        taken_by = str(owner).rsplit(":", 1)[-1] if owner else "another record"
        if closed:  # the guard left the slot to its record: a duplicate
            return f"skipped: duplicate (slot is {status} by {taken_by})", True
        return "started", False
    return (closed or "started"), closed is not None


def _verdict(status: str | None) -> str:
    if status == Status.RUNNING:
        return "running"
    if status == Status.SKIPPED_OVERLAP:
        return "skipped: overlap"
    if status == Status.SKIPPED_LATE:
        return "skipped: late"
    if status == Status.SKIPPED_PAUSED:
        return "skipped: paused"
    return f"ran: {status}" if status else "started"


class Pacer:
    """At most ``rate`` starts per second."""

    def __init__(
        self,
        rate: float,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.interval = 1.0 / rate
        self._clock, self._sleep = clock, sleep
        self._last: float | None = None

    def wait(self) -> None:
        if self._last is not None:
            pause = self._last + self.interval - self._clock()
            if pause > 0:
                self._sleep(pause)
        self._last = self._clock()


@dataclass
class Replayer:
    """Starts slots through ``start_slot``, paced, optionally one after another."""

    ops: Operations
    job: Job
    pacer: Pacer
    kind: str  # the executions' names: replay_names(kind, slot)
    wait: bool = False
    settle_seconds: float = SETTLE_SECONDS
    clock: Callable[[], float] = time.monotonic
    sleep: Callable[[float], None] = time.sleep
    on_row: Callable[[Replay], None] | None = None
    overrides: Overrides | None = None  # a person's backfill: every slot runs with them

    def run(self, slots: Sequence[str]) -> list[Replay]:
        """Start ``slots`` in this order, each under its names (``replay_names`` of ``kind``)."""
        if not slots:
            return []
        machine = self.ops.state_machine_arn(self.job)
        replays: list[Replay] = []
        for slot in slots:
            names = replay_names(self.kind, slot)
            self.pacer.wait()
            try:
                replay = start_slot(self.ops, self.job, machine, slot, names, self.overrides)
                replays.append(replay)
                if self.wait and replay.ok:
                    self._until_ended(replay)
                    replay.decision, _ = decision_of(self.ops, self.job, replay)
                    self._report(replay)
            except OperationError as error:
                # An AWS error (a denied call, a throttle) would repeat for every later slot:
                # stop here, and show what was started so far with this slot's error.
                if not replays or replays[-1].slot != slot:
                    first = execution_arn(machine, names[0])
                    replays.append(Replay(slot, names[0], first, new=False, error=str(error)))
                else:
                    replays[-1].error = str(error)
                break
        if not self.wait:
            self._settle([replay for replay in replays if replay.ok])
            for replay in replays:
                self._report(replay)
        return replays

    def _report(self, replay: Replay) -> None:
        if self.on_row is not None:
            self.on_row(replay)

    def _settle(self, replays: list[Replay]) -> None:
        """Read back each decision, for a few seconds at most (the guard decides within one)."""
        deadline = self.clock() + self.settle_seconds
        pending = list(replays)
        while pending:
            still = []
            for replay in pending:
                replay.decision, final = decision_of(self.ops, self.job, replay)
                if not final and replay.decision == "started":
                    still.append(replay)
            pending = still
            if not pending or self.clock() >= deadline:
                return
            self.sleep(POLL_SECONDS)

    def _until_ended(self, replay: Replay) -> None:
        sfn = self.ops._client("stepfunctions")
        deadline = self.clock() + self.job.execution_timeout.total_seconds() + 60
        while True:
            described = self.ops._call(
                f"describe {replay.name}", sfn.describe_execution, executionArn=replay.execution_arn
            )
            if _closed(described):
                return
            if self.clock() >= deadline:
                raise OperationError(
                    f"{replay.name} still runs after the job's execution timeout; stopped waiting"
                )
            self.sleep(POLL_SECONDS)


def now_utc() -> datetime:
    return datetime.now(UTC)


def recorded_slots(items: Iterable[dict[str, Any]]) -> list[str]:
    """The slot keys a partition's items record (any status)."""
    keys = (item[SORT_KEY]["S"] for item in items)
    return [key[len(SLOT_PREFIX) :] for key in keys if key.startswith(SLOT_PREFIX)]


def local_time(slot: str, timezone: str) -> str:
    """A slot key shown in the job's time zone."""
    moment = slot_time(slot)
    if moment is None:
        return "-"
    local = moment.astimezone(load_time_zone(timezone))
    return local.strftime("%Y-%m-%d %H:%M:%S %Z" if local.second else "%Y-%m-%d %H:%M %Z")
