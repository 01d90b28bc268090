"""The typed config model: the one source of truth for names, defaults and validation.

Two kinds of YAML file feed it (see ``loader.py``): ``config/jobs.yaml`` holds the job
definitions every environment shares, and ``config/environments/<env>.yaml`` holds one
environment's settings plus per-job overrides. The loader merges them and validates the
result against these models, so everything downstream (stacks, CLI) sees one shape.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from functools import cache
from importlib import resources
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Discriminator,
    Field,
    GetCoreSchemaHandler,
    GetJsonSchemaHandler,
    PrivateAttr,
    Tag,
    ValidationError,
    ValidationInfo,
    WithJsonSchema,
    field_validator,
    model_validator,
)
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema, InitErrorDetails, PydanticCustomError, core_schema

from cronguard.config import aws_rules
from cronguard.config import container as containers
from cronguard.config.placement import DEFAULT_JOB_STACKS, MAX_JOB_STACKS, Placement, assign
from cronguard.config.placement import MAX_JOBS_PER_STACK as MAX_JOBS_PER_STACK
from cronguard.config.values import SHOWN_LIMIT as SHOWN_LIMIT
from cronguard.config.values import Strict as Strict
from cronguard.config.values import shown as shown
from lambdas.core import input_contract, ledger_contract
from lambdas.core.guard_contract import Concurrency as Concurrency  # the guard reads it
from lambdas.core.missed import JobSchedule
from lambdas.core.schedule import ScheduleExpressionError, parse_schedule, upcoming_slots

# Step Functions execution and state machine names are at most 80 characters.
STATE_MACHINE_NAME_LIMIT = 80
ENV_NAME_PATTERN = re.compile(r"^[a-z][a-z0-9]{0,15}$")
JOB_NAME_PATTERN = re.compile(r"^[a-z][a-z0-9-]*[a-z0-9]$")
ENVIRONMENT_TAG = "cronguard:environment"
"""The tag on every resource of an environment, valued with the environment's name: IAM tells
this environment's state machines from others' by it (``aws:ResourceTag``)."""
# "cronguard <env>/<job>: " is at most 92 characters (<env>-<job> fits 80) and the
# Scheduler's description 512: a longer description would be cut.
DESCRIPTION_LIMIT = 420
RESERVED_ENV_PREFIX = input_contract.RESERVED_PREFIX
JOB_RETRY_INTERVAL_SECONDS = 30  # the state machine's wait before retrying a failed job run
MAX_JOB_RETRIES = 5
EXECUTION_MARGIN = timedelta(minutes=15)
LEASE_MARGIN = timedelta(minutes=5)
# Step Functions ends a Standard execution after a year ("Maximum execution time").
EXECUTION_LIMIT = timedelta(days=365)
STEP_FUNCTIONS_QUOTAS = "https://docs.aws.amazon.com/step-functions/latest/dg/service-quotas.html"
CAPACITY_STRATEGY_DOC = "https://docs.aws.amazon.com/AmazonECS/latest/APIReference/API_CapacityProviderStrategyItem.html"

# Fargate task sizes: cpu units -> allowed memory (MiB).
FARGATE_SIZES: dict[int, tuple[int, ...]] = {
    256: (512, 1024, 2048),
    512: tuple(range(1024, 4096 + 1, 1024)),
    1024: tuple(range(2048, 8192 + 1, 1024)),
    2048: tuple(range(4096, 16384 + 1, 1024)),
    4096: tuple(range(8192, 30720 + 1, 1024)),
    8192: tuple(range(16384, 61440 + 1, 4096)),
    16384: tuple(range(32768, 122880 + 1, 8192)),
}

# Patterns a config value must match, and what each expects, in words (the loader says
# this instead of the regular expression).
ACCOUNT_PATTERN = r"^\d{12}$"
REGION_PATTERN = r"^[a-z]{2}(-[a-z]+)+-\d$"
RESOURCE_NAME_PATTERN = r"^[A-Za-z0-9_-]{1,255}$"
IMAGE_PATTERN = r"^\S+$"
PATTERN_MEANINGS = {
    ACCOUNT_PATTERN: "is not an AWS account id; expected 12 digits, quoted: '123456789012'",
    REGION_PATTERN: "is not an AWS region; expected a region code like 'eu-west-1'",
    RESOURCE_NAME_PATTERN: "is not a valid name; expected 1-255 letters, digits, '-' or '_'",
    IMAGE_PATTERN: "is not an image URI; expected one without spaces, like "
    "'123456789012.dkr.ecr.eu-west-1.amazonaws.com/app:1.0'",
}

# Region prefix -> partition, the first that matches (an unset region matches none).
PARTITIONS = (("cn-", "aws-cn"), ("us-gov-", "aws-us-gov"), ("", "aws"))
MINUTE, DAY, WEEK = timedelta(minutes=1), timedelta(days=1), timedelta(days=7)
_DURATION = re.compile(r"^(\d+)\s*(s|m|h|d)$")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_duration(value: Any) -> Any:
    """Accept ``90s``/``15m``/``2h``/``1d`` or whole seconds; leave anything else to pydantic."""
    if isinstance(value, bool):
        raise ValueError(f"{shown(value)} is not a duration; use e.g. '90s', '15m', '2h', '1d'")
    if isinstance(value, int):
        return timedelta(seconds=value)
    if isinstance(value, str):
        match = _DURATION.match(value.strip())
        if not match:
            raise ValueError(f"{shown(value)} is not a duration; use e.g. '90s', '15m', '2h', '1d'")
        return timedelta(seconds=int(match.group(1)) * _UNIT_SECONDS[match.group(2)])
    return value


DURATION_PATTERN = r"^[0-9]+\s*(s|m|h|d)$"
Duration = Annotated[
    timedelta,
    BeforeValidator(parse_duration),
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "string", "pattern": DURATION_PATTERN},
                {"type": "integer", "minimum": 0},
            ],
            "description": "A duration: '90s', '15m', '2h', '1d', or whole seconds.",
        }
    ),
]


def format_duration(value: timedelta) -> str:
    seconds = int(value.total_seconds())
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds and seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


class between:  # noqa: N801  (reads as a constraint: Annotated[Duration, between(a, b)])
    """Keep a ``Duration`` within ``[low, high]``; an out-of-range value names both. The JSON
    Schema states the bounds on its whole-seconds form, where the config reference reads them."""

    def __init__(self, low: timedelta, high: timedelta) -> None:
        self.low, self.high = low, high

    def check(self, value: timedelta) -> timedelta:
        if not self.low <= value <= self.high:
            raise ValueError(
                f"{format_duration(value)} is out of range; allowed "
                f"{format_duration(self.low)} to {format_duration(self.high)}"
            )
        return value

    def __get_pydantic_core_schema__(
        self, source: Any, handler: GetCoreSchemaHandler
    ) -> CoreSchema:
        return core_schema.no_info_after_validator_function(self.check, handler(source))

    def __get_pydantic_json_schema__(
        self, schema: CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        bounds = {
            "minimum": int(self.low.total_seconds()),
            "maximum": int(self.high.total_seconds()),
        }
        json_schema = handler(schema)
        return {
            **json_schema,
            "anyOf": [
                {**form, **bounds} if form.get("type") == "integer" else form
                for form in json_schema["anyOf"]
            ],
        }


def whole_minutes(why: str) -> AfterValidator:
    """Keep a ``Duration`` to whole minutes, where AWS takes nothing finer; ``why`` says where."""

    def check(value: timedelta) -> timedelta:
        if value % MINUTE:
            raise ValueError(f"{format_duration(value)} is not whole minutes: {why}")
        return value

    return AfterValidator(check)


# A duration in whole minutes: the JSON Schema can say so of whole seconds, not of '120s'.
MINUTES_SCHEMA = WithJsonSchema(
    {
        "anyOf": [
            {"type": "string", "pattern": r"^[0-9]+\s*(s|m|h|d)$"},
            {"type": "integer", "minimum": 0, "multipleOf": 60},
        ],
        "description": "A duration in whole minutes: '15m', '2h', '1d', or seconds (120).",
    }
)


def field_error(field: str, message: str, value: Any) -> ValidationError:
    """A problem a model validator finds in one of its fields, placed at that field (so the
    loader names the field and the file that set it)."""
    error = PydanticCustomError("value_error", "{error}", {"error": message})
    return ValidationError.from_exception_data(
        "config", [InitErrorDetails(type=error, loc=(field,), input=value)]
    )


class LaunchRetry(Strict):
    """Retries of launch failures (capacity, throttling) — never of the job itself."""

    max_attempts: int = Field(default=3, ge=0, le=10, description="Retries of a launch failure")
    interval_seconds: int = Field(
        default=10, ge=1, le=3600, description="Seconds before the first retry"
    )
    backoff_rate: float = Field(
        default=2.0, ge=1.0, le=10.0, description="What each further wait is multiplied by"
    )


# The forms of a key that takes a number or a mapping: pydantic names the one it validated in
# an error's location, which the loader leaves out of the field it reports.
NUMBER_FORM = "(number)"
MAPPING_FORM = "(mapping)"
FORMS = frozenset({NUMBER_FORM, MAPPING_FORM})


def _number_or_mapping(value: Any) -> str:
    return MAPPING_FORM if isinstance(value, dict | BaseModel) else NUMBER_FORM


class JobRetries(Strict):
    """``job_retries`` as a mapping: how often, and which exit codes of the job's container
    are retried. A task lost with its capacity (ECS stop code SpotInterruption or
    TerminationNotice) is retried whatever its exit code; a timeout never."""

    max: int = Field(ge=1, le=MAX_JOB_RETRIES, description="Retries of a failed run")
    on_exit_codes: list[Annotated[int, Field(ge=1, le=255)]] | None = Field(
        default=None,
        min_length=1,
        description="Retry only a run whose container exited with one of these codes",
    )
    except_exit_codes: list[Annotated[int, Field(ge=1, le=255)]] | None = Field(
        default=None,
        min_length=1,
        description="Retry every failed run but one whose container exited with one of these",
    )

    @model_validator(mode="after")
    def _one_list(self) -> JobRetries:
        lists = [name for name in ("on_exit_codes", "except_exit_codes") if getattr(self, name)]
        if len(lists) != 1:
            raise ValueError(
                "give exactly one of on_exit_codes and except_exit_codes "
                "(job_retries: N retries every failed run)"
            )
        for name in lists:
            codes = getattr(self, name)
            if len(set(codes)) != len(codes):
                raise ValueError(f"{name} lists an exit code twice")
        return self

    def __str__(self) -> str:
        if self.on_exit_codes:
            return f"{self.max} on exit {', '.join(map(str, self.on_exit_codes))}"
        return f"{self.max} except exit {', '.join(map(str, self.except_exit_codes or []))}"


class Delivery(Strict):
    """EventBridge Scheduler's own retry policy for delivering a trigger."""

    max_retries: int = Field(
        default=185, ge=0, le=185, description="How often Scheduler retries a failed delivery"
    )
    max_event_age: Annotated[Duration, between(MINUTE, DAY)] = Field(
        default=DAY, description="How long Scheduler keeps retrying a delivery"
    )


