"""One guarded job: schedule → state machine → guard → ``ecs:runTask.sync`` → ledger.

Names that must never change when config changes (the state machine: replacing it
terminates its running executions) are fixed from the environment and job names, and the
construct IDs are the job name, so logical IDs are stable too.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from aws_cdk import ArnFormat, Duration, Stack, TimeZone
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_ecr as ecr
from aws_cdk import aws_ecs as ecs
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_scheduler as scheduler
from aws_cdk import aws_scheduler_targets as targets
from aws_cdk import aws_secretsmanager as secretsmanager
from aws_cdk import aws_sqs as sqs
from aws_cdk import aws_ssm as ssm
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct

from cronguard.config import Environment, Job
from cronguard.config.model import JOB_RETRY_INTERVAL_SECONDS
from stacks.compliance import acknowledge, wildcard_resource_finding
from stacks.definition import render_definition
from stacks.functions import XRAY_ONLY_STAR, RuntimeFunction

CONTAINER_NAME = "job"
_ECR_IMAGE = re.compile(
    r"^(?P<account>\d{12})\.dkr\.ecr\.(?P<region>[a-z0-9-]+)\.amazonaws\.com/"
    r"(?P<repository>[^:@]+)(?::(?P<tag>[^@]+))?(?:@(?P<digest>.+))?$"
)


@dataclass(frozen=True)
class SharedJobResources:
    """What the jobs of one job stack share: log groups (a stream prefix per job), the role
    Scheduler assumes, and the Lambda code asset. Sharing them keeps a job at about a dozen
    resources."""

    execution_logs: logs.ILogGroup
    job_logs: logs.ILogGroup
    guard_logs: logs.ILogGroup
    scheduler_role: iam.IRole
    code: lambda_.Code


class GuardedJob(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        environment: Environment,
        job: Job,
        ledger: dynamodb.ITable,
        cluster: ecs.ICluster,
        dead_letter_queue: sqs.IQueue,
        shared: SharedJobResources,
    ) -> None:
        super().__init__(scope, construct_id)
        stack = Stack.of(self)
        self.job = job
        self.state_machine_name = environment.state_machine_name(job)
        self.task_definition = self._task_definition(environment, job, shared.job_logs)
        self.guard = self._guard_function(environment, job, ledger, shared)

        network = environment.network.for_job(job.network)
        values = {
            "JobName": job.name,
            "Concurrency": job.concurrency.value,
            "JobSettings": {
                "name": job.name,
                "concurrency": job.concurrency.value,
                "startingDeadlineSeconds": (
                    int(job.starting_deadline.total_seconds()) if job.starting_deadline else None
                ),
                "leaseSeconds": int(job.lease.total_seconds()),
                "retentionSeconds": int(environment.ledger.retention.total_seconds()),
            },
            "ExecutionTimeoutSeconds": int(job.execution_timeout.total_seconds()),
            "TimeoutSeconds": int(job.timeout.total_seconds()),
            "LaunchType": None if job.spot else "FARGATE",
            "CapacityProviderStrategy": (
                [{"CapacityProvider": "FARGATE_SPOT", "Weight": 1}] if job.spot else None
            ),
            "Subnets": network.subnet_ids,
            "SecurityGroups": network.security_group_ids,
            "AssignPublicIp": "ENABLED" if network.assign_public_ip else "DISABLED",
            "TaskGroup": f"cronguard:{job.name}",
            "ContainerName": CONTAINER_NAME,
            "LaunchRetryIntervalSeconds": job.launch_retries.interval_seconds,
            "LaunchRetryMaxAttempts": job.launch_retries.max_attempts,
            "LaunchRetryBackoffRate": job.launch_retries.backoff_rate,
            "JobRetries": job.job_retries,
            "JobRetryIntervalSeconds": JOB_RETRY_INTERVAL_SECONDS,
        }
        self.state_machine = sfn.StateMachine(
            self,
            "StateMachine",
            state_machine_name=self.state_machine_name,
            state_machine_type=sfn.StateMachineType.STANDARD,
            definition_body=sfn.DefinitionBody.from_string(render_definition(values)),
            definition_substitutions={
                "GuardFunctionArn": self.guard.function.function_arn,
                "ClusterArn": cluster.cluster_arn,
                "TaskDefinitionArn": self.task_definition.task_definition_arn,
            },
            logs=sfn.LogOptions(destination=shared.execution_logs, level=sfn.LogLevel.ALL),
            tracing_enabled=True,
        )
        self._grant_run(stack, cluster, environment.cluster_name)

        self.schedule = scheduler.Schedule(
            self,
            "Schedule",
            description=f"cronguard {environment.name}/{job.name}: {job.description}"[:512],
            schedule=scheduler.ScheduleExpression.expression(
                job.schedule, TimeZone.of(job.timezone)
            ),
            enabled=job.enabled,
            time_window=(
                scheduler.TimeWindow.flexible(Duration.seconds(job.flexible_window.total_seconds()))
                if job.flexible_window
                else scheduler.TimeWindow.off()
            ),
            target=targets.StepFunctionsStartExecution(
                self.state_machine,
                input=scheduler.ScheduleTargetInput.from_object(
                    {
                        "scheduledTime": scheduler.ContextAttribute.scheduled_time,
                        "attempt": scheduler.ContextAttribute.attempt_number,
                    }
                ),
                dead_letter_queue=dead_letter_queue,
                role=shared.scheduler_role,
                retry_attempts=job.delivery.max_retries,
                max_event_age=Duration.seconds(job.delivery.max_event_age.total_seconds()),
            ),
        )

    def _task_definition(
        self, environment: Environment, job: Job, log_group: logs.ILogGroup
    ) -> ecs.FargateTaskDefinition:
        task_definition = ecs.FargateTaskDefinition(
            self,
            "TaskDefinition",
            family=f"cronguard-{environment.name}-{job.name}",
            cpu=job.cpu,
            memory_limit_mib=job.memory,
            runtime_platform=ecs.RuntimePlatform(
                cpu_architecture=ecs.CpuArchitecture.X86_64,
                operating_system_family=ecs.OperatingSystemFamily.LINUX,
            ),
        )
        task_definition.add_container(
            "Job",
            container_name=CONTAINER_NAME,
            image=self._image(job.image),
            command=job.command,
            environment=dict(job.environment),
            secrets={name: self._secret(name, arn) for name, arn in job.secrets.items()},
            essential=True,
            logging=ecs.LogDrivers.aws_logs(
                stream_prefix=job.name,
                log_group=log_group,
            ),
        )
        if task_definition.execution_role is not None:
            acknowledge(
                task_definition.execution_role,
                "IAM5[Resource::*]",
                "ecr:GetAuthorizationToken supports only Resource '*'.",
            )
        if job.environment:
            acknowledge(
                task_definition,
                "ECS2",
                "Plain settings from config; secret values go through `secrets` (SSM/Secrets "
                "Manager), never environment.",
            )
        return task_definition

    def _image(self, uri: str) -> ecs.ContainerImage:
        match = _ECR_IMAGE.match(uri)
        if not match:
            return ecs.ContainerImage.from_registry(uri)
        # A private ECR image: import the repository so the execution role may pull it.
        repository = ecr.Repository.from_repository_arn(
            self,
            "Repository",
            f"arn:aws:ecr:{match['region']}:{match['account']}:repository/{match['repository']}",
        )
        return ecs.ContainerImage.from_ecr_repository(
            repository, match["digest"] or match["tag"] or "latest"
        )

    def _secret(self, name: str, arn: str) -> ecs.Secret:
        if ":ssm:" in arn:
            parameter = ssm.StringParameter.from_secure_string_parameter_attributes(
                self, f"Secret{name}", parameter_name="/" + arn.split(":parameter/", 1)[1]
            )
            return ecs.Secret.from_ssm_parameter(parameter)
        secret = secretsmanager.Secret.from_secret_complete_arn(self, f"Secret{name}", arn)
        return ecs.Secret.from_secrets_manager(secret)

    def _guard_function(
        self,
        environment: Environment,
        job: Job,
        ledger: dynamodb.ITable,
        shared: SharedJobResources,
    ) -> RuntimeFunction:
        stack = Stack.of(self)
        function = RuntimeFunction(
            self,
            "Guard",
            description=f"cronguard guard for {self.state_machine_name}",
            handler="lambdas.guard.handler.lambda_handler",
            code=shared.code,
            log_group=shared.guard_logs,
            environment={"LEDGER_TABLE": ledger.table_name, "CRONGUARD_ENV": environment.name},
            timeout=Duration.seconds(60),
        )
        # The guard touches only its own job's items in the ledger...
        function.add_to_role_policy(
            iam.PolicyStatement(
                actions=[
                    "dynamodb:BatchGetItem",
                    "dynamodb:GetItem",
                    "dynamodb:PutItem",
                    "dynamodb:UpdateItem",
                    "dynamodb:DeleteItem",
                    "dynamodb:ConditionCheckItem",
                ],
                resources=[ledger.table_arn],
                conditions={
                    "ForAllValues:StringEquals": {"dynamodb:LeadingKeys": [f"job#{job.name}"]}
                },
            )
        )
        # ...and only its own state machine. The ARN is built from the fixed name: a grant
        # from the state machine would make a dependency cycle (its definition names us).
        machine_arn = stack.format_arn(
            service="states",
            resource="stateMachine",
            resource_name=self.state_machine_name,
            arn_format=ArnFormat.COLON_RESOURCE_NAME,
        )
        executions_arn = stack.format_arn(
            service="states",
            resource="execution",
            resource_name=f"{self.state_machine_name}:*",
            arn_format=ArnFormat.COLON_RESOURCE_NAME,
        )
        function.add_to_role_policy(
            iam.PolicyStatement(actions=["states:ListExecutions"], resources=[machine_arn])
        )
        function.add_to_role_policy(
            iam.PolicyStatement(
                actions=["states:DescribeExecution", "states:StopExecution"],
                resources=[executions_arn],
            )
        )
        acknowledge(
            function.role,
            wildcard_resource_finding(stack, "states", f"execution:{self.state_machine_name}:*"),
            "Executions of this job's own state machine only; their names are not "
            "known in advance.",
        )
        return function

    def _grant_run(self, stack: Stack, cluster: ecs.ICluster, cluster_name: str) -> None:
        """What ``ecs:runTask.sync`` needs, as AWS documents it, scoped to this job."""
        task_definition = self.task_definition
        family_arn = stack.format_arn(
            service="ecs",
            resource="task-definition",
            resource_name=f"{task_definition.family}:*",
        )
        tasks_arn = stack.format_arn(
            service="ecs", resource="task", resource_name=f"{cluster_name}/*"
        )
        rule_arn = stack.format_arn(
            service="events", resource="rule", resource_name="StepFunctionsGetEventsForECSTaskRule"
        )
        machine = self.state_machine
        machine.add_to_role_policy(
            iam.PolicyStatement(
                actions=["lambda:InvokeFunction"], resources=[self.guard.function.function_arn]
            )
        )
        machine.add_to_role_policy(
            iam.PolicyStatement(
                actions=["ecs:RunTask"],
                resources=[family_arn],
                conditions={"ArnEquals": {"ecs:cluster": cluster.cluster_arn}},
            )
        )
        machine.add_to_role_policy(
            iam.PolicyStatement(
                actions=["ecs:StopTask", "ecs:DescribeTasks"], resources=[tasks_arn]
            )
        )
        machine.add_to_role_policy(
            iam.PolicyStatement(
                actions=["events:PutTargets", "events:PutRule", "events:DescribeRule"],
                resources=[rule_arn],
            )
        )
        roles = [task_definition.task_role]
        if task_definition.execution_role is not None:
            roles.append(task_definition.execution_role)
        machine.add_to_role_policy(
            iam.PolicyStatement(
                actions=["iam:PassRole"],
                resources=[role.role_arn for role in roles],
                conditions={"StringEquals": {"iam:PassedToService": "ecs-tasks.amazonaws.com"}},
            )
        )
        acknowledge(machine.role, "IAM5[Resource::*]", XRAY_ONLY_STAR)
        for finding in (
            wildcard_resource_finding(stack, "ecs", f"task-definition/{task_definition.family}:*"),
            wildcard_resource_finding(stack, "ecs", f"task/{cluster_name}/*"),
        ):
            acknowledge(
                machine.role,
                finding,
                "This job's task definition revisions and the tasks it starts in its "
                "cluster; task ids are not known in advance.",
            )
