"""A person's run-time overrides: what the guard (and the CLI, with the same check) accepts."""

from __future__ import annotations

from typing import Any

import pytest

from lambdas.core.input_contract import (
    OVERRIDES_LIMIT,
    InvalidOverrides,
    check_overrides,
    for_state_machine,
    own_variables,
)
from lambdas.core.trigger import InvalidInput, parse_trigger

OWN = own_variables("report", "2026-11-22T03:00:00Z", "arn:aws:states:eu-west-1:1:execution:x:y")


def checked(raw: Any) -> Any:
    return check_overrides(raw, declared={"MODE", "LIMIT"}, container="job", own=OWN)


def test_declared_and_run_prefixed_variables_and_a_command_are_accepted() -> None:
    overrides = checked({"environment": {"MODE": "dry", "RUN_NOTE": "why"}, "command": ["a", "b"]})
    assert overrides == {"environment": {"MODE": "dry", "RUN_NOTE": "why"}, "command": ["a", "b"]}
    assert for_state_machine(overrides) == {
        "environment": [{"Name": "MODE", "Value": "dry"}, {"Name": "RUN_NOTE", "Value": "why"}],
        "command": ["a", "b"],
    }
    assert for_state_machine(None) == {"environment": []}


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({"environment": {"CRONGUARD_SLOT": "x"}}, "CRONGUARD_SLOT is cronguard's own"),
        ({"environment": {"cronguard_job": "x"}}, "cronguard_job is cronguard's own"),
        ({"environment": {"SECRET_KEY": "x"}}, "SECRET_KEY is not a variable the job declares"),
        ({"environment": {"1X": "x"}}, "'1X' is not a variable name"),
        ({"environment": {"MODE": 3}}, "must map variable names to strings"),
        ({"environment": ["MODE=x"]}, "must map variable names to strings"),
        ({"command": "run.sh"}, "command must be a non-empty list of strings"),
        ({"command": []}, "command must be a non-empty list of strings"),
        ({"cpu": 1024}, "unknown override(s) cpu; allowed: environment, command"),
        ({"taskRoleArn": "arn:aws:iam::1:role/admin"}, "unknown override(s) taskRoleArn"),
        ("MODE=x", "overrides must be a JSON object"),
    ],
)
def test_overrides_outside_the_known_shapes_are_refused(raw: Any, message: str) -> None:
    with pytest.raises(InvalidOverrides) as refused:
        checked(raw)
    assert message in str(refused.value)


def test_overrides_over_ecs_limit_with_cronguards_own_variables_are_refused() -> None:
    # Just under the limit alone, over it with the job, slot and execution variables.
    checked({"environment": {"RUN_BIG": "x" * (OVERRIDES_LIMIT - 400)}})
    with pytest.raises(InvalidOverrides, match="ECS allows 8192"):
        checked({"environment": {"RUN_BIG": "x" * (OVERRIDES_LIMIT - 100)}})


def test_a_scheduled_trigger_never_carries_overrides() -> None:
    scheduled = {"scheduledTime": "2026-11-22T03:00:00Z", "attempt": "1", "overrides": {}}
    with pytest.raises(InvalidInput, match="never carries overrides"):
        parse_trigger(scheduled, "x")
    by_hand = parse_trigger(
        {"scheduledTime": "2026-11-22T03:00:00Z", "overrides": {"command": ["a"]}}, "x"
    )
    assert (by_hand.from_schedule, by_hand.overrides) == (False, {"command": ["a"]})
