"""How a run ended, read from what ``ecs:runTask.sync`` returned or the error it raised."""

from __future__ import annotations

import json
from collections.abc import Sequence
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


# A container ECS stopped (SIGTERM, then SIGKILL after its stop timeout) exits 143 or 137.
STOPPED_EXIT_CODES = (137, 143)


def _exits(task: dict[str, Any], container: str) -> list[tuple[str, int]]:
    """The containers other than ``container`` that exited: (name, exit code)."""
    found = []
    for other in task.get("Containers") or []:
        if isinstance(other, dict) and other.get("Name") != container:
            code = other.get("ExitCode")
            if isinstance(code, int) and not isinstance(code, bool):
                found.append((str(other.get("Name")), code))
    return found


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


def failed(error: Any, *, container: str, essential: Sequence[str] = ()) -> Outcome:
    """Map the state's error (``{"Error", "Cause"}``) to a ledger outcome; ``container``
    names the job's container in the task definition, ``essential`` its essential sidecars.
    The exit code recorded is always the job container's."""
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
        others = _exits(task, container)
        # An essential sidecar that exited of its own accord (not stopped by ECS), when ECS
        # stopped the job container with it.
        stopped_by = [
            (name, other)
            for name, other in others
            if name in essential and other not in STOPPED_EXIT_CODES
        ]
        if stopped_by and (code is None or code in STOPPED_EXIT_CODES):
            what = f"essential container {stopped_by[0][0]} exited {stopped_by[0][1]}"
        elif code == 0 and any(other for _, other in others):
            # Step Functions fails runTask.sync when any container exits non-zero.
            sidecar, sidecar_code = next((n, c) for n, c in others if c)
            what = f"job exited 0, but container {sidecar} exited {sidecar_code}"
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


def of_failed_execution(
    error: Any, cause: Any, *, container: str, essential: Sequence[str] = ()
) -> Outcome | None:
    """How a run ended, read from the error and cause a FAILED execution ended with (the
    status-change event's ``detail.error``/``detail.cause``), or None if the execution did not
    end in ``Failed`` or ``Success not recorded``; ``container`` and ``essential`` as ``failed``
    takes them.

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
        return failed(parsed, container=container, essential=essential)
    return None


REMOVED = "job removed while running"
REMOVED_STOP_REASON = f"cronguard: {REMOVED}"  # StopTask's reason: the task says who stopped it


def _pascal(task: dict[str, Any]) -> dict[str, Any]:
    """A DescribeTasks task (camelCase) in the shape ``runTask.sync`` returns (PascalCase),
    the fields an outcome reads."""
    return {
        "TaskArn": task.get("taskArn"),
        "StoppedReason": task.get("stoppedReason"),
        "Containers": [
            {"Name": c.get("name"), "ExitCode": c.get("exitCode"), "Reason": c.get("reason")}
            for c in task.get("containers") or []
            if isinstance(c, dict)
        ],
    }


def of_removed_run(
    tasks: Sequence[dict[str, Any]], stop: TaskStop | None, *, container: str
) -> Outcome:
    """How a run ended whose state machine was deleted under it (its job removed or renamed):
    no state of it can record anything any more. ``tasks``: its tasks as DescribeTasks shows
    them after ``stop`` (what stopping them found and did).

    A task the cleanup had to stop is ABORTED, saying so, with its exit code — whichever of
    the cleanup's paths records it (the stop's reason is on the task); a task that had ended by
    itself is recorded as it ended (exit 0 is a success); no task at all is ABORTED."""
    task = _pascal(tasks[0]) if tasks else {}
    code = _exit_code(task, container)
    stopped_by_removal = (stop is not None and bool(stop.stop_requested)) or (
        task.get("StoppedReason") == REMOVED_STOP_REASON
    )
    if not tasks:
        ended = Outcome(Status.ABORTED, f"{REMOVED}; no task of the run was found")
    elif stopped_by_removal:
        ended = Outcome(Status.ABORTED, f"{REMOVED}: its task was stopped")
    elif code == 0:
        ended = Outcome(Status.SUCCEEDED, f"job exited 0 ({REMOVED}, recorded by the cleanup)")
    else:
        what = f"job exited {code}" if code is not None else "job task stopped"
        ended = Outcome(Status.FAILED, f"{what} ({REMOVED}, recorded by the cleanup)")
    ended = replace(
        ended,
        task_arn=task.get("TaskArn"),
        exit_code=code,
        stopped_reason=_stopped_reason(task, container) if task else None,
    )
    return ended.with_stop(stop) if stop is not None and stop.task_arns else ended
