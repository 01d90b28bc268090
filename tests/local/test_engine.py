"""A job's real state machine (as its job stack renders it), run by LocalAws as AWS would
run it, with a stand-in guard the tests script."""

from __future__ import annotations

import json
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from botocore.exceptions import ClientError

from cronguard_simulation.engine import (
    THROTTLE,
    LambdaRuntimeCrash,
    LambdaServiceError,
    LocalAws,
    StopCause,
    TaskScript,
    shims,
)
from lambdas.core import errors
from lambdas.guard.decision import Verdict
from tests.local.conftest import skip


def task_scheduled_events(aws: LocalAws, execution_arn: str, resource: str) -> list[Any]:
    return [
        event
        for event in aws.history(execution_arn)
        if event["type"] == "TaskScheduled"
        and event["taskScheduledEventDetails"]["resource"] == resource
    ]


def test_a_run_starts_the_task_with_the_slot_in_its_environment(aws, deploy_job, guard):
    job = deploy_job(guard)

    execution = job.start("20261122T0300Z")
    result = aws.wait(execution)

    assert result["status"] == "SUCCEEDED"
    [task] = aws.tasks_started()
    assert task.group == "cronguard:nightly"
    assert task.environment == {
        "CRONGUARD_JOB": "nightly",
        "CRONGUARD_SLOT": "20261122T0300Z",
        "CRONGUARD_EXECUTION_ARN": execution,
    }
    assert task.execution_arn == execution
    assert (task.exit_code, task.stop_code, task.stop_cause) == (
        0,
        "EssentialContainerExited",
        StopCause.EXITED,
    )
    [claim] = guard.calls_for("claim")
    assert claim["input"] == {"scheduledTime": "2026-11-22T03:00:00Z"}
    assert claim["execution"] == {"id": execution, "name": "20261122T0300Z"}
    assert claim["job"]["name"] == "nightly"
    [finish] = guard.calls_for("finish")
    assert finish["outcome"] == "succeeded"
    assert finish["task"]["TaskArn"] == task.task_arn
    assert finish["task"]["Containers"][0]["ExitCode"] == 0
    assert finish["task"]["StoppedReason"] == "Essential container in task exited"
    assert isinstance(finish["task"]["StoppedAt"], int)  # epoch millis, as AWS outputs
    assert aws.state_transitions(execution) == 5


def test_a_skipped_slot_ends_in_the_named_succeed_state(aws, deploy_job, guard):
    guard.claim = lambda event: skip(Verdict.DUPLICATE)
    job = deploy_job(guard)

    result = job.run("20261122T0300Z")

    assert result["status"] == "SUCCEEDED"
    assert json.loads(result["output"]) == skip(Verdict.DUPLICATE)
    assert aws.tasks_started() == []
    entered = [
        event["stateEnteredEventDetails"]["name"]
        for event in aws.history(result["executionArn"])
        if event["type"].endswith("StateEntered")
    ]
    assert entered == ["Guard", "Run or skip?", "Skipped: duplicate"]


def test_a_non_zero_exit_fails_the_execution_with_the_task_as_cause(aws, deploy_job, guard):
    alarms: list[dict[str, Any]] = []
    aws.on_execution_status_change(lambda event, context: alarms.append(event), statuses={"FAILED"})
    job = deploy_job(guard)
    aws.script_tasks(job.task_definition_arn, TaskScript(duration_seconds=0.2, exit_code=3))

    result = job.run("20261122T0300Z")

    assert (result["status"], result["error"]) == ("FAILED", errors.JOB_FAILED)
    [finish] = guard.calls_for("finish")
    assert finish["outcome"] == "failed"
    assert finish["error"]["Error"] == "States.TaskFailed"
    failed_task = json.loads(finish["error"]["Cause"])
    assert failed_task["Containers"][0]["ExitCode"] == 3
    assert failed_task["StopCode"] == "EssentialContainerExited"
    assert json.loads(result["cause"]) == finish["error"]  # the original error, as JSON
    [run_attempt] = task_scheduled_events(aws, result["executionArn"], "runTask.sync")
    assert run_attempt  # job failures are not retried
    [alarm] = alarms
    assert alarm["detail"]["status"] == "FAILED"
    assert alarm["detail"]["error"] == errors.JOB_FAILED


