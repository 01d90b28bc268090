"""The slot watch: slots a job's schedule was due to fire that never reached the ledger.

Every few minutes (``stacks/slot_watch.py``) one check per shard of the manifest (config's
deploy intent; ``SHARD_SIZE`` jobs at most) reads, for each of its jobs, **only what is new**:
one Query for the lease, the pause record and the watch's own record of the job
(``WATCH_SORT_KEY``: ``sk`` from ``lease`` to ``schedule``), and one for the slot records
from the job's watermark (``CHECKED_UNTIL``) to now. It compares them with the slots the
schedule was due to fire since the watermark (``lambdas/core/missed.py``), then moves the
watermark past the slots it checked, but never past a slot still RUNNING (its outcome is
not final) or a MISSED slot a later check may still catch up: a check that did not finish
leaves its slots to the next one, and a check that finished leaves none. Each missed slot is logged,
recorded as ``MISSED`` with a conditional put (``attribute_not_exists``: a run that claimed it
meanwhile wins, and a slot is reported once), and counted in ``MissedSlots``. The guard treats
a ``MISSED`` slot as free, so a late delivery or a catch-up still runs it. A run still
holding the lease its job's ``alert_after`` after it started is alerted once
(``running_long.py``).

Jobs disabled in config are not checked; neither are slots from before the watch first saw
the job with its current schedule and state (a new, re-enabled or rescheduled job has no
history to compare with): the watch's record keeps that moment. A job with ``catch_up``
has its missed slots within the window started by the watch itself, paced: one per check,
oldest first, only while no run holds the job's lease and never while the job is paused (a
paused job's slot stays ``MISSED`` and is started after the resume, within the window). It
is started under the slot's catch-up names (``replay_names``, the names ``cronguard
catch-up`` uses): the first, or the next once an execution under the previous one ended
without claiming the slot (the slot is still ``MISSED``), at most ``MAX_REPLAY_STARTS``; the
guard deduplicates anyway.

A job it cannot check (a throttled Query, a denied StartExecution) is logged and counted in
``SlotWatchErrors``; every other job is still checked, and then the invocation fails
(``SlotWatchIncomplete``) so the function's errors alarm. A check that has used half of its
time starts no further job: it publishes its metrics, counts the jobs it left in
``SlotWatchDeferred``, notes in its shard's cursor (``CURSOR_SORT_KEY``) the job the next
check starts with, and fails the same way; a check always starts with its shard's cursor.
A slot is counted in ``MissedSlots`` once its ``MISSED`` record is written, even when a later
call of the same job's check fails: the next check finds the record and does not report the
slot again.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from botocore.exceptions import ClientError

from lambdas.core import metrics_contract as names
from lambdas.core.clients import client
from lambdas.core.emit import count, log_invocation_metrics
from lambdas.core.execution_contract import CATCH_UP, MAX_REPLAY_STARTS, replay_names
from lambdas.core.ledger_contract import (
    CATCH_UP_EXECUTION,
    CHECKED_UNTIL,
    CURSOR_SORT_KEY,
    DETECTED_AT,
    FAILURE_STATUSES,
    JOB,
    LATEST_SLOT,
    LEASE_SORT_KEY,
    LEASE_UNTIL,
    MAX_RECENT,
    NEXT_JOB,
    PARTITION_KEY,
    PAUSE_PERIODS,
    PAUSE_REASON,
    PAUSED,
    PAUSED_AT,
    REASON,
    RECENT_FAILURES,
    RECENT_MISSED,
    SLOT,
    SLOT_PREFIX,
    SORT_KEY,
    STATUS,
    TTL_ATTRIBUTE,
    WATCH_SORT_KEY,
    WATCHED_SCHEDULE,
    WATCHED_SINCE,
    Status,
    partition,
    slot_sort_key,
    watch_partition,
)
from lambdas.core.missed import (
    LOOK_BACK_CAP,
    Check,
    Failure,
    WatchRecord,
    any_due,
    job_missed,
    look_back,
    read_watch,
)
from lambdas.core.pause import Pause, is_pause_item, read_pause
from lambdas.core.times import iso, slot_key, slot_time
from lambdas.slot_watch.manifest import Manifest, Shard, WatchedJob, load
from lambdas.slot_watch.running_long import LEASE_ATTRIBUTES, check_running_long
from lambdas.slot_watch.settings import SlotWatchSettings

logger = Logger(service=names.SLOT_WATCH_LOG_SERVICE)
metrics = Metrics(namespace=names.NAMESPACE, service=names.SERVICE)

BUDGET = 0.5
"""A check starts no further job once it has used this share of its time: the job in
progress, the cursor and the metrics have the rest."""


class SlotWatchIncomplete(Exception):
    """Some jobs could not be checked (or caught up); every other job was."""


@dataclass(frozen=True)
class JobLedger:
    """What a check reads of a job's partition: its records, and its slots from the watermark."""

    slots: dict[str, str]  # slot -> status
    catch_ups: dict[str, str]  # MISSED slot -> the catch-up execution last started for it
    running: bool  # the job's lease is held: a run is in progress
    pause: Pause
    watch: WatchRecord  # the job as the watch last saw it, since when, and its watermark
    reasons: dict[str, str] = field(default_factory=dict)  # slot -> why it ended so
    lease: dict[str, Any] | None = None  # the lease item, if the job has one


