"""What the slot watch reads from its environment, and its handler path.

Dependency-free: ``stacks/slot_watch.py`` imports ``HANDLER`` and the variable names to deploy
it; the handler reads ``SlotWatchSettings.from_environ()``. The jobs themselves are in the
manifest (``lambdas/slot_watch/manifest.py``), which is too large for variables.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

from lambdas.core import variables
from lambdas.slot_watch.manifest import LAYER_PATH

HANDLER = "lambdas.slot_watch.handler.lambda_handler"


@dataclass(frozen=True)
class SlotWatchSettings:
    ledger_table: str
    environment: str
    manifest_path: str
    state_machine_arn_prefix: str

    @classmethod
    def from_environ(cls, environ: Mapping[str, str] = os.environ) -> SlotWatchSettings:
        def require(name: str, needed_for: str) -> str:
            return variables.require(environ, name, f"the slot watch {needed_for}")

        return cls(
            ledger_table=require(variables.LEDGER_TABLE, "cannot read the ledger"),
            environment=require(variables.ENVIRONMENT, "metrics name their environment"),
            manifest_path=environ.get(variables.JOBS_MANIFEST) or LAYER_PATH,
            state_machine_arn_prefix=require(
                variables.STATE_MACHINE_ARN_PREFIX, "cannot start a missed slot (catch_up)"
            ),
        )
