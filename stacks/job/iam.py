"""The roles of a job stack, each with the statements its holder calls, scoped to its job.

Hand-written rather than the L2 grants, which would add ``secretsmanager:DescribeSecret``,
``ssm:DescribeParameters`` and ``lambda:InvokeFunction`` on ``guard:*``.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from typing import Any

from cronguard.config import Environment, container
from cronguard.config.container import ECR_IMAGE
from lambdas.core.ledger_contract import partition
from stacks.compliance import (
    LIST_TASKS_ONLY_STAR,
    LOG_DELIVERY_ONLY_STAR,
    wildcard_resource_finding,
)
from stacks.job.cloudformation import arn, get_att, ref
from stacks.job.shapes import SHARED, Acknowledgement, Fragment, NamedJob, Resource

_COMPLETE_SECRET_ARN = re.compile(r"-[a-z0-9]{6}$", re.IGNORECASE)


def roles(environment: Environment, jobs: Sequence[NamedJob]) -> Iterator[Fragment]:
    """The role EventBridge Scheduler assumes for the stack's schedules, then each job's:
    its container's (unless it brings its own), its execution role, its guard's and its
    state machine's."""
    yield Fragment(
        SHARED.scheduler_role,
        _role(
            "scheduler.amazonaws.com",
            "EventBridge Scheduler starts this job stack's state machines",
            [
                _statement(
                    ["states:StartExecution"],
                    [arn("states", f"stateMachine:{named.state_machine}") for named in jobs],
                ),
                _statement(["sqs:SendMessage"], ref("DeadLetterQueueArn")),
            ],
            {"StringEquals": {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}},
        ),
    )
    tasks = f"task/{environment.cluster_name}/*"  # the tasks of the jobs' cluster
    for named in jobs:
        if named.renders_task_definition:
            if named.job.task_role_arn is None:
                yield _task_role(named)
            yield _execution_role(named)
        yield _guard_role(named, tasks)
        yield _state_machine_role(named, tasks)


def _task_role(named: NamedJob) -> Fragment:
    """The container's role, with the job's permissions."""
    job = named.job
    accepted: list[Acknowledgement] = []
    for permission in job.permissions:
        for wildcard in permission.wildcards:
            kind = "Action" if wildcard in permission.actions else "Resource"
            accepted.append((f"IAM5[{kind}::{wildcard}]", permission.reason or ""))
    accepted += [
        (f"IAM4[Policy::{policy.arn}]", policy.reason or "")
        for policy in job.managed_policies
        if policy.aws_managed
    ]
    return Fragment(
        named.ids.task_role,
        _role(
            "ecs-tasks.amazonaws.com",
            f"cronguard job {named.state_machine}: the container's role",
            [
                *(
                    _statement(
                        permission.actions,
                        permission.resources[0]
                        if len(permission.resources) == 1
                        else permission.resources,
                        permission.conditions,
                    )
                    for permission in job.permissions
                ),
                *_file_system_clients(named),
            ],
            managed_policies=[policy.arn for policy in job.managed_policies],
        ),
        tuple(accepted),
    )


def _file_system_clients(named: NamedJob) -> list[dict[str, Any]]:
    """What mounting the job's EFS volumes with IAM authorization takes of the task role:
    ClientMount, and ClientWrite unless every mount of it is read-only, on that file system,
    through its access point when it has one."""
    job = named.job
    mounts = [*job.mounts, *(mount for sidecar in job.sidecars for mount in sidecar.mounts)]
    statements = []
    for volume in job.volumes:
        efs = volume.efs
        if efs is None or not efs.iam_authorization:
            continue
        writes = any(m.volume == volume.name and not m.read_only for m in mounts)
        actions = ["elasticfilesystem:ClientMount"]
        if writes:
            actions.append("elasticfilesystem:ClientWrite")
        access_point = (
            {
                "StringEquals": {
                    "elasticfilesystem:AccessPointArn": arn(
                        "elasticfilesystem", f"access-point/{efs.access_point_id}"
                    )
                }
            }
            if efs.access_point_id is not None
            else None
        )
        statements.append(
            _statement(
                actions, arn("elasticfilesystem", f"file-system/{efs.file_system_id}"), access_point
            )
        )
    return statements


