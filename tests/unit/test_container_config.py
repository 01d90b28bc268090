"""A job's container settings beyond image and command (config/container.py): good values
load as written, and each bad one is one line naming the file, the job and the field, with
AWS's rule (and the JSON Schema refuses what a schema can say)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from cronguard.config import ConfigError, load_environment
from cronguard.config.aws_rules import rules
from testkit.configs import NETWORK
from tests.configs import REPOSITORY_CONFIG
from tests.unit.test_config import JOBS, SchemaValidator, _schemas, with_job, write_config

PLATFORMS_DOC = (
    "https://docs.aws.amazon.com/AmazonECS/latest/developerguide/platform-linux-fargate.html"
)
RETENTIONS = ", ".join(map(str, rules().log_retention_days))


@pytest.fixture(autouse=True)
def in_tmp_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Messages name files as a person finds them: relative to the working directory."""
    monkeypatch.chdir(tmp_path)


def test_how_the_container_starts_and_stops_loads_as_written(tmp_path: Path) -> None:
    config = write_config(
        tmp_path,
        jobs=with_job(
            entrypoint=["/bin/sh", "-c"],
            user="1000:1000",
            working_directory="/srv/report",
            stop_timeout="90s",
            readonly_root_filesystem=True,
            init_process=True,
            platform_version="1.4.0",
            logs={"retention_days": 30},
        ),
    )
    job = load_environment("test", config).job("report")
    assert job.entrypoint == ["/bin/sh", "-c"]
    assert (job.user, job.working_directory) == ("1000:1000", "/srv/report")
    assert job.stop_timeout == timedelta(seconds=90)
    assert (job.readonly_root_filesystem, job.init_process) == (True, True)
    assert (job.platform_version, job.logs.retention_days) == ("1.4.0", 30)


def test_unset_container_settings_are_the_images_and_ecs_own(tmp_path: Path) -> None:
    job = load_environment("test", write_config(tmp_path)).job("sync")
    assert (job.entrypoint, job.user, job.working_directory, job.stop_timeout) == (None,) * 4
    assert (job.readonly_root_filesystem, job.init_process) == (False, False)
    assert (job.platform_version, job.logs.retention_days) == ("LATEST", None)


@pytest.mark.parametrize("user", ["app", "1000", "app:staff", "1000:1000", "nobody:65534"])
def test_a_user_may_be_a_name_or_id_with_a_group(tmp_path: Path, user: str) -> None:
    assert (
        load_environment("test", write_config(tmp_path, jobs=with_job(user=user)))
        .job("report")
        .user
        == user
    )


