"""Cleanup of executions that end outside the state machine's own paths.

An EventBridge rule on "Step Functions Execution Status Change" (ABORTED, TIMED_OUT,
FAILED) for this environment's state machines invokes a Lambda that releases the lease the
execution still holds and marks its slot. The lease expiry stays the last backstop.

That invoke is asynchronous: the target's dead-letter queue catches only deliveries
EventBridge could not make. A cleanup that still raises after Lambda's own retries goes,
with its event, to the same queue through the function's on-failure destination, instead
of being dropped; the queue alarms.
"""

from __future__ import annotations

from aws_cdk import ArnFormat, Duration, Stack
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as events_targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_lambda_destinations as lambda_destinations
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from cronguard.config import Environment
from stacks.functions import RuntimeFunction

ENDED_STATUSES = ["ABORTED", "TIMED_OUT", "FAILED"]


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
    ) -> None:
        super().__init__(scope, construct_id)
        stack = Stack.of(self)
        self.function = RuntimeFunction(
            self,
            "Function",
            description=f"cronguard {environment.name}: release what ended executions hold",
            handler="lambdas.cleanup.handler.lambda_handler",
            code=code,
            environment={"LEDGER_TABLE": ledger.table_name, "CRONGUARD_ENV": environment.name},
            timeout=Duration.seconds(30),
        )
        # Every ledger write of the cleanup is conditional, so retrying a failure is safe;
        # what still fails is kept, with its event, in the (alarmed) dead-letter queue.
        self.function.function.configure_async_invoke(
            on_failure=lambda_destinations.SqsDestination(dead_letter_queue),
            retry_attempts=2,
            max_event_age=Duration.hours(6),
        )
        self.function.add_to_role_policy(
            iam.PolicyStatement(
                actions=["dynamodb:UpdateItem", "dynamodb:DeleteItem"],
                resources=[ledger.table_arn],
            )
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
                detail_type=["Step Functions Execution Status Change"],
                detail={
                    "status": ENDED_STATUSES,
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