class CatchUp(Strict):
    """The slot watch starts a missed slot by itself while it is at most ``window`` old."""

    window: Annotated[Duration, between(MINUTE, WEEK)] = Field(
        description="Start missed slots at most this old (like '6h'); older ones only alarm"
    )


_SUBNET = re.compile(r"^subnet-[0-9a-f]{8,17}$")
_SUBNET_EXAMPLE = "subnet-0123456789abcdef0"
_SECURITY_GROUP = re.compile(r"^sg-[0-9a-f]{8,17}$")
_VPC = re.compile(r"^vpc-[0-9a-f]{8,17}$")


def _check_ids(values: list[str], pattern: re.Pattern[str], what: str, example: str) -> list[str]:
    for value in values:
        if not pattern.match(value):
            raise ValueError(f"{shown(value)} is not a {what} id (like '{example}')")
    if len(set(values)) != len(values):
        raise ValueError(f"{what} ids are listed twice")
    return values


class JobNetwork(Strict):
    """Per-job network override; unset fields fall back to the environment's network."""

    subnet_ids: list[str] | None = Field(
        default=None,
        min_length=1,
        max_length=16,
        description="Subnets for this job's tasks, instead of the environment's",
    )
    security_group_ids: list[str] | None = Field(
        default=None,
        min_length=1,
        max_length=5,
        description="Security groups for this job's tasks, instead of the environment's",
    )
    assign_public_ip: bool | None = Field(
        default=None,
        description="Whether this job's tasks get a public IP, if not as the environment's",
    )

    @field_validator("subnet_ids")
    @classmethod
    def _subnets(cls, value: list[str] | None) -> list[str] | None:
        return None if value is None else _check_ids(value, _SUBNET, "subnet", _SUBNET_EXAMPLE)

    @field_validator("security_group_ids")
    @classmethod
    def _security_groups(cls, value: list[str] | None) -> list[str] | None:
        return (
            None
            if value is None
            else _check_ids(value, _SECURITY_GROUP, "security group", "sg-0123456789abcdef0")
        )


class Network(Strict):
    """Network ids come from config (never looked up) so synth stays offline and deterministic."""

    vpc_id: str = Field(description="VPC the jobs run in, like 'vpc-0123456789abcdef0' (imported)")
    subnet_ids: list[str] = Field(
        min_length=1, max_length=16, description="Subnets for the Fargate tasks ('subnet-…')"
    )
    security_group_ids: list[str] = Field(
        min_length=1, max_length=5, description="Security groups for the tasks ('sg-…')"
    )
    assign_public_ip: bool = Field(
        default=False, description="Give tasks a public IP (public subnets without NAT)"
    )

    @field_validator("vpc_id")
    @classmethod
    def _vpc(cls, value: str) -> str:
        if not _VPC.match(value):
            raise ValueError(f"{shown(value)} is not a VPC id (like 'vpc-0123456789abcdef0')")
        return value

    @field_validator("subnet_ids")
    @classmethod
    def _subnets(cls, value: list[str]) -> list[str]:
        return _check_ids(value, _SUBNET, "subnet", _SUBNET_EXAMPLE)

    @field_validator("security_group_ids")
    @classmethod
    def _security_groups(cls, value: list[str]) -> list[str]:
        return _check_ids(value, _SECURITY_GROUP, "security group", "sg-0123456789abcdef0")

    def for_job(self, override: JobNetwork | None) -> Network:
        if override is None:
            return self
        return Network(
            vpc_id=self.vpc_id,
            subnet_ids=override.subnet_ids or self.subnet_ids,
            security_group_ids=override.security_group_ids or self.security_group_ids,
            assign_public_ip=(
                self.assign_public_ip
                if override.assign_public_ip is None
                else override.assign_public_ip
            ),
        )


class Cluster(Strict):
    """An existing ECS cluster imported by name, or one the stack creates (as it does when
    the environment sets no ``cluster``)."""

    name: str | None = Field(
        default=None,
        pattern=RESOURCE_NAME_PATTERN,
        description="An existing cluster to import, or the name of the one created "
        "(default 'cronguard-<env>')",
    )
    create: bool = Field(
        default=False,
        description="Create the cluster (Container Insights and the Fargate and Fargate Spot "
        "capacity providers on)",
    )

    @model_validator(mode="after")
    def _name_or_create(self) -> Cluster:
        if not self.create and self.name is None:
            raise ValueError("set 'name' of an existing cluster, or 'create: true'")
        return self


_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_TOPIC_ARN = re.compile(r"^arn:aws[a-z-]*:sns:[a-z0-9-]+:\d{12}:[A-Za-z0-9_-]{1,256}$")


