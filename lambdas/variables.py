"""The environment variables cronguard's Lambdas read, named once for the stacks and the code.

Dependency-free: the CDK side imports it to set them, the handlers to read them.
"""

from __future__ import annotations

LEDGER_TABLE = "LEDGER_TABLE"
ENVIRONMENT = "CRONGUARD_ENV"
JOB_CLUSTER_ARN = "JOB_CLUSTER_ARN"  # the cluster jobs' tasks run in
TASK_FAMILY_PREFIX = "TASK_FAMILY_PREFIX"  # a job's task definition family is this + its name
JOB_CONTAINER = "JOB_CONTAINER"  # the name of every job's container
