"""Reading the state machine input (the slot) and the run's end (the outcome)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from lambdas.core import errors
from lambdas.core.ledger_contract import Status
from lambdas.core.outcome import failed, of_failed_execution, succeeded
from lambdas.core.trigger import InvalidInput, parse_trigger


@pytest.mark.parametrize(
    "spelling",
    [
        "2026-11-22T03:00:00Z",
        "2026-11-22T03:00:00+00:00",
        "2026-11-22T12:00:00+09:00",
        "2026-11-22T03:00:00.000Z",
    ],
)
def test_every_spelling_of_one_instant_is_one_slot(spelling: str) -> None:
    trigger = parse_trigger({"scheduledTime": spelling, "attempt": "0"}, "exec")
    assert trigger.slot == "2026-11-22T03:00:00Z"
    assert trigger.scheduled_time == datetime(2026, 11, 22, 3, tzinfo=UTC)
    assert trigger.from_schedule


def test_the_attempt_number_never_changes_the_slot() -> None:
    first = parse_trigger({"scheduledTime": "2026-11-22T03:00:00Z", "attempt": "0"}, "a")
    retry = parse_trigger({"scheduledTime": "2026-11-22T03:00:00Z", "attempt": "3"}, "b")
    assert first.slot == retry.slot
    assert (first.attempt, retry.attempt) == (0, 3)


def test_a_person_backfilling_is_not_a_scheduled_delivery() -> None:
    trigger = parse_trigger({"scheduledTime": "2026-11-01T03:00:00Z", "force": True}, "x")
    assert (trigger.from_schedule, trigger.force, trigger.manual) == (False, True, False)


@pytest.mark.parametrize("raw", [{}, None])
def test_input_without_scheduled_time_is_a_manual_slot_of_its_own(raw: Any) -> None:
    trigger = parse_trigger(raw, "manual-run-1")
    assert (trigger.slot, trigger.manual) == ("manual:manual-run-1", True)


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({"scheduledTime": "yesterday"}, "scheduledTime 'yesterday' is not an ISO-8601 time"),
        ({"scheduledTime": 1763780400}, "scheduledTime must be an ISO-8601 string"),
        ({"scheduledTime": "2026-11-22T03:00:00"}, "has no time zone"),
        ({"scheduledTime": "2026-11-22T03:00:00Z", "force": "yes"}, "force must be true or false"),
        ({"scheduledTime": "2026-11-22T03:00:00Z", "attempt": "first"}, "attempt must be a number"),
        ({"scheduled_time": "2026-11-22T03:00:00Z"}, "unknown input key(s) scheduled_time"),
        (["2026-11-22T03:00:00Z"], "input must be a JSON object"),
    ],
)
def test_malformed_input_is_rejected_with_what_is_wrong(raw: Any, message: str) -> None:
    with pytest.raises(InvalidInput) as raised:
        parse_trigger(raw, "exec")
    assert message in str(raised.value)


TASK = {
    "TaskArn": "arn:aws:ecs:us-east-1:1:task/cluster/abc",
    "StoppedReason": "Essential container in task exited",
    "Containers": [{"Name": "job", "ExitCode": 3}],
}


def test_success_records_task_and_exit_code() -> None:
    ended = succeeded({**TASK, "Containers": [{"Name": "job", "ExitCode": 0}]}, container="job")
    assert (ended.status, ended.exit_code, ended.task_arn) == (
        Status.SUCCEEDED,
        0,
        "arn:aws:ecs:us-east-1:1:task/cluster/abc",
    )


def test_non_zero_exit_is_a_failure_with_its_exit_code_and_stopped_reason() -> None:
    ended = failed({"Error": "States.TaskFailed", "Cause": json.dumps(TASK)}, container="job")
    assert ended.status is Status.FAILED
    assert (ended.exit_code, ended.reason) == (3, "job exited 3")
    assert ended.stopped_reason == "Essential container in task exited"


def test_an_oom_kill_keeps_the_container_reason() -> None:
    task = {
        **TASK,
        "Containers": [
            {"Name": "job", "ExitCode": 137, "Reason": "OutOfMemoryError: Container killed"}
        ],
    }
    ended = failed({"Error": "States.TaskFailed", "Cause": json.dumps(task)}, container="job")
    assert (ended.exit_code, ended.stopped_reason) == (137, "OutOfMemoryError: Container killed")


def test_timeout_is_recorded_as_timed_out() -> None:
    ended = failed({"Error": "States.Timeout", "Cause": "The state timed out"}, container="job")
    assert (ended.status, ended.reason) == (Status.TIMED_OUT, "job exceeded its timeout")


@pytest.mark.parametrize("error", errors.LAUNCH_ERRORS)
def test_exhausted_launch_failures_are_failures_without_exit_code(error: str) -> None:
    ended = failed({"Error": error, "Cause": "RESOURCE:FARGATE"}, container="job")
    assert (ended.status, ended.exit_code) == (Status.FAILED, None)
    assert ended.reason == "launch failed: RESOURCE:FARGATE"


def test_an_unknown_error_shape_is_still_a_failure() -> None:
    assert failed("garbage", container="job").reason == "States.Runtime"
    unknown = failed({"Error": "Lambda.Unknown", "Cause": "boom"}, container="job")
    assert unknown.reason == "Lambda.Unknown: boom"


# A sidecar such as the GuardDuty runtime agent may be listed first, and ends differently.
SIDECAR_FIRST = {
    "TaskArn": "arn:aws:ecs:us-east-1:1:task/cluster/abc",
    "StoppedReason": "Essential container in task exited",
    "Containers": [
        {"Name": "aws-guardduty-agent-AbCdEf", "ExitCode": 137, "Reason": "killed at stop"},
        {"Name": "job", "ExitCode": 0},
    ],
}


def test_the_exit_code_comes_from_the_jobs_container_not_a_sidecar_listed_first() -> None:
    ended = succeeded(SIDECAR_FIRST, container="job")
    assert (ended.exit_code, ended.stopped_reason) == (0, "Essential container in task exited")
    failing = {
        **SIDECAR_FIRST,
        "Containers": [{"Name": "sidecar", "ExitCode": 0}, {"Name": "job", "ExitCode": 3}],
    }
    ended = failed({"Error": "States.TaskFailed", "Cause": json.dumps(failing)}, container="job")
    assert (ended.exit_code, ended.reason) == (3, "job exited 3")


def _task_failed(*containers: tuple[str, int | None]) -> dict[str, str]:
    task = {
        **SIDECAR_FIRST,
        "Containers": [{"Name": name, "ExitCode": code} for name, code in containers],
    }
    return {"Error": "States.TaskFailed", "Cause": json.dumps(task)}


def test_an_essential_sidecar_that_stopped_the_task_is_named_with_the_jobs_exit_code() -> None:
    # The agent exited 2 on its own; ECS stopped the job with SIGTERM (143).
    ended = failed(_task_failed(("agent", 2), ("job", 143)), container="job", essential=("agent",))
    assert (ended.status, ended.exit_code) == (Status.FAILED, 143)
    assert ended.reason == "essential container agent exited 2"
    # The job never got to run: no exit code of its own.
    ended = failed(_task_failed(("agent", 0), ("job", None)), container="job", essential=["agent"])
    assert (ended.exit_code, ended.reason) == (None, "essential container agent exited 0")


def test_a_job_that_failed_on_its_own_is_not_blamed_on_an_essential_sidecar() -> None:
    # The job exited 3; ECS then stopped the essential agent (143): the job's exit it is.
    ended = failed(_task_failed(("agent", 143), ("job", 3)), container="job", essential=("agent",))
    assert (ended.exit_code, ended.reason) == (3, "job exited 3")
    # A sidecar that is not essential never stops the task: the job's SIGTERM is its own.
    ended = failed(_task_failed(("agent", 2), ("job", 143)), container="job", essential=())
    assert (ended.exit_code, ended.reason) == (143, "job exited 143")


def test_a_sidecar_exiting_non_zero_after_the_job_succeeded_is_named_beside_exit_0() -> None:
    # Step Functions fails runTask.sync when any container exits non-zero: a log router
    # killed at shutdown (137) fails a run whose job exited 0.
    ended = failed(_task_failed(("log_router", 137), ("job", 0)), container="job")
    assert (ended.status, ended.exit_code) == (Status.FAILED, 0)
    assert ended.reason == "job exited 0, but container log_router exited 137"


def test_a_task_without_the_jobs_container_has_no_exit_code() -> None:
    ended = succeeded(
        {**SIDECAR_FIRST, "Containers": [{"Name": "other", "ExitCode": 0}]}, container="job"
    )
    assert ended.exit_code is None


def test_a_failed_execution_is_read_back_from_its_cronguard_error_and_cause() -> None:
    original = {"Error": "States.TaskFailed", "Cause": json.dumps(TASK)}
    ended = of_failed_execution(errors.JOB_FAILED, json.dumps(original), container="job")
    assert ended is not None
    assert (ended.status, ended.exit_code) == (Status.FAILED, 3)
    task = {**TASK, "Containers": [{"Name": "job", "ExitCode": 0}]}
    kept = of_failed_execution(errors.SUCCESS_NOT_RECORDED, json.dumps(task), container="job")
    assert kept is not None
    assert (kept.status, kept.exit_code, kept.task_arn) == (Status.SUCCEEDED, 0, TASK["TaskArn"])
    assert of_failed_execution("States.Runtime", "boom", container="job") is None
