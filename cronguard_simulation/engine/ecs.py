"""A scripted container runtime behind moto's ECS: what each RunTask does and how it ends.

moto starts every task and walks it to STOPPED by itself after a few DescribeTasks, always with
exit code 0. Here each RunTask of a task definition consumes the next `TaskScript` queued for it:
the launch fails the way AWS reports it, or the task runs for the scripted wall-clock duration and
then stops with the scripted exit code, exactly like an essential container exiting. Everything a
task really received (environment overrides, startedBy, group) is recorded as a `StartedTask`.
"""

from __future__ import annotations

import dataclasses
import threading
from collections import deque
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any

THROTTLE = "throttle"
"""`TaskScript.launch_failure` value that makes RunTask itself fail with a throttling error."""

ESSENTIAL_CONTAINER_EXITED = "EssentialContainerExited"
USER_INITIATED = "UserInitiated"
SPOT_INTERRUPTION = "SpotInterruption"
# The task's stoppedReason for a scripted stop code, as ECS words it.
STOPPED_REASONS = {SPOT_INTERRUPTION: "Your Spot Task was interrupted."}


class StopCause(StrEnum):
    """Why a task stopped."""

    EXITED = "exited"
    """Its essential container exited on its own (the scripted duration elapsed)."""
    EXECUTION_STOPPED = "execution_stopped"
    """Step Functions stopped it: StopExecution aborted the execution."""
    STATE_TIMED_OUT = "state_timed_out"
    """Step Functions stopped it: the Task state's TimeoutSeconds elapsed."""
    EXECUTION_TIMED_OUT = "execution_timed_out"
    """Step Functions stopped it: the execution's TimeoutSeconds elapsed."""
    EXECUTION_FAILED = "execution_failed"
    """Step Functions stopped it: the execution failed elsewhere (e.g. a Parallel branch)."""
    STOP_TASK = "stop_task"
    """Somebody else called StopTask."""


@dataclass(frozen=True)
class TaskScript:
    """What one RunTask does.

    `launch_failure` None starts the task; `THROTTLE` makes RunTask raise ThrottlingException (the
    state sees `ECS.AmazonECSException`); any other string, e.g. "RESOURCE:FARGATE", is returned
    as the reason of a RunTask `Failures` entry (a `.sync` state sees `AmazonECS.Unknown`).
    A started task runs `duration_seconds` of wall-clock time, then its job container exits
    with `exit_code` (and each sidecar with its `sidecar_exit_codes` entry, 0 if none, as ECS
    stops it); `stop_code` says why the task stopped (by default its essential container
    exited; "SpotInterruption" is Fargate Spot taking the capacity back). With `ended_by`, that
    essential sidecar exits instead (with its entry) and ECS stops the job container
    (`exit_code_on_stop`). `exit_code_on_stop` is each container's exit code when StopTask ends
    the task earlier (143 = terminated by SIGTERM).
    `launch_latency_seconds` is how long the RunTask call itself takes to return (other API
    calls proceed meanwhile). With `held_by`, the task also runs until that event is set: a
    run another step must overlap, whatever the machine's load (StopTask still ends it at
    once).
    """

    duration_seconds: float = 0.1
    exit_code: int = 0
    stop_code: str = ESSENTIAL_CONTAINER_EXITED
    launch_failure: str | None = None
    exit_code_on_stop: int = 143
    launch_latency_seconds: float = 0.0
    held_by: threading.Event | None = field(default=None, compare=False)
    sidecar_exit_codes: Mapping[str, int] = field(default_factory=dict)
    ended_by: str | None = None

    def exit_codes(self, job_container: str, containers: list[str]) -> dict[str, int]:
        """Each container's exit code once the scripted duration is over."""
        codes = {name: self.sidecar_exit_codes.get(name, 0) for name in containers}
        codes[job_container] = self.exit_code if self.ended_by is None else self.exit_code_on_stop
        return codes


