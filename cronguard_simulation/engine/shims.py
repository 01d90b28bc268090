"""Shims that make moto 5.2.5's Step Functions interpreter run cronguard's real ASL like AWS.

moto 5.2.5 in execution mode is a real ASL interpreter (a vendored copy of LocalStack's engine),
but a few integrations are stubbed or skip AWS behaviour the guarantees depend on. Each shim below
closes one gap, names it, and is guarded by a canary in `tests/local/test_shims.py` that runs the
*unpatched* behaviour and fails as soon as upstream changes it, so the team knows when a shim can
go. Shims are installed only while a `LocalAws` is active (`install`/`uninstall`), and refuse to
install on any other moto version: they patch private code that moves between releases.

The shims delegate to `ShimHooks` (the harness): the Lambda registry, the ECS task scripts, the
request lock and the execution-ended callback.
"""

from __future__ import annotations

import copy
import functools
import hashlib
import json
import logging
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from datetime import datetime
from typing import Any, Protocol, cast

import botocore.session
import jsonata
import moto
from botocore.exceptions import ClientError
from moto.awslambda.exceptions import LambdaClientError, UnknownFunctionException
from moto.awslambda_simple.models import LambdaSimpleBackend
from moto.core.botocore_stubber import BotocoreStubber
from moto.core.exceptions import JsonRESTError
from moto.core.responses import ActionResult
from moto.ecs.models import EC2ContainerServiceBackend, Task
from moto.ecs.responses import EC2ContainerServiceResponse
from moto.stepfunctions.parser.api import (
    EvaluationFailedEventDetails,
    HistoryEventType,
    TaskFailedEventDetails,
)
from moto.stepfunctions.parser.asl.component.common.error_name.custom_error_name import (
    CustomErrorName,
)
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
from moto.stepfunctions.parser.asl.component.common.string.string_expression import StringJSONata
from moto.stepfunctions.parser.asl.component.intrinsic import jsonata as moto_sfn_functions
from moto.stepfunctions.parser.asl.component.state.exec.state_task import (
    state_task_factory,
)
from moto.stepfunctions.parser.asl.component.state.exec.state_task.lambda_eval_utils import (
    LambdaFunctionErrorException,
)
from moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service import (  # noqa: E501
    StateTaskService,
)
from moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service_callback import (  # noqa: E501
    _DELAY_SECONDS_SYNC_CONDITION_CHECK as _SYNC_POLL_SECONDS,
)
from moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service_callback import (  # noqa: E501
    StateTaskServiceCallback,
)
from moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service_dynamodb import (  # noqa: E501
    StateTaskServiceDynamoDB,
)
from moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service_ecs import (  # noqa: E501
    StateTaskServiceEcs,
)
from moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service_factory import (  # noqa: E501
    state_task_service_for as moto_state_task_service_for,
)
from moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service_lambda import (  # noqa: E501
    StateTaskServiceLambda,
)
from moto.stepfunctions.parser.asl.eval import states as moto_sfn_states
from moto.stepfunctions.parser.asl.eval import variable_store as moto_sfn_variable_store
from moto.stepfunctions.parser.asl.eval.callback.callback import CallbackOutcomeTimedOut
from moto.stepfunctions.parser.asl.eval.environment import Environment
from moto.stepfunctions.parser.asl.eval.event.event_detail import EventDetails
from moto.stepfunctions.parser.asl.eval.program_state import (
    ProgramError,
    ProgramState,
    ProgramStopped,
    ProgramTimedOut,
)
from moto.stepfunctions.parser.asl.jsonata import jsonata as moto_jsonata
from moto.stepfunctions.parser.asl.parse.asl_parser import AmazonStateLanguageParser
from moto.stepfunctions.parser.asl.utils.boto_client import boto_client_for
from moto.stepfunctions.parser.asl.utils.encoding import to_json_str
from moto.stepfunctions.parser.backend.execution import BaseExecutionWorkerCommunication
from moto.stepfunctions.parser.backend.execution_worker import ExecutionWorker
from moto.stepfunctions.parser.utils import camel_to_snake_case
from moto.stepfunctions.responses import StepFunctionResponse

from cronguard_simulation.engine.ecs import (
    THROTTLE,
    EcsSimulator,
    StopCause,
    container_environment,
    overridden_container,
)
from cronguard_simulation.engine.lambdas import LambdaRegistry, LambdaServiceError

MOTO_VERSION = "5.2.5"

LOG = logging.getLogger("cronguard_simulation.engine")


class RequestLock:
    """Re-entrant lock held while moto serves one API request.

    A thread steps out of it (`suspended`) while it runs Lambda handler code, so handlers run
    concurrently while every API call stays atomic, as in AWS.
    """

    def __init__(self) -> None:
        self._condition = threading.Condition()
        self._owner: int | None = None
        self._depth = 0

    def __enter__(self) -> None:
        self._acquire(1)

    def __exit__(self, *exc_info: object) -> None:
        with self._condition:
            self._depth -= 1
            if self._depth == 0:
                self._owner = None
                self._condition.notify()

    def _acquire(self, depth: int) -> None:
        me = threading.get_ident()
        with self._condition:
            if self._owner == me:
                self._depth += depth
                return
            while self._owner is not None:
                self._condition.wait()
            self._owner, self._depth = me, depth

    @contextmanager
    def suspended(self) -> Iterator[None]:
        """Fully release the lock if this thread holds it; take it back afterwards."""
        with self._condition:
            depth = self._depth if self._owner == threading.get_ident() else 0
            if depth:
                self._owner, self._depth = None, 0
                self._condition.notify()
        try:
            yield
        finally:
            if depth:
                self._acquire(depth)


class ShimHooks(Protocol):
    """What the shims call back into (implemented by `LocalAws`)."""

    request_lock: RequestLock
    lambdas: LambdaRegistry
    ecs_tasks: EcsSimulator

    def execution_ended(self, execution: Any) -> None: ...


