"""The CLI finds the config the way ``cdk`` finds ``cdk.json``: from the working directory up
to the project root, ``CRONGUARD_CONFIG`` overriding; never from where it is installed."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cronguard.cli import app
from cronguard.config.project import (
    CONFIG_DIR,
    CONFIG_VARIABLE,
    PROJECT_FILE,
    ProjectNotFound,
    find_config_dir,
)
from testkit.configs import write_config

JOB = {"schedule": "cron(0 3 * * ? *)", "image": "public.ecr.aws/docker/library/busybox:1.36"}


def project(root: Path, jobs: int) -> Path:
    """A checkout of a cronguard project: ``cdk.json`` beside ``config/`` with ``jobs`` jobs."""
    root.mkdir(parents=True)
    (root / PROJECT_FILE).write_text(json.dumps({"app": "python3 app.py"}))
    write_config(root / CONFIG_DIR, {f"job-{n}": JOB for n in range(jobs)})
    return root


def validate(monkeypatch: pytest.MonkeyPatch, cwd: Path) -> tuple[int, str]:
    monkeypatch.chdir(cwd)
    monkeypatch.delenv(CONFIG_VARIABLE, raising=False)
    result = CliRunner().invoke(app, ["validate", "--env", "test"], env={"COLUMNS": "200"})
    return result.exit_code, result.output


def test_each_checkout_validates_its_own_config(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first, second = project(tmp_path / "first", jobs=1), project(tmp_path / "second", jobs=2)
    (second / "src" / "deep").mkdir(parents=True)

    assert validate(monkeypatch, first) == (0, "config/environments/test.yaml: OK, 1 jobs\n")
    code, output = validate(monkeypatch, second / "src" / "deep")
    assert code == 0
    assert output.endswith("test.yaml: OK, 2 jobs\n")
    assert str(second / CONFIG_DIR) in output


def test_outside_any_project_it_says_where_it_looked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / CONFIG_DIR).mkdir()  # config/ without cdk.json is not a project root
    code, output = validate(monkeypatch, tmp_path)
    assert code == 2
    assert output == (
        f"error: no cronguard project at or above {tmp_path}: looked for a directory holding "
        f"{PROJECT_FILE} and {CONFIG_DIR}/; run cronguard inside the project, or set "
        f"{CONFIG_VARIABLE} to its config directory\n"
    )


def test_the_variable_overrides_the_search(tmp_path: Path) -> None:
    here = project(tmp_path / "here", jobs=1)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    environ = {CONFIG_VARIABLE: str(elsewhere)}
    assert find_config_dir(here, environ) == elsewhere
    assert find_config_dir(here, {}) == (here / CONFIG_DIR).resolve()
    with pytest.raises(
        ProjectNotFound, match=f"^{CONFIG_VARIABLE}='.*/missing': no such config directory"
    ):
        find_config_dir(here, {CONFIG_VARIABLE: str(tmp_path / "missing")})
