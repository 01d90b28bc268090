"""Alarms to the environment's topic, and one dashboard per environment.

Alarms fire on what needs a person: an execution that failed, timed out or was aborted;
a guard or cleanup error; a delivery in the dead-letter queue. Skips are healthy (that is
the guard working) and never alarm; they are on the dashboard. Each job's own alarm is
rendered with the job, in its job stack (``stacks/job/``).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from aws_cdk import ArnFormat, Duration, Stack
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as cloudwatch_actions
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from cronguard.config import Environment
from lambdas.core import metrics_contract as names

# Links to at most this many state machines in the dashboard's header.
MAX_JOB_LINKS = 30


@dataclass(frozen=True)
class AlarmSettings:
    """When an alarm fires. The one definition both kinds of alarm are made from: ``alarm()``
    builds the environment's alarms from it as constructs, and each job's alarm, rendered with
    its job stack (``stacks/job/``), writes ``properties()`` and ``period_seconds``."""

    comparison: cloudwatch.ComparisonOperator
    treat_missing_data: cloudwatch.TreatMissingData
    threshold: int = 1
    evaluation_periods: int = 1
    period_seconds: int = 300  # the metric's period, where the caller's rhythm sets none

    @property
    def datapoints_to_alarm(self) -> int | None:
        """All of them, when an alarm evaluates several periods (a silence)."""
        return self.evaluation_periods if self.evaluation_periods > 1 else None

    def properties(self) -> dict[str, Any]:
        """As an ``AWS::CloudWatch::Alarm`` spells them (what the CDK renders for ``alarm()``)."""
        rendered: dict[str, Any] = {
            "ComparisonOperator": _pascal(self.comparison.value),
            "Threshold": self.threshold,
            "EvaluationPeriods": self.evaluation_periods,
            "TreatMissingData": _camel(self.treat_missing_data.value),
        }
        if self.datapoints_to_alarm is not None:
            rendered["DatapointsToAlarm"] = self.datapoints_to_alarm
        return rendered


def _pascal(member: str) -> str:
    """A CDK enum member (``GREATER_THAN_THRESHOLD``) as CloudFormation writes it."""
    return "".join(word.title() for word in member.split("_"))


def _camel(member: str) -> str:
    pascal = _pascal(member)
    return pascal[:1].lower() + pascal[1:]


AT_FIRST_OCCURRENCE = AlarmSettings(
    comparison=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
    treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
)
"""The default: the first failure (error, dead letter, failed execution) in a period."""
PERIOD = Duration.seconds(AT_FIRST_OCCURRENCE.period_seconds)


def alarm(
    scope: Construct,
    construct_id: str,
    *,
    metric: cloudwatch.IMetric,
    description: str,
    topic: sns.ITopic,
    below: bool = False,
    periods: int | None = None,
    missing: cloudwatch.TreatMissingData | None = None,
) -> cloudwatch.Alarm:
    """An alarm to the environment's topic: by default ``AT_FIRST_OCCURRENCE``; ``below``:
    when the metric stays under the threshold for ``periods`` periods in a row (a silence);
    ``missing``: how a period without data counts."""
    settings = AT_FIRST_OCCURRENCE
    if below:
        settings = replace(settings, comparison=cloudwatch.ComparisonOperator.LESS_THAN_THRESHOLD)
    if periods is not None:
        settings = replace(settings, evaluation_periods=periods)
    if missing is not None:
        settings = replace(settings, treat_missing_data=missing)
    created = cloudwatch.Alarm(
        scope,
        construct_id,
        metric=metric,
        alarm_description=description,
        threshold=settings.threshold,
        evaluation_periods=settings.evaluation_periods,
        datapoints_to_alarm=settings.datapoints_to_alarm,
        comparison_operator=settings.comparison,
        treat_missing_data=settings.treat_missing_data,
    )
    created.add_alarm_action(cloudwatch_actions.SnsAction(topic))
    return created


def service_metric(env: str, metric_name: str, period: Duration) -> cloudwatch.Metric:
    """The sum of one of cronguard's own metrics over the environment (EMF dimensions)."""
    return cloudwatch.Metric(
        namespace=names.NAMESPACE,
        metric_name=metric_name,
        dimensions_map={
            names.ENVIRONMENT_DIMENSION: env,
            names.SERVICE_DIMENSION: names.SERVICE,
        },
        statistic="Sum",
        period=period,
    )