def _check_emails(value: list[str]) -> list[str]:
    for address in value:
        if not _EMAIL.match(address):
            raise ValueError(f"{shown(address)} is not an e-mail address")
    return value


def _check_topic_arn(value: str | None) -> str | None:
    if value is not None and not _TOPIC_ARN.match(value):
        raise ValueError(f"{shown(value)} is not an SNS topic ARN")
    return value


class Alarms(Strict):
    """Where alarms go: a topic the stack creates (with e-mail subscriptions) or an existing one."""

    email: list[str] = Field(
        default_factory=list,
        description="E-mail addresses subscribed to the alarm topic cronguard creates; an error "
        "together with topic_arn (subscribe them to that topic yourself)",
    )
    topic_arn: str | None = Field(
        default=None,
        description="An existing SNS topic instead of one cronguard creates; its topic policy "
        "(and key policy, if encrypted) must let CloudWatch publish (docs/metrics.md)",
    )

    _emails = field_validator("email")(_check_emails)
    _topic = field_validator("topic_arn")(_check_topic_arn)

    @model_validator(mode="after")
    def _subscribed(self) -> Alarms:
        # cronguard can subscribe addresses only to a topic it creates.
        if self.email and self.topic_arn is not None:
            raise ValueError(
                "email and topic_arn cannot both be set: cronguard subscribes e-mail addresses "
                "only to the topic it creates; subscribe them to your topic, or drop topic_arn"
            )
        return self


OWNER_TAG = "cronguard:team"
_TEAM = re.compile(r"^[a-z][a-z0-9]*(-[a-z][a-z0-9]*)*$")
TEAM_LENGTH = 40


class Owner(Strict):
    """Who a job belongs to: a team, and where its alarms go besides the environment's topic.
    Jobs naming one team share one topic (created when ``email`` is set)."""

    team: str = Field(
        description=f"The team's name (lowercase words joined by '-', at most {TEAM_LENGTH} "
        f"characters); also the {OWNER_TAG} tag on the job's resources",
    )
    email: list[str] = Field(
        default_factory=list,
        description="E-mail addresses subscribed to the team's alarm topic, which cronguard "
        "creates (one per team)",
    )
    topic_arn: str | None = Field(
        default=None,
        description="An existing SNS topic the team's job alarms notify too; like "
        "alarms.topic_arn, its policies must let CloudWatch publish (docs/metrics.md)",
    )

    @field_validator("team")
    @classmethod
    def _team(cls, value: str) -> str:
        if len(value) > TEAM_LENGTH or not _TEAM.match(value):
            raise ValueError(
                f"{shown(value)} is not a team name; use lowercase words of letters and digits "
                f"joined by '-', each starting with a letter, at most {TEAM_LENGTH} characters"
            )
        return value

    _emails = field_validator("email")(_check_emails)
    _topic = field_validator("topic_arn")(_check_topic_arn)

    @property
    def topic_id(self) -> str:
        """The team in a CloudFormation name (``payments-core`` -> ``PaymentsCore``): one
        per team, as a team's words start with a letter."""
        return "".join(part.capitalize() for part in self.team.split("-"))


class Ledger(Strict):
    """The per-environment ledger: one item per (job, slot)."""

    retention_days: int = Field(
        default=7,
        ge=1,
        le=365,
        description="How long slot records are kept: the window in which a late duplicate is "
        "still recognised",
    )

    @property
    def retention(self) -> timedelta:
        return timedelta(days=self.retention_days)


_ROLE_ARN = re.compile(r"^arn:aws[a-z-]*:iam::\d{12}:role/[\w+=,.@/-]{1,512}$")


def _check_role_arn(value: str | None) -> str | None:
    if value is not None and not _ROLE_ARN.match(value):
        raise ValueError(f"{shown(value)} is not an IAM role ARN")
    return value


class ProtectedService(Strict):
    """An ECS service whose tasks run async work under task scale-in protection.

    Its task role is either an existing one imported by ARN, or one the stack creates (and
    outputs) for the service's task definition to use.
    """

    name: str = Field(pattern=RESOURCE_NAME_PATTERN, description="The ECS service's name")
    cluster: str = Field(pattern=RESOURCE_NAME_PATTERN, description="The cluster it runs in")
    task_role_arn: str | None = Field(
        default=None, description="Its existing task role, granted task protection"
    )
    create_role: bool = Field(
        default=False, description="Create its task role instead (the stack outputs its ARN)"
    )

    _role = field_validator("task_role_arn")(_check_role_arn)

    @model_validator(mode="after")
    def _one_role(self) -> ProtectedService:
        if (self.task_role_arn is None) == (not self.create_role):
            raise ValueError("set either 'task_role_arn' (an existing role) or 'create_role: true'")
        return self


class TaskProtection(Strict):
    """Services whose workers use the cronguard_worker client, and the orphan sweeper."""

    services: list[ProtectedService] = Field(
        default_factory=list,
        description="ECS services whose workers use task scale-in protection (docs/worker.md)",
    )
    stale_after: Annotated[Duration, between(MINUTE, DAY)] = Field(
        default=timedelta(minutes=10),
        description="Work whose heartbeat is older than this is orphaned",
    )
    sweep_every: Annotated[
        Duration,
        between(MINUTE, timedelta(hours=1)),
        whole_minutes(
            "EventBridge schedules the sweep with a rate expression, in minutes, hours or days "
            "(https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-rate-expressions.html)"
        ),
        MINUTES_SCHEMA,
    ] = Field(
        default=timedelta(minutes=5),
        description="How often the orphan sweeper runs (whole minutes)",
    )

    @field_validator("services")
    @classmethod
    def _unique(cls, value: list[ProtectedService]) -> list[ProtectedService]:
        names = [service.name for service in value]
        duplicated = sorted({name for name in names if names.count(name) > 1})
        if duplicated:
            raise ValueError(f"service names listed twice: {', '.join(duplicated)}")
        return value


_ENV_VAR = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def _check_variable_names(value: dict[str, str]) -> dict[str, str]:
    for name in value:
        if not _ENV_VAR.match(name):
            raise ValueError(
                f"{shown(name)} is not a valid environment variable name (letters, digits and "
                "'_', not starting with a digit)"
            )
        if name.upper().startswith(RESERVED_ENV_PREFIX):
            raise ValueError(
                f"{shown(name)} is reserved: cronguard sets {RESERVED_ENV_PREFIX}* itself"
            )
    return value


def _check_secrets(value: dict[str, str]) -> dict[str, str]:
    for name, arn in value.items():
        if not containers.SECRET_VALUE_FROM.match(arn):
            raise ValueError(
                f"{name}: {shown(arn)} is not an SSM parameter or Secrets Manager secret ARN"
            )
    return value


AWS_PREFIX = r"^[aA][wW][sS]:"


def _check_tags(value: dict[str, str], tagged: tuple[str, ...]) -> dict[str, str]:
    """Tags CloudFormation takes on every resource type in ``tagged`` (its rules as cfn-lint
    ships them: ``aws_rules``)."""
    for key, tag in value.items():
        if key.lower().startswith("aws:"):
            raise ValueError(f"{shown(key)}: tag keys starting with 'aws:' are AWS's own")
        refused = aws_rules.tag_refusal("key", key, tagged)
        if refused:
            raise ValueError(f"{shown(key)}: {refused}")
        refused = aws_rules.tag_refusal("value", tag, tagged)
        if refused:
            raise ValueError(f"{shown(key)}: value {shown(tag)}: {refused}")
    return value


def _tags_schema(tagged: tuple[str, ...]) -> Any:
    """The tags' JSON Schema, from the same rules (built when a schema is asked for)."""

    def extra(schema: dict[str, Any]) -> None:
        schema["propertyNames"] = {
            **aws_rules.tag_schema("key", tagged),
            "not": {"pattern": AWS_PREFIX},
        }
        schema["additionalProperties"] = aws_rules.tag_schema("value", tagged)

    return extra


