"""A run still running its job's alert_after after it started: the slot watch alerts it once
(``lambdas/slot_watch/running_long.py``), against moto's DynamoDB and the guard's own claims."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from lambdas.core.ledger import LedgerTable
from lambdas.core.ledger_contract import LEASE_SORT_KEY, RUNNING_LONG_AT
from lambdas.core.metrics_contract import JOB_DIMENSION, RUNNING_LONG
from lambdas.slot_watch.handler import watch
from lambdas.slot_watch.manifest import Manifest, WatchedJob, parse, render
from lambdas.slot_watch.running_long import check_running_long
from tests.lambdas.conftest import TABLE, Aws
from tests.lambdas.test_slot_watch import job, manifest

STARTED = datetime(2026, 11, 22, 1, 0, 5, tzinfo=UTC)
ALERTED = job(alert_after=timedelta(minutes=45))
EXECUTION = "arn:aws:states:us-east-1:123456789012:execution:test-report:"


def claim(aws: Aws, slot: str, execution: str, now: datetime) -> None:
    """The guard's claim of ``slot``: its slot record and a new lease, as the guard writes them."""
    LedgerTable(aws.dynamodb, TABLE).claim_slot(
        job="report",
        slot=slot,
        me=EXECUTION + execution,
        now=now,
        retention=timedelta(days=7),
        lease_for=timedelta(hours=2),
        attempt=1,
        forced=False,
        take_over=None,
        overwrite=None,
    )


def release(aws: Aws, execution: str) -> None:
    assert LedgerTable(aws.dynamodb, TABLE).release_lease("report", EXECUTION + execution)


def running_long(aws: Aws, watched: WatchedJob, now: datetime) -> bool:
    return check_running_long(
        aws.dynamodb,
        TABLE,
        watched,
        aws.item(LEASE_SORT_KEY),
        environment="test",
        now=now,
    )


def emitted(capsys: pytest.CaptureFixture[str]) -> list[dict[str, Any]]:
    lines = capsys.readouterr().out.splitlines()
    return [json.loads(line) for line in lines if '"_aws"' in line]


@pytest.fixture
def metrics_on(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("POWERTOOLS_METRICS_DISABLED", "false")
    capsys.readouterr()


@pytest.mark.usefixtures("metrics_on")
def test_a_run_past_alert_after_is_marked_and_counted_once(
    aws: Aws, capsys: pytest.CaptureFixture[str]
) -> None:
    claim(aws, "2026-11-22T01:00:00Z", "first", STARTED)
    assert not running_long(aws, ALERTED, STARTED + timedelta(minutes=44, seconds=59))
    assert emitted(capsys) == []

    at = STARTED + timedelta(minutes=45)
    assert running_long(aws, ALERTED, at)
    lease = aws.item(LEASE_SORT_KEY)
    assert lease is not None and lease[RUNNING_LONG_AT]["S"] == "2026-11-22T01:45:05.000Z"
    (metric,) = emitted(capsys)
    assert metric[RUNNING_LONG] == [1.0]
    assert metric[JOB_DIMENSION] == "report" and metric["environment"] == "test"

    # Later checks find the mark: the run is alerted once, whatever the checks' order.
    assert not running_long(aws, ALERTED, at + timedelta(minutes=5))
    assert emitted(capsys) == []


@pytest.mark.usefixtures("metrics_on")
def test_two_checks_reading_the_same_lease_alert_once(
    aws: Aws, capsys: pytest.CaptureFixture[str]
) -> None:
    claim(aws, "2026-11-22T01:00:00Z", "first", STARTED)
    read_by_both = aws.item(LEASE_SORT_KEY)
    at = STARTED + timedelta(hours=1)
    answers = [
        check_running_long(aws.dynamodb, TABLE, ALERTED, read_by_both, environment="test", now=at)
        for _ in range(2)
    ]
    assert answers == [True, False]
    assert len(emitted(capsys)) == 1


def test_each_run_is_alerted_once_its_own_claim_writes_a_new_lease(aws: Aws) -> None:
    claim(aws, "2026-11-22T01:00:00Z", "first", STARTED)
    assert running_long(aws, ALERTED, STARTED + timedelta(minutes=50))
    release(aws, "first")
    second = STARTED + timedelta(hours=1)
    claim(aws, "2026-11-22T02:00:00Z", "second", second)
    assert not running_long(aws, ALERTED, second + timedelta(minutes=10))
    assert running_long(aws, ALERTED, second + timedelta(minutes=46))


def test_a_lease_that_changed_hands_since_it_was_read_is_not_marked(aws: Aws) -> None:
    claim(aws, "2026-11-22T01:00:00Z", "first", STARTED)
    stale = aws.item(LEASE_SORT_KEY)
    release(aws, "first")
    claim(aws, "2026-11-22T02:00:00Z", "second", STARTED + timedelta(hours=1))
    at = STARTED + timedelta(hours=1, minutes=1)
    assert not check_running_long(aws.dynamodb, TABLE, ALERTED, stale, environment="test", now=at)
    lease = aws.item(LEASE_SORT_KEY)
    assert lease is not None and RUNNING_LONG_AT not in lease


def test_no_alert_without_alert_after_or_without_a_held_lease(aws: Aws) -> None:
    at = STARTED + timedelta(hours=1)
    assert not running_long(aws, ALERTED, at)  # no lease at all
    claim(aws, "2026-11-22T01:00:00Z", "first", STARTED)
    assert not running_long(aws, job(), at)  # the job has no alert_after
    lease = aws.item(LEASE_SORT_KEY)
    assert lease is not None and RUNNING_LONG_AT not in lease
    # Past the lease (the run ended without releasing it, or the lease is void): no run.
    assert not running_long(aws, ALERTED, STARTED + timedelta(hours=2, seconds=1))


def test_the_watch_checks_each_jobs_lease_at_every_check(aws: Aws) -> None:
    watched = manifest(ALERTED, job("other", alert_after=timedelta(minutes=45)))
    claim(aws, "2026-11-22T01:00:00Z", "first", STARTED)
    watch(
        aws.dynamodb,
        aws.sfn,
        TABLE,
        watched,
        now=STARTED + timedelta(minutes=46),
        state_machine_arn_prefix="unused",
    )
    lease = aws.item(LEASE_SORT_KEY)
    assert lease is not None and RUNNING_LONG_AT in lease
    assert aws.item(LEASE_SORT_KEY, job="other") is None


def test_the_manifest_carries_alert_after_only_when_set() -> None:
    plain = Manifest(environment="test", retention=timedelta(days=7), jobs=(job(),))
    assert b"alertAfter" not in render(plain)
    alerted = Manifest(environment="test", retention=timedelta(days=7), jobs=(ALERTED,))
    assert json.loads(render(alerted))["jobs"][0]["alertAfterSeconds"] == 45 * 60
    assert parse(render(alerted)).jobs == (ALERTED,)
    assert parse(render(plain)).jobs[0].alert_after is None
