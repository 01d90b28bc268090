"""job_retries by exit code: which failed attempts the guard runs again, and after how long."""

from __future__ import annotations

import json
from typing import Any

import pytest

from lambdas.core.outcome import failed
from lambdas.core.trigger import InvalidInput
from lambdas.guard.retry import RetryPolicy

TASK_FAILED = "States.TaskFailed"


def attempt_error(exit_code: int | None, stop_code: str = "EssentialContainerExited") -> Any:
    """What Run job catches when the job's task stopped (a non-zero exit, or a lost task)."""
    container: dict[str, Any] = {"Name": "job"}
    if exit_code is not None:
        container["ExitCode"] = exit_code
    task = {"TaskArn": "arn:task/1", "StopCode": stop_code, "Containers": [container]}
    return {"Error": TASK_FAILED, "Cause": json.dumps(task)}


def retried(policy: RetryPolicy, error: Any, attempt: int = 1) -> bool:
    ended = failed(error, container="job")
    return policy.retries(ended, failed_with=error["Error"], attempt=attempt)


EVERY_EXIT = RetryPolicy(max=2, interval_seconds=30)
ON_75_137 = RetryPolicy(max=2, interval_seconds=30, on_exit_codes=frozenset({75, 137}))
EXCEPT_2 = RetryPolicy(max=2, interval_seconds=30, except_exit_codes=frozenset({2}))


@pytest.mark.parametrize(
    ("policy", "exit_code", "expected"),
    [
        (EVERY_EXIT, 1, True),
        (EVERY_EXIT, 137, True),
        (ON_75_137, 75, True),
        (ON_75_137, 137, True),  # an OOM kill, listed
        (ON_75_137, 1, False),
        (ON_75_137, None, False),  # no exit code is not a listed one
        (EXCEPT_2, 2, False),
        (EXCEPT_2, 137, True),
        (EXCEPT_2, None, True),
        (RetryPolicy(), 1, False),  # job_retries 0, or a definition that sends none
    ],
)
def test_a_failed_attempt_is_retried_by_its_exit_code(
    policy: RetryPolicy, exit_code: int | None, expected: bool
) -> None:
    assert retried(policy, attempt_error(exit_code)) is expected


@pytest.mark.parametrize("policy", [EVERY_EXIT, ON_75_137, EXCEPT_2])
def test_a_spot_interruption_is_retried_whatever_the_exit_code(policy: RetryPolicy) -> None:
    assert retried(policy, attempt_error(2, stop_code="SpotInterruption"))
    assert retried(policy, attempt_error(None, stop_code="SpotInterruption"))


def test_retries_stop_after_max_attempts_and_never_cover_a_timeout_or_a_launch() -> None:
    assert retried(ON_75_137, attempt_error(75), attempt=2)
    assert not retried(ON_75_137, attempt_error(75), attempt=3)
    assert not retried(EVERY_EXIT, {"Error": "States.Timeout", "Cause": "{}"})
    assert not retried(EVERY_EXIT, {"Error": "AmazonECS.Unknown", "Cause": "RESOURCE:FARGATE"})
    assert not retried(EVERY_EXIT, {"Error": "ECS.ClusterNotFoundException", "Cause": "gone"})


def test_the_wait_doubles_per_retry_as_the_time_budget_counts_it() -> None:
    assert [EVERY_EXIT.wait_seconds(attempt) for attempt in (1, 2, 3)] == [30, 60, 120]


def test_the_policy_reads_the_definitions_job_settings() -> None:
    policy = RetryPolicy.from_payload({"max": 2, "intervalSeconds": 30, "onExitCodes": [75, 137]})
    assert policy == ON_75_137
    assert RetryPolicy.from_payload(None) == RetryPolicy()
    not_a_list: Any = {"max": 2, "intervalSeconds": 30, "onExitCodes": 75}
    with pytest.raises(InvalidInput, match="'onExitCodes' must be a list"):
        RetryPolicy.from_payload(not_a_list)
    text: Any = {"max": "2", "intervalSeconds": 30}
    with pytest.raises(InvalidInput, match="'max' must be a whole number"):
        RetryPolicy.from_payload(text)
