"""The orphan sweeper: RUNNING work whose task has stopped, or whose heartbeat is stale.

Task scale-in protection keeps a service task alive through deploys and scale-in, but not
through an OOM kill or a host failure: the worker never gets to write SUCCEEDED or FAILED.
Every few minutes this Lambda reads RUNNING work from the history table (GSI ``by_status``),
asks ECS about the tasks doing it, and marks work ORPHANED with the reason — conditionally,
so a unit that finished in the meantime is left alone — and emits ``OrphanedWork``.

Each cluster is asked on its own: a cluster the sweeper cannot describe (AccessDenied, a
deleted cluster, throttling) is logged and counted in ``SweepErrors``, and every other
cluster, and every stale heartbeat, is still swept. The invocation then fails with
``SweepIncomplete``, so the function's Errors alarm and its on-failure destination see a
sweep that could not look at every task: orphans there would otherwise go unnoticed.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from botocore.exceptions import ClientError

from lambdas.core import metrics_contract as names
from lambdas.core.clients import client
from lambdas.core.emit import log_invocation_metrics
from lambdas.core.times import utc_now
from lambdas.sweeper.settings import SweeperSettings

logger = Logger(service=names.SWEEPER_LOG_SERVICE)
metrics = Metrics(namespace=names.NAMESPACE, service=names.SERVICE)

STATUS_INDEX = "by_status"
DESCRIBE_TASKS_LIMIT = 100
UNKNOWN = "unknown"


@dataclass(frozen=True)
class Work:
    key: str
    name: str
    work_id: str
    task_arn: str
    cluster: str
    heartbeat_at: str


@dataclass(frozen=True)
class Orphan:
    work: Work
    reason: str


@dataclass(frozen=True)
class Sweep:
    orphans: list[Orphan]
    errors: dict[str, str]  # cluster -> the error that kept its tasks from being checked


class SweepIncomplete(Exception):
    """Some clusters could not be checked; the others were swept."""


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def running_work(client: Any, table: str) -> Iterator[Work]:
    paginator = client.get_paginator("query")
    for page in paginator.paginate(
        TableName=table,
        IndexName=STATUS_INDEX,
        KeyConditionExpression="#status = :running",
        ExpressionAttributeNames={"#status": "status"},
        ExpressionAttributeValues={":running": {"S": "RUNNING"}},
    ):
        for item in page["Items"]:
            yield Work(
                key=item["pk"]["S"],
                name=item.get("name", {}).get("S", ""),
                work_id=item.get("work_id", {}).get("S", ""),
                task_arn=item.get("task_arn", {}).get("S", UNKNOWN),
                cluster=item.get("cluster", {}).get("S", UNKNOWN),
                heartbeat_at=item.get("heartbeat_at", {}).get("S", ""),
            )


def stopped_tasks(ecs: Any, cluster: str, task_arns: list[str]) -> dict[str, str]:
    """Task ARN → why it is gone, for the tasks of ``cluster`` that no longer run."""
    gone: dict[str, str] = {}
    for start in range(0, len(task_arns), DESCRIBE_TASKS_LIMIT):
        batch = task_arns[start : start + DESCRIBE_TASKS_LIMIT]
        response = ecs.describe_tasks(cluster=cluster, tasks=batch)
        for task in response.get("tasks", []):
            if task.get("lastStatus") == "STOPPED":
                containers = task.get("containers") or []
                container_reasons = [c["reason"] for c in containers if c.get("reason")]
                reason = (container_reasons or [task.get("stoppedReason") or "task stopped"])[0]
                gone[task["taskArn"]] = f"task stopped: {reason}"
        for failure in response.get("failures", []):
            if failure.get("reason") == "MISSING":
                gone[failure["arn"]] = "task no longer exists (stopped more than an hour ago)"
    return gone


def find_orphans(work: list[Work], ecs: Any, *, now: datetime, stale_after: timedelta) -> Sweep:
    """Pure apart from DescribeTasks: which RUNNING work is orphaned, and why; and which
    clusters could not be asked (their work is still judged by its heartbeat)."""
    by_cluster: dict[str, set[str]] = defaultdict(set)
    for unit in work:
        if unit.task_arn != UNKNOWN and unit.cluster != UNKNOWN:
            by_cluster[unit.cluster].add(unit.task_arn)
    gone: dict[str, str] = {}
    errors: dict[str, str] = {}
    for cluster, task_arns in sorted(by_cluster.items()):
        try:
            gone.update(stopped_tasks(ecs, cluster, sorted(task_arns)))
        except ClientError as error:
            detail = error.response["Error"]
            errors[cluster] = f"{detail.get('Code')}: {detail.get('Message')}"
            logger.error(
                "cannot check the tasks of a cluster",
                cluster=cluster,
                tasks=len(task_arns),
                error=errors[cluster],
            )
    stale_before = _iso(now - stale_after)
    orphans = []
    for unit in work:
        if unit.task_arn in gone:
            orphans.append(Orphan(unit, gone[unit.task_arn]))
        elif unit.heartbeat_at and unit.heartbeat_at < stale_before:
            orphans.append(Orphan(unit, f"no heartbeat since {unit.heartbeat_at}"))
    return Sweep(orphans, errors)


def mark_orphaned(client: Any, table: str, orphan: Orphan, now: datetime) -> bool:
    """ORPHANED only if the unit is still RUNNING with the heartbeat we judged it by."""
    try:
        client.update_item(
            TableName=table,
            Key={"pk": {"S": orphan.work.key}},
            UpdateExpression="SET #status = :orphaned, orphaned_at = :now, orphan_reason = :why",
            ConditionExpression="#status = :running AND heartbeat_at = :seen",
            ExpressionAttributeNames={"#status": "status"},
            ExpressionAttributeValues={
                ":orphaned": {"S": "ORPHANED"},
                ":running": {"S": "RUNNING"},
                ":now": {"S": _iso(now)},
                ":why": {"S": orphan.reason},
                ":seen": {"S": orphan.work.heartbeat_at},
            },
        )
    except ClientError as error:
        if error.response["Error"]["Code"] == "ConditionalCheckFailedException":
            return False
        raise
    return True


def sweep(dynamodb: Any, ecs: Any, table: str, *, now: datetime, stale_after: timedelta) -> Sweep:
    work = list(running_work(dynamodb, table))
    found = find_orphans(work, ecs, now=now, stale_after=stale_after)
    marked = [orphan for orphan in found.orphans if mark_orphaned(dynamodb, table, orphan, now)]
    for orphan in marked:
        logger.warning(
            "orphaned work",
            work=orphan.work.key,
            task_arn=orphan.work.task_arn,
            reason=orphan.reason,
        )
    return Sweep(marked, found.errors)


@log_invocation_metrics(metrics)
@logger.inject_lambda_context
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    settings = SweeperSettings.from_environ()
    metrics.add_dimension(names.ENVIRONMENT_DIMENSION, settings.environment)
    result = sweep(
        client("dynamodb"),
        client("ecs"),
        settings.work_table,
        now=utc_now(),
        stale_after=settings.stale_after,
    )
    # Always emitted (0 included): a sweep that stops reporting is itself alarmed on.
    metrics.add_metric(names.ORPHANED_WORK, MetricUnit.Count, len(result.orphans))
    metrics.add_metric(names.SWEEP_ERRORS, MetricUnit.Count, len(result.errors))
    if result.errors:
        # Metrics still flush (log_metrics flushes in a finally); raising makes the
        # function's Errors alarm and its on-failure destination see the incomplete sweep.
        raise SweepIncomplete(
            f"swept all but {len(result.errors)} cluster(s), marked "
            f"{len(result.orphans)} orphaned: "
            + "; ".join(f"{cluster}: {error}" for cluster, error in result.errors.items())
        )
    return {"orphaned": [{"work": o.work.key, "reason": o.reason} for o in result.orphans]}