_IAM_ACTION = re.compile(r"^[a-z0-9-]+:[A-Za-z0-9*?]+$")
_POLICY_ARN = re.compile(r"^arn:aws[a-z-]*:iam::(\d{12}|aws):policy/[\w+=,.@/-]{1,512}$")
_ROLE_PATH = re.compile(r"^/([\w+=,.@-]+/)*$")


def _check_policy_arn(value: str | None) -> str | None:
    if value is not None and not _POLICY_ARN.match(value):
        raise ValueError(f"{shown(value)} is not an IAM managed policy ARN")
    return value


def _unreasoned(what: str) -> ValueError:
    return ValueError(
        f"{what}: add 'reason' saying why the job needs it (it becomes the cdk-nag acknowledgement)"
    )


def _resources_schema(schema: dict[str, Any]) -> None:
    schema["items"] = {"type": "string", "pattern": aws_rules.rules().arn_pattern}


def _conditions_schema(schema: dict[str, Any]) -> None:
    operators = aws_rules.rules().condition_operators
    schema["anyOf"][0]["propertyNames"] = {"anyOf": [{"pattern": p} for p in operators]}


class Permission(Strict):
    """One IAM statement for the job's task role: what its container may do."""

    actions: list[
        Annotated[str, WithJsonSchema({"type": "string", "pattern": _IAM_ACTION.pattern})]
    ] = Field(min_length=1, description="IAM actions, like 's3:PutObject'")
    resources: list[str] = Field(
        min_length=1,
        description="Resource ARNs (or '*', with reason)",
        json_schema_extra=_resources_schema,
    )
    conditions: dict[str, dict[str, Any]] | None = Field(
        default=None,
        description="IAM condition block: operator -> {key: value}",
        json_schema_extra=_conditions_schema,
    )
    reason: str | None = Field(
        default=None,
        min_length=10,
        description="Why a wildcard is needed; required when an action or resource has '*'",
    )

    @field_validator("actions")
    @classmethod
    def _actions(cls, value: list[str]) -> list[str]:
        for action in value:
            if action.strip() == "*":
                raise ValueError(
                    "'*' allows every action on every service; name the actions the job needs"
                )
            if not _IAM_ACTION.match(action):
                raise ValueError(
                    f"{shown(action)} is not an IAM action; expected 'service:Action', "
                    "like 's3:PutObject'"
                )
            refused = aws_rules.action_refusal(action)
            if refused:
                raise ValueError(f"{shown(action)}: {refused}")
        return value

    @field_validator("resources")
    @classmethod
    def _resources(cls, value: list[str]) -> list[str]:
        for resource in value:
            if not aws_rules.is_arn(resource):
                raise ValueError(
                    f"{shown(resource)} is not an ARN: IAM takes a statement's resources as ARNs "
                    "(arn:partition:service:region:account:resource, like "
                    "'arn:aws:s3:::my-bucket/*') or '*' (cfn-lint E3510)"
                )
        return value

    @field_validator("conditions")
    @classmethod
    def _conditions(cls, value: dict[str, dict[str, Any]] | None) -> Any:
        for operator in value or {}:
            if not aws_rules.is_condition_operator(operator):
                raise ValueError(
                    f"{shown(operator)} is not an IAM condition operator, like 'StringEquals' "
                    "or 'ArnLike' (cfn-lint E3510)"
                )
        return value

    @property
    def wildcards(self) -> list[str]:
        """The actions and resources with a wildcard (cdk-nag's IAM5 findings)."""
        return [a for a in self.actions if "*" in a] + [r for r in self.resources if "*" in r]

    @model_validator(mode="after")
    def _reasoned(self) -> Permission:
        if self.wildcards and self.reason is None:
            raise _unreasoned(f"{', '.join(self.wildcards)} has a wildcard")
        return self


class ManagedPolicy(Strict):
    """A managed policy attached to the job's task role."""

    arn: str = Field(description="The managed policy's ARN")
    reason: str | None = Field(
        default=None, min_length=10, description="Why an AWS managed policy; required for one"
    )

    _arn = field_validator("arn")(_check_policy_arn)

    @property
    def aws_managed(self) -> bool:
        return ":iam::aws:policy/" in self.arn

    @model_validator(mode="after")
    def _reasoned(self) -> ManagedPolicy:
        if self.aws_managed and self.reason is None:
            raise _unreasoned(f"{self.arn} is AWS managed (broad, and changed by AWS)")
        return self


class Architecture(StrEnum):
    X86_64 = "x86_64"
    ARM64 = "arm64"


class CapacityProvider(StrEnum):
    FARGATE = "FARGATE"
    FARGATE_SPOT = "FARGATE_SPOT"


class CapacityShare(Strict):
    """One entry of a capacity provider strategy (ECS's base and weight)."""

    provider: CapacityProvider = Field(description="The capacity provider")
    base: int = Field(
        default=0,
        ge=0,
        le=100000,
        description="Tasks placed here first; at most one entry has a base",
    )
    weight: int = Field(default=1, ge=0, le=1000, description="Share of the tasks after base")


class Iam(Strict):
    """The organisation's guardrails on every role cronguard creates."""

    permissions_boundary: str | None = Field(
        default=None, description="Managed policy ARN set as every role's permissions boundary"
    )
    role_path: str | None = Field(
        default=None,
        description="Path of every role, like '/jobs/' (changing it replaces the roles)",
    )

    _boundary = field_validator("permissions_boundary")(_check_policy_arn)

    @field_validator("role_path")
    @classmethod
    def _path(cls, value: str | None) -> str | None:
        if value is not None and (len(value) > 512 or not _ROLE_PATH.match(value)):
            raise ValueError(
                f"{shown(value)} is not an IAM path; expected '/' or '/a/b/' (letters, digits "
                "and +=,.@-_ between slashes)"
            )
        return value


def _span(value: timedelta) -> str:
    return f"{value / DAY:,.0f} days" if value >= DAY else format_duration(value)


# What to lower when a part of the time budget is too long.
_LOWER = {
    "launch_retries": "max_attempts, interval_seconds or backoff_rate",
    "timeout": "timeout or job_retries",
    "job_retries": "job_retries",
}


@dataclass(frozen=True)
class TimeBudget:
    """The most one run of a job takes: each attempt's timeout, the waits between attempts
    and between launch retries (before Step Functions' jitter), and a margin for the guard,
    the ledger writes and task provisioning."""

    attempts: int
    timeout: timedelta
    job_retry_waits: timedelta
    launch_retry_waits: timedelta
    margin: timedelta = EXECUTION_MARGIN

    @property
    def total(self) -> timedelta:
        return (
            self.timeout * self.attempts
            + self.job_retry_waits
            + self.launch_retry_waits
            + self.margin
        )

    @property
    def largest(self) -> str:
        """The config field behind the largest part."""
        parts = {
            "launch_retries": self.launch_retry_waits,
            "timeout": self.timeout * self.attempts,
            "job_retries": self.job_retry_waits,
        }
        return max(parts, key=lambda field: parts[field])

    def __str__(self) -> str:
        runs = f"{self.attempts} run{'s' if self.attempts > 1 else ''}"
        parts = [f"{runs} of up to {format_duration(self.timeout)}"]
        if self.job_retry_waits:
            parts.append(f"{_span(self.job_retry_waits)} between them")
        if self.launch_retry_waits:
            parts.insert(0, f"launch retry waits of {_span(self.launch_retry_waits)}")
        parts.append(f"a {format_duration(self.margin)} margin")
        return f"{_span(self.total)} ({', '.join(parts)})"


@cache
def iana_time_zones() -> frozenset[str]:
    """The zones of the pinned ``tzdata`` package: the same everywhere, unlike the host's
    zoneinfo directory (which also holds ``localtime``, ``posix/…`` and ``right/…``)."""
    return frozenset(resources.files("tzdata").joinpath("zones").read_text().split())