class _Patcher:
    """Replaces attributes and mapping entries, and puts every original back."""

    _ABSENT = object()

    def __init__(self) -> None:
        self._undo: list[Callable[[], None]] = []

    def replace(self, owner: Any, name: str, value: Any) -> None:
        original = (
            owner.__dict__.get(name, self._ABSENT)
            if isinstance(owner, type)
            else getattr(owner, name)
        )

        def undo() -> None:
            if original is self._ABSENT:
                delattr(owner, name)
            else:
                setattr(owner, name, original)

        setattr(owner, name, value)
        self._undo.append(undo)

    def remove_item(self, mapping: dict[str, Any], key: str) -> None:
        original = mapping.pop(key)
        self._undo.append(lambda: mapping.__setitem__(key, original))

    def restore(self) -> None:
        while self._undo:
            self._undo.pop()()


_patcher: _Patcher | None = None
_hooks: ShimHooks | None = None


def install(hooks: ShimHooks) -> None:
    """Install every shim; they call back into `hooks` until `uninstall`."""
    global _patcher, _hooks
    if moto.__version__ != MOTO_VERSION:
        raise RuntimeError(
            f"cronguard_simulation.engine shims patch moto {MOTO_VERSION} internals but moto "
            f"{moto.__version__} is installed: pin moto=={MOTO_VERSION} or re-check every shim "
            "against the new version (the canaries in tests/local/test_shims.py tell which)."
        )
    if _patcher is not None:
        raise RuntimeError(
            "cronguard_simulation.engine shims are already installed (one LocalAws at a time)"
        )
    patcher = _Patcher()
    for shim in _SHIMS:
        shim(patcher)
    _patcher, _hooks = patcher, hooks


def uninstall() -> None:
    global _patcher, _hooks
    if _patcher is not None:
        _patcher.restore()
    _patcher, _hooks = None, None


def _active() -> ShimHooks:
    if _hooks is None:
        raise RuntimeError("cronguard_simulation.engine shims are installed without hooks")
    return _hooks


# --- Gap 1: Lambda without Docker only echoes its payload -------------------------------------


def _shim_lambda_in_process(patcher: _Patcher) -> None:
    """moto 5.2.5's docker-less Lambda (`LambdaSimpleBackend.invoke`) returns the request payload
    (or a queued canned result) and never runs code. Patched: Invoke runs the handler registered
    with `LocalAws.register_lambda` in the calling thread, outside the request lock, and reports
    a raised exception as a function error (`x-amz-function-error: Unhandled`).
    Canary: `test_lambda_without_docker_echoes_the_payload`."""

    def invoke(
        self: Any,
        function_name: str,
        qualifier: str | None,
        body: Any,
        headers: Any,
        response_headers: dict[str, str],
    ) -> bytes:
        hooks = _active()
        if function_name not in hooks.lambdas:
            raise UnknownFunctionException(function_name)
        if headers.get("X-Amz-Invocation-Type") == "DryRun":
            return b""
        # "Event" invocations run synchronously too: nothing in cronguard invokes asynchronously.
        with hooks.request_lock.suspended():
            try:
                invocation = hooks.lambdas.invoke(function_name, body)
            except LambdaServiceError as service_error:
                error = LambdaClientError(service_error.code, service_error.message)
                error.code = service_error.status_code
                raise error from service_error
        if invocation.function_error:
            response_headers["x-amz-function-error"] = invocation.function_error
        return invocation.payload

    patcher.replace(LambdaSimpleBackend, "invoke", invoke)


def _shim_lambda_unknown_error(patcher: _Patcher) -> None:
    """A Lambda function error without `errorType` (a runtime crash: out of memory, exit) is
    `Lambda.Unknown` in AWS; moto 5.2.5 names it `Exception`. Patched in
    `StateTaskServiceLambda._from_error`. Canary: `test_lambda_error_without_type_is_exception`."""
    original = StateTaskServiceLambda._from_error

    def _from_error(self: Any, env: Any, ex: Exception) -> Any:
        if isinstance(ex, LambdaFunctionErrorException) and "errorType" not in _json_object(
            ex.payload
        ):
            return _task_failed_event(self, env, "Lambda.Unknown", ex.payload)
        return original(self, env, ex)

    patcher.replace(StateTaskServiceLambda, "_from_error", _from_error)


# --- Gap 2: optimised integrations pass PascalCase parameters to boto (moto #10076) -----------


def _shim_sfn_parameter_casing(patcher: _Patcher) -> None:
    """moto 5.2.5 reduced `StateTaskService._normalise_parameters/_normalise_response` to `pass`
    when it ported LocalStack's engine, so ASL's PascalCase arguments reach boto verbatim:
    `ecs:runTask` fails with `States.Runtime` / cause `'Cluster'`, `aws-sdk:sfn:*` and
    `states:startExecution` likewise (moto issue 10076, open PR 10094 restores them). Patched:
    the two methods convert between ASL casing and the botocore shapes, as in LocalStack and
    PR 10094. Canary: `test_ecs_run_task_from_asl_fails_on_pascal_case_parameters`."""

    def operation(self: Any, boto_service_name: str | None, service_action_name: str | None) -> Any:
        return _operation_model(
            self._get_boto_service_name(boto_service_name),
            self._get_boto_service_action(service_action_name),
        )

    def _normalise_parameters(
        self: Any,
        parameters: dict[str, Any],
        boto_service_name: str | None = None,
        service_action_name: str | None = None,
    ) -> None:
        shape = operation(self, boto_service_name, service_action_name).input_shape
        if shape is not None:
            self._to_boto_request(parameters, shape)

    def _normalise_response(
        self: Any,
        response: Any,
        boto_service_name: str | None = None,
        service_action_name: str | None = None,
    ) -> None:
        shape = operation(self, boto_service_name, service_action_name).output_shape
        if shape is not None:
            self._from_boto_response(response, shape)

    patcher.replace(StateTaskService, "_normalise_parameters", _normalise_parameters)
    patcher.replace(StateTaskService, "_normalise_response", _normalise_response)


