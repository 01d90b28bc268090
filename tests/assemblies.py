"""Synthesized assemblies the test session shares between its xdist workers.

A synth costs seconds of CPU (the CDK app and its jsii process); the shipped environments
and the e2e environment are read by tests in several files, which xdist spreads over its
workers. Each is synthesized once per session: the first worker to ask builds it under a
lock, in the folder every worker of the run shares, and the others read what it wrote.
Nothing of an assembly is changed by a test that reads it.
"""

from __future__ import annotations

import fcntl
import os
import shutil
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

import app as cdk_app
from testkit.apps import project_app

ASSEMBLY = "cdk.out"


def session_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The folder all workers of this run share: xdist gives each worker a folder of its own
    (``popen-gw0``…) inside the run's; without xdist, the run's own."""
    base = tmp_path_factory.getbasetemp()
    return base.parent if "PYTEST_XDIST_WORKER" in os.environ else base


@contextmanager
def _locked(path: Path) -> Iterator[None]:
    with path.open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes
        yield


def shared(
    tmp_path_factory: pytest.TempPathFactory, name: str, build: Callable[[Path], None]
) -> Path:
    """The folder ``build`` filled, built once per session (``name`` is its key)."""
    root = session_root(tmp_path_factory)
    folder = root / f"shared-{name}"
    complete = folder / ".complete"  # built where it is read: an assembly names its own paths
    with _locked(root / f"shared-{name}.lock"):
        if not complete.exists():
            shutil.rmtree(folder, ignore_errors=True)  # a build that failed half-way
            folder.mkdir()
            build(folder)
            complete.touch()
    return folder


def synthesize_environment(env_name: str, outdir: Path) -> Path:
    """The repository config's ``env_name`` environment as ``cdk synth`` writes it into
    ``outdir``: ``cdk.json``'s context, cdk-nag and the CDK's built-in CloudFormation
    validation on (either fails the synth); Lambda assets not bundled (no pip in the tests'
    loop)."""
    app = project_app(outdir, {"env": env_name}, builtin_validation=True)
    cdk_app.build(app)
    return Path(app.synth().directory)


def environment_assembly(tmp_path_factory: pytest.TempPathFactory, env_name: str) -> Path:
    """``synthesize_environment`` of ``env_name``, shared by the session."""

    def build(folder: Path) -> None:
        synthesize_environment(env_name, folder / ASSEMBLY)

    return shared(tmp_path_factory, f"environment-{env_name}", build) / ASSEMBLY