# What a job's own task definition (task_definition_arn) holds instead of config.
RENDERED_TASK_KEYS = frozenset(
    {
        "image",
        "command",
        "cpu",
        "memory",
        "environment",
        "secrets",
        "task_role_arn",
        "permissions",
        "managed_policies",
        "architecture",
        "ephemeral_storage_gib",
        "entrypoint",
        "user",
        "working_directory",
        "stop_timeout",
        "readonly_root_filesystem",
        "init_process",
        "logs",
        "registry_credentials",
        "kms_key_arn",
        "environment_files",
        "sidecars",
        "volumes",
        "mounts",
    }
)


class Job(Strict):
    """One scheduled ECS job. ``name`` comes from its key in the YAML mapping."""

    model_config = ConfigDict(
        **Strict.model_config,
        json_schema_extra={
            "anyOf": [{"required": ["image"]}, {"required": ["task_definition_arn"]}]
        },
    )

    name: str
    description: str = Field(
        default="",
        max_length=DESCRIPTION_LIMIT,
        description="Free text; it goes into the schedule's description",
    )
    schedule: str = Field(
        description="cron(minutes hours day-of-month month day-of-week year), EventBridge's 6 "
        "fields with ?, L, W and #, or rate(N minutes|hours|days) whose interval plus the grace "
        "fits in the slot watch's look-back (the ledger retention, at most 7 days); a cron "
        "that never fires again (cron(0 0 30 2 ? *), a past year) is an error"
    )
    timezone: str = Field(
        default="UTC",
        description="IANA time zone the cron expression is evaluated in: a name in the pinned "
        "tzdata package (host-only names such as localtime or posix/… are errors)",
    )
    enabled: bool = Field(default=True, description="false deploys the schedule disabled")
    task_definition_arn: str | None = Field(
        default=None,
        description="Run a task definition of your own (its latest revision, or the one the "
        "ARN names): cronguard renders none, so image, cpu, memory, the container keys and "
        "the task's roles are refused; name its job container in container",
        json_schema_extra=containers.TASK_DEFINITION_SCHEMA,
    )
    image: str | None = Field(
        default=None,
        validate_default=True,
        pattern=IMAGE_PATTERN,
        description="Container image URI; required, unless the job brings its own "
        "task_definition_arn",
    )
    command: list[str] | None = Field(
        default=None, min_length=1, description="Exec-form command; unset runs the image's own"
    )
    cpu: int = Field(
        default=256,
        description="Fargate CPU units: " + ", ".join(str(cpu) for cpu in FARGATE_SIZES),
    )
    memory: int = Field(
        default=512,
        description="Task memory in MiB, a size Fargate allows with the cpu (an error names them)",
    )
    environment: dict[str, str] = Field(
        default_factory=dict,
        description=f"Environment variables (names starting {RESERVED_ENV_PREFIX} are reserved)",
    )
    secrets: dict[str, str] = Field(
        default_factory=dict,
        description="Environment variable -> SSM parameter ARN or Secrets Manager secret ARN, "
        "full (…:secret:<name>-AbCdEf) or partial (…:secret:<name>, granted as <name>-??????), "
        "either optionally followed by :<json-key>:<stage>:<version>; a name whose last '-' "
        "part is 6 letters or digits reads as a full ARN. A variable is in environment or "
        "secrets, not both",
    )
    timeout: Annotated[Duration, between(MINUTE, WEEK)] = Field(
        default=timedelta(hours=1), description="How long one run may take"
    )
    launch_retries: LaunchRetry = Field(default_factory=LaunchRetry)
    job_retries: Annotated[
        Annotated[Annotated[int, Field(ge=0, le=MAX_JOB_RETRIES)], Tag(NUMBER_FORM)]
        | Annotated[JobRetries, Tag(MAPPING_FORM)],
        Discriminator(_number_or_mapping),
    ] = Field(
        default=0,
        description="Retries of a run whose task failed (a non-zero exit), nothing else: a "
        "number retries every exit code, {max, on_exit_codes} or {max, except_exit_codes} "
        "decides by the container's exit code",
    )
    concurrency: Concurrency = Field(
        default=Concurrency.FORBID,
        description="When the previous run still runs: forbid skips the new slot, replace stops "
        "the old run, allow runs both",
    )
    starting_deadline: Annotated[Duration, between(timedelta(seconds=10), WEEK)] | None = Field(
        default=None,
        description="Skip a trigger that arrives this long after its slot (at most the ledger "
        "retention)",
    )
    # Scheduler accepts a flexible window of 1 to 1440 minutes.
    flexible_window: (
        Annotated[
            Duration,
            between(MINUTE, DAY),
            whole_minutes(
                "Scheduler's flexible time window is set in minutes (MaximumWindowInMinutes, "
                "https://docs.aws.amazon.com/scheduler/latest/APIReference/API_FlexibleTimeWindow.html)"
            ),
            MINUTES_SCHEMA,
        ]
        | None
    ) = Field(default=None, description="Scheduler's flexible time window (whole minutes)")
    delivery: Delivery = Field(default_factory=Delivery)
    catch_up: CatchUp | None = Field(
        default=None,
        description="Start missed slots by itself (the slot watch), like {window: 6h}",
    )
    alert_after: Annotated[Duration, between(MINUTE, WEEK)] | None = Field(
        default=None,
        description="Alert the job's owner and the environment's topic, once per run, when a "
        "run still runs this long after it started, like 45m (the slot watch); shorter than "
        "timeout; not with concurrency allow",
    )
    spot: bool = Field(
        default=False,
        description="Run on Fargate Spot (the same as capacity_providers: "
        "[{provider: FARGATE_SPOT}])",
    )
    capacity_providers: list[CapacityShare] | None = Field(
        default=None,
        min_length=1,
        max_length=2,
        description="Capacity provider strategy (FARGATE / FARGATE_SPOT with base and weight); "
        "unset runs with launch type FARGATE; with two providers, no base and no weight 0 (each "
        "run is one task: a base would take every run, weight 0 none)",
        json_schema_extra={
            "if": {"type": "array", "minItems": 2},
            "then": {"items": {"properties": {"base": {"const": 0}, "weight": {"minimum": 1}}}},
        },
    )
    network: JobNetwork | None = Field(
        default=None,
        description="This job's own network settings, each instead of the environment's",
    )
    task_role_arn: str | None = Field(
        default=None,
        description="An existing role for the container instead of one cronguard creates "
        "(cronguard changes nothing on it; the job's state machine may pass it)",
    )
    permissions: list[Permission] = Field(
        default_factory=list,
        description="IAM statements for the job's own task role; '*' as an action is refused, "
        "and any wildcard needs a reason (it becomes the cdk-nag acknowledgement)",
    )
    managed_policies: list[ManagedPolicy] = Field(
        default_factory=list, description="Managed policies for the job's own task role"
    )
    architecture: Architecture = Field(
        default=Architecture.X86_64,
        description="arm64 runs the task on Graviton (the image must be built for it; Fargate "
        "Spot runs it too, on platform version 1.4.0 and later)",
    )
    ephemeral_storage_gib: int | None = Field(
        default=None,
        ge=21,
        le=200,
        description="Task ephemeral storage in GiB; unset is Fargate's 20",
    )
    renamed_from: str | None = Field(
        default=None,
        description="The job's name before a rename (no longer a job in config): until that "
        "name's run in progress ends (the cleanup stops it once its state machine is deleted) "
        "its lease holds this job's slots back (forbid, replace), and a slot it ran is a "
        "duplicate here. Keep it for the ledger retention after the rename",
    )
    owner: Owner | None = Field(
        default=None,
        description="The team the job belongs to (default: the environment's owner); its "
        "alarms notify the team's topic as well as the environment's",
    )
    tags: dict[str, str] = Field(
        default_factory=dict,
        description="Tags on the job's resources (its roles, task definition, guard, state "
        "machine, alarm, SSM handle), by CloudFormation's rules for each; PropagateTags "
        "carries the task definition's onto each task",
        json_schema_extra=_tags_schema(aws_rules.JOB_TAGGED),
    )
    entrypoint: list[str] | None = Field(
        default=None,
        min_length=1,
        description="Exec-form entrypoint instead of the image's ENTRYPOINT (command becomes "
        "its arguments)",
    )
    user: str | None = Field(
        default=None,
        description="User the container runs as: a name or uid, optionally with a group or gid "
        "('app', '1000:1000'); unset is the image's USER",
        json_schema_extra=containers.USER_SCHEMA,
    )
    working_directory: str | None = Field(
        default=None,
        description="Absolute directory the command runs in; unset is the image's WORKDIR",
        json_schema_extra=containers.ABSOLUTE_PATH_SCHEMA,
    )
    stop_timeout: (
        Annotated[Duration, between(timedelta(seconds=2), timedelta(seconds=120))] | None
    ) = Field(
        default=None,
        description="How long ECS waits after SIGTERM before it kills the container when the "
        "task is stopped (a replaced or timed-out run); unset is ECS's 30s",
    )
    readonly_root_filesystem: bool = Field(
        default=False,
        description="Mount the container's root file system read-only (write to mounts)",
    )
    init_process: bool = Field(
        default=False,
        description="Run an init process as PID 1 that forwards signals and reaps zombie "
        "processes (docker run --init)",
    )
    platform_version: str = Field(
        default=containers.LATEST,
        description="Fargate platform version of each run: LATEST, or a version like '1.4.0' "
        "(arm64 and ephemeral_storage_gib need 1.4.0 or later)",
        json_schema_extra=containers.PLATFORM_VERSION_SCHEMA,
    )
    logs: containers.Logs = Field(default_factory=containers.Logs)
    registry_credentials: str | None = Field(
        default=None,
        description="Secrets Manager secret ARN holding {username, password} for a private "
        "registry (Docker Hub, GHCR); the execution role reads exactly that secret. Not for "
        "ECR images, which the execution role pulls",
        json_schema_extra=containers.REGISTRY_CREDENTIALS_SCHEMA,
    )
    kms_key_arn: str | None = Field(
        default=None,
        description="Customer-managed KMS key the job's secrets, registry credentials or "
        "environment files are encrypted with: the execution role may decrypt with it only "
        "through those services (kms:ViaService)",
        json_schema_extra=containers.KMS_KEY_SCHEMA,
    )
    environment_files: list[str] = Field(
        default_factory=list,
        description="S3 object ARNs of .env files whose variables the container gets (ECS "
        "reads them at start: the execution role may get exactly these objects)",
        json_schema_extra=containers.ENVIRONMENT_FILES_SCHEMA,
    )
    sidecars: list[containers.Sidecar] = Field(
        default_factory=list,
        max_length=9,
        description="Containers beside the job's (agents: Datadog, OpenTelemetry, Envoy); the "
        "run's outcome stays the job container's exit code",
    )
    volumes: list[containers.Volume] = Field(
        default_factory=list,
        description="Volumes the containers mount: scratch space in the task's storage "
        "(shared between containers) or EFS",
    )
    mounts: list[containers.Mount] = Field(
        default_factory=list, description="Volumes the job container mounts"
    )
    container: str | None = Field(
        default=None,
        description="With task_definition_arn: the job's container in it (its exit code is "
        "the run's; it gets the CRONGUARD_* variables)",
        json_schema_extra=containers.CONTAINER_NAME_SCHEMA,
    )
    pass_roles: list[str] = Field(
        default_factory=list,
        description="With task_definition_arn: its task and execution roles, which the "
        "state machine may pass to ECS (iam:PassRole on exactly these)",
    )

    @property
    def watched_schedule(self) -> JobSchedule:
        """What the missed-slot check knows of the job's schedule: config's deploy intent."""
        return JobSchedule(
            expression=self.schedule,
            timezone=self.timezone,
            flexible_window=self.flexible_window or timedelta(0),
        )

    @property
    def capacity_strategy(self) -> list[CapacityShare] | None:
        """The task's capacity provider strategy; None runs it with launch type FARGATE."""
        if self.capacity_providers is not None:
            return self.capacity_providers
        if self.spot:
            return [CapacityShare(provider=CapacityProvider.FARGATE_SPOT)]
        return None

    _role = field_validator("task_role_arn")(_check_role_arn)

    @field_validator("tags")
    @classmethod
    def _tags(cls, value: dict[str, str]) -> dict[str, str]:
        return _check_tags(value, aws_rules.JOB_TAGGED)

    _user = field_validator("user")(containers.check_user)
    _working_directory = field_validator("working_directory")(containers.check_working_directory)
    _platform_version = field_validator("platform_version")(containers.check_platform_version)
    _registry = field_validator("registry_credentials")(containers.check_registry_credentials)
    _kms_key = field_validator("kms_key_arn")(containers.check_kms_key)
    _environment_files = field_validator("environment_files")(containers.check_environment_files)

    _mounts = field_validator("mounts")(containers.check_mounts)

    @field_validator("sidecars")
    @classmethod
    def _sidecars(cls, value: list[containers.Sidecar]) -> list[containers.Sidecar]:
        names = [sidecar.name for sidecar in value]
        twice = sorted({name for name in names if names.count(name) > 1})
        if twice:
            raise ValueError(f"sidecar names listed twice: {', '.join(twice)}")
        for sidecar in value:
            try:
                _check_variable_names(sidecar.environment)
                _check_variable_names(sidecar.secrets)
                _check_secrets(sidecar.secrets)
            except ValueError as error:
                raise ValueError(f"{sidecar.name}: {error}") from None
        return value

    @field_validator("volumes")
    @classmethod
    def _volumes(cls, value: list[containers.Volume]) -> list[containers.Volume]:
        names = [volume.name for volume in value]
        twice = sorted({name for name in names if names.count(name) > 1})
        if twice:
            raise ValueError(f"volume names listed twice: {', '.join(twice)}")
        return value

    @model_validator(mode="after")
    def _mounted_volumes(self) -> Job:
        declared = {volume.name for volume in self.volumes}
        mounted = {
            owner: [mount.volume for mount in mounts]
            for owner, mounts in [
                ("the job container", self.mounts),
                *((sidecar.name, sidecar.mounts) for sidecar in self.sidecars),
            ]
        }
        for owner, volumes in mounted.items():
            unknown = sorted(set(volumes) - declared)
            if unknown:
                raise field_error(
                    "mounts" if owner == "the job container" else "sidecars",
                    f"{owner} mounts {', '.join(unknown)}, which is not one of the job's "
                    f"volumes ({', '.join(sorted(declared)) or 'none'})",
                    unknown,
                )
        unused = sorted(declared - {name for names in mounted.values() for name in names})
        if unused:
            raise field_error(
                "volumes",
                f"{', '.join(unused)} is mounted by no container: mount it or remove it",
                unused,
            )
        return self

    @model_validator(mode="after")
    def _sidecars_fit_the_task(self) -> Job:
        # The job container gets what the sidecars leave; it needs some of each.
        for what, total, size in (
            ("cpu units", sum(s.cpu or 0 for s in self.sidecars), self.cpu),
            (
                "MiB of memory",
                sum(s.memory or 0 for s in self.sidecars)
                + (self.logs.router.memory if self.logs.firelens else 0),
                self.memory,
            ),
        ):
            if total >= size:
                raise field_error(
                    "sidecars",
                    f"the sidecars (and a log router) take {total} of the task's {size} {what}, "
                    "leaving the job container none: raise the job's cpu/memory or lower the "
                    "sidecars'",
                    total,
                )
        return self

    @field_validator("pass_roles")
    @classmethod
    def _pass_roles(cls, value: list[str]) -> list[str]:
        for role in value:
            _check_role_arn(role)
        return value

    _task_definition = field_validator("task_definition_arn")(containers.check_task_definition)

    @field_validator("image")
    @classmethod
    def _image(cls, value: str | None, info: ValidationInfo) -> str | None:
        # task_definition_arn comes first, so that it is known here: None when not given,
        # absent when refused on its own (which is then the one problem reported).
        if value is None and info.data.get("task_definition_arn", "refused") is None:
            raise ValueError(
                "is required: the job's container image (unless task_definition_arn names a "
                "task definition of your own)"
            )
        return value

    @model_validator(mode="after")
    def _whose_task_definition(self) -> Job:
        if self.task_definition_arn is None:
            given = [key for key in ("container", "pass_roles") if getattr(self, key)]
            if given:
                raise field_error(
                    given[0],
                    f"{given[0]} is for a task definition of your own: set task_definition_arn, "
                    "or drop it",
                    getattr(self, given[0]),
                )
            return self
        if self.container is None:
            raise field_error(
                "container",
                "required with task_definition_arn: the name of the job's container in it "
                "(its exit code is the run's)",
                None,
            )
        rendered = [
            key
            for key in type(self).model_fields
            if key in self.model_fields_set and key in RENDERED_TASK_KEYS
        ]
        if rendered:
            raise field_error(
                rendered[0],
                f"{', '.join(rendered)}: the task definition is your own (task_definition_arn): "
                "cronguard renders no task definition or task roles, so it cannot set "
                f"{'them' if len(rendered) > 1 else 'it'}; set it in your task definition",
                getattr(self, rendered[0]),
            )
        return self

    @model_validator(mode="after")
    def _log_router_named_once(self) -> Job:
        if self.logs.firelens and any(s.name == containers.LOG_ROUTER for s in self.sidecars):
            raise field_error(
                "sidecars",
                f"'{containers.LOG_ROUTER}' is the FireLens log router's name (logs.driver "
                "firelens adds it): name the sidecar otherwise",
                containers.LOG_ROUTER,
            )
        return self

    @model_validator(mode="after")
    def _read_at_start(self) -> Job:
        if (
            self.registry_credentials is not None
            and self.image is not None
            and containers.is_ecr_image(self.image)
        ):
            raise field_error(
                "registry_credentials",
                "the image is in ECR, which ECS pulls from with the execution role; "
                "registry_credentials are for other registries (Docker Hub, GHCR, …)",
                self.registry_credentials,
            )
        if self.kms_key_arn is not None and not (
            self.secrets
            or self.environment_files
            or self.registry_credentials
            or any(sidecar.secrets for sidecar in self.sidecars)
            or self.logs.secret_options
        ):
            raise field_error(
                "kms_key_arn",
                "the job has no secrets, registry_credentials or environment_files to decrypt "
                "with it: drop it, or add what it encrypts",
                self.kms_key_arn,
            )
        return self

    @model_validator(mode="after")
    def _platform_runs_it(self) -> Job:
        if not containers.platform_before_full_features(self.platform_version):
            return self
        needs = [
            what
            for what, used in (
                ("architecture arm64", self.architecture is Architecture.ARM64),
                ("ephemeral_storage_gib", self.ephemeral_storage_gib is not None),
                ("efs volumes", any(volume.efs for volume in self.volumes)),
            )
            if used
        ]
        if needs:
            raise field_error(
                "platform_version",
                f"{self.platform_version} cannot run {' or '.join(needs)}: Fargate needs "
                f"platform version 1.4.0 or later for it ({containers.PLATFORM_VERSIONS_DOC})",
                self.platform_version,
            )
        return self

    @field_validator("capacity_providers")
    @classmethod
    def _strategy(cls, value: list[CapacityShare] | None) -> list[CapacityShare] | None:
        if value is None:
            return None
        providers = [share.provider for share in value]
        if len(set(providers)) != len(providers):
            raise ValueError("a capacity provider is listed twice")
        if sum(share.base > 0 for share in value) > 1:
            raise ValueError("only one capacity provider may have a base (ECS places it first)")
        if not any(share.weight > 0 for share in value):
            raise ValueError("at least one capacity provider needs a weight above 0")
        # Each run is one RunTask of one task: with two providers, a base takes every run,
        # and a weight of 0 takes none, whatever the strategy would do with many tasks.
        based = next((share for share in value if share.base), None)
        idle = next((share for share in value if not share.weight and not share.base), None)
        if len(value) > 1 and based is not None:
            others = " and ".join(s.provider.value for s in value if s is not based)
            raise ValueError(
                f"{based.provider.value} has base {based.base}, so every run lands on it and "
                f"{others} is never used: each run is one RunTask of one task, and ECS places a "
                f"strategy's base before it weighs the rest ({CAPACITY_STRATEGY_DOC}); drop "
                "the base to share runs by weight, or list one provider"
            )
        if len(value) > 1 and idle is not None:
            raise ValueError(
                f"{idle.provider.value} has weight 0 and no base, so ECS never places a run on "
                f"it ({CAPACITY_STRATEGY_DOC}); give it a weight or remove it"
            )
        return value

    @model_validator(mode="after")
    def _one_way_each(self) -> Job:
        if self.task_role_arn is not None and (self.permissions or self.managed_policies):
            raise ValueError(
                "task_role_arn is an existing role: cronguard does not change it; set either "
                "task_role_arn, or permissions/managed_policies for a role cronguard creates"
            )
        if self.spot and self.capacity_providers is not None:
            raise ValueError(
                "spot and capacity_providers both choose where tasks run: use capacity_providers "
                "(spot: true is [{provider: FARGATE_SPOT}])"
            )
        return self

    @property
    def max_job_retries(self) -> int:
        """How often a failed run is retried at most, whichever form job_retries has."""
        retries = self.job_retries
        return retries.max if isinstance(retries, JobRetries) else retries

    @property
    def time_budget(self) -> TimeBudget:
        """The most one run can take, part by part: the one place it is computed (the state
        machine's TimeoutSeconds, the lease and the one-year check all use it)."""
        retry = self.launch_retries
        launch_waits = (
            retry.interval_seconds * retry.backoff_rate**i for i in range(retry.max_attempts)
        )
        job_retry_waits = (JOB_RETRY_INTERVAL_SECONDS * 2**i for i in range(self.max_job_retries))
        return TimeBudget(
            attempts=self.max_job_retries + 1,
            timeout=self.timeout,
            job_retry_waits=timedelta(seconds=sum(job_retry_waits)),
            launch_retry_waits=timedelta(seconds=sum(launch_waits)),
        )

    @property
    def execution_timeout(self) -> timedelta:
        """A hard limit on the whole execution: every job attempt, retry waits, and a margin
        for the guard, the ledger writes and task provisioning."""
        return self.time_budget.total

    @model_validator(mode="after")
    def _within_a_year(self) -> Job:
        budget = self.time_budget
        if budget.total > EXECUTION_LIMIT:
            raise field_error(
                budget.largest,
                f"the run's time budget is {budget}, past the one year "
                f"({_span(EXECUTION_LIMIT)}) after which Step Functions ends an execution "
                f"('Maximum execution time', {STEP_FUNCTIONS_QUOTAS}): lower "
                f"{_LOWER[budget.largest]}",
                getattr(self, budget.largest),
            )
        return self

    @model_validator(mode="after")
    def _alert_before_timeout(self) -> Job:
        if self.alert_after is not None and self.alert_after >= self.timeout:
            raise field_error(
                "alert_after",
                f"{format_duration(self.alert_after)} is not shorter than the job's timeout "
                f"({format_duration(self.timeout)}), which stops the run first: lower "
                "alert_after or raise timeout",
                format_duration(self.alert_after),
            )
        if self.alert_after is not None and self.concurrency is Concurrency.ALLOW:
            raise field_error(
                "alert_after",
                "a job with concurrency allow holds no lease, and the slot watch finds a "
                "running run by its lease: use concurrency forbid or replace, or leave "
                "alert_after out",
                format_duration(self.alert_after),
            )
        return self

    @property
    def lease(self) -> timedelta:
        """How long a run's lease lasts: past the execution timeout, so the lease expiry is
        only ever the last backstop after the cleanup paths."""
        return self.execution_timeout + LEASE_MARGIN

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not JOB_NAME_PATTERN.match(value):
            raise ValueError(
                f"{shown(value)} is not a job name; use at least 2 lowercase letters, digits "
                "and '-', starting with a letter and not ending with '-'"
            )
        return value

    @field_validator("renamed_from")
    @classmethod
    def _renamed_from(cls, value: str | None) -> str | None:
        if value is not None and not JOB_NAME_PATTERN.match(value):
            raise ValueError(f"{shown(value)} is not a job name: it names the job's old name")
        return value

    @field_validator("schedule")
    @classmethod
    def _schedule(cls, value: str) -> str:
        try:
            parse_schedule(value)
        except ScheduleExpressionError as error:
            raise ValueError(str(error)) from None
        # A day that never comes (30 February) or a year gone by deploys fine and never runs.
        if not upcoming_slots(value, "UTC", after=datetime.now(UTC), count=1):
            raise ValueError(f"{value} never fires again: no date from today on matches it")
        return value

    @field_validator("timezone")
    @classmethod
    def _timezone(cls, value: str) -> str:
        if value not in iana_time_zones():
            raise ValueError(
                f"{shown(value)} is not an IANA time zone (like 'UTC', 'Asia/Tokyo', "
                "'Europe/London')"
            )
        return value

    @field_validator("cpu")
    @classmethod
    def _cpu(cls, value: int) -> int:
        if value not in FARGATE_SIZES:
            allowed = ", ".join(str(cpu) for cpu in FARGATE_SIZES)
            raise ValueError(f"{value} is not a Fargate cpu size; allowed: {allowed}")
        return value

    @field_validator("memory")
    @classmethod
    def _memory(cls, value: int, info: ValidationInfo) -> int:
        cpu = info.data.get("cpu")
        if cpu is None:  # cpu itself is invalid and reported on its own
            return value
        allowed = FARGATE_SIZES[cpu]
        if value not in allowed:
            raise ValueError(
                f"{value} MiB is not allowed with cpu {cpu}; Fargate allows "
                f"{allowed[0]}-{allowed[-1]} MiB in steps of "
                f"{allowed[1] - allowed[0] if len(allowed) > 1 else allowed[0]} "
                f"({', '.join(map(str, allowed[:4]))}{', …' if len(allowed) > 4 else ''})"
            )
        return value

    @field_validator("environment")
    @classmethod
    def _environment(cls, value: dict[str, str]) -> dict[str, str]:
        return _check_variable_names(value)

    @field_validator("secrets")
    @classmethod
    def _secrets(cls, value: dict[str, str]) -> dict[str, str]:
        _check_variable_names(value)
        return _check_secrets(value)

    @model_validator(mode="after")
    def _variables_set_once(self) -> Job:
        # ECS rejects a task definition that sets one variable both ways.
        both = sorted(set(self.environment) & set(self.secrets))
        if both:
            raise ValueError(
                f"{', '.join(both)} set in both environment and secrets: keep one of them"
            )
        return self


