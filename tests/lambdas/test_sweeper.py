"""The orphan sweeper against moto's DynamoDB and ECS: dead tasks' work becomes ORPHANED."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws

from lambdas.core import variables
from lambdas.core.metrics_contract import ORPHANED_WORK, SWEEP_ERRORS
from lambdas.sweeper.handler import (
    Orphan,
    SweepIncomplete,
    lambda_handler,
    mark_orphaned,
    metrics,
    running_work,
    stopped_tasks,
    sweep,
)
from tests.aws import REGION, use_fake_credentials
from tests.lambdas.conftest import CONTEXT
from tests.worker.history_table import create_history_table

TABLE = "cronguard-test-work"
NOW = datetime.now(UTC)


def iso(moment: datetime) -> str:
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass
class Cloud:
    dynamodb: Any
    ecs: Any
    cluster: str
    task_definition: str
    subnet: str
    group: str

    def start_task(self) -> str:
        response = self.ecs.run_task(
            cluster=self.cluster,
            taskDefinition=self.task_definition,
            launchType="FARGATE",
            networkConfiguration={
                "awsvpcConfiguration": {"subnets": [self.subnet], "securityGroups": [self.group]}
            },
        )
        return str(response["tasks"][0]["taskArn"])

    def record_work(
        self, work_id: str, task_arn: str, heartbeat: datetime, cluster: str | None = None
    ) -> None:
        self.dynamodb.put_item(
            TableName=TABLE,
            Item={
                "pk": {"S": f"work#orders#{work_id}"},
                "name": {"S": "orders"},
                "work_id": {"S": work_id},
                "status": {"S": "RUNNING"},
                "task_arn": {"S": task_arn},
                "cluster": {"S": cluster or self.cluster},
                "heartbeat_at": {"S": iso(heartbeat)},
            },
        )

    def item(self, work_id: str) -> dict[str, Any]:
        key = {"pk": {"S": f"work#orders#{work_id}"}}
        return dict(self.dynamodb.get_item(TableName=TABLE, Key=key)["Item"])


@pytest.fixture
def cloud(monkeypatch: pytest.MonkeyPatch) -> Iterator[Cloud]:
    use_fake_credentials(
        monkeypatch,
        POWERTOOLS_METRICS_DISABLED="true",
        **{
            variables.WORK_TABLE: TABLE,
            variables.ENVIRONMENT: "test",
            variables.STALE_AFTER_SECONDS: "600",
        },
    )
    # The handler's clock is the tests' NOW: a heartbeat at NOW stays fresh however long a
    # loaded machine takes to reach the test.
    monkeypatch.setattr("lambdas.sweeper.handler.utc_now", lambda: NOW)
    with mock_aws():
        dynamodb = boto3.client("dynamodb", region_name=REGION)
        create_history_table(dynamodb, TABLE)
        ec2 = boto3.client("ec2", region_name=REGION)
        vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
        ec2.modify_vpc_attribute(VpcId=vpc, EnableDnsHostnames={"Value": True})
        subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.0.1.0/24")["Subnet"]["SubnetId"]
        group = ec2.create_security_group(GroupName="w", Description="w", VpcId=vpc)["GroupId"]
        ecs = boto3.client("ecs", region_name=REGION)
        cluster = ecs.create_cluster(clusterName="workers")["cluster"]["clusterArn"]
        task_definition = ecs.register_task_definition(
            family="orders-worker",
            networkMode="awsvpc",
            requiresCompatibilities=["FARGATE"],
            cpu="256",
            memory="512",
            containerDefinitions=[{"name": "worker", "image": "worker:1", "memory": 512}],
        )["taskDefinition"]["taskDefinitionArn"]
        assert os.environ[variables.WORK_TABLE] == TABLE
        yield Cloud(dynamodb, ecs, cluster, task_definition, subnet, group)


def test_work_of_an_oom_killed_task_is_orphaned_with_the_reason(cloud: Cloud) -> None:
    task = cloud.start_task()
    cloud.record_work("1", task, heartbeat=NOW)
    cloud.ecs.stop_task(
        cluster=cloud.cluster, task=task, reason="OutOfMemoryError: Container killed"
    )
    result = sweep(cloud.dynamodb, cloud.ecs, TABLE, now=NOW, stale_after=timedelta(minutes=10))
    assert [o.work.work_id for o in result.orphans] == ["1"]
    item = cloud.item("1")
    assert item["status"]["S"] == "ORPHANED"
    assert item["orphan_reason"]["S"] == "task stopped: OutOfMemoryError: Container killed"
    assert item["orphaned_at"]["S"] == iso(NOW)


def test_work_with_a_stale_heartbeat_is_orphaned(cloud: Cloud) -> None:
    task = cloud.start_task()
    silent_since = NOW - timedelta(minutes=30)
    cloud.record_work("2", task, heartbeat=silent_since)
    sweep(cloud.dynamodb, cloud.ecs, TABLE, now=NOW, stale_after=timedelta(minutes=10))
    item = cloud.item("2")
    assert item["status"]["S"] == "ORPHANED"
    assert item["orphan_reason"]["S"] == f"no heartbeat since {iso(silent_since)}"


def test_work_of_a_running_task_with_a_fresh_heartbeat_is_untouched(cloud: Cloud) -> None:
    task = cloud.start_task()
    cloud.record_work("3", task, heartbeat=NOW - timedelta(minutes=1))
    result = sweep(cloud.dynamodb, cloud.ecs, TABLE, now=NOW, stale_after=timedelta(minutes=10))
    assert result.orphans == []
    item = cloud.item("3")
    assert item["status"]["S"] == "RUNNING"
    assert "orphan_reason" not in item


def test_work_that_finished_after_the_sweeper_read_it_is_not_orphaned(cloud: Cloud) -> None:
    task = cloud.start_task()
    heartbeat = NOW - timedelta(hours=1)
    cloud.record_work("4", task, heartbeat=heartbeat)
    (seen,) = list(running_work(cloud.dynamodb, TABLE))
    cloud.dynamodb.update_item(  # the worker finishes between the sweeper's read and write
        TableName=TABLE,
        Key={"pk": {"S": "work#orders#4"}},
        UpdateExpression="SET #s = :done",
        ExpressionAttributeNames={"#s": "status"},
        ExpressionAttributeValues={":done": {"S": "SUCCEEDED"}},
    )
    assert mark_orphaned(cloud.dynamodb, TABLE, Orphan(seen, "stale"), NOW) is False
    assert cloud.item("4")["status"]["S"] == "SUCCEEDED"


def test_handler_reports_what_it_orphaned(cloud: Cloud) -> None:
    task = cloud.start_task()
    cloud.record_work("5", task, heartbeat=NOW)
    cloud.ecs.stop_task(cluster=cloud.cluster, task=task, reason="Task killed by the user")
    answer = lambda_handler({}, CONTEXT)
    assert answer == {
        "orphaned": [{"work": "work#orders#5", "reason": "task stopped: Task killed by the user"}]
    }


class DescribeTasksResponse:
    """A recorded DescribeTasks answer for an OOM kill (moto cannot set a container reason)."""

    def __init__(self, response: dict[str, Any]) -> None:
        self.response = response

    def describe_tasks(self, cluster: str, tasks: list[str]) -> dict[str, Any]:
        return self.response


def test_the_container_reason_of_an_oom_kill_wins_over_the_task_reason() -> None:
    ecs = DescribeTasksResponse(
        {
            "tasks": [
                {
                    "taskArn": "arn:task/1",
                    "lastStatus": "STOPPED",
                    "stoppedReason": "Essential container in task exited",
                    "containers": [
                        {
                            "name": "worker",
                            "reason": "OutOfMemoryError: Container killed due to memory usage",
                            "exitCode": 137,
                        }
                    ],
                }
            ],
            "failures": [{"arn": "arn:task/2", "reason": "MISSING"}],
        }
    )
    gone = stopped_tasks(ecs, "workers", ["arn:task/1", "arn:task/2"])
    assert gone == {
        "arn:task/1": "task stopped: OutOfMemoryError: Container killed due to memory usage",
        "arn:task/2": "task no longer exists (stopped more than an hour ago)",
    }


def deny_describe_tasks_on(ecs: Any, cluster: str) -> None:
    """What AWS answers when the sweeper's role lacks ecs:DescribeTasks on one cluster."""

    def deny(params: dict[str, Any], **_: Any) -> None:
        if params["cluster"] == cluster:
            raise ClientError(
                {
                    "Error": {
                        "Code": "AccessDeniedException",
                        "Message": f"not authorized to perform: ecs:DescribeTasks on {cluster}",
                    }
                },
                "DescribeTasks",
            )

    ecs.meta.events.register("provide-client-params.ecs.DescribeTasks", deny)