_BOTO_MODELS = botocore.session.get_session()
_BOTO_MODELS_LOCK = threading.Lock()


@functools.cache
def _operation_model_cached(service_name: str, action: str) -> Any:
    service = _BOTO_MODELS.get_service_model(service_name)
    operations = {camel_to_snake_case(name): name for name in service.operation_names}
    operation = operations.get(camel_to_snake_case(action))
    if operation is None:
        raise RuntimeError(f"No API action '{action}' in service '{service_name}'")
    return service.operation_model(operation)


def _operation_model(service_name: str, action: str) -> Any:
    with _BOTO_MODELS_LOCK:  # botocore's loaders are not thread-safe
        return _operation_model_cached(service_name, action)


# --- Gap 4: ecs:runTask(.sync) semantics ------------------------------------------------------

_EXTRA_RUN_TASK_PARAMETERS = frozenset({"StartedBy", "CapacityProviderStrategy"})

_STOP_REASONS: Mapping[StopCause, str] = {
    StopCause.EXECUTION_STOPPED: "Stopped by AWS Step Functions: the execution was stopped",
    StopCause.EXECUTION_TIMED_OUT: "Stopped by AWS Step Functions: the execution timed out",
    StopCause.EXECUTION_FAILED: "Stopped by AWS Step Functions: the execution failed",
    StopCause.STATE_TIMED_OUT: "Stopped by AWS Step Functions: the Task state timed out",
}


class _TaskAbandonedError(RuntimeError):
    """The Task state stopped waiting for its ECS task (timeout, abort) and stopped the task."""


class _TaskWatcher:
    """The `.sync` resolver: polls DescribeTasks until the task STOPPED; fails the state like
    AWS when the essential container exited non-zero; can stop the task."""

    def __init__(
        self, integration: EcsRunTaskIntegration, env: Any, ecs: Any, cluster: str, task: str
    ) -> None:
        self.integration, self.env, self.ecs = integration, env, ecs
        self.cluster, self.task = cluster, task

    def __call__(self) -> dict[str, Any] | None:
        described = self.ecs.describe_tasks(cluster=self.cluster, tasks=[self.task])
        if described["tasks"][0]["lastStatus"] != "STOPPED":
            # A task due to end before moto's next poll is described again as it ends: Step
            # Functions hears of a stopped task through the EventBridge rule
            # StepFunctionsGetEventsForECSTaskRule its role manages, not at a fixed interval
            # (https://docs.aws.amazon.com/step-functions/latest/dg/ecs-iam.html).
            hooks = _active()
            with hooks.request_lock:
                left = hooks.ecs_tasks.seconds_to_end(self.task)
            if left is None or left > _SYNC_POLL_SECONDS:
                return None
            time.sleep(left)
            if not self.env.is_running():  # stopped meanwhile: moto's loop ends, as it would
                return None
            described = self.ecs.describe_tasks(cluster=self.cluster, tasks=[self.task])
            if described["tasks"][0]["lastStatus"] != "STOPPED":
                return None
        described.pop("ResponseMetadata", None)
        self.integration._normalise_response(described, service_action_name="describe_tasks")
        task: dict[str, Any] = described["Tasks"][0]
        if any(container.get("ExitCode") != 0 for container in task.get("Containers", [])):
            raise FailureEventException(
                _task_failed_event(
                    self.integration,
                    self.env,
                    StatesErrorNameType.StatesTaskFailed.to_name(),
                    to_json_str(task, separators=(",", ":")),
                )
            )
        return task

    def stop(self, cause: StopCause) -> None:
        """Best-effort StopTask, as Step Functions does when it stops waiting."""
        hooks = _active()
        with hooks.request_lock:
            hooks.ecs_tasks.expect_stop(self.task, cause)
        try:
            self.ecs.stop_task(cluster=self.cluster, task=self.task, reason=_STOP_REASONS[cause])
        except ClientError:
            LOG.warning("StopTask of %s failed", self.task, exc_info=True)


