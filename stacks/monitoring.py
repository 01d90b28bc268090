"""Alarms to the environment's topic, and one dashboard per environment.

Alarms fire on what needs a person: an execution that failed, timed out or was aborted;
a guard or cleanup error; a delivery in the dead-letter queue. Skips are healthy (that is
the guard working) and never alarm; they are on the dashboard.
"""

from __future__ import annotations

from collections.abc import Mapping

from aws_cdk import Duration, Stack
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as cloudwatch_actions
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from cronguard.config import Environment
from stacks.guarded_job import GuardedJob

NAMESPACE = "cronguard"
SERVICE = "cronguard"  # the Powertools service name of every cronguard Lambda
PERIOD = Duration.minutes(5)
SKIP_METRICS = ("SkippedDuplicate", "SkippedOverlap", "SkippedLate")
FAILURE_METRICS = ("RunsFailed", "RunsTimedOut", "RunsAborted")


def job_metric(environment: str, job: str, name: str, statistic: str = "Sum") -> cloudwatch.Metric:
    """A metric the guard emits (Powertools adds the ``service`` dimension)."""
    return cloudwatch.Metric(
        namespace=NAMESPACE,
        metric_name=name,
        dimensions_map={"environment": environment, "job": job, "service": SERVICE},
        statistic=statistic,
        period=PERIOD,
        label=name,
    )


class Monitoring(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        environment: Environment,
        jobs: Mapping[str, GuardedJob],
        cleanup_errors: cloudwatch.IMetric,
        dead_letters: sqs.IQueue,
        topic: sns.ITopic,
    ) -> None:
        super().__init__(scope, construct_id)
        self._action = cloudwatch_actions.SnsAction(topic)
        self.alarms: dict[str, cloudwatch.Alarm] = {}
        for name, job in jobs.items():
            machine = job.state_machine
            for kind, metric in (
                ("ExecutionsFailed", machine.metric_failed(period=PERIOD)),
                ("ExecutionsTimedOut", machine.metric_timed_out(period=PERIOD)),
                ("ExecutionsAborted", machine.metric_aborted(period=PERIOD)),
                ("GuardErrors", job.guard.function.metric_errors(period=PERIOD)),
            ):
                self._alarm(
                    f"{name}{kind}",
                    metric,
                    f"cronguard {environment.name}/{name}: {kind} — see the state machine "
                    f"{job.state_machine_name} and `cronguard history {name}`.",
                )
        self._alarm(
            "CleanupErrors",
            cleanup_errors,
            f"cronguard {environment.name}: the cleanup Lambda failed; a lease may stay held "
            "until it expires.",
        )
        self._alarm(
            "DeadLetters",
            dead_letters.metric_approximate_number_of_messages_visible(
                period=PERIOD, statistic="Maximum"
            ),
            f"cronguard {environment.name}: a schedule trigger or cleanup event could not be "
            "delivered; its message names the schedule or execution.",
        )
        self.dashboard = self._dashboard(environment, jobs)

    def _alarm(self, construct_id: str, metric: cloudwatch.IMetric, description: str) -> None:
        alarm = cloudwatch.Alarm(
            self,
            construct_id,
            metric=metric,
            alarm_description=description,
            threshold=1,
            evaluation_periods=1,
            comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
        )
        alarm.add_alarm_action(self._action)
        self.alarms[construct_id] = alarm

    def _dashboard(
        self, environment: Environment, jobs: Mapping[str, GuardedJob]
    ) -> cloudwatch.Dashboard:
        stack = Stack.of(self)
        dashboard = cloudwatch.Dashboard(
            self,
            "Dashboard",
            dashboard_name=f"cronguard-{environment.name}",
            default_interval=Duration.days(7),
        )
        links = " · ".join(
            f"[{name}](https://console.aws.amazon.com/states/home?region={stack.region}"
            f"#/statemachines/view/{job.state_machine.state_machine_arn})"
            for name, job in jobs.items()
        )
        dashboard.add_widgets(
            cloudwatch.TextWidget(
                markdown=f"# cronguard {environment.name}\nState machines: {links}",
                width=24,
                height=2,
            )
        )
        env = environment.name
        for name in jobs:
            dashboard.add_widgets(
                cloudwatch.GraphWidget(
                    title=f"{name}: runs and failures",
                    left=[job_metric(env, name, "RunsStarted")]
                    + [job_metric(env, name, metric) for metric in FAILURE_METRICS],
                    width=8,
                ),
                cloudwatch.GraphWidget(
                    title=f"{name}: skips by reason",
                    left=[job_metric(env, name, metric) for metric in SKIP_METRICS],
                    stacked=True,
                    width=8,
                ),
                cloudwatch.GraphWidget(
                    title=f"{name}: run duration (s)",
                    left=[
                        job_metric(env, name, "RunDuration", "Average"),
                        job_metric(env, name, "RunDuration", "Maximum"),
                    ],
                    width=8,
                ),
            )
        return dashboard
