"""Nothing the environment's own Lambdas fail at is silent.

EventBridge invokes the cleanup and the sweeper asynchronously: the rule target's
dead-letter queue only catches failed deliveries, and Lambda drops an event whose handler
still raises after its own retries unless the function has an on-failure destination. So
each has one, to a queue that alarms, and each function's Errors alarm; and a sweeper that
stops reporting alarms too, rather than looking like a sweeper that finds nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from lambdas.cleanup import settings as cleanup_settings
from lambdas.core.metrics_contract import ORPHANED_WORK
from lambdas.sweeper import settings as sweeper_settings
from tests.infra.conftest import Synthesized

Synth = Callable[[str], Synthesized]
ENVIRONMENTS = ["dev", "prod"]
CLEANUP = cleanup_settings.HANDLER
SWEEPER = sweeper_settings.HANDLER


def resources(synthesized: Synthesized, kind: str) -> dict[str, Any]:
    return dict(synthesized.template.find_resources(kind))


def function_id(synthesized: Synthesized, handler: str) -> str:
    (logical_id,) = [
        logical_id
        for logical_id, function in resources(synthesized, "AWS::Lambda::Function").items()
        if function["Properties"]["Handler"] == handler
    ]
    return logical_id


def async_invoke_config(synthesized: Synthesized, handler: str) -> dict[str, Any]:
    function = {"Ref": function_id(synthesized, handler)}
    configs = [
        config["Properties"]
        for config in resources(synthesized, "AWS::Lambda::EventInvokeConfig").values()
        if config["Properties"]["FunctionName"] == function
    ]
    assert len(configs) == 1, f"{handler}: no on-failure destination, failed events are dropped"
    return dict(configs[0])


def queue_alarms(synthesized: Synthesized, queue_id: str) -> list[dict[str, Any]]:
    return [
        alarm["Properties"]
        for alarm in resources(synthesized, "AWS::CloudWatch::Alarm").values()
        if alarm["Properties"].get("MetricName") == "ApproximateNumberOfMessagesVisible"
        and {"Name": "QueueName", "Value": {"Fn::GetAtt": [queue_id, "QueueName"]}}
        in alarm["Properties"]["Dimensions"]
    ]


def errors_alarms(synthesized: Synthesized, handler: str) -> list[dict[str, Any]]:
    function = {"Name": "FunctionName", "Value": {"Ref": function_id(synthesized, handler)}}
    return [
        alarm["Properties"]
        for alarm in resources(synthesized, "AWS::CloudWatch::Alarm").values()
        if (alarm["Properties"].get("Namespace"), alarm["Properties"].get("MetricName"))
        == ("AWS/Lambda", "Errors")
        and function in alarm["Properties"]["Dimensions"]
    ]


def may_send_to(synthesized: Synthesized, handler: str, queue_id: str) -> bool:
    (function,) = [
        f
        for f in resources(synthesized, "AWS::Lambda::Function").values()
        if f["Properties"]["Handler"] == handler
    ]
    role = function["Properties"]["Role"]["Fn::GetAtt"][0]
    return any(
        "sqs:SendMessage" in statement["Action"]
        and statement["Resource"] == {"Fn::GetAtt": [queue_id, "Arn"]}
        and statement["Effect"] == "Allow"
        for policy in resources(synthesized, "AWS::IAM::Policy").values()
        if {"Ref": role} in policy["Properties"]["Roles"]
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]
    )


@pytest.mark.parametrize("env_name", ENVIRONMENTS)
def test_a_cleanup_that_still_fails_after_lambdas_retries_lands_in_the_alarmed_dead_letter_queue(
    synth: Synth, env_name: str
) -> None:
    synthesized = synth(env_name)
    config = async_invoke_config(synthesized, CLEANUP)
    assert config["MaximumRetryAttempts"] == 2  # idempotent: conditional ledger writes
    assert config["MaximumEventAgeInSeconds"] == 6 * 3600
    destination = config["DestinationConfig"]["OnFailure"]["Destination"]
    queue_id = destination["Fn::GetAtt"][0]
    assert resources(synthesized, "AWS::SQS::Queue")[queue_id]  # the environment's DLQ
    assert may_send_to(synthesized, CLEANUP, queue_id)
    (alarm,) = queue_alarms(synthesized, queue_id)
    assert "cleanup" in alarm["AlarmDescription"]
    assert "requestPayload" in alarm["AlarmDescription"]  # says where to look, and what to do
    assert alarm["AlarmActions"]


@pytest.mark.parametrize("env_name", ENVIRONMENTS)
def test_a_sweep_that_fails_lands_in_a_queue_that_alarms(synth: Synth, env_name: str) -> None:
    synthesized = synth(env_name)
    config = async_invoke_config(synthesized, SWEEPER)
    assert config["MaximumRetryAttempts"] == 0  # the next scheduled sweep is the retry
    destination = config["DestinationConfig"]["OnFailure"]["Destination"]
    queue_id = destination["Fn::GetAtt"][0]
    queue = resources(synthesized, "AWS::SQS::Queue")[queue_id]
    assert queue["Properties"]["SqsManagedSseEnabled"] is True
    assert may_send_to(synthesized, SWEEPER, queue_id)
    (alarm,) = queue_alarms(synthesized, queue_id)
    assert "sweep" in alarm["AlarmDescription"]
    assert alarm["AlarmActions"]
    # A sweep trigger EventBridge could not deliver lands in the same queue.
    (rule,) = [
        r["Properties"]
        for r in resources(synthesized, "AWS::Events::Rule").values()
        if "ScheduleExpression" in r["Properties"]
        and r["Properties"]["Targets"][0]["Arn"]
        == {"Fn::GetAtt": [function_id(synthesized, SWEEPER), "Arn"]}
    ]
    assert rule["Targets"][0]["DeadLetterConfig"] == {"Arn": destination}


@pytest.mark.parametrize("env_name", ENVIRONMENTS)
@pytest.mark.parametrize("handler", [CLEANUP, SWEEPER])
def test_an_error_of_the_cleanup_or_the_sweeper_alarms(
    synth: Synth, env_name: str, handler: str
) -> None:
    (alarm,) = errors_alarms(synth(env_name), handler)
    assert alarm["Threshold"] == 1
    assert alarm["ComparisonOperator"] == "GreaterThanOrEqualToThreshold"
    assert alarm["Statistic"] == "Sum"
    assert alarm["AlarmActions"]


@pytest.mark.parametrize("env_name", ENVIRONMENTS)
def test_a_sweeper_that_stops_reporting_alarms_instead_of_looking_healthy(
    synth: Synth, env_name: str
) -> None:
    synthesized = synth(env_name)
    (silent,) = [
        alarm["Properties"]
        for alarm in resources(synthesized, "AWS::CloudWatch::Alarm").values()
        if alarm["Properties"].get("MetricName") == ORPHANED_WORK
        and alarm["Properties"]["TreatMissingData"] == "breaching"
    ]
    # Every sweep that gets as far as its metrics reports OrphanedWork (0 included): no
    # sample for three sweep intervals in a row means no sweep ran.
    assert silent["Statistic"] == "SampleCount"
    assert silent["ComparisonOperator"] == "LessThanThreshold"
    assert silent["Threshold"] == 1
    assert silent["EvaluationPeriods"] == 3
    assert silent["DatapointsToAlarm"] == 3
    assert silent["Period"] == 300
    assert silent["AlarmActions"]
    # "Work was orphaned" still means exactly that: no data there is not an orphan.
    (orphans,) = [
        alarm["Properties"]
        for alarm in resources(synthesized, "AWS::CloudWatch::Alarm").values()
        if alarm["Properties"].get("MetricName") == ORPHANED_WORK
        and alarm["Properties"]["Statistic"] == "Sum"
    ]
    assert orphans["TreatMissingData"] == "notBreaching"