CONTAINER_REFUSES: list[tuple[str, dict[str, Any], str]] = [
    (
        "an empty entrypoint",
        with_job(entrypoint=[]),
        f"{JOBS}: job 'report': entrypoint: list should have at least 1 item after validation, "
        "not 0 (got [])",
    ),
    (
        "a user with a space",
        with_job(user="app user"),
        f"{JOBS}: job 'report': user: 'app user' is not a container user; expected a user name "
        "or uid, optionally with a group or gid: 'app', '1000', 'app:staff' or '1000:1000'",
    ),
    (
        "a relative working directory",
        with_job(working_directory="srv/app"),
        f"{JOBS}: job 'report': working_directory: 'srv/app' is not an absolute path, like "
        "'/srv/app'",
    ),
    (
        "a stop timeout under 2 seconds",
        with_job(stop_timeout=1),
        f"{JOBS}: job 'report': stop_timeout: 1s is out of range; allowed 2s to 2m",
    ),
    (
        "a stop timeout past Fargate's 120 seconds",
        with_job(stop_timeout=180),
        f"{JOBS}: job 'report': stop_timeout: 3m is out of range; allowed 2s to 2m",
    ),
    (
        "a platform version that is not one",
        with_job(platform_version="latest-ish"),
        f"{JOBS}: job 'report': platform_version: 'latest-ish' is not a Fargate platform "
        f"version; use LATEST or a version like '1.4.0' ({PLATFORMS_DOC})",
    ),
    (
        "arm64 on a platform version before 1.4.0",
        with_job(platform_version="1.3.0", architecture="arm64", ephemeral_storage_gib=30),
        f"{JOBS}: job 'report': platform_version: 1.3.0 cannot run architecture arm64 or "
        "ephemeral_storage_gib: Fargate needs platform version 1.4.0 or later for it "
        f"({PLATFORMS_DOC})",
    ),
    (
        "a log retention CloudWatch does not offer",
        with_job(logs={"retention_days": 31}),
        f"{JOBS}: job 'report': logs.retention_days: 31 days is not a retention CloudWatch "
        f"Logs takes; allowed: {RETENTIONS} (AWS::Logs::LogGroup RetentionInDays, cfn-lint "
        "E3030)",
    ),
    (
        "a misspelt logs key",
        with_job(logs={"retention": 30}),
        f"{JOBS}: job 'report': logs.retention: unknown key; did you mean 'retention_days'? "
        "allowed: retention_days, driver, log_router, options, secret_options",
    ),
]
SECRET = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:registry/dockerhub-AbCdEf"
KEY = "arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"
READ_AT_START_REFUSES: list[tuple[str, dict[str, Any], str]] = [
    (
        "registry credentials in SSM",
        with_job(registry_credentials="arn:aws:ssm:eu-west-1:123456789012:parameter/hub"),
        f"{JOBS}: job 'report': registry_credentials: "
        "'arn:aws:ssm:eu-west-1:123456789012:parameter/hub' is not a Secrets Manager secret ARN "
        "(arn:aws:secretsmanager:<region>:<account>:secret:<name>); ECS reads a private "
        "registry's credentials only from Secrets Manager",
    ),
    (
        "registry credentials for an ECR image",
        with_job(
            image="123456789012.dkr.ecr.eu-west-1.amazonaws.com/report:1",
            registry_credentials=SECRET,
        ),
        f"{JOBS}: job 'report': registry_credentials: the image is in ECR, which ECS pulls "
        "from with the execution role; registry_credentials are for other registries (Docker "
        "Hub, GHCR, …)",
    ),
    (
        "a KMS alias instead of a key",
        with_job(
            kms_key_arn="arn:aws:kms:eu-west-1:123456789012:alias/jobs", secrets={"A": SECRET}
        ),
        f"{JOBS}: job 'report': kms_key_arn: 'arn:aws:kms:eu-west-1:123456789012:alias/jobs' is "
        "not a KMS key ARN (arn:aws:kms:<region>:<account>:key/<id>): an alias matches no key "
        "in an IAM policy, name the key",
    ),
    (
        "a KMS key with nothing to decrypt",
        with_job(kms_key_arn=KEY),
        f"{JOBS}: job 'report': kms_key_arn: the job has no secrets, registry_credentials or "
        "environment_files to decrypt with it: drop it, or add what it encrypts",
    ),
    (
        "an environment file that is not a .env object",
        with_job(environment_files=["arn:aws:s3:::config-bucket/report.txt"]),
        f"{JOBS}: job 'report': environment_files: 'arn:aws:s3:::config-bucket/report.txt' is "
        "not an S3 object ARN of a .env file, like 'arn:aws:s3:::my-bucket/jobs/report.env' "
        "(https://docs.aws.amazon.com/AmazonECS/latest/developerguide/use-environment-file.html)",
    ),
    (
        "an environment file listed twice",
        with_job(environment_files=["arn:aws:s3:::cfg/a.env", "arn:aws:s3:::cfg/a.env"]),
        f"{JOBS}: job 'report': environment_files: an environment file is listed twice",
    ),
    (
        "more environment files than ECS takes",
        with_job(environment_files=[f"arn:aws:s3:::cfg/{n}.env" for n in range(11)]),
        f"{JOBS}: job 'report': environment_files: 11 environment files; ECS takes at most 10 "
        "(https://docs.aws.amazon.com/AmazonECS/latest/developerguide/use-environment-file.html)",
    ),
]
AGENT: dict[str, Any] = {"name": "agent", "image": "datadog/agent:7"}
EFS: dict[str, Any] = {"file_system_id": "fs-0123456789abcdef0"}
SIDECAR_REFUSES: list[tuple[str, dict[str, Any], str]] = [
    (
        "a sidecar named like the job container",
        with_job(sidecars=[{**AGENT, "name": "job"}]),
        f"{JOBS}: job 'report': sidecars[0].name: 'job' is the job container's own name",
    ),
    (
        "two sidecars of one name",
        with_job(sidecars=[AGENT, AGENT]),
        f"{JOBS}: job 'report': sidecars: sidecar names listed twice: agent",
    ),
    (
        "a sidecar waiting to be healthy without a health check",
        with_job(sidecars=[{**AGENT, "depends_on": "HEALTHY"}]),
        f"{JOBS}: job 'report': sidecars[0]: depends_on HEALTHY needs a health_check on agent: "
        "ECS waits for it to pass before it starts the job container",
    ),
    (
        "a condition ECS does not wait on",
        with_job(sidecars=[{**AGENT, "depends_on": "COMPLETE"}]),
        f"{JOBS}: job 'report': sidecars[0].depends_on: 'COMPLETE' is not allowed; use "
        "'START' or 'HEALTHY'",
    ),
    (
        "a health check that is not exec or shell form",
        with_job(sidecars=[{**AGENT, "health_check": {"command": ["curl", "-f", "x"]}}]),
        f"{JOBS}: job 'report': sidecars[0].health_check.command: 'curl': a health check "
        "command starts with 'CMD' (exec form) or 'CMD-SHELL' (run by the container's shell)",
    ),
    (
        "sidecars taking the whole task's memory",
        with_job(sidecars=[{**AGENT, "memory": 512}, {**AGENT, "name": "otel", "memory": 512}]),
        f"{JOBS}: job 'report': sidecars: the sidecars (and a log router) take 1024 of the "
        "task's 1024 MiB of "
        "memory, leaving the job container none: raise the job's cpu/memory or lower the "
        "sidecars'",
    ),
    (
        "a sidecar secret that is not an ARN",
        with_job(sidecars=[{**AGENT, "secrets": {"DD_API_KEY": "plain-text"}}]),
        f"{JOBS}: job 'report': sidecars: agent: DD_API_KEY: 'plain-text' is not an SSM "
        "parameter or Secrets Manager secret ARN",
    ),
    (
        "a mount of a volume the job does not have",
        with_job(mounts=[{"volume": "scratch", "path": "/scratch"}]),
        f"{JOBS}: job 'report': mounts: the job container mounts scratch, which is not one of "
        "the job's volumes (none)",
    ),
    (
        "a volume no container mounts",
        with_job(volumes=[{"name": "scratch"}]),
        f"{JOBS}: job 'report': volumes: scratch is mounted by no container: mount it or remove it",
    ),
    (
        "one path mounted twice",
        with_job(
            volumes=[{"name": "a"}, {"name": "b"}],
            mounts=[{"volume": "a", "path": "/data"}, {"volume": "b", "path": "/data"}],
        ),
        f"{JOBS}: job 'report': mounts: /data mounted twice in one container",
    ),
    (
        "an EFS id that is not one",
        with_job(volumes=[{"name": "shared", "efs": {"file_system_id": "efs-1"}}]),
        f"{JOBS}: job 'report': volumes[0].efs.file_system_id: 'efs-1' is not an EFS file "
        "system id (like 'fs-0123abcd')",
    ),
    (
        "an access point and a root directory",
        with_job(
            volumes=[
                {
                    "name": "shared",
                    "efs": {
                        **EFS,
                        "access_point_id": "fsap-0123456789abcdef0",
                        "root_directory": "/data",
                    },
                }
            ],
            mounts=[{"volume": "shared", "path": "/shared"}],
        ),
        f"{JOBS}: job 'report': volumes[0].efs: root_directory with an access point: the "
        "access point sets the root directory (ECS refuses both; "
        "https://docs.aws.amazon.com/AmazonECS/latest/developerguide/efs-volumes.html)",
    ),
    (
        "IAM authorization without transit encryption",
        with_job(
            volumes=[{"name": "shared", "efs": {**EFS, "transit_encryption": False}}],
            mounts=[{"volume": "shared", "path": "/shared"}],
        ),
        f"{JOBS}: job 'report': volumes[0].efs: iam_authorization needs transit_encryption "
        "(ECS refuses one without the other; "
        "https://docs.aws.amazon.com/AmazonECS/latest/developerguide/efs-volumes.html)",
    ),
]
FIRELENS: dict[str, Any] = {"driver": "firelens", "options": {"Name": "datadog"}}
LOG_ROUTING_REFUSES: list[tuple[str, dict[str, Any], str]] = [
    (
        "FireLens without an output plugin",
        with_job(logs={"driver": "firelens", "options": {"Host": "logs.example.com"}}),
        f"{JOBS}: job 'report': logs: driver firelens needs options.Name, the Fluent Bit "
        "output plugin (like datadog, splunk, es, cloudwatch_logs; "
        "https://docs.aws.amazon.com/AmazonECS/latest/developerguide/using_firelens.html)",
    ),
    (
        "an API key in plain text",
        with_job(logs={**FIRELENS, "options": {"Name": "datadog", "apikey": "abc123"}}),
        f"{JOBS}: job 'report': logs.options: 'apikey' looks like a credential: put it in "
        "secret_options, as an SSM parameter or Secrets Manager secret ARN, not in plain text",
    ),
    (
        "a secret option that is not an ARN",
        with_job(logs={**FIRELENS, "secret_options": {"apikey": "abc123"}}),
        f"{JOBS}: job 'report': logs.secret_options: apikey: 'abc123' is not an SSM parameter "
        "or Secrets Manager secret ARN",
    ),
    (
        "output options for awslogs",
        with_job(logs={"options": {"Name": "datadog"}}),
        f"{JOBS}: job 'report': logs: options: only with driver firelens (awslogs writes to the "
        "job's log group)",
    ),
    (
        "a sidecar named like the log router",
        with_job(logs=FIRELENS, sidecars=[{**AGENT, "name": "log_router"}]),
        f"{JOBS}: job 'report': sidecars: 'log_router' is the FireLens log router's name "
        "(logs.driver firelens adds it): name the sidecar otherwise",
    ),
    (
        "a log driver ECS has but cronguard does not route",
        with_job(logs={"driver": "splunk"}),
        f"{JOBS}: job 'report': logs.driver: 'splunk' is not allowed; use 'awslogs' or 'firelens'",
    ),
]
TASK_DEFINITION = "arn:aws:ecs:eu-west-1:123456789012:task-definition/reports-nightly:7"
OWN: dict[str, Any] = {
    "schedule": "rate(1 hour)",
    "task_definition_arn": TASK_DEFINITION,
    "container": "app",
    "pass_roles": ["arn:aws:iam::123456789012:role/reports-task"],
}
OWN_TASK_REFUSES: list[tuple[str, dict[str, Any], str]] = [
    (
        "an image beside a task definition of one's own",
        {"jobs": {"own": {**OWN, "image": "repo/app:1", "cpu": 512}}},
        f"{JOBS}: job 'own': image: image, cpu: the task definition is your own "
        "(task_definition_arn): cronguard renders no task definition or task roles, so it "
        "cannot set them; set it in your task definition",
    ),
    (
        "sidecars beside a task definition of one's own",
        {"jobs": {"own": {**OWN, "sidecars": [AGENT]}}},
        f"{JOBS}: job 'own': sidecars: sidecars: the task definition is your own "
        "(task_definition_arn): cronguard renders no task definition or task roles, so it "
        "cannot set it; set it in your task definition",
    ),
    (
        "a task definition without the job's container",
        {"jobs": {"own": {k: v for k, v in OWN.items() if k != "container"}}},
        f"{JOBS}: job 'own': container: required with task_definition_arn: the name of the "
        "job's container in it (its exit code is the run's)",
    ),
    (
        "a container named without a task definition",
        with_job(container="app"),
        f"{JOBS}: job 'report': container: container is for a task definition of your own: set "
        "task_definition_arn, or drop it",
    ),
    (
        "a task definition ARN that is not one",
        {"jobs": {"own": {**OWN, "task_definition_arn": "reports-nightly:7"}}},
        f"{JOBS}: job 'own': task_definition_arn: 'reports-nightly:7' is not an ECS task "
        "definition ARN (arn:aws:ecs:<region>:<account>:task-definition/<family>[:<revision>])",
    ),
    (
        "a role to pass that is not a role",
        {"jobs": {"own": {**OWN, "pass_roles": ["reports-task"]}}},
        f"{JOBS}: job 'own': pass_roles: 'reports-task' is not an IAM role ARN",
    ),
]
CONTAINER_REFUSES += READ_AT_START_REFUSES + SIDECAR_REFUSES + LOG_ROUTING_REFUSES
CONTAINER_REFUSES += OWN_TASK_REFUSES
# What no JSON Schema here says: rules across fields, and uniqueness in words.
BEYOND_A_SCHEMA = {
    "arm64 on a platform version before 1.4.0",
    "registry credentials for an ECR image",
    "a KMS key with nothing to decrypt",
    "an environment file listed twice",
    "two sidecars of one name",
    "a sidecar waiting to be healthy without a health check",
    "a health check that is not exec or shell form",
    "sidecars taking the whole task's memory",
    "a mount of a volume the job does not have",
    "a volume no container mounts",
    "one path mounted twice",
    "an access point and a root directory",
    "IAM authorization without transit encryption",
    "a sidecar named like the job container",
    "a sidecar secret that is not an ARN",
    "FireLens without an output plugin",
    "an API key in plain text",
    "a secret option that is not an ARN",
    "output options for awslogs",
    "a sidecar named like the log router",
    "an image beside a task definition of one's own",
    "sidecars beside a task definition of one's own",
    "a task definition without the job's container",
    "a container named without a task definition",
    "a role to pass that is not a role",
}