def _execution_role(named: NamedJob) -> Fragment:
    """What ECS needs to start the container: pull its image, write its logs, read its
    secrets."""
    job = named.job
    pull: list[dict[str, Any]] = []
    images = [*filter(None, [job.image]), *(sidecar.image for sidecar in job.sidecars)]
    if job.logs.firelens:
        images.append(job.logs.router.image)
    repositories = []
    for image in images:
        ecr = ECR_IMAGE.match(image)
        if ecr:
            repository = {
                "Fn::Sub": f"arn:${{AWS::Partition}}:ecr:{ecr['region']}:{ecr['account']}:"
                f"repository/{ecr['repository']}"
            }
            if repository not in repositories:
                repositories.append(repository)
    if repositories:
        pull = [
            _statement(
                [
                    "ecr:BatchCheckLayerAvailability",
                    "ecr:BatchGetImage",
                    "ecr:GetDownloadUrlForLayer",
                ],
                repositories[0] if len(repositories) == 1 else repositories,
            ),
            _statement(["ecr:GetAuthorizationToken"], "*"),
        ]
    return Fragment(
        named.ids.execution_role,
        _role(
            "ecs-tasks.amazonaws.com",
            f"cronguard job {named.state_machine}: ECS pulls the image, writes logs, reads secrets",
            [
                *pull,
                _statement(
                    ["logs:CreateLogStream", "logs:PutLogEvents"], get_att(named.container_logs)
                ),
                *_reads_at_start(named),
            ],
        ),
        (("IAM5[Resource::*]", "ecr:GetAuthorizationToken supports only Resource '*'."),)
        if repositories
        else (),
    )


def _reads_at_start(named: NamedJob) -> list[dict[str, Any]]:
    """What ECS reads for the task as it starts it, each named exactly: the secrets, the
    registry credentials and the environment files, and the key they are encrypted with."""
    job = named.job
    secrets = [value for _, value in sorted(job.secrets.items())]
    for extra in [
        *(sorted(sidecar.secrets.items()) for sidecar in job.sidecars),
        sorted(job.logs.secret_options.items()),
    ]:
        secrets += [value for _, value in extra if value not in secrets]
    ssm = [value for value in secrets if ":ssm:" in value]
    secrets_manager = sorted(
        {
            _secret_for_policies(value)
            for value in [*secrets, *filter(None, [job.registry_credentials])]
            if ":ssm:" not in value
        }
    )
    statements = []
    if ssm:
        statements.append(_statement(["ssm:GetParameters"], ssm))
    if secrets_manager:
        statements.append(_statement(["secretsmanager:GetSecretValue"], secrets_manager))
    if job.environment_files:
        # ECS gets each file and asks where its bucket is (the ECS developer guide's
        # "Required IAM permissions" for environment files).
        statements.append(_statement(["s3:GetObject"], list(job.environment_files)))
        buckets = sorted({container.bucket_of(file) for file in job.environment_files})
        statements.append(_statement(["s3:GetBucketLocation"], buckets))
    if job.kms_key_arn is not None:
        # Only as the services that read those values decrypt for ECS, in their regions.
        via = sorted(
            {f"ssm.{container.region_of(value)}.amazonaws.com" for value in ssm}
            | {
                f"secretsmanager.{container.region_of(value)}.amazonaws.com"
                for value in secrets_manager
            }
        )
        s3 = [{"Fn::Sub": "s3.${AWS::Region}.amazonaws.com"}] if job.environment_files else []
        statements.append(
            _statement(
                ["kms:Decrypt"],
                job.kms_key_arn,
                {"StringEquals": {"kms:ViaService": [*via, *s3]}},
            )
        )
    return statements


def _secret_for_policies(value_from: str) -> str:
    """The secret a container's ``ValueFrom`` names, as a policy must name it. ``ValueFrom`` may
    add a JSON key, stage or version after the secret's own ARN
    (``arn:…:secret:name-AbCdEf:key:stage:version``). A secret's ARN ends in "-" and six random
    characters; an ARN without them (a partial ARN) matches no secret in a policy, so it is
    granted as the CDK grants partial ARNs, ``<arn>-??????``, and one that ends so is taken as
    complete, by the CDK's rule (aws-cdk-lib ``aws-secretsmanager/lib/secret.ts``:
    ``arnForPolicies`` and ``arnIsComplete``)."""
    secret = ":".join(value_from.split(":")[:7])
    return secret if _COMPLETE_SECRET_ARN.search(secret) else f"{secret}-??????"


