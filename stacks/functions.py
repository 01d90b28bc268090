"""The Lambda functions the environment's stack builds as constructs: one shape for the
cleanup (``stacks/cleanup.py``), the orphan sweeper (``stacks/task_protection.py``) and the
slot watch (``stacks/slot_watch.py``), and the queue their failed invocations go to.

Each gets its own role that may write only its own log group, and the shared code asset; no
AWS managed policy. No X-Ray tracing (``stacks.compliance.NO_TRACING`` says why). The guards
are not built here: each is rendered with its job (``stacks/job/``), with the same
runtime, memory and log retention (``MEMORY_MB``, ``LOG_RETENTION_DAYS``).
"""

from __future__ import annotations

import jsii
from aws_cdk import Duration
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from stacks.lambda_code import RUNTIME

LOG_RETENTION = logs.RetentionDays.THREE_MONTHS
LOG_RETENTION_DAYS = 90  # the same, as rendered job stacks write it
MEMORY_MB = 256


class RuntimeFunction(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        description: str,
        handler: str,
        code: lambda_.Code,
        environment: dict[str, str],
        timeout: Duration,
        log_group: logs.ILogGroup | None = None,
    ) -> None:
        super().__init__(scope, construct_id)
        self.log_group = log_group or logs.LogGroup(self, "Logs", retention=LOG_RETENTION)
        self.role = iam.Role(
            self,
            "Role",
            assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
            description=description,
        )
        self.log_group.grant_write(self.role)
        self.function = lambda_.Function(
            self,
            "Function",
            description=description,
            runtime=RUNTIME,
            code=code,
            handler=handler,
            role=self.role,
            timeout=timeout,
            memory_size=MEMORY_MB,
            environment=environment,
            log_group=self.log_group,
        )

    def add_to_role_policy(self, statement: iam.PolicyStatement) -> None:
        self.role.add_to_principal_policy(statement)


@jsii.implements(lambda_.IDestination)
class FailedInvocations:
    """An on-failure destination of an asynchronously invoked function: a queue it may only
    send to. Lambda needs ``sqs:SendMessage`` on it, and nothing else (Lambda Developer Guide,
    "Capturing records of Lambda asynchronous invocations": "Amazon SQS – sqs:SendMessage",
    https://docs.aws.amazon.com/lambda/latest/dg/invocation-async-retain-records.html); the
    CDK's ``SqsDestination`` grants ``queue.grant_send_messages``, which adds
    ``sqs:GetQueueAttributes`` and ``sqs:GetQueueUrl``. The queues are SQS-managed encrypted,
    so no key grant either."""

    def __init__(self, queue: sqs.IQueue) -> None:
        self.queue = queue

    def bind(
        self, _scope: Construct, fn: lambda_.IFunction, *, type: lambda_.DestinationType
    ) -> lambda_.DestinationConfig:
        fn.add_to_role_policy(
            iam.PolicyStatement(actions=["sqs:SendMessage"], resources=[self.queue.queue_arn])
        )
        return lambda_.DestinationConfig(destination=self.queue.queue_arn)
