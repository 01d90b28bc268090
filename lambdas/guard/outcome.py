"""How a run ended, read from what ``ecs:runTask.sync`` returned or the error it raised."""

from __future__ import annotations

import json
from typing import Any

from lambdas.guard.decision import Status
from lambdas.guard.ledger import Outcome

LAUNCH_ERRORS = frozenset({"ECS.AmazonECSException", "AmazonECS.Unknown"})


def _container(task: dict[str, Any]) -> dict[str, Any]:
    containers = task.get("Containers") or []
    # The job container is the one cronguard defines; a task has one essential container.
    return containers[0] if containers and isinstance(containers[0], dict) else {}


def _exit_code(task: dict[str, Any]) -> int | None:
    code = _container(task).get("ExitCode")
    return code if isinstance(code, int) and not isinstance(code, bool) else None


def _stopped_reason(task: dict[str, Any]) -> str | None:
    reason = _container(task).get("Reason") or task.get("StoppedReason")
    return str(reason) if reason else None


def succeeded(task: Any) -> Outcome:
    task = task if isinstance(task, dict) else {}
    return Outcome(
        status=Status.SUCCEEDED,
        reason="job exited 0",
        task_arn=task.get("TaskArn"),
        exit_code=_exit_code(task),
        stopped_reason=_stopped_reason(task),
    )


def failed(error: Any) -> Outcome:
    """Map the state's error (``{"Error", "Cause"}``) to a ledger outcome."""
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
    if name in LAUNCH_ERRORS:
        detail = cause_text if isinstance(cause_text, str) else name
        return Outcome(Status.FAILED, f"launch failed: {detail[:500]}")
    if task:
        code = _exit_code(task)
        what = f"job exited {code}" if code is not None else "job task stopped"
        return Outcome(
            Status.FAILED,
            what,
            task_arn=task.get("TaskArn"),
            exit_code=code,
            stopped_reason=_stopped_reason(task),
        )
    detail = cause_text[:500] if isinstance(cause_text, str) else ""
    return Outcome(Status.FAILED, f"{name}: {detail}" if detail else name)
