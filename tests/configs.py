"""Config written for tests: one network, and a config folder the CLI reads."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from cronguard.cli import CONFIG_VARIABLE

NETWORK = {
    "vpc_id": "vpc-0123456789abcdef0",
    "subnet_ids": ["subnet-0123456789abcdef0"],
    "security_group_ids": ["sg-0123456789abcdef0"],
}


def use_config(
    directory: Path,
    monkeypatch: pytest.MonkeyPatch,
    jobs: dict[str, Any],
    environment: str = "test",
) -> Path:
    """``jobs`` and an environment with ``NETWORK`` under ``directory``, which the CLI then
    reads (``CRONGUARD_CONFIG``)."""
    (directory / "environments").mkdir()
    (directory / "jobs.yaml").write_text(yaml.safe_dump({"jobs": jobs}))
    (directory / "environments" / f"{environment}.yaml").write_text(
        yaml.safe_dump({"network": NETWORK})
    )
    monkeypatch.setenv(CONFIG_VARIABLE, str(directory))
    return directory