@dataclass
class JobReport:
    job: str
    missed: list[str] = field(default_factory=list)  # recorded MISSED by this check
    silent: bool = False  # a rate job with no record at all, overdue
    caught_up: list[str] = field(default_factory=list)  # catch-up executions started
    paused: list[str] = field(default_factory=list)
    truncated: bool = False

    @property
    def reported(self) -> int:
        return len(self.missed) + int(self.silent)


@dataclass
class WatchResult:
    reports: list[JobReport]  # every job's, a job that could not be checked fully too
    errors: dict[str, str]  # job -> what kept it from being checked
    deferred: list[str] = field(default_factory=list)  # left for the next check (out of time)

    @property
    def missed(self) -> int:
        return sum(report.reported for report in self.reports)


def _s(value: str) -> dict[str, str]:
    return {"S": value}


def _pages(ledger: Any, table: str, job: str, low: str, high: str) -> Iterator[dict[str, Any]]:
    """The job's items with ``low <= sk <= high``: one Query (more pages only past 1 MB)."""
    paginator = ledger.get_paginator("query")
    for page in paginator.paginate(
        TableName=table,
        KeyConditionExpression="#pk = :pk AND #sk BETWEEN :low AND :high",
        ProjectionExpression="#sk, #status, #catch_up, #until, #watched, #since, #checked, "
        "#latest, #paused, #reason, #at, #periods, " + ", ".join(_LEASE_NAMES),
        ExpressionAttributeNames={
            "#pk": PARTITION_KEY,
            "#sk": SORT_KEY,
            "#status": STATUS,
            "#catch_up": CATCH_UP_EXECUTION,
            "#until": LEASE_UNTIL,
            "#watched": WATCHED_SCHEDULE,
            "#since": WATCHED_SINCE,
            "#checked": CHECKED_UNTIL,
            "#latest": LATEST_SLOT,
            **_PAUSE_NAMES,
            **_LEASE_NAMES,
        },
        ExpressionAttributeValues={":pk": _s(partition(job)), ":low": _s(low), ":high": _s(high)},
    ):
        yield from page["Items"]


# The pause record's attributes read_pause needs.
_PAUSE_NAMES = {
    "#paused": PAUSED,
    "#reason": PAUSE_REASON,
    "#at": PAUSED_AT,
    "#periods": PAUSE_PERIODS,
}
# The lease's attributes check_running_long needs.
_LEASE_NAMES = {f"#lease_{name}": name for name in LEASE_ATTRIBUTES}


