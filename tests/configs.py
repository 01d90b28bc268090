"""Config written for tests: one network, and a config folder the CLI reads."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from cronguard.config.project import CONFIG_VARIABLE, project_config_dir


def _repository_config() -> Path:
    """The repository's example config (dev and prod), found as the CLI finds it."""
    found = project_config_dir(Path(__file__))
    assert found is not None, "the tests live inside the repository"
    return found


REPOSITORY_CONFIG = _repository_config()

NETWORK = {
    "vpc_id": "vpc-0123456789abcdef0",
    "subnet_ids": ["subnet-0123456789abcdef0"],
    "security_group_ids": ["sg-0123456789abcdef0"],
}


def write_config(root: Path, jobs: dict[str, Any], *, name: str = "test", **settings: Any) -> Path:
    """A config directory holding ``jobs`` and environment ``name`` (``NETWORK`` and
    ``settings``)."""
    (root / "environments").mkdir(parents=True, exist_ok=True)
    (root / "jobs.yaml").write_text(yaml.safe_dump({"jobs": jobs}))
    environment = {"network": NETWORK, **settings}
    (root / "environments" / f"{name}.yaml").write_text(yaml.safe_dump(environment))
    return root


def use_config(
    directory: Path,
    monkeypatch: pytest.MonkeyPatch,
    jobs: dict[str, Any],
    environment: str = "test",
) -> Path:
    """``write_config`` under ``directory``, which the CLI then reads (``CRONGUARD_CONFIG``)."""
    monkeypatch.setenv(CONFIG_VARIABLE, str(directory))
    return write_config(directory, jobs, name=environment)
