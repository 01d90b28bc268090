"""Generated environments of many jobs, for the scale and deploy-safety tests and
``bench/scale.py``: environment ``big`` with jobs ``job-000``, ``job-001``, … (no lock file,
so every job is placed as new: by the hash of its name while its stack has room)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from cronguard.config import Environment, load_environment
from stacks.checks import add_compliance_checks
from stacks.environment_stack import CronguardStack
from testkit.apps import project_app
from testkit.configs import write_config as write_named_config

ENVIRONMENT = "big"


def generated_jobs(count: int) -> dict[str, dict[str, Any]]:
    return {
        f"job-{i:03d}": {"schedule": f"cron({i % 60} {i % 24} * * ? *)", "image": "repo/job:1"}
        for i in range(count)
    }


def write_config(
    root: Path, jobs: dict[str, dict[str, Any]], *, name: str = ENVIRONMENT, **settings: Any
) -> Path:
    """A config directory holding ``jobs`` and environment ``name`` (``settings`` added)."""
    return write_named_config(root, jobs, name=name, **settings)


def generated_config(root: Path, count: int, **settings: Any) -> Environment:
    return load_environment(ENVIRONMENT, write_config(root, generated_jobs(count), **settings))


def synthesize(environment: Environment, outdir: Path) -> Path:
    """The environment's assembly in ``outdir``, with cdk-nag: a finding fails the synth."""
    app = project_app(outdir)
    CronguardStack(app, environment.stack_name, environment=environment)
    add_compliance_checks(app)
    app.synth()
    return outdir
