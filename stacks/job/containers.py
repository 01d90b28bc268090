"""The container definitions of a job's task: the job's own container, named
``CONTAINER_NAME``, with what config sets of it (command, variables, secrets, how it starts
and stops), logging to its log group."""

from __future__ import annotations

from typing import Any

from stacks.job.cloudformation import ref
from stacks.job.shapes import CONTAINER_NAME, NamedJob


def container_definitions(named: NamedJob) -> list[dict[str, Any]]:
    return [_job_container(named)]


def _job_container(named: NamedJob) -> dict[str, Any]:
    job = named.job
    container: dict[str, Any] = {
        "Name": CONTAINER_NAME,
        "Image": job.image,
        "Essential": True,
        "LogConfiguration": {
            "LogDriver": "awslogs",
            "Options": {
                "awslogs-group": ref(named.container_logs),
                "awslogs-stream-prefix": job.name,
                "awslogs-region": {"Ref": "AWS::Region"},
            },
        },
    }
    if job.entrypoint:
        container["EntryPoint"] = list(job.entrypoint)
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
    return container