def read_job(ledger: Any, table: str, job: str, now: datetime) -> JobLedger:
    """The lease, the pause record and the watch's record: one Query, ``lease`` to
    ``schedule`` (``read_slots`` adds the slots)."""
    running = False
    pause = Pause()
    watched = WatchRecord()
    lease = None
    for item in _pages(ledger, table, job, LEASE_SORT_KEY, WATCH_SORT_KEY):
        sort_key = item[SORT_KEY]["S"]
        if sort_key == LEASE_SORT_KEY:
            lease = item
            running = int(item.get(LEASE_UNTIL, {}).get("N", "0")) > now.timestamp()
        elif is_pause_item(item):
            pause = read_pause(item)
        elif sort_key == WATCH_SORT_KEY:
            watched = read_watch(item)
    return JobLedger(
        slots={}, catch_ups={}, running=running, pause=pause, watch=watched, lease=lease
    )


def read_slots(
    ledger: Any, table: str, job: str, state: JobLedger, until: datetime, since: datetime
) -> JobLedger:
    """``state`` with the job's dated slot records from its watermark (else ``since``) to
    ``until`` (the last moment a slot can be due): one Query. Manual runs' slots
    (``slot#manual:…``) sort after every dated one."""
    slots: dict[str, str] = {}
    catch_ups: dict[str, str] = {}
    reasons: dict[str, str] = {}
    low, high = slot_sort_key(state.watch.reads_from(since)), slot_sort_key(slot_key(until))
    for item in _pages(ledger, table, job, low, high):
        slot = item[SORT_KEY]["S"].removeprefix(SLOT_PREFIX)
        slots[slot] = item.get(STATUS, {}).get("S", "")
        reasons[slot] = item.get(REASON, {}).get("S", "")
        if CATCH_UP_EXECUTION in item:
            catch_ups[slot] = item[CATCH_UP_EXECUTION]["S"]
    return replace(state, slots=slots, catch_ups=catch_ups, reasons=reasons)


def watch_from_now(
    ledger: Any, table: str, job: WatchedJob, previous: str | None, now: datetime
) -> bool:
    """Record that the job is watched with its current schedule from ``now`` on (only if the
    record still holds ``previous``: two checks at once record it once)."""
    guard: dict[str, Any] = {"ConditionExpression": f"attribute_not_exists({PARTITION_KEY})"}
    if previous is not None:
        guard = {
            "ConditionExpression": "#watched = :previous",
            "ExpressionAttributeNames": {"#watched": WATCHED_SCHEDULE},
            "ExpressionAttributeValues": {":previous": _s(previous)},
        }
    try:
        ledger.put_item(
            TableName=table,
            Item={
                PARTITION_KEY: _s(partition(job.name)),
                SORT_KEY: _s(WATCH_SORT_KEY),
                JOB: _s(job.name),
                WATCHED_SCHEDULE: _s(job.fingerprint),
                WATCHED_SINCE: _s(iso(now)),
            },
            **guard,
        )
    except ClientError as error:
        if error.response["Error"]["Code"] == "ConditionalCheckFailedException":
            return False
        raise
    return True


def record_missed(
    ledger: Any,
    table: str,
    job: str,
    slot: str,
    *,
    now: datetime,
    retention: timedelta,
    reason: str,
) -> bool:
    """Record ``slot`` as MISSED unless it has a record by now (then False: not missed)."""
    try:
        ledger.put_item(
            TableName=table,
            Item={
                PARTITION_KEY: _s(partition(job)),
                SORT_KEY: _s(slot_sort_key(slot)),
                JOB: _s(job),
                SLOT: _s(slot),
                STATUS: _s(Status.MISSED),
                REASON: _s(reason),
                DETECTED_AT: _s(iso(now)),
                TTL_ATTRIBUTE: {"N": str(int((now + retention).timestamp()))},
            },
            ConditionExpression=f"attribute_not_exists({PARTITION_KEY})",
        )
    except ClientError as error:
        if error.response["Error"]["Code"] == "ConditionalCheckFailedException":
            return False
        raise
    return True


