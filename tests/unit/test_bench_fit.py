"""The benchmark's arithmetic (the per-job slope fit, the billed transitions) and its results
file, docs/benchmark.md."""

from __future__ import annotations

import importlib.util
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest
from rich.table import Table

# bench/ is a folder of scripts, not a package: load the benchmark from its file.
_spec = importlib.util.spec_from_file_location(
    "bench_benchmark", Path(__file__).resolve().parents[2] / "bench" / "benchmark.py"
)
assert _spec is not None and _spec.loader is not None
benchmark = sys.modules[_spec.name] = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(benchmark)
fit_of, least_squares, transitions_of = (
    benchmark.fit_of,
    benchmark.least_squares,
    benchmark.transitions_of,
)


def test_points_on_a_line_give_that_line():
    fit = least_squares([(1, 2.5), (1, 2.5), (50, 27.0), (250, 127.0)])

    assert fit.slope == pytest.approx(0.5)
    assert fit.intercept == pytest.approx(2.0)
    assert fit.r_squared == pytest.approx(1.0)
    assert fit.points == 4


def test_scattered_points_give_the_least_squares_line():
    # mean (1, 2); Sxy = 1, Sxx = 2, Syy = 2; residuals -0.5, 1, -0.5.
    fit = least_squares([(0, 1.0), (1, 3.0), (2, 2.0)])

    assert (fit.slope, fit.intercept) == pytest.approx((0.5, 1.5))
    assert fit.r_squared == pytest.approx(0.25)


def test_every_run_counts_not_only_the_fastest():
    # A slow first run at 1 job and a fast one at 50: the fastest runs alone (10 s, then
    # 9 s) give a negative slope; the line through every run follows the means.
    samples = {1: [10.0, 30.0], 50: [9.0, 40.0]}

    fit = fit_of(samples)

    assert (min(samples[50]) - min(samples[1])) / 49 < 0
    assert fit.slope == pytest.approx((24.5 - 20.0) / 49)


def test_one_size_has_no_slope():
    with pytest.raises(ValueError, match="two x values"):
        fit_of({250: [30.0, 31.0]})


def test_each_task_attempt_after_the_first_is_a_billed_transition():
    history = [
        {"type": kind}
        for kind in (
            "ExecutionStarted",
            "TaskStateEntered",
            "TaskScheduled",
            "TaskFailed",
            "TaskScheduled",
            "TaskSucceeded",
            "TaskStateExited",
            "ChoiceStateEntered",
            "ChoiceStateExited",
            "TaskStateEntered",
            "TaskScheduled",
            "TaskFailed",
            "TaskScheduled",
            "TaskFailed",
            "TaskScheduled",
            "TaskSucceeded",
            "TaskStateExited",
            "SucceedStateEntered",
            "ExecutionSucceeded",
        )
    ]

    counted = transitions_of(history)

    assert (counted.entered, counted.retries, counted.billed) == (4, 3, 7)


def _measured(command: str, commit: str) -> object:
    at = datetime(2026, 12, 2, 9, 55, tzinfo=UTC)
    return benchmark.Measured(command, at, commit, 2, "0.80 / 0.50 / 0.40", "4.70 / 2.10 / 1.00")


def _calls_table(calls: str) -> Table:
    table = Table(title="3. AWS API calls the guard makes per decision")
    table.add_column("decision", justify="left")
    table.add_column("calls", justify="right")
    table.add_row("duplicate, burst", calls + "\n(target ≤ 3)")
    table.add_row("overlap | missed", "4")
    table.caption = "The burst: two executions of one slot."
    return table


def test_a_printed_table_becomes_a_markdown_table_under_its_title():
    markdown = benchmark.table_markdown(_calls_table("3"))

    assert markdown == (
        "### 3. AWS API calls the guard makes per decision\n"
        "\n"
        "| decision | calls |\n"
        "| --- | ---: |\n"
        "| duplicate, burst | 3 (target ≤ 3) |\n"
        "| overlap \\| missed | 4 |\n"
        "\n"
        "The burst: two executions of one slot."
    )


def test_a_run_rewrites_its_own_group_and_keeps_the_others(tmp_path):
    results = tmp_path / "benchmark.md"
    guard = _measured("bench/benchmark.py --guard-only", "01000a1")
    synth = _measured("bench/benchmark.py --synth-only", "f59f969")

    benchmark.write_results(results, "guard", guard, [_calls_table("3")])
    first_guard = results.read_text()
    benchmark.write_results(results, "synth", synth, [_calls_table("5")])
    both = results.read_text()
    benchmark.write_results(results, "guard", guard, [_calls_table("4")])
    rewritten = results.read_text()

    assert first_guard.startswith(benchmark.RESULTS_HEADER)
    assert both.index("<!-- bench:synth -->") < both.index("<!-- bench:guard -->")
    assert both.endswith(first_guard[len(benchmark.RESULTS_HEADER) :].lstrip("\n"))
    groups = benchmark.results_groups(rewritten)
    assert list(groups) == ["synth", "guard"]
    assert groups["synth"] == benchmark.results_groups(both)["synth"]
    assert "| duplicate, burst | 4 (target ≤ 3) |" in groups["guard"]
    assert "| duplicate, burst | 3" not in rewritten
    assert (
        "Measured 2026-12-02 09:55 UTC at commit 01000a1 by "
        "`bench/benchmark.py --guard-only`, on 2 cores; load (1/5/15 min) "
        "0.80 / 0.50 / 0.40 at the start, 4.70 / 2.10 / 1.00 at the end."
    ) in groups["guard"]


def test_the_committed_results_are_in_the_structure_the_benchmark_writes():
    text = benchmark.RESULTS.read_text(encoding="utf-8")

    groups = benchmark.results_groups(text)

    assert list(groups) == list(benchmark.GROUPS)
    assert benchmark.results_document(groups) == text, "docs/benchmark.md: rewrite it with bench"
    for name, group in groups.items():
        assert group.startswith(f"<!-- bench:{name} -->\n## {benchmark.GROUPS[name]}\n\nMeasured ")
