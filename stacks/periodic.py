"""A Lambda that runs on a schedule and is itself watched: the orphan sweeper, the slot watch.

A run that fails is not retried (the next scheduled run is the retry, and would meet the same
cause); it is kept, with its error, in a queue that is both the function's on-failure
destination and the rule's dead-letter queue, and that queue alarms. Every run that gets as
far as its metrics reports its metric (0 included), so no sample for a few intervals means no
run completed — a silence that must not look like a healthy "nothing found".
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from aws_cdk import Duration
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as events_targets
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from stacks.compliance import acknowledge
from stacks.functions import FailedInvocations
from stacks.monitoring import alarm

FAILED_RUN_RETENTION = Duration.days(14)
RULE_RETRIES = 2


def run_periodically(
    scope: Construct,
    function: lambda_.IFunction,
    *,
    every: Duration,
    queue_id: str,
    rule_id: str,
    description: str,
    what: str,
    inputs: Sequence[Mapping[str, Any]] = (),
) -> tuple[sqs.Queue, list[events.Rule]]:
    """Invoke ``function`` every ``every``, once with each of ``inputs`` (one rule each: the
    first keeps ``rule_id``), or once with the rule's own event; its failed runs (and
    undeliverable triggers) are kept in the returned queue. ``what`` names the function in
    the queue's acknowledgement."""
    failed = sqs.Queue(
        scope,
        queue_id,
        encryption=sqs.QueueEncryption.SQS_MANAGED,
        enforce_ssl=True,
        retention_period=FAILED_RUN_RETENTION,
    )
    acknowledge(
        failed,
        "SQS3",
        f"This queue is itself the on-failure destination and dead-letter queue of the {what}.",
    )
    function.configure_async_invoke(
        on_failure=FailedInvocations(failed),
        retry_attempts=0,
        max_event_age=every,
    )
    rules = [
        events.Rule(
            scope,
            rule_id if number == 0 else f"{rule_id}{number + 1}",
            description=description,
            schedule=events.Schedule.rate(every),
            targets=[
                events_targets.LambdaFunction(
                    function,
                    dead_letter_queue=failed,
                    retry_attempts=RULE_RETRIES,
                    event=events.RuleTargetInput.from_object(dict(event)) if event else None,
                )
            ],
        )
        for number, event in enumerate(inputs or [{}])
    ]
    return failed, rules


def failed_runs_alarm(
    scope: Construct,
    construct_id: str,
    *,
    queue: sqs.IQueue,
    every: Duration,
    description: str,
    topic: sns.ITopic,
) -> cloudwatch.Alarm:
    """Alarms while the queue of failed runs holds a message."""
    return alarm(
        scope,
        construct_id,
        metric=queue.metric_approximate_number_of_messages_visible(
            period=every, statistic="Maximum"
        ),
        description=description,
        topic=topic,
    )


def silence_alarm(
    scope: Construct,
    construct_id: str,
    *,
    reported: cloudwatch.Metric,
    intervals: int,
    description: str,
    topic: sns.ITopic,
) -> cloudwatch.Alarm:
    """Alarms when ``reported`` (every completed run's metric) has no sample for
    ``intervals`` periods in a row."""
    return alarm(
        scope,
        construct_id,
        metric=reported.with_(statistic="SampleCount"),
        description=description,
        topic=topic,
        below=True,
        periods=intervals,
        missing=cloudwatch.TreatMissingData.BREACHING,
    )
