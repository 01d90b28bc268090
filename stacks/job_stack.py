"""A job stack: a nested stack holding the jobs whose names hash to it.

CloudFormation allows 500 resources per stack and a job is 12, so jobs are spread
over nested stacks of the environment's stack. The assignment is a hash of the job's name
alone (``Environment.job_stack_of``): adding or removing other jobs never moves a job, which
would replace its state machine and terminate its running executions. ``cdk deploy`` still
deploys one stack, ``cronguard-<env>``.
"""

from __future__ import annotations

from aws_cdk import NestedStack
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_ecs as ecs
from aws_cdk import aws_iam as iam
from aws_cdk import aws_logs as logs
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from cronguard.config import Environment, Job
from stacks.functions import LOG_RETENTION
from stacks.guarded_job import GuardedJob, SharedJobResources
from stacks.lambda_code import lambda_code
from stacks.monitoring import JobAlarm


class JobStack(NestedStack):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        environment: Environment,
        jobs: list[Job],
        ledger: dynamodb.ITable,
        cluster: ecs.ICluster,
        dead_letter_queue: sqs.IQueue,
        alarm_topic: sns.ITopic,
    ) -> None:
        super().__init__(
            scope,
            construct_id,
            description=f"cronguard {environment.name}: jobs {', '.join(j.name for j in jobs)}"[
                :1024
            ],
        )
        shared = SharedJobResources(
            execution_logs=logs.LogGroup(self, "ExecutionLogs", retention=LOG_RETENTION),
            job_logs=logs.LogGroup(self, "JobLogs", retention=LOG_RETENTION),
            guard_logs=logs.LogGroup(self, "GuardLogs", retention=LOG_RETENTION),
            scheduler_role=iam.Role(
                self,
                "SchedulerRole",
                assumed_by=iam.ServicePrincipal(
                    "scheduler.amazonaws.com",
                    conditions={"StringEquals": {"aws:SourceAccount": self.account}},
                ),
                description="EventBridge Scheduler starts this job stack's state machines",
            ),
            code=lambda_code(),  # an asset binds to one stack; every copy has the same hash
        )
        self.jobs: dict[str, GuardedJob] = {}
        for job in jobs:
            guarded = GuardedJob(
                self,
                job.name,
                environment=environment,
                job=job,
                ledger=ledger,
                cluster=cluster,
                dead_letter_queue=dead_letter_queue,
                shared=shared,
            )
            JobAlarm(guarded, "Alarm", environment=environment, job=guarded, topic=alarm_topic)
            self.jobs[job.name] = guarded
