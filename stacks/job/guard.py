"""Each job's guard: the Lambda its state machine asks to claim the slot and to record the
outcome."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from cronguard.config import Environment
from lambdas.core import variables
from lambdas.guard import settings as guard_settings
from stacks.functions import MEMORY_MB
from stacks.job.cloudformation import get_att, ref
from stacks.job.shapes import SHARED, Fragment, NamedJob
from stacks.lambda_code import RUNTIME

# The guard may stop a replaced or timed-out run's task and wait until ECS reports it STOPPED:
# up to the container's stop timeout (30 s by default) plus ECS's own delay.
GUARD_TIMEOUT_SECONDS = 120


def guards(environment: Environment, jobs: Sequence[NamedJob]) -> Iterator[Fragment]:
    for named in jobs:
        yield Fragment(
            named.ids.guard,
            {
                "Type": "AWS::Lambda::Function",
                "Properties": {
                    "Description": f"cronguard guard for {named.state_machine}",
                    "Runtime": RUNTIME.name,
                    "Handler": guard_settings.HANDLER,
                    "Code": {"S3Bucket": ref("CodeS3Bucket"), "S3Key": ref("CodeS3Key")},
                    "Role": get_att(named.ids.guard_role),
                    "Timeout": GUARD_TIMEOUT_SECONDS,
                    "MemorySize": MEMORY_MB,
                    "LoggingConfig": {"LogGroup": ref(SHARED.guard_logs)},
                    "Environment": {
                        "Variables": {
                            variables.LEDGER_TABLE: ref("LedgerTableName"),
                            variables.JOB_CLUSTER_ARN: ref("ClusterArn"),
                            variables.ENVIRONMENT: environment.name,
                        }
                    },
                },
            },
        )
