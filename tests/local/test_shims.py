"""Canaries: moto 5.2.5's *unpatched* behaviour that each shim in
cronguard_simulation.engine.shims corrects.

Each canary asserts the upstream gap is still there. When one fails after a moto upgrade,
upstream changed that behaviour: re-check the shim it names, and delete it if it is no longer
needed (or adapt it). Canaries run on plain `mock_aws`, with no LocalAws (so no shims) active.
"""

from __future__ import annotations

import contextlib
import datetime
import io
import json
import threading
import time
import zipfile
from collections.abc import Callable, Iterator
from types import SimpleNamespace
from typing import Any
from unittest import mock

import boto3
import moto
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws
from moto.awslambda_simple.models import LambdaSimpleBackend
from moto.dynamodb.models import DynamoDBBackend
from moto.ecs.models import EC2ContainerServiceBackend, ecs_backends
from moto.stepfunctions.parser.api import HistoryEventType, StateMachineType
from moto.stepfunctions.parser.asl.component.common.error_name.failure_event import (
    FailureEvent,
    FailureEventException,
)
from moto.stepfunctions.parser.asl.component.common.error_name.states_error_name import (
    StatesErrorName,
)
from moto.stepfunctions.parser.asl.component.common.error_name.states_error_name_type import (
    StatesErrorNameType,
)
from moto.stepfunctions.parser.asl.component.intrinsic.jsonata import (
    _DECLARATION_BY_VARIABLE_REFERENCE,
)
from moto.stepfunctions.parser.asl.component.state.exec.state_task import lambda_eval_utils
from moto.stepfunctions.parser.asl.component.state.exec.state_task.lambda_eval_utils import (
    LambdaFunctionErrorException,
)
from moto.stepfunctions.parser.asl.component.state.exec.state_task.service import (
    state_task_service_dynamodb,
    state_task_service_ecs,
)
from moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service_dynamodb import (  # noqa: E501
    StateTaskServiceDynamoDB,
)
from moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service_lambda import (  # noqa: E501
    StateTaskServiceLambda,
)
from moto.stepfunctions.parser.asl.eval.environment import Environment
from moto.stepfunctions.parser.asl.eval.evaluation_details import AWSExecutionDetails
from moto.stepfunctions.parser.asl.eval.event.event_manager import EventHistoryContext
from moto.stepfunctions.parser.asl.eval.program_state import ProgramError
from moto.stepfunctions.parser.asl.eval.states import (
    ContextObjectData,
    ExecutionData,
    StateMachineData,
    encode_jsonata_variable_declarations,
)
from moto.stepfunctions.parser.asl.jsonata import jsonata as moto_jsonata
from moto.stepfunctions.parser.asl.parse.asl_parser import AmazonStateLanguageParser
from moto.stepfunctions.parser.asl.utils.boto_client import boto_client_for

from cronguard_simulation.engine import LocalAws, shims

ROLE = "arn:aws:iam::123456789012:role/canary"


