"""LocalAws's own API, used directly through boto3 (no state machine)."""

from __future__ import annotations

import json
import os
from typing import Any

import boto3
import pytest
from botocore.config import Config

from cronguard_simulation.engine import LambdaServiceError, LocalAws, StopCause, TaskScript


def test_a_registered_lambda_runs_in_process_with_its_environment(aws):
    seen: list[tuple[Any, str | None, str]] = []

    def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
        seen.append((event, os.environ.get("LEDGER_TABLE"), context.function_name))
        return {"claimed": True}

    arn = aws.register_lambda("guard", handler, {"LEDGER_TABLE": "dev-ledger"})

    by_name = aws.lambda_.invoke(FunctionName="guard", Payload=b'{"slot": "a"}')
    by_qualified_arn = aws.lambda_.invoke(FunctionName=f"{arn}:$LATEST", Payload=b"{}")

    assert json.loads(by_name["Payload"].read()) == {"claimed": True}
    assert by_qualified_arn["StatusCode"] == 200
    assert seen == [({"slot": "a"}, "dev-ledger", "guard"), ({}, "dev-ledger", "guard")]


def test_a_raised_exception_is_a_function_error_like_the_python_runtime(aws):
    class SlotTakenError(Exception):
        pass

    def handler(event: dict[str, Any], context: Any) -> None:
        raise SlotTakenError("slot 20261122T0300Z is taken")

    aws.register_lambda("guard", handler)

    response = aws.lambda_.invoke(FunctionName="guard", Payload=b"{}")

    assert response["FunctionError"] == "Unhandled"
    payload = json.loads(response["Payload"].read())
    assert payload["errorType"] == "SlotTakenError"
    assert payload["errorMessage"] == "slot 20261122T0300Z is taken"
    assert payload["stackTrace"]


def test_a_service_error_fails_the_invoke_call(aws):
    def handler(event: dict[str, Any], context: Any) -> None:
        raise LambdaServiceError("TooManyRequestsException", "Rate exceeded", 429)

    aws.register_lambda("guard", handler)

    no_retries = boto3.client("lambda", config=Config(retries={"total_max_attempts": 1}))
    with pytest.raises(no_retries.exceptions.TooManyRequestsException):
        no_retries.invoke(FunctionName="guard", Payload=b"{}")


def test_lambda_environments_are_process_wide_and_restored(monkeypatch):
    monkeypatch.delenv("LEDGER_TABLE", raising=False)
    with LocalAws() as aws:
        aws.register_lambda("guard", lambda event, context: None, {"LEDGER_TABLE": "dev-ledger"})
        aws.register_lambda("cleanup", lambda event, context: None, {"LEDGER_TABLE": "dev-ledger"})
        with pytest.raises(ValueError, match="conflicts"):
            aws.register_lambda("other", lambda event, context: None, {"LEDGER_TABLE": "other"})
        assert os.environ["AWS_DEFAULT_REGION"] == "us-east-1"
    assert "LEDGER_TABLE" not in os.environ


def test_each_local_aws_reuses_the_process_clients_and_serves_them_fresh_state():
    with LocalAws() as first:
        queues = first.client("sqs")
        queues.create_queue(QueueName="left-behind")
        assert first.sfn is first.client("stepfunctions")
    with LocalAws() as second:
        assert second.client("sqs") is queues
        assert second.sfn is first.sfn
        assert "QueueUrls" not in queues.list_queues()  # the second mock's, empty
    with LocalAws(region="eu-west-1") as ireland:
        assert ireland.client("sqs") is not queues
        assert ireland.client("sqs").meta.region_name == "eu-west-1"
        assert ireland.sfn.list_state_machines()["stateMachines"] == []


def test_run_task_follows_the_script_queue_then_the_default(aws):
    network = aws.network()
    cluster = aws.create_cluster("jobs")
    aws.register_task_definition("nightly")
    aws.script_tasks(
        "nightly",
        TaskScript(launch_failure="RESOURCE:FARGATE"),
        default=TaskScript(duration_seconds=0, exit_code=2),
    )

    def run_task() -> dict[str, Any]:
        response: dict[str, Any] = aws.ecs.run_task(
            cluster=cluster,
            taskDefinition="nightly",
            launchType="FARGATE",
            startedBy="cronguard:nightly",
            networkConfiguration={
                "awsvpcConfiguration": {
                    "subnets": list(network.subnet_ids),
                    "securityGroups": list(network.security_group_ids),
                }
            },
        )
        return response

    failed, started = run_task(), run_task()

    assert failed["tasks"] == []
    assert failed["failures"][0]["reason"] == "RESOURCE:FARGATE"
    [task] = aws.tasks_started("nightly")
    assert task.task_arn == started["tasks"][0]["taskArn"]
    assert (task.exit_code, task.started_by, task.execution_arn) == (2, "cronguard:nightly", None)
    described = aws.ecs.describe_tasks(cluster=cluster, tasks=[task.task_arn])["tasks"][0]
    assert described["lastStatus"] == "STOPPED"
    assert described["containers"][0]["exitCode"] == 2
    assert described["stopCode"] == "EssentialContainerExited"

    aws.ecs.stop_task(cluster=cluster, task=task.task_arn, reason="too late")
    assert aws.tasks_started()[0].stop_cause is StopCause.EXITED  # a stopped task stays as it ended


