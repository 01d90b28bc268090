"""The slot watch against moto's DynamoDB and Step Functions: missed slots become MISSED once."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from lambdas.core import variables
from lambdas.core.execution_contract import MAX_REPLAY_STARTS
from lambdas.core.ledger_contract import (
    CATCH_UP_EXECUTION,
    CHECKED_UNTIL,
    DETECTED_AT,
    LATEST_SLOT,
    LEASE_SORT_KEY,
    LEASE_UNTIL,
    PARTITION_KEY,
    REASON,
    SORT_KEY,
    STATUS,
    WATCH_SORT_KEY,
    WATCHED_SINCE,
    Status,
    partition,
    slot_sort_key,
)
from lambdas.core.metrics_contract import (
    CATCH_UPS_STARTED,
    JOB_DIMENSION,
    MISSED_SLOTS,
    SLOT_WATCH_DEFERRED,
    SLOT_WATCH_ERRORS,
)
from lambdas.core.missed import JobSchedule
from lambdas.core.pause import key as pause_key
from lambdas.core.pause import pause_update, read_pause, resume_update
from lambdas.core.variables import SettingError
from lambdas.slot_watch import handler
from lambdas.slot_watch.handler import (
    CatchUp,
    SlotWatchIncomplete,
    lambda_handler,
    metrics,
    record_missed,
    start_catch_up,
    watch,
)
from lambdas.slot_watch.manifest import (
    LAYER_PATH,
    SHARD_SIZE,
    Manifest,
    Shard,
    WatchedJob,
    render,
    shards,
)
from lambdas.slot_watch.settings import SlotWatchSettings
from tests.lambdas.conftest import CONTEXT, TABLE, Aws, LambdaContext

T0 = datetime(2026, 11, 22, 0, 30, tzinfo=UTC)  # the watch first sees the jobs
HOURLY = JobSchedule("cron(0 * * * ? *)")


def job(name: str = "report", **changes: Any) -> WatchedJob:
    fields: dict[str, Any] = {"name": name, "state_machine": f"test-{name}", "schedule": HOURLY}
    fields.update(changes)
    return WatchedJob(**fields)


def manifest(*jobs: WatchedJob) -> Manifest:
    return Manifest(environment="test", retention=timedelta(days=7), jobs=jobs)


def prefix(aws: Aws) -> str:
    return aws.state_machine_arn.removesuffix("test-report")


def check(aws: Aws, watched: Manifest, now: datetime, *, sfn: Any = None) -> handler.WatchResult:
    return watch(
        aws.dynamodb,
        sfn or aws.sfn,
        TABLE,
        watched,
        now=now,
        state_machine_arn_prefix=prefix(aws),
    )


def ran(aws: Aws, slot: str, job_name: str = "report") -> None:
    """A slot the guard claimed (the watch only asks whether a record exists)."""
    aws.dynamodb.put_item(
        TableName=TABLE,
        Item={
            PARTITION_KEY: {"S": partition(job_name)},
            SORT_KEY: {"S": slot_sort_key(slot)},
            STATUS: {"S": Status.SUCCEEDED},
            "owner": {"S": "arn:aws:states:us-east-1:123456789012:execution:test-report:x"},
        },
    )


def status(aws: Aws, slot: str, job_name: str = "report") -> str | None:
    item = aws.item(slot_sort_key(slot), job=job_name)
    return None if item is None else str(item[STATUS]["S"])


def test_a_new_job_is_watched_from_now_on_so_nothing_before_is_missed(aws: Aws) -> None:
    result = check(aws, manifest(job()), T0)
    assert result.missed == 0 and not result.errors
    watched = aws.item(WATCH_SORT_KEY)
    assert watched is not None and watched[WATCHED_SINCE]["S"] == "2026-11-22T00:30:00.000Z"
    assert status(aws, "2026-11-22T00:00:00Z") is None


def test_missed_slots_are_recorded_once_and_slots_that_ran_are_not(aws: Aws) -> None:
    watched = manifest(job())
    check(aws, watched, T0)
    ran(aws, "2026-11-22T02:00:00Z")
    first = check(aws, watched, T0 + timedelta(hours=3, minutes=10))  # 03:40
    (report,) = first.reports
    assert report.missed == ["2026-11-22T01:00:00Z", "2026-11-22T03:00:00Z"]
    missed = aws.item(slot_sort_key("2026-11-22T01:00:00Z"))
    assert missed is not None and missed[STATUS]["S"] == Status.MISSED
    assert missed[DETECTED_AT]["S"] == "2026-11-22T03:40:00.000Z"
    assert "within 300s" in missed[REASON]["S"]
    assert status(aws, "2026-11-22T02:00:00Z") == Status.SUCCEEDED
    # The next check reports only what is new: 04:00, once its grace has passed.
    again = check(aws, watched, T0 + timedelta(hours=4, minutes=5))  # 04:35
    assert again.reports[0].missed == ["2026-11-22T04:00:00Z"]


def test_a_slot_claimed_before_the_missed_record_is_written_is_not_missed(aws: Aws) -> None:
    ran(aws, "2026-11-22T01:00:00Z")
    written = record_missed(
        aws.dynamodb,
        TABLE,
        "report",
        "2026-11-22T01:00:00Z",
        now=T0,
        retention=timedelta(days=7),
        reason="late",
    )
    assert not written
    assert status(aws, "2026-11-22T01:00:00Z") == Status.SUCCEEDED


def test_a_disabled_job_is_not_checked_and_when_enabled_again_its_watch_restarts(aws: Aws) -> None:
    check(aws, manifest(job()), T0)
    disabled = manifest(job(enabled=False))
    assert check(aws, disabled, T0 + timedelta(hours=1)).missed == 0
    assert check(aws, disabled, T0 + timedelta(hours=5)).missed == 0
    assert status(aws, "2026-11-22T02:00:00Z") is None
    enabled_at = T0 + timedelta(hours=6)  # 06:30: nothing of the disabled time is missed
    assert check(aws, manifest(job()), enabled_at).missed == 0
    later = check(aws, manifest(job()), enabled_at + timedelta(hours=1))  # 07:30
    assert later.reports[0].missed == ["2026-11-22T07:00:00Z"]


def test_a_new_schedule_restarts_the_watch(aws: Aws) -> None:
    check(aws, manifest(job()), T0)
    moved = manifest(job(schedule=JobSchedule("cron(30 * * * ? *)")))
    assert check(aws, moved, T0 + timedelta(hours=3, minutes=5)).missed == 0  # 03:35
    later = check(aws, moved, T0 + timedelta(hours=4, minutes=10))  # 04:40
    assert later.reports[0].missed == ["2026-11-22T04:30:00Z"]


def test_slots_while_the_job_was_paused_are_not_missed(aws: Aws) -> None:
    watched = manifest(job())
    check(aws, watched, T0)
    aws.dynamodb.update_item(
        **pause_update(TABLE, "report", reason="db migration", by="me", now=T0)
    )
    paused = read_pause(aws.dynamodb.get_item(TableName=TABLE, Key=pause_key("report"))["Item"])
    aws.dynamodb.update_item(
        **resume_update(TABLE, "report", paused, now=T0 + timedelta(hours=2))  # 02:30
    )
    result = check(aws, watched, T0 + timedelta(hours=3, minutes=10))  # 03:40
    (report,) = result.reports
    assert report.missed == ["2026-11-22T03:00:00Z"]
    assert report.paused == ["2026-11-22T01:00:00Z", "2026-11-22T02:00:00Z"]
    assert status(aws, "2026-11-22T01:00:00Z") is None


def test_a_rate_job_without_any_run_is_reported_at_every_check(aws: Aws) -> None:
    watched = manifest(job(schedule=JobSchedule("rate(1 hour)")))
    check(aws, watched, T0)
    assert check(aws, watched, T0 + timedelta(minutes=64)).missed == 0
    result = check(aws, watched, T0 + timedelta(minutes=65))
    assert result.reports[0].silent and result.missed == 1
    assert check(aws, watched, T0 + timedelta(minutes=70)).missed == 1


def test_catch_up_starts_missed_slots_within_its_window_one_per_check_oldest_first(
    aws: Aws,
) -> None:
    watched = manifest(job(catch_up=timedelta(hours=2)))
    check(aws, watched, T0)
    result = check(aws, watched, T0 + timedelta(hours=3, minutes=10))  # 03:40
    (report,) = result.reports
    assert report.missed == [
        "2026-11-22T01:00:00Z",
        "2026-11-22T02:00:00Z",
        "2026-11-22T03:00:00Z",
    ]
    # 01:00 is older than the 2-hour window: reported, never started. 02:00 goes first.
    assert report.caught_up == ["2026-11-22T02:00:00Z"]
    executions = aws.sfn.list_executions(stateMachineArn=aws.state_machine_arn)["executions"]
    (started,) = executions
    assert started["name"] == "catch-up-20261122T020000Z"
    described = aws.sfn.describe_execution(executionArn=started["executionArn"])
    assert json.loads(described["input"]) == {"scheduledTime": "2026-11-22T02:00:00Z"}
    caught = aws.item(slot_sort_key("2026-11-22T02:00:00Z"))
    assert caught is not None and caught[STATUS]["S"] == Status.MISSED  # until the guard runs
    assert caught[CATCH_UP_EXECUTION]["S"] == started["executionArn"]
    # While its execution has not claimed 02:00, the next check starts nothing (one at a time).
    waiting = check(aws, watched, T0 + timedelta(hours=3, minutes=15))
    assert waiting.reports[0].caught_up == [] and waiting.missed == 0
    # Its guard claimed 02:00 (here: the run's record); the next check starts the next slot.
    ran(aws, "2026-11-22T02:00:00Z")
    again = check(aws, watched, T0 + timedelta(hours=3, minutes=20))
    assert again.reports[0].caught_up == ["2026-11-22T03:00:00Z"] and again.missed == 0
    ran(aws, "2026-11-22T03:00:00Z")
    assert check(aws, watched, T0 + timedelta(hours=3, minutes=25)).reports[0].caught_up == []
    assert len(aws.sfn.list_executions(stateMachineArn=aws.state_machine_arn)["executions"]) == 2


def test_catch_up_waits_while_a_run_holds_the_jobs_lease(aws: Aws) -> None:
    watched = manifest(job(catch_up=timedelta(hours=2)))
    check(aws, watched, T0)
    now = T0 + timedelta(hours=1, minutes=10)  # 01:40: 01:00 was missed
    aws.dynamodb.put_item(
        TableName=TABLE,
        Item={
            PARTITION_KEY: {"S": partition("report")},
            SORT_KEY: {"S": LEASE_SORT_KEY},
            LEASE_UNTIL: {"N": str(int((now + timedelta(minutes=30)).timestamp()))},
        },
    )
    held = check(aws, watched, now)
    assert held.reports[0].missed == ["2026-11-22T01:00:00Z"]
    assert held.reports[0].caught_up == []
    # The lease has run out (the run ended, or it is void): the slot is started.
    freed = check(aws, watched, now + timedelta(minutes=31))
    assert freed.reports[0].caught_up == ["2026-11-22T01:00:00Z"]


class Reads:
    """Every DynamoDB call of the watch, and for each Query its key range and the slot keys
    it returned."""

    def __init__(self, aws: Aws) -> None:
        self.calls: list[str] = []
        self.queries: list[tuple[str, str, list[str]]] = []
        self._range = ("", "")
        aws.hook(aws.dynamodb, "before-call.dynamodb.*", self._call)
        aws.hook(aws.dynamodb, "provide-client-params.dynamodb.Query", self._range_of)
        aws.hook(aws.dynamodb, "after-call.dynamodb.Query", self._query)

    def _call(self, model: Any, **_: Any) -> None:
        self.calls.append(model.name)

    def _range_of(self, params: dict[str, Any], **_: Any) -> None:
        values = params.get("ExpressionAttributeValues", {})
        if ":low" in values:
            self._range = (values[":low"]["S"], values[":high"]["S"])

    def _query(self, parsed: dict[str, Any], **_: Any) -> None:
        keys = [item[SORT_KEY]["S"] for item in parsed.get("Items", [])]
        self.queries.append((*self._range, keys))

    def clear(self) -> None:
        self.calls.clear()
        self.queries.clear()

    def slots_read(self) -> list[str]:
        return [key for _, _, keys in self.queries for key in keys if key.startswith("slot#")]


def test_a_steady_check_reads_the_jobs_records_and_only_the_slots_since_its_watermark(
    aws: Aws,
) -> None:
    reads = Reads(aws)
    watched = manifest(job("report"), job("other"), job("off", enabled=False))
    check(aws, watched, T0)
    for hour in range(3):
        ran(aws, f"2026-11-22T0{hour + 1}:00:00Z", "report")
    reads.clear()
    check(aws, watched, T0 + timedelta(hours=3, minutes=10))  # 03:40
    # Per enabled job: its lease, pause and watch records, then its slots; a disabled job's
    # records only.
    assert reads.calls.count("Query") == 5
    # Writes: other's three MISSED slots, and each checked job's watermark.
    assert reads.calls.count("PutItem") == 3 and reads.calls.count("UpdateItem") == 2
    assert len(reads.calls) == 10
    watermark = aws.item(WATCH_SORT_KEY)
    assert watermark is not None and watermark[CHECKED_UNTIL]["S"] == "2026-11-22T03:00:01Z"
    # Hours of runs later, a steady check reads the slots after the watermark, no older one.
    for hour in range(4, 10):
        ran(aws, f"2026-11-22T0{hour}:00:00Z", "report")
    reads.clear()
    check(aws, manifest(job("report")), T0 + timedelta(hours=9, minutes=10))  # 09:40
    (records, slots) = reads.queries
    assert records[:2] == (LEASE_SORT_KEY, WATCH_SORT_KEY)
    # Up to the last moment a slot can be due (now less the grace).
    assert slots[:2] == ("slot#2026-11-22T03:00:01Z", "slot#2026-11-22T09:35:00Z")
    assert reads.slots_read() == [f"slot#2026-11-22T0{hour}:00:00Z" for hour in range(4, 10)]
    # When no slot can be due since the watermark, the check reads the records alone.
    reads.clear()
    check(aws, manifest(job("report")), T0 + timedelta(hours=9, minutes=15))  # 09:45
    assert reads.calls == ["Query"] and reads.slots_read() == []


def test_no_slot_is_read_or_checked_twice_after_a_check_that_finished(aws: Aws) -> None:
    reads = Reads(aws)
    watched = manifest(job())
    check(aws, watched, T0)
    for hour in (1, 3, 5):  # every other hour ran; 02:00, 04:00 and 06:00 did not
        ran(aws, f"2026-11-22T0{hour}:00:00Z")
    seen: set[str] = set()
    missed: list[str] = []
    for minutes in range(5, 6 * 60, 5):  # a check every 5 minutes from 00:35 to 06:25
        reads.clear()
        missed += check(aws, watched, T0 + timedelta(minutes=minutes)).reports[0].missed
        # A slot's record is read again only while its grace runs (it is not due yet).
        due = {key for key in reads.slots_read() if key <= slot_sort_key(key_at(minutes - 5))}
        assert not due & seen, f"read again at 00:30 + {minutes} min: {due & seen}"
        seen |= due
    assert missed == ["2026-11-22T02:00:00Z", "2026-11-22T04:00:00Z", "2026-11-22T06:00:00Z"]
    # Each run's record was read once it was due, and no MISSED record the watch wrote was.
    assert seen == {slot_sort_key(f"2026-11-22T0{hour}:00:00Z") for hour in (1, 3, 5)}


def key_at(minutes: int) -> str:
    return (T0 + timedelta(minutes=minutes)).strftime("%Y-%m-%dT%H:%M:%SZ")


class Interrupted(Exception):
    """The Lambda runtime killing an invocation at its timeout, in the middle of a check."""


class InterruptedWrites:
    """A DynamoDB client whose ``after``-th PutItem never returns (the invocation is killed)."""

    def __init__(self, client: Any, after: int) -> None:
        self._client = client
        self._left = after

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)

    def put_item(self, **kwargs: Any) -> Any:
        if self._left == 0:
            raise Interrupted
        self._left -= 1
        return self._client.put_item(**kwargs)


def test_a_missed_slot_is_found_after_a_check_that_timed_out_half_way(aws: Aws) -> None:
    watched = manifest(job())
    check(aws, watched, T0)
    now = T0 + timedelta(hours=3, minutes=10)  # 03:40: 01:00, 02:00 and 03:00 were missed
    with pytest.raises(Interrupted):
        watch(
            InterruptedWrites(aws.dynamodb, after=1),
            aws.sfn,
            TABLE,
            watched,
            now=now,
            state_machine_arn_prefix=prefix(aws),
        )
    assert status(aws, "2026-11-22T01:00:00Z") == Status.MISSED
    assert status(aws, "2026-11-22T02:00:00Z") is None
    watermark = aws.item(WATCH_SORT_KEY)
    assert watermark is not None and CHECKED_UNTIL not in watermark  # it did not move
    # The next check finds the two it did not get to, and does not report 01:00 again.
    again = check(aws, watched, now + timedelta(minutes=5))
    assert again.reports[0].missed == ["2026-11-22T02:00:00Z", "2026-11-22T03:00:00Z"]


def test_the_watermark_waits_at_a_running_slot_and_at_a_slot_to_catch_up(aws: Aws) -> None:
    watched = manifest(job(catch_up=timedelta(hours=2)))
    check(aws, watched, T0)
    long_run = "2026-11-22T01:00:00Z"
    aws.dynamodb.put_item(
        TableName=TABLE,
        Item={
            PARTITION_KEY: {"S": partition("report")},
            SORT_KEY: {"S": slot_sort_key(long_run)},
            STATUS: {"S": Status.RUNNING},
        },
    )
    check(aws, watched, T0 + timedelta(hours=2, minutes=10))  # 02:40: 02:00 missed, started
    watermark = aws.item(WATCH_SORT_KEY)
    assert watermark is not None and watermark[CHECKED_UNTIL]["S"] == long_run
    ran(aws, long_run)  # the long run ended; 02:00's catch-up has not claimed it yet
    check(aws, watched, T0 + timedelta(hours=2, minutes=15))
    watermark = aws.item(WATCH_SORT_KEY)
    assert watermark is not None and watermark[CHECKED_UNTIL]["S"] == "2026-11-22T02:00:00Z"
    ran(aws, "2026-11-22T02:00:00Z")  # claimed by its catch-up
    check(aws, watched, T0 + timedelta(hours=2, minutes=20))
    watermark = aws.item(WATCH_SORT_KEY)
    assert watermark is not None and watermark[CHECKED_UNTIL]["S"] == "2026-11-22T02:00:01Z"


def test_a_rate_job_keeps_its_phase_once_its_latest_run_is_behind_the_watermark(
    aws: Aws,
) -> None:
    watched = manifest(job(schedule=JobSchedule("rate(1 day)")))
    check(aws, watched, T0)
    ran(aws, "2026-11-22T00:40:00Z")  # Scheduler's phase: 00:40 every day
    ran(aws, "2026-11-23T00:40:00Z")
    check(aws, watched, T0 + timedelta(days=1, minutes=20))  # 00:50 the next day
    watermark = aws.item(WATCH_SORT_KEY)
    assert watermark is not None and watermark[CHECKED_UNTIL]["S"] == "2026-11-23T00:40:01Z"
    assert watermark[LATEST_SLOT]["S"] == "2026-11-23T00:40:00Z"
    # No record since the watermark: the phase comes from the watch's record.
    result = check(aws, watched, T0 + timedelta(days=2, minutes=20))
    assert result.reports[0].missed == ["2026-11-24T00:40:00Z"] and not result.reports[0].silent


class FailingQueries:
    """A DynamoDB client whose Query fails for one job (as a throttled partition would)."""

    def __init__(self, client: Any, job_name: str) -> None:
        self._client = client
        self._job = job_name

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)

    def get_paginator(self, operation: str) -> Any:
        real = self._client.get_paginator(operation)
        failing_job = partition(self._job)

        class Paginator:
            def paginate(self, **kwargs: Any) -> Any:
                if kwargs["ExpressionAttributeValues"][":pk"]["S"] == failing_job:
                    raise ClientError(
                        {"Error": {"Code": "ThrottlingException", "Message": "slow down"}},
                        "Query",
                    )
                return real.paginate(**kwargs)

        return Paginator()


def emitted(capsys: pytest.CaptureFixture[str]) -> list[dict[str, Any]]:
    lines = capsys.readouterr().out.splitlines()
    return [json.loads(line) for line in lines if '"_aws"' in line]


def test_the_handler_emits_missed_slots_per_job_and_in_total(
    aws: Aws, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    watched = manifest(job("report"), job("other"))
    check(aws, watched, T0)
    ran(aws, "2026-11-22T01:00:00Z", "other")
    path = tmp_path / "jobs.json"
    path.write_bytes(render(watched))
    monkeypatch.setenv(variables.JOBS_MANIFEST, str(path))
    monkeypatch.setenv(variables.STATE_MACHINE_ARN_PREFIX, prefix(aws))
    monkeypatch.setenv("POWERTOOLS_METRICS_DISABLED", "false")
    monkeypatch.setattr(handler, "client", {"dynamodb": aws.dynamodb, "stepfunctions": aws.sfn}.get)
    monkeypatch.setattr(handler, "datetime", FrozenClock)
    metrics.clear_metrics()
    capsys.readouterr()

    answer = lambda_handler({}, CONTEXT)

    assert answer["missed"] == {"report": ["2026-11-22T01:00:00Z"]}
    blobs = emitted(capsys)
    per_job = [b for b in blobs if JOB_DIMENSION in b]
    (report,) = per_job
    assert report[JOB_DIMENSION] == "report" and report[MISSED_SLOTS] == [1.0]
    assert report["environment"] == "test"
    (total,) = [b for b in blobs if JOB_DIMENSION not in b]
    assert total[MISSED_SLOTS] == [1.0]
    assert total[SLOT_WATCH_ERRORS] == [0.0] and total[CATCH_UPS_STARTED] == [0.0]
    assert total["environment"] == "test"


def test_a_job_that_cannot_be_checked_fails_the_check_after_the_others(
    aws: Aws, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    watched = manifest(job("report"), job("other"))
    check(aws, watched, T0)
    path = tmp_path / "jobs.json"
    path.write_bytes(render(watched))
    monkeypatch.setenv(variables.JOBS_MANIFEST, str(path))
    monkeypatch.setenv(variables.STATE_MACHINE_ARN_PREFIX, prefix(aws))
    monkeypatch.setenv("POWERTOOLS_METRICS_DISABLED", "false")
    failing = FailingQueries(aws.dynamodb, "report")
    monkeypatch.setattr(handler, "client", {"dynamodb": failing, "stepfunctions": aws.sfn}.get)
    monkeypatch.setattr(handler, "datetime", FrozenClock)
    metrics.clear_metrics()
    capsys.readouterr()

    with pytest.raises(SlotWatchIncomplete, match="report: ThrottlingException: slow down"):
        lambda_handler({}, CONTEXT)

    assert status(aws, "2026-11-22T01:00:00Z", "other") == Status.MISSED  # still checked
    (total,) = [b for b in emitted(capsys) if JOB_DIMENSION not in b]
    assert total[SLOT_WATCH_ERRORS] == [1.0] and total[MISSED_SLOTS] == [1.0]


class FrozenClock(datetime):
    """``datetime`` for the handler, whose ``now`` is 01:40 on the test day."""

    @classmethod
    def now(cls, tz: Any = None) -> FrozenClock:
        moment = T0 + timedelta(hours=1, minutes=10)
        return cls.fromtimestamp(moment.timestamp(), tz)


def test_settings_name_a_missing_variable_and_default_to_the_layers_manifest() -> None:
    environ = {
        variables.LEDGER_TABLE: TABLE,
        variables.ENVIRONMENT: "test",
        variables.STATE_MACHINE_ARN_PREFIX: "arn:aws:states:us-east-1:1:stateMachine:",
    }
    assert SlotWatchSettings.from_environ(environ).manifest_path == LAYER_PATH == "/opt/jobs.json"
    del environ[variables.STATE_MACHINE_ARN_PREFIX]
    with pytest.raises(SettingError, match="STATE_MACHINE_ARN_PREFIX is not set: the slot watch"):
        SlotWatchSettings.from_environ(environ)


def test_a_catch_up_the_guard_already_ran_is_not_counted(aws: Aws) -> None:
    slot = "2026-11-22T01:00:00Z"
    assert record_missed(
        aws.dynamodb, TABLE, "report", slot, now=T0, retention=timedelta(days=7), reason="x"
    )
    ran(aws, slot)  # a late delivery claimed it before the catch-up was noted
    started = start_catch_up(aws.dynamodb, aws.sfn, TABLE, "report", aws.state_machine_arn, slot)
    assert started is CatchUp.CLAIMED
    assert status(aws, slot) == Status.SUCCEEDED


class DeniedStarts:
    """A Step Functions client whose StartExecution is denied (a missing permission)."""

    def __init__(self, client: Any) -> None:
        self._client = client

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)

    def start_execution(self, **kwargs: Any) -> Any:
        raise ClientError(
            {"Error": {"Code": "AccessDeniedException", "Message": "not authorized"}},
            "StartExecution",
        )


def test_a_missed_slot_is_counted_even_when_a_later_call_of_its_jobs_check_fails(
    aws: Aws, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    watched = manifest(job(catch_up=timedelta(hours=2)))
    check(aws, watched, T0)
    path = tmp_path / "jobs.json"
    path.write_bytes(render(watched))
    monkeypatch.setenv(variables.JOBS_MANIFEST, str(path))
    monkeypatch.setenv(variables.STATE_MACHINE_ARN_PREFIX, prefix(aws))
    monkeypatch.setenv("POWERTOOLS_METRICS_DISABLED", "false")
    denied = DeniedStarts(aws.sfn)
    monkeypatch.setattr(handler, "client", {"dynamodb": aws.dynamodb, "stepfunctions": denied}.get)
    monkeypatch.setattr(handler, "datetime", FrozenClock)
    metrics.clear_metrics()
    capsys.readouterr()

    # 01:00 is recorded MISSED, then starting its catch-up is denied.
    with pytest.raises(SlotWatchIncomplete, match="report: AccessDeniedException"):
        lambda_handler({}, CONTEXT)

    assert status(aws, "2026-11-22T01:00:00Z") == Status.MISSED
    blobs = emitted(capsys)
    (per_job,) = [b for b in blobs if JOB_DIMENSION in b]
    assert per_job[JOB_DIMENSION] == "report" and per_job[MISSED_SLOTS] == [1.0]
    (total,) = [b for b in blobs if JOB_DIMENSION not in b]
    assert total[MISSED_SLOTS] == [1.0] and total[SLOT_WATCH_ERRORS] == [1.0]
    # The next check does not report it again: it has a record. This was its one count.
    again = check(aws, watched, FrozenClock.now(UTC) + timedelta(minutes=5), sfn=denied)
    assert again.missed == 0


def test_a_catch_up_that_ended_without_claiming_is_started_again_under_its_next_name_bounded(
    aws: Aws,
) -> None:
    watched = manifest(job(catch_up=timedelta(hours=2)))
    check(aws, watched, T0)
    slot = "2026-11-22T01:00:00Z"
    now = T0 + timedelta(hours=1, minutes=10)  # 01:40: 01:00 was missed
    names = [
        "catch-up-20261122T010000Z",
        *(f"catch-up-20261122T010000Z-{attempt}" for attempt in range(2, MAX_REPLAY_STARTS + 1)),
    ]
    started: list[str] = []
    for attempt, name in enumerate(names):
        report = check(aws, watched, now + timedelta(minutes=5 * attempt)).reports[0]
        assert report.caught_up == [slot]
        (latest,) = [
            execution
            for execution in aws.sfn.list_executions(stateMachineArn=aws.state_machine_arn)[
                "executions"
            ]
            if execution["executionArn"] not in started
        ]
        assert latest["name"] == name
        started.append(latest["executionArn"])
        # While it runs, a check starts nothing more.
        running = check(aws, watched, now + timedelta(minutes=5 * attempt + 1)).reports[0]
        assert (running.missed, running.caught_up) == ([], [])
        # It ends without the guard claiming the slot (its retries ran out).
        aws.sfn.stop_execution(executionArn=latest["executionArn"])
        item = aws.item(slot_sort_key(slot))
        assert item is not None and item[STATUS]["S"] == Status.MISSED
        assert item[CATCH_UP_EXECUTION]["S"] == latest["executionArn"]
    # Every name ended without a claim: the watch gives up on the slot (a person looks)...
    assert check(aws, watched, now + timedelta(minutes=21)).reports[0].caught_up == []  # 02:01
    listed = aws.sfn.list_executions(stateMachineArn=aws.state_machine_arn)["executions"]
    assert len(listed) == MAX_REPLAY_STARTS == 5
    # ... and goes on with the next missed slot.
    later = check(aws, watched, now + timedelta(minutes=30)).reports[0]  # 02:10
    assert later.caught_up == ["2026-11-22T02:00:00Z"]


def test_the_shards_cover_every_job_once_at_3000_jobs() -> None:
    many = manifest(*(job(f"job-{n:04d}") for n in range(3000)))
    parts = shards(len(many.jobs))
    assert len(parts) == 12 and all(part.count == 12 for part in parts)
    covered = [watched.name for part in parts for watched in many.shard(part)]
    assert sorted(covered) == [watched.name for watched in many.jobs]  # each once
    assert max(len(many.shard(part)) for part in parts) <= SHARD_SIZE
    assert [Shard.of(part.event) for part in parts] == list(parts)
    assert many.shard(Shard.of({})) == many.jobs  # an event without a shard: every job


def test_checks_that_run_out_of_time_leave_no_job_unchecked_at_3000_jobs(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    many = manifest(*(job(f"job-{n:04d}") for n in range(3000)))
    checked: list[str] = []
    monkeypatch.setattr(handler, "check_job", lambda *_, **kw: checked.append(kw["report"].job))
    per_check = 170  # the time of a check runs out after this many jobs
    for part in shards(len(many.jobs)):
        jobs = [watched.name for watched in many.shard(part)]
        cursor, rounds = None, 0
        checked.clear()
        while not set(jobs) <= set(checked):
            started = len(checked)
            result = watch(
                None,
                None,
                TABLE,
                many,
                now=T0,
                state_machine_arn_prefix="",
                shard=part,
                first=cursor,
                out_of_time=partial(lambda started: len(checked) - started >= per_check, started),
            )
            # Left for the next check: the rest, in turn, round to where this one started.
            assert len(result.deferred) == len(jobs) - (len(checked) - started)
            cursor = result.deferred[0] if result.deferred else None
            rounds += 1
        # Each check went on where the previous one stopped: no job twice before all once.
        assert checked[: len(jobs)] == jobs and rounds == -(-len(jobs) // per_check)


class RunningOut(LambdaContext):
    """A context whose remaining time is ``left`` (ms), one value per call, then the last."""

    def __init__(self, *left: int) -> None:
        super().__init__()
        object.__setattr__(self, "left", list(left))

    def get_remaining_time_in_millis(self) -> int:
        left: list[int] = self.left  # type: ignore[attr-defined]
        return left.pop(0) if len(left) > 1 else left[0]


def test_a_check_out_of_time_publishes_what_it_did_and_the_next_starts_where_it_stopped(
    aws: Aws, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    watched = manifest(job("a-report"), job("b-report"), job("c-report"))
    check(aws, watched, T0)
    path = tmp_path / "jobs.json"
    path.write_bytes(render(watched))
    monkeypatch.setenv(variables.JOBS_MANIFEST, str(path))
    monkeypatch.setenv(variables.STATE_MACHINE_ARN_PREFIX, prefix(aws))
    monkeypatch.setenv("POWERTOOLS_METRICS_DISABLED", "false")
    monkeypatch.setattr(handler, "client", {"dynamodb": aws.dynamodb, "stepfunctions": aws.sfn}.get)
    monkeypatch.setattr(handler, "datetime", FrozenClock)
    metrics.clear_metrics()
    capsys.readouterr()

    # 240 s at the start; half of it is used once a-report is checked.
    with pytest.raises(SlotWatchIncomplete, match=r"2 job\(s\) left for the next check"):
        lambda_handler({"shard": 0, "shards": 1}, RunningOut(240_000, 200_000, 110_000))

    assert status(aws, "2026-11-22T01:00:00Z", "a-report") == Status.MISSED
    assert status(aws, "2026-11-22T01:00:00Z", "b-report") is None
    (total,) = [b for b in emitted(capsys) if JOB_DIMENSION not in b]
    assert total[MISSED_SLOTS] == [1.0] and total[SLOT_WATCH_DEFERRED] == [2.0]
    # The next check starts with b-report, then c-report, and comes round to a-report.
    metrics.clear_metrics()
    answer = lambda_handler({"shard": 0, "shards": 1}, CONTEXT)
    assert list(answer["missed"]) == ["b-report", "c-report"]
