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
"""ECS could not start the task (``LAUNCH_ERRORS``) and the launch retries ran out."""
RUN_FAILED = "cronguard.RunFailed"
"""``Run job`` failed any other way (permissions, an ECS API error, a definition bug)."""
SUCCESS_NOT_RECORDED = "cronguard.SuccessNotRecorded"
"""The task exited 0 but ``Record success`` kept failing; the Cause is the stopped task."""
REPLACED = "cronguard.Replaced"
"""A run stopped under ``concurrency: replace`` (StopExecution's error; its cause names the
execution that replaced it)."""
INVALID_INPUT = "cronguard.InvalidInput"
INVALID_DECISION = "cronguard.InvalidDecision"

# What ``ecs:runTask.sync`` raises when ECS could not start the task for now (capacity,
# throttling, a fault on ECS's side): ``Run job`` retries these under ``launch_retries``.
# - AmazonECS.Unknown: RunTask answered with a non-empty ``Failures`` (e.g. capacity); "the task
#   is failed with an AmazonECS.Unknown error" (Step Functions Developer Guide, "Run Amazon ECS
#   or Fargate tasks with Step Functions", docs.aws.amazon.com/step-functions/latest/dg/
#   connect-ecs.html).
# - ECS.AmazonECSException: the SDK's generic ECS error, for errors the ECS API model does not
#   declare, throttling (ThrottlingException) among them; Fargate capacity shortages reach
#   Step Functions as this name too (AWS re:Post Knowledge Center, "ecs-fargate-runtask-
#   capacity"). So ECS.ThrottlingException and ECS.LimitExceededException are never raised by
#   RunTask (neither is among its modelled errors) and are not listed.
# - ECS.ServerException: RunTask's HTTP 500, seen in production by others
#   (wellcomecollection/catalogue-pipeline#3554).
# - ECS.InvalidParameterException: how RunTask reports EC2 throttling its network checks met
#   ("Error retrieving subnet information … Rate exceeded"; cdklabs/construct-hub#415,
#   AllenInstitute/neuron_morphology#155, dagster-io/dagster#33439). A truly invalid
#   parameter fails the same, after the launch retries.
LAUNCH_ERRORS = (
    "ECS.AmazonECSException",
    "ECS.ServerException",
    "ECS.InvalidParameterException",
    "AmazonECS.Unknown",
)

# What ``Run job`` must never retry under ``job_retries``, which is for the job's container
# exiting non-zero (``States.TaskFailed``): in a Retry, ``States.TaskFailed`` "acts as a
# wildcard that matches any known error name except for States.Timeout" (Step Functions
# Developer Guide, "Handling errors in Step Functions workflows"), so these go in a retrier
# with MaxAttempts 0 before it. Step Functions' own names a Task can raise here (JSONata
# evaluation, permissions), and the rest of what RunTask, DescribeTasks and StopTask declare
# in the ECS API model: asking again does not fix them. (States.Runtime and
# States.DataLimitExceeded are never retried: no wildcard matches them.)
NEVER_RETRIED = (
    "States.Permissions",
    "States.QueryEvaluationError",
    "ECS.AccessDeniedException",
    "ECS.BlockedException",
    "ECS.ClientException",
    "ECS.ClusterNotFoundException",
    "ECS.ConflictException",
    "ECS.PlatformTaskDefinitionIncompatibilityException",
    "ECS.PlatformUnknownException",
    "ECS.UnsupportedFeatureException",
)

BY_ORIGINAL_ERROR: Mapping[str, str] = MappingProxyType(
    {
        "States.TaskFailed": JOB_FAILED,
        "States.Timeout": JOB_TIMED_OUT,
        **dict.fromkeys(LAUNCH_ERRORS, LAUNCH_FAILED),
    }
)
"""What ``Failed`` raises for the error ``Run job`` caught; anything else is ``RUN_FAILED``."""


def execution_error(original: str) -> str:
    """The error the execution fails with when ``Run job`` failed with ``original``."""
    return BY_ORIGINAL_ERROR.get(original, RUN_FAILED)
