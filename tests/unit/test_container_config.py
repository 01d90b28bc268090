"""A job's container settings beyond image and command (config/container.py): good values
load as written, and each bad one is one line naming the file, the job and the field, with
AWS's rule (and the JSON Schema refuses what a schema can say)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from cronguard.config import ConfigError, load_environment
from cronguard.config.aws_rules import rules
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
        "allowed: retention_days",
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
CONTAINER_REFUSES += READ_AT_START_REFUSES
# What no JSON Schema here says: rules across fields, and uniqueness in words.
BEYOND_A_SCHEMA = {
    "arm64 on a platform version before 1.4.0",
    "registry credentials for an ECR image",
    "a KMS key with nothing to decrypt",
    "an environment file listed twice",
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
