"""Each Lambda reads its environment through one typed settings object, and the handler
paths the stacks deploy are the handlers that exist."""

from __future__ import annotations

import importlib
from datetime import timedelta
from typing import Any

import pytest

from lambdas.cleanup.settings import HANDLER as CLEANUP_HANDLER
from lambdas.cleanup.settings import CleanupSettings
from lambdas.core import variables
from lambdas.guard.settings import HANDLER as GUARD_HANDLER
from lambdas.guard.settings import GuardSettings
from lambdas.sweeper.settings import HANDLER as SWEEPER_HANDLER
from lambdas.sweeper.settings import SweeperSettings

GUARD = {
    variables.LEDGER_TABLE: "cronguard-dev-ledger",
    variables.JOB_CLUSTER_ARN: "arn:aws:ecs:eu-west-1:1:cluster/jobs",
    variables.ENVIRONMENT: "dev",
}
CLEANUP = {
    **GUARD,
    variables.TASK_FAMILY_PREFIX: "cronguard-dev-",
    variables.JOB_CONTAINER: "job",
}
SWEEPER = {
    variables.WORK_TABLE: "cronguard-dev-work",
    variables.ENVIRONMENT: "dev",
    variables.STALE_AFTER_SECONDS: "900",
}
SETTINGS: list[tuple[Any, dict[str, str]]] = [
    (GuardSettings, GUARD),
    (CleanupSettings, CLEANUP),
    (SweeperSettings, SWEEPER),
]


@pytest.mark.parametrize("handler", [GUARD_HANDLER, CLEANUP_HANDLER, SWEEPER_HANDLER])
def test_each_handler_path_the_stacks_deploy_names_a_real_handler(handler: str) -> None:
    module, attribute = handler.rsplit(".", 1)
    assert callable(getattr(importlib.import_module(module), attribute))


def test_settings_are_read_from_the_variables_the_stacks_set() -> None:
    assert GuardSettings.from_environ(GUARD) == GuardSettings(
        ledger_table="cronguard-dev-ledger",
        cluster_arn="arn:aws:ecs:eu-west-1:1:cluster/jobs",
        environment="dev",
    )
    cleanup = CleanupSettings.from_environ(CLEANUP)
    assert (cleanup.task_family_prefix, cleanup.container) == ("cronguard-dev-", "job")
    assert SweeperSettings.from_environ(SWEEPER).stale_after == timedelta(minutes=15)


@pytest.mark.parametrize(
    ("settings", "missing"),
    [(settings, name) for settings, environ in SETTINGS for name in environ],
)
def test_a_missing_or_empty_variable_is_named_in_the_error(settings: Any, missing: str) -> None:
    environ = {**dict(SETTINGS)[settings], missing: ""}
    with pytest.raises(variables.SettingError, match=f"^{missing} is not set: "):
        settings.from_environ(environ)
    del environ[missing]
    with pytest.raises(variables.SettingError, match=f"^{missing} is not set: "):
        settings.from_environ(environ)


def test_stale_after_must_be_whole_seconds() -> None:
    with pytest.raises(variables.SettingError, match="STALE_AFTER_SECONDS must be whole seconds"):
        SweeperSettings.from_environ({**SWEEPER, variables.STALE_AFTER_SECONDS: "15m"})