def test_launch_failures_are_retried_until_a_task_starts(aws, deploy_job, guard):
    job = deploy_job(guard)
    aws.script_tasks(
        job.task_definition_arn,
        TaskScript(launch_failure="RESOURCE:FARGATE"),
        TaskScript(launch_failure=THROTTLE),
        TaskScript(duration_seconds=0.2),
    )

    result = job.run("20261122T0300Z")

    assert result["status"] == "SUCCEEDED"
    assert len(task_scheduled_events(aws, result["executionArn"], "runTask.sync")) == 3
    errors = [
        event["taskFailedEventDetails"]["error"]
        for event in aws.history(result["executionArn"])
        if event["type"] == "TaskFailed"
    ]
    assert errors == ["AmazonECS.Unknown", "ECS.AmazonECSException"]
    assert len(aws.tasks_started()) == 1


def test_a_task_is_seen_stopped_as_it_ends_not_at_the_next_poll(
    aws, deploy_job, guard, monkeypatch, wait_until
):
    """ECS tells Step Functions of a stopped task by event, while moto's `.sync` describes the
    task every 0.5 s: a task due to end before that poll is described again as it ends, so
    the call that saw it running answers. A held task is polled as before until released."""
    answers: list[bool] = []
    watch = shims._TaskWatcher.__call__

    def counted(self: shims._TaskWatcher) -> dict[str, Any] | None:
        described = watch(self)
        answers.append(described is not None)
        return described

    monkeypatch.setattr(shims._TaskWatcher, "__call__", counted)
    job = deploy_job(guard)
    aws.script_tasks(job.task_definition_arn, TaskScript(duration_seconds=0.1))
    assert job.run("20261122T0300Z")["status"] == "SUCCEEDED"
    assert answers == [True]

    answers.clear()
    held = threading.Event()
    aws.script_tasks(job.task_definition_arn, TaskScript(duration_seconds=0.1, held_by=held))
    execution = job.start("20261122T0400Z")
    wait_until(lambda: len(answers) >= 2)
    held.set()
    assert aws.wait(execution)["status"] == "SUCCEEDED"
    assert answers[-1] and not any(answers[:-1])


def test_a_task_state_timeout_stops_the_task(aws, deploy_job, guard):
    def one_second_timeout(definition: dict[str, Any]) -> None:
        definition["States"]["Run job"]["TimeoutSeconds"] = 1

    job = deploy_job(guard, edit=one_second_timeout)
    # The task runs until it is stopped: only the state's timeout can end it.
    aws.script_tasks(job.task_definition_arn, TaskScript(held_by=threading.Event()))

    result = job.run("20261122T0300Z")

    assert result["status"] == "FAILED"
    assert json.loads(result["cause"])["Error"] == "States.Timeout"
    [finish] = guard.calls_for("finish")
    assert finish["error"]["Error"] == "States.Timeout"
    [task] = aws.tasks_started()  # wait() returns once the task was stopped
    assert task.stop_cause is StopCause.STATE_TIMED_OUT
    assert (task.stop_code, task.exit_code) == ("UserInitiated", 143)


def test_a_timeout_during_run_task_still_stops_the_task(aws, deploy_job, guard):
    def one_second_timeout(definition: dict[str, Any]) -> None:
        definition["States"]["Run job"]["TimeoutSeconds"] = 1

    job = deploy_job(guard, edit=one_second_timeout)
    aws.script_tasks(
        job.task_definition_arn,
        TaskScript(held_by=threading.Event(), launch_latency_seconds=1.3),  # until stopped
    )

    result = job.run("20261122T0300Z")

    assert result["status"] == "FAILED"
    assert json.loads(result["cause"])["Error"] == "States.Timeout"
    [task] = aws.tasks_started()  # wait() returns once the task was stopped
    assert task.stop_cause is StopCause.STATE_TIMED_OUT


