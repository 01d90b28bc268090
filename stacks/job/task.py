"""Each job's Fargate task definition: its size, platform and roles, around the
containers ``containers.py`` defines."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from cronguard.config import Environment
from cronguard.config.model import Architecture
from stacks.job.cloudformation import get_att
from stacks.job.containers import container_definitions, volumes
from stacks.job.shapes import Fragment, NamedJob

CPU_ARCHITECTURES = {Architecture.X86_64: "X86_64", Architecture.ARM64: "ARM64"}


def task_definitions(environment: Environment, jobs: Sequence[NamedJob]) -> Iterator[Fragment]:
    for named in jobs:
        if not named.renders_task_definition:
            continue
        job = named.job
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
                    "ContainerDefinitions": container_definitions(named),
                    **({"Volumes": volumes(named)} if job.volumes else {}),
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
            if job.environment or any(sidecar.environment for sidecar in job.sidecars)
            else (),
        )
