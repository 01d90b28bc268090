"""Where a cronguard project's config is: found the way ``cdk`` finds ``cdk.json``.

From the working directory up to the first directory holding both ``cdk.json`` and
``config/`` (the project root), or the directory ``CRONGUARD_CONFIG`` names. Never where the
package is installed: run from another checkout, the CLI must read that checkout's config.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from cronguard.config.model import shown

CONFIG_VARIABLE = "CRONGUARD_CONFIG"  # a config directory to use instead of the search
CONFIG_DIR = "config"
PROJECT_FILE = "cdk.json"


class ProjectNotFound(Exception):
    """No config directory: what was looked for, where, and how to point at one."""


def project_config_dir(start: Path) -> Path | None:
    """``<root>/config`` of the nearest directory at or above ``start`` that holds both
    ``cdk.json`` and ``config/``, or None."""
    start = start.resolve()
    for directory in (start, *start.parents):
        if (directory / PROJECT_FILE).is_file() and (directory / CONFIG_DIR).is_dir():
            return directory / CONFIG_DIR
    return None


def find_config_dir(cwd: Path, environ: Mapping[str, str]) -> Path:
    """The config directory the CLI reads: ``CRONGUARD_CONFIG`` if set, else the project's
    found from ``cwd`` upward; raises ``ProjectNotFound`` saying which and why not."""
    configured = environ.get(CONFIG_VARIABLE)
    if configured:
        config_dir = Path(configured)
        if not config_dir.is_dir():
            raise ProjectNotFound(
                f"{CONFIG_VARIABLE}={shown(configured)}: no such config directory"
            )
        return config_dir
    found = project_config_dir(cwd)
    if found is None:
        raise ProjectNotFound(
            f"no cronguard project at or above {cwd}: looked for a directory holding "
            f"{PROJECT_FILE} and {CONFIG_DIR}/; run cronguard inside the project, or set "
            f"{CONFIG_VARIABLE} to its config directory"
        )
    return found
