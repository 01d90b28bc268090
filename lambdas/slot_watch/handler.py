"""The slot watch: slots a job's schedule was due to fire that never reached the ledger.

Every few minutes (``stacks/slot_watch.py``) it reads, for each job of the manifest (config's
deploy intent), the job's ledger partition with **one Query** — ``sk`` from ``lease`` to
``slot#<now>`` covers the lease, the pause record, the watch's own record of the job
(``WATCH_SORT_KEY``) and the job's slot records — and compares it with the slots the
schedule was due to fire (``lambdas/core/missed.py``). Each missed slot is logged,
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
(``SlotWatchIncomplete``) so the function's errors alarm. A slot is counted in
``MissedSlots`` once its ``MISSED`` record is written, even when a later call of the same
job's check fails: the next check finds the record and does not report the slot again.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from botocore.exceptions import ClientError

from lambdas.core import metrics_contract as names
from lambdas.core.clients import client
from lambdas.core.emit import count
from lambdas.core.execution_contract import CATCH_UP, MAX_REPLAY_STARTS, replay_names
from lambdas.core.ledger_contract import (
    CATCH_UP_EXECUTION,
    DETECTED_AT,
    JOB,
    LEASE_SORT_KEY,
    LEASE_UNTIL,
    PARTITION_KEY,
    PAUSE_PERIODS,
    PAUSE_REASON,
    PAUSED,
    PAUSED_AT,
    REASON,
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
)
from lambdas.core.missed import (
    WatchRecord,
    job_missed,
    look_back,
    read_watch,
)
from lambdas.core.pause import Pause, is_pause_item, read_pause
from lambdas.core.times import iso, slot_key, slot_time
from lambdas.slot_watch.manifest import Manifest, WatchedJob, load
from lambdas.slot_watch.running_long import LEASE_ATTRIBUTES, check_running_long
from lambdas.slot_watch.settings import SlotWatchSettings

logger = Logger(service=names.SLOT_WATCH_LOG_SERVICE)
metrics = Metrics(namespace=names.NAMESPACE, service=names.SERVICE)


class SlotWatchIncomplete(Exception):
    """Some jobs could not be checked (or caught up); every other job was."""


@dataclass(frozen=True)
class JobLedger:
    """What one Query returns of a job's partition."""

    slots: dict[str, str]  # slot -> status
    catch_ups: dict[str, str]  # MISSED slot -> the catch-up execution last started for it
    running: bool  # the job's lease is held: a run is in progress
    pause: Pause
    watch: WatchRecord  # the job as the watch last saw it, and since when
    lease: dict[str, Any] | None  # the lease item, if the job has one


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

    @property
    def missed(self) -> int:
        return sum(report.reported for report in self.reports)


def _s(value: str) -> dict[str, str]:
    return {"S": value}