class CatchUp(StrEnum):
    """What ``start_catch_up`` did for a MISSED slot."""

    STARTED = "started"  # an execution now runs it
    RUNNING = "running"  # the execution an earlier check started still runs
    CLAIMED = "claimed"  # the guard claimed the slot meanwhile (that run, or a late delivery)
    GAVE_UP = "gave up"  # every execution it may take ended without claiming the slot


def start_catch_up(
    ledger: Any, sfn: Any, table: str, job: str, arn: str, slot: str, *, noted: str | None = None
) -> CatchUp:
    """Start the MISSED slot's run under the first of its names (``replay_names``) not taken
    by an execution that ended, and note it on the slot's record (``noted``: the execution
    noted there before).

    The slot is MISSED, so no execution has claimed it. StartExecution with a name and its
    input is idempotent while that execution runs, and ``ExecutionAlreadyExists`` once it
    ended: an execution that ended under the name ended without claiming the slot (its guard's
    retries ran out), and the next name is taken, at most ``MAX_REPLAY_STARTS``."""
    for name in replay_names(CATCH_UP, slot):
        try:
            execution = sfn.start_execution(
                stateMachineArn=arn, name=name, input=json.dumps({"scheduledTime": slot})
            )["executionArn"]
        except ClientError as error:
            if error.response["Error"]["Code"] != "ExecutionAlreadyExists":
                raise
            continue
        if execution == noted:
            return CatchUp.RUNNING
        try:
            ledger.update_item(
                TableName=table,
                Key={PARTITION_KEY: _s(partition(job)), SORT_KEY: _s(slot_sort_key(slot))},
                UpdateExpression="SET #catch_up = :execution",
                ConditionExpression="#status = :missed",
                ExpressionAttributeNames={"#catch_up": CATCH_UP_EXECUTION, "#status": STATUS},
                ExpressionAttributeValues={
                    ":execution": _s(execution),
                    ":missed": _s(Status.MISSED),
                },
            )
        except ClientError as error:
            if error.response["Error"]["Code"] == "ConditionalCheckFailedException":
                return CatchUp.CLAIMED
            raise
        return CatchUp.STARTED
    logger.error(
        "catch-up gave up: every execution it started ended without claiming the slot; "
        "see why in their history, then run the slot (cronguard run JOB --slot SLOT)",
        job=job,
        slot=slot,
        executions=MAX_REPLAY_STARTS,
    )
    return CatchUp.GAVE_UP


def next_watermark(
    job: WatchedJob, check: Check, state: JobLedger, report: JobReport, now: datetime
) -> str | None:
    """Where the job's next check starts (a slot key): past every slot this check checked
    (``Check.checked_until``), but not past a slot the watch must read again — one still
    RUNNING (its outcome is not final yet), or, for a job with ``catch_up``, one MISSED within
    its window (a later check starts it). None: nothing was due, the watermark stays."""
    if check.checked_until is None:
        return None
    statuses = {**state.slots, **dict.fromkeys(report.missed, Status.MISSED)}
    window_start = slot_key(now - job.catch_up) if job.catch_up is not None else None
    waiting = [
        slot
        for slot, status in statuses.items()
        if status == Status.RUNNING
        or (window_start is not None and status == Status.MISSED and slot >= window_start)
    ]
    return min([check.checked_until, *waiting])


