"""A MISSED slot is free to the guard: a late or caught-up trigger still runs it, once."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from lambdas.core.guard_contract import Concurrency
from lambdas.core.ledger_contract import (
    DETECTED_AT,
    JOB,
    PARTITION_KEY,
    REASON,
    SLOT,
    SORT_KEY,
    STATUS,
    Status,
    partition,
    slot_sort_key,
)
from lambdas.core.trigger import parse_trigger
from lambdas.guard.decision import Verdict
from lambdas.guard.handler import JobSettings
from tests.lambdas.conftest import CONTAINER, FAMILY, TABLE, Aws

MISSED_SLOT = "2026-11-22T03:00:00Z"
RUNNING_SLOT = "2026-11-22T02:00:00Z"


def settings(concurrency: Concurrency = Concurrency.FORBID) -> JobSettings:
    return JobSettings(
        name="report",
        concurrency=concurrency,
        starting_deadline=None,
        lease=timedelta(hours=1),
        retention=timedelta(days=7),
        container=CONTAINER,
        task_family=FAMILY,
    )


def record_missed(aws: Aws, slot: str) -> None:
    """The record the slot watch writes for a missed slot."""
    aws.dynamodb.put_item(
        TableName=TABLE,
        Item={
            PARTITION_KEY: {"S": partition("report")},
            SORT_KEY: {"S": slot_sort_key(slot)},
            JOB: {"S": "report"},
            SLOT: {"S": slot},
            STATUS: {"S": Status.MISSED},
            REASON: {"S": "no trigger reached the guard"},
            DETECTED_AT: {"S": datetime.now(UTC).isoformat()},
        },
    )


def trigger(aws: Aws, name: str, slot: str, **extra: object) -> tuple[str, Verdict]:
    execution = aws.start(name)
    run_input = {"scheduledTime": slot, **extra}
    decision = aws.guard().run_or_skip(settings(), parse_trigger(run_input, name), execution)
    return execution, decision.verdict


def test_a_caught_up_missed_slot_runs_and_a_late_delivery_of_it_is_a_duplicate(aws: Aws) -> None:
    record_missed(aws, MISSED_SLOT)
    caught_up, verdict = trigger(aws, "catch-up-20261122T030000Z", MISSED_SLOT)
    assert verdict is Verdict.RUN
    item = aws.item(slot_sort_key(MISSED_SLOT))
    assert item is not None and item[STATUS]["S"] == Status.RUNNING
    assert item["owner"]["S"] == caught_up
    # Scheduler's own delivery of the slot arrives after all: deduplicated.
    _, late = trigger(aws, "late-delivery", MISSED_SLOT, attempt="3")
    assert late is Verdict.DUPLICATE


def test_a_missed_slot_skipped_for_overlap_is_recorded_as_skipped(aws: Aws) -> None:
    _, first = trigger(aws, "running", RUNNING_SLOT)
    assert first is Verdict.RUN
    record_missed(aws, MISSED_SLOT)
    _, verdict = trigger(aws, "catch-up", MISSED_SLOT)
    assert verdict is Verdict.OVERLAP
    item = aws.item(slot_sort_key(MISSED_SLOT))
    assert item is not None and item[STATUS]["S"] == Status.SKIPPED_OVERLAP
