"""The simulation's scenario under each concurrency policy and with job retries: every row
means what it says (the e2e environment has a job of each kind)."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

from cronguard.config import Environment
from cronguard_simulation.deploy import LocalEnvironment
from cronguard_simulation.engine import LocalAws
from cronguard_simulation.scenario import CATCH_UP_STEP, OVERRIDDEN_STEP, Result, Row, Simulation

JOBS = ("forbid-job", "replace-job", "allow-job", "retry-job")


@pytest.fixture(scope="module")
def results(synthesized: tuple[Environment, Path]) -> Iterator[dict[str, Result]]:
    """Each job's scenario, one after another on one engine (as `simulate --job` does)."""
    environment, assembly = synthesized
    for name in ("moto", "cronguard_simulation.engine"):
        logging.getLogger(name).setLevel(logging.CRITICAL)
    with LocalAws() as aws:
        local = LocalEnvironment(aws, environment, assembly, job_retry_interval_seconds=1).deploy()
        yield {job: Simulation(local, environment.job(job), burst=4).run() for job in JOBS}


def row(result: Result, step: str) -> Row:
    (found,) = [
        row
        for row in result.rows
        if row.step == step and (step != "burst" or row.decision == "run")
    ]
    return found


def failed_checks(result: Result) -> list[str]:
    return [f"{check.guarantee} — {check.detail}" for check in result.checks if not check.ok]


def test_forbid_skips_the_next_slot_while_the_run_runs(results: dict[str, Result]) -> None:
    result = results["forbid-job"]
    assert failed_checks(result) == []
    assert (row(result, "next slot").decision, row(result, "next slot").reason) == (
        "skip",
        "overlap",
    )
    assert row(result, "burst").outcome == "SUCCEEDED · ledger SUCCEEDED (exit 0)"
    assert "no overlap (forbid): the next slot was skipped while the run ran" in [
        check.guarantee for check in result.checks
    ]


def test_replace_shows_the_earlier_run_stopped_and_replaced(results: dict[str, Result]) -> None:
    result = results["replace-job"]
    assert failed_checks(result) == []
    next_slot = row(result, "next slot")
    assert (next_slot.decision, next_slot.outcome) == (
        "run",
        "SUCCEEDED · ledger SUCCEEDED (exit 0)",
    )
    assert row(result, "burst").outcome == (
        f"ABORTED · ledger ABORTED (replaced by {next_slot.execution})"
    )
    # the failing run is its own slot's task, whichever run started a task first
    assert row(result, "failing run").outcome == "FAILED · ledger FAILED (exit 3)"


def test_allow_shows_both_runs_running(results: dict[str, Result]) -> None:
    result = results["allow-job"]
    assert failed_checks(result) == []
    assert row(result, "next slot").outcome == "SUCCEEDED · ledger SUCCEEDED (exit 0)"
    assert row(result, "burst").outcome == "SUCCEEDED · ledger SUCCEEDED (exit 0)"
    assert "allow: the next slot ran while the earlier run still ran" in [
        check.guarantee for check in result.checks
    ]


def test_job_retries_fail_on_every_attempt_or_succeed_when_retried(
    results: dict[str, Result],
) -> None:
    result = results["retry-job"]
    assert failed_checks(result) == []
    assert row(result, "failing run").outcome == "FAILED · ledger FAILED (exit 3, 1 retry)"
    assert row(result, "retried run").outcome == "SUCCEEDED · ledger SUCCEEDED (exit 0, 1 retry)"
    assert [row.step for row in result.rows if row.step not in {"burst"}] == [
        "next slot",
        "late duplicate",
        "failing run",
        "retried run",
        OVERRIDDEN_STEP,
        CATCH_UP_STEP,
        "late delivery",
        "paused",
        "resumed",
    ]
