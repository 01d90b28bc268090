"""A job's container beyond its image and command, as ECS's container definition has it: how
it starts (entrypoint, user, working directory, init process) and stops, its root file
system, the Fargate platform version it runs on, and where its logs go.

``model.Job`` holds the keys; the shapes and the rules AWS sets for them are here, so the
container's concern reads in one place.
"""

from __future__ import annotations

import re
from typing import Any

from pydantic import Field, field_validator
from pydantic.config import JsonDict

from cronguard.config import aws_rules
from cronguard.config.values import Strict, shown

PLATFORM_VERSIONS_DOC = (
    "https://docs.aws.amazon.com/AmazonECS/latest/developerguide/platform-linux-fargate.html"
)
LATEST = "LATEST"
_PLATFORM_VERSION = re.compile(r"^(LATEST|\d+\.\d+\.\d+)$")
# Fargate runs ARM64 tasks and more than 20 GiB of ephemeral storage from this version on.
FULL_FEATURED_PLATFORM = (1, 4, 0)
# Docker's --user: a name or uid, optionally with a group or gid.
_ABSOLUTE_PATH = re.compile(r"^/(\S.*\S|\S)?$")
_USER = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]*(:[A-Za-z0-9_][A-Za-z0-9_.-]*)?$")


def check_user(value: str | None) -> str | None:
    if value is not None and not _USER.match(value):
        raise ValueError(
            f"{shown(value)} is not a container user; expected a user name or uid, optionally "
            "with a group or gid: 'app', '1000', 'app:staff' or '1000:1000'"
        )
    return value


def check_working_directory(value: str | None) -> str | None:
    if value is not None and not _ABSOLUTE_PATH.match(value):
        raise ValueError(f"{shown(value)} is not an absolute path, like '/srv/app'")
    return value


def check_platform_version(value: str) -> str:
    if not _PLATFORM_VERSION.match(value):
        raise ValueError(
            f"{shown(value)} is not a Fargate platform version; use {LATEST} or a version like "
            f"'1.4.0' ({PLATFORM_VERSIONS_DOC})"
        )
    return value


def platform_before_full_features(version: str) -> bool:
    """Whether a pinned platform version predates ARM64 and large ephemeral storage."""
    if version == LATEST:
        return False
    return tuple(int(part) for part in version.split(".")) < FULL_FEATURED_PLATFORM


USER_SCHEMA: JsonDict = {"pattern": _USER.pattern}
ABSOLUTE_PATH_SCHEMA: JsonDict = {"pattern": _ABSOLUTE_PATH.pattern}
PLATFORM_VERSION_SCHEMA: JsonDict = {"pattern": _PLATFORM_VERSION.pattern}


def _retention_schema(schema: dict[str, Any]) -> None:
    (integer,) = [form for form in schema["anyOf"] if form.get("type") == "integer"]
    integer["enum"] = list(aws_rules.rules().log_retention_days)


class Logs(Strict):
    """Where the job container's logs go and how long they are kept."""

    retention_days: int | None = Field(
        default=None,
        description="Days CloudWatch Logs keeps the job container's logs, in a log group of "
        "the job's own; unset writes to the job stack's shared group (90 days)",
        json_schema_extra=_retention_schema,
    )

    @field_validator("retention_days")
    @classmethod
    def _retention(cls, value: int | None) -> int | None:
        allowed = aws_rules.rules().log_retention_days
        if value is not None and value not in allowed:
            raise ValueError(
                f"{value} days is not a retention CloudWatch Logs takes; allowed: "
                f"{', '.join(map(str, allowed))} (AWS::Logs::LogGroup RetentionInDays, "
                "cfn-lint E3030)"
            )
        return value


ENVIRONMENT_FILES_DOC = (
    "https://docs.aws.amazon.com/AmazonECS/latest/developerguide/use-environment-file.html"
)
ENVIRONMENT_FILES_LIMIT = 10  # ECS's limit per task definition
_SECRETS_MANAGER_ARN = re.compile(
    r"^arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:\d{12}:secret:[A-Za-z0-9/_+=.@-]+$"
)
_KMS_KEY_ARN = re.compile(r"^arn:aws[a-z-]*:kms:[a-z0-9-]+:\d{12}:key/[A-Za-z0-9-]+$")
_S3_ENV_FILE = re.compile(r"^arn:aws[a-z-]*:s3:::[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]/\S+\.env$")
REGISTRY_CREDENTIALS_SCHEMA: JsonDict = {"pattern": _SECRETS_MANAGER_ARN.pattern}
KMS_KEY_SCHEMA: JsonDict = {"pattern": _KMS_KEY_ARN.pattern}
ENVIRONMENT_FILES_SCHEMA: JsonDict = {
    "items": {"type": "string", "pattern": _S3_ENV_FILE.pattern},
    "maxItems": ENVIRONMENT_FILES_LIMIT,
}


def check_registry_credentials(value: str | None) -> str | None:
    if value is not None and not _SECRETS_MANAGER_ARN.match(value):
        raise ValueError(
            f"{shown(value)} is not a Secrets Manager secret ARN "
            "(arn:aws:secretsmanager:<region>:<account>:secret:<name>); ECS reads a private "
            "registry's credentials only from Secrets Manager"
        )
    return value


def check_kms_key(value: str | None) -> str | None:
    if value is not None and not _KMS_KEY_ARN.match(value):
        hint = (
            ": an alias matches no key in an IAM policy, name the key" if ":alias/" in value else ""
        )
        raise ValueError(
            f"{shown(value)} is not a KMS key ARN (arn:aws:kms:<region>:<account>:key/<id>){hint}"
        )
    return value


def check_environment_files(value: list[str]) -> list[str]:
    if len(value) > ENVIRONMENT_FILES_LIMIT:
        raise ValueError(
            f"{len(value)} environment files; ECS takes at most {ENVIRONMENT_FILES_LIMIT} "
            f"({ENVIRONMENT_FILES_DOC})"
        )
    for file in value:
        if not _S3_ENV_FILE.match(file):
            raise ValueError(
                f"{shown(file)} is not an S3 object ARN of a .env file, like "
                f"'arn:aws:s3:::my-bucket/jobs/report.env' ({ENVIRONMENT_FILES_DOC})"
            )
    if len(set(value)) != len(value):
        raise ValueError("an environment file is listed twice")
    return value


def bucket_of(object_arn: str) -> str:
    """The ARN of the bucket an S3 object ARN is in."""
    return object_arn.split("/", 1)[0]


def region_of(arn: str) -> str:
    return arn.split(":")[3]


# An image in ECR, by its parts (the execution role is granted a pull from that repository).
ECR_IMAGE = re.compile(
    r"^(?P<account>\d{12})\.dkr\.ecr\.(?P<region>[a-z0-9-]+)\.amazonaws\.com/"
    r"(?P<repository>[^:@]+)(?::(?P<tag>[^@]+))?(?:@(?P<digest>.+))?$"
)


def is_ecr_image(image: str) -> bool:
    return ECR_IMAGE.match(image) is not None