def test_what_ecs_reads_at_start_loads_as_written(tmp_path: Path) -> None:
    files = ["arn:aws:s3:::cfg/report.env", "arn:aws:s3:::cfg/shared/common.env"]
    config = write_config(
        tmp_path,
        jobs=with_job(
            image="ghcr.io/example/report:1",
            registry_credentials=SECRET,
            kms_key_arn=KEY,
            environment_files=files,
        ),
    )
    job = load_environment("test", config).job("report")
    assert (job.registry_credentials, job.kms_key_arn) == (SECRET, KEY)
    assert job.environment_files == files


@pytest.mark.parametrize(
    ("jobs", "expected"),
    [pytest.param(jobs, expected, id=name) for name, jobs, expected in CONTAINER_REFUSES],
)
def test_a_bad_container_setting_is_one_line_naming_file_job_and_field(
    tmp_path: Path, jobs: dict[str, Any], expected: str
) -> None:
    with pytest.raises(ConfigError) as raised:
        load_environment("test", write_config(tmp_path, jobs=jobs))
    assert str(raised.value) == expected


@pytest.mark.parametrize(
    "jobs",
    [
        pytest.param(jobs, id=name)
        for name, jobs, _ in CONTAINER_REFUSES
        if name not in BEYOND_A_SCHEMA
    ],
)
def test_the_json_schema_refuses_the_same_container_settings(jobs: dict[str, Any]) -> None:
    jobs_schema, _ = _schemas()
    with pytest.raises(jsonschema.ValidationError):
        SchemaValidator(jobs_schema).validate(jobs)


