"""A job stack's CloudFormation template, rendered from config in plain Python.

Why not CDK constructs here, when the environment's stack is built from them: a job is 10
resources (``JobResources``), and building them as constructs costs a jsii round trip per
construct, property and grant — about 60 ms a job, 6× what the CDK's own ``ScheduledFargateTask``
costs, and most of a 250-job synth (``bench/benchmark.py`` measures both). A job's
resources are a closed, code-defined shape filled in from a validated config, so they are
rendered here as data, once per job stack, in about a millisecond a job.

Nothing is checked less for it: the job stack includes the rendered template in the
construct tree (``stacks/job_stack.py``), so cdk-nag, Aspects, tags and permissions
boundaries reach each resource as they reach a construct's; the tests run cfn-lint over
it, and the local engine executes its state machines.

What a job stack is passed (the environment's stack fills ``PARAMETERS``) and what it holds:

- shared by its jobs: three log groups (executions, job containers, guards; a stream
  prefix per job) and the role EventBridge Scheduler assumes;
- per job (``JobResources`` names them): the task definition with its task and execution
  roles, the guard Lambda and its role, the state machine and its role, the schedule, one
  alarm, and the SSM parameter holding the state machine's ARN.

Logical IDs and the names that must never change (state machine, task family) are
functions of the environment and job names only, so config changes update in place.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, fields
from typing import Any

from cronguard.config import Environment, Job
from cronguard.config.model import JOB_RETRY_INTERVAL_SECONDS, Architecture
from lambdas.core import variables
from lambdas.core.guard_contract import JobPayload
from lambdas.core.ledger_contract import partition
from lambdas.guard import settings as guard_settings
from stacks.compliance import (
    LIST_TASKS_ONLY_STAR,
    LOG_DELIVERY_ONLY_STAR,
    NO_TRACING,
    wildcard_resource_finding,
)
from stacks.definition import render_definition
from stacks.functions import LOG_RETENTION_DAYS, MEMORY_MB
from stacks.lambda_code import RUNTIME
from stacks.monitoring import AT_FIRST_OCCURRENCE

CONTAINER_NAME = "job"
# The guard may stop a replaced or timed-out run's task and wait until ECS reports it STOPPED:
# up to the container's stop timeout (30 s by default) plus ECS's own delay.
GUARD_TIMEOUT_SECONDS = 120
CPU_ARCHITECTURES = {Architecture.X86_64: "X86_64", Architecture.ARM64: "ARM64"}
TEMPLATE_SUFFIX = ".nested.template.json"  # as the CDK names a NestedStack's template

# What the environment's stack passes to each job stack.
PARAMETERS = {
    "LedgerTableName": "The environment's ledger table",
    "LedgerTableArn": "ARN of the environment's ledger table",
    "ClusterArn": "ARN of the ECS cluster the jobs run in",
    "DeadLetterQueueArn": "Where the schedules' failed deliveries go",
    "AlarmTopicArn": "The environment's alarm topic",
    "CodeS3Bucket": "Bucket of the Lambda code asset",
    "CodeS3Key": "Key of the Lambda code asset",
}

_ECR_IMAGE = re.compile(
    r"^(?P<account>\d{12})\.dkr\.ecr\.(?P<region>[a-z0-9-]+)\.amazonaws\.com/"
    r"(?P<repository>[^:@]+)(?::(?P<tag>[^@]+))?(?:@(?P<digest>.+))?$"
)
# The state machines' logs go to a group under /aws/vendedlogs/: Step Functions adds every
# other log group it logs to to the account's CloudWatch Logs resource policy, 5,120
# characters shared by every vended-log delivery of the region, which a few dozen job stacks
# would fill. One group per job stack, named after the nested stack (unique, and stable for
# its lifetime).
EXECUTION_LOG_GROUP_NAME = {"Fn::Sub": "/aws/vendedlogs/states/${AWS::StackName}"}
_SHARED = {
    "execution_logs": "ExecutionLogs",
    "job_logs": "JobLogs",
    "guard_logs": "GuardLogs",
    "scheduler_role": "SchedulerRole",
}


# --- CloudFormation intrinsics --------------------------------------------------------------


def ref(logical_id: str) -> dict[str, str]:
    return {"Ref": logical_id}


def get_att(logical_id: str, attribute: str = "Arn") -> dict[str, list[str]]:
    return {"Fn::GetAtt": [logical_id, attribute]}


def arn(service: str, resource: str) -> dict[str, str]:
    """An ARN in this stack's partition, region and account."""
    prefix = "arn:${AWS::Partition}:" + service + ":${AWS::Region}:${AWS::AccountId}"
    return {"Fn::Sub": f"{prefix}:{resource}"}