def test_stop_execution_aborts_and_stops_the_task(aws, deploy_job, guard, wait_until):
    alarms: list[dict[str, Any]] = []
    aws.on_execution_status_change(
        lambda event, context: alarms.append(event), statuses={"ABORTED"}
    )
    job = deploy_job(guard)
    aws.script_tasks(job.task_definition_arn, TaskScript(duration_seconds=2))
    execution = job.start("20261122T0300Z")
    wait_until(aws.tasks_started)

    aws.sfn.stop_execution(executionArn=execution)
    result = aws.wait(execution)

    assert result["status"] == "ABORTED"
    [task] = aws.tasks_started()  # wait() returns once the task was stopped
    assert task.stop_cause is StopCause.EXECUTION_STOPPED
    assert task.stop_code == "UserInitiated"
    assert guard.calls_for("finish") == []  # the state machine's own paths never ran
    [alarm] = alarms
    assert {key: alarm[key] for key in ("source", "detail-type", "account", "region")} == {
        "source": "aws.states",
        "detail-type": "Step Functions Execution Status Change",
        "account": "123456789012",
        "region": "us-east-1",
    }
    assert alarm["resources"] == [execution]
    detail = alarm["detail"]
    assert detail["executionArn"] == execution
    assert detail["stateMachineArn"] == job.state_machine_arn
    assert detail["name"] == "20261122T0300Z"
    assert detail["status"] == "ABORTED"
    assert json.loads(detail["input"]) == {"scheduledTime": "2026-11-22T03:00:00Z"}
    assert detail["output"] is None
    assert detail["startDate"] == int(result["startDate"].timestamp() * 1000)
    assert detail["stopDate"] >= detail["startDate"]


def test_an_execution_timeout_times_out_and_stops_the_task(aws, deploy_job, guard):
    # The execution's timeout is real time in moto: 1 s was sometimes over before a loaded
    # machine had started the task. The task runs until it is stopped, so the timeout stops it
    # however long it took to start (within these 5 s).
    def short_execution(definition: dict[str, Any]) -> None:
        definition["TimeoutSeconds"] = 5

    alarms: list[dict[str, Any]] = []
    aws.on_execution_status_change(
        lambda event, context: alarms.append(event), statuses={"TIMED_OUT"}
    )
    job = deploy_job(guard, edit=short_execution)
    aws.script_tasks(job.task_definition_arn, TaskScript(held_by=threading.Event()))

    result = job.run("20261122T0300Z")

    assert result["status"] == "TIMED_OUT"
    [task] = aws.tasks_started()  # wait() returns once the task was stopped
    assert task.stop_cause is StopCause.EXECUTION_TIMED_OUT
    assert [alarm["detail"]["status"] for alarm in alarms] == ["TIMED_OUT"]


def one_guard_retry(definition: dict[str, Any]) -> None:
    """The guard's errors are retried once (after at most a second), not six times."""
    (retry_all,) = [
        r for r in definition["States"]["Guard"]["Retry"] if r["ErrorEquals"] == ["States.ALL"]
    ]
    retry_all["MaxAttempts"] = 1


def test_guard_errors_surface_under_their_type(aws, deploy_job, guard):
    class LedgerUnavailableError(Exception):
        pass

    def fail(event: dict[str, Any]) -> Any:
        raise LedgerUnavailableError("ledger table missing")

    guard.claim = fail
    job = deploy_job(guard, edit=one_guard_retry)

    result = job.run("20261122T0300Z")

    assert (result["status"], result["error"]) == ("FAILED", "LedgerUnavailableError")
    assert len(guard.calls_for("claim")) == 2  # retried once, then surfaced
    cause = json.loads(result["cause"])
    assert cause["errorType"] == "LedgerUnavailableError"
    assert cause["errorMessage"] == "ledger table missing"


def test_a_runtime_crash_is_lambda_unknown(aws, deploy_job, guard):
    def crash(event: dict[str, Any]) -> Any:
        raise LambdaRuntimeCrash("Runtime exited with error: signal: killed")

    guard.claim = crash
    job = deploy_job(guard, edit=one_guard_retry)

    result = job.run("20261122T0300Z")

    assert (result["status"], result["error"]) == ("FAILED", "Lambda.Unknown")


def test_lambda_throttling_is_retried(aws, deploy_job, guard):
    attempts: list[int] = []

    def throttled_once(event: dict[str, Any]) -> Any:
        attempts.append(1)
        if len(attempts) == 1:
            raise LambdaServiceError("TooManyRequestsException", "Rate exceeded", 429)
        return skip()

    guard.claim = throttled_once
    job = deploy_job(guard)

    result = job.run("20261122T0300Z")

    assert result["status"] == "SUCCEEDED"
    errors = [
        event["taskFailedEventDetails"]["error"]
        for event in aws.history(result["executionArn"])
        if event["type"] == "TaskFailed"
    ]
    assert errors == ["Lambda.TooManyRequestsException"]


def generous_task_timeout(definition: dict[str, Any]) -> None:
    """Concurrency tests measure correctness, not speed: no TimeoutSeconds on a loaded CI box."""
    definition["States"]["Run job"]["TimeoutSeconds"] = 120