def test_sidecars_volumes_and_mounts_load_as_written(tmp_path: Path) -> None:
    config = write_config(
        tmp_path,
        jobs=with_job(
            sidecars=[
                {
                    **AGENT,
                    "essential": True,
                    "cpu": 128,
                    "memory": 256,
                    "depends_on": "HEALTHY",
                    "health_check": {"command": ["CMD-SHELL", "agent health"]},
                    "mounts": [{"volume": "scratch", "path": "/tmp/agent"}],
                }
            ],
            volumes=[{"name": "scratch"}, {"name": "shared", "efs": EFS}],
            mounts=[
                {"volume": "scratch", "path": "/tmp/agent"},
                {"volume": "shared", "path": "/shared", "read_only": True},
            ],
        ),
    )
    job = load_environment("test", config).job("report")
    (agent,) = job.sidecars
    assert (agent.essential, agent.cpu, agent.memory, agent.depends_on) == (
        True,
        128,
        256,
        "HEALTHY",
    )
    assert agent.health_check is not None and agent.health_check.interval_seconds == 30
    scratch, shared = job.volumes
    assert scratch.efs is None
    assert shared.efs is not None
    assert (shared.efs.transit_encryption, shared.efs.iam_authorization) == (True, True)
    assert [m.read_only for m in job.mounts] == [False, True]
    # A sidecar is not essential unless it says so.
    plain = write_config(tmp_path, jobs=with_job(sidecars=[AGENT]))
    assert load_environment("test", plain).job("report").sidecars[0].essential is False


