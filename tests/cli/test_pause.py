"""Pause and resume: the pause record in the ledger (moto's DynamoDB), through the CLI and
through ``lambdas/core/pause.py``, the code the guard and the slot watch read it with."""

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
from lambdas.core.ledger_contract import (
    PAUSE_PERIODS,
    PAUSE_REASON,
    PAUSED,
    PAUSED_AT,
    PAUSED_BY,
    PERIOD_FROM,
    PERIOD_TO,
    TTL_ATTRIBUTE,
    table_name,
)
from lambdas.core.pause import (
    MAX_PERIODS,
    Pause,
    key,
    pause_update,
    read_pause,
    resume_update,
)
from tests.aws import REGION, create_ledger_table, use_fake_credentials
from tests.configs import use_config

LEDGER = table_name("test")
JOBS = {"nightly": {"schedule": "cron(0 3 * * ? *)", "image": "x"}}
T0 = datetime(2026, 11, 22, 3, 0, tzinfo=UTC)
runner = CliRunner()


@pytest.fixture(autouse=True)
def config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    return use_config(tmp_path, monkeypatch, JOBS)


@pytest.fixture
def dynamodb(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    use_fake_credentials(monkeypatch)
    with mock_aws():
        client = boto3.client("dynamodb", region_name=REGION)
        create_ledger_table(client, LEDGER)
        yield client


def record(dynamodb: Any) -> dict[str, Any]:
    item: dict[str, Any] = dynamodb.get_item(TableName=LEDGER, Key=key("nightly")).get("Item", {})
    return item


def invoke(*args: str) -> Any:
    return runner.invoke(app, list(args), env={"COLUMNS": "200"})


def test_pause_then_resume_keeps_the_period(dynamodb: Any) -> None:
    dynamodb.update_item(**pause_update(LEDGER, "nightly", reason="db migration", by="me", now=T0))
    paused = read_pause(record(dynamodb))
    assert (paused.paused, paused.reason, paused.since) == (True, "db migration", T0)
    assert paused.by == "me"
    assert paused.covers(T0 + timedelta(days=3))
    assert not paused.covers(T0 - timedelta(seconds=1))

    later = T0 + timedelta(hours=2)
    dynamodb.update_item(**resume_update(LEDGER, "nightly", paused, now=later))
    item = record(dynamodb)
    assert item[PAUSED] == {"BOOL": False}
    assert not {PAUSE_REASON, PAUSED_AT, PAUSED_BY} & set(item)
    assert TTL_ATTRIBUTE not in item  # periods are kept: no garbage collection of the record
    resumed = read_pause(item)
    assert not resumed.paused
    assert [(p.start, p.end, p.reason) for p in resumed.periods] == [(T0, later, "db migration")]
    assert resumed.covers(T0 + timedelta(hours=1))
    assert not resumed.covers(later)  # a period ends where the job was resumed

    # A second pause and resume append; the first period stays.
    again = T0 + timedelta(days=1)
    dynamodb.update_item(**pause_update(LEDGER, "nightly", reason="disk full", by="ops", now=again))
    second = read_pause(record(dynamodb))
    assert second.paused
    assert len(second.periods) == 1
    dynamodb.update_item(
        **resume_update(LEDGER, "nightly", second, now=again + timedelta(minutes=5))
    )
    periods = record(dynamodb)[PAUSE_PERIODS]["L"]
    assert [period["M"][PAUSE_REASON]["S"] for period in periods] == ["db migration", "disk full"]
    assert periods[1]["M"][PERIOD_FROM]["S"] == "2026-11-23T03:00:00.000Z"
    assert periods[1]["M"][PERIOD_TO]["S"] == "2026-11-23T03:05:00.000Z"


def test_pausing_a_paused_job_fails_its_condition_and_changes_nothing(dynamodb: Any) -> None:
    dynamodb.update_item(**pause_update(LEDGER, "nightly", reason="first", by="me", now=T0))
    with pytest.raises(dynamodb.exceptions.ConditionalCheckFailedException):
        dynamodb.update_item(
            **pause_update(LEDGER, "nightly", reason="second", by="you", now=T0 + timedelta(1))
        )
    assert read_pause(record(dynamodb)).reason == "first"


def test_a_resume_racing_another_pause_fails_instead_of_recording_a_wrong_period(
    dynamodb: Any,
) -> None:
    dynamodb.update_item(**pause_update(LEDGER, "nightly", reason="a", by="me", now=T0))
    stale = read_pause(record(dynamodb))
    dynamodb.update_item(**resume_update(LEDGER, "nightly", stale, now=T0 + timedelta(hours=1)))
    later = T0 + timedelta(hours=2)
    dynamodb.update_item(**pause_update(LEDGER, "nightly", reason="b", by="me", now=later))
    with pytest.raises(dynamodb.exceptions.ConditionalCheckFailedException):
        dynamodb.update_item(**resume_update(LEDGER, "nightly", stale, now=later))
    assert len(read_pause(record(dynamodb)).periods) == 1


def test_resume_of_a_job_that_is_not_paused_is_refused() -> None:
    with pytest.raises(ValueError, match="nightly is not paused"):
        resume_update(LEDGER, "nightly", read_pause(None), now=T0)


def test_cli_pause_and_resume_write_the_record(dynamodb: Any) -> None:
    paused = invoke("pause", "nightly", "--env", "test", "--reason", "  db   migration ")
    assert paused.exit_code == 0, paused.output
    assert paused.output.startswith("paused nightly in 'test' at ")
    assert paused.output.strip().endswith(": db migration")
    item = record(dynamodb)
    assert item[PAUSED] == {"BOOL": True}
    assert item[PAUSE_REASON] == {"S": "db migration"}
    assert item[PAUSED_BY]["S"].startswith("arn:aws:")  # the caller's identity, from STS
    since = read_pause(item).since
    assert since is not None
    assert abs(datetime.now(UTC) - since) < timedelta(minutes=1)

    again = invoke("pause", "nightly", "--env", "test", "--reason", "other")
    assert again.exit_code == 0, again.output
    assert "was already paused since" in again.output
    assert "db migration (unchanged)" in again.output
    assert record(dynamodb)[PAUSE_REASON] == {"S": "db migration"}

    resumed = invoke("resume", "nightly", "--env", "test")
    assert resumed.exit_code == 0, resumed.output
    assert "resumed nightly in 'test': paused from " in resumed.output
    periods = read_pause(record(dynamodb)).periods
    assert [period.reason for period in periods] == ["db migration"]
    assert periods[0].start == since

    not_paused = invoke("resume", "nightly", "--env", "test")
    assert not_paused.exit_code == 0
    assert not_paused.output.strip() == "nightly is not paused in 'test' (unchanged)"
    assert len(read_pause(record(dynamodb)).periods) == 1


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("pause", "nope", "--reason", "x"), "error: unknown job 'nope' in environment 'test'"),
        (("resume", "nope"), "error: unknown job 'nope' in environment 'test'"),
        (("pause", "nightly", "--reason", "   "), "error: --reason must say why the job is"),
    ],
)
def test_bad_input_is_refused_before_any_aws_call(
    args: tuple[str, ...], message: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # No credentials and no moto: an AWS call would fail differently (exit 1).
    for variable in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_PROFILE"):
        monkeypatch.delenv(variable, raising=False)
    result = invoke(*args, "--env", "test")
    assert result.exit_code == 2
    assert result.output.startswith(message)
    assert len(result.output.strip().splitlines()) == 1


def _cycles(count: int) -> Iterator[tuple[datetime, datetime]]:
    """``count`` pauses of an hour, a day apart, with gaps of varying length."""
    start = T0
    for number in range(count):
        yield start, start + timedelta(hours=1)
        start += timedelta(days=1, minutes=number % 7)


def test_ten_thousand_pause_cycles_keep_the_record_within_one_read_unit() -> None:
    """Each resume's update carries the whole bounded list: applying its SET 10,000 times (the
    attribute becomes the value) never passes 4 KB, and every paused hour stays covered."""
    item: dict[str, Any] = {}
    largest = 0
    for start, end in _cycles(10_000):
        paused = Pause(paused=True, reason="r" * 40, since=start, periods=read_pause(item).periods)
        update = resume_update(LEDGER, "nightly", paused, now=end)
        assert "list_append" not in update["UpdateExpression"]  # the list is replaced whole
        item = {PAUSE_PERIODS: update["ExpressionAttributeValues"][":periods"]}
        largest = max(largest, len(json.dumps(item)))  # above DynamoDB's own item size
        periods = read_pause(item).periods
        assert len(periods) <= MAX_PERIODS
        assert read_pause(item).covers(start) and read_pause(item).covers(end - timedelta(0, 1))
    assert largest < 4096
    history = read_pause(item)
    assert all(history.covers(start) for start, _ in list(_cycles(10_000))[-MAX_PERIODS:])


def test_the_pause_record_stays_bounded_in_the_ledger(dynamodb: Any) -> None:
    """Through moto's DynamoDB: more cycles than ``MAX_PERIODS`` keep exactly that many
    periods, the neighbours with the shortest gap joined, and pausing keeps working."""
    cycles = list(_cycles(MAX_PERIODS + 5))
    for start, end in cycles:
        dynamodb.update_item(**pause_update(LEDGER, "nightly", reason="r", by="me", now=start))
        paused = read_pause(record(dynamodb))
        dynamodb.update_item(**resume_update(LEDGER, "nightly", paused, now=end))
    pause = read_pause(record(dynamodb))
    assert len(pause.periods) == MAX_PERIODS
    assert all(pause.covers(start) for start, _ in cycles)
    # The five shortest gaps were joined into their neighbours; the other gaps stay free.
    free = [end + timedelta(minutes=1) for _, end in cycles[:-1]]
    assert sum(not pause.covers(moment) for moment in free) == len(cycles) - 1 - 5