def advanced(
    job: WatchedJob, check: Check, state: JobLedger, report: JobReport, now: datetime
) -> WatchRecord:
    """The watch's record of the job once this check is done: its watermark moved forward
    (``next_watermark``), a rate schedule's latest slot (a MISSED record just written
    included), and the MISSED and failed slots the watermark passed added to its recent
    lists (within the look-back, the newest ``MAX_RECENT``)."""
    before = state.watch
    moved = next_watermark(job, check, state, report, now)
    watermark = max(filter(None, [moved, before.checked_until]), default=None)
    latest = max([check.anchor, *report.missed]) if check.anchor else None
    statuses = {**state.slots, **dict.fromkeys(report.missed, Status.MISSED)}
    low, high = before.checked_until or "", watermark or ""
    passed = sorted((slot, status) for slot, status in statuses.items() if low <= slot < high)
    oldest = slot_key(now - LOOK_BACK_CAP)
    missed = [slot for slot in before.recent_missed if slot >= oldest]
    missed += [slot for slot, status in passed if status == Status.MISSED]
    failures = {
        failure.slot: failure for failure in before.recent_failures if failure.slot >= oldest
    }
    for slot, status in passed:
        if status in FAILURE_STATUSES:
            failures[slot] = Failure(slot, status, state.reasons.get(slot, ""))
    return replace(
        before,
        checked_until=watermark,
        latest_slot=latest,
        recent_missed=tuple(dict.fromkeys(missed))[-MAX_RECENT:],
        recent_failures=tuple(failures[slot] for slot in sorted(failures))[-MAX_RECENT:],
    )


def move_watermark(ledger: Any, table: str, job: WatchedJob, watched: WatchRecord) -> bool:
    """Write the watch's record of the job as ``advanced`` left it: only forward, and only
    while the record is of the schedule checked (a check at the same moment that restarted
    the watch, or moved it further, wins)."""
    names = {"#watched": WATCHED_SCHEDULE, "#missed": RECENT_MISSED, "#failures": RECENT_FAILURES}
    values: dict[str, Any] = {
        ":fingerprint": _s(job.fingerprint),
        ":missed": {"L": [_s(slot) for slot in watched.recent_missed]},
        ":failures": {"L": [failure.item for failure in watched.recent_failures]},
    }
    condition = "#watched = :fingerprint"
    for name, attribute, value in (
        ("checked", CHECKED_UNTIL, watched.checked_until),
        ("latest", LATEST_SLOT, watched.latest_slot),
    ):
        if value is not None:
            names[f"#{name}"], values[f":{name}"] = attribute, _s(value)
    if watched.checked_until is not None:
        condition += " AND (attribute_not_exists(#checked) OR #checked <= :checked)"
    assignments = [f"{name} = :{name[1:]}" for name in names if name != "#watched"]
    try:
        ledger.update_item(
            TableName=table,
            Key={PARTITION_KEY: _s(partition(job.name)), SORT_KEY: _s(WATCH_SORT_KEY)},
            UpdateExpression="SET " + ", ".join(assignments),
            ConditionExpression=condition,
            ExpressionAttributeNames=names,
            ExpressionAttributeValues=values,
        )
    except ClientError as error:
        if error.response["Error"]["Code"] == "ConditionalCheckFailedException":
            return False
        raise
    return True


def check_job(
    ledger: Any,
    sfn: Any,
    table: str,
    job: WatchedJob,
    *,
    now: datetime,
    retention: timedelta,
    state_machine_arn_prefix: str,
    report: JobReport,
    environment: str,
) -> None:
    """Check ``job``, adding to ``report`` as each record is written: a call that fails
    later in the check (a denied StartExecution) does not lose what was recorded, and the
    watermark moves only once the check is done."""
    since = now - look_back(retention)
    state = read_job(ledger, table, job.name, now)
    check_running_long(ledger, table, job, state.lease, environment=environment, now=now)
    previous = state.watch.fingerprint
    if previous != job.fingerprint:
        # New, re-enabled, disabled or rescheduled: its slots before now are not comparable.
        if watch_from_now(ledger, table, job, previous, now):
            logger.info(
                "watching the job's schedule from now on",
                job=job.name,
                schedule=job.fingerprint,
                previous=previous,
            )
        return
    if not job.enabled:  # not checked
        return
    if any_due(job.schedule, state.watch, now=now, since=since):
        state = read_slots(ledger, table, job.name, state, now - job.schedule.grace, since)
    missed = job_missed(
        job.schedule,
        enabled=job.enabled,
        now=now,
        since=since,
        watch=state.watch,
        slots=state.slots,
        pauses=[state.pause],
    )
    check = missed.check
    if check is None:  # disabled: not checked
        return
    report.paused = list(check.paused)
    report.truncated = check.truncated
    record_missed_slots(ledger, table, job, missed.unrecorded, now, retention, report)
    if check.silent:
        report.silent = True
        logger.warning(
            "rate job has no run to count its slots from",
            job=job.name,
            schedule=job.schedule.expression,
            watched_since=iso(check.window_start),
        )
    if job.catch_up is not None and not state.running and not state.pause.paused:
        arn = state_machine_arn_prefix + job.state_machine
        catch_up(ledger, sfn, table, job, arn, missed.slots, state, report, now)
    watched = advanced(job, check, state, report, now)
    if watched != state.watch:
        move_watermark(ledger, table, job, watched)


