"""`cronguard simulate`, the main job: it passes on the real guard for every sample job of
dev (prod: test_simulate_prod.py), catches a broken guard, and refuses a stale assembly."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cronguard.cli import app
from cronguard.config import load_environment
from cronguard_simulation.deploy import LocalEnvironment
from cronguard_simulation.scenario import pick_job
from lambdas.core import ledger, pause
from lambdas.guard import handler, retry
from lambdas.guard.decision import Decision, Verdict
from lambdas.slot_watch import handler as slot_watch
from lambdas.slot_watch import running_long
from tests.assemblies import environment_assembly
from tests.configs import REPOSITORY_CONFIG
from tests.unit.test_report_render import parse

runner = CliRunner()


@pytest.fixture(scope="module")
def dev_assembly(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return environment_assembly(tmp_path_factory, "dev")


def simulate(assembly: Path, *args: str, env: str = "dev", **variables: str) -> tuple[int, str]:
    result = runner.invoke(
        app,
        ["simulate", "--env", env, "--assembly", str(assembly), *args],
        env={"COLUMNS": "200", **variables},
    )
    return result.exit_code, result.output


def simulate_every_job(assembly: Path, env: str, *, but: str | None = None) -> None:
    """`simulate --job J` for every job of a sample environment (``but`` one that another test
    simulates), deployed once."""
    jobs = [job.name for job in load_environment(env, REPOSITORY_CONFIG).jobs if job.name != but]
    code, output = simulate(assembly, *(f"--job={job}" for job in jobs), env=env)
    assert code == 0, output
    assert output.count("all guarantees held") == len(jobs), output
    assert "✘" not in output
    for job in jobs:
        assert f"▶ job {job}:" in output


def test_every_other_job_of_dev_holds_every_guarantee(dev_assembly: Path) -> None:
    # The default job, the demo's, is the next test's.
    default = pick_job(load_environment("dev", REPOSITORY_CONFIG)).name
    assert default == "nightly-report"
    simulate_every_job(dev_assembly, "dev", but=default)


def test_the_simulation_of_the_dev_environment_holds_every_guarantee(dev_assembly: Path) -> None:
    code, output = simulate(dev_assembly)
    assert code == 0, output
    assert output.count("✔") == 13
    assert "all guarantees held" in output
    for guarantee in (
        "✔ running long: a run still running 45m (alert_after) after it started was alerted "
        "once — 45m - 1 s: nothing · 45m + 1 s: RunningLong 1 · 5 min later: nothing",
        "✔ honest outcome: exit 3 failed the execution and is in the ledger, not retried "
        "(job_retries 2 on exit 75, 137) — FAILED · ledger FAILED (exit 3), 1 task(s)",
        "✔ job_retries 2 on exit 75, 137: a run that exited 75 once was retried and succeeded "
        "— SUCCEEDED · ledger SUCCEEDED (exit 0, 1 retry) · attempts' exit codes in the "
        "ledger: 75, 0",
        "✔ a person's run with an override: the job's container got it, the ledger records it "
        "— SUCCEEDED · task RUN_REASON=re-run by hand (simulated) · ledger overrides "
        '{"environment": {"RUN_REASON": "re-run by hand (simulated)"}}',
        "✔ at least once: a trigger never delivered was reported missed and caught up once — "
        "MISSED · MissedSlots 1 · catch-up-",
        "✔ the missed slot's late delivery was skipped as a duplicate — skip (duplicate)",
        "✔ pause: a trigger of the paused job was skipped, with the reason in the ledger — "
        "Skipped: paused · ledger SKIPPED_PAUSED (simulated maintenance)",
        "✔ resume: the next slot ran, and the slot skipped while paused is not missed — "
        "SUCCEEDED · missed: none",
    ):
        assert guarantee in output
    assert "job nightly-report: cron(0 3 * * ? *) (Asia/Tokyo), concurrency forbid" in output


def test_a_guard_that_lets_everything_run_fails_the_simulation_and_its_page_says_so(
    dev_assembly: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    def careless(**_: object) -> Decision:
        return Decision(Verdict.RUN, "no questions asked", resume=True)  # claims nothing

    monkeypatch.setattr(handler, "decide", careless)
    page = tmp_path / "simulation.html"
    code, output = simulate(dev_assembly, f"--report={page}")
    assert code == 1
    assert re.search(
        r"✘ once per slot: the burst started one ECS task — \d+ task\(s\), 8 run", output
    )
    assert "✘ a duplicate after the run finished was skipped — run (claimed)" in output
    assert "a guarantee failed" in output
    # The page is written all the same, with the failures on it.
    dom = parse(page.read_text())
    lanes = dom.with_class("lane")
    rows = re.findall(r"^│ \S", output, flags=re.MULTILINE)  # the timeline's, one per execution
    assert len(lanes) == len(rows) > 8
    assert {lane["data-decision"] for lane in lanes} <= {"ran", "caught-up"}  # nothing skipped
    failed = [check for check in dom.with_class("check") if check["class"] == "check failed"]
    assert len(failed) == output.count("✘") > 0
    assert [v["class"] for v in dom.with_class("verdict")] == ["verdict failed"] * 2


def test_a_guard_that_reads_no_pause_and_retries_every_exit_fails_the_simulation(
    dev_assembly: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The guard reads (and its claim checks) another job's pause record: never paused.
    monkeypatch.setattr(ledger, "pause_key", lambda job: pause.key(f"{job}-elsewhere"))
    # It retries a failed task whatever its exit code (job_retries' number form).
    monkeypatch.setattr(
        retry.RetryPolicy,
        "retries",
        lambda policy, ended, *, failed_with, attempt: (
            attempt <= policy.max and failed_with == "States.TaskFailed"
        ),
    )
    code, output = simulate(dev_assembly)
    assert code == 1
    assert (
        "✘ pause: a trigger of the paused job was skipped, with the reason in the ledger — "
        "Succeeded · ledger SUCCEEDED" in output
    )
    assert (
        "✘ honest outcome: exit 3 failed the execution and is in the ledger, not retried "
        "(job_retries 2 on exit 75, 137) — SUCCEEDED · ledger SUCCEEDED (exit 0, 1 retry), "
        "2 task(s)" in output  # retried, its second task (scripted by no one) exited 0
    )
    assert output.count("✘") == 2


def test_a_slot_watch_that_reports_nothing_fails_the_simulation(
    dev_assembly: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(slot_watch, "record_missed", lambda *_, **__: False)
    # It marks a run that runs long, but publishes no RunningLong for the alarm.
    monkeypatch.setattr(running_long, "count", lambda *_, **__: None)
    code, output = simulate(dev_assembly)
    assert code == 1
    assert (
        "✘ running long: a run still running 45m (alert_after) after it started was alerted "
        "once — 45m - 1 s: nothing · 45m + 1 s: nothing · 5 min later: nothing" in output
    )
    assert re.search(
        r"✘ at least once: a trigger never delivered was reported missed and caught up once — "
        r"not reported · MissedSlots 0 · catch-up-\d{8}T\d{6}Z not started, 1 task\(s\)",
        output,
    )
    # Nothing caught it up: Scheduler's late delivery runs the slot instead.
    assert "✘ the missed slot's late delivery was skipped as a duplicate — run (claimed)" in output


def test_a_missing_assembly_is_one_clear_line(tmp_path: Path) -> None:
    code, output = simulate(tmp_path)
    assert code == 1
    assert output.strip() == (
        f"error: {tmp_path}/cronguard-dev.template.json not found: run "
        "`npx cdk synth -c env=dev` (or `make synth ENV=dev`)"
    )


def test_an_assembly_of_another_config_says_to_re_synthesize(
    dev_assembly: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tmp_path / "config"
    shutil.copytree(REPOSITORY_CONFIG, config)
    jobs = config / "jobs.yaml"
    jobs.write_text(jobs.read_text().replace("nightly-report:", "nightly-reports:"))

    def never(self: LocalEnvironment) -> LocalEnvironment:
        raise AssertionError("deployed an out-of-date assembly")

    monkeypatch.setattr(LocalEnvironment, "deploy", never)  # refused before deploying
    code, output = simulate(dev_assembly, CRONGUARD_CONFIG=str(config))

    assert code == 1
    assert output.strip() == (
        f"error: {dev_assembly} is out of date for dev (no job nightly-reports; job "
        "nightly-report is not configured): re-synthesize with `npx cdk synth -c env=dev` "
        "(or `make synth ENV=dev`)"
    )
