"""Step Functions execution statuses, which ended ones the cleanup settles, and the names
of the executions that replay a slot.

Dependency-free: the cleanup Lambda reads these from DescribeExecution and the status-change
events, the guard from DescribeExecution, ``stacks/cleanup.py`` subscribes its rule to
``ENDED_STATUSES``, and the local engine delivers the same statuses to the cleanup. The slot
watch's catch-up and the CLI's (catch-up, backfill, redrive-dlq) name their executions with
``replay_names``.
"""

from __future__ import annotations

from enum import StrEnum

from lambdas.core.times import slot_time

STATUS_CHANGE = "Step Functions Execution Status Change"
"""The detail-type of the EventBridge event Step Functions sends when an execution's status
changes."""


class ExecutionStatus(StrEnum):
    """An execution's status, as DescribeExecution and the status-change event spell it."""

    RUNNING = "RUNNING"
    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"
    TIMED_OUT = "TIMED_OUT"
    ABORTED = "ABORTED"
    PENDING_REDRIVE = "PENDING_REDRIVE"


ENDED_STATUSES = (ExecutionStatus.ABORTED, ExecutionStatus.TIMED_OUT, ExecutionStatus.FAILED)
"""How an execution ends when it may hold a lease it did not release: stopped by hand, timed
out as a whole, or failed outside a Catch. The cleanup settles these; a SUCCEEDED execution
recorded its run in ``Record success`` (the reconciler catches the rare one that did not)."""


STATE_MACHINE_DELETING = "DELETING"
"""DescribeStateMachine's status of a state machine being deleted (a removed or renamed job's,
while a run of it still waits in ``Run job``): "A state machine is deleted only when all its
executions are completed. On the next state transition, the state machine's executions are
terminated" (Step Functions API Reference, DeleteStateMachine). Nothing in that stops the ECS
task the run started."""
DELETED_ERROR = "States.Runtime"
"""The error an execution fails with at that transition; its cause is ``State machine <name>
has been deleted.`` (AWS re:Post Knowledge Center, "step-functions-stuck-deleting-status")."""


def ended_by_deletion(error: object, cause: object) -> bool:
    """Whether an execution failed because its state machine was deleted (``DELETED_ERROR``
    with that cause), not because of anything its run did."""
    return (
        error == DELETED_ERROR
        and isinstance(cause, str)
        and cause.startswith("State machine ")
        and cause.rstrip(".").endswith("has been deleted")
    )


def state_machine_of(execution_arn: str) -> str:
    """The ARN of an execution's state machine: ``…:execution:<machine>:<name>`` →
    ``…:stateMachine:<machine>``."""
    head, kind, rest = execution_arn.rpartition(":execution:")
    if not kind or ":" not in rest:
        raise ValueError(f"{execution_arn!r} is not an execution ARN")
    return f"{head}:stateMachine:{rest.rsplit(':', 1)[0]}"


EXECUTION_NAME_LIMIT = 80
"""Step Functions' limit on an execution's name: 1 to 80 characters."""
MAX_REPLAY_STARTS = 5
"""How many executions may replay one slot: one more each time the previous one ended without
claiming the slot (its guard's retries ran out in a DynamoDB or Lambda incident). Past that,
a person looks (``cronguard run JOB --slot SLOT``)."""
CATCH_UP = "catch-up"  # the slot watch's catch-up and ``cronguard catch-up``: the same names
BACKFILL = "backfill"
REDRIVE = "redrive"


def replay_names(kind: str, slot: str) -> tuple[str, ...]:
    """The names of the executions that replay ``slot`` (``kind``: ``CATCH_UP``, ``BACKFILL``,
    ``REDRIVE``), in the order they are taken: ``catch-up-20261122T030000Z``, then ``…-2`` to
    ``…-5``. Deterministic, so a replay started twice (a retried check, a person running the
    command again) is the same execution: StartExecution of an open execution with the same
    name and input is idempotent, and the name of a closed one is taken (90 days)."""
    moment = slot_time(slot)
    if moment is None:
        raise ValueError(f"{slot!r} is not a scheduled slot (like '2026-11-22T03:00:00Z')")
    first = f"{kind}-{moment.strftime('%Y%m%dT%H%M%SZ')}"
    names = (first, *(f"{first}-{attempt}" for attempt in range(2, MAX_REPLAY_STARTS + 1)))
    if len(names[-1]) > EXECUTION_NAME_LIMIT:
        raise ValueError(f"{names[-1]!r} is longer than {EXECUTION_NAME_LIMIT} characters")
    return names