class EcsRunTaskIntegration(StateTaskServiceEcs):
    """`arn:aws:states:::ecs:runTask(.sync)` as AWS runs it (moto 5.2.5 differs, see below)."""

    def _eval_execution(self, env: Any) -> None:
        if self.resource.condition is not None:
            # moto issues the task token once per state entry and the first attempt's end
            # interrupts its callback endpoint: a retried `.sync` attempt then "times out" at
            # once. Each attempt is a task of its own (its own TaskScheduled/TaskStarted, its
            # own TimeoutSeconds), so it gets a token of its own. (env is this attempt's frame.)
            env.callback_pool_manager.add(env.states.context_object.update_task_token())
        # Counted so that `LocalAws.wait` returns only once the state is done with its task.
        tasks = _active().ecs_tasks
        tasks.run_started(_execution_arn(env))
        try:
            super()._eval_execution(env)
        finally:
            tasks.run_ended(_execution_arn(env))

    def _get_supported_parameters(self) -> set[str] | None:
        # moto drops StartedBy and CapacityProviderStrategy before calling RunTask.
        supported: set[str] | None = super()._get_supported_parameters()
        return None if supported is None else supported | _EXTRA_RUN_TASK_PARAMETERS

    def _before_eval_execution(
        self,
        env: Any,
        resource_runtime_part: Any,
        raw_parameters: dict[str, Any],
        state_credentials: Any,
    ) -> None:
        # moto overwrites StartedBy with "AWS Step Functions" on .sync; keep an explicit value.
        before = StateTaskServiceCallback if "StartedBy" in raw_parameters else StateTaskServiceEcs
        before._before_eval_execution(
            self,
            env=env,
            resource_runtime_part=resource_runtime_part,
            raw_parameters=raw_parameters,
            state_credentials=state_credentials,
        )

    def _normalise_response(
        self,
        response: Any,
        boto_service_name: str | None = None,
        service_action_name: str | None = None,
    ) -> None:
        super()._normalise_response(
            response, boto_service_name=boto_service_name, service_action_name=service_action_name
        )
        _timestamps_to_epoch_millis(response)  # AWS outputs ECS timestamps as epoch millis

    def _eval_service_task(
        self,
        env: Any,
        resource_runtime_part: Any,
        normalised_parameters: dict[str, Any],
        state_credentials: Any,
    ) -> None:
        ecs = _service_client(
            region=resource_runtime_part.region, service="ecs", state_credentials=state_credentials
        )
        action = self._get_boto_service_action()
        with _active().ecs_tasks.launching_for(_execution_arn(env)):
            response = getattr(ecs, action)(**normalised_parameters)
        response.pop("ResponseMetadata", None)
        self._normalise_response(response, service_action_name=action)
        if self.resource.condition is not None and response.get("Failures"):
            # AWS: .sync / .waitForTaskToken fail on a non-empty Failures; request-response not.
            raise FailureEventException(
                _task_failed_event(
                    self, env, "AmazonECS.Unknown", to_json_str(response, separators=(",", ":"))
                )
            )
        env.stack.append(response)

    def _eval_integration_pattern(
        self,
        env: Any,
        resource_runtime_part: Any,
        normalised_parameters: dict[str, Any],
        state_credentials: Any,
    ) -> None:
        # If the state stopped waiting (TimeoutSeconds, StopExecution) while RunTask was in
        # flight, moto would pop garbage off its stack and leave the task running: stop it here.
        submitted = env.stack[-1]["Tasks"][0]
        try:
            if env.is_running():
                super()._eval_integration_pattern(
                    env=env,
                    resource_runtime_part=resource_runtime_part,
                    normalised_parameters=normalised_parameters,
                    state_credentials=state_credentials,
                )
                return
        except Exception:
            if env.is_running():
                raise
        self._abandon(env, self._watch(submitted, resource_runtime_part, state_credentials, env))

    def _abandon(self, env: Any, watcher: _TaskWatcher) -> None:
        """The state stopped waiting (TimeoutSeconds, StopExecution, execution timeout or
        failure): stop the task as Step Functions does, and end this evaluation."""
        cause = _stop_cause(env.program_state())
        watcher.stop(cause)
        raise _TaskAbandonedError(f"{cause}: stopped ECS task {watcher.task}")

    def _build_sync_resolver(
        self,
        env: Any,
        resource_runtime_part: Any,
        normalised_parameters: dict[str, Any],
        state_credentials: Any,
    ) -> _TaskWatcher:
        submitted = env.stack.pop()["Tasks"][0]
        return self._watch(submitted, resource_runtime_part, state_credentials, env)

    def _watch(
        self,
        submitted: dict[str, Any],
        resource_runtime_part: Any,
        state_credentials: Any,
        env: Any,
    ) -> _TaskWatcher:
        ecs = _service_client(
            region=resource_runtime_part.region, service="ecs", state_credentials=state_credentials
        )
        return _TaskWatcher(self, env, ecs, submitted["ClusterArn"], submitted["TaskArn"])

    def _eval_sync(
        self,
        env: Any,
        sync_resolver: Callable[[], Any] | None,
        timeout_seconds: int | None,
        callback_endpoint: Any,
        heartbeat_endpoint: Any,
    ) -> Any:
        outcome = super()._eval_sync(
            env=env,
            sync_resolver=sync_resolver,
            timeout_seconds=timeout_seconds,
            callback_endpoint=callback_endpoint,
            heartbeat_endpoint=heartbeat_endpoint,
        )
        if not isinstance(sync_resolver, _TaskWatcher):
            return outcome
        if isinstance(outcome, CallbackOutcomeTimedOut):
            # moto's task-token listener reached TimeoutSeconds first: States.Timeout follows.
            sync_resolver.stop(StopCause.STATE_TIMED_OUT)
        elif outcome is None:
            self._abandon(env, sync_resolver)
        return outcome

    def _from_error(self, env: Any, ex: Exception) -> Any:
        if isinstance(ex, ClientError):
            # Errors the ECS model declares keep their name; others (throttling) are the SDK's
            # generic AmazonECSException.
            code = ex.response["Error"]["Code"]
            metadata = ex.response["ResponseMetadata"]
            error = f"ECS.{code}" if code in _ecs_modeled_errors() else "ECS.AmazonECSException"
            cause = (
                f"{ex.response['Error'].get('Message', '')} (Service: AmazonECS; Status Code: "
                f"{metadata['HTTPStatusCode']}; Error Code: {code}; Request ID: "
                f"{metadata.get('RequestId', '')}; Proxy: null)"
            )
            return _task_failed_event(self, env, error, cause)
        return super()._from_error(env, ex)


@functools.cache
def _ecs_modeled_errors() -> frozenset[str]:
    with _BOTO_MODELS_LOCK:
        return frozenset(shape.name for shape in _BOTO_MODELS.get_service_model("ecs").error_shapes)


def _execution_arn(env: Any) -> str:
    arn: str = env.states.context_object.context_object_data["Execution"]["Id"]
    return arn


def _stop_cause(program_state: ProgramState) -> StopCause:
    if isinstance(program_state, ProgramStopped):
        return StopCause.EXECUTION_STOPPED
    if isinstance(program_state, ProgramTimedOut):
        return StopCause.EXECUTION_TIMED_OUT
    if isinstance(program_state, ProgramError):
        return StopCause.EXECUTION_FAILED
    return StopCause.STATE_TIMED_OUT  # the state's frame was ended by its TimeoutSeconds


def _timestamps_to_epoch_millis(value: Any) -> None:
    items = (
        value.items()
        if isinstance(value, dict)
        else enumerate(value)
        if isinstance(value, list)
        else ()
    )
    for key, item in items:
        if isinstance(item, datetime):
            value[key] = int(item.timestamp() * 1000)
        else:
            _timestamps_to_epoch_millis(item)


