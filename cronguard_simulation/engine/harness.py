"""`LocalAws`: an in-process AWS (moto 5.2.5 + shims) that runs cronguard's real state machines.

Executions run in moto's Step Functions interpreter (execution mode) on their own threads;
`lambda:invoke` calls the real Python handlers in-process; `ecs:runTask.sync` starts scripted
Fargate tasks (`TaskScript`); finished executions emit the EventBridge status-change event to
subscribed handlers. No AWS, no Docker, no network.
"""

from __future__ import annotations

import io
import json
import logging
import os
import threading
import time
import zipfile
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from types import TracebackType
from typing import Any

import boto3
from moto import mock_aws
from moto.moto_api._internal import mock_random

from cronguard_simulation.engine import service_models, shims
from cronguard_simulation.engine.ecs import EcsSimulator, StartedTask, TaskScript
from cronguard_simulation.engine.events import execution_status_change_event
from cronguard_simulation.engine.lambdas import Handler, LambdaContext, LambdaRegistry

LOG = logging.getLogger("cronguard_simulation.engine")

_SEED = 20251122
"""What moto's random generator starts from in every LocalAws (any constant would do)."""

ACCOUNT_ID = "123456789012"
"""moto's default account: every ARN the harness hands out is in it."""

_FAKE_ENVIRONMENT = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SECURITY_TOKEN": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "MOTO_EC2_LOAD_DEFAULT_AMIS": "false",  # saves ~0.2 s per LocalAws; no AMIs needed
}
_REMOVED_ENVIRONMENT = ("AWS_PROFILE", "AWS_ENDPOINT_URL")
_TRUST_POLICY = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Effect": "Allow",
            "Principal": {"Service": ["lambda.amazonaws.com", "states.amazonaws.com"]},
            "Action": "sts:AssumeRole",
        }
    ],
}


_clients: dict[tuple[str, str], Any] = {}
"""`LocalAws.client`'s clients, by service and region, shared by every LocalAws of the
process. moto intercepts every client created after it is imported, whichever mock is
running, and a LocalAws's credentials are always `_FAKE_ENVIRONMENT`'s; creating a client
costs tens of milliseconds (its event handlers are copied, its endpoint rules built), and a
test run starts a LocalAws per test."""
_clients_lock = threading.Lock()


class StatusChangeDeliveryError(RuntimeError):
    """A status-change handler raised for the execution `wait` was waiting for."""


@dataclass(frozen=True)
class Network:
    """A VPC (DNS hostnames on, as moto's Fargate RunTask requires), subnets, a security group."""

    vpc_id: str
    subnet_ids: tuple[str, ...]
    security_group_ids: tuple[str, ...]


@dataclass(frozen=True)
class _Subscription:
    handler: Handler
    statuses: frozenset[str]


