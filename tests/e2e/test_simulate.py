"""`cronguard simulate`, the main job: it passes on the real guard for every sample job of
dev (prod: test_simulate_prod.py), catches a broken guard, and refuses a stale assembly."""

from __future__ import annotations

import re
import shutil
import time
from pathlib import Path

import aws_cdk as cdk
import pytest
from typer.testing import CliRunner

import app as cdk_app
from cronguard.cli import app
from cronguard.config import DEFAULT_CONFIG_DIR, load_environment
from lambdas.guard import handler
from lambdas.guard.decision import Decision, Verdict

runner = CliRunner()


@pytest.fixture(scope="module")
def dev_assembly(tmp_path_factory: pytest.TempPathFactory) -> Path:
    outdir = tmp_path_factory.mktemp("dev") / "cdk.out"
    synthesized = cdk.App(outdir=str(outdir), context={"env": "dev", "aws:cdk:bundling-stacks": []})
    cdk_app.build(synthesized)
    synthesized.synth()
    return outdir


def simulate(assembly: Path, *args: str, env: str = "dev", **variables: str) -> tuple[int, str]:
    result = runner.invoke(
        app,
        ["simulate", "--env", env, "--assembly", str(assembly), *args],
        env={"COLUMNS": "200", **variables},
    )
    return result.exit_code, result.output


def simulate_every_job(assembly: Path, env: str) -> None:
    """`simulate --job J` for every job of a sample environment, deployed once."""
    jobs = [job.name for job in load_environment(env).jobs]
    code, output = simulate(assembly, *(f"--job={job}" for job in jobs), env=env)
    assert code == 0, output
    assert output.count("all guarantees held") == len(jobs), output
    assert "✘" not in output
    for job in jobs:
        assert f"▶ job {job}:" in output


def test_every_job_of_dev_holds_every_guarantee(dev_assembly: Path) -> None:
    simulate_every_job(dev_assembly, "dev")


def test_the_simulation_of_the_dev_environment_holds_every_guarantee(dev_assembly: Path) -> None:
    code, output = simulate(dev_assembly)
    assert code == 0, output
    assert output.count("✔") == 6
    assert "all guarantees held" in output
    assert "job nightly-report: cron(0 3 * * ? *) (Asia/Tokyo), concurrency forbid" in output


def test_a_guard_that_lets_everything_run_fails_the_simulation(
    dev_assembly: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def careless(**_: object) -> Decision:
        return Decision(Verdict.RUN, "no questions asked", resume=True)  # claims nothing

    monkeypatch.setattr(handler, "decide", careless)
    code, output = simulate(dev_assembly)
    assert code == 1
    assert re.search(
        r"✘ once per slot: the burst started one ECS task — \d+ task\(s\), 8 run", output
    )
    assert "✘ a duplicate after the run finished was skipped — run (claimed)" in output
    assert "a guarantee failed" in output


def test_a_missing_assembly_is_one_clear_line(tmp_path: Path) -> None:
    code, output = simulate(tmp_path)
    assert code == 1
    assert output.strip() == (
        f"error: {tmp_path}/cronguard-dev.template.json not found: run "
        "`npx cdk synth -c env=dev` (or `make synth ENV=dev`)"
    )


def test_an_assembly_of_another_config_says_to_re_synthesize(
    dev_assembly: Path, tmp_path: Path
) -> None:
    config = tmp_path / "config"
    shutil.copytree(DEFAULT_CONFIG_DIR, config)
    jobs = config / "jobs.yaml"
    jobs.write_text(jobs.read_text().replace("nightly-report:", "nightly-reports:"))

    started = time.monotonic()
    code, output = simulate(dev_assembly, CRONGUARD_CONFIG=str(config))

    assert code == 1
    assert output.strip() == (
        f"error: {dev_assembly} is out of date for dev (no job nightly-reports; job "
        "nightly-report is not configured): re-synthesize with `npx cdk synth -c env=dev` "
        "(or `make synth ENV=dev`)"
    )
    assert time.monotonic() - started < 10  # refused before deploying