def _shim_sfn_ecs_run_task(patcher: _Patcher) -> None:
    """moto 5.2.5's `ecs:runTask` integration drops `StartedBy` (and forces it to "AWS Step
    Functions" on .sync) and `CapacityProviderStrategy`, ignores RunTask `Failures` (IndexError →
    `States.Runtime`), reports `.sync` success whatever the exit code, maps ECS API errors to
    `States.Runtime`, and never stops the task when the state times out or the execution is
    stopped. Patched: the factory builds `EcsRunTaskIntegration`, which does what AWS does:
    `Failures` → `AmazonECS.Unknown`, non-zero essential exit → `States.TaskFailed` with the task
    JSON (PascalCase, epoch millis) as Cause, API errors → `ECS.<modeled error>` or
    `ECS.AmazonECSException`, best-effort StopTask when the state stops waiting.
    moto also ends every retried `.sync` attempt with an immediate `States.Timeout` (the task
    token, and its interrupted callback endpoint, are shared by all attempts), where AWS
    bounds each attempt by TimeoutSeconds: "If the task runs longer than the specified
    seconds, this state fails with a States.Timeout error name … The count begins after the
    task has been started" (docs.aws.amazon.com/step-functions/latest/dg/
    amazon-states-language-task-state.html), and every attempt is a task started anew (its
    own TaskScheduled, whose `timeoutInSeconds` is "the maximum allowed duration of the
    task", API_TaskScheduledEventDetails). Patched: a fresh token per attempt.
    Canaries: `test_ecs_sync_integration_forces_started_by`,
    `test_ecs_sync_integration_succeeds_whatever_the_exit_code`,
    `test_ecs_sync_integration_fails_on_run_task_failures_with_states_runtime`,
    `test_ecs_sync_retry_times_out_at_once`."""

    def state_task_service_for(service_name: str) -> Any:
        if service_name == "ecs":
            return EcsRunTaskIntegration()  # type: ignore[no-untyped-call]
        return moto_state_task_service_for(service_name)

    patcher.replace(state_task_factory, "state_task_service_for", state_task_service_for)


class _EcsThrottlingError(JsonRESTError):
    """ECS's (unmodeled) throttling error, as the service returns it."""

    def __init__(self) -> None:
        super().__init__("ThrottlingException", "Rate exceeded")


def _containers(task: Any, task_definition: Any) -> list[Any]:
    """One container per container definition, in the task definition's order (moto 5.2.5
    gives a task only its first definition's, so a sidecar listed first hid the job's)."""
    (first,) = task.containers
    containers = []
    for definition in task_definition.container_definitions:
        container = copy.copy(first)
        container.container_arn = f"{task_definition.arn}/{uuid.uuid4()}"
        container.name = definition.get("name")
        container.image = definition.get("image")
        container.cpu = definition.get("cpu", 0)
        container.memory = definition.get("memory")
        container.environment = definition.get("environment")
        container.command = definition.get("command")
        containers.append(container)
    return containers


def _shim_ecs_task_scripts(patcher: _Patcher) -> None:
    """moto 5.2.5's ECS starts every task and advances it to STOPPED after a few DescribeTasks,
    always with exit code 0 and no stop code or timestamps; it never reports launch failures,
    and lists one container per task (its first definition's).
    Patched: RunTask consumes the next `TaskScript` of the task definition (launch failure,
    throttling, or a start, after an optional API latency spent outside the request lock),
    DescribeTasks settles a scripted task by wall clock, and StopTask
    records who stopped it (and leaves an already stopped task alone, as AWS does).
    Canary: `test_ecs_tasks_stop_by_themselves_with_exit_code_0`."""
    original_run_task = EC2ContainerServiceResponse.run_task
    original_advance = Task.advance
    original_stop_task = EC2ContainerServiceBackend.stop_task

    def run_task(self: Any) -> Any:
        hooks = _active()
        backend = self.ecs_backend
        backend._get_cluster(self._get_param("cluster", "default"))  # fail before consuming
        task_definition = backend.describe_task_definition(self._get_param("taskDefinition"))
        overrides = self._get_param("overrides") or {}
        job_container = overridden_container(
            overrides, task_definition.container_definitions[0]["name"]
        )
        script = hooks.ecs_tasks.next_script(
            task_definition.arn, container_environment(overrides, job_container)
        )
        if script.launch_latency_seconds:
            with hooks.request_lock.suspended():
                time.sleep(script.launch_latency_seconds)
        if script.launch_failure == THROTTLE:
            raise _EcsThrottlingError()
        if script.launch_failure is not None:
            return ActionResult(
                {
                    "tasks": [],
                    "failures": [{"arn": task_definition.arn, "reason": script.launch_failure}],
                }
            )
        result = original_run_task(self)
        for task in cast(dict[str, Any], result.result)["tasks"]:
            task.containers = _containers(task, task_definition)
            hooks.ecs_tasks.launched(task, script, job_container)
        return result

    def advance(self: Any) -> None:
        hooks = _active()
        if hooks.ecs_tasks.is_scripted(self):
            hooks.ecs_tasks.settle(self)
        else:
            original_advance(self)

    def stop_task(self: Any, cluster_str: str, task_str: str, reason: str) -> Any:
        hooks = _active()
        for task in self.describe_tasks(cluster_str, [task_str]):  # settles first
            if hooks.ecs_tasks.is_scripted(task):
                if task.last_status != "STOPPED":
                    original_stop_task(self, cluster_str, task_str, reason)
                    hooks.ecs_tasks.stop_task(task, reason)
                return task
        return original_stop_task(self, cluster_str, task_str, reason)

    patcher.replace(EC2ContainerServiceResponse, "run_task", run_task)
    patcher.replace(Task, "advance", advance)
    patcher.replace(EC2ContainerServiceBackend, "stop_task", stop_task)


# --- Gap 6: JSONata is stubbed ----------------------------------------------------------------


def _sfn_parse(text: str) -> Any:
    return json.loads(text)


_HASH_ALGORITHMS = {
    "MD5": "md5",
    "SHA-1": "sha1",
    "SHA-256": "sha256",
    "SHA-384": "sha384",
    "SHA-512": "sha512",
}


