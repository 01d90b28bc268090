"""A job's container beyond its image and command, as ECS's container definition has it: how
it starts (entrypoint, user, working directory, init process) and stops, its root file
system, the Fargate platform version it runs on, and where its logs go.

``model.Job`` holds the keys; the shapes and the rules AWS sets for them are here, so the
container's concern reads in one place.
"""

from __future__ import annotations

import re
from enum import StrEnum
from typing import Any

from pydantic import Field, field_validator, model_validator
from pydantic.config import JsonDict

from cronguard.config import aws_rules
from cronguard.config.values import Strict, shown
from lambdas.core.input_contract import JOB_CONTAINER

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


class LogDriver(StrEnum):
    AWSLOGS = "awslogs"
    FIRELENS = "firelens"


LOG_ROUTER = "log_router"
"""The name of the FireLens log router's container."""
FIRELENS_DOC = "https://docs.aws.amazon.com/AmazonECS/latest/developerguide/using_firelens.html"
# Option names that carry a credential: their values belong in secret_options.
_SECRET_OPTION = re.compile(r"(?i)(key|passw|passwd|secret|token|credential)")
# A container secret's ValueFrom: an SSM parameter or a Secrets Manager secret.
SECRET_VALUE_FROM = re.compile(
    r"^arn:aws[a-z-]*:(ssm:[a-z0-9-]+:\d{12}:parameter/.+"
    r"|secretsmanager:[a-z0-9-]+:\d{12}:secret:.+)$"
)


class LogRouter(Strict):
    """The FireLens log router: a Fluent Bit container that the other containers log to."""

    image: str = Field(
        default="public.ecr.aws/aws-observability/aws-for-fluent-bit:stable",
        pattern=r"^\S+$",
        description="Fluent Bit image (AWS for Fluent Bit by default)",
    )
    memory: int = Field(default=50, ge=6, description="MiB reserved for it (AWS recommends 50)")
    options: dict[str, str] = Field(
        default_factory=dict,
        description="FireLens options, like {enable-ecs-log-metadata: 'true'} or "
        "{config-file-type: file, config-file-value: /fluent-bit/etc/extra.conf}",
    )