def _guard_role(named: NamedJob, tasks: str) -> Fragment:
    executions = f"execution:{named.state_machine}:*"
    return Fragment(
        named.ids.guard_role,
        _role(
            "lambda.amazonaws.com",
            f"cronguard guard for {named.state_machine}",
            [
                _statement(
                    ["logs:CreateLogStream", "logs:PutLogEvents"], get_att(SHARED.guard_logs)
                ),
                # The guard touches only its own job's items in the ledger, with the calls
                # LedgerTable makes: it reads with BatchGetItem, never GetItem...
                _statement(
                    [
                        "dynamodb:BatchGetItem",
                        "dynamodb:ConditionCheckItem",
                        "dynamodb:DeleteItem",
                        "dynamodb:PutItem",
                        "dynamodb:UpdateItem",
                    ],
                    ref("LedgerTableArn"),
                    {
                        "ForAllValues:StringEquals": {
                            "dynamodb:LeadingKeys": [partition(named.job.name)]
                        }
                    },
                ),
                *_renamed_from_reads(named),
                # ...and only its own state machine, whose ARN comes from its fixed name
                # (a reference to the state machine would be a cycle: it names us).
                _statement(
                    ["states:ListExecutions"], arn("states", f"stateMachine:{named.state_machine}")
                ),
                _statement(
                    ["states:DescribeExecution", "states:StopExecution"],
                    arn("states", executions),
                ),
                # Stopping a run's task and waiting for STOPPED: ListTasks authorizes on
                # container instances only (Fargate has none), so "*" and the cluster key.
                _statement(
                    ["ecs:ListTasks"],
                    "*",
                    {"ArnEquals": {"ecs:cluster": ref("ClusterArn")}},
                ),
                _statement(["ecs:DescribeTasks", "ecs:StopTask"], arn("ecs", tasks)),
            ],
        ),
        (
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
        ),
    )


def _state_machine_role(named: NamedJob, tasks: str) -> Fragment:
    """What ``ecs:runTask.sync`` needs, as AWS documents it, scoped to this job."""
    family = f"task-definition/{named.task_family}:*"
    why_wildcards = (
        "This job's task definition revisions and the tasks it starts in its cluster; "
        "task ids are not known in advance."
    )
    return Fragment(
        named.ids.state_machine_role,
        _role(
            "states.amazonaws.com",
            f"cronguard state machine {named.state_machine}",
            [
                _statement(
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
                _statement(["lambda:InvokeFunction"], get_att(named.ids.guard)),
                _statement(
                    ["ecs:RunTask"],
                    arn("ecs", family),
                    {"ArnEquals": {"ecs:cluster": ref("ClusterArn")}},
                ),
                _statement(["ecs:DescribeTasks", "ecs:StopTask"], arn("ecs", tasks)),
                # Run job propagates the task definition's tags to the task, which ECS
                # authorizes as tagging it while RunTask creates it.
                _statement(
                    ["ecs:TagResource"],
                    arn("ecs", tasks),
                    {"StringEquals": {"ecs:CreateAction": "RunTask"}},
                ),
                _statement(
                    ["events:DescribeRule", "events:PutRule", "events:PutTargets"],
                    arn("events", "rule/StepFunctionsGetEventsForECSTaskRule"),
                ),
                *_pass_roles(named),
            ],
            {
                "StringEquals": {"aws:SourceAccount": {"Ref": "AWS::AccountId"}},
                "ArnLike": {"aws:SourceArn": arn("states", f"stateMachine:{named.state_machine}")},
            },
        ),
        (
            ("IAM5[Resource::*]", LOG_DELIVERY_ONLY_STAR),
            (wildcard_resource_finding("ecs", family), why_wildcards),
            (wildcard_resource_finding("ecs", tasks), why_wildcards),
        ),
    )


def _renamed_from_reads(named: NamedJob) -> list[dict[str, Any]]:
    """A renamed job's guard reads its old name's lease and slot with its own (one
    BatchGetItem over both partitions) and checks the old lease in its claim; it writes
    nothing there."""
    old = named.job.renamed_from
    if old is None:
        return []
    return [
        _statement(
            ["dynamodb:BatchGetItem", "dynamodb:ConditionCheckItem"],
            ref("LedgerTableArn"),
            {
                "ForAllValues:StringEquals": {
                    "dynamodb:LeadingKeys": [partition(named.job.name), partition(old)]
                }
            },
        )
    ]


def _pass_roles(named: NamedJob) -> list[dict[str, Any]]:
    """The roles ECS gets for the job's task: the ones its stack renders, or the ones config
    names for a task definition of its own (none: nothing to pass)."""
    job = named.job
    if named.renders_task_definition:
        roles = [get_att(named.ids.execution_role), named.task_role]
    elif job.pass_roles:
        roles = list(job.pass_roles)
    else:
        return []
    return [
        _statement(
            ["iam:PassRole"],
            roles,
            {"StringEquals": {"iam:PassedToService": "ecs-tasks.amazonaws.com"}},
        )
    ]


def _statement(
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


def _role(
    service: str,
    description: str,
    statements: list[dict[str, Any]],
    condition: dict[str, Any] | None = None,
    managed_policies: Sequence[str] = (),
) -> Resource:
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
