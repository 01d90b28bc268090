"""The metric names the Lambdas emit are the ones the alarms and dashboards are built on."""

from __future__ import annotations

from lambdas.core.ledger_contract import Status
from lambdas.core.metrics_contract import FAILURE_METRICS, RUNS_STARTED, SKIP_METRICS, status_metric
from lambdas.guard.decision import Verdict
from lambdas.guard.handler import METRIC_BY_VERDICT


def test_every_ended_status_has_its_own_run_count() -> None:
    ended = (Status.SUCCEEDED, Status.FAILED, Status.TIMED_OUT, Status.ABORTED)
    assert [status_metric(status) for status in ended] == [
        "RunsSucceeded",
        "RunsFailed",
        "RunsTimedOut",
        "RunsAborted",
    ]


def test_failures_alarm_on_every_way_a_run_fails_and_never_on_success() -> None:
    assert set(FAILURE_METRICS) == {"RunsFailed", "RunsTimedOut", "RunsAborted"}


def test_every_guard_verdict_is_counted_and_the_dashboard_graphs_every_skip() -> None:
    assert set(METRIC_BY_VERDICT) == set(Verdict) - {Verdict.CHECK}  # CHECK is not final
    assert METRIC_BY_VERDICT[Verdict.RUN] == RUNS_STARTED
    skips = {metric for verdict, metric in METRIC_BY_VERDICT.items() if verdict.skips}
    assert skips == set(SKIP_METRICS)
