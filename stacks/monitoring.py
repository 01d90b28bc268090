"""Alarms to the environment's topic, and one dashboard per environment.

Alarms fire on what needs a person: an execution that failed, timed out or was aborted;
a guard or cleanup error; a delivery in the dead-letter queue. Skips are healthy (that is
the guard working) and never alarm; they are on the dashboard. Each job's own alarm is
rendered with the job, in its job stack (``stacks/job_template.py``).
"""

from __future__ import annotations

from aws_cdk import ArnFormat, Duration, Stack
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as cloudwatch_actions
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from cronguard.config import Environment
from lambdas import metrics_contract as names

PERIOD = Duration.minutes(5)
# Links to at most this many state machines in the dashboard's header.
MAX_JOB_LINKS = 30


def alarm(
    scope: Construct,
    construct_id: str,
    *,
    metric: cloudwatch.IMetric,
    description: str,
    topic: sns.ITopic,
    below: bool = False,
    periods: int = 1,
    missing: cloudwatch.TreatMissingData = cloudwatch.TreatMissingData.NOT_BREACHING,
) -> cloudwatch.Alarm:
    """An alarm to the environment's topic: by default at the first occurrence in a period;
    ``below``: when the metric stays under 1 for ``periods`` periods in a row (a silence)."""
    created = cloudwatch.Alarm(
        scope,
        construct_id,
        metric=metric,
        alarm_description=description,
        threshold=1,
        evaluation_periods=periods,
        datapoints_to_alarm=periods if periods > 1 else None,
        comparison_operator=cloudwatch.ComparisonOperator.LESS_THAN_THRESHOLD
        if below
        else cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        treat_missing_data=missing,
    )
    created.add_alarm_action(cloudwatch_actions.SnsAction(topic))
    return created


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