def _sfn_hash(value: str, algorithm: str) -> str:
    if algorithm not in _HASH_ALGORITHMS:
        raise ValueError(f"$hash: algorithm must be one of {sorted(_HASH_ALGORITHMS)}")
    return hashlib.new(_HASH_ALGORITHMS[algorithm], value.encode()).hexdigest()


def _sfn_eval_unsupported(*_: Any) -> Any:
    raise ValueError("$eval is not supported by Step Functions: use $parse")


_SFN_JSONATA_FUNCTIONS: Mapping[str, Callable[..., Any]] = {
    "uuid": lambda: str(uuid.uuid4()),
    "parse": _sfn_parse,
    "hash": _sfn_hash,
    "eval": _sfn_eval_unsupported,
}


def evaluate_jsonata(expression: str) -> Any:
    """Evaluate a complete JSONata expression (moto inlines the variables) like Step Functions:
    with its extra functions, and a plain JSON result."""
    try:
        compiled = jsonata.Jsonata(expression)
        for name, function in _SFN_JSONATA_FUNCTIONS.items():
            compiled.register_lambda(name, function)
        return _plain_json(compiled.evaluate(None))
    except (jsonata.JException, ValueError, TypeError) as error:
        raise moto_jsonata.JSONataException("States.QueryEvaluationError", str(error)) from error


def _plain_json(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: _plain_json(item) for key, item in value.items()}
    if isinstance(value, list):  # jsonata's sequences are list subclasses
        return [_plain_json(item) for item in value]
    if isinstance(value, float) and value.is_integer() and abs(value) < 2**53:
        return int(value)  # JSON has one number type: 2.0 is 2, as AWS prints it
    return value


def _encode_declarations(bindings: dict[str, Any]) -> str:
    """moto's `encode_jsonata_variable_declarations`, with string values JSON-escaped (moto wraps
    them in quotes as they are, so a quote, backslash or newline in a variable breaks the
    expression)."""
    return "".join(
        f"{reference}:={json.dumps(value) if isinstance(value, str) else to_json_str(value)};"
        for reference, value in bindings.items()
    )


def _shim_jsonata(patcher: _Patcher) -> None:
    """moto 5.2.5 ships JSONata without an evaluator (`_eval_jsonata` is None: every JSONata state
    fails with `'NoneType' object is not callable`), inlines string variables unescaped, and
    stubs `$uuid`/`$hash` with text ("not supported") and `$parse` with `$eval`. Patched: the
    evaluator is jsonata-python (Step Functions' `$uuid`, `$hash`, `$parse` as native functions,
    `$eval` rejected as in AWS; `$partition`, `$range` keep moto's JSONata definitions), and
    variables are encoded as JSON; an expression that fails raises States.QueryEvaluationError
    (moto would report States.Runtime). Canaries: `test_jsonata_has_no_evaluator`,
    `test_jsonata_string_variables_are_not_escaped`."""
    patcher.replace(moto_jsonata, "_eval_jsonata", evaluate_jsonata)
    original_eval_body = StringJSONata._eval_body

    def _eval_body(self: Any, env: Any) -> None:
        try:
            original_eval_body(self, env)
        except moto_jsonata.JSONataException as error:
            # As AWS: a failing expression is States.QueryEvaluationError, not States.Runtime.
            name = StatesErrorName(typ=StatesErrorNameType.StatesQueryEvaluationError)
            details = EvaluationFailedEventDetails(
                error=name.error_name,
                cause=f"The JSONata expression '{self.expression}' failed: {error.details}",
            )
            env.event_manager.add_event(
                context=env.event_history_context,
                event_type=HistoryEventType.EvaluationFailed,
                event_details=_event_details(evaluationFailedEventDetails=details),
            )
            raise FailureEventException(
                FailureEvent(
                    env=env,
                    error_name=name,
                    event_type=HistoryEventType.EvaluationFailed,
                    event_details=_event_details(evaluationFailedEventDetails=details),
                )
            ) from error

    patcher.replace(StringJSONata, "_eval_body", _eval_body)
    patcher.replace(moto_sfn_states, "encode_jsonata_variable_declarations", _encode_declarations)
    patcher.replace(
        moto_sfn_variable_store, "encode_jsonata_variable_declarations", _encode_declarations
    )
    for reference in ("$uuid", "$hash", "$parse"):
        patcher.remove_item(moto_sfn_functions._DECLARATION_BY_VARIABLE_REFERENCE, reference)


def _shim_dynamodb_keeps_evaluation_errors(patcher: _Patcher) -> None:
    """moto 5.2.5's DynamoDB integration names every non-ClientError it sees
    `DynamoDB.AmazonDynamoDBException` (empty cause), including a States.QueryEvaluationError
    raised while evaluating the state's JSONata Arguments: a Retry on DynamoDB errors would retry
    a template bug. Patched: errors that already are Step Functions failures keep their name.
    Canary: `test_dynamodb_integration_renames_evaluation_errors`."""
    original = StateTaskServiceDynamoDB._from_error

    def _from_error(self: Any, env: Any, ex: Exception) -> Any:
        if isinstance(ex, FailureEventException):
            return ex.failure_event
        return original(self, env, ex)

    patcher.replace(StateTaskServiceDynamoDB, "_from_error", _from_error)


# --- Gap 7: $$.Execution.StartTime is a datetime ----------------------------------------------


def aws_timestamp(moment: datetime) -> str:
    """Step Functions' context-object time format: `2026-11-22T03:00:00.123Z`."""
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def _shim_context_start_time(patcher: _Patcher) -> None:
    """moto 5.2.5 puts the execution's start `datetime` itself into the context object:
    `$$.Execution.StartTime` in an output breaks DescribeExecution (not JSON-serialisable) and
    `$states.context.Execution.StartTime` becomes Python's isoformat (`+00:00`, microseconds).
    Patched: the context carries AWS's string (`...T03:00:00.123Z`).
    Canary: `test_context_start_time_is_a_datetime`."""
    original = ExecutionWorker._get_evaluation_environment

    def _get_evaluation_environment(self: Any) -> Any:
        env = original(self)
        execution = env.states.context_object.context_object_data["Execution"]
        if isinstance(execution["StartTime"], datetime):
            execution["StartTime"] = aws_timestamp(execution["StartTime"])
        return env

    patcher.replace(ExecutionWorker, "_get_evaluation_environment", _get_evaluation_environment)


