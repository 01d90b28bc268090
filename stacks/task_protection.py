"""ECS task scale-in protection for services doing async work, and the orphan sweeper.

For every service named in config, the task role (imported by ARN, or created here) may
update and read the protection of the tasks of that service's cluster only, and write the
work history. A scheduled sweeper marks RUNNING work whose task died as ORPHANED and
alarms: protection cannot save work from an OOM kill, but the history makes it visible.

The sweeper is watched as closely as the work: its errors alarm, a sweep that failed (or
a trigger EventBridge could not deliver) is kept in a queue that alarms, and a sweeper
that stops reporting alarms rather than looking like one that finds nothing.
"""

from __future__ import annotations

from aws_cdk import CfnOutput, Duration, RemovalPolicy, Stack
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_sns as sns
from constructs import Construct

from cronguard.config import Environment
from lambdas.core import metrics_contract as names
from lambdas.core import variables
from lambdas.sweeper import settings as sweeper_settings
from stacks.compliance import acknowledge, wildcard_resource_finding
from stacks.functions import RuntimeFunction
from stacks.monitoring import alarm, service_metric
from stacks.periodic import failed_runs_alarm, run_periodically, silence_alarm

STATUS_INDEX = "by_status"
PROTECTION_ACTIONS = ["ecs:UpdateTaskProtection", "ecs:GetTaskProtection"]
# cronguard_worker reads a unit's item before it takes a redelivered unit over, then updates it.
HISTORY_ACTIONS = ["dynamodb:GetItem", "dynamodb:UpdateItem"]
# A sweeper that has not reported for this many sweep intervals in a row is not running.
SILENT_SWEEPS = 3


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
            # Fixed name: kept on delete and replacement, removed if its create rolls back.
            removal_policy=RemovalPolicy.RETAIN_ON_UPDATE_OR_DELETE,
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
                wildcard_resource_finding("ecs", f"task/{service.cluster}/*", stack),
                "Task protection of this service's cluster's tasks; task ids are not known "
                "in advance.",
            )
            self.task_roles[service.name] = role

        self.sweeper = RuntimeFunction(
            self,
            "Sweeper",
            description=f"cronguard {environment.name}: mark work of dead tasks ORPHANED",
            handler=sweeper_settings.HANDLER,
            code=code,
            environment={
                variables.WORK_TABLE: self.history.table_name,
                variables.ENVIRONMENT: environment.name,
                variables.STALE_AFTER_SECONDS: str(int(settings.stale_after.total_seconds())),
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
                    wildcard_resource_finding("ecs", f"task/{cluster}/*", stack),
                    "DescribeTasks on the protected services' tasks; ids are not known in advance.",
                )
        env = environment.name
        sweep_every = Duration.seconds(settings.sweep_every.total_seconds())
        # A failed sweep is not retried: the next scheduled one is the retry, and would meet
        # the same AccessDenied.
        self.failed_sweeps, _ = run_periodically(
            self,
            self.sweeper.function,
            every=sweep_every,
            queue_id="FailedSweeps",
            rule_id="SweepSchedule",
            description=f"cronguard {env}: sweep for orphaned work",
            what="orphan sweeper",
        )
        orphaned_work = service_metric(env, names.ORPHANED_WORK, sweep_every)
        self.orphans_alarm = alarm(
            self,
            "OrphanedWorkAlarm",
            metric=orphaned_work,
            description=f"cronguard {env}: work was orphaned (its task stopped or went "
            "silent). See the work history table for the reason.",
            topic=alarm_topic,
        )
        alarm(
            self,
            "SweeperErrors",
            metric=self.sweeper.function.metric_errors(),
            description=f"cronguard {env}: the orphan sweeper failed. SweepIncomplete in its "
            "logs names the clusters whose tasks it could not describe (all others were "
            "swept): grant it ecs:DescribeTasks there, or fix the cluster name in "
            "task_protection.services. Any other error: see its logs.",
            topic=alarm_topic,
        )
        failed_runs_alarm(
            self,
            "FailedSweepsAlarm",
            queue=self.failed_sweeps,
            every=sweep_every,
            description=f"cronguard {env}: a sweep failed (responsePayload has the error) or "
            "its trigger could not be delivered. The next sweep retries on its own; fix the "
            "cause (see the SweeperErrors alarm), then delete the messages.",
            topic=alarm_topic,
        )
        # No sample at all means no sweep ran (rule disabled, function throttled, timed out,
        # failing at import), which must not look like a sweeper that finds nothing.
        silence_alarm(
            self,
            "SweeperSilent",
            reported=orphaned_work,
            intervals=SILENT_SWEEPS,
            description=f"cronguard {env}: the orphan sweeper has not completed a sweep "
            f"for {SILENT_SWEEPS} intervals of {sweep_every.to_human_string()}; until it "
            "does, orphaned work goes unnoticed. Check its schedule rule, its Errors and its "
            "logs.",
            topic=alarm_topic,
        )