class LocalAws:
    """Context manager: moto with the cronguard shims, fake credentials, region `region`.

    One at a time per process (the shims patch moto globally). On exit, executions still
    running are stopped and drained before moto stops.
    """

    def __init__(
        self, *, region: str = "us-east-1", default_task_script: TaskScript | None = None
    ) -> None:
        self.region = region
        self.request_lock = shims.RequestLock()
        self.lambdas = LambdaRegistry()
        self.ecs_tasks = EcsSimulator(default_task_script or TaskScript())
        self._mock: Any = None
        self._models = service_models.parsed_once()
        self._installed = False
        self._saved_environment: dict[str, str | None] = {}
        self._network: Network | None = None
        self._lambda_role_arn: str | None = None
        self._subscriptions: list[_Subscription] = []
        self._events: list[dict[str, Any]] = []
        self._delivery_errors: dict[str, list[BaseException]] = {}
        self._settled: dict[str, threading.Event] = {}
        self._bookkeeping = threading.Lock()

    # --- lifecycle ----------------------------------------------------------------------------

    def __enter__(self) -> LocalAws:
        self._set_environment({**_FAKE_ENVIRONMENT, "AWS_DEFAULT_REGION": self.region})
        for name in _REMOVED_ENVIRONMENT:
            self._set_environment({name: None})
        self._mock = mock_aws(
            config={
                "stepfunctions": {"execute_state_machine": True},
                "lambda": {"use_docker": False},
            }
        )
        self._mock.start()
        self._models.__enter__()
        # moto's identifiers (VPC, subnets, task ARNs, ...) from its seeded generator: every
        # LocalAws hands out the same ones in the same order, so a run can be replayed and a
        # deployed definition, which names the subnets, is parsed once per process (shims).
        mock_random.seed(_SEED)
        try:
            shims.install(self)
            self._installed = True
            # A warm-up: boto3's default session (moto gives each mock a new one) creates its
            # shared components lazily and not thread-safely, so its first client is made here,
            # before executions make theirs (moto's service integrations create a client each).
            boto3.client("stepfunctions", region_name=self.region)
            self.sfn = self.client("stepfunctions")
            self.dynamodb = self.client("dynamodb")
            self.ecs = self.client("ecs")
            self.lambda_ = self.client("lambda")
        except BaseException:
            self._stop()
            raise
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        try:
            self._drain_executions()
        finally:
            self._stop()

    def _stop(self) -> None:
        if self._installed:
            shims.uninstall()
            self._installed = False
        if self._mock is not None:
            self._models.__exit__(None, None, None)
            self._mock.stop()
            self._mock = None
        for name, value in self._saved_environment.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        self._saved_environment.clear()

    def _set_environment(self, variables: Mapping[str, str | None]) -> None:
        for name, value in variables.items():
            self._saved_environment.setdefault(name, os.environ.get(name))
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value

    def _drain_executions(self, timeout: float = 10.0) -> None:
        running = [
            execution["executionArn"]
            for machine in self.sfn.list_state_machines()["stateMachines"]
            for execution in self.sfn.list_executions(
                stateMachineArn=machine["stateMachineArn"], statusFilter="RUNNING"
            )["executions"]
        ]
        for execution_arn in running:
            try:
                self.sfn.stop_execution(executionArn=execution_arn)
            except Exception:
                LOG.warning("Could not stop %s at exit", execution_arn, exc_info=True)
        deadline = time.monotonic() + timeout
        for execution_arn in running:
            self._settled_event(execution_arn).wait(max(0.0, deadline - time.monotonic()))

    def client(self, service: str) -> Any:
        """A boto3 client of any service, served by moto (one per service and region in the
        process: `_clients`)."""
        key = (service, self.region)
        with _clients_lock:
            if key not in _clients:
                new_client: Callable[..., Any] = boto3.client  # typed overloads want a literal
                _clients[key] = new_client(service, region_name=self.region)
            return _clients[key]

    # --- Lambda -------------------------------------------------------------------------------

    def register_lambda(
        self, name: str, handler: Handler, environment: Mapping[str, str] | None = None
    ) -> str:
        """Create function `name` whose invocations call `handler(event, context)` in-process.

        Invocations (from `lambda:invoke` states or boto3) run in the calling thread; a raised
        exception is a function error with `errorType` = its class name. `environment` is set
        process-wide (os.environ) for the life of this LocalAws, since every handler shares one
        process: a variable may be registered twice only with the same value.
        """
        variables = self._function_environment(environment)
        if self._lambda_role_arn is None:
            self._lambda_role_arn = self.client("iam").create_role(
                RoleName="cronguard-local", AssumeRolePolicyDocument=json.dumps(_TRUST_POLICY)
            )["Role"]["Arn"]
        code = io.BytesIO()
        with zipfile.ZipFile(code, "w") as archive:
            archive.writestr("handler.py", "# runs in-process: see cronguard_simulation.engine\n")
        arn: str = self.lambda_.create_function(
            FunctionName=name,
            Runtime="python3.13",
            Role=self._lambda_role_arn,
            Handler="handler.handler",
            Code={"ZipFile": code.getvalue()},
            Environment={"Variables": variables},
        )["FunctionArn"]
        self.lambdas.register(name, arn, handler)
        return arn

    def _function_environment(self, environment: Mapping[str, str] | None) -> dict[str, str]:
        variables = dict(environment or {})
        for variable, value in variables.items():
            current = os.environ.get(variable)
            if variable in self._saved_environment and current not in (None, value):
                raise ValueError(
                    f"Lambda environment {variable}={value!r} conflicts with {current!r} "
                    "set for another function (environments are process-wide here)"
                )
        self._set_environment(variables)
        return variables

    def wrap_lambda(self, name: str, wrap: Callable[[Handler], Handler]) -> None:
        """Replace function `name`'s handler with `wrap(handler)`: a test injects failures
        (a throttle, a crash, a conflict) around the real code."""
        self.lambdas.wrap(name, wrap)

    # --- ECS ----------------------------------------------------------------------------------

    def network(self) -> Network:
        """The harness's VPC, created on first use."""
        if self._network is None:
            ec2 = self.client("ec2")
            vpc_id = ec2.create_vpc(CidrBlock="10.42.0.0/16")["Vpc"]["VpcId"]
            ec2.modify_vpc_attribute(VpcId=vpc_id, EnableDnsHostnames={"Value": True})
            subnet_ids = tuple(
                ec2.create_subnet(
                    VpcId=vpc_id, CidrBlock=f"10.42.{index}.0/24", AvailabilityZone=zone
                )["Subnet"]["SubnetId"]
                for index, zone in enumerate((f"{self.region}a", f"{self.region}b"))
            )
            group_id = ec2.create_security_group(
                GroupName="cronguard-local", Description="cronguard local jobs", VpcId=vpc_id
            )["GroupId"]
            self._network = Network(vpc_id, subnet_ids, (group_id,))
        return self._network

    def create_cluster(self, name: str) -> str:
        arn: str = self.ecs.create_cluster(clusterName=name)["cluster"]["clusterArn"]
        return arn

    def register_task_definition(
        self,
        family: str,
        container_name: str = "job",
        *,
        image: str = "public.ecr.aws/docker/library/busybox:latest",
        cpu: str = "256",
        memory: str = "512",
        command: list[str] | None = None,
        environment: Mapping[str, str] | None = None,
        sidecars: Mapping[str, bool] | None = None,
    ) -> str:
        """A Fargate (awsvpc) task definition with one essential container, after the
        ``sidecars`` (name -> essential): DescribeTasks then lists them first, as ECS may."""
        container: dict[str, Any] = {
            "name": container_name,
            "image": image,
            "memory": int(memory),  # moto requires container-level memory
            "essential": True,
            "environment": [
                {"name": key, "value": value} for key, value in (environment or {}).items()
            ],
        }
        if command is not None:
            container["command"] = command
        arn: str = self.ecs.register_task_definition(
            family=family,
            networkMode="awsvpc",
            requiresCompatibilities=["FARGATE"],
            cpu=cpu,
            memory=memory,
            containerDefinitions=[
                *(
                    {"name": name, "image": image, "memory": 64, "essential": essential}
                    for name, essential in (sidecars or {}).items()
                ),
                container,
            ],
        )["taskDefinition"]["taskDefinitionArn"]
        return arn

    def script_tasks(
        self,
        task_definition: str,
        *scripts: TaskScript,
        default: TaskScript | None = None,
        environment: dict[str, str] | None = None,
    ) -> None:
        """Queue what the next RunTask calls of `task_definition` (family, family:revision or
        ARN) do, one script per call; once the queue is empty, `default` (if given) or the
        harness default applies. With `environment`, only calls whose essential container gets
        those environment overrides (e.g. one slot's `CRONGUARD_SLOT`) take these scripts, and
        they take them before any queued without."""
        with self.request_lock:
            arn = self._task_definition_arn(task_definition)
            self.ecs_tasks.queue(arn, scripts, default, environment)

    def tasks_started(self, task_definition: str | None = None) -> list[StartedTask]:
        """Every task RunTask really started (launch failures start none), oldest first."""
        with self.request_lock:
            arn = None if task_definition is None else self._task_definition_arn(task_definition)
            return self.ecs_tasks.started(arn)

    def _task_definition_arn(self, task_definition: str) -> str:
        from moto.ecs.models import ecs_backends

        backend = ecs_backends[ACCOUNT_ID][self.region]
        arn: str = backend.describe_task_definition(task_definition).arn
        return arn

    # --- Step Functions -----------------------------------------------------------------------

    def deploy_state_machine(
        self,
        name: str,
        definition: str | Mapping[str, Any],
        role_arn: str | None = None,
        substitutions: Mapping[str, str] | None = None,
    ) -> str:
        """Create a STANDARD state machine; `substitutions` replace `${Key}` like CDK's
        `definition_substitutions`."""
        text = definition if isinstance(definition, str) else json.dumps(definition)
        for key, value in (substitutions or {}).items():
            text = text.replace("${" + key + "}", value)
        arn: str = self.sfn.create_state_machine(
            name=name,
            definition=text,
            roleArn=role_arn or f"arn:aws:iam::{ACCOUNT_ID}:role/cronguard-local-states",
            type="STANDARD",
        )["stateMachineArn"]
        return arn

    def start(self, state_machine_arn: str, name: str, input: Mapping[str, Any]) -> str:
        """StartExecution (always named: moto names an unnamed execution `None`)."""
        arn: str = self.sfn.start_execution(
            stateMachineArn=state_machine_arn, name=name, input=json.dumps(input)
        )["executionArn"]
        return arn

    def wait(self, execution_arn: str, timeout: float = 30.0) -> dict[str, Any]:
        """DescribeExecution once the execution is no longer RUNNING, its status-change event
        has been delivered to the subscribed handlers (whose errors are raised here), and its
        Task states are done with their ECS tasks (a timed-out or aborted one has been stopped,
        so `tasks_started` shows why)."""
        deadline = time.monotonic() + timeout
        while True:
            description: dict[str, Any] = self.sfn.describe_execution(executionArn=execution_arn)
            if description["status"] != "RUNNING":
                break
            if time.monotonic() > deadline:
                raise TimeoutError(f"{execution_arn} still RUNNING after {timeout} s")
            time.sleep(0.05)
        if not self._settled_event(execution_arn).wait(max(0.0, deadline - time.monotonic())):
            raise TimeoutError(f"status change of {execution_arn} not delivered in {timeout} s")
        # A Task state that stopped waiting (timeout, abort) stops its ECS task right after.
        if not self.ecs_tasks.wait_runs_ended(execution_arn, max(0.0, deadline - time.monotonic())):
            raise TimeoutError(f"ECS tasks of {execution_arn} not settled in {timeout} s")
        with self._bookkeeping:
            errors = self._delivery_errors.pop(execution_arn, [])
        if errors:
            raise StatusChangeDeliveryError(
                f"a status-change handler failed for {execution_arn}"
            ) from errors[0]
        description.pop("ResponseMetadata", None)
        return description

    def run(
        self,
        state_machine_arn: str,
        name: str,
        input: Mapping[str, Any],
        timeout: float = 30.0,
    ) -> dict[str, Any]:
        """`start` then `wait`."""
        return self.wait(self.start(state_machine_arn, name, input), timeout)

    def history(self, execution_arn: str) -> list[dict[str, Any]]:
        events: list[dict[str, Any]] = []
        kwargs: dict[str, Any] = {"executionArn": execution_arn, "maxResults": 1000}
        while True:
            page = self.sfn.get_execution_history(**kwargs)
            events.extend(page["events"])
            if not page.get("nextToken"):
                return events
            kwargs["nextToken"] = page["nextToken"]

    def state_transitions(self, execution_arn: str) -> int:
        """Number of states entered (each is one billed state transition in STANDARD)."""
        return sum(
            1 for event in self.history(execution_arn) if event["type"].endswith("StateEntered")
        )

    def on_execution_status_change(
        self,
        handler: Handler,
        *,
        statuses: Collection[str],
        environment: Mapping[str, str] | None = None,
    ) -> None:
        """Subscribe `handler(event, context)` like an EventBridge rule on "Step Functions
        Execution Status Change" with `detail.status` in `statuses` (a deployed rule's, e.g.
        `cronguard_simulation.deploy.cleanup_statuses`). It is called in the execution's
        thread once the execution ended; `environment` is its function's, process-wide as in
        `register_lambda`."""
        self._function_environment(environment)
        self._subscriptions.append(_Subscription(handler, frozenset(statuses)))

    @property
    def status_change_events(self) -> list[dict[str, Any]]:
        """Every status-change event emitted so far (terminal statuses), in order."""
        with self._bookkeeping:
            return list(self._events)

    # --- called by the shims ------------------------------------------------------------------

    def execution_ended(self, execution: Any) -> None:
        from moto.stepfunctions.parser.models import stepfunctions_parser_backends

        backend = stepfunctions_parser_backends[execution.account_id][execution.region_name]
        if execution.state_machine.backend is not backend:
            return  # a leftover thread of an earlier moto session: not ours
        try:
            event = execution_status_change_event(execution)
            with self._bookkeeping:
                self._events.append(event)
            for subscription in self._subscriptions:
                if event["detail"]["status"] not in subscription.statuses:
                    continue
                context = LambdaContext(
                    function_name="execution-status-change",
                    invoked_function_arn=(
                        f"arn:aws:lambda:{self.region}:{ACCOUNT_ID}:function:"
                        "execution-status-change"
                    ),
                )
                try:
                    subscription.handler(event, context)
                except Exception as error:
                    LOG.warning("Status-change handler failed", exc_info=True)
                    with self._bookkeeping:
                        self._delivery_errors.setdefault(execution.exec_arn, []).append(error)
        finally:
            self._settled_event(execution.exec_arn).set()

    def _settled_event(self, execution_arn: str) -> threading.Event:
        with self._bookkeeping:
            return self._settled.setdefault(execution_arn, threading.Event())


__all__ = [
    "ACCOUNT_ID",
    "LocalAws",
    "Network",
    "StatusChangeDeliveryError",
]
