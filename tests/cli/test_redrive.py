"""redrive-dlq on the real engine (tests/e2e/conftest.py) with an SQS queue in moto: schedule
deliveries are started and deleted; what cannot be attributed, or started, stays."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber
from typer.testing import CliRunner

from cronguard.cli import app
from cronguard.config import Environment
from cronguard.operations.dead_letters import QUEUE_OUTPUT, attribute
from cronguard.operations.environment import OperationError, Operations
from cronguard.operations.redrive import queue_url
from tests.aws import REGION
from tests.e2e.conftest import Engine, Slot, engine, slot, synthesized  # noqa: F401

runner = CliRunner()
SCHEDULE = "arn:aws:scheduler:us-east-1:123456789012:schedule/default/cronguard-e2e-{job}"


@pytest.fixture
def config_dir(synthesized: tuple[Environment, Path], monkeypatch: pytest.MonkeyPatch) -> Path:  # noqa: F811
    _, assembly = synthesized
    monkeypatch.setenv("CRONGUARD_CONFIG", str(assembly.parent / "config"))
    return assembly.parent / "config"


def invoke(*args: str) -> Any:
    return runner.invoke(app, [*args, "--env", "e2e"], env={"COLUMNS": "250"})


def delivery(engine: Engine, job: str, slot_: str, attempt: int = 3) -> dict[str, Any]:  # noqa: F811
    """What Scheduler sends to the dead-letter queue for a delivery it gave up on: the
    target's input as the body, the delivery in the attributes."""
    attributes = {
        "SCHEDULE_ARN": SCHEDULE.format(job=job),
        "TARGET_ARN": engine.arn(job),
        "SCHEDULED_TIME": slot_,
        "ERROR_CODE": "AccessDeniedException",
        "ERROR_MESSAGE": "not authorized to perform: states:StartExecution",
        "RETRY_ATTEMPTS": str(attempt),
        "EXHAUSTED_RETRY_CONDITION": "MaximumRetryAttempts",
        "IS_PAYLOAD_TRUNCATED": "false",
    }
    return {
        "MessageBody": json.dumps({"scheduledTime": slot_, "attempt": str(attempt)}),
        "MessageAttributes": {
            name: {"DataType": "String", "StringValue": value} for name, value in attributes.items()
        },
    }


def remaining(sqs: Any, url: str) -> list[dict[str, Any]]:
    messages: list[dict[str, Any]] = sqs.receive_message(
        QueueUrl=url, MaxNumberOfMessages=10, MessageAttributeNames=["All"], VisibilityTimeout=0
    ).get("Messages", [])
    return messages


def rows(output: str) -> list[list[str]]:
    return [
        [cell.strip() for cell in line.split("│")[1:-1]]
        for line in output.splitlines()
        if re.match(r"│ [0-9a-f]{8} ", line)
    ]


def test_redrive_starts_and_deletes_deliveries_and_keeps_the_rest(
    engine: Engine,  # noqa: F811
    slot: Slot,  # noqa: F811
    config_dir: Path,
) -> None:
    sqs = engine.aws.client("sqs")
    url = sqs.create_queue(QueueName="cronguard-e2e-dead-letters")["QueueUrl"]
    sqs.send_message(QueueUrl=url, **delivery(engine, "forbid-job", slot(-2)))
    sqs.send_message(QueueUrl=url, **delivery(engine, "allow-job", slot(-1)))
    # A cleanup event EventBridge could not deliver: not a schedule delivery.
    sqs.send_message(
        QueueUrl=url,
        MessageBody=json.dumps({"detail-type": "Step Functions Execution Status Change"}),
        MessageAttributes={
            "RULE_ARN": {"DataType": "String", "StringValue": "arn:aws:events:…:rule/x"}
        },
    )
    # A delivery to a state machine of another environment.
    foreign = delivery(engine, "forbid-job", slot(-3))
    foreign["MessageAttributes"]["TARGET_ARN"]["StringValue"] = engine.arn("forbid-job").replace(
        ":e2e-forbid-job", ":prod-forbid-job"
    )
    sqs.send_message(QueueUrl=url, **foreign)
    # A delivery whose execution name is taken by another input cannot be started.
    engine.start("retry-job", "redrive-" + slot(-4).replace("-", "").replace(":", ""), {})
    sqs.send_message(QueueUrl=url, **delivery(engine, "retry-job", slot(-4)))

    result = invoke("redrive-dlq", "--queue-url", url, "--rate", "20/s")
    assert result.exit_code == 0, result.output
    table = rows(result.output)
    assert len(table) == 5
    by_slot = {(cells[1], cells[2]): cells for cells in table if cells[1] != "-"}
    forbid = by_slot[("forbid-job", slot(-2))]
    assert forbid[3] == "AccessDeniedException"  # why Scheduler gave up
    assert forbid[5] == "yes"
    assert forbid[6] in ("running", "ran: SUCCEEDED")
    assert by_slot[("allow-job", slot(-1))][5] == "yes"
    retry = by_slot[("retry-job", slot(-4))]
    assert retry[5:] == ["no", "kept"]
    kept_lines = sorted(
        line.split(": ", 1)[1]
        for line in result.output.splitlines()
        if re.match(r"  [0-9a-f]{8}: ", line)
    )
    assert kept_lines == [
        "its name is taken by another input",
        "its target prod-forbid-job is no job of e2e",
        "not a schedule delivery (no SCHEDULE_ARN, TARGET_ARN)",
    ]
    assert sum(cells[6] == "kept" for cells in table) == 3
    assert "3 message(s) kept in the queue:" in result.output

    # The two deliveries ran as the slots they were for (a person's start: no attempt).
    for job, slot_ in (("forbid-job", slot(-2)), ("allow-job", slot(-1))):
        engine.wait_for_tasks(job, 1)
        record = engine.slot(job, slot_)
        assert record is not None
        assert record["owner"]["S"].endswith(":redrive-" + slot_.replace("-", "").replace(":", ""))
    # Kept: visible again at once, with their attributes.
    kept = remaining(sqs, url)
    assert len(kept) == 3
    targets = {
        message["MessageAttributes"].get("TARGET_ARN", {}).get("StringValue") for message in kept
    }
    assert targets == {
        None,
        foreign["MessageAttributes"]["TARGET_ARN"]["StringValue"],
        engine.arn("retry-job"),
    }

    # Redriving again starts nothing new and keeps the same three.
    again = invoke("redrive-dlq", "--queue-url", url, "--rate", "20/s")
    assert again.exit_code == 0, again.output
    assert [cells[5] for cells in rows(again.output)] == ["no", "no", "no"]
    assert len(remaining(sqs, url)) == 3


