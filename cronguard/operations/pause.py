"""``cronguard pause`` / ``resume``: write the job's pause record in the ledger.

No deploy and no drift: the Scheduler schedule and CloudFormation stay as they are; the
guard reads the record (``lambdas/core/pause.py``, the same code) and skips a paused job's slots.
``enabled: false`` in config stays the deploy-time switch.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from botocore.exceptions import ClientError

from cronguard.config import Job
from cronguard.operations.environment import OperationError, Operations
from lambdas.core.pause import Pause, key, pause_update, read_pause, resume_update

MAX_REASON = 500  # the reason is shown in status, history and the guard's Skipped: paused


def check_reason(reason: str) -> str:
    """The reason, stripped; ValueError (a usage error) for an empty or over-long one."""
    text = " ".join(reason.split())
    if not text:
        raise ValueError("--reason must say why the job is paused (it is shown in status)")
    if len(text) > MAX_REASON:
        raise ValueError(f"--reason is {len(text)} characters; at most {MAX_REASON}")
    return text


@dataclass(frozen=True)
class PauseChange:
    changed: bool  # False: it was already paused (pause) or not paused (resume)
    pause: Pause  # the record after the command


def caller(ops: Operations) -> str:
    """Who pauses: the AWS principal's ARN (what CloudTrail would name too)."""
    identity = ops._call("identify the AWS caller", ops._client("sts").get_caller_identity)
    return str(identity["Arn"])


def refusal(job: Job, pause: Pause, environment: str) -> str:
    """Why a replay (catch-up, backfill, redrive-dlq) does not start a paused job's slot: the
    guard would skip it as paused, and a skip consumes the slot for good."""
    since = f" since {pause.since:%Y-%m-%dT%H:%M:%SZ}" if pause.since is not None else ""
    return (
        f"{job.name} is paused{since} ({pause.reason}): the guard skips its slots; resume it "
        f"first (cronguard resume {job.name} --env {environment})"
    )


def read(ops: Operations, job: Job) -> Pause:
    table = ops.environment.ledger_table_name
    item = ops._call(
        f"read the ledger {table}",
        ops._client("dynamodb").get_item,
        TableName=table,
        Key=key(job.name),
        ConsistentRead=True,
    ).get("Item")
    return read_pause(item)


def _conditional(ops: Operations, what: str, arguments: dict[str, Any]) -> bool:
    """UpdateItem; False when its condition failed (the record was not as expected)."""
    client = ops._client("dynamodb")

    def update(**kwargs: Any) -> bool:
        try:
            client.update_item(**kwargs)
        except ClientError as error:
            if error.response["Error"]["Code"] == "ConditionalCheckFailedException":
                return False
            raise
        return True

    return bool(ops._call(what, update, **arguments))


def pause(ops: Operations, job: Job, reason: str, now: datetime | None = None) -> PauseChange:
    """Pause ``job`` (a no-op, ``changed=False``, if it is paused already)."""
    table = ops.environment.ledger_table_name
    by = caller(ops)
    arguments = pause_update(table, job.name, reason=reason, by=by, now=now or datetime.now(UTC))
    changed = _conditional(ops, f"write the pause record to {table}", arguments)
    return PauseChange(changed, read(ops, job))


def resume(ops: Operations, job: Job, now: datetime | None = None) -> PauseChange:
    """Resume ``job`` (a no-op, ``changed=False``, if it is not paused)."""
    table = ops.environment.ledger_table_name
    current = read(ops, job)
    if not current.paused:
        return PauseChange(False, current)
    arguments = resume_update(table, job.name, current, now=now or datetime.now(UTC))
    if not _conditional(ops, f"write the pause record to {table}", arguments):
        raise OperationError(
            f"{job.name}'s pause record changed while resuming (another pause or resume): "
            "run cronguard resume again"
        )
    return PauseChange(True, read(ops, job))
