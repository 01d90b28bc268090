"""``cronguard redrive-dlq``: replay what the schedules' dead-letter queue holds.

Each schedule delivery in the queue is started through ``catch_up.start_slot`` — the path
catch-up and backfill take — as the execution ``redrive-<slot>`` (or its next name, when one
ended without claiming the slot: ``replay_names``), paced. A message is deleted
only once its execution has started, or was started already with the same input (so a
redrive that stopped half-way can simply run again). A message it cannot attribute to a job
and slot (``dead_letters.attribute``), whose start failed, or whose job is paused (the guard
would skip the slot as paused, for good: it is redriven after ``cronguard resume``), stays in
the queue: it is made visible again at the end and reported.

Messages are received with a visibility timeout long enough for the whole paced run, so no
message is received twice within one run.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from cronguard.config import Job
from cronguard.operations import pause as pause_module
from cronguard.operations.catch_up import Pacer, Replay, decision_of, start_slot
from cronguard.operations.dead_letters import QUEUE_OUTPUT, DeadLetter, attribute
from cronguard.operations.environment import OperationError, Operations
from lambdas.core.execution_contract import REDRIVE, replay_names
from lambdas.core.pause import Pause

RECEIVE_BATCH = 10  # SQS's most per ReceiveMessage
MAX_VISIBILITY = 43_200  # SQS's longest visibility timeout (12 h)


@dataclass
class Redriven:
    """One message and what became of it."""

    letter: DeadLetter
    replay: Replay | None = None
    deleted: bool = False
    paused: str | None = None  # its job is paused: why it was not started

    @property
    def kept_because(self) -> str | None:
        """Why the message stays in the queue (None: it was deleted)."""
        if not self.letter.attributed:
            return self.letter.unattributed
        if self.paused is not None:
            return self.paused
        if self.replay is None:
            return "not started"
        if self.replay.error:
            return self.replay.error
        return None if self.deleted else "not deleted"

    @property
    def outcome(self) -> str:
        if self.kept_because is not None:
            return "kept"
        return self.replay.decision if self.replay else "-"


def queue_url(ops: Operations) -> str:
    """The dead-letter queue of the environment's schedules, from its stack's output."""
    stack = ops.environment.stack_name
    described = ops._call(
        f"describe the stack {stack}",
        ops._client("cloudformation").describe_stacks,
        StackName=stack,
    )
    for output in described["Stacks"][0].get("Outputs", []):
        if output.get("OutputKey") == QUEUE_OUTPUT:
            return str(output["OutputValue"])
    raise OperationError(
        f"the stack {stack} has no output {QUEUE_OUTPUT}: deploy this version of cronguard, "
        "or give --queue-url"
    )


def waiting(ops: Operations, url: str) -> int:
    attributes = ops._call(
        "read the dead-letter queue",
        ops._client("sqs").get_queue_attributes,
        QueueUrl=url,
        AttributeNames=["ApproximateNumberOfMessages"],
    )["Attributes"]
    return int(attributes.get("ApproximateNumberOfMessages", 0))


def redrive(
    ops: Operations,
    url: str,
    pacer: Pacer,
    *,
    visibility_seconds: int,
    settle: Callable[[list[tuple[Job, Replay]]], None] | None = None,
) -> list[Redriven]:
    """Receive every message once, start the attributable ones, delete those started."""
    sqs = ops._client("sqs")
    machines: dict[str, str] = {}
    pauses: dict[str, Pause] = {}
    seen: set[str] = set()
    results: list[Redriven] = []
    try:
        while True:
            received = ops._call(
                "receive from the dead-letter queue",
                sqs.receive_message,
                QueueUrl=url,
                MaxNumberOfMessages=RECEIVE_BATCH,
                MessageAttributeNames=["All"],
                VisibilityTimeout=visibility_seconds,
                WaitTimeSeconds=1,
            ).get("Messages", [])
            fresh = [message for message in received if message["MessageId"] not in seen]
            if not fresh:
                break
            for message in fresh:
                seen.add(message["MessageId"])
                letter = attribute(message, ops.environment)
                result = Redriven(letter)
                results.append(result)
                if not letter.attributed or letter.job is None or letter.slot is None:
                    continue
                job = letter.job
                if job.name not in pauses:
                    pauses[job.name] = pause_module.read(ops, job)
                if pauses[job.name].paused:
                    result.paused = pause_module.refusal(
                        job, pauses[job.name], ops.environment.name
                    )
                    continue
                if job.name not in machines:
                    machines[job.name] = ops.state_machine_arn(job)
                pacer.wait()
                result.replay = start_slot(
                    ops, job, machines[job.name], letter.slot, replay_names(REDRIVE, letter.slot)
                )
                if result.replay.ok:
                    ops._call(
                        "delete from the dead-letter queue",
                        sqs.delete_message,
                        QueueUrl=url,
                        ReceiptHandle=letter.receipt_handle,
                    )
                    result.deleted = True
    finally:
        # Whatever was received and not deleted (kept, or left when an error stopped the
        # run) is visible again at once, for the next look or a person.
        for result in results:
            if not result.deleted:
                ops._call(
                    "return a message to the dead-letter queue",
                    sqs.change_message_visibility,
                    QueueUrl=url,
                    ReceiptHandle=result.letter.receipt_handle,
                    VisibilityTimeout=0,
                )
    started = [
        (result.letter.job, result.replay)
        for result in results
        if result.replay is not None and result.replay.ok and result.letter.job is not None
    ]
    if settle is not None:
        settle(started)
    return results


def settle_decisions(
    ops: Operations, started: list[tuple[Job, Replay]], *, attempts: int, sleep: Any
) -> None:
    """Read each started slot's decision back (the guard decides within a second or so)."""
    pending = list(started)
    for attempt in range(attempts):
        still = []
        for job, replay in pending:
            replay.decision, final = decision_of(ops, job, replay)
            if not final and replay.decision == "started":
                still.append((job, replay))
        pending = still
        if not pending:
            return
        if attempt + 1 < attempts:
            sleep(1.0)