def test_a_delivery_already_started_is_deleted_without_a_second_start(
    engine: Engine,  # noqa: F811
    slot: Slot,  # noqa: F811
    config_dir: Path,
) -> None:
    sqs = engine.aws.client("sqs")
    url = sqs.create_queue(QueueName="dlq")["QueueUrl"]
    message = delivery(engine, "allow-job", slot(-1))
    sqs.send_message(QueueUrl=url, **message)
    assert invoke("redrive-dlq", "--queue-url", url, "--rate", "20/s").exit_code == 0
    sqs.send_message(QueueUrl=url, **message)  # the same delivery, dead-lettered twice
    result = invoke("redrive-dlq", "--queue-url", url, "--rate", "20/s")
    assert result.exit_code == 0, result.output
    (cells,) = rows(result.output)
    assert cells[5] == "yes"
    assert remaining(sqs, url) == []
    listed = engine.aws.sfn.list_executions(stateMachineArn=engine.arn("allow-job"))
    assert len(listed["executions"]) == 1


def test_a_delivery_of_a_paused_job_stays_in_the_queue_and_runs_after_the_resume(
    engine: Engine,  # noqa: F811
    slot: Slot,  # noqa: F811
    config_dir: Path,
) -> None:
    sqs = engine.aws.client("sqs")
    url = sqs.create_queue(QueueName="dlq")["QueueUrl"]
    sqs.send_message(QueueUrl=url, **delivery(engine, "allow-job", slot(-1)))
    assert invoke("pause", "allow-job", "--reason", "db migration").exit_code == 0

    paused = invoke("redrive-dlq", "--queue-url", url, "--rate", "20/s")
    assert paused.exit_code == 0, paused.output
    (cells,) = rows(paused.output)
    assert cells[5:] == ["no", "kept"]
    text = " ".join(paused.output.split())
    assert "allow-job is paused since" in text
    assert "(db migration): the guard skips its slots; resume it first" in text
    listed = engine.aws.sfn.list_executions(stateMachineArn=engine.arn("allow-job"))
    assert listed["executions"] == []  # started now, its slot would be skipped for good
    assert engine.slot("allow-job", slot(-1)) is None
    assert len(remaining(sqs, url)) == 1

    assert invoke("resume", "allow-job").exit_code == 0
    resumed = invoke("redrive-dlq", "--queue-url", url, "--rate", "20/s")
    assert resumed.exit_code == 0, resumed.output
    (cells,) = rows(resumed.output)
    assert cells[5] == "yes"
    engine.wait_for_tasks("allow-job", 1)
    assert remaining(sqs, url) == []


def test_redrive_refuses_more_than_max_without_yes(
    engine: Engine,  # noqa: F811
    slot: Slot,  # noqa: F811
    config_dir: Path,
) -> None:
    sqs = engine.aws.client("sqs")
    url = sqs.create_queue(QueueName="dlq")["QueueUrl"]
    for hour in range(3):
        sqs.send_message(QueueUrl=url, **delivery(engine, "allow-job", slot(-1 - hour)))
    result = invoke("redrive-dlq", "--queue-url", url, "--max", "2")
    assert result.exit_code == 2
    assert result.output.strip() == (
        "error: the dead-letter queue holds about 3 messages, more than 2: "
        "add --yes to redrive them all"
    )
    assert len(remaining(sqs, url)) == 3


