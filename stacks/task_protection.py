"""ECS task scale-in protection for services doing async work, and the orphan sweeper.

For every service named in config, the task role (imported by ARN, or created here) may
update and read the protection of the tasks of that service's cluster only, and write the
work history. A scheduled sweeper marks RUNNING work whose task died as ORPHANED and
alarms: protection cannot save work from an OOM kill, but the history makes it visible.
"""

from __future__ import annotations

from aws_cdk import CfnOutput, Duration, RemovalPolicy, Stack
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as cloudwatch_actions
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as events_targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_sns as sns
from constructs import Construct

from cronguard.config import Environment
from stacks.compliance import acknowledge, wildcard_resource_finding
from stacks.functions import RuntimeFunction

STATUS_INDEX = "by_status"
PROTECTION_ACTIONS = ["ecs:UpdateTaskProtection", "ecs:GetTaskProtection"]
HISTORY_ACTIONS = ["dynamodb:UpdateItem"]  # every write of cronguard_worker is an UpdateItem


class TaskProtection(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        environment: Environment,
        code: lambda_.Code,
        alarm_topic: sns.ITopic,
    ) -> None:
        super().__init__(scope, construct_id)
        stack = Stack.of(self)
        settings = environment.task_protection
        self.history = dynamodb.Table(
            self,
            "WorkHistory",
            table_name=f"cronguard-{environment.name}-work",
            partition_key=dynamodb.Attribute(name="pk", type=dynamodb.AttributeType.STRING),
            billing_mode=dynamodb.BillingMode.PAY_PER_REQUEST,
            point_in_time_recovery_specification=dynamodb.PointInTimeRecoverySpecification(
                point_in_time_recovery_enabled=True
            ),
            encryption=dynamodb.TableEncryption.AWS_MANAGED,
            time_to_live_attribute="expires_at",
            removal_policy=RemovalPolicy.RETAIN,
        )
        self.history.add_global_secondary_index(
            index_name=STATUS_INDEX,
            partition_key=dynamodb.Attribute(name="status", type=dynamodb.AttributeType.STRING),
            sort_key=dynamodb.Attribute(name="heartbeat_at", type=dynamodb.AttributeType.STRING),
        )
        CfnOutput(self, "WorkHistoryTable", value=self.history.table_name)

        self.task_roles: dict[str, iam.IRole] = {}
        for service in settings.services:
            role: iam.IRole
            if service.task_role_arn is not None:
                role = iam.Role.from_role_arn(
                    self, f"{service.name}TaskRole", service.task_role_arn, mutable=True
                )
            else:
                role = iam.Role(
                    self,
                    f"{service.name}TaskRole",
                    assumed_by=iam.ServicePrincipal("ecs-tasks.amazonaws.com"),
                    description=f"Task role of {service.name}: task protection + work history",
                )
                CfnOutput(self, f"{service.name}TaskRoleArn", value=role.role_arn)
            tasks = stack.format_arn(
                service="ecs", resource="task", resource_name=f"{service.cluster}/*"
            )
            policy = iam.Policy(
                self,
                f"{service.name}Protection",
                roles=[role],
                statements=[
                    iam.PolicyStatement(actions=PROTECTION_ACTIONS, resources=[tasks]),
                    iam.PolicyStatement(
                        actions=HISTORY_ACTIONS, resources=[self.history.table_arn]
                    ),
                ],
            )
            acknowledge(
                policy,
                wildcard_resource_finding(stack, "ecs", f"task/{service.cluster}/*"),
                "Task protection of this service's cluster's tasks; task ids are not known "
                "in advance.",
            )
            self.task_roles[service.name] = role

        self.sweeper = RuntimeFunction(
            self,
            "Sweeper",
            description=f"cronguard {environment.name}: mark work of dead tasks ORPHANED",
            handler="lambdas.sweeper.handler.lambda_handler",
            code=code,
            environment={
                "WORK_TABLE": self.history.table_name,
                "CRONGUARD_ENV": environment.name,
                "STALE_AFTER_SECONDS": str(int(settings.stale_after.total_seconds())),
            },
            timeout=Duration.minutes(2),
        )
        self.sweeper.add_to_role_policy(
            iam.PolicyStatement(
                actions=["dynamodb:Query"],
                resources=[f"{self.history.table_arn}/index/{STATUS_INDEX}"],
            )
        )
        self.sweeper.add_to_role_policy(
            iam.PolicyStatement(actions=["dynamodb:UpdateItem"], resources=[self.history.table_arn])
        )
        clusters = sorted({service.cluster for service in settings.services})
        if clusters:
            self.sweeper.add_to_role_policy(
                iam.PolicyStatement(
                    actions=["ecs:DescribeTasks"],
                    resources=[
                        stack.format_arn(service="ecs", resource="task", resource_name=f"{c}/*")
                        for c in clusters
                    ],
                )
            )
            for cluster in clusters:
                acknowledge(
                    self.sweeper.role,
                    wildcard_resource_finding(stack, "ecs", f"task/{cluster}/*"),
                    "DescribeTasks on the protected services' tasks; ids are not known in advance.",
                )
        events.Rule(
            self,
            "SweepSchedule",
            description=f"cronguard {environment.name}: sweep for orphaned work",
            schedule=events.Schedule.rate(Duration.seconds(settings.sweep_every.total_seconds())),
            targets=[events_targets.LambdaFunction(self.sweeper.function, retry_attempts=2)],
        )
        self.orphans_alarm = cloudwatch.Alarm(
            self,
            "OrphanedWorkAlarm",
            alarm_description=(
                f"cronguard {environment.name}: work was orphaned (its task stopped or went "
                "silent). See the work history table for the reason."
            ),
            metric=cloudwatch.Metric(
                namespace="cronguard",
                metric_name="OrphanedWork",
                dimensions_map={"environment": environment.name, "service": "cronguard"},
                statistic="Sum",
                period=Duration.seconds(settings.sweep_every.total_seconds()),
            ),
            threshold=1,
            evaluation_periods=1,
            comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
        )
        self.orphans_alarm.add_alarm_action(cloudwatch_actions.SnsAction(alarm_topic))