def statement(
    actions: list[str], resources: Any, condition: dict[str, Any] | None = None
) -> dict[str, Any]:
    found: dict[str, Any] = {
        "Effect": "Allow",
        "Action": actions[0] if len(actions) == 1 else sorted(actions),
        "Resource": resources,
    }
    if condition:
        found["Condition"] = condition
    return found


def role(
    service: str,
    description: str,
    statements: list[dict[str, Any]],
    condition: dict[str, Any] | None = None,
    managed_policies: Sequence[str] = (),
) -> dict[str, Any]:
    """A role ``service`` may assume, with its one inline policy (if any statements)."""
    trust: dict[str, Any] = {
        "Effect": "Allow",
        "Principal": {"Service": service},
        "Action": "sts:AssumeRole",
    }
    if condition:
        trust["Condition"] = condition
    properties: dict[str, Any] = {
        "AssumeRolePolicyDocument": {"Version": "2012-10-17", "Statement": [trust]},
        "Description": description[:1000],
    }
    if statements:
        properties["Policies"] = [
            {
                "PolicyName": "cronguard",
                "PolicyDocument": {"Version": "2012-10-17", "Statement": statements},
            }
        ]
    if managed_policies:
        properties["ManagedPolicyArns"] = list(managed_policies)
    return {"Type": "AWS::IAM::Role", "Properties": properties}


# --- names ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class JobResources:
    """The logical IDs of one job's resources: ``prefix`` — the job's name in PascalCase plus
    a hash of the name (``a-1b`` and ``a1b`` would otherwise collide) — then the part, e.g.
    ``NightlyReport6743BA10StateMachine``."""

    prefix: str
    task_role: str
    execution_role: str
    task_definition: str
    guard_role: str
    guard: str
    state_machine_role: str
    state_machine: str
    schedule: str
    alarm: str
    state_machine_parameter: str

    @property
    def logical_ids(self) -> tuple[str, ...]:
        return tuple(getattr(self, f.name) for f in fields(self) if f.name != "prefix")

    @classmethod
    def of(cls, job: Job) -> JobResources:
        digest = hashlib.sha256(job.name.encode()).hexdigest()[:8].upper()
        prefix = _pascal(job.name, "-") + digest
        parts = {f.name: prefix + _pascal(f.name, "_") for f in fields(cls) if f.name != "prefix"}
        return cls(prefix=prefix, **parts)


def _pascal(name: str, separator: str) -> str:
    return "".join(part[:1].upper() + part[1:] for part in name.split(separator))


def task_family_prefix(environment: Environment) -> str:
    return f"cronguard-{environment.name}-"


def task_family(environment: Environment, job: Job) -> str:
    return f"{task_family_prefix(environment)}{job.name}"


# --- the template ---------------------------------------------------------------------------


