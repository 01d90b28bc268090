"""cronguard status: one row per job from the ledger (moto's DynamoDB) and the config, by the
key ranges the slot watch reads, no scans."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws
from typer.testing import CliRunner

from cronguard.cli import app
from cronguard.operations import environment as operations
from lambdas.core.ledger_contract import (
    ATTEMPT,
    ENDED_AT,
    OWNER,
    PARTITION_KEY,
    REASON,
    RUNS,
    SLOT,
    SORT_KEY,
    STARTED_AT,
    STATUS,
    WATCH_SORT_KEY,
    WATCHED_SCHEDULE,
    WATCHED_SINCE,
    Status,
    partition,
    slot_sort_key,
    table_name,
)
from lambdas.core.missed import JobSchedule
from lambdas.core.pause import pause_update
from lambdas.core.times import iso, slot_key
from lambdas.slot_watch.handler import watch
from lambdas.slot_watch.manifest import Manifest, WatchedJob
from testkit.capacity import ReadMeter
from testkit.history import every, succeeded, write
from tests.aws import REGION, create_ledger_table, use_fake_credentials
from tests.configs import use_config

LEDGER = table_name("test")
JOBS: dict[str, dict[str, Any]] = {
    "nightly": {
        "schedule": "cron(0 3 * * ? *)",
        "timezone": "Asia/Tokyo",
        "image": "x",
        "owner": {"team": "payments", "email": ["payments@example.com"]},
    },
    "hourly": {"schedule": "cron(0 * * * ? *)", "image": "x"},
    "watched": {"schedule": "cron(0 6 * * ? *)", "image": "x"},
    "held": {"schedule": "cron(0 7 * * ? *)", "image": "x"},
    "off": {"schedule": "cron(0 8 * * ? *)", "image": "x", "enabled": False},
    "every-90m": {"schedule": "rate(90 minutes)", "image": "x"},
    "slow": {"schedule": "cron(0 9 * * ? *)", "image": "x", "alert_after": "45m", "timeout": "2h"},
}
EXECUTION = "arn:aws:states:us-east-1:123456789012:execution:test-{job}:{name}"
runner = CliRunner()


@pytest.fixture(autouse=True)
def config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    return use_config(tmp_path, monkeypatch, JOBS)


@pytest.fixture
def calls(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """The DynamoDB operations the CLI makes, by name (moto's account, fake credentials)."""
    use_fake_credentials(monkeypatch)
    made: list[str] = []
    real = operations.session_for

    def counting(environment: Any) -> Any:
        session = real(environment)
        session.events.register(
            "before-call.dynamodb.*", lambda model, **_: made.append(model.name)
        )
        return session

    monkeypatch.setattr(operations, "session_for", counting)
    with mock_aws():
        create_ledger_table(boto3.client("dynamodb", region_name=REGION), LEDGER)
        yield made


def put(job: str, slot: str, status: str, **attributes: Any) -> None:
    item: dict[str, Any] = {
        PARTITION_KEY: {"S": partition(job)},
        SORT_KEY: {"S": slot_sort_key(slot)},
        SLOT: {"S": slot},
        STATUS: {"S": status},
    }
    for name, value in attributes.items():
        item[name] = value if isinstance(value, dict) else {"S": value}
    boto3.client("dynamodb", region_name=REGION).put_item(TableName=LEDGER, Item=item)


def invoke(*args: str) -> Any:
    return runner.invoke(app, list(args), env={"COLUMNS": "250"})


def hours_ago(now: datetime, hours: float) -> datetime:
    return now - timedelta(hours=hours)


@pytest.fixture
def ledger(calls: list[str]) -> datetime:
    """A ledger with a run in progress, a failure, a missed slot and a paused job."""
    now = datetime.now(UTC)
    day = now.replace(hour=3, minute=0, second=0, microsecond=0) - timedelta(days=1)
    # nightly: yesterday's slot succeeded (12 min); today's is running for 10 minutes.
    put(
        "nightly",
        slot_key(day),
        Status.SUCCEEDED,
        **{
            OWNER: EXECUTION.format(job="nightly", name="yesterday"),
            STARTED_AT: iso(hours_ago(now, 30)),
            ENDED_AT: iso(hours_ago(now, 30) + timedelta(minutes=12)),
        },
    )
    put(
        "nightly",
        slot_key(now - timedelta(minutes=10)),
        Status.RUNNING,
        **{
            OWNER: EXECUTION.format(job="nightly", name="today"),
            STARTED_AT: iso(now - timedelta(minutes=10)),
        },
    )
    # hourly: a failure 2 days ago, one 8 days ago (outside the window), a forced re-run of a
    # failed slot (its earlier run failed), and the last slot succeeded.
    put(
        "hourly",
        slot_key(hours_ago(now, 48).replace(minute=0, second=0, microsecond=0)),
        Status.FAILED,
        **{STARTED_AT: iso(hours_ago(now, 48)), REASON: "job exited 3"},
    )
    put(
        "hourly",
        slot_key(hours_ago(now, 24 * 8).replace(minute=0, second=0, microsecond=0)),
        Status.TIMED_OUT,
        **{STARTED_AT: iso(hours_ago(now, 24 * 8))},
    )
    earlier_run = {
        "M": {
            STATUS: {"S": Status.ABORTED},
            STARTED_AT: {"S": iso(hours_ago(now, 5))},
            REASON: {"S": "stopped"},
        }
    }
    put(
        "hourly",
        slot_key(hours_ago(now, 5).replace(minute=0, second=0, microsecond=0)),
        Status.SUCCEEDED,
        **{STARTED_AT: iso(hours_ago(now, 4)), RUNS: {"L": [earlier_run]}},
    )
    put(
        "hourly",
        slot_key(hours_ago(now, 1).replace(minute=0, second=0, microsecond=0)),
        Status.SUCCEEDED,
        **{
            STARTED_AT: iso(hours_ago(now, 1)),
            ENDED_AT: iso(hours_ago(now, 1) + timedelta(seconds=45)),
        },
    )
    # ... and a slot 3 days old backfilled just now: the latest start, not the last slot.
    put(
        "hourly",
        slot_key(hours_ago(now, 72).replace(minute=0, second=0, microsecond=0)),
        Status.SUCCEEDED,
        **{STARTED_AT: iso(now)},
    )
    # watched: a slot the slot watch recorded MISSED, then one that ran.
    put("watched", slot_key(hours_ago(now, 50)), Status.MISSED)
    put("watched", slot_key(hours_ago(now, 26)), Status.SUCCEEDED, **{STARTED_AT: iso(now)})
    # held: paused 3 hours ago.
    boto3.client("dynamodb", region_name=REGION).update_item(
        **pause_update(LEDGER, "held", reason="db migration", by="me", now=hours_ago(now, 3))
    )
    # every-90m: the schedule delivered a slot 30 minutes ago: the next is in an hour.
    put(
        "every-90m",
        slot_key((now - timedelta(minutes=30)).replace(microsecond=0)),
        Status.SUCCEEDED,
        **{STARTED_AT: iso(now - timedelta(minutes=30)), ATTEMPT: {"N": "1"}},
    )
    # slow: running for 50 minutes, past its alert_after (45m).
    put(
        "slow",
        slot_key(now - timedelta(minutes=50)),
        Status.RUNNING,
        **{
            OWNER: EXECUTION.format(job="slow", name="long"),
            STARTED_AT: iso(now - timedelta(minutes=50)),
        },
    )
    calls.clear()
    return now


def jobs_by_name(output: str) -> dict[str, dict[str, Any]]:
    document = json.loads(output)
    assert document["environment"] == "test"
    assert document["windowDays"] == 7
    return {job["name"]: job for job in document["jobs"]}


def test_status_json_rows(ledger: datetime, calls: list[str]) -> None:
    result = invoke("status", "--env", "test", "--json")
    assert result.exit_code == 0, result.output
    jobs = jobs_by_name(result.output)
    assert sorted(jobs) == sorted(JOBS)  # every job

    nightly = jobs["nightly"]
    assert nightly["state"] == "active"
    assert nightly["lastSlot"]["status"] == "RUNNING"
    assert [run["execution"] for run in nightly["running"]] == ["today"]
    assert 590 <= nightly["running"][0]["forSeconds"] <= 660
    assert nightly["running"][0]["runningLong"] is False  # no alert_after
    (slow,) = jobs["slow"]["running"]
    assert slow["runningLong"] is True and slow["forSeconds"] >= 45 * 60
    assert nightly["nextSlot"]["local"].endswith("T03:00:00+09:00")  # in the job's zone
    assert nightly["failures"] == {"count": 0, "slots": []}
    assert (nightly["owner"], jobs["hourly"]["owner"]) == ("payments", None)

    hourly = jobs["hourly"]
    assert hourly["lastSlot"]["slot"] == slot_key(
        hours_ago(ledger, 1).replace(minute=0, second=0, microsecond=0)
    )
    assert hourly["lastSlot"]["status"] == "SUCCEEDED"
    assert hourly["lastSlot"]["durationSeconds"] == 45
    assert 3600 <= hourly["lastSlot"]["ageSeconds"] < 7200  # since the slot's time
    assert hourly["running"] == []
    # The failure 2 days ago and the forced slot's earlier run; not the one 8 days ago.
    assert [f["status"] for f in hourly["failures"]["slots"]] == ["FAILED", "ABORTED"]
    assert hourly["failures"]["count"] == 2
    assert hourly["failures"]["slots"][0]["reason"] == "job exited 3"

    watched = jobs["watched"]
    assert watched["missed"] == {"count": 1, "slots": [slot_key(hours_ago(ledger, 50))]}
    assert watched["lastSlot"]["status"] == "SUCCEEDED"  # a MISSED record is not a run

    held = jobs["held"]
    assert held["state"] == "paused"
    assert held["paused"]["reason"] == "db migration"
    assert held["paused"]["by"] == "me"
    assert held["lastSlot"] is None

    off = jobs["off"]
    assert (off["state"], off["enabled"], off["paused"]) == ("disabled", False, None)

    rate = jobs["every-90m"]
    expected = (ledger - timedelta(minutes=30)).replace(microsecond=0) + timedelta(minutes=90)
    assert rate["nextSlot"]["utc"] == slot_key(expected)

    # Per job: its lease, pause and watch records; its slots since the watch's watermark (no
    # watch record here: the window); its manual runs; and, for the two jobs with no run in
    # the window, the latest slots. Nothing else.
    assert calls == ["Query"] * (3 * len(JOBS) + 2)


def test_status_table(ledger: datetime) -> None:
    result = invoke("status", "--env", "test")
    assert result.exit_code == 0, result.output
    rows = {line.split("│")[1].strip(): line for line in result.output.splitlines() if "│" in line}
    assert "RUNNING" in rows["nightly"]
    assert " JST " in rows["nightly"]
    assert "│ for 10m " in rows["nightly"]  # running for ten minutes
    assert "│ long 50m " in rows["slow"]  # running past its alert_after (45m)
    assert "│ 45s " in rows["hourly"]
    assert "paused: db migration" in rows["held"]
    assert "disabled" in rows["off"]
    cells = [cell.strip() for cell in rows["watched"].split("│")]
    assert cells[8:10] == ["1", "0"]  # missed 7d, failed 7d
    cells = [cell.strip() for cell in rows["hourly"].split("│")]
    assert cells[8:10] == ["0", "2"]
    assert (rows["nightly"].split("│")[-2].strip(), cells[-2]) == ("payments", "-")  # owner


def test_a_job_every_minute_costs_a_few_read_units_not_its_history(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, calls: list[str]
) -> None:
    minutely = {"schedule": "cron(* * * * ? *)", "image": "x"}
    use_config(tmp_path / "minutely", monkeypatch, {"minutely": minutely})
    client = boto3.client("dynamodb", region_name=REGION)
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    # A day of history (moto takes a minute to write and read a week's; the benchmark
    # measures it): a failure 20 hours ago and a slot missed 10 hours ago, both behind the
    # watermark.
    day = now - timedelta(days=1)
    history = [succeeded("minutely", slot) for slot in every(day, now, timedelta(minutes=1))]
    failed = history[-1200]
    failed[STATUS], failed[REASON] = {"S": Status.FAILED}, {"S": "job exited 3"}
    missed = history.pop(-600)
    write(client, LEDGER, history)
    # The slot watch has watched the job for the day, and checked it a minute ago.
    watched = WatchedJob("minutely", "test-minutely", JobSchedule("cron(* * * * ? *)"))
    client.put_item(
        TableName=LEDGER,
        Item={
            PARTITION_KEY: {"S": partition("minutely")},
            SORT_KEY: {"S": WATCH_SORT_KEY},
            WATCHED_SCHEDULE: {"S": watched.fingerprint},
            WATCHED_SINCE: {"S": iso(day)},
        },
    )
    manifest = Manifest("test", timedelta(days=7), (watched,))
    watch(
        client, None, LEDGER, manifest, now=now - timedelta(minutes=1), state_machine_arn_prefix=""
    )
    meter = ReadMeter(client)
    monkeypatch.setattr(operations, "session_for", lambda _: metered(meter))
    result = invoke("status", "--env", "test", "--json")
    assert result.exit_code == 0, result.output
    row = jobs_by_name(result.output)["minutely"]
    assert row["lastSlot"]["slot"] == slot_key(now)
    assert row["missed"]["slots"] == [missed[SLOT]["S"]]
    assert [failure["slot"] for failure in row["failures"]["slots"]] == [failed[SLOT]["S"]]
    assert row["failures"]["slots"][0]["reason"] == "job exited 3"
    # The whole partition is about 560 KB (some 70 read units; 540 for a week).
    assert meter.units < 10, meter.calls
    assert meter.items <= 15


def metered(meter: ReadMeter) -> boto3.Session:
    session = boto3.Session(region_name=REGION)
    meter.register(session.events)
    return session


def test_status_without_credentials_is_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    for variable in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_PROFILE"):
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    result = invoke("status", "--env", "test")
    assert result.exit_code == 1
    assert result.output.strip() == (
        f"error: no AWS credentials to read the ledger {LEDGER}: "
        "configure them (aws configure, AWS_PROFILE)"
    )