def test_concurrent_executions_all_complete(aws, deploy_job, guard):
    in_flight = 0
    lock = threading.Lock()
    overlapped = threading.Event()

    def slow_claim(event: dict[str, Any]) -> Any:
        nonlocal in_flight
        with lock:
            in_flight += 1
            if in_flight > 1:
                overlapped.set()
        # Held until two claims are in at once: run one at a time, they never would (and the
        # executions time out); 30 s is only a hang guard.
        overlapped.wait(30)
        with lock:
            in_flight -= 1
        return {"action": "run", "slot": event["input"]["scheduledTime"]}

    guard.claim = slow_claim
    job = deploy_job(guard, edit=generous_task_timeout)
    aws.script_tasks(job.task_definition_arn, default=TaskScript(duration_seconds=0.3))
    slots = [f"2026-11-{day:02d}T03:00:00Z" for day in range(1, 26)]

    executions = [job.start(f"slot-{index}", slot) for index, slot in enumerate(slots)]
    results = [aws.wait(execution, timeout=45) for execution in executions]

    failed = [result for result in results if result["status"] != "SUCCEEDED"]
    assert not failed, aws.history(failed[0]["executionArn"])[-1]
    tasks = aws.tasks_started()
    assert sorted(task.environment["CRONGUARD_SLOT"] for task in tasks) == sorted(slots)
    assert all(task.exit_code == 0 for task in tasks)
    assert len(guard.calls_for("finish")) == 25
    assert overlapped.is_set()  # handlers really ran concurrently


def test_a_burst_of_duplicate_triggers_runs_the_slot_once(aws, deploy_job, guard):
    """The guard's DynamoDB conditional write is the authority: concurrent claims of one slot
    must see each other (moto on its own lets two conditional writes both pass)."""
    aws.dynamodb.create_table(
        TableName="ledger",
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )

    def claim_in_ledger(event: dict[str, Any]) -> Any:
        slot = event["input"]["scheduledTime"]
        try:
            aws.client("dynamodb").put_item(
                TableName="ledger",
                Item={"pk": {"S": f"nightly#{slot}"}, "owner": {"S": event["execution"]["id"]}},
                ConditionExpression="attribute_not_exists(pk)",
            )
        except ClientError as error:
            # By code, not by class: each thread's client has its own exception classes.
            if error.response["Error"]["Code"] != "ConditionalCheckFailedException":
                raise
            return skip()
        return {"action": "run", "slot": slot}

    guard.claim = claim_in_ledger
    job = deploy_job(guard, edit=generous_task_timeout)

    def trigger(index: int) -> str:
        return str(job.start(f"delivery-{index}", "2026-11-22T03:00:00Z"))

    with ThreadPoolExecutor(max_workers=25) as pool:
        executions = list(pool.map(trigger, range(25)))
    results = [aws.wait(execution, timeout=45) for execution in executions]

    failed = [result for result in results if result["status"] != "SUCCEEDED"]
    assert not failed, aws.history(failed[0]["executionArn"])[-1]
    assert len(aws.tasks_started()) == 1


@pytest.mark.parametrize(
    ("script", "expected"),
    [
        (TaskScript(duration_seconds=0.1, exit_code=0), "SUCCEEDED"),
        (TaskScript(duration_seconds=0.1, exit_code=137), "FAILED"),
    ],
)
def test_status_change_handlers_filter_on_status(aws, deploy_job, guard, script, expected):
    seen: list[str] = []
    aws.on_execution_status_change(
        lambda event, context: seen.append(event["detail"]["status"]), statuses={"FAILED"}
    )
    job = deploy_job(guard)
    aws.script_tasks(job.task_definition_arn, script)

    result = job.run("20261122T0300Z")

    assert result["status"] == expected
    assert seen == ([] if expected == "SUCCEEDED" else ["FAILED"])
    assert [event["detail"]["status"] for event in aws.status_change_events] == [expected]


def test_wait_raises_when_a_status_change_handler_fails(aws, deploy_job, guard):
    def broken(event: dict[str, Any], context: Any) -> None:
        raise RuntimeError("cleanup bug")

    aws.on_execution_status_change(broken, statuses={"FAILED"})
    job = deploy_job(guard)
    aws.script_tasks(job.task_definition_arn, TaskScript(duration_seconds=0.1, exit_code=1))

    execution = job.start("20261122T0300Z")

    with pytest.raises(Exception, match="status-change handler failed") as raised:
        aws.wait(execution)
    assert isinstance(raised.value.__cause__, RuntimeError)
