"""The Lambda functions the environment's stack builds as constructs: one shape for the
cleanup (``stacks/cleanup.py``) and the orphan sweeper (``stacks/task_protection.py``).

Each gets its own role that may write only its own log group, and the shared code asset; no
AWS managed policy. No X-Ray tracing (``stacks.compliance.NO_TRACING`` says why). The guards
are not built here: each is rendered with its job (``stacks/job/``), with the same
runtime, memory and log retention (``MEMORY_MB``, ``LOG_RETENTION_DAYS``).
"""

from __future__ import annotations

from aws_cdk import Duration
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
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