class Environment(Strict):
    """One deployable environment: its settings and its merged, validated jobs."""

    name: str
    account: str | None = Field(
        default=None,
        pattern=ACCOUNT_PATTERN,
        description="Pin the stack to this AWS account (12 digits, quoted); unset deploys "
        "wherever the credentials point",
    )
    region: str | None = Field(
        default=None,
        pattern=REGION_PATTERN,
        description="Pin the stack to this region, like 'eu-west-1'; also where the cronguard "
        "commands call AWS",
    )
    network: Network
    cluster: Cluster = Field(default_factory=lambda: Cluster(create=True))
    alarms: Alarms = Field(default_factory=Alarms)
    owner: Owner | None = Field(
        default=None, description="The owner of every job that names none of its own"
    )
    tags: dict[str, str] = Field(
        default_factory=dict,
        description="Tags on every resource and job stack (cronguard adds "
        "cronguard:environment), by CloudFormation's rules for each resource type; no aws: keys",
        json_schema_extra=_tags_schema(aws_rules.ENVIRONMENT_TAGGED),
    )
    ledger: Ledger = Field(default_factory=Ledger)
    task_protection: TaskProtection = Field(default_factory=TaskProtection)
    iam: Iam = Field(default_factory=Iam)
    job_stacks: int = Field(
        default=DEFAULT_JOB_STACKS,
        ge=1,
        le=MAX_JOB_STACKS,
        description=(
            "How many job stacks a new job's name is hashed over; placed jobs never move "
            "(config/environments/<env>.stacks.json records them), so changing it is safe"
        ),
    )
    jobs: tuple[Job, ...] = ()
    # Each job's job stack as the lock file records it (the loader sets it): not config.
    _recorded_stacks: dict[str, int] = PrivateAttr(default_factory=dict)

    @field_validator("tags")
    @classmethod
    def _tags(cls, value: dict[str, str]) -> dict[str, str]:
        return _check_tags(value, aws_rules.ENVIRONMENT_TAGGED)

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not ENV_NAME_PATTERN.match(value):
            raise ValueError(
                f"{shown(value)} is not an environment name; use 1-16 lowercase letters and "
                "digits, starting with a letter"
            )
        return value

    @property
    def stack_name(self) -> str:
        return f"cronguard-{self.name}"

    def owner_of(self, job: Job) -> Owner | None:
        """The job's owner: its own, else the environment's."""
        return job.owner or self.owner

    @property
    def owners(self) -> dict[str, Owner]:
        """Every team that owns a job, by team name: one alarm topic each."""
        return {
            owner.team: owner
            for owner in (self.owner_of(job) for job in self.jobs)
            if owner is not None
        }

    @property
    def resource_tags(self) -> dict[str, str]:
        """The tags of every resource: config's, and ``ENVIRONMENT_TAG``, which config cannot
        change (IAM relies on it)."""
        return {**self.tags, ENVIRONMENT_TAG: self.name}

    @property
    def ledger_table_name(self) -> str:
        return ledger_contract.table_name(self.name)

    @property
    def cluster_name(self) -> str:
        return self.cluster.name or f"cronguard-{self.name}"

    def state_machine_name(self, job: Job) -> str:
        return f"{self.name}-{job.name}"

    def state_machine_parameter(self, job: Job) -> str:
        """The SSM parameter that holds the job's state machine ARN (a stable handle for
        other stacks, pipelines and tools)."""
        return f"/cronguard/{self.name}/jobs/{job.name}/state-machine-arn"

    def state_machine_arn(self, job: Job) -> str:
        """The ARN of the job's state machine; ``${AWS::…}`` where the environment is not
        pinned to an account or region."""
        region = self.region or "${AWS::Region}"
        account = self.account or "${AWS::AccountId}"
        partition = next(
            (name for prefix, name in PARTITIONS if self.region and region.startswith(prefix)),
            "${AWS::Partition}",
        )
        name = self.state_machine_name(job)
        return f"arn:{partition}:states:{region}:{account}:stateMachine:{name}"

    def with_recorded_stacks(self, recorded: dict[str, int]) -> Environment:
        """This environment with the job stacks its lock file records."""
        copy = self.model_copy()
        copy._recorded_stacks = dict(recorded)
        return copy

    def placement(self) -> Placement:
        """Every job's job stack: where the lock file puts it, and a place for each new job."""
        return assign((job.name for job in self.jobs), self._recorded_stacks, self.job_stacks)

    def job_stack_of(self, job: Job) -> int:
        """The job stack a job lives in (see ``placement``)."""
        return self.placement().stacks[job.name]

    def jobs_by_stack(self) -> dict[int, list[Job]]:
        stacks = self.placement().stacks
        grouped: dict[int, list[Job]] = {}
        for job in self.jobs:
            grouped.setdefault(stacks[job.name], []).append(job)
        return dict(sorted(grouped.items()))

    def job(self, name: str) -> Job:
        for job in self.jobs:
            if job.name == name:
                return job
        known = ", ".join(job.name for job in self.jobs) or "none"
        raise KeyError(f"unknown job {shown(name)} in environment '{self.name}'; known: {known}")
