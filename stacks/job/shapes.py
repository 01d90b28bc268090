"""What a job stack's renderers exchange: fragments of its template, and a job's names.

Logical IDs and the names that must never change (state machine, task family) are
functions of the environment and job names only, so config changes update in place.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields
from typing import Any, NotRequired, TypedDict

from cronguard.config import Environment, Job
from cronguard.config.container import task_family
from cronguard.config.model import Owner
from lambdas.core.input_contract import JOB_CONTAINER
from stacks.job.cloudformation import get_att, ref

CONTAINER_NAME = JOB_CONTAINER


def owner_topic_parameter(owner: Owner) -> str | None:
    """The job stack parameter carrying the alarm topic cronguard creates for the team
    (``stacks.alerts.OwnerTopics``); None when it gives no e-mail addresses (no topic)."""
    return f"OwnerTopic{owner.topic_id}" if owner.email else None


def owner_parameters(environment: Environment, jobs: Sequence[Job]) -> dict[str, Owner]:
    """The owner topic parameters a job stack of ``jobs`` declares, to their teams."""
    found: dict[str, Owner] = {}
    for job in jobs:
        owner = environment.owner_of(job)
        parameter = owner_topic_parameter(owner) if owner is not None else None
        if parameter is not None and owner is not None:
            found[parameter] = owner
    return found


# A cdk-nag (AwsSolutions) finding accepted on a resource: (rule, reason), e.g.
# ("IAM5[Resource::*]", "…"), as ``stacks.compliance.acknowledge_all`` takes them.
Acknowledgement = tuple[str, str]


class Resource(TypedDict):
    """A resource of the template, as CloudFormation reads it."""

    Type: str
    Properties: dict[str, Any]
    DeletionPolicy: NotRequired[str]
    UpdateReplacePolicy: NotRequired[str]


class Output(TypedDict):
    Description: str
    Value: Any


@dataclass(frozen=True)
class Fragment:
    """One resource of the template, the findings accepted on it (the job stack acknowledges
    them on the included resource) and the stack outputs that publish it."""

    logical_id: str
    resource: Resource
    acknowledgements: tuple[Acknowledgement, ...] = ()
    outputs: Mapping[str, Output] = field(default_factory=dict)


@dataclass(frozen=True)
class SharedResources:
    """The logical IDs of what a job stack's jobs share: three log groups (executions, job
    containers, guards; a stream prefix per job) and the role EventBridge Scheduler assumes."""

    execution_logs: str = "ExecutionLogs"
    job_logs: str = "JobLogs"
    guard_logs: str = "GuardLogs"
    scheduler_role: str = "SchedulerRole"

    @property
    def logical_ids(self) -> tuple[str, ...]:
        return tuple(getattr(self, f.name) for f in fields(self))


SHARED = SharedResources()


@dataclass(frozen=True)
class JobResources:
    """The logical IDs of one job's resources: ``prefix`` — the job's name in PascalCase plus
    a hash of the name (``a-1b`` and ``a1b`` would otherwise collide) — then the part, e.g.
    ``NightlyReport6743BA10StateMachine``. The template holds them in this order."""

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
    running_long_alarm: str  # only for a job with alert_after
    state_machine_parameter: str
    container_logs: str  # only for a job with its own log retention

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
    """What every job's task family in the environment starts with (the cleanup finds a
    run's task by it)."""
    return f"cronguard-{environment.name}-"


@dataclass(frozen=True)
class NamedJob:
    """A job with the names its resources get: logical IDs in its job stack, and the physical
    names that must never change (a new state machine name would replace the state machine
    and end its runs in progress)."""

    job: Job
    ids: JobResources
    state_machine: str
    task_family: str

    @classmethod
    def of(cls, environment: Environment, job: Job) -> NamedJob:
        return cls(
            job=job,
            ids=JobResources.of(job),
            state_machine=environment.state_machine_name(job),
            task_family=(
                f"{task_family_prefix(environment)}{job.name}"
                if job.task_definition_arn is None
                else task_family(job.task_definition_arn)
            ),
        )

    @property
    def renders_task_definition(self) -> bool:
        """Whether its stack renders its task definition and the task's roles (it does unless
        the job brings a task definition of its own)."""
        return self.job.task_definition_arn is None

    @property
    def task_definition(self) -> Any:
        return self.job.task_definition_arn or ref(self.ids.task_definition)

    @property
    def container(self) -> str:
        """The job's container: the one its stack renders, or the one config names in a task
        definition of its own."""
        return self.job.container or CONTAINER_NAME

    @property
    def container_logs(self) -> str:
        """The log group its containers write to: its own, when config sets its retention,
        else the one its job stack shares."""
        return (
            self.ids.container_logs if self.job.logs.retention_days is not None else SHARED.job_logs
        )

    @property
    def task_role(self) -> Any:
        """The container's role ARN: the job's existing role, or the one its stack creates."""
        return self.job.task_role_arn or get_att(self.ids.task_role)