@pytest.fixture
def plain_moto(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.setenv(name, "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    with mock_aws(
        config={
            "stepfunctions": {"execute_state_machine": True},
            "lambda": {"use_docker": False},
        }
    ):
        yield


@pytest.fixture
def casing_shim_only() -> Iterator[None]:
    """Only the PascalCase shim, so the ECS integration's own behaviour is observable."""
    patcher = shims._Patcher()
    shims._shim_sfn_parameter_casing(patcher)
    try:
        yield
    finally:
        patcher.restore()


def run_execution(definition: dict[str, Any], *, name: str = "canary") -> dict[str, Any]:
    sfn = boto3.client("stepfunctions")
    machine = sfn.create_state_machine(name=name, roleArn=ROLE, definition=json.dumps(definition))
    execution = sfn.start_execution(stateMachineArn=machine["stateMachineArn"], name="run")
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        result: dict[str, Any] = sfn.describe_execution(executionArn=execution["executionArn"])
        if result["status"] != "RUNNING":
            return result
        time.sleep(0.05)
    raise AssertionError("execution did not finish")


def fargate_run_task(sync: bool, started_by: str | None = None) -> dict[str, Any]:
    """A Task state running a Fargate task, with the VPC moto requires (gap 3)."""
    ec2 = boto3.client("ec2")
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    ec2.modify_vpc_attribute(VpcId=vpc, EnableDnsHostnames={"Value": True})
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.0.1.0/24")["Subnet"]["SubnetId"]
    group = ec2.create_security_group(GroupName="jobs", Description="jobs", VpcId=vpc)["GroupId"]
    ecs = boto3.client("ecs")
    cluster = ecs.create_cluster(clusterName="jobs")["cluster"]["clusterArn"]
    task_definition = ecs.register_task_definition(
        family="nightly",
        networkMode="awsvpc",
        requiresCompatibilities=["FARGATE"],
        cpu="256",
        memory="512",
        containerDefinitions=[{"name": "job", "image": "busybox", "memory": 512}],
    )["taskDefinition"]["taskDefinitionArn"]
    parameters: dict[str, Any] = {
        "Cluster": cluster,
        "TaskDefinition": task_definition,
        "LaunchType": "FARGATE",
        "NetworkConfiguration": {
            "AwsvpcConfiguration": {"Subnets": [subnet], "SecurityGroups": [group]}
        },
    }
    if started_by is not None:
        parameters["StartedBy"] = started_by
    resource = "arn:aws:states:::ecs:runTask" + (".sync" if sync else "")
    return {
        "StartAt": "Run",
        "States": {
            "Run": {"Type": "Task", "Resource": resource, "Parameters": parameters, "End": True}
        },
    }


def moto_tasks() -> list[Any]:
    return [
        task
        for tasks in ecs_backends["123456789012"]["us-east-1"].tasks.values()
        for task in tasks.values()
    ]


def test_shims_refuse_another_moto_version(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(moto, "__version__", "5.3.0")
    with pytest.raises(RuntimeError, match=r"moto 5\.2\.5 internals but moto 5\.3\.0"):
        LocalAws().__enter__()
    assert shims._patcher is None


def test_only_one_local_aws_at_a_time() -> None:
    with LocalAws() as aws:
        with pytest.raises(RuntimeError, match="one LocalAws at a time"):
            LocalAws().__enter__()
        assert (
            aws.run(
                aws.deploy_state_machine(
                    "still-shimmed",
                    {
                        "QueryLanguage": "JSONata",
                        "StartAt": "P",
                        "States": {"P": {"Type": "Pass", "Output": "{% 1 + 1 %}", "End": True}},
                    },
                ),
                "run",
                {},
            )["status"]
            == "SUCCEEDED"
        )


def test_shims_are_removed_when_local_aws_exits() -> None:
    original = LambdaSimpleBackend.__dict__["invoke"]
    with LocalAws():
        assert LambdaSimpleBackend.__dict__["invoke"] is not original
    assert LambdaSimpleBackend.__dict__["invoke"] is original
    assert moto_jsonata._eval_jsonata is None


@pytest.mark.usefixtures("plain_moto")
def test_lambda_without_docker_echoes_the_payload() -> None:
    """Guards `_shim_lambda_in_process`."""
    code = io.BytesIO()
    with zipfile.ZipFile(code, "w") as archive:
        archive.writestr("handler.py", "def handler(event, context):\n    return 42\n")
    iam = boto3.client("iam")
    role = iam.create_role(RoleName="fn", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
    client = boto3.client("lambda")
    client.create_function(
        FunctionName="guard",
        Runtime="python3.13",
        Role=role,
        Handler="handler.handler",
        Code={"ZipFile": code.getvalue()},
    )

    response = client.invoke(FunctionName="guard", Payload=b'{"action": "claim"}')

    assert response["Payload"].read() == b'{"action": "claim"}'
    assert "FunctionError" not in response


def test_lambda_error_without_type_is_exception() -> None:
    """Guards `_shim_lambda_unknown_error` (AWS: `Lambda.Unknown`)."""
    integration = StateTaskServiceLambda()
    integration.resource = SimpleNamespace(
        api_action="invoke", condition=None, service_name="lambda"
    )
    env = SimpleNamespace(
        next_state_name="Guard", event_history_context=SimpleNamespace(source_event_id=3)
    )
    crash = LambdaFunctionErrorException("Unhandled", '{"errorMessage":"signal: killed"}')

    failure = integration._from_error(env, crash)

    assert failure.error_name.error_name == "Exception"


@pytest.mark.usefixtures("plain_moto")
def test_ecs_run_task_from_asl_fails_on_pascal_case_parameters() -> None:
    """Guards `_shim_sfn_parameter_casing` (moto issue 10076 / PR 10094)."""
    result = run_execution(fargate_run_task(sync=False))

    assert (result["status"], result["error"]) == ("FAILED", "States.Runtime")
    assert result["cause"].endswith("'Cluster'")


@pytest.mark.usefixtures("plain_moto", "casing_shim_only")
def test_ecs_sync_integration_forces_started_by() -> None:
    """Guards `_shim_sfn_ecs_run_task` (StartedBy passthrough)."""
    result = run_execution(fargate_run_task(sync=True, started_by="cronguard:nightly"))

    assert result["status"] == "SUCCEEDED"
    assert [task.started_by for task in moto_tasks()] == ["AWS Step Functions"]


@pytest.mark.usefixtures("plain_moto", "casing_shim_only")
def test_ecs_sync_integration_succeeds_whatever_the_exit_code() -> None:
    """Guards `_shim_sfn_ecs_run_task` (non-zero exit → States.TaskFailed)."""

    def exit_with_3() -> None:
        deadline = time.monotonic() + 10
        while not moto_tasks() and time.monotonic() < deadline:
            time.sleep(0.01)
        for task in moto_tasks():
            task.containers[0].exitCode = 3

    crasher = threading.Thread(target=exit_with_3)
    crasher.start()
    result = run_execution(fargate_run_task(sync=True))
    crasher.join()

    assert result["status"] == "SUCCEEDED"
    assert json.loads(result["output"])["Containers"][0]["ExitCode"] == 3


@pytest.mark.usefixtures("plain_moto", "casing_shim_only")
def test_ecs_sync_integration_fails_on_run_task_failures_with_states_runtime() -> None:
    """Guards `_shim_sfn_ecs_run_task` (Failures → AmazonECS.Unknown)."""
    with mock.patch.object(EC2ContainerServiceBackend, "run_task", return_value=[]):
        result = run_execution(fargate_run_task(sync=True))

    assert (result["status"], result["error"]) == ("FAILED", "States.Runtime")
    assert "list index out of range" in result["cause"]


@pytest.mark.usefixtures("plain_moto")
def test_ecs_tasks_stop_by_themselves_with_exit_code_0() -> None:
    """Guards `_shim_ecs_task_scripts`."""
    parameters = fargate_run_task(sync=False)["States"]["Run"]["Parameters"]
    network = parameters["NetworkConfiguration"]["AwsvpcConfiguration"]
    ecs = boto3.client("ecs")
    task_arn = ecs.run_task(
        cluster=parameters["Cluster"],
        taskDefinition=parameters["TaskDefinition"],
        launchType="FARGATE",
        networkConfiguration={
            "awsvpcConfiguration": {
                "subnets": network["Subnets"],
                "securityGroups": network["SecurityGroups"],
            }
        },
    )["tasks"][0]["taskArn"]

    statuses = [
        ecs.describe_tasks(cluster=parameters["Cluster"], tasks=[task_arn])["tasks"][0]
        for _ in range(4)
    ]

    assert [task["lastStatus"] for task in statuses][-1] == "STOPPED"
    assert statuses[-1]["containers"][0]["exitCode"] == 0
    assert "stopCode" not in statuses[-1]
    assert "stoppedAt" not in statuses[-1]


@pytest.mark.usefixtures("plain_moto")
def test_ecs_tasks_list_only_their_first_containers() -> None:
    """Guards `_shim_ecs_task_scripts` (`_containers`): a sidecar listed first hides the job."""
    parameters = fargate_run_task(sync=False)["States"]["Run"]["Parameters"]
    network = parameters["NetworkConfiguration"]["AwsvpcConfiguration"]
    ecs = boto3.client("ecs")
    task_definition = ecs.register_task_definition(
        family="with-sidecar",
        networkMode="awsvpc",
        requiresCompatibilities=["FARGATE"],
        cpu="256",
        memory="512",
        containerDefinitions=[
            {"name": "agent", "image": "agent", "memory": 64, "essential": False},
            {"name": "job", "image": "busybox", "memory": 256},
        ],
    )["taskDefinition"]["taskDefinitionArn"]
    task = ecs.run_task(
        cluster=parameters["Cluster"],
        taskDefinition=task_definition,
        launchType="FARGATE",
        networkConfiguration={
            "awsvpcConfiguration": {
                "subnets": network["Subnets"],
                "securityGroups": network["SecurityGroups"],
            }
        },
    )["tasks"][0]

    assert [container["name"] for container in task["containers"]] == ["agent"]


@pytest.mark.usefixtures("plain_moto")
def test_jsonata_has_no_evaluator() -> None:
    """Guards `_shim_jsonata` (evaluator)."""
    result = run_execution(
        {
            "QueryLanguage": "JSONata",
            "StartAt": "Pass",
            "States": {"Pass": {"Type": "Pass", "Output": "{% 1 + 1 %}", "End": True}},
        }
    )

    assert (result["status"], result["error"]) == ("FAILED", "States.Runtime")
    assert "'NoneType' object is not callable" in result["cause"]


def test_jsonata_string_variables_are_not_escaped() -> None:
    """Guards `_shim_jsonata` (declarations and Step Functions functions)."""
    assert encode_jsonata_variable_declarations({"$reason": 'say "hi"'}) == '$reason:="say "hi"";'
    assert "not supported" in _DECLARATION_BY_VARIABLE_REFERENCE["$uuid"]
    assert "not supported" in _DECLARATION_BY_VARIABLE_REFERENCE["$hash"]
    assert "$eval" in _DECLARATION_BY_VARIABLE_REFERENCE["$parse"]


@pytest.mark.usefixtures("plain_moto")
def test_context_start_time_is_a_datetime() -> None:
    """Guards `_shim_context_start_time` (moto gap 7)."""
    with pytest.raises(TypeError, match="datetime is not JSON serializable"):
        run_execution(
            {
                "StartAt": "Pass",
                "States": {
                    "Pass": {
                        "Type": "Pass",
                        "Parameters": {"started.$": "$$.Execution.StartTime"},
                        "End": True,
                    }
                },
            }
        )


def test_set_error_overwrites_a_stopped_execution() -> None:
    """Guards `_shim_terminal_states_are_final`."""
    env = Environment(
        aws_execution_details=AWSExecutionDetails(account="1", region="us-east-1", role_arn=ROLE),
        execution_type=StateMachineType.STANDARD,
        context=ContextObjectData(
            Execution=ExecutionData(Id="e", Input={}, Name="e", RoleArn=ROLE, StartTime="t"),
            StateMachine=StateMachineData(Id="m", Name="m"),
        ),
        event_history_context=EventHistoryContext.of_program_start(),
        cloud_watch_logging_session=None,
        activity_store={},
    )
    env.next_state_name = "Run job"  # starts the program
    env.set_stop(stop_date=datetime.datetime.now(datetime.UTC), cause=None, error=None)

    env.set_error({"error": "States.Runtime", "cause": "raised after the stop"})

    assert isinstance(env.program_state(), ProgramError)


@pytest.mark.usefixtures("plain_moto")
def test_no_execution_status_change_events_reach_eventbridge() -> None:
    """Guards `_shim_execution_status_events`."""
    sqs = boto3.client("sqs")
    queue_url = sqs.create_queue(QueueName="status-changes")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])[
        "Attributes"
    ]["QueueArn"]
    events = boto3.client("events")
    events.put_rule(
        Name="status-changes",
        EventPattern=json.dumps(
            {"source": ["aws.states"], "detail-type": ["Step Functions Execution Status Change"]}
        ),
    )
    events.put_targets(Rule="status-changes", Targets=[{"Id": "queue", "Arn": queue_arn}])

    result = run_execution(
        {"StartAt": "Failed", "States": {"Failed": {"Type": "Fail", "Error": "Boom"}}}
    )

    assert result["status"] == "FAILED"
    assert "Messages" not in sqs.receive_message(QueueUrl=queue_url, WaitTimeSeconds=0)


@pytest.mark.usefixtures("plain_moto")
def test_moto_serves_concurrent_requests_without_isolation() -> None:
    """Guards `_shim_request_isolation`: two PutItem calls are inside moto at the same time."""
    dynamodb = boto3.client("dynamodb")
    dynamodb.create_table(
        TableName="ledger",
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    both_inside = threading.Barrier(2, timeout=5)
    original_put_item: Callable[..., Any] = DynamoDBBackend.put_item

    def put_item_meeting_the_other(self: Any, *args: Any, **kwargs: Any) -> Any:
        both_inside.wait()  # BrokenBarrierError if requests were serialised
        return original_put_item(self, *args, **kwargs)

    def put(index: int) -> None:
        boto3.client("dynamodb").put_item(TableName="ledger", Item={"pk": {"S": str(index)}})

    with mock.patch.object(DynamoDBBackend, "put_item", put_item_meeting_the_other):
        threads = [threading.Thread(target=put, args=(index,)) for index in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()

    assert not both_inside.broken
    assert dynamodb.scan(TableName="ledger")["Count"] == 2


def test_local_aws_serialises_requests_but_not_lambda_handlers() -> None:
    """The shimmed side of the canary above: API calls are atomic, handlers overlap."""
    with LocalAws() as aws:
        aws.dynamodb.create_table(
            TableName="ledger",
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
        handlers_inside = threading.Barrier(2, timeout=5)
        put_items_inside = threading.Barrier(2, timeout=0.5)
        original_put_item: Callable[..., Any] = DynamoDBBackend.put_item

        def put_item_meeting_the_other(self: Any, *args: Any, **kwargs: Any) -> Any:
            # Times out (broken barrier): the other PutItem waits for the request lock.
            with contextlib.suppress(threading.BrokenBarrierError):
                put_items_inside.wait()
            return original_put_item(self, *args, **kwargs)

        def handler(event: dict[str, Any], context: Any) -> None:
            handlers_inside.wait()  # both handlers run at once
            aws.client("dynamodb").put_item(
                TableName="ledger", Item={"pk": {"S": str(event["index"])}}
            )

        aws.register_lambda("writer", handler)

        def invoke(index: int) -> None:
            aws.client("lambda").invoke(
                FunctionName="writer", Payload=json.dumps({"index": index}).encode()
            )

        with mock.patch.object(DynamoDBBackend, "put_item", put_item_meeting_the_other):
            threads = [threading.Thread(target=invoke, args=(index,)) for index in range(2)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()

        assert not handlers_inside.broken
        assert put_items_inside.broken
        assert aws.dynamodb.scan(TableName="ledger")["Count"] == 2


def test_dynamodb_integration_renames_evaluation_errors() -> None:
    """Guards `_shim_dynamodb_keeps_evaluation_errors`."""
    integration = StateTaskServiceDynamoDB()
    integration.resource = SimpleNamespace(
        api_action="putItem", condition=None, service_name="dynamodb"
    )
    env = SimpleNamespace(
        next_state_name="Put", event_history_context=SimpleNamespace(source_event_id=3)
    )
    evaluation_error = FailureEventException(
        FailureEvent(
            env=env,
            error_name=StatesErrorName(typ=StatesErrorNameType.StatesQueryEvaluationError),
            event_type=HistoryEventType.EvaluationFailed,
        )
    )

    failure = integration._from_error(env, evaluation_error)

    assert failure.error_name.error_name == "DynamoDB.AmazonDynamoDBException"


@pytest.mark.usefixtures("plain_moto")
def test_describe_execution_garbles_string_output_and_timed_out_stop_date() -> None:
    """Guards `_shim_describe_execution`."""
    string_output = run_execution(
        {"StartAt": "Pass", "States": {"Pass": {"Type": "Pass", "Result": "abc", "End": True}}},
        name="string-output",
    )
    timed_out = run_execution(
        {
            "TimeoutSeconds": 1,
            "StartAt": "Wait",
            "States": {"Wait": {"Type": "Wait", "Seconds": 3, "End": True}},
        },
        name="timed-out",
    )

    assert string_output["output"] == "abc"  # AWS: '"abc"'
    assert timed_out["status"] == "TIMED_OUT"
    assert "stopDate" not in timed_out


@pytest.mark.usefixtures("plain_moto", "casing_shim_only")
def test_ecs_sync_retry_times_out_at_once() -> None:
    """Guards `EcsRunTaskIntegration`'s task token per attempt: moto issues a state's task token
    once per state entry and interrupts its callback endpoint when the first `.sync` attempt
    ends, so every retried attempt "times out" as soon as it starts, far inside TimeoutSeconds."""
    definition = fargate_run_task(sync=True)
    run = definition["States"]["Run"]
    run["TimeoutSeconds"] = 300
    run["ResultSelector"] = {"missing.$": "$.NoSuchField"}  # fails after the task stopped
    run["Retry"] = [{"ErrorEquals": ["States.ALL"], "IntervalSeconds": 1, "MaxAttempts": 1}]

    result = run_execution(definition)

    assert (result["status"], result["error"]) == ("FAILED", "States.Timeout")
    events = boto3.client("stepfunctions").get_execution_history(
        executionArn=result["executionArn"]
    )["events"]
    failures = [
        event.get("taskFailedEventDetails", event.get("taskTimedOutEventDetails", {}))["error"]
        for event in events
        if event["type"] in {"TaskFailed", "TaskTimedOut"}
    ]
    assert failures == ["States.Runtime", "States.Timeout"]  # attempt 1 as written, 2 at once
    assert len(moto_tasks()) == 2
    elapsed = result["stopDate"] - result["startDate"]
    assert elapsed < datetime.timedelta(seconds=20)  # nowhere near the 300 s of TimeoutSeconds


RETRIED_ONCE = {
    "StartAt": "Call",
    "States": {
        "Call": {
            "Type": "Task",
            "Resource": "arn:aws:states:::lambda:invoke",
            "Parameters": {"FunctionName": "always-fails"},
            "Retry": [{"ErrorEquals": ["States.ALL"], "MaxAttempts": 1, "IntervalSeconds": 1}],
            "End": True,
        }
    },
}


@pytest.mark.usefixtures("plain_moto")
def test_every_execution_parses_its_definition_again() -> None:
    """Guards `_shim_parse_each_definition_once`: moto parses the definition at
    CreateStateMachine and again at StartExecution."""
    parsed: list[str] = []
    original = AmazonStateLanguageParser.parse

    def counting(definition: str) -> Any:
        parsed.append(definition)
        return original(definition)

    definition = {"StartAt": "P", "States": {"P": {"Type": "Pass", "End": True}}}
    with mock.patch.object(AmazonStateLanguageParser, "parse", staticmethod(counting)):
        assert run_execution(definition)["status"] == "SUCCEEDED"

    assert parsed == [json.dumps(definition)] * 2


def test_a_definition_parsed_once_runs_each_execution_on_its_own_program() -> None:
    """The shimmed side: each caller gets its own copy of the program, so per-execution state
    (here each execution's retry count) starts afresh; a definition that does not parse is
    refused every time."""
    with LocalAws() as aws:
        first, second = (AmazonStateLanguageParser.parse(json.dumps(RETRIED_ONCE)) for _ in "12")
        assert first[0] is not second[0]

        def always_fails(event: Any, context: Any) -> None:
            raise RuntimeError("down")

        aws.register_lambda("always-fails", always_fails)
        machine = aws.deploy_state_machine("retried", RETRIED_ONCE)
        for name in ("one", "two"):
            assert aws.run(machine, name, {})["status"] == "FAILED"
            arn = f"{machine.replace(':stateMachine:', ':execution:')}:{name}"
            attempts = [event for event in aws.history(arn) if event["type"] == "TaskScheduled"]
            assert len(attempts) == 2  # the first call and its one retry, in each execution

        for name in ("bad-1", "bad-2"):
            with pytest.raises(ClientError, match="ASLParserException"):
                aws.deploy_state_machine(name, {"StartAt": "Nowhere", "States": {}})


def test_creating_a_machine_of_a_parsed_definition_parses_and_copies_nothing() -> None:
    """The shimmed side: CreateStateMachine's check takes a definition that parsed before as
    valid, with no parse (where the shim copies the program); its executions still run."""
    definition = {"StartAt": "P", "States": {"P": {"Type": "Pass", "End": True}}}
    with LocalAws() as aws:
        aws.deploy_state_machine("first", definition)
        with mock.patch.object(AmazonStateLanguageParser, "parse", side_effect=AssertionError):
            second = aws.deploy_state_machine("second", definition)
        assert aws.run(second, "runs", {})["status"] == "SUCCEEDED"


@pytest.mark.usefixtures("plain_moto")
def test_delete_state_machine_lets_its_running_executions_run_on() -> None:
    """Guards `_shim_delete_state_machine`: moto deletes the machine at once (AWS keeps it
    DELETING while an execution runs, and ends that execution at its next transition)."""
    sfn = boto3.client("stepfunctions")
    machine = sfn.create_state_machine(
        name="deleted",
        roleArn=ROLE,
        definition=json.dumps(
            {"StartAt": "Wait", "States": {"Wait": {"Type": "Wait", "Seconds": 60, "End": True}}}
        ),
    )["stateMachineArn"]
    sfn.start_execution(stateMachineArn=machine, name="running")

    sfn.delete_state_machine(stateMachineArn=machine)

    with pytest.raises(ClientError, match="StateMachineDoesNotExist"):
        sfn.describe_state_machine(stateMachineArn=machine)


def test_each_service_call_makes_a_new_client() -> None:
    """Guards `_shim_service_clients_made_once`: the integrations cronguard's state machines use
    call moto's ``boto_client_for`` by that name, and it makes a new client every time."""
    for module in (lambda_eval_utils, state_task_service_dynamodb, state_task_service_ecs):
        assert module.boto_client_for is boto_client_for, module.__name__
    first, second = (boto_client_for("us-east-1", "lambda", None) for _ in "12")
    assert first is not second


def test_the_integrations_share_one_client_per_region_and_service() -> None:
    with LocalAws(region="ap-northeast-1") as aws:
        made = {
            module.boto_client_for("ap-northeast-1", "ecs", object())
            for module in (lambda_eval_utils, state_task_service_dynamodb, state_task_service_ecs)
        }
        (client,) = made  # whatever credentials the state asks with: moto's ignores them
        assert client is not lambda_eval_utils.boto_client_for("ap-northeast-1", "lambda", None)
        arn = aws.ecs.create_cluster(clusterName="shared")["cluster"]["clusterArn"]
        assert client.list_clusters()["clusterArns"] == [arn]  # served by the running mock
    assert lambda_eval_utils.boto_client_for is boto_client_for  # put back on exit
