"""Alarms go to the environment's topic; the dashboard shows every job."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from cronguard.config import load_environment
from lambdas.core import metrics_contract
from lambdas.core.metrics_contract import FAILURE_METRICS, SKIP_METRICS
from stacks.monitoring import AT_FIRST_OCCURRENCE
from tests.configs import REPOSITORY_CONFIG
from tests.infra.conftest import Synthesized

Synth = Callable[[str], Synthesized]


def alarms(template: Any) -> list[dict[str, Any]]:
    return [r["Properties"] for r in template.find_resources("AWS::CloudWatch::Alarm").values()]


def topic_ref(template: Any) -> dict[str, Any]:
    (logical_id,) = template.find_resources("AWS::SNS::Topic")
    return {"Ref": logical_id}


def every_alarm(synthesized: Synthesized) -> list[tuple[dict[str, Any], Any]]:
    """(alarm, its action as the environment's stack sees it) across all stacks."""
    found = [(a, a["AlarmActions"][0]) for a in alarms(synthesized.template)]
    seen = set()
    for job, template in synthesized.job_templates.items():
        if id(template) in seen:
            continue
        seen.add(id(template))
        found += [(a, synthesized.parameter(job, a["AlarmActions"][0])) for a in alarms(template)]
    return found


def is_sweeper_silence(alarm: dict[str, Any]) -> bool:
    """The one alarm on an absence: no sweep reported (tests/infra/test_failure_paths.py)."""
    return (
        alarm.get("MetricName") == metrics_contract.ORPHANED_WORK
        and alarm["Statistic"] == "SampleCount"
    )


def is_watch_silence(alarm: dict[str, Any]) -> bool:
    """The slot watch's alarm on an absence: no check reported."""
    return (
        alarm.get("MetricName") == metrics_contract.MISSED_SLOTS
        and alarm["Statistic"] == "SampleCount"
    )


@pytest.mark.parametrize("env_name", ["dev", "prod"])
def test_every_alarm_has_a_threshold_of_one_and_notifies_the_topic(
    synth: Synth, env_name: str
) -> None:
    synthesized = synth(env_name)
    found = every_alarm(synthesized)
    # One per job, one more per job with alert_after; per environment: cleanup errors, dead
    # letters, unconfirmed task stops, orphaned work, sweeper errors, failed sweeps, a silent
    # sweeper; missed slots, slot-watch errors, failed checks, a silent slot watch.
    jobs = load_environment(env_name, REPOSITORY_CONFIG).jobs
    running_long = sum(1 for job in jobs if job.alert_after is not None)
    assert running_long  # the example environments show it
    assert len(found) == len(synthesized.job_templates) + running_long + 11
    assert sum(1 for alarm, _ in found if is_sweeper_silence(alarm)) == 1
    assert sum(1 for alarm, _ in found if is_watch_silence(alarm)) == 1
    for alarm, action in found:
        assert alarm["Threshold"] == 1
        assert len(alarm["AlarmActions"]) == 1
        assert action == topic_ref(synthesized.template)
        if is_sweeper_silence(alarm) or is_watch_silence(alarm):
            continue
        assert alarm["ComparisonOperator"] == "GreaterThanOrEqualToThreshold"
        assert alarm["TreatMissingData"] == "notBreaching"


def when_it_fires(alarm: dict[str, Any]) -> dict[str, Any]:
    """An alarm's settings that ``AlarmSettings`` defines, and its metrics' periods."""
    keys = ("ComparisonOperator", "Threshold", "EvaluationPeriods", "DatapointsToAlarm")
    periods = (
        {alarm["Period"]}
        if "Period" in alarm
        else {m["MetricStat"]["Period"] for m in alarm["Metrics"] if "MetricStat" in m}
    )
    return {**{key: alarm.get(key) for key in (*keys, "TreatMissingData")}, "periods": periods}


@pytest.mark.parametrize("env_name", ["dev", "prod"])
def test_each_job_alarm_fires_as_the_environments_own_alarms_do(
    synth: Synth, env_name: str
) -> None:
    """The job alarms are rendered as data, the environment's are built by ``alarm()``: both
    from ``AT_FIRST_OCCURRENCE``, so they agree with each other and with it. (The sweeper's
    alarms count in its own rhythm; its silence alarm is the one exception.)"""
    synthesized = synth(env_name)
    own = [
        when_it_fires(alarm)
        for alarm in alarms(synthesized.template)
        if alarm["AlarmDescription"].startswith(
            (
                f"cronguard {env_name}: the cleanup Lambda failed",
                f"cronguard {env_name}: the dead-letter queue has messages",
            )
        )
    ]
    jobs = [when_it_fires(alarm) for alarm, _ in every_alarm(synthesized) if "Metrics" in alarm]
    assert (len(own), len(jobs)) == (2, len(load_environment(env_name, REPOSITORY_CONFIG).jobs))
    expected = {
        "DatapointsToAlarm": None,
        **AT_FIRST_OCCURRENCE.properties(),
        "periods": {AT_FIRST_OCCURRENCE.period_seconds},
    }
    for settings in own + jobs:
        assert settings == expected


@pytest.mark.parametrize("env_name", ["dev", "prod"])
def test_each_job_alarms_on_failed_timed_out_aborted_executions_and_guard_errors(
    synth: Synth, env_name: str
) -> None:
    found = [alarm for alarm, _ in every_alarm(synth(env_name))]
    for job in load_environment(env_name, REPOSITORY_CONFIG).jobs:
        (alarm,) = [
            a for a in found if f"{env_name}/{job.name}: an execution " in a["AlarmDescription"]
        ]
        expression, *inputs = alarm["Metrics"]
        assert expression["Expression"] == (
            "FILL(failed, 0) + FILL(timedOut, 0) + FILL(aborted, 0) + FILL(guardErrors, 0)"
        )
        watched = {
            (m["MetricStat"]["Metric"]["Namespace"], m["MetricStat"]["Metric"]["MetricName"])
            for m in inputs
        }
        assert watched == {
            ("AWS/States", "ExecutionsFailed"),
            ("AWS/States", "ExecutionsTimedOut"),
            ("AWS/States", "ExecutionsAborted"),
            ("AWS/Lambda", "Errors"),
        }
        assert f"{env_name}-{job.name}" in alarm["AlarmDescription"]


def test_environment_alarms_on_dead_letters_cleanup_errors_and_orphans(synth: Synth) -> None:
    names = [(a["Namespace"], a["MetricName"]) for a in alarms(synth("dev").template)]
    assert names.count(("AWS/SQS", "ApproximateNumberOfMessagesVisible")) == 3
    assert names.count((metrics_contract.NAMESPACE, metrics_contract.ORPHANED_WORK)) == 2
    assert names.count((metrics_contract.NAMESPACE, metrics_contract.MISSED_SLOTS)) == 2
    assert names.count(("AWS/Lambda", "Errors")) == 3  # the cleanup, the sweeper, the watch


def test_an_unconfirmed_task_stop_alarms_on_the_environments_own_dimensions(
    synth: Synth,
) -> None:
    """The guard and the cleanup publish TaskStopsUnconfirmed with the environment's
    dimensions alone (``lambdas/core/emit.py``): the alarm must match exactly those."""
    (alarm,) = [
        a
        for a in alarms(synth("dev").template)
        if a.get("MetricName") == metrics_contract.TASK_STOPS_UNCONFIRMED
    ]
    assert alarm["Namespace"] == metrics_contract.NAMESPACE
    assert {d["Name"]: d["Value"] for d in alarm["Dimensions"]} == {
        metrics_contract.ENVIRONMENT_DIMENSION: "dev",
        metrics_contract.SERVICE_DIMENSION: metrics_contract.SERVICE,
    }
    assert (alarm["Statistic"], alarm["Threshold"]) == ("Sum", 1)
    assert "lease is kept" in alarm["AlarmDescription"]


def test_no_alarm_watches_a_healthy_skip(synth: Synth) -> None:
    text = json.dumps([a for a, _ in every_alarm(synth("dev"))])
    for skip in SKIP_METRICS:
        assert skip not in text


def dashboard_body(template: Any) -> dict[str, Any]:
    """The dashboard JSON, with CloudFormation tokens (region, ARNs) as placeholders."""
    (dashboard,) = template.find_resources("AWS::CloudWatch::Dashboard").values()
    assert dashboard["Properties"]["DashboardName"] == "cronguard-dev"
    parts = dashboard["Properties"]["DashboardBody"]["Fn::Join"][1]
    text = "".join(part if isinstance(part, str) else "TOKEN" for part in parts)
    return dict(json.loads(text))


def test_dashboard_shows_runs_skips_failures_and_durations_of_every_job(synth: Synth) -> None:
    body = dashboard_body(synth("dev").template)
    expressions = [
        metric[0]["expression"]
        for widget in body["widgets"]
        for metric in widget.get("properties", {}).get("metrics", [])
        if isinstance(metric[0], dict)
    ]
    # One SEARCH per metric draws one series per job of the environment, however many.
    for metric in (
        metrics_contract.RUNS_STARTED,
        *SKIP_METRICS,
        *FAILURE_METRICS,
        metrics_contract.LAUNCH_RETRIES,
        metrics_contract.RUN_DURATION,
    ):
        assert any(
            expression.startswith(
                f"SEARCH('{{{metrics_contract.NAMESPACE},environment,job,service}} "
                f'MetricName="{metric}" environment="dev"\''
            )
            for expression in expressions
        ), metric
    header = body["widgets"][0]["properties"]["markdown"]
    for job in load_environment("dev", REPOSITORY_CONFIG).jobs:
        assert f"[{job.name}](https://console.aws.amazon.com/states/home" in header
        assert f"stateMachine:dev-{job.name})" in header
