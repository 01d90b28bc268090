"""How a run ended, read from what ``ecs:runTask.sync`` returned or the error it raised."""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from typing import Any

from lambdas.core import errors
from lambdas.core.ledger_contract import Status
from lambdas.core.tasks import TaskStop


@dataclass(frozen=True)
class Outcome:
    """How a run ended, as its slot's record keeps it."""

    status: Status
    reason: str
    task_arn: str | None = None
    exit_code: int | None = None
    stopped_reason: str | None = None
    task_stop: str | None = None  # what the guard did to make sure the run's task stopped
    stop_code: str | None = None  # ECS's stopCode of the task (e.g. SpotInterruption)

    def with_stop(self, stop: TaskStop) -> Outcome:
        """This outcome, with what stopping the run's tasks found and did."""
        first = stop.task_arns[0] if stop.task_arns else None
        return replace(self, task_arn=self.task_arn or first, task_stop=stop.summary)


def _container(task: dict[str, Any], name: str) -> dict[str, Any]:
    """The job's container, by name: a task may list a sidecar (e.g. the GuardDuty runtime
    agent) first, and only the job's own container decides how the run ended."""
    for container in task.get("Containers") or []:
        if isinstance(container, dict) and container.get("Name") == name:
            return container
    return {}


def _exit_code(task: dict[str, Any], container: str) -> int | None:
    code = _container(task, container).get("ExitCode")
    return code if isinstance(code, int) and not isinstance(code, bool) else None


def _stopped_reason(task: dict[str, Any], container: str) -> str | None:
    reason = _container(task, container).get("Reason") or task.get("StoppedReason")
    return str(reason) if reason else None


def succeeded(task: Any, *, container: str) -> Outcome:
    """The outcome of a run whose task ``runTask.sync`` returned; ``container`` names the
    job's container in the task definition."""
    task = task if isinstance(task, dict) else {}
    return Outcome(
        status=Status.SUCCEEDED,
        reason="job exited 0",
        task_arn=task.get("TaskArn"),
        exit_code=_exit_code(task, container),
        stopped_reason=_stopped_reason(task, container),
    )


def failed(error: Any, *, container: str) -> Outcome:
    """Map the state's error (``{"Error", "Cause"}``) to a ledger outcome; ``container``
    names the job's container in the task definition."""
    error = error if isinstance(error, dict) else {}
    name = str(error.get("Error") or "States.Runtime")
    cause_text = error.get("Cause")
    try:
        cause = json.loads(cause_text) if isinstance(cause_text, str) else None
    except ValueError:
        cause = None
    task = cause if isinstance(cause, dict) and "TaskArn" in cause else {}
    if name == "States.Timeout":
        return Outcome(Status.TIMED_OUT, "job exceeded its timeout", task.get("TaskArn"))
    if name in errors.LAUNCH_ERRORS:
        detail = cause_text if isinstance(cause_text, str) else name
        return Outcome(Status.FAILED, f"launch failed: {detail[:500]}")
    if task:
        code = _exit_code(task, container)
        what = f"job exited {code}" if code is not None else "job task stopped"
        return Outcome(
            Status.FAILED,
            what,
            task_arn=task.get("TaskArn"),
            exit_code=code,
            stopped_reason=_stopped_reason(task, container),
            stop_code=str(task["StopCode"]) if task.get("StopCode") else None,
        )
    detail = cause_text[:500] if isinstance(cause_text, str) else ""
    return Outcome(Status.FAILED, f"{name}: {detail}" if detail else name)


def of_failed_execution(error: Any, cause: Any, *, container: str) -> Outcome | None:
    """How a run ended, read from the error and cause a FAILED execution ended with (the
    status-change event's ``detail.error``/``detail.cause``), or None if the execution did not
    end in ``Failed`` or ``Success not recorded``.

    ``Success not recorded`` carries the stopped task (it exited 0: the slot is SUCCEEDED);
    ``Failed`` carries the ``{"Error", "Cause"}`` that ``Run job`` failed with.
    """
    try:
        parsed = json.loads(cause) if isinstance(cause, str) else None
    except ValueError:
        parsed = None
    if error == errors.SUCCESS_NOT_RECORDED and isinstance(parsed, dict):
        return succeeded(parsed, container=container)
    if error in set(errors.BY_ORIGINAL_ERROR.values()) | {errors.RUN_FAILED}:
        return failed(parsed, container=container)
    return None
