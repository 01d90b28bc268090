"""What the orphan sweeper reads from its environment, and its handler path.

Dependency-free: ``stacks/task_protection.py`` imports ``HANDLER`` and the variable names to
deploy it; the handler reads ``SweeperSettings.from_environ()``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta

from lambdas.core import variables

HANDLER = "lambdas.sweeper.handler.lambda_handler"


@dataclass(frozen=True)
class SweeperSettings:
    work_table: str
    environment: str
    stale_after: timedelta

    @classmethod
    def from_environ(cls, environ: Mapping[str, str] = os.environ) -> SweeperSettings:
        def require(name: str, needed_for: str) -> str:
            return variables.require(environ, name, f"the sweeper {needed_for}")

        stale = require(variables.STALE_AFTER_SECONDS, "cannot tell a stale heartbeat")
        if not stale.isdigit():
            raise variables.SettingError(
                f"{variables.STALE_AFTER_SECONDS} must be whole seconds, got {stale!r}"
            )
        return cls(
            work_table=require(variables.WORK_TABLE, "cannot read the work history"),
            environment=require(variables.ENVIRONMENT, "metrics name their environment"),
            stale_after=timedelta(seconds=int(stale)),
        )
