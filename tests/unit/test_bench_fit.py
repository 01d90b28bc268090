"""The benchmark's arithmetic: the per-job slope fit and the billed transitions."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

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
