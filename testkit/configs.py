"""Configs written to a folder: one network, and the jobs and environment a test or a
benchmark needs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

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
