"""What a job's state machine and the guard Lambda send each other, and the job's settings.

Dependency-free: the guard reads these payloads (``lambdas/guard/handler.py``), the stacks
build the job settings the definition carries (``JobPayload``), the cleanup reads them back
from a deployed definition (``job_of_definition``), the config model takes ``Concurrency``
from here, and ``state_machines/guarded_job.asl.json`` spells the same keys.
The payload shapes are part of every deployed state machine: a key is renamed or removed
only together with a definition that no longer sends or reads it, and a key added later is
``NotRequired`` (an execution started on the older definition may still call the guard).

No ``from __future__ import annotations`` here: TypedDict learns which keys are
``NotRequired`` from evaluated annotations (Python 3.11), and the guard checks the
required ones at run time from ``__required_keys__``.
"""

import json
from enum import StrEnum
from typing import Any, Final, Literal, NotRequired, TypedDict, cast


class Concurrency(StrEnum):
    """What a slot does when the job's previous run still runs."""

    FORBID = "forbid"  # skip the new slot and record it as skipped
    REPLACE = "replace"  # stop the running execution, then run
    ALLOW = "allow"  # run both


# The guard's actions, and how a run ended as the state machine says it.
CLAIM: Final = "claim"
FINISH: Final = "finish"
SUCCEEDED: Final = "succeeded"
FAILED: Final = "failed"


class JobRetriesPayload(TypedDict):
    """``job_retries``: how often a failed attempt is run again, after how long (doubling),
    and which exit codes decide it (at most one of the two lists; neither: every exit)."""

    max: int
    intervalSeconds: int
    onExitCodes: NotRequired[list[int]]  # retry only these
    exceptExitCodes: NotRequired[list[int]]  # retry all but these


class JobPayload(TypedDict):
    """The job's settings, substituted into its state machine's definition at synth."""

    name: str
    concurrency: str  # a Concurrency
    startingDeadlineSeconds: int | None
    leaseSeconds: int
    retentionSeconds: int
    container: str  # the job's container: its exit code is the run's
    taskFamily: str
    renamedFrom: NotRequired[str]  # the job's name before a rename: its lease and slots count
    # Sidecars whose exit stops the task (the ledger names the one that did); only when some.
    essentialSidecars: NotRequired[list[str]]
    jobRetries: NotRequired[JobRetriesPayload]  # absent: a failed attempt is never retried


GUARD_STATE: Final = "Guard"
"""The state that claims a slot: its payload's ``job`` is the job's settings."""


def job_of_definition(definition: str) -> JobPayload:
    """The job's settings a state machine's definition carries (its ``Guard`` state's payload),
    as DescribeStateMachine returns the definition: the one place they are written. A
    definition that carries none (not a cronguard job's) is a ``ValueError``."""
    try:
        job = json.loads(definition)["States"][GUARD_STATE]["Arguments"]["Payload"]["job"]
    except (ValueError, KeyError, TypeError) as error:
        raise ValueError(f"the definition carries no job settings: {error!r}") from None
    missing = JobPayload.__required_keys__ - set(job) if isinstance(job, dict) else {"job"}
    if missing:
        raise ValueError(f"the definition's job settings lack {sorted(missing)}")
    return cast(JobPayload, job)


class ExecutionPayload(TypedDict):
    """The execution calling the guard (``$states.context.Execution``)."""

    id: str  # its ARN
    name: str


class ClaimRequest(TypedDict):
    """``Guard``: claim the slot the execution's input names, or say why not."""

    action: Literal["claim"]
    job: JobPayload
    input: Any  # the execution's input, read by ``lambdas/core/trigger.py``
    execution: ExecutionPayload
    redriveCount: NotRequired[int]  # how often the execution was redriven; 0 when absent
    variables: NotRequired[list[str]]  # the job's declared variables: a person may override them


class ClaimReply(TypedDict):
    """The guard's decision, which ``Run or skip?`` branches on."""

    action: Literal["run", "skip"]
    reason: str  # "claimed", or why it skips: "duplicate", "overlap", "late", "paused"
    detail: str
    job: str
    slot: str
    scheduledTime: str | None
    forced: bool
    redriveCount: int  # Run job compares it with the execution's own: a redrive claims again
    overrides: dict[str, Any]  # input_contract.for_state_machine: what Run job applies


class _Finish(TypedDict):
    action: Literal["finish"]
    job: JobPayload
    slot: str
    execution: ExecutionPayload
    retries: NotRequired[int]  # how often Run job was retried; 0 when absent
    attempt: NotRequired[int]  # which run of the job this is (1 + job retries); 1 when absent


class FinishSucceeded(_Finish):
    """``Record success``: the job's task exited 0."""

    outcome: Literal["succeeded"]
    task: Any  # the task ``ecs:runTask.sync`` returned


class FinishFailed(_Finish):
    """``Record failure``: Run job failed (the job, its launch, or its timeout)."""

    outcome: Literal["failed"]
    error: Any  # the ``{"Error", "Cause"}`` Run job failed with


FinishRequest = FinishSucceeded | FinishFailed


class FinishReply(TypedDict):
    """What was recorded (the execution's output on success)."""

    job: str
    slot: str
    status: str  # a ledger Status
    reason: str
    taskArn: str | None
    exitCode: int | None
    stoppedReason: str | None
    taskStop: str | None
    retries: int
    retryInSeconds: NotRequired[int]  # the attempt failed and is run again after this wait
