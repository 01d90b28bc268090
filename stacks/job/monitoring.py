"""A job stack's log groups, shared by its jobs (and a job's own, when it sets its
retention), and each job's alarm."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import timedelta
from typing import Any

from cronguard.config import Environment
from cronguard.config.model import format_duration
from lambdas.core import metrics_contract as names
from stacks.functions import LOG_RETENTION_DAYS
from stacks.job.cloudformation import ref
from stacks.job.shapes import SHARED, Fragment, NamedJob, owner_topic_parameter
from stacks.monitoring import AT_FIRST_OCCURRENCE

# The state machines' logs go to a group under /aws/vendedlogs/: Step Functions adds every
# other log group it logs to to the account's CloudWatch Logs resource policy, 5,120
# characters shared by every vended-log delivery of the region, which a few dozen job stacks
# would fill. One group per job stack, named after the nested stack (unique, and stable for
# its lifetime).
EXECUTION_LOG_GROUP_NAME = {"Fn::Sub": "/aws/vendedlogs/states/${AWS::StackName}"}


def monitoring(environment: Environment, jobs: Sequence[NamedJob]) -> Iterator[Fragment]:
    """The executions', job containers' and guards' log groups (a stream prefix per job),
    then one alarm per job: any failed, timed-out or aborted execution, or a guard error, in
    a period; and a job with ``alert_after`` one more, for a run still running that long.
    Skips are healthy and never alarm. When it fires is the environment's alarms' rule
    (``stacks.monitoring.AT_FIRST_OCCURRENCE``), which ``alarm()`` builds from."""
    for logical_id in (SHARED.execution_logs, SHARED.job_logs, SHARED.guard_logs):
        properties: dict[str, Any] = {"RetentionInDays": LOG_RETENTION_DAYS}
        if logical_id == SHARED.execution_logs:
            properties["LogGroupName"] = EXECUTION_LOG_GROUP_NAME
        yield Fragment(
            logical_id,
            {
                "Type": "AWS::Logs::LogGroup",
                "Properties": properties,
                "DeletionPolicy": "Retain",
                "UpdateReplacePolicy": "Retain",
            },
        )
    for named in jobs:
        job, ids = named.job, named.ids
        if job.logs.retention_days is not None:
            yield Fragment(
                ids.container_logs,
                {
                    "Type": "AWS::Logs::LogGroup",
                    "Properties": {"RetentionInDays": job.logs.retention_days},
                    "DeletionPolicy": "Retain",
                    "UpdateReplacePolicy": "Retain",
                },
            )
        machine = {"Name": "StateMachineArn", "Value": ref(ids.state_machine)}
        yield Fragment(
            ids.alarm,
            {
                "Type": "AWS::CloudWatch::Alarm",
                "Properties": {
                    "AlarmDescription": f"cronguard {environment.name}/{job.name}: an execution "
                    f"failed, timed out or was aborted, or the guard failed — see the state "
                    f"machine {named.state_machine} and `cronguard history {job.name}`.",
                    **AT_FIRST_OCCURRENCE.properties(),
                    "AlarmActions": [ref("AlarmTopicArn"), *_owner_actions(environment, named)],
                    "Metrics": [
                        {
                            "Id": "needsAttention",
                            "Expression": "FILL(failed, 0) + FILL(timedOut, 0) "
                            "+ FILL(aborted, 0) + FILL(guardErrors, 0)",
                            "Label": f"{job.name}: failed + timed out + aborted executions "
                            "+ guard errors",
                            "ReturnData": True,
                        },
                        _sum("failed", "AWS/States", "ExecutionsFailed", machine),
                        _sum("timedOut", "AWS/States", "ExecutionsTimedOut", machine),
                        _sum("aborted", "AWS/States", "ExecutionsAborted", machine),
                        _sum(
                            "guardErrors",
                            "AWS/Lambda",
                            "Errors",
                            {"Name": "FunctionName", "Value": ref(ids.guard)},
                        ),
                    ],
                },
            },
        )
        if job.alert_after is not None:
            yield _running_long_alarm(environment, named, job.alert_after)


def _running_long_alarm(
    environment: Environment, named: NamedJob, alert_after: timedelta
) -> Fragment:
    """The job's runs still running ``alert_after`` after they started: the slot watch counts
    each such run once (``RunningLong``, with the job's dimension), so one alarm per run."""
    job = named.job
    after = format_duration(alert_after)
    return Fragment(
        named.ids.running_long_alarm,
        {
            "Type": "AWS::CloudWatch::Alarm",
            "Properties": {
                "AlarmDescription": f"cronguard {environment.name}/{job.name}: a run is still "
                f"running {after} after it started (alert_after; its timeout is "
                f"{format_duration(job.timeout)}). The slot watch's logs ('run still running "
                f"past alert_after') name the slot and execution; `cronguard status` shows it. "
                f"Look at the run's logs; `cronguard history {job.name}` shows how long its "
                "runs took before.",
                **AT_FIRST_OCCURRENCE.properties(),
                "AlarmActions": [ref("AlarmTopicArn"), *_owner_actions(environment, named)],
                "Namespace": names.NAMESPACE,
                "MetricName": names.RUNNING_LONG,
                "Dimensions": [
                    {"Name": names.ENVIRONMENT_DIMENSION, "Value": environment.name},
                    {"Name": names.SERVICE_DIMENSION, "Value": names.SERVICE},
                    {"Name": names.JOB_DIMENSION, "Value": job.name},
                ],
                "Period": AT_FIRST_OCCURRENCE.period_seconds,
                "Statistic": "Sum",
            },
        },
    )


def _owner_actions(environment: Environment, named: NamedJob) -> list[Any]:
    """The job's owner's topics: the one cronguard creates for the team, its own, or both."""
    owner = environment.owner_of(named.job)
    if owner is None:
        return []
    parameter = owner_topic_parameter(owner)
    return [
        *([ref(parameter)] if parameter is not None else []),
        *([owner.topic_arn] if owner.topic_arn is not None else []),
    ]


def _sum(metric_id: str, namespace: str, metric: str, dimension: dict[str, Any]) -> Any:
    return {
        "Id": metric_id,
        "ReturnData": False,
        "MetricStat": {
            "Metric": {
                "Namespace": namespace,
                "MetricName": metric,
                "Dimensions": [dimension],
            },
            "Period": AT_FIRST_OCCURRENCE.period_seconds,
            "Stat": "Sum",
        },
    }