def test_firelens_loads_with_the_routers_defaults(tmp_path: Path) -> None:
    secret = "arn:aws:ssm:eu-west-1:123456789012:parameter/datadog/api-key"
    config = write_config(
        tmp_path, jobs=with_job(logs={**FIRELENS, "secret_options": {"apikey": secret}})
    )
    logs = load_environment("test", config).job("report").logs
    assert logs.firelens and logs.options == {"Name": "datadog"}
    assert logs.router.image == "public.ecr.aws/aws-observability/aws-for-fluent-bit:stable"
    assert (logs.router.memory, logs.secret_options) == (50, {"apikey": secret})


def test_the_readmes_real_job_loads(tmp_path: Path) -> None:
    readme = (REPOSITORY_CONFIG.parent / "README.md").read_text(encoding="utf-8")
    section = readme.split("## A real job", 1)[1]
    example = section.split("```yaml\n", 1)[1].split("```", 1)[0]
    jobs_file, environment_file = example.split("# config/environments/prod.yaml\n")
    environment = {**yaml.safe_load(environment_file), "network": NETWORK}
    config = write_config(tmp_path, jobs=yaml.safe_load(jobs_file), env=environment)
    job = load_environment("test", config).job("nightly-report")
    assert [sidecar.name for sidecar in job.sidecars] == ["datadog-agent"]
    assert job.volumes[0].efs is not None and job.logs.firelens


def test_a_task_definition_of_ones_own_loads_without_an_image(tmp_path: Path) -> None:
    job = load_environment("test", write_config(tmp_path, jobs={"jobs": {"own": OWN}})).job("own")
    assert (job.task_definition_arn, job.container, job.image) == (TASK_DEFINITION, "app", None)
    assert job.pass_roles == OWN["pass_roles"]