def test_the_queue_is_found_from_the_stack_output(
    synthesized: tuple[Environment, Path],  # noqa: F811
) -> None:
    """DescribeStacks as botocore's Stubber checks it against the service model (moto's
    CloudFormation needs an extra the project does not install)."""
    environment, _ = synthesized
    client = boto3.client(
        "cloudformation", region_name=REGION, aws_access_key_id="x", aws_secret_access_key="x"
    )
    stubber = Stubber(client)
    created = datetime(2026, 11, 22, tzinfo=UTC)
    url = "https://sqs.us-east-1.amazonaws.com/123456789012/cronguard-e2e-DeadLetters-Ab12"
    for outputs in (
        [{"OutputKey": "LedgerTableName", "OutputValue": "cronguard-e2e-ledger"}],
        [{"OutputKey": QUEUE_OUTPUT, "OutputValue": url}],
    ):
        stubber.add_response(
            "describe_stacks",
            {
                "Stacks": [
                    {
                        "StackName": "cronguard-e2e",
                        "CreationTime": created,
                        "StackStatus": "UPDATE_COMPLETE",
                        "Outputs": outputs,
                    }
                ]
            },
            {"StackName": "cronguard-e2e"},
        )

    class Session:
        region_name = REGION

        def client(self, service: str) -> Any:
            assert service == "cloudformation"
            return client

    ops = Operations(environment, session=Session())
    with stubber:
        with pytest.raises(OperationError, match="has no output DeadLetterQueueUrl: deploy"):
            queue_url(ops)
        assert queue_url(ops) == url


def test_a_message_without_a_scheduled_time_is_not_attributed(
    synthesized: tuple[Environment, Path],  # noqa: F811
) -> None:
    environment, _ = synthesized
    machine = "arn:aws:states:us-east-1:123456789012:stateMachine:e2e-allow-job"
    message: dict[str, Any] = {
        "MessageId": "m",
        "ReceiptHandle": "r",
        "Body": "not json",
        "MessageAttributes": {
            "SCHEDULE_ARN": {"StringValue": "arn:aws:scheduler:…"},
            "TARGET_ARN": {"StringValue": machine},
        },
    }
    letter = attribute(message, environment)
    assert letter.job is not None
    assert letter.job.name == "allow-job"
    assert letter.unattributed == "it names no scheduled time (body or SCHEDULED_TIME)"
    message["MessageAttributes"]["SCHEDULED_TIME"] = {"StringValue": "2026-11-22T03:00:00Z"}
    assert attribute(message, environment).slot == "2026-11-22T03:00:00Z"
    # Step Functions' request as the body (input as a string field) names the slot too.
    message["Body"] = json.dumps(
        {"stateMachineArn": machine, "input": json.dumps({"scheduledTime": "2026-11-22T04:00:00Z"})}
    )
    assert attribute(message, environment).slot == "2026-11-22T04:00:00Z"


def test_the_stack_outputs_the_queue_its_schedules_dead_letter_into(
    synthesized: tuple[Environment, Path],  # noqa: F811
) -> None:
    environment, assembly = synthesized
    template = json.loads((assembly / f"{environment.stack_name}.template.json").read_text())
    queue = template["Outputs"][QUEUE_OUTPUT]["Value"]  # a queue's Ref is its URL
    (logical_id,) = queue["Ref"].split()
    assert template["Resources"][logical_id]["Type"] == "AWS::SQS::Queue"
    job_stacks = [
        resource
        for resource in template["Resources"].values()
        if resource["Type"] == "AWS::CloudFormation::Stack"
    ]
    assert job_stacks
    for job_stack in job_stacks:
        # Each job stack's schedules take this parameter as their DeadLetterConfig.
        parameter = job_stack["Properties"]["Parameters"]["DeadLetterQueueArn"]
        assert parameter == {"Fn::GetAtt": [logical_id, "Arn"]}


def test_a_failing_start_stops_the_redrive_and_leaves_the_messages_visible(
    engine: Engine,  # noqa: F811
    slot: Slot,  # noqa: F811
    config_dir: Path,
) -> None:
    sqs = engine.aws.client("sqs")
    url = sqs.create_queue(QueueName="dlq")["QueueUrl"]
    sqs.send_message(QueueUrl=url, **delivery(engine, "allow-job", slot(-1)))
    engine.aws.sfn.delete_state_machine(stateMachineArn=engine.arn("allow-job"))
    result = invoke("redrive-dlq", "--queue-url", url)
    assert result.exit_code == 1
    header, error = result.output.strip().splitlines()
    assert header == "redrive-dlq e2e: about 1 message(s), at most 1/s"
    assert error.startswith("error: could not start redrive-")
    assert "of allow-job: StateMachineDoesNotExist" in error
    assert len(remaining(sqs, url)) == 1  # visible again at once, not after the timeout
