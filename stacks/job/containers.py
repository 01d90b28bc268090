"""The containers and volumes of a job's task: the job's own container, named
``CONTAINER_NAME``, with what config sets of it (command, variables, secrets, how it starts
and stops, its mounts), then its sidecars; all logging to the job's log group."""

from __future__ import annotations

from typing import Any

from cronguard.config.container import LOG_ROUTER, HealthCheck, Mount, Sidecar, Volume
from stacks.job.cloudformation import ref
from stacks.job.shapes import NamedJob


def container_definitions(named: NamedJob) -> list[dict[str, Any]]:
    job = named.job
    return [
        _job_container(named),
        *(_sidecar(named, s) for s in job.sidecars),
        *([_log_router(named)] if job.logs.firelens else []),
    ]


def essential_sidecars(named: NamedJob) -> list[str]:
    """The containers beside the job's whose exit stops the task (the log router is one)."""
    job = named.job
    essential = [sidecar.name for sidecar in job.sidecars if sidecar.essential]
    return [*essential, LOG_ROUTER] if job.logs.firelens else essential


def volumes(named: NamedJob) -> list[dict[str, Any]]:
    """The task's volumes: scratch space (a name only: the task's own storage) or EFS."""
    return [_volume(volume) for volume in named.job.volumes]


def _job_container(named: NamedJob) -> dict[str, Any]:
    job = named.job
    container: dict[str, Any] = {
        "Name": named.container,
        "Image": job.image,
        "Essential": True,
        "LogConfiguration": _logs(named),
    }
    if job.entrypoint:
        container["EntryPoint"] = list(job.entrypoint)
    if job.command:
        container["Command"] = list(job.command)
    container.update(_variables(job.environment, job.secrets))
    if job.environment_files:
        container["EnvironmentFiles"] = [
            {"Type": "s3", "Value": file} for file in job.environment_files
        ]
    if job.registry_credentials is not None:
        container["RepositoryCredentials"] = {"CredentialsParameter": job.registry_credentials}
    if job.user is not None:
        container["User"] = job.user
    if job.working_directory is not None:
        container["WorkingDirectory"] = job.working_directory
    if job.stop_timeout is not None:
        container["StopTimeout"] = int(job.stop_timeout.total_seconds())
    if job.readonly_root_filesystem:
        container["ReadonlyRootFilesystem"] = True
    if job.init_process:
        container["LinuxParameters"] = {"InitProcessEnabled": True}
    waits_for = [
        {"ContainerName": sidecar.name, "Condition": sidecar.depends_on.value}
        for sidecar in job.sidecars
        if sidecar.depends_on is not None
    ] + _router_first(named)
    if waits_for:
        container["DependsOn"] = waits_for
    if job.mounts:
        container["MountPoints"] = _mount_points(job.mounts)
    return container


def _sidecar(named: NamedJob, sidecar: Sidecar) -> dict[str, Any]:
    container: dict[str, Any] = {
        "Name": sidecar.name,
        "Image": sidecar.image,
        "Essential": sidecar.essential,
        "LogConfiguration": _logs(named),
    }
    if sidecar.command:
        container["Command"] = list(sidecar.command)
    container.update(_variables(sidecar.environment, sidecar.secrets))
    if sidecar.cpu is not None:
        container["Cpu"] = sidecar.cpu
    if sidecar.memory is not None:
        container["Memory"] = sidecar.memory
    if sidecar.health_check is not None:
        container["HealthCheck"] = _health_check(sidecar.health_check)
    if sidecar.mounts:
        container["MountPoints"] = _mount_points(sidecar.mounts)
    if named.job.logs.firelens:
        container["DependsOn"] = _router_first(named)
    return container


def _log_router(named: NamedJob) -> dict[str, Any]:
    """The FireLens log router: essential (without it no container's logs go anywhere),
    logging itself to the job's log group."""
    router = named.job.logs.router
    firelens: dict[str, Any] = {"Type": "fluentbit"}
    if router.options:
        firelens["Options"] = dict(sorted(router.options.items()))
    return {
        "Name": LOG_ROUTER,
        "Image": router.image,
        "Essential": True,
        "MemoryReservation": router.memory,
        "FirelensConfiguration": firelens,
        "LogConfiguration": _awslogs(named),
    }


def _router_first(named: NamedJob) -> list[dict[str, str]]:
    """A container logging through FireLens starts once the log router has."""
    if not named.job.logs.firelens:
        return []
    return [{"ContainerName": LOG_ROUTER, "Condition": "START"}]


def _logs(named: NamedJob) -> dict[str, Any]:
    """Through the FireLens log router to its output, or awslogs."""
    logs = named.job.logs
    if not logs.firelens:
        return _awslogs(named)
    configuration: dict[str, Any] = {
        "LogDriver": "awsfirelens",
        "Options": dict(sorted(logs.options.items())),
    }
    if logs.secret_options:
        configuration["SecretOptions"] = [
            {"Name": name, "ValueFrom": arn} for name, arn in sorted(logs.secret_options.items())
        ]
    return configuration


def _awslogs(named: NamedJob) -> dict[str, Any]:
    """awslogs to the job's log group; each container's streams are
    ``<job>/<container>/<task id>``."""
    return {
        "LogDriver": "awslogs",
        "Options": {
            "awslogs-group": ref(named.container_logs),
            "awslogs-stream-prefix": named.job.name,
            "awslogs-region": {"Ref": "AWS::Region"},
        },
    }


def _variables(environment: dict[str, str], secrets: dict[str, str]) -> dict[str, Any]:
    variables: dict[str, Any] = {}
    if environment:
        variables["Environment"] = [
            {"Name": key, "Value": value} for key, value in sorted(environment.items())
        ]
    if secrets:
        variables["Secrets"] = [
            {"Name": key, "ValueFrom": value} for key, value in sorted(secrets.items())
        ]
    return variables


def _health_check(check: HealthCheck) -> dict[str, Any]:
    return {
        "Command": list(check.command),
        "Interval": check.interval_seconds,
        "Timeout": check.timeout_seconds,
        "Retries": check.retries,
        "StartPeriod": check.start_period_seconds,
    }


def _mount_points(mounts: list[Mount]) -> list[dict[str, Any]]:
    return [
        {"SourceVolume": mount.volume, "ContainerPath": mount.path, "ReadOnly": mount.read_only}
        for mount in mounts
    ]


def _volume(volume: Volume) -> dict[str, Any]:
    if volume.efs is None:
        return {"Name": volume.name}
    efs = volume.efs
    configuration: dict[str, Any] = {
        "FilesystemId": efs.file_system_id,
        "TransitEncryption": "ENABLED" if efs.transit_encryption else "DISABLED",
    }
    if efs.root_directory is not None:
        configuration["RootDirectory"] = efs.root_directory
    authorization: dict[str, Any] = {}
    if efs.access_point_id is not None:
        authorization["AccessPointId"] = efs.access_point_id
    if efs.iam_authorization:
        authorization["IAM"] = "ENABLED"
    if authorization:
        configuration["AuthorizationConfig"] = authorization
    return {"Name": volume.name, "EFSVolumeConfiguration": configuration}