def record_missed_slots(
    ledger: Any,
    table: str,
    job: WatchedJob,
    slots: Sequence[str],
    now: datetime,
    retention: timedelta,
    report: JobReport,
) -> None:
    """Record each slot MISSED (unless a run claimed it meanwhile), logged and reported."""
    grace = job.schedule.grace
    for slot in slots:
        reason = (
            f"no trigger reached the guard within {int(grace.total_seconds())}s of the slot "
            f"({job.schedule.expression}, {job.schedule.timezone})"
        )
        if record_missed(
            ledger, table, job.name, slot, now=now, retention=retention, reason=reason
        ):
            report.missed.append(slot)
            logger.warning(
                "missed slot",
                job=job.name,
                slot=slot,
                schedule=job.schedule.expression,
                timezone=job.schedule.timezone,
                grace_seconds=int(grace.total_seconds()),
            )


def catch_up(
    ledger: Any,
    sfn: Any,
    table: str,
    job: WatchedJob,
    arn: str,
    missed: Sequence[str],
    state: JobLedger,
    report: JobReport,
    now: datetime,
) -> None:
    """Start the oldest missed slot within the job's catch-up window.

    One slot per check, the oldest first, and only while no run holds the job's lease (the
    caller checks): catching up is paced, and a backlog does not trip over its own runs
    (overlap). Not while the job is paused: the guard would skip the slot as paused, for
    good; it stays MISSED and is caught up after the resume (while within the window). A slot
    whose catch-up ended without claiming it is MISSED still: started again."""
    assert job.catch_up is not None
    recent = [
        slot
        for slot in missed
        if (slot in report.missed or state.slots.get(slot) == Status.MISSED)
        and (moment := slot_time(slot)) is not None
        and now - moment <= job.catch_up
    ]
    for slot in recent:
        done = start_catch_up(
            ledger, sfn, table, job.name, arn, slot, noted=state.catch_ups.get(slot)
        )
        if done is CatchUp.STARTED:
            report.caught_up.append(slot)
            logger.info("caught up a missed slot", job=job.name, slot=slot)
        if done in (CatchUp.STARTED, CatchUp.RUNNING):
            break  # one in flight at a time


def in_turn(jobs: Sequence[WatchedJob], first: str | None) -> list[WatchedJob]:
    """The jobs starting with ``first`` (the cursor), then round to the one before it."""
    names = [job.name for job in jobs]
    start = names.index(first) if first in names else 0
    return [*jobs[start:], *jobs[:start]]


def watch(
    ledger: Any,
    sfn: Any,
    table: str,
    manifest: Manifest,
    *,
    now: datetime,
    state_machine_arn_prefix: str,
    shard: Shard | None = None,
    first: str | None = None,
    out_of_time: Callable[[], bool] = lambda: False,
) -> WatchResult:
    """Check the shard's jobs, starting with ``first``; once ``out_of_time()`` says so before
    a job, the rest are left for the next check (``WatchResult.deferred``, in order)."""
    result = WatchResult(reports=[], errors={})
    jobs = in_turn(manifest.shard(shard or Shard()), first)
    for position, job in enumerate(jobs):
        if out_of_time():
            result.deferred = [job.name for job in jobs[position:]]
            break
        report = JobReport(job.name)
        try:
            check_job(
                ledger,
                sfn,
                table,
                job,
                now=now,
                retention=manifest.retention,
                state_machine_arn_prefix=state_machine_arn_prefix,
                report=report,
                environment=manifest.environment,
            )
        except ClientError as error:
            detail = error.response["Error"]
            result.errors[job.name] = f"{detail.get('Code')}: {detail.get('Message')}"
            logger.error("cannot check a job", job=job.name, error=result.errors[job.name])
        # A slot recorded MISSED is reported (and counted) even if a later call failed: the
        # next check finds its record and does not report it again.
        result.reports.append(report)
    return result


