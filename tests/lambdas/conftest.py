"""A moto DynamoDB ledger (same keys as the CDK table) and a moto state machine."""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws
from moto.core.botocore_stubber import BotocoreStubber
from moto.ecs.models import ecs_backends
from moto.moto_api import state_manager

from lambdas.cleanup.handler import Cleanup
from lambdas.core import variables
from lambdas.core.guard_contract import JobPayload
from lambdas.core.ledger import LedgerTable
from lambdas.core.ledger_contract import PARTITION_KEY, SORT_KEY, partition, table_name
from lambdas.core.tasks import EXECUTION_VARIABLE, RunTasks
from lambdas.core.times import utc_now
from lambdas.guard.executions import Executions
from lambdas.guard.handler import Guard
from stacks.definition import render_definition
from tests.aws import REGION, create_ledger_table, use_fake_credentials

TABLE = table_name("test")
CLUSTER = "jobs"
FAMILY = "cronguard-test-report"
CONTAINER = "job"
ACCOUNT = "123456789012"  # moto's default account
# The job's settings its state machine's definition carries (the cleanup reads them there).
REPORT = JobPayload(
    name="report",
    concurrency="forbid",
    startingDeadlineSeconds=None,
    leaseSeconds=3600,
    retentionSeconds=86400,
    container=CONTAINER,
    taskFamily=FAMILY,
)


def definition_of(job: JobPayload) -> str:
    """A job's state machine definition as its stack renders it (the ARNs of the stack's
    resources left as placeholders: moto does not run it here)."""
    return render_definition({"JobSettings": job})


@dataclass(frozen=True)
class LambdaContext:
    """What Powertools reads from the Lambda context object."""

    function_name: str = "cronguard-test-guard"
    memory_limit_in_mb: int = 256
    invoked_function_arn: str = f"arn:aws:lambda:{REGION}:123456789012:function:guard"
    aws_request_id: str = "test-request"
    remaining_ms: int = 240_000  # the slot watch's timeout

    def get_remaining_time_in_millis(self) -> int:
        return self.remaining_ms


CONTEXT = LambdaContext()


_clients: dict[str, Any] = {}
"""The fixture's clients, made once per process: moto serves a client made after it was
imported from whichever mock is running (as it does the handlers' own, lambdas/core/clients.py),
and creating one (with a new default session each test) was about a third of a test's time.
A test adds event hooks to them only through ``Aws.hook``, which the fixture removes."""


def _client(service: str) -> Any:
    if service not in _clients:
        new_client: Callable[..., Any] = boto3.client  # its typed overloads want a literal
        _clients[service] = new_client(service, region_name=REGION)
    return _clients[service]


@dataclass
class Aws:
    dynamodb: Any
    sfn: Any
    ecs: Any
    state_machine_arn: str
    role: str  # the state machines' role
    slept: list[float]
    hooks: list[tuple[Any, str, Callable[..., Any]]] = field(default_factory=list)

    def hook(self, client: Any, event: str, handler: Callable[..., Any]) -> None:
        """``client.meta.events.register(event, handler)`` for this test only (the fixture's
        clients outlive it)."""
        client.meta.events.register(event, handler)
        self.hooks.append((client, event, handler))

    def remove_hooks(self) -> None:
        for client, event, handler in reversed(self.hooks):
            client.meta.events.unregister(event, handler)
        self.hooks.clear()

    def cleanup(self) -> Cleanup:
        """The cleanup as ``Cleanup.from_settings`` builds it, on this fixture's clients."""
        return Cleanup(
            ledger=LedgerTable(self.dynamodb, TABLE),
            tasks=self.tasks(),
            sfn=self.sfn,
            family_prefix=FAMILY.removesuffix("report"),
            container=CONTAINER,
            environment="test",
        )

    def tasks(self) -> RunTasks:
        """The run's tasks on a virtual clock: each poll's sleep advances it, none waits."""
        return RunTasks(self.ecs, CLUSTER, sleep=self.slept.append, clock=lambda: sum(self.slept))

    def guard(self, clock: Callable[[], datetime] = utc_now, sfn: Any = None) -> Guard:
        return Guard(
            LedgerTable(self.dynamodb, TABLE),
            Executions(sfn or self.sfn),
            self.tasks(),
            clock=clock,
            environment="test",
        )

    def state_machine(self, job: JobPayload) -> str:
        """Another job's state machine, ``test-<job>``, carrying its settings."""
        return str(
            self.sfn.create_state_machine(
                name=f"test-{job['name']}", roleArn=self.role, definition=definition_of(job)
            )["stateMachineArn"]
        )

    def start(self, name: str, machine: str | None = None) -> str:
        return str(
            self.sfn.start_execution(
                stateMachineArn=machine or self.state_machine_arn, name=name, input="{}"
            )["executionArn"]
        )

    def task_definition(self, family: str, *containers: str) -> None:
        self.ecs.register_task_definition(
            family=family,
            networkMode="bridge",  # moto's awsvpc needs a VPC; IAM and ENIs are not tested here
            containerDefinitions=[
                {"name": name, "image": "busybox", "memory": 512} for name in containers
            ],
        )

    def run_task(self, execution_arn: str, family: str = FAMILY, container: str = CONTAINER) -> str:
        """A task as ``Run job`` starts it: the execution ARN in its container overrides."""
        task = self.ecs.run_task(
            cluster=CLUSTER,
            taskDefinition=family,
            launchType="FARGATE",
            overrides={
                "containerOverrides": [
                    {
                        "name": container,
                        "environment": [{"name": EXECUTION_VARIABLE, "value": execution_arn}],
                    }
                ]
            },
        )["tasks"][0]
        return str(task["taskArn"])

    def task(self, task_arn: str) -> dict[str, Any]:
        found: dict[str, Any] = self.ecs.describe_tasks(cluster=CLUSTER, tasks=[task_arn])["tasks"][
            0
        ]
        return found

    def stuck_stopping(self, task_arn: str) -> None:
        """The task is asked to stop and never gets there (a container that ignores SIGTERM
        past its stop timeout, an agent that does not report): moto's own task model put in
        DEACTIVATING, which its state manager (``times`` 10**6) never moves on."""
        task = ecs_backends[ACCOUNT][REGION].tasks[CLUSTER][task_arn]
        task.desired_status = "STOPPED"
        task.status = "DEACTIVATING"

    def stopped_at_last(self, task_arn: str) -> None:
        ecs_backends[ACCOUNT][REGION].tasks[CLUSTER][task_arn].status = "STOPPED"

    def item(self, sort_key: str, job: str = "report") -> dict[str, Any] | None:
        response = self.dynamodb.get_item(
            TableName=TABLE, Key={PARTITION_KEY: {"S": partition(job)}, SORT_KEY: {"S": sort_key}}
        )
        item: dict[str, Any] | None = response.get("Item")
        return item


