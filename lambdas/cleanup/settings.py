"""What the cleanup Lambda (and reconciler) reads from its environment, and its handler path.

Dependency-free: ``stacks/cleanup.py`` imports ``HANDLER`` and the variable names to deploy
it, the simulation to run it; the handler reads ``CleanupSettings.from_environ()``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

from lambdas.core import variables

HANDLER = "lambdas.cleanup.handler.lambda_handler"


@dataclass(frozen=True)
class CleanupSettings:
    ledger_table: str
    environment: str  # its state machines are named ``<environment>-<job>``
    cluster_arn: str
    task_family_prefix: str
    container: str

    @classmethod
    def from_environ(cls, environ: Mapping[str, str] = os.environ) -> CleanupSettings:
        def require(name: str, needed_for: str) -> str:
            return variables.require(environ, name, f"the cleanup {needed_for}")

        return cls(
            ledger_table=require(variables.LEDGER_TABLE, "cannot read the ledger"),
            environment=require(variables.ENVIRONMENT, "cannot tell its state machines"),
            cluster_arn=require(variables.JOB_CLUSTER_ARN, "cannot stop a run's tasks"),
            task_family_prefix=require(
                variables.TASK_FAMILY_PREFIX, "cannot tell a job's task family"
            ),
            container=require(variables.JOB_CONTAINER, "cannot read a run's exit code"),
        )