def read_cursor(ledger: Any, table: str, shard: Shard) -> str | None:
    """The job the shard's check starts with (None: the first)."""
    items = ledger.query(
        TableName=table,
        KeyConditionExpression="#pk = :pk AND #sk = :cursor",
        ExpressionAttributeNames={"#pk": PARTITION_KEY, "#sk": SORT_KEY},
        ExpressionAttributeValues={
            ":pk": _s(watch_partition(shard.index)),
            ":cursor": _s(CURSOR_SORT_KEY),
        },
    )["Items"]
    return items[0][NEXT_JOB]["S"] if items and NEXT_JOB in items[0] else None


def write_cursor(ledger: Any, table: str, shard: Shard, next_job: str) -> None:
    ledger.put_item(
        TableName=table,
        Item={
            PARTITION_KEY: _s(watch_partition(shard.index)),
            SORT_KEY: _s(CURSOR_SORT_KEY),
            NEXT_JOB: _s(next_job),
        },
    )


@log_invocation_metrics(metrics)
@logger.inject_lambda_context
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    settings = SlotWatchSettings.from_environ()
    manifest = load(settings.manifest_path)
    shard = Shard.of(event)
    metrics.add_dimension(names.ENVIRONMENT_DIMENSION, settings.environment)
    ledger = client("dynamodb")
    # Stop starting jobs once BUDGET of the time this invocation had is used.
    reserve = context.get_remaining_time_in_millis() * (1 - BUDGET)
    result = watch(
        ledger,
        client("stepfunctions"),
        settings.ledger_table,
        manifest,
        now=datetime.now(UTC),
        state_machine_arn_prefix=settings.state_machine_arn_prefix,
        shard=shard,
        first=read_cursor(ledger, settings.ledger_table, shard),
        out_of_time=lambda: context.get_remaining_time_in_millis() < reserve,
    )
    for report in result.reports:
        if report.reported:
            count(names.MISSED_SLOTS, settings.environment, report.reported, job=report.job)
    # Always emitted (0 included): a watch that stops reporting is itself alarmed on.
    metrics.add_metric(names.MISSED_SLOTS, MetricUnit.Count, result.missed)
    metrics.add_metric(
        names.CATCH_UPS_STARTED,
        MetricUnit.Count,
        sum(len(report.caught_up) for report in result.reports),
    )
    metrics.add_metric(names.SLOT_WATCH_ERRORS, MetricUnit.Count, len(result.errors))
    metrics.add_metric(names.SLOT_WATCH_DEFERRED, MetricUnit.Count, len(result.deferred))
    problems = [f"{job}: {error}" for job, error in result.errors.items()]
    if result.deferred:
        write_cursor(ledger, settings.ledger_table, shard, result.deferred[0])
        problems.append(
            f"out of time: {len(result.deferred)} job(s) left for the next check, which "
            f"starts with {result.deferred[0]}"
        )
        logger.warning("out of time", deferred=len(result.deferred), next_job=result.deferred[0])
    if problems:
        raise SlotWatchIncomplete(
            f"checked all but {len(result.errors) + len(result.deferred)} job(s): "
            + "; ".join(problems)
        )
    return {
        "checked": len(result.reports) - len(result.errors),
        "missed": {r.job: r.missed for r in result.reports if r.missed},
        "silent": [r.job for r in result.reports if r.silent],
        "caughtUp": {r.job: r.caught_up for r in result.reports if r.caught_up},
    }