def _pages(ledger: Any, table: str, job: str, now: datetime) -> Iterator[dict[str, Any]]:
    """The job's lease, pause record, watch record and dated slot records up to ``now``: one
    Query (more pages only past 1 MB). Manual runs' slots (``slot#manual:…``) sort after it."""
    paginator = ledger.get_paginator("query")
    for page in paginator.paginate(
        TableName=table,
        KeyConditionExpression="#pk = :pk AND #sk BETWEEN :low AND :high",
        ProjectionExpression="#sk, #status, #catch_up, #until, #watched, #since, #paused, "
        "#reason, #at, #periods, " + ", ".join(_LEASE_NAMES),
        ExpressionAttributeNames={
            "#pk": PARTITION_KEY,
            "#sk": SORT_KEY,
            "#status": STATUS,
            "#catch_up": CATCH_UP_EXECUTION,
            "#until": LEASE_UNTIL,
            "#watched": WATCHED_SCHEDULE,
            "#since": WATCHED_SINCE,
            **_PAUSE_NAMES,
            **_LEASE_NAMES,
        },
        ExpressionAttributeValues={
            ":pk": _s(partition(job)),
            ":low": _s(LEASE_SORT_KEY),
            ":high": _s(slot_sort_key(slot_key(now))),
        },
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
    slots: dict[str, str] = {}
    catch_ups: dict[str, str] = {}
    running = False
    pause = Pause()
    watched = WatchRecord()
    lease = None
    for item in _pages(ledger, table, job, now):
        sort_key = item[SORT_KEY]["S"]
        if sort_key == LEASE_SORT_KEY:
            lease = item
            running = int(item.get(LEASE_UNTIL, {}).get("N", "0")) > now.timestamp()
        elif is_pause_item(item):
            pause = read_pause(item)
        elif sort_key == WATCH_SORT_KEY:
            watched = read_watch(item)
        elif sort_key.startswith(SLOT_PREFIX):
            slot = sort_key.removeprefix(SLOT_PREFIX)
            slots[slot] = item.get(STATUS, {}).get("S", "")
            if CATCH_UP_EXECUTION in item:
                catch_ups[slot] = item[CATCH_UP_EXECUTION]["S"]
    return JobLedger(
        slots=slots,
        catch_ups=catch_ups,
        running=running,
        pause=pause,
        watch=watched,
        lease=lease,
    )


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
    later in the check (a denied StartExecution) does not lose what was recorded."""
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
    missed = job_missed(
        job.schedule,
        enabled=job.enabled,
        now=now,
        since=now - look_back(retention),
        watch=state.watch,
        slots=state.slots,
        pauses=[state.pause],
    )
    check = missed.check
    if check is None:  # disabled: not checked
        return
    report.paused = list(check.paused)
    report.truncated = check.truncated
    grace = job.schedule.grace
    for slot in missed.unrecorded:
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
    if check.silent:
        report.silent = True
        logger.warning(
            "rate job has no run to count its slots from",
            job=job.name,
            schedule=job.schedule.expression,
            watched_since=iso(check.window_start),
        )
    if job.catch_up is not None and not state.running and not state.pause.paused:
        # One slot per check, the oldest first, and only while no run holds the job's lease:
        # catching up is paced, and a backlog does not trip over its own runs (overlap). Not
        # while the job is paused: the guard would skip the slot as paused, for good; it stays
        # MISSED and is caught up after the resume (while within the window).
        # A slot whose catch-up ended without claiming it is MISSED still: started again.
        recent = [
            slot
            for slot in missed.slots
            if (slot in report.missed or state.slots.get(slot) == Status.MISSED)
            and (moment := slot_time(slot)) is not None
            and now - moment <= job.catch_up
        ]
        arn = state_machine_arn_prefix + job.state_machine
        for slot in recent:
            done = start_catch_up(
                ledger, sfn, table, job.name, arn, slot, noted=state.catch_ups.get(slot)
            )
            if done is CatchUp.STARTED:
                report.caught_up.append(slot)
                logger.info("caught up a missed slot", job=job.name, slot=slot)
            if done in (CatchUp.STARTED, CatchUp.RUNNING):
                break  # one in flight at a time


def watch(
    ledger: Any,
    sfn: Any,
    table: str,
    manifest: Manifest,
    *,
    now: datetime,
    state_machine_arn_prefix: str,
) -> WatchResult:
    result = WatchResult(reports=[], errors={})
    for job in manifest.jobs:
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


@metrics.log_metrics
@logger.inject_lambda_context
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    settings = SlotWatchSettings.from_environ()
    manifest = load(settings.manifest_path)
    metrics.add_dimension(names.ENVIRONMENT_DIMENSION, settings.environment)
    result = watch(
        client("dynamodb"),
        client("stepfunctions"),
        settings.ledger_table,
        manifest,
        now=datetime.now(UTC),
        state_machine_arn_prefix=settings.state_machine_arn_prefix,
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
    if result.errors:
        raise SlotWatchIncomplete(
            f"checked all but {len(result.errors)} job(s): "
            + "; ".join(f"{job}: {error}" for job, error in result.errors.items())
        )
    return {
        "checked": len(result.reports) - len(result.errors),
        "missed": {r.job: r.missed for r in result.reports if r.missed},
        "silent": [r.job for r in result.reports if r.silent],
        "caughtUp": {r.job: r.caught_up for r in result.reports if r.caught_up},
    }