def test_a_cluster_the_sweeper_may_not_describe_does_not_stop_the_sweep_of_the_others(
    cloud: Cloud,
) -> None:
    locked = cloud.ecs.create_cluster(clusterName="locked")["cluster"]["clusterArn"]
    dead = cloud.start_task()
    cloud.record_work("healthy-cluster", dead, heartbeat=NOW)
    cloud.ecs.stop_task(cluster=cloud.cluster, task=dead, reason="OutOfMemoryError")
    cloud.record_work("locked-fresh", "arn:task/locked/1", heartbeat=NOW, cluster=locked)
    silent_since = NOW - timedelta(hours=1)
    cloud.record_work("locked-silent", "arn:task/locked/2", heartbeat=silent_since, cluster=locked)
    deny_describe_tasks_on(cloud.ecs, locked)

    result = sweep(cloud.dynamodb, cloud.ecs, TABLE, now=NOW, stale_after=timedelta(minutes=10))

    assert sorted(o.work.work_id for o in result.orphans) == ["healthy-cluster", "locked-silent"]
    assert cloud.item("healthy-cluster")["status"]["S"] == "ORPHANED"
    # A heartbeat needs no ECS: silent work on the locked cluster is still found.
    assert cloud.item("locked-silent")["status"]["S"] == "ORPHANED"
    assert cloud.item("locked-fresh")["status"]["S"] == "RUNNING"
    assert list(result.errors) == [locked]
    assert "AccessDeniedException" in result.errors[locked]


