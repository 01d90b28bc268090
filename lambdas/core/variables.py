"""The environment variables cronguard's Lambdas read, named once for the stacks and the code.

Dependency-free: the CDK side imports it to set them, each Lambda's ``settings`` module to
read them (``require`` names a missing one, instead of a bare ``KeyError``).
"""

from __future__ import annotations

from collections.abc import Mapping

LEDGER_TABLE = "LEDGER_TABLE"
ENVIRONMENT = "CRONGUARD_ENV"
JOB_CLUSTER_ARN = "JOB_CLUSTER_ARN"  # the cluster jobs' tasks run in
TASK_FAMILY_PREFIX = "TASK_FAMILY_PREFIX"  # a job's task definition family is this + its name
JOB_CONTAINER = "JOB_CONTAINER"  # the name of every job's container
WORK_TABLE = "WORK_TABLE"  # the work history table the orphan sweeper reads
STALE_AFTER_SECONDS = "STALE_AFTER_SECONDS"  # a RUNNING unit's heartbeat older than this is stale
JOBS_MANIFEST = "JOBS_MANIFEST"  # the slot watch's jobs.json (config's jobs, in its own layer)
STATE_MACHINE_ARN_PREFIX = "STATE_MACHINE_ARN_PREFIX"  # + a state machine's name is its ARN


class SettingError(RuntimeError):
    """A variable the Lambda's stack sets is missing, empty or malformed: a deploy bug."""


def require(environ: Mapping[str, str], name: str, needed_for: str) -> str:
    value = environ.get(name)
    if not value:
        raise SettingError(f"{name} is not set: {needed_for}")
    return value