# --- Engine: DescribeExecution -----------------------------------------------------------------


def _shim_describe_execution(patcher: _Patcher) -> None:
    """moto 5.2.5's DescribeExecution response returns a string output unencoded (an execution
    whose output is "abc" describes as `abc`, not `"abc"`), and omits stopDate for TIMED_OUT.
    The parser's own `Execution.to_describe_output` gets both right: the response uses it.
    Canary: `test_describe_execution_garbles_string_output_and_timed_out_stop_date`."""
    original = StepFunctionResponse.describe_execution

    def describe_execution(self: Any) -> Any:
        execution = self.stepfunction_backend.describe_execution(self._get_param("executionArn"))
        if not hasattr(execution, "to_describe_output"):  # not run by the parser backend
            return original(self)
        return ActionResult(execution.to_describe_output())

    patcher.replace(StepFunctionResponse, "describe_execution", describe_execution)


# --- Engine: terminal states are final --------------------------------------------------------


def _shim_terminal_states_are_final(patcher: _Patcher) -> None:
    """In moto 5.2.5 an error raised after StopExecution or the execution timeout (e.g. by the
    Task state that was running) turns ABORTED / TIMED_OUT into FAILED: `Environment.set_error`
    overwrites any program state. In AWS a stopped or timed-out execution stays so. Patched:
    `set_error` leaves a stopped or timed-out program alone.
    Canary: `test_set_error_overwrites_a_stopped_execution`."""
    original = Environment.set_error

    def set_error(self: Any, error: Any) -> None:
        with self._state_mutex:
            if isinstance(self._program_state, ProgramStopped | ProgramTimedOut):
                return
            original(self, error)

    patcher.replace(Environment, "set_error", set_error)


# --- Engine: execution status change events ---------------------------------------------------


def _shim_execution_status_events(patcher: _Patcher) -> None:
    """moto 5.2.5 emits no "Step Functions Execution Status Change" events to EventBridge.
    Patched: when an execution's worker reports it terminated, the harness is told (it builds
    the event and calls the subscribed handlers).
    Canary: `test_no_execution_status_change_events_reach_eventbridge`."""
    original = BaseExecutionWorkerCommunication.terminated

    def terminated(self: Any) -> None:
        original(self)
        try:
            _active().execution_ended(self.execution)
        except Exception:
            LOG.exception("Delivering the status change of %s failed", self.execution.exec_arn)

    patcher.replace(BaseExecutionWorkerCommunication, "terminated", terminated)


# --- Engine: DeleteStateMachine ---------------------------------------------------------------

# The state machines being deleted (ARNs): DeleteStateMachine was called while they had
# running executions. Cleared with the shims.
_deleting: set[str] = set()


def _running_executions(backend: Any, arn: str) -> list[Any]:
    return [
        e for e in backend._get_executions() if e.state_machine_arn == arn and e.status == "RUNNING"
    ]


def _shim_delete_state_machine(patcher: _Patcher) -> None:
    """moto 5.2.5 deletes a state machine at once, and its running executions run on through
    their own states (recording outcomes no deleted machine could). In AWS, DeleteStateMachine
    "sets the state machine's status to DELETING … A state machine is deleted only when all its
    executions are completed. On the next state transition, the state machine's executions are
    terminated" (API Reference), failing with `States.Runtime`, "State machine <name> has been
    deleted." (AWS re:Post, step-functions-stuck-deleting-status). A task a `.sync` state
    waits on is not stopped. Patched: a machine with running executions stays, DescribeState-
    Machine says DELETING, an execution entering its next state fails so, and once its last
    execution ended DescribeStateMachine says StateMachineDoesNotExist (its executions stay
    readable here: whether AWS keeps them is not documented).
    Canary: `test_delete_state_machine_lets_its_running_executions_run_on`."""
    from moto.stepfunctions.exceptions import StateMachineDoesNotExist
    from moto.stepfunctions.parser.api import ExecutionFailedEventDetails
    from moto.stepfunctions.parser.asl.component.state.state import CommonStateField
    from moto.stepfunctions.parser.models import StepFunctionsParserBackend

    delete = StepFunctionsParserBackend.delete_state_machine
    describe = StepFunctionResponse._describe_state_machine
    enter = CommonStateField.eval
    _deleting.clear()
    patcher._undo.append(_deleting.clear)

    def delete_state_machine(self: Any, arn: str) -> None:
        if _running_executions(self, arn):
            _deleting.add(arn)
        else:
            delete(self, arn)

    def describe_state_machine(self: Any, state_machine_arn: str) -> Any:
        result = describe(self, state_machine_arn)
        if state_machine_arn in _deleting:
            if not _running_executions(self.stepfunction_backend, state_machine_arn):
                raise StateMachineDoesNotExist(
                    f"State Machine Does Not Exist: '{state_machine_arn}'"
                )
            cast(dict[str, Any], result.result)["status"] = "DELETING"
        return result

    def eval_state(self: Any, env: Any) -> None:
        machine = env.states.context_object.context_object_data["StateMachine"]
        if machine["Id"] in _deleting and env.is_running():
            env.set_error(
                ExecutionFailedEventDetails(
                    error="States.Runtime",
                    cause=f"State machine {machine['Name']} has been deleted.",
                )
            )
            return
        enter(self, env)

    patcher.replace(StepFunctionsParserBackend, "delete_state_machine", delete_state_machine)
    patcher.replace(StepFunctionResponse, "_describe_state_machine", describe_state_machine)
    patcher.replace(CommonStateField, "eval", eval_state)


# --- Engine: concurrent requests --------------------------------------------------------------

_UNLOCKED_TARGETS = frozenset({"AWSStepFunctions.StartSyncExecution"})


