"""One stack per environment: ``cronguard-<env>``. It composes constructs and nothing else."""

from __future__ import annotations

from typing import Any

from aws_cdk import CfnOutput, Duration, Stack, Tags
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from cronguard.config import Environment
from cronguard.config.placement import stack_id
from cronguard.operations.dead_letters import QUEUE_OUTPUT
from stacks.alerts import AlarmTopic, OwnerTopics
from stacks.cleanup import ExecutionCleanup
from stacks.compliance import acknowledge
from stacks.guardrails import apply_guardrails
from stacks.job_stack import JobStack
from stacks.lambda_code import lambda_code, lambda_code_asset
from stacks.ledger import Ledger
from stacks.monitoring import Monitoring
from stacks.network import JobNetwork
from stacks.slot_watch import SlotWatch
from stacks.task_protection import TaskProtection


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
        self.ledger = Ledger(self, "Ledger", table_name=environment.ledger_table_name)
        self.alarms = AlarmTopic(self, "Alarms", environment=environment)
        # Only when a team gives e-mail addresses: otherwise the stack is as it was.
        owner_topics = (
            OwnerTopics(self, "Owners", environment=environment).topics
            if any(owner.email for owner in environment.owners.values())
            else {}
        )
        self.network = JobNetwork(self, "Network", environment=environment)

        # Deliveries that Scheduler or EventBridge could not make end up here (and alarm).
        self.dead_letters = sqs.Queue(
            self,
            "DeadLetters",
            encryption=sqs.QueueEncryption.SQS_MANAGED,
            enforce_ssl=True,
            retention_period=Duration.days(14),
        )
        acknowledge(
            self.dead_letters,
            "SQS3",
            "This queue is itself the dead-letter queue of the schedules and rules.",
        )
        # The job stacks' guards run the same code asset as the environment's own Lambdas.
        # Each job is in the job stack its lock file records (cronguard/config/placement.py).
        job_code = lambda_code_asset(self, "JobCode")
        self.job_stacks = {
            index: JobStack(
                self,
                stack_id(index),
                environment=environment,
                jobs=jobs,
                ledger=self.ledger.table,
                cluster=self.network.cluster,
                dead_letter_queue=self.dead_letters,
                alarm_topic=self.alarms.topic,
                code=job_code,
                owner_topics=owner_topics,
            )
            for index, jobs in environment.jobs_by_stack().items()
        }
        code = lambda_code()
        self.cleanup = ExecutionCleanup(
            self,
            "Cleanup",
            environment=environment,
            ledger=self.ledger.table,
            code=code,
            dead_letter_queue=self.dead_letters,
            cluster=self.network.cluster,
        )

        self.task_protection = TaskProtection(
            self,
            "TaskProtection",
            environment=environment,
            code=code,
            alarm_topic=self.alarms.topic,
        )

        self.slot_watch = SlotWatch(
            self,
            "SlotWatch",
            environment=environment,
            ledger=self.ledger.table,
            code=code,
            alarm_topic=self.alarms.topic,
        )

        self.monitoring = Monitoring(
            self,
            "Monitoring",
            environment=environment,
            cleanup_errors=self.cleanup.function.function.metric_errors(),
            dead_letters=self.dead_letters,
            topic=self.alarms.topic,
        )

        CfnOutput(self, "LedgerTableName", value=self.ledger.table.table_name)
        CfnOutput(self, "AlarmTopicArn", value=self.alarms.topic.topic_arn)
        CfnOutput(self, "ClusterName", value=self.network.cluster.cluster_name)
        # Where cronguard redrive-dlq finds the schedules' dead-letter queue.
        CfnOutput(self, QUEUE_OUTPUT, value=self.dead_letters.queue_url)
        self._tag(environment.resource_tags)
        apply_guardrails(self, environment.iam)

    def _tag(self, tags: dict[str, str]) -> None:
        """The environment's tags: on the stack (deploy-time stack tags), on each of its
        resources and on each job stack, whose tags CloudFormation propagates to the
        resources in it. Not repeated on each job resource: that would add hundreds of
        bytes to each of up to 450 resources of a template CloudFormation caps at 1 MB."""
        for key, value in tags.items():
            self.tags.set_tag(key, value)
            for child in self.node.children:
                if not isinstance(child, JobStack):
                    Tags.of(child).add(key, value)
