"""The repository's example config, and a config folder the CLI reads, for the tests."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from cronguard.config.project import CONFIG_VARIABLE, project_config_dir
from testkit.configs import write_config


def _repository_config() -> Path:
    """The repository's example config (dev and prod), found as the CLI finds it."""
    found = project_config_dir(Path(__file__))
    assert found is not None, "the tests live inside the repository"
    return found


REPOSITORY_CONFIG = _repository_config()


def use_config(
    directory: Path,
    monkeypatch: pytest.MonkeyPatch,
    jobs: dict[str, Any],
    environment: str = "test",
) -> Path:
    """``write_config`` under ``directory``, which the CLI then reads (``CRONGUARD_CONFIG``)."""
    monkeypatch.setenv(CONFIG_VARIABLE, str(directory))
    return write_config(directory, jobs, name=environment)
