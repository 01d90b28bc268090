"""Alarms go to the environment's topic; the dashboard shows every job."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from cronguard.config import load_environment
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


@pytest.mark.parametrize("env_name", ["dev", "prod"])
def test_every_alarm_has_a_threshold_of_one_and_notifies_the_topic(
    synth: Synth, env_name: str
) -> None:
    synthesized = synth(env_name)
    found = every_alarm(synthesized)
    assert len(found) == 4 * len(synthesized.job_templates) + 3
    for alarm, action in found:
        assert alarm["Threshold"] == 1
        assert alarm["ComparisonOperator"] == "GreaterThanOrEqualToThreshold"
        assert len(alarm["AlarmActions"]) == 1
        assert action == topic_ref(synthesized.template)
        assert alarm["TreatMissingData"] == "notBreaching"


@pytest.mark.parametrize("env_name", ["dev", "prod"])
def test_each_job_alarms_on_failed_timed_out_aborted_executions_and_guard_errors(
    synth: Synth, env_name: str
) -> None:
    found = [alarm for alarm, _ in every_alarm(synth(env_name))]
    for job in load_environment(env_name).jobs:
        machine = f"{env_name}-{job.name}"
        for metric in ("ExecutionsFailed", "ExecutionsTimedOut", "ExecutionsAborted"):
            assert any(
                a["MetricName"] == metric
                and a["Namespace"] == "AWS/States"
                and machine in json.dumps(a["AlarmDescription"])
                for a in found
            ), (machine, metric)
        assert any(
            a["MetricName"] == "Errors"
            and a["Namespace"] == "AWS/Lambda"
            and f"/{job.name}: GuardErrors" in a["AlarmDescription"]
            for a in found
        ), job.name


def test_environment_alarms_on_dead_letters_cleanup_errors_and_orphans(synth: Synth) -> None:
    names = {(a["Namespace"], a["MetricName"]) for a in alarms(synth("dev").template)}
    assert ("AWS/SQS", "ApproximateNumberOfMessagesVisible") in names
    assert ("cronguard", "OrphanedWork") in names
    assert sum(1 for n in names if n == ("AWS/Lambda", "Errors")) >= 1


def test_no_alarm_watches_a_healthy_skip(synth: Synth) -> None:
    watched = {a.get("MetricName") for a, _ in every_alarm(synth("dev"))}
    assert not watched & {"SkippedDuplicate", "SkippedOverlap", "SkippedLate"}


def test_dashboard_shows_runs_skips_failures_and_durations_of_every_job(synth: Synth) -> None:
    template = synth("dev").template
    (dashboard,) = template.find_resources("AWS::CloudWatch::Dashboard").values()
    assert dashboard["Properties"]["DashboardName"] == "cronguard-dev"
    body = json.dumps(dashboard["Properties"]["DashboardBody"])
    for job in load_environment("dev").jobs:
        for metric in (
            "RunsStarted",
            "SkippedDuplicate",
            "SkippedOverlap",
            "SkippedLate",
            "RunsFailed",
            "RunDuration",
        ):
            assert (
                f'\\"{metric}\\",\\"environment\\",\\"dev\\",\\"job\\",\\"{job.name}\\"' in body
            ), (
                job.name,
                metric,
            )
        assert f"[{job.name}](https://console.aws.amazon.com/states/home" in body