def test_the_handler_finishes_the_sweep_then_fails_and_counts_the_clusters_it_could_not_check(
    cloud: Cloud, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    locked = cloud.ecs.create_cluster(clusterName="locked")["cluster"]["clusterArn"]
    dead = cloud.start_task()
    cloud.record_work("6", dead, heartbeat=NOW)
    cloud.ecs.stop_task(cluster=cloud.cluster, task=dead, reason="Task killed by the user")
    cloud.record_work("7", "arn:task/locked/1", heartbeat=NOW, cluster=locked)
    deny_describe_tasks_on(cloud.ecs, locked)
    monkeypatch.setattr(
        "lambdas.sweeper.handler.client", {"dynamodb": cloud.dynamodb, "ecs": cloud.ecs}.get
    )
    monkeypatch.setenv("POWERTOOLS_METRICS_DISABLED", "false")
    metrics.clear_metrics()
    capsys.readouterr()

    with pytest.raises(SweepIncomplete, match=r"locked.*AccessDeniedException"):
        lambda_handler({}, CONTEXT)

    assert cloud.item("6")["status"]["S"] == "ORPHANED"  # the other cluster was swept
    emitted = [
        json.loads(line) for line in capsys.readouterr().out.splitlines() if '"_aws"' in line
    ]
    (flushed,) = emitted
    assert flushed[ORPHANED_WORK] == [1.0]
    assert flushed[SWEEP_ERRORS] == [1.0]
    assert flushed["environment"] == "test"
