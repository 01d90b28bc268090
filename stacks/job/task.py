"""Each job's Fargate task definition: its one container, with the job's command,
environment and secrets, logging to the stack's job log group."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

from cronguard.config import Environment
from cronguard.config.model import Architecture
from stacks.job.cloudformation import get_att, ref
from stacks.job.shapes import CONTAINER_NAME, SHARED, Fragment, NamedJob

CPU_ARCHITECTURES = {Architecture.X86_64: "X86_64", Architecture.ARM64: "ARM64"}


def task_definitions(environment: Environment, jobs: Sequence[NamedJob]) -> Iterator[Fragment]:
    for named in jobs:
        job = named.job
        container: dict[str, Any] = {
            "Name": CONTAINER_NAME,
            "Image": job.image,
            "Essential": True,
            "LogConfiguration": {
                "LogDriver": "awslogs",
                "Options": {
                    "awslogs-group": ref(SHARED.job_logs),
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
        if job.secrets:
            container["Secrets"] = [
                {"Name": key, "ValueFrom": value} for key, value in sorted(job.secrets.items())
            ]
        yield Fragment(
            named.ids.task_definition,
            {
                "Type": "AWS::ECS::TaskDefinition",
                "Properties": {
                    "Family": named.task_family,
                    "Cpu": str(job.cpu),
                    "Memory": str(job.memory),
                    "NetworkMode": "awsvpc",
                    "RequiresCompatibilities": ["FARGATE"],
                    "RuntimePlatform": {
                        "CpuArchitecture": CPU_ARCHITECTURES[job.architecture],
                        "OperatingSystemFamily": "LINUX",
                    },
                    "TaskRoleArn": named.task_role,
                    "ExecutionRoleArn": get_att(named.ids.execution_role),
                    "ContainerDefinitions": [container],
                    **(
                        {"EphemeralStorage": {"SizeInGiB": job.ephemeral_storage_gib}}
                        if job.ephemeral_storage_gib is not None
                        else {}
                    ),
                },
            },
            (
                (
                    "ECS2",
                    "Plain settings from config; secret values go through `secrets` (SSM/"
                    "Secrets Manager), never environment.",
                ),
            )
            if job.environment
            else (),
        )
