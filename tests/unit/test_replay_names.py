"""The names of the executions that replay a slot: deterministic, bounded, valid; and of a
person's run (``cronguard run``)."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from cronguard.operations.environment import execution_name
from lambdas.core.execution_contract import (
    BACKFILL,
    CATCH_UP,
    EXECUTION_NAME_LIMIT,
    MAX_REPLAY_STARTS,
    REDRIVE,
    replay_names,
)


def test_a_slot_is_replayed_under_its_first_name_then_the_next_ones_in_order() -> None:
    assert replay_names(CATCH_UP, "2026-11-22T03:00:00Z") == (
        "catch-up-20261122T030000Z",
        "catch-up-20261122T030000Z-2",
        "catch-up-20261122T030000Z-3",
        "catch-up-20261122T030000Z-4",
        "catch-up-20261122T030000Z-5",
    )
    assert len(replay_names(BACKFILL, "2026-11-22T03:00:00Z")) == MAX_REPLAY_STARTS


@pytest.mark.parametrize("kind", [CATCH_UP, BACKFILL, REDRIVE])
def test_every_name_is_a_valid_execution_name(kind: str) -> None:
    for name in replay_names(kind, "9999-12-30T23:59:59Z"):
        assert 1 <= len(name) <= EXECUTION_NAME_LIMIT
        assert name.replace("-", "").isalnum()


def test_a_manual_slot_has_no_replay_names() -> None:
    with pytest.raises(ValueError, match="'manual:x' is not a scheduled slot"):
        replay_names(CATCH_UP, "manual:x")


def test_a_run_of_a_slot_is_named_by_the_slot_in_utc_whatever_its_timezone() -> None:
    tokyo = datetime(2026, 12, 4, 3, 0, tzinfo=ZoneInfo("Asia/Tokyo"))  # 2026-12-03T18:00Z
    now = datetime(2026, 12, 7, 18, 10, 37, 540832, tzinfo=UTC)
    assert execution_name(tokyo, now) == "backfill-20261203T1800Z-20261207T181037540832Z"
    assert execution_name(None, now) == "manual-20261207T181037540832Z"
