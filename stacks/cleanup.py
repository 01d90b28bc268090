"""Cleanup of executions that end outside the state machine's own paths.

An EventBridge rule on "Step Functions Execution Status Change" (ABORTED, TIMED_OUT,
FAILED) for this environment's state machines invokes a Lambda that releases the lease the
execution still holds and marks its slot. The lease expiry stays the last backstop.

The same Lambda *reconciles* every ``RECONCILE_EVERY``: status-change events are delivered
on a best-effort basis, so it settles every RUNNING slot or held lease (the ledger's sparse
``running`` index) whose execution has ended. Before it releases a lease it stops the run's
ECS task and waits for STOPPED, so it may list, describe and stop the cluster's tasks.

Both invokes are asynchronous: the target's dead-letter queue catches only deliveries
EventBridge could not make. A cleanup that still raises after Lambda's own retries goes,
with its event, to the same queue through the function's on-failure destination, instead
of being dropped; the queue alarms.
"""

from __future__ import annotations

from aws_cdk import ArnFormat, Duration, Stack
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_ecs as ecs
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as events_targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from cronguard.config import Environment
from lambdas.cleanup import settings as cleanup_settings
from lambdas.core import variables
from lambdas.core.execution_contract import ENDED_STATUSES, STATUS_CHANGE
from lambdas.core.ledger_contract import RUNNING_INDEX
from stacks.compliance import LIST_TASKS_ONLY_STAR, acknowledge, wildcard_resource_finding
from stacks.functions import FailedInvocations, RuntimeFunction
from stacks.job.shapes import CONTAINER_NAME, task_family_prefix

RECONCILE_EVERY = Duration.minutes(5)


class ExecutionCleanup(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        environment: Environment,
        ledger: dynamodb.ITable,
        code: lambda_.Code,
        dead_letter_queue: sqs.IQueue,
        cluster: ecs.ICluster,
    ) -> None:
        super().__init__(scope, construct_id)
        stack = Stack.of(self)
        self.function = RuntimeFunction(
            self,
            "Function",
            description=f"cronguard {environment.name}: release what ended executions hold",
            handler=cleanup_settings.HANDLER,
            code=code,
            environment={
                variables.LEDGER_TABLE: ledger.table_name,
                variables.ENVIRONMENT: environment.name,
                variables.JOB_CLUSTER_ARN: cluster.cluster_arn,
                variables.TASK_FAMILY_PREFIX: task_family_prefix(environment),
                variables.JOB_CONTAINER: CONTAINER_NAME,
            },
            # Stopping a run's task waits up to STOP_WAIT_SECONDS; a reconcile may do several.
            timeout=Duration.minutes(5),
        )
        # Every ledger write of the cleanup is conditional, so retrying a failure is safe;
        # what still fails is kept, with its event, in the (alarmed) dead-letter queue.
        self.function.function.configure_async_invoke(
            on_failure=FailedInvocations(dead_letter_queue),
            retry_attempts=2,
            max_event_age=Duration.hours(6),
        )
        self.function.add_to_role_policy(
            iam.PolicyStatement(
                actions=["dynamodb:UpdateItem", "dynamodb:DeleteItem"],
                resources=[ledger.table_arn],
            )
        )
        self.function.add_to_role_policy(
            iam.PolicyStatement(
                actions=["dynamodb:Scan"], resources=[f"{ledger.table_arn}/index/{RUNNING_INDEX}"]
            )
        )
        executions = f"{environment.name}-*:*"
        self.function.add_to_role_policy(
            iam.PolicyStatement(
                actions=["states:DescribeExecution"],
                resources=[
                    stack.format_arn(
                        service="states",
                        resource="execution",
                        resource_name=executions,
                        arn_format=ArnFormat.COLON_RESOURCE_NAME,
                    )
                ],
            )
        )
        tasks = f"task/{environment.cluster_name}/*"
        self.function.add_to_role_policy(
            iam.PolicyStatement(
                actions=["ecs:DescribeTasks", "ecs:StopTask"],
                resources=[stack.format_arn(service="ecs", resource=tasks)],
            )
        )
        # ListTasks has no resource type; the cluster condition limits it to the jobs' cluster.
        self.function.add_to_role_policy(
            iam.PolicyStatement(
                actions=["ecs:ListTasks"],
                resources=["*"],
                conditions={"ArnEquals": {"ecs:cluster": cluster.cluster_arn}},
            )
        )
        acknowledge(self.function.role, "IAM5[Resource::*]", LIST_TASKS_ONLY_STAR)
        for resource in (f"execution:{executions}", tasks):
            service = "states" if resource.startswith("execution") else "ecs"
            acknowledge(
                self.function.role,
                wildcard_resource_finding(service, resource, stack),
                "Executions of this environment's state machines and the tasks of its jobs' "
                "cluster: their ids are not known in advance.",
            )
        machines_prefix = stack.format_arn(
            service="states",
            resource="stateMachine",
            resource_name=f"{environment.name}-",
            arn_format=ArnFormat.COLON_RESOURCE_NAME,
        )
        self.rule = events.Rule(
            self,
            "ExecutionEnded",
            description=f"cronguard {environment.name}: executions that ended outside their paths",
            event_pattern=events.EventPattern(
                source=["aws.states"],
                detail_type=[STATUS_CHANGE],
                detail={
                    "status": [str(status) for status in ENDED_STATUSES],
                    "stateMachineArn": [{"prefix": machines_prefix}],
                },
            ),
            targets=[
                events_targets.LambdaFunction(
                    self.function.function,
                    dead_letter_queue=dead_letter_queue,
                    retry_attempts=8,
                    max_event_age=Duration.hours(24),
                )
            ],
        )
        self.reconcile = events.Rule(
            self,
            "Reconcile",
            description=f"cronguard {environment.name}: settle runs whose status change was lost",
            schedule=events.Schedule.rate(RECONCILE_EVERY),
            targets=[
                events_targets.LambdaFunction(
                    self.function.function,
                    dead_letter_queue=dead_letter_queue,
                    retry_attempts=2,
                    max_event_age=RECONCILE_EVERY,
                )
            ],
        )