def test_scripts_for_one_slot_go_to_that_slots_tasks_whatever_the_order(aws):
    network = aws.network()
    cluster = aws.create_cluster("jobs")
    aws.register_task_definition("nightly", "job")
    aws.script_tasks("nightly", TaskScript(exit_code=3), environment={"CRONGUARD_SLOT": "b"})
    aws.script_tasks("nightly", TaskScript(exit_code=4), default=TaskScript(exit_code=5))

    def run_task(slot: str) -> None:
        aws.ecs.run_task(
            cluster=cluster,
            taskDefinition="nightly",
            launchType="FARGATE",
            overrides={
                "containerOverrides": [
                    {"name": "job", "environment": [{"name": "CRONGUARD_SLOT", "value": slot}]}
                ]
            },
            networkConfiguration={
                "awsvpcConfiguration": {
                    "subnets": list(network.subnet_ids),
                    "securityGroups": list(network.security_group_ids),
                }
            },
        )

    for slot in ("a", "b", "b", "c"):
        run_task(slot)

    scripted = [
        (task.environment["CRONGUARD_SLOT"], task.script.exit_code)
        for task in aws.tasks_started("nightly")
    ]
    assert scripted == [("a", 4), ("b", 3), ("b", 5), ("c", 5)]


def test_a_runs_task_is_found_by_family_and_execution_and_stopped_like_ecs(aws):
    """What the guard relies on to stop a run's task and wait for it (ListTasks by family and
    desired status, the overrides in DescribeTasks, StopTask), on a scripted task."""
    cluster = aws.create_cluster("jobs")
    network = aws.network()
    task_definition = aws.register_task_definition("cronguard-dev-nightly", "job")
    aws.register_task_definition("cronguard-dev-other", "job")
    aws.script_tasks(task_definition, TaskScript(duration_seconds=60))
    execution = "arn:aws:states:us-east-1:123456789012:execution:dev-nightly:run-1"
    (started,) = aws.ecs.run_task(
        cluster=cluster,
        taskDefinition=task_definition,
        launchType="FARGATE",
        networkConfiguration={
            "awsvpcConfiguration": {
                "subnets": list(network.subnet_ids),
                "securityGroups": list(network.security_group_ids),
            }
        },
        overrides={
            "containerOverrides": [
                {
                    "name": "job",
                    "environment": [{"name": "CRONGUARD_EXECUTION_ARN", "value": execution}],
                }
            ]
        },
    )["tasks"]
    task_arn = started["taskArn"]

    def listed(family: str, status: str) -> list[str]:
        found: list[str] = aws.ecs.list_tasks(cluster=cluster, family=family, desiredStatus=status)[
            "taskArns"
        ]
        return found

    assert listed("cronguard-dev-nightly", "RUNNING") == [task_arn]
    assert listed("cronguard-dev-other", "RUNNING") == []
    (described,) = aws.ecs.describe_tasks(cluster=cluster, tasks=[task_arn])["tasks"]
    (override,) = described["overrides"]["containerOverrides"]
    assert override["environment"] == [{"name": "CRONGUARD_EXECUTION_ARN", "value": execution}]

    aws.ecs.stop_task(cluster=cluster, task=task_arn, reason="cronguard: replaced")

    (stopped,) = aws.ecs.describe_tasks(cluster=cluster, tasks=[task_arn])["tasks"]
    assert (stopped["lastStatus"], stopped["desiredStatus"]) == ("STOPPED", "STOPPED")
    assert stopped["stoppedReason"] == "cronguard: replaced"
    assert listed("cronguard-dev-nightly", "RUNNING") == []
    assert listed("cronguard-dev-nightly", "STOPPED") == [task_arn]
    (record,) = aws.tasks_started(task_definition)
    assert (record.stop_cause, record.exit_code) == (StopCause.STOP_TASK, 143)