class RecordingClient:
    """A boto3 client that records the API operations called on it, as the benchmark's call
    counter does (``bench/benchmark.py``), and runs ``before_write`` once, before the first
    TransactWriteItems (another execution's claim landing between this guard's read and its
    claim). ``returns_items=False``: a cancelled transaction's ``CancellationReasons`` come
    without their ``Item``, as an SDK has delivered them (boto/boto3#2657)."""

    def __init__(
        self,
        client: Any,
        *,
        returns_items: bool = True,
        before_write: Callable[[], object] | None = None,
    ) -> None:
        self._client = client
        self._returns_items = returns_items
        self._before_write = before_write
        self.calls: list[str] = []

    def __getattr__(self, name: str) -> Any:
        method = getattr(self._client, name)
        operation = self._client.meta.method_to_api_mapping.get(name)
        if operation is None:  # not an API call (get_paginator, meta, ...)
            return method

        def call(**params: Any) -> Any:
            if operation == "TransactWriteItems" and self._before_write is not None:
                before, self._before_write = self._before_write, None
                before()
            self.calls.append(operation)
            try:
                return method(**params)
            except ClientError as error:
                if not self._returns_items:
                    for reason in error.response.get("CancellationReasons") or []:
                        reason.pop("Item", None)
                raise

        return call


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[Aws]:
    use_fake_credentials(
        monkeypatch,
        POWERTOOLS_METRICS_DISABLED="true",
        **{
            variables.LEDGER_TABLE: TABLE,
            variables.ENVIRONMENT: "test",
            variables.JOB_CLUSTER_ARN: CLUSTER,
            variables.TASK_FAMILY_PREFIX: FAMILY.removesuffix("report"),
            variables.JOB_CONTAINER: CONTAINER,
        },
    )
    # moto serves concurrent requests without isolation; AWS makes each call atomic. The
    # racing tests need the latter (see the shim and canary in
    # cronguard_simulation/engine/shims.py).
    lock = threading.Lock()
    original = BotocoreStubber.process_request

    def process_request(self: Any, request: Any) -> Any:
        with lock:
            return original(self, request)

    monkeypatch.setattr(BotocoreStubber, "process_request", process_request)
    with mock_aws():
        dynamodb = _client("dynamodb")
        create_ledger_table(dynamodb, TABLE)
        iam = _client("iam")
        role = iam.create_role(
            RoleName="sfn",
            AssumeRolePolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": []}),
        )["Role"]["Arn"]
        sfn = _client("stepfunctions")
        machine = sfn.create_state_machine(
            name="test-report",
            roleArn=role,
            definition=definition_of(REPORT),
        )["stateMachineArn"]
        ecs = _client("ecs")
        ecs.create_cluster(clusterName=CLUSTER)
        # moto walks a task to STOPPED on its own after a few DescribeTasks; here a task runs
        # until it is stopped (moto's own state manager, not a patch).
        state_manager.set_transition("ecs::task", {"progression": "manual", "times": 10**6})
        assert os.environ[variables.LEDGER_TABLE] == TABLE
        aws = Aws(
            dynamodb=dynamodb, sfn=sfn, ecs=ecs, state_machine_arn=machine, role=role, slept=[]
        )
        for family in (FAMILY, "cronguard-test-other"):
            aws.task_definition(family, CONTAINER)
        try:
            yield aws
        finally:
            aws.remove_hooks()
            state_manager.unset_transition("ecs::task")