@dataclass(frozen=True)
class StartedTask:
    """A task that RunTask really started, as the harness saw it (a snapshot)."""

    task_arn: str
    cluster_arn: str
    task_definition_arn: str
    started_by: str
    group: str
    overrides: dict[str, Any]
    environment: dict[str, str]
    """Environment overrides of the job container (what the job process would see added)."""
    execution_arn: str | None
    """The Step Functions execution whose Task state called RunTask (None for direct calls)."""
    script: TaskScript
    job_container: str
    started_at: datetime
    stopped_at: datetime | None = None
    exit_code: int | None = None
    """The job container's."""
    container_exit_codes: Mapping[str, int] = field(default_factory=dict)
    stop_code: str | None = None
    stopped_reason: str | None = None
    stop_cause: StopCause | None = None

    @property
    def running(self) -> bool:
        return self.stopped_at is None


class EcsSimulator:
    """Scripts, launches and stops tasks on moto's ECS models.

    Not thread-safe by itself: the harness calls it while holding its request lock (every moto
    request holds it too), so task state never changes under a concurrent DescribeTasks.
    """

    def __init__(self, default_script: TaskScript) -> None:
        self.default_script = default_script
        self._queues: dict[str, deque[TaskScript]] = {}
        # (task definition, environment it must carry) -> scripts, consulted before _queues
        self._matched: dict[tuple[str, frozenset[tuple[str, str]]], deque[TaskScript]] = {}
        self._defaults: dict[str, TaskScript] = {}
        self._tasks: dict[str, StartedTask] = {}
        self._models: dict[str, Any] = {}
        self._stop_causes: dict[str, StopCause] = {}
        self._launching = threading.local()
        self._runs_in_flight: dict[str, int] = {}
        self._runs_changed = threading.Condition()

    def queue(
        self,
        task_definition_arn: str,
        scripts: tuple[TaskScript, ...],
        default: TaskScript | None,
        environment: dict[str, str] | None = None,
    ) -> None:
        if environment:
            key = (task_definition_arn, frozenset(environment.items()))
            self._matched.setdefault(key, deque()).extend(scripts)
        else:
            self._queues.setdefault(task_definition_arn, deque()).extend(scripts)
        if default is not None:
            self._defaults[task_definition_arn] = default

    def next_script(self, task_definition_arn: str, environment: dict[str, str]) -> TaskScript:
        """The script of a RunTask whose essential container gets `environment` overrides: the
        first queue for exactly that task definition and some of that environment, else the
        task definition's own queue, else its default."""
        given = set(environment.items())
        for (arn, required), matched in self._matched.items():
            if arn == task_definition_arn and matched and required <= given:
                return matched.popleft()
        queue = self._queues.get(task_definition_arn)
        if queue:
            return queue.popleft()
        return self._defaults.get(task_definition_arn, self.default_script)

    def run_started(self, execution_arn: str) -> None:
        """A Task state of this execution is running an ECS integration (until it is done with
        its task, including any StopTask). Thread-safe, unlike the rest."""
        with self._runs_changed:
            self._runs_in_flight[execution_arn] = self._runs_in_flight.get(execution_arn, 0) + 1

    def run_ended(self, execution_arn: str) -> None:
        with self._runs_changed:
            self._runs_in_flight[execution_arn] -= 1
            if not self._runs_in_flight[execution_arn]:
                del self._runs_in_flight[execution_arn]
                self._runs_changed.notify_all()

    def wait_runs_ended(self, execution_arn: str, timeout: float) -> bool:
        with self._runs_changed:
            return self._runs_changed.wait_for(
                lambda: execution_arn not in self._runs_in_flight, timeout
            )

    @contextmanager
    def launching_for(self, execution_arn: str) -> Iterator[None]:
        """Attribute RunTask calls made by this thread to a Step Functions execution."""
        self._launching.execution_arn = execution_arn
        try:
            yield
        finally:
            self._launching.execution_arn = None

    def launched(self, task: Any, script: TaskScript, job_container: str) -> None:
        """Record a task moto just created and make it look like a RUNNING Fargate task;
        ``job_container`` names the container RunTask's overrides are for."""
        now = datetime.now(UTC)
        task.created_at = now
        task.started_at = now
        task.last_status = "RUNNING"
        task.stopped_reason = None  # moto says "": AWS has no StoppedReason until it stops
        for container in task.containers:
            container.task_arn = task.task_arn  # moto puts the task definition ARN here
            container.last_status = "RUNNING"
            container.exitCode = None  # absent until the container stops
        self._models[task.task_arn] = task
        self._tasks[task.task_arn] = StartedTask(
            task_arn=task.task_arn,
            cluster_arn=task.cluster_arn,
            task_definition_arn=task.task_definition_arn,
            started_by=task.started_by,
            group=task.group,
            overrides=task.overrides,
            environment=container_environment(task.overrides, job_container),
            job_container=job_container,
            execution_arn=getattr(self._launching, "execution_arn", None),
            script=script,
            started_at=now,
        )

    def is_scripted(self, task: Any) -> bool:
        return task.task_arn in self._tasks

    def settle(self, task: Any) -> None:
        """Stop the task if its scripted duration has elapsed (called on every DescribeTasks)."""
        record = self._tasks[task.task_arn]
        ends_at = _scripted_end(record)
        now = datetime.now(UTC)
        if ends_at is not None and now >= ends_at:
            names = [container.name for container in task.containers]
            self._stop(
                task,
                at=ends_at if record.script.held_by is None else now,
                exit_codes=record.script.exit_codes(record.job_container, names),
                stop_code=record.script.stop_code,
                reason=STOPPED_REASONS.get(
                    record.script.stop_code, "Essential container in task exited"
                ),
                cause=StopCause.EXITED,
            )

    def seconds_to_end(self, task_arn: str) -> float | None:
        """How long until the task ends by its script, if it runs and nothing holds it."""
        record = self._tasks.get(task_arn)
        ends_at = None if record is None else _scripted_end(record)
        if ends_at is None:
            return None
        return max(0.0, (ends_at - datetime.now(UTC)).total_seconds())

    def expect_stop(self, task_arn: str, cause: StopCause) -> None:
        """Say why the next StopTask of this task happens (Step Functions stopping it)."""
        self._stop_causes[task_arn] = cause

    def stop_task(self, task: Any, reason: str) -> None:
        """StopTask: the container gets SIGTERM and exits with `exit_code_on_stop`."""
        record = self._tasks[task.task_arn]
        self._stop(
            task,
            at=datetime.now(UTC),
            exit_codes={c.name: record.script.exit_code_on_stop for c in task.containers},
            stop_code=USER_INITIATED,
            reason=reason,
            cause=self._stop_causes.pop(task.task_arn, StopCause.STOP_TASK),
        )

    def started(self, task_definition_arn: str | None = None) -> list[StartedTask]:
        for task_arn, model in self._models.items():
            if self._tasks[task_arn].running:
                self.settle(model)
        return [
            record
            for record in self._tasks.values()
            if task_definition_arn is None or record.task_definition_arn == task_definition_arn
        ]

    def _stop(
        self,
        task: Any,
        *,
        at: datetime,
        exit_codes: dict[str, int],
        stop_code: str,
        reason: str,
        cause: StopCause,
    ) -> None:
        task.last_status = "STOPPED"
        task.desired_status = "STOPPED"
        task.stopping_at = at
        task.execution_stopped_at = at
        task.stopped_at = at
        task.stop_code = stop_code
        task.stopped_reason = reason
        for container in task.containers:
            container.last_status = "STOPPED"
            container.exitCode = exit_codes[container.name]
        record = self._tasks[task.task_arn]
        self._tasks[task.task_arn] = dataclasses.replace(
            record,
            stopped_at=at,
            exit_code=exit_codes.get(record.job_container),
            container_exit_codes=exit_codes,
            stop_code=stop_code,
            stopped_reason=reason,
            stop_cause=cause,
        )


def _scripted_end(record: StartedTask) -> datetime | None:
    """When a running task ends by its script: its duration after it started, or None while
    it is stopped already or held (``held_by`` not yet set)."""
    held = record.script.held_by
    if not record.running or (held is not None and not held.is_set()):
        return None
    return record.started_at + timedelta(seconds=record.script.duration_seconds)


def overridden_container(overrides: dict[str, Any], default: str) -> str:
    """The container RunTask's overrides are for: the job's (the state machine overrides its
    environment alone), found by name, wherever the task lists it."""
    for override in overrides.get("containerOverrides", []):
        return str(override.get("name", default))
    return default


def container_environment(overrides: dict[str, Any], container: str | None) -> dict[str, str]:
    """A container's environment in RunTask `overrides` (camelCase, as moto stores them)."""
    environment: dict[str, str] = {}
    for override in overrides.get("containerOverrides", []):
        if override.get("name") == container:
            for variable in override.get("environment", []):
                environment[variable["name"]] = variable["value"]
    return environment
