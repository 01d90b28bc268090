"""One stack per environment: ``cronguard-<env>``. It composes constructs and nothing else."""

from __future__ import annotations

from typing import Any

from aws_cdk import CfnOutput, Stack, Tags
from constructs import Construct

from cronguard.config import Environment
from stacks.alerts import AlarmTopic
from stacks.ledger import Ledger
from stacks.network import JobNetwork


class CronguardStack(Stack):
    def __init__(
        self, scope: Construct, construct_id: str, *, environment: Environment, **kwargs: Any
    ) -> None:
        super().__init__(
            scope,
            construct_id,
            description=f"cronguard {environment.name}: guarded schedules for ECS batch jobs",
            **kwargs,
        )
        for key, value in {"cronguard:environment": environment.name, **environment.tags}.items():
            Tags.of(self).add(key, value)

        self.ledger = Ledger(self, "Ledger", table_name=f"cronguard-{environment.name}-ledger")
        self.alarms = AlarmTopic(self, "Alarms", environment=environment)
        self.network = JobNetwork(self, "Network", environment=environment)

        CfnOutput(self, "LedgerTableName", value=self.ledger.table.table_name)
        CfnOutput(self, "AlarmTopicArn", value=self.alarms.topic.topic_arn)
        CfnOutput(self, "ClusterName", value=self.network.cluster.cluster_name)