def _shim_request_isolation(patcher: _Patcher) -> None:
    """moto 5.2.5 serves requests from many threads at once with no isolation: two DynamoDB
    conditional writes on one item can both pass, two StartExecution with one name can both start,
    and ECS task dicts change size during DescribeTasks. AWS makes each call atomic. Patched:
    every request holds the `RequestLock` (Lambda handlers step out of it; StartSyncExecution,
    which runs a whole execution inside the call, is left unlocked).
    Canary: `test_moto_serves_concurrent_requests_without_isolation`."""
    original = BotocoreStubber.process_request

    def process_request(self: Any, request: Any) -> Any:
        target = request.headers.get("X-Amz-Target")
        if isinstance(target, bytes):
            target = target.decode()
        if target in _UNLOCKED_TARGETS:
            return original(self, request)
        with _active().request_lock:
            return original(self, request)

    patcher.replace(BotocoreStubber, "process_request", process_request)


# --- Speed, not a gap: each definition is parsed once -------------------------------------------

_PARSED: dict[str, tuple[Any, Any]] = {}
_PARSED_LOCK = threading.Lock()


def _shim_parse_each_definition_once(patcher: _Patcher) -> None:
    """Not an AWS gap: moto 5.2.5 runs its (pure-Python) ANTLR parser over the whole definition
    at CreateStateMachine and again at every StartExecution, about 70 ms of CPU each for a job's
    machine: most of the simulation's and the tests' time. Patched: a definition that parsed
    is parsed once per process, and every caller gets its own deep copy of the program (the
    evaluation components, about 4 ms to copy), so no execution shares a component with another
    and each behaves exactly as after a fresh parse. CreateStateMachine's check, which parses
    only to see that the definition parses, takes a definition that parsed before as valid
    without copying its program (each test deploys the same definitions into a fresh engine:
    about 8% of a simulation's CPU). A definition that fails to parse is parsed (and fails)
    every time. Canary: `test_every_execution_parses_its_definition_again`."""
    from moto.stepfunctions.parser.models import StepFunctionsParserBackend

    original = AmazonStateLanguageParser.parse
    original_validate = StepFunctionsParserBackend._validate_definition

    def parse(definition: str) -> tuple[Any, Any]:
        with _PARSED_LOCK:
            parsed = _PARSED.get(definition)
        if parsed is None:
            parsed = original(definition)  # raises for a definition that does not parse
            with _PARSED_LOCK:
                _PARSED.setdefault(definition, parsed)
        program, tree = parsed
        return copy.deepcopy(program), tree

    def validate_definition(definition: str) -> None:
        with _PARSED_LOCK:
            if definition in _PARSED:
                return
        original_validate(definition)  # parses, and caches what parsed

    patcher.replace(AmazonStateLanguageParser, "parse", staticmethod(parse))
    patcher.replace(
        StepFunctionsParserBackend, "_validate_definition", staticmethod(validate_definition)
    )


def _service_client(region: str, service: str, state_credentials: Any = None) -> Any:
    """moto's client for a service integration, made once per region and service and process
    (``boto_client_for`` ignores ``state_credentials``: its client depends on nothing else). A
    client made after moto is imported is served by whichever mock is running."""
    return _client_made_once(region, service)


@functools.cache
def _client_made_once(region: str, service: str) -> Any:
    return boto_client_for(region=region, service=service)


def _shim_service_clients_made_once(patcher: _Patcher) -> None:
    """Not an AWS gap: moto 5.2.5's service integrations create a new boto3 client for every
    call they make (``boto_client_for``: each Lambda invoke, each RunTask and DescribeTasks of
    a `.sync` state), about a sixth of a simulation's CPU. Patched: the integrations cronguard's
    state machines use (Lambda, ECS, and DynamoDB) share one client per region and service,
    made by moto's own ``boto_client_for`` (so with its configuration), as boto3 clients are
    meant to be shared between threads. Canary: `test_each_service_call_makes_a_new_client`."""
    from moto.stepfunctions.parser.asl.component.state.exec.state_task import lambda_eval_utils
    from moto.stepfunctions.parser.asl.component.state.exec.state_task.service import (
        state_task_service_dynamodb,
        state_task_service_ecs,
    )

    for module in (lambda_eval_utils, state_task_service_dynamodb, state_task_service_ecs):
        patcher.replace(module, "boto_client_for", _service_client)


# --- helpers ----------------------------------------------------------------------------------


def _task_failed_event(integration: Any, env: Any, error: str, cause: str) -> Any:
    error_name = (
        StatesErrorName(typ=StatesErrorNameType.StatesTaskFailed)
        if error == StatesErrorNameType.StatesTaskFailed.to_name()
        else CustomErrorName(error)
    )
    return FailureEvent(
        env=env,
        error_name=error_name,
        event_type=HistoryEventType.TaskFailed,
        event_details=_event_details(
            taskFailedEventDetails=TaskFailedEventDetails(
                error=error,
                cause=cause,
                resource=integration._get_sfn_resource(),
                resourceType=integration._get_sfn_resource_type(),
            )
        ),
    )


def _event_details(**details: Any) -> Any:
    """moto's `EventDetails` (a total TypedDict that moto itself fills with one key)."""
    return cast(Any, EventDetails)(**details)


def _json_object(text: str) -> dict[str, Any]:
    try:
        value = json.loads(text)
    except (TypeError, ValueError):
        return {}
    return value if isinstance(value, dict) else {}


_SHIMS: tuple[Callable[[_Patcher], None], ...] = (
    _shim_request_isolation,
    _shim_lambda_in_process,
    _shim_lambda_unknown_error,
    _shim_sfn_parameter_casing,
    _shim_sfn_ecs_run_task,
    _shim_ecs_task_scripts,
    _shim_jsonata,
    _shim_dynamodb_keeps_evaluation_errors,
    _shim_context_start_time,
    _shim_describe_execution,
    _shim_terminal_states_are_final,
    _shim_execution_status_events,
    _shim_delete_state_machine,
    _shim_parse_each_definition_once,
    _shim_service_clients_made_once,
)
