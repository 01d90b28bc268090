"""What the schedules' dead-letter queue holds, and which job and slot each message is for.

EventBridge Scheduler sends a delivery it gave up on (retries or event age exhausted, or an
error it does not retry, such as a denied StartExecution) to the schedule's dead-letter
queue: the message body is the target's input, and the message attributes describe the
delivery — ``SCHEDULE_ARN``, ``TARGET_ARN``, ``SCHEDULED_TIME``, ``ERROR_CODE``,
``ERROR_MESSAGE``, ``EXECUTION_ID``, ``RETRY_ATTEMPTS``, ``EXHAUSTED_RETRY_CONDITION`` and
``IS_PAYLOAD_TRUNCATED`` ("Configuring a dead-letter queue for EventBridge Scheduler",
docs.aws.amazon.com/scheduler/latest/UserGuide/configuring-schedule-dlq.html).

A cronguard schedule's input is ``{"scheduledTime": …, "attempt": …}`` and its target is the
job's state machine ``<env>-<job>``: that names the job and the slot. The same queue also
holds what is not a schedule delivery (the cleanup rule's undelivered events, the cleanup's
failed invocations): those are not attributed, and ``redrive-dlq`` leaves them in the queue.

Dependency-free: the environment stack imports ``QUEUE_OUTPUT`` to name its output.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from cronguard.config import Environment, Job
from lambdas.core.times import slot_key

QUEUE_OUTPUT = "DeadLetterQueueUrl"
"""The environment stack's output holding the dead-letter queue's URL (redrive-dlq reads it)."""
SCHEDULE_ARN = "SCHEDULE_ARN"
TARGET_ARN = "TARGET_ARN"
SCHEDULED_TIME = "SCHEDULED_TIME"
ERROR_CODE = "ERROR_CODE"
ERROR_MESSAGE = "ERROR_MESSAGE"
ATTRIBUTES = (SCHEDULE_ARN, TARGET_ARN, SCHEDULED_TIME, ERROR_CODE, ERROR_MESSAGE)


@dataclass(frozen=True)
class DeadLetter:
    """One message: the job and slot it is a delivery of, or why it is not attributed."""

    message_id: str
    receipt_handle: str
    job: Job | None
    slot: str | None
    error: str  # Scheduler's ERROR_CODE (why the delivery failed), if any
    unattributed: str | None = None  # why it stays in the queue

    @property
    def attributed(self) -> bool:
        return self.unattributed is None


def _attribute(message: Mapping[str, Any], name: str) -> str | None:
    value = message.get("MessageAttributes", {}).get(name, {}).get("StringValue")
    return str(value) if value else None


def _scheduled_time(body: str) -> str | None:
    """``scheduledTime`` of the target input in the body (or of a body holding the input
    as a request field ``input``, as StartExecution's request has it)."""
    try:
        document = json.loads(body)
    except ValueError:
        return None
    if isinstance(document, dict) and isinstance(document.get("input"), str):
        try:
            document = json.loads(document["input"])
        except ValueError:
            return None
    value = document.get("scheduledTime") if isinstance(document, dict) else None
    return value if isinstance(value, str) else None


def attribute(message: Mapping[str, Any], environment: Environment) -> DeadLetter:
    """The job and slot of a received SQS message (``ReceiveMessage`` with all attributes)."""
    letter = DeadLetter(
        message_id=str(message.get("MessageId", "")),
        receipt_handle=str(message.get("ReceiptHandle", "")),
        job=None,
        slot=None,
        error=_attribute(message, ERROR_CODE) or "",
    )

    def unattributed(why: str, job: Job | None = None) -> DeadLetter:
        return replace(letter, job=job, unattributed=why)

    target = _attribute(message, TARGET_ARN)
    if target is None or _attribute(message, SCHEDULE_ARN) is None:
        return unattributed("not a schedule delivery (no SCHEDULE_ARN, TARGET_ARN)")
    machines = {environment.state_machine_name(job): job for job in environment.jobs}
    kind, _, name = target.rpartition(":")
    job = machines.get(name) if kind.endswith(":stateMachine") else None
    if job is None:
        return unattributed(f"its target {name or target} is no job of {environment.name}")
    when = _scheduled_time(str(message.get("Body", ""))) or _attribute(message, SCHEDULED_TIME)
    if when is None:
        return unattributed("it names no scheduled time (body or SCHEDULED_TIME)", job)
    try:
        moment = datetime.fromisoformat(when.strip())
    except ValueError:
        moment = None
    if moment is None or moment.tzinfo is None:
        return unattributed(f"its scheduled time {when!r} is not an ISO-8601 UTC time", job)
    return replace(letter, job=job, slot=slot_key(moment))