class Logs(Strict):
    """Where the containers' logs go and how long CloudWatch keeps them."""

    retention_days: int | None = Field(
        default=None,
        description="Days CloudWatch Logs keeps the containers' logs (with FireLens, the log "
        "router's own), in a log group of the job's own; unset writes to the job stack's "
        "shared group (90 days)",
        json_schema_extra=_retention_schema,
    )
    driver: LogDriver = Field(
        default=LogDriver.AWSLOGS,
        description="awslogs writes to CloudWatch Logs; firelens routes every container's "
        "logs through a log_router container (Fluent Bit) to the output options name",
    )
    log_router: LogRouter | None = Field(
        default=None, description="The FireLens log router (firelens only; defaults apply)"
    )
    options: dict[str, str] = Field(
        default_factory=dict,
        description="The Fluent Bit output's options (firelens only), like {Name: datadog, "
        "Host: http-intake.logs.datadoghq.eu, TLS: 'on'}; credentials go in secret_options",
    )
    secret_options: dict[str, str] = Field(
        default_factory=dict,
        description="Output options read from SSM parameters or Secrets Manager secrets "
        "(ARNs) at the task's start, like {apikey: arn:…:secret:datadog-AbCdEf}",
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

    @field_validator("options")
    @classmethod
    def _plain_options(cls, value: dict[str, str]) -> dict[str, str]:
        for name in value:
            if _SECRET_OPTION.search(name):
                raise ValueError(
                    f"{shown(name)} looks like a credential: put it in secret_options, as an "
                    "SSM parameter or Secrets Manager secret ARN, not in plain text"
                )
        return value

    @field_validator("secret_options")
    @classmethod
    def _secret_options(cls, value: dict[str, str]) -> dict[str, str]:
        for name, arn in value.items():
            if not SECRET_VALUE_FROM.match(arn):
                raise ValueError(
                    f"{name}: {shown(arn)} is not an SSM parameter or Secrets Manager secret ARN"
                )
        return value

    @property
    def firelens(self) -> bool:
        return self.driver is LogDriver.FIRELENS

    @property
    def router(self) -> LogRouter:
        return self.log_router or LogRouter()

    @model_validator(mode="after")
    def _driver_options(self) -> Logs:
        if not self.firelens:
            given = [
                key for key in ("log_router", "options", "secret_options") if getattr(self, key)
            ]
            if given:
                raise ValueError(
                    f"{', '.join(given)}: only with driver firelens (awslogs writes to the "
                    "job's log group)"
                )
        elif "Name" not in self.options:
            raise ValueError(
                "driver firelens needs options.Name, the Fluent Bit output plugin (like "
                f"datadog, splunk, es, cloudwatch_logs; {FIRELENS_DOC})"
            )
        return self


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


# --- sidecars, volumes and mounts ---------------------------------------------------------

_CONTAINER_NAME = re.compile(r"^[A-Za-z0-9_-]{1,255}$")
_EFS_ID = re.compile(r"^fs-[0-9a-f]{8,40}$")
_ACCESS_POINT_ID = re.compile(r"^fsap-[0-9a-f]{8,40}$")
EFS_VOLUMES_DOC = "https://docs.aws.amazon.com/AmazonECS/latest/developerguide/efs-volumes.html"
CONTAINER_NAME_SCHEMA: JsonDict = {"pattern": _CONTAINER_NAME.pattern}


class StartCondition(StrEnum):
    """What the job container waits for of a sidecar before it starts (ECS's DependsOn)."""

    START = "START"
    HEALTHY = "HEALTHY"


class HealthCheck(Strict):
    """A container health check, as ECS runs it."""

    command: list[str] = Field(
        min_length=2,
        description="['CMD-SHELL', 'curl -f http://localhost:8126/info'] or ['CMD', 'exe', …]",
    )
    interval_seconds: int = Field(default=30, ge=5, le=300, description="Seconds between checks")
    timeout_seconds: int = Field(default=5, ge=2, le=60, description="Seconds a check may take")
    retries: int = Field(default=3, ge=1, le=10, description="Failed checks before unhealthy")
    start_period_seconds: int = Field(
        default=0, ge=0, le=300, description="Grace before failed checks count"
    )

    @field_validator("command")
    @classmethod
    def _command(cls, value: list[str]) -> list[str]:
        if value[0] not in ("CMD", "CMD-SHELL"):
            raise ValueError(
                f"{shown(value[0])}: a health check command starts with 'CMD' (exec form) or "
                "'CMD-SHELL' (run by the container's shell)"
            )
        return value


class Mount(Strict):
    """A volume mounted into a container."""

    volume: str = Field(description="The name of one of the job's volumes")
    path: str = Field(
        description="Absolute path in the container", json_schema_extra=ABSOLUTE_PATH_SCHEMA
    )
    read_only: bool = Field(default=False, description="Mount it read-only")

    _path = field_validator("path")(check_working_directory)


def check_mounts(value: list[Mount]) -> list[Mount]:
    paths = [mount.path for mount in value]
    twice = sorted({path for path in paths if paths.count(path) > 1})
    if twice:
        raise ValueError(f"{', '.join(twice)} mounted twice in one container")
    return value


class Sidecar(Strict):
    """A container beside the job's (an agent: Datadog, OpenTelemetry, Envoy). The run's
    outcome is still the job container's exit code."""

    name: str = Field(
        description="Container name, unique in the task; not 'job'",
        json_schema_extra=CONTAINER_NAME_SCHEMA,
    )
    image: str = Field(pattern=r"^\S+$", description="Container image URI")
    essential: bool = Field(
        default=False,
        description="Its exit stops the task and fails the run ('essential container <name> "
        "exited' in the ledger)",
    )
    command: list[str] | None = Field(default=None, min_length=1, description="Exec-form command")
    environment: dict[str, str] = Field(default_factory=dict, description="Environment variables")
    secrets: dict[str, str] = Field(
        default_factory=dict,
        description="Environment variable -> SSM parameter or Secrets Manager secret ARN, as "
        "the job's secrets",
    )
    cpu: int | None = Field(
        default=None, ge=0, description="CPU units it reserves, out of the task's cpu"
    )
    memory: int | None = Field(
        default=None, ge=6, description="MiB it may use at most, out of the task's memory"
    )
    health_check: HealthCheck | None = None
    depends_on: StartCondition | None = Field(
        default=None,
        description="The job container starts once this sidecar has started (START) or is "
        "healthy (HEALTHY, which needs a health_check)",
    )
    mounts: list[Mount] = Field(default_factory=list, description="Volumes it mounts")

    _mounts = field_validator("mounts")(check_mounts)

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not _CONTAINER_NAME.match(value):
            raise ValueError(
                f"{shown(value)} is not a container name; use 1-255 letters, digits, '-' or '_'"
            )
        if value == JOB_CONTAINER:
            raise ValueError(f"'{JOB_CONTAINER}' is the job container's own name")
        return value

    @model_validator(mode="after")
    def _healthy_needs_a_check(self) -> Sidecar:
        if self.depends_on is StartCondition.HEALTHY and self.health_check is None:
            raise ValueError(
                f"depends_on HEALTHY needs a health_check on {self.name}: ECS waits for it to "
                "pass before it starts the job container"
            )
        return self


class Efs(Strict):
    """An EFS file system (through an access point, preferably) as a volume."""

    file_system_id: str = Field(
        description="Like 'fs-0123456789abcdef0'", json_schema_extra={"pattern": _EFS_ID.pattern}
    )
    access_point_id: str | None = Field(
        default=None,
        description="Like 'fsap-0123456789abcdef0': the access point's root directory and "
        "user; IAM authorization is then scoped to it",
        json_schema_extra={"pattern": _ACCESS_POINT_ID.pattern},
    )
    root_directory: str | None = Field(
        default=None,
        description="Directory of the file system to mount; not with an access point (it "
        "sets its own)",
        json_schema_extra=ABSOLUTE_PATH_SCHEMA,
    )
    transit_encryption: bool = Field(default=True, description="Encrypt NFS traffic (TLS)")
    iam_authorization: bool = Field(
        default=True,
        description="Mount with the task role: cronguard grants elasticfilesystem:ClientMount "
        "(and ClientWrite, unless every mount is read-only) on this file system, through the "
        "access point when there is one; needs transit_encryption",
    )

    _root = field_validator("root_directory")(check_working_directory)

    @field_validator("file_system_id")
    @classmethod
    def _file_system(cls, value: str) -> str:
        if not _EFS_ID.match(value):
            raise ValueError(f"{shown(value)} is not an EFS file system id (like 'fs-0123abcd')")
        return value

    @field_validator("access_point_id")
    @classmethod
    def _access_point(cls, value: str | None) -> str | None:
        if value is not None and not _ACCESS_POINT_ID.match(value):
            raise ValueError(f"{shown(value)} is not an EFS access point id (like 'fsap-0123abcd')")
        return value

    @model_validator(mode="after")
    def _ecs_rules(self) -> Efs:
        if self.access_point_id is not None and self.root_directory not in (None, "/"):
            raise ValueError(
                "root_directory with an access point: the access point sets the root directory "
                f"(ECS refuses both; {EFS_VOLUMES_DOC})"
            )
        if self.access_point_id is not None and not self.transit_encryption:
            raise ValueError(
                f"an access point needs transit_encryption (ECS refuses one without the other; "
                f"{EFS_VOLUMES_DOC})"
            )
        if self.iam_authorization and not self.transit_encryption:
            raise ValueError(
                f"iam_authorization needs transit_encryption (ECS refuses one without the "
                f"other; {EFS_VOLUMES_DOC})"
            )
        return self


class Volume(Strict):
    """A volume the task's containers may mount: scratch space in the task's storage, shared
    between containers, or an EFS file system."""

    name: str = Field(
        description="Its name, which mounts use", json_schema_extra=CONTAINER_NAME_SCHEMA
    )
    efs: Efs | None = Field(default=None, description="An EFS file system; unset is scratch")

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not _CONTAINER_NAME.match(value):
            raise ValueError(
                f"{shown(value)} is not a volume name; use 1-255 letters, digits, '-' or '_'"
            )
        return value


# --- a task definition of the team's own -------------------------------------------------

_TASK_DEFINITION_ARN = re.compile(
    r"^arn:aws[a-z-]*:ecs:[a-z0-9-]+:\d{12}:task-definition/(?P<family>[A-Za-z0-9_-]{1,255})"
    r"(:\d+)?$"
)
TASK_DEFINITION_SCHEMA: JsonDict = {"pattern": _TASK_DEFINITION_ARN.pattern}


def check_task_definition(value: str | None) -> str | None:
    if value is not None and not _TASK_DEFINITION_ARN.match(value):
        raise ValueError(
            f"{shown(value)} is not an ECS task definition ARN "
            "(arn:aws:ecs:<region>:<account>:task-definition/<family>[:<revision>])"
        )
    return value


def task_family(task_definition_arn: str) -> str:
    found = _TASK_DEFINITION_ARN.match(task_definition_arn)
    assert found is not None  # validated
    return found["family"]