class JobStackTemplate:
    """Renders the template of one job stack: ``render()`` returns it as a dict."""

    def __init__(self, environment: Environment, jobs: Sequence[Job]) -> None:
        self.environment = environment
        self.jobs = jobs
        self.resources: dict[str, dict[str, Any]] = {}
        # logical ID -> the AwsSolutions findings accepted on it: (rule, reason), e.g.
        # ("IAM5[Resource::*]", "…"), as ``stacks.compliance.acknowledge`` takes them.
        self.acknowledgements: dict[str, tuple[tuple[str, str], ...]] = {}
        self.outputs: dict[str, dict[str, Any]] = {}

    def render(self) -> dict[str, Any]:
        self.resources = {}
        self.outputs = {}
        self.acknowledgements = {}
        self._shared()
        for job in self.jobs:
            self._job(job)
        return {
            "AWSTemplateFormatVersion": "2010-09-09",
            "Description": (
                f"cronguard {self.environment.name}: jobs "
                + ", ".join(job.name for job in self.jobs)
            )[:1024],
            "Parameters": {
                name: {"Type": "String", "Description": description}
                for name, description in PARAMETERS.items()
            },
            "Resources": self.resources,
            "Outputs": self.outputs,
        }

    def _add(
        self,
        logical_id: str,
        resource: dict[str, Any],
        *acknowledgements: tuple[str, str],
    ) -> None:
        """Add a resource; ``acknowledgements`` are the cdk-nag findings accepted on it, each
        (rule, reason): the job stack acknowledges them on the included resource."""
        if acknowledgements:
            self.acknowledgements[logical_id] = acknowledgements
        self.resources[logical_id] = resource

    # --- shared by the stack's jobs --------------------------------------------------------

    def _shared(self) -> None:
        for key in ("execution_logs", "job_logs", "guard_logs"):
            properties: dict[str, Any] = {"RetentionInDays": LOG_RETENTION_DAYS}
            if key == "execution_logs":
                properties["LogGroupName"] = EXECUTION_LOG_GROUP_NAME
            self._add(
                _SHARED[key],
                {
                    "Type": "AWS::Logs::LogGroup",
                    "Properties": properties,
                    "DeletionPolicy": "Retain",
                    "UpdateReplacePolicy": "Retain",
                },
            )
        machines = [
            arn("states", f"stateMachine:{self.environment.state_machine_name(job)}")
            for job in self.jobs
        ]
        self._add(
            _SHARED["scheduler_role"],
            role(
                "scheduler.amazonaws.com",
                "EventBridge Scheduler starts this job stack's state machines",
                [
                    statement(["states:StartExecution"], machines),
                    statement(["sqs:SendMessage"], ref("DeadLetterQueueArn")),
                ],
                {"StringEquals": {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}},
            ),
        )

    # --- one job ---------------------------------------------------------------------------

    def _job(self, job: Job) -> None:
        ids = JobResources.of(job)
        self._task_definition(job, ids)
        self._guard(job, ids)
        self._state_machine(job, ids)
        self._schedule(job, ids)
        self._alarm(job, ids)
        self._handle(job, ids)

    def _task_role(self, job: Job, ids: JobResources) -> Any:
        """The container's role: the job's existing one, or one with the job's permissions.
        Returns its ARN (a string, or a reference to the role this stack creates)."""
        if job.task_role_arn is not None:
            return job.task_role_arn
        name = self.environment.state_machine_name(job)
        accepted: list[tuple[str, str]] = []
        for permission in job.permissions:
            for wildcard in permission.wildcards:
                kind = "Action" if wildcard in permission.actions else "Resource"
                accepted.append((f"IAM5[{kind}::{wildcard}]", permission.reason or ""))
        accepted += [
            (f"IAM4[Policy::{policy.arn}]", policy.reason or "")
            for policy in job.managed_policies
            if policy.aws_managed
        ]
        self._add(
            ids.task_role,
            role(
                "ecs-tasks.amazonaws.com",
                f"cronguard job {name}: the container's role",
                [
                    statement(
                        permission.actions,
                        permission.resources[0]
                        if len(permission.resources) == 1
                        else permission.resources,
                        permission.conditions,
                    )
                    for permission in job.permissions
                ],
                managed_policies=[policy.arn for policy in job.managed_policies],
            ),
            *accepted,
        )
        return get_att(ids.task_role)

    def _task_definition(self, job: Job, ids: JobResources) -> None:
        name = self.environment.state_machine_name(job)
        task_role = self._task_role(job, ids)
        pull: list[dict[str, Any]] = []
        ecr = _ECR_IMAGE.match(job.image)
        if ecr:
            repository = {
                "Fn::Sub": f"arn:${{AWS::Partition}}:ecr:{ecr['region']}:{ecr['account']}:"
                f"repository/{ecr['repository']}"
            }
            pull = [
                statement(
                    [
                        "ecr:BatchCheckLayerAvailability",
                        "ecr:BatchGetImage",
                        "ecr:GetDownloadUrlForLayer",
                    ],
                    repository,
                ),
                statement(["ecr:GetAuthorizationToken"], "*"),
            ]
        secrets = sorted(job.secrets.items())
        ssm = [value for _, value in secrets if ":ssm:" in value]
        # A secret's ValueFrom may name a JSON key, stage or version after the secret's own
        # ARN (arn:…:secret:name-AbCdEf:key:stage:version); IAM wants the secret's ARN.
        secrets_manager = sorted(
            {":".join(value.split(":")[:7]) for _, value in secrets if ":ssm:" not in value}
        )
        self._add(
            ids.execution_role,
            role(
                "ecs-tasks.amazonaws.com",
                f"cronguard job {name}: ECS pulls the image, writes logs, reads secrets",
                [
                    *pull,
                    statement(
                        ["logs:CreateLogStream", "logs:PutLogEvents"], get_att(_SHARED["job_logs"])
                    ),
                    *([statement(["ssm:GetParameters"], ssm)] if ssm else []),
                    *(
                        [statement(["secretsmanager:GetSecretValue"], secrets_manager)]
                        if secrets_manager
                        else []
                    ),
                ],
            ),
            *(
                [("IAM5[Resource::*]", "ecr:GetAuthorizationToken supports only Resource '*'.")]
                if ecr
                else []
            ),
        )
        container: dict[str, Any] = {
            "Name": CONTAINER_NAME,
            "Image": job.image,
            "Essential": True,
            "LogConfiguration": {
                "LogDriver": "awslogs",
                "Options": {
                    "awslogs-group": ref(_SHARED["job_logs"]),
                    "awslogs-stream-prefix": job.name,
                    "awslogs-region": {"Ref": "AWS::Region"},
                },
            },
        }
        if job.command:
            container["Command"] = list(job.command)
        if job.environment:
            container["Environment"] = [
                {"Name": key, "Value": value} for key, value in sorted(job.environment.items())
            ]
        if secrets:
            container["Secrets"] = [{"Name": key, "ValueFrom": value} for key, value in secrets]
        self._add(
            ids.task_definition,
            {
                "Type": "AWS::ECS::TaskDefinition",
                "Properties": {
                    "Family": task_family(self.environment, job),
                    "Cpu": str(job.cpu),
                    "Memory": str(job.memory),
                    "NetworkMode": "awsvpc",
                    "RequiresCompatibilities": ["FARGATE"],
                    "RuntimePlatform": {
                        "CpuArchitecture": CPU_ARCHITECTURES[job.architecture],
                        "OperatingSystemFamily": "LINUX",
                    },
                    "TaskRoleArn": task_role,
                    "ExecutionRoleArn": get_att(ids.execution_role),
                    "ContainerDefinitions": [container],
                    **(
                        {"EphemeralStorage": {"SizeInGiB": job.ephemeral_storage_gib}}
                        if job.ephemeral_storage_gib is not None
                        else {}
                    ),
                },
            },
            *(
                [
                    (
                        "ECS2",
                        "Plain settings from config; secret values go through `secrets` (SSM/"
                        "Secrets Manager), never environment.",
                    )
                ]
                if job.environment
                else []
            ),
        )

    def _guard(self, job: Job, ids: JobResources) -> None:
        name = self.environment.state_machine_name(job)
        description = f"cronguard guard for {name}"
        executions = f"execution:{name}:*"
        tasks = f"task/{self.environment.cluster_name}/*"
        self._add(
            ids.guard_role,
            role(
                "lambda.amazonaws.com",
                description,
                [
                    statement(
                        ["logs:CreateLogStream", "logs:PutLogEvents"],
                        get_att(_SHARED["guard_logs"]),
                    ),
                    # The guard touches only its own job's items in the ledger...
                    statement(
                        [
                            "dynamodb:BatchGetItem",
                            "dynamodb:ConditionCheckItem",
                            "dynamodb:DeleteItem",
                            "dynamodb:GetItem",
                            "dynamodb:PutItem",
                            "dynamodb:UpdateItem",
                        ],
                        ref("LedgerTableArn"),
                        {
                            "ForAllValues:StringEquals": {
                                "dynamodb:LeadingKeys": [partition(job.name)]
                            }
                        },
                    ),
                    # ...and only its own state machine, whose ARN comes from its fixed name
                    # (a reference to the state machine would be a cycle: it names us).
                    statement(["states:ListExecutions"], arn("states", f"stateMachine:{name}")),
                    statement(
                        ["states:DescribeExecution", "states:StopExecution"],
                        arn("states", executions),
                    ),
                    # Stopping a run's task and waiting for STOPPED: ListTasks authorizes on
                    # container instances only (Fargate has none), so "*" and the cluster key.
                    statement(
                        ["ecs:ListTasks"],
                        "*",
                        {"ArnEquals": {"ecs:cluster": ref("ClusterArn")}},
                    ),
                    statement(["ecs:DescribeTasks", "ecs:StopTask"], arn("ecs", tasks)),
                ],
            ),
            ("IAM5[Resource::*]", LIST_TASKS_ONLY_STAR),
            (
                wildcard_resource_finding("states", executions),
                "Executions of this job's own state machine only; their names are not "
                "known in advance.",
            ),
            (
                wildcard_resource_finding("ecs", tasks),
                "Tasks in the jobs' cluster: the guard stops the task of a run it replaces or "
                "that timed out, and task ids are not known in advance.",
            ),
        )
        self._add(
            ids.guard,
            {
                "Type": "AWS::Lambda::Function",
                "Properties": {
                    "Description": description,
                    "Runtime": RUNTIME.name,
                    "Handler": guard_settings.HANDLER,
                    "Code": {"S3Bucket": ref("CodeS3Bucket"), "S3Key": ref("CodeS3Key")},
                    "Role": get_att(ids.guard_role),
                    "Timeout": GUARD_TIMEOUT_SECONDS,
                    "MemorySize": MEMORY_MB,
                    "LoggingConfig": {"LogGroup": ref(_SHARED["guard_logs"])},
                    "Environment": {
                        "Variables": {
                            variables.LEDGER_TABLE: ref("LedgerTableName"),
                            variables.JOB_CLUSTER_ARN: ref("ClusterArn"),
                            variables.ENVIRONMENT: self.environment.name,
                        }
                    },
                },
            },
        )

    def _state_machine(self, job: Job, ids: JobResources) -> None:
        """What ``ecs:runTask.sync`` needs, as AWS documents it, scoped to this job."""
        name = self.environment.state_machine_name(job)
        family = f"task-definition/{task_family(self.environment, job)}:*"
        tasks = f"task/{self.environment.cluster_name}/*"
        why_wildcards = (
            "This job's task definition revisions and the tasks it starts in its cluster; "
            "task ids are not known in advance."
        )
        self._add(
            ids.state_machine_role,
            role(
                "states.amazonaws.com",
                f"cronguard state machine {name}",
                [
                    statement(
                        [
                            "logs:CreateLogDelivery",
                            "logs:DeleteLogDelivery",
                            "logs:DescribeLogGroups",
                            "logs:DescribeResourcePolicies",
                            "logs:GetLogDelivery",
                            "logs:ListLogDeliveries",
                            "logs:PutResourcePolicy",
                            "logs:UpdateLogDelivery",
                        ],
                        "*",
                    ),
                    statement(["lambda:InvokeFunction"], get_att(ids.guard)),
                    statement(
                        ["ecs:RunTask"],
                        arn("ecs", family),
                        {"ArnEquals": {"ecs:cluster": ref("ClusterArn")}},
                    ),
                    statement(["ecs:DescribeTasks", "ecs:StopTask"], arn("ecs", tasks)),
                    # Run job propagates the task definition's tags to the task, which ECS
                    # authorizes as tagging it while RunTask creates it.
                    statement(
                        ["ecs:TagResource"],
                        arn("ecs", tasks),
                        {"StringEquals": {"ecs:CreateAction": "RunTask"}},
                    ),
                    statement(
                        ["events:DescribeRule", "events:PutRule", "events:PutTargets"],
                        arn("events", "rule/StepFunctionsGetEventsForECSTaskRule"),
                    ),
                    statement(
                        ["iam:PassRole"],
                        [
                            get_att(ids.execution_role),
                            job.task_role_arn or get_att(ids.task_role),
                        ],
                        {"StringEquals": {"iam:PassedToService": "ecs-tasks.amazonaws.com"}},
                    ),
                ],
                {
                    "StringEquals": {"aws:SourceAccount": {"Ref": "AWS::AccountId"}},
                    "ArnLike": {"aws:SourceArn": arn("states", f"stateMachine:{name}")},
                },
            ),
            ("IAM5[Resource::*]", LOG_DELIVERY_ONLY_STAR),
            (wildcard_resource_finding("ecs", family), why_wildcards),
            (wildcard_resource_finding("ecs", tasks), why_wildcards),
        )
        self._add(
            ids.state_machine,
            {
                "Type": "AWS::StepFunctions::StateMachine",
                "Properties": {
                    "StateMachineName": name,
                    "StateMachineType": "STANDARD",
                    "DefinitionString": render_definition(definition_values(self.environment, job)),
                    "DefinitionSubstitutions": {
                        "GuardFunctionArn": get_att(ids.guard),
                        "ClusterArn": ref("ClusterArn"),
                        "TaskDefinitionArn": ref(ids.task_definition),
                    },
                    "RoleArn": get_att(ids.state_machine_role),
                    "LoggingConfiguration": {
                        "Level": "ALL",
                        "Destinations": [
                            {
                                "CloudWatchLogsLogGroup": {
                                    "LogGroupArn": get_att(_SHARED["execution_logs"])
                                }
                            }
                        ],
                    },
                },
            },
            ("SF2", NO_TRACING),
        )

    def _schedule(self, job: Job, ids: JobResources) -> None:
        environment = self.environment
        window: dict[str, Any] = {"Mode": "OFF"}
        if job.flexible_window:
            window = {
                "Mode": "FLEXIBLE",
                "MaximumWindowInMinutes": int(job.flexible_window.total_seconds() // 60),
            }
        self._add(
            ids.schedule,
            {
                "Type": "AWS::Scheduler::Schedule",
                "Properties": {
                    "Description": f"cronguard {environment.name}/{job.name}: {job.description}"[
                        :512
                    ],
                    "ScheduleExpression": job.schedule,
                    "ScheduleExpressionTimezone": job.timezone,
                    "State": "ENABLED" if job.enabled else "DISABLED",
                    "FlexibleTimeWindow": window,
                    "Target": {
                        "Arn": ref(ids.state_machine),
                        "RoleArn": get_att(_SHARED["scheduler_role"]),
                        "Input": json.dumps(
                            {
                                "scheduledTime": "<aws.scheduler.scheduled-time>",
                                "attempt": "<aws.scheduler.attempt-number>",
                            },
                            separators=(",", ":"),
                        ),
                        "RetryPolicy": {
                            "MaximumRetryAttempts": job.delivery.max_retries,
                            "MaximumEventAgeInSeconds": int(
                                job.delivery.max_event_age.total_seconds()
                            ),
                        },
                        "DeadLetterConfig": {"Arn": ref("DeadLetterQueueArn")},
                    },
                },
            },
        )

    def _handle(self, job: Job, ids: JobResources) -> None:
        """The job's state machine ARN where other stacks and tools find it: an SSM parameter
        of a fixed name, and an output of its job stack."""
        self._add(
            ids.state_machine_parameter,
            {
                "Type": "AWS::SSM::Parameter",
                "Properties": {
                    "Name": self.environment.state_machine_parameter(job),
                    "Type": "String",
                    "Value": ref(ids.state_machine),
                    "Description": f"cronguard {self.environment.name}/{job.name}: the ARN of "
                    "its state machine",
                },
            },
        )
        self.outputs[f"{ids.prefix}StateMachineArn"] = {
            "Description": f"cronguard {self.environment.name}/{job.name}: its state machine",
            "Value": ref(ids.state_machine),
        }

    def _alarm(self, job: Job, ids: JobResources) -> None:
        """One alarm per job: any failed, timed-out or aborted execution, or a guard error,
        in a period. Skips are healthy and never alarm. When it fires is the environment's
        alarms' rule (``stacks.monitoring.AT_FIRST_OCCURRENCE``), which ``alarm()`` builds from."""
        environment = self.environment
        name = environment.state_machine_name(job)

        def stat(metric_id: str, namespace: str, metric: str, dimension: dict[str, Any]) -> Any:
            return {
                "Id": metric_id,
                "ReturnData": False,
                "MetricStat": {
                    "Metric": {
                        "Namespace": namespace,
                        "MetricName": metric,
                        "Dimensions": [dimension],
                    },
                    "Period": AT_FIRST_OCCURRENCE.period_seconds,
                    "Stat": "Sum",
                },
            }

        machine = {"Name": "StateMachineArn", "Value": ref(ids.state_machine)}
        self._add(
            ids.alarm,
            {
                "Type": "AWS::CloudWatch::Alarm",
                "Properties": {
                    "AlarmDescription": f"cronguard {environment.name}/{job.name}: an execution "
                    f"failed, timed out or was aborted, or the guard failed — see the state "
                    f"machine {name} and `cronguard history {job.name}`.",
                    **AT_FIRST_OCCURRENCE.properties(),
                    "AlarmActions": [ref("AlarmTopicArn")],
                    "Metrics": [
                        {
                            "Id": "needsAttention",
                            "Expression": "FILL(failed, 0) + FILL(timedOut, 0) "
                            "+ FILL(aborted, 0) + FILL(guardErrors, 0)",
                            "Label": f"{job.name}: failed + timed out + aborted executions "
                            "+ guard errors",
                            "ReturnData": True,
                        },
                        stat("failed", "AWS/States", "ExecutionsFailed", machine),
                        stat("timedOut", "AWS/States", "ExecutionsTimedOut", machine),
                        stat("aborted", "AWS/States", "ExecutionsAborted", machine),
                        stat(
                            "guardErrors",
                            "AWS/Lambda",
                            "Errors",
                            {"Name": "FunctionName", "Value": ref(ids.guard)},
                        ),
                    ],
                },
            },
        )


def template_body(template: dict[str, Any]) -> str:
    """The template as written to its asset: compact, because a full job stack of generous
    jobs is about 650 KB this way (900 KB indented) and CloudFormation takes at most 1 MB."""
    return json.dumps(template, separators=(",", ":"), ensure_ascii=False)


def definition_values(environment: Environment, job: Job) -> dict[str, Any]:
    """The typed values config gives the ASL template (``state_machines/``)."""
    network = environment.network.for_job(job.network)
    return {
        "JobName": job.name,
        "Concurrency": job.concurrency.value,
        # The guard reads these (its payload's "job"): typed by the contract both sides import.
        "JobSettings": JobPayload(
            name=job.name,
            concurrency=job.concurrency.value,
            startingDeadlineSeconds=(
                int(job.starting_deadline.total_seconds()) if job.starting_deadline else None
            ),
            leaseSeconds=int(job.lease.total_seconds()),
            retentionSeconds=int(environment.ledger.retention.total_seconds()),
            container=CONTAINER_NAME,
            taskFamily=task_family(environment, job),
        ),
        "ExecutionTimeoutSeconds": int(job.execution_timeout.total_seconds()),
        "TimeoutSeconds": int(job.timeout.total_seconds()),
        "LaunchType": None if job.capacity_strategy else "FARGATE",
        "CapacityProviderStrategy": (
            [
                {
                    "CapacityProvider": share.provider.value,
                    "Weight": share.weight,
                    **({"Base": share.base} if share.base else {}),
                }
                for share in job.capacity_strategy
            ]
            if job.capacity_strategy
            else None
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