class Monitoring(Construct):
    """The environment's own alarms and its dashboard."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        environment: Environment,
        cleanup_errors: cloudwatch.IMetric,
        dead_letters: sqs.IQueue,
        topic: sns.ITopic,
    ) -> None:
        super().__init__(scope, construct_id)
        self._topic = topic
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
            f"cronguard {environment.name}: the dead-letter queue has messages. A schedule "
            "trigger EventBridge Scheduler could not deliver names its schedule: run that "
            "slot with `cronguard run JOB --slot SLOT`. A cleanup event EventBridge could not "
            "deliver, or a cleanup that failed after Lambda's retries (requestPayload is the "
            "event, responsePayload the error), names an execution whose lease and slot may "
            "still be held: fix the cause, then send the event back to the cleanup Lambda "
            "(aws lambda invoke --invocation-type Event) or let the lease expire. Delete each "
            "message once handled.",
        )
        self._alarm(
            "TaskStopsUnconfirmed",
            service_metric(environment.name, names.TASK_STOPS_UNCONFIRMED, PERIOD),
            f"cronguard {environment.name}: a failed or ended run's ECS task was not confirmed "
            "STOPPED within the wait, so its lease is kept and the job's next slots are skipped "
            f"as overlaps. The metric {names.TASK_STOPS_UNCONFIRMED} with the "
            f"'{names.JOB_DIMENSION}' dimension names the job, `cronguard history JOB` the slot "
            "and its task. The reconciler releases the lease once ECS says STOPPED (or it "
            "expires); a task that does not stop needs `aws ecs stop-task` or a look at its "
            "container's stop handling.",
        )
        self.dashboard = self._dashboard(environment)

    def _alarm(self, construct_id: str, metric: cloudwatch.IMetric, description: str) -> None:
        alarm(self, construct_id, metric=metric, description=description, topic=self._topic)

    def _dashboard(self, environment: Environment) -> cloudwatch.Dashboard:
        stack = Stack.of(self)
        env = environment.name
        dashboard = cloudwatch.Dashboard(
            self,
            "Dashboard",
            dashboard_name=f"cronguard-{env}",
            default_interval=Duration.days(7),
        )
        jobs = environment.jobs
        shown = jobs[:MAX_JOB_LINKS]
        links = " · ".join(
            f"[{job.name}](https://console.aws.amazon.com/states/home?region={stack.region}"
            f"#/statemachines/view/"
            f"{state_machine_arn(stack, environment.state_machine_name(job))})"
            for job in shown
        )
        more = f" (and {len(jobs) - len(shown)} more)" if len(jobs) > len(shown) else ""
        dashboard.add_widgets(
            cloudwatch.TextWidget(
                markdown=f"# cronguard {env}\nState machines: {links}{more}",
                width=24,
                height=2,
            )
        )
        # One series per job, however many jobs there are: SEARCH finds them (and stays
        # within CloudWatch's 500 widgets per dashboard, which per-job widgets would not).
        dashboard.add_widgets(
            *(
                cloudwatch.GraphWidget(
                    title=title,
                    left=[search(env, metric, statistic) for metric in metrics],
                    width=8,
                )
                for title, metrics, statistic in (
                    ("All jobs: runs started", (names.RUNS_STARTED,), "Sum"),
                    ("All jobs: skips", names.SKIP_METRICS, "Sum"),
                    ("All jobs: failures", names.FAILURE_METRICS, "Sum"),
                    ("All jobs: launch retries", (names.LAUNCH_RETRIES,), "Sum"),
                    ("All jobs: run duration (s)", (names.RUN_DURATION,), "Maximum"),
                )
            )
        )
        return dashboard


def state_machine_arn(stack: Stack, name: str) -> str:
    return stack.format_arn(
        service="states",
        resource="stateMachine",
        resource_name=name,
        arn_format=ArnFormat.COLON_RESOURCE_NAME,
    )


def search(environment: str, metric: str, statistic: str) -> cloudwatch.MathExpression:
    """One series per job of the environment (dashboards only: alarms cannot SEARCH)."""
    return cloudwatch.MathExpression(
        expression=(
            f"SEARCH('{{{names.NAMESPACE},{names.ENVIRONMENT_DIMENSION},{names.JOB_DIMENSION},"
            f'{names.SERVICE_DIMENSION}}} MetricName="{metric}" '
            f"{names.ENVIRONMENT_DIMENSION}=\"{environment}\"', '{statistic}', "
            f"{int(PERIOD.to_seconds())})"
        ),
        label=metric,
        using_metrics={},
        period=PERIOD,
    )
