"""`cronguard simulate`, the main job: it passes on the real guard and catches a broken one."""

from __future__ import annotations

import re
from pathlib import Path

import aws_cdk as cdk
import pytest
from typer.testing import CliRunner

import app as cdk_app
from cronguard.cli import app
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


def simulate(assembly: Path) -> tuple[int, str]:
    result = runner.invoke(
        app, ["simulate", "--env", "dev", "--assembly", str(assembly)], env={"COLUMNS": "200"}
    )
    return result.exit_code, result.output


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
