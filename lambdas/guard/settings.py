"""What the guard Lambda reads from its environment, and its handler path.

Dependency-free: the job template imports ``HANDLER`` and the variable names to deploy the
guard, the simulation to run it; the handler reads ``GuardSettings.from_environ()``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

from lambdas.core import variables

HANDLER = "lambdas.guard.handler.lambda_handler"


@dataclass(frozen=True)
class GuardSettings:
    ledger_table: str
    cluster_arn: str  # the cluster of the job's tasks, which the guard may stop
    environment: str

    @classmethod
    def from_environ(cls, environ: Mapping[str, str] = os.environ) -> GuardSettings:
        return cls(
            ledger_table=variables.require(
                environ, variables.LEDGER_TABLE, "the guard cannot read the ledger"
            ),
            cluster_arn=variables.require(
                environ, variables.JOB_CLUSTER_ARN, "the guard cannot reach the job's tasks"
            ),
            environment=variables.require(
                environ, variables.ENVIRONMENT, "the guard's metrics name their environment"
            ),
        )
