"""The names of the executions that replay a slot: deterministic, bounded, valid."""

from __future__ import annotations

import pytest

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
