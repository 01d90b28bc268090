"""The error names a job's execution ends with, shared by the state machine and the Lambdas.

The States Language reserves the ``States.`` prefix, so the ``Failed`` state never re-raises
what ``Run job`` caught: it raises one of these, with the original ``{"Error", "Cause"}`` as
JSON in its Cause. ``state_machines/guarded_job.asl.json`` spells the same names (a test
evaluates its expressions against this module); the cleanup Lambda reads them back.
Dependency-free on purpose: the CLI, the stacks and every Lambda may import it.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

JOB_FAILED = "cronguard.JobFailed"
"""The job's container exited non-zero (``States.TaskFailed``)."""
JOB_TIMED_OUT = "cronguard.JobTimedOut"
"""``Run job`` hit its ``TimeoutSeconds`` (``States.Timeout``)."""
LAUNCH_FAILED = "cronguard.LaunchFailed"
"""ECS could not start the task and the launch retries ran out."""
RUN_FAILED = "cronguard.RunFailed"
"""``Run job`` failed any other way (permissions, an ECS API error, a definition bug)."""
SUCCESS_NOT_RECORDED = "cronguard.SuccessNotRecorded"
"""The task exited 0 but ``Record success`` kept failing; the Cause is the stopped task."""
REPLACED = "cronguard.Replaced"
"""A run stopped under ``concurrency: replace`` (StopExecution's error; its cause names the
execution that replaced it)."""
INVALID_INPUT = "cronguard.InvalidInput"
INVALID_DECISION = "cronguard.InvalidDecision"

BY_ORIGINAL_ERROR: Mapping[str, str] = MappingProxyType(
    {
        "States.TaskFailed": JOB_FAILED,
        "States.Timeout": JOB_TIMED_OUT,
        "ECS.AmazonECSException": LAUNCH_FAILED,
        "AmazonECS.Unknown": LAUNCH_FAILED,
    }
)
"""What ``Failed`` raises for the error ``Run job`` caught; anything else is ``RUN_FAILED``."""


def execution_error(original: str) -> str:
    """The error the execution fails with when ``Run job`` failed with ``original``."""
    return BY_ORIGINAL_ERROR.get(original, RUN_FAILED)
