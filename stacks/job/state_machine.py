"""Each job's state machine: ``state_machines/guarded_job.asl.json`` rendered with the
job's settings, logging to the stack's execution log group."""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from typing import Any

from cronguard.config import Environment
from cronguard.config.model import JOB_RETRY_INTERVAL_SECONDS, Job, JobRetries
from lambdas.core import errors
from lambdas.core.guard_contract import JobPayload, JobRetriesPayload
from stacks.compliance import NO_TRACING
from stacks.definition import render_definition
from stacks.job.cloudformation import get_att, ref
from stacks.job.containers import essential_sidecars
from stacks.job.shapes import SHARED, Fragment, NamedJob


def state_machines(environment: Environment, jobs: Sequence[NamedJob]) -> Iterator[Fragment]:
    for named in jobs:
        ids = named.ids
        yield Fragment(
            ids.state_machine,
            {
                "Type": "AWS::StepFunctions::StateMachine",
                "Properties": {
                    "StateMachineName": named.state_machine,
                    "StateMachineType": "STANDARD",
                    "DefinitionString": render_definition(_definition_values(environment, named)),
                    "DefinitionSubstitutions": {
                        "GuardFunctionArn": get_att(ids.guard),
                        "ClusterArn": ref("ClusterArn"),
                        "TaskDefinitionArn": named.task_definition,
                    },
                    "RoleArn": get_att(ids.state_machine_role),
                    "LoggingConfiguration": {
                        "Level": "ALL",
                        "Destinations": [
                            {
                                "CloudWatchLogsLogGroup": {
                                    "LogGroupArn": get_att(SHARED.execution_logs)
                                }
                            }
                        ],
                    },
                },
            },
            (("SF2", NO_TRACING),),
        )


def _definition_values(environment: Environment, named: NamedJob) -> dict[str, Any]:
    """The typed values config gives the ASL template (``state_machines/``)."""
    job = named.job
    network = environment.network.for_job(job.network)
    return {
        "JobName": job.name,
        "Concurrency": job.concurrency.value,
        # The guard reads these (its payload's "job"): typed by the contract both sides import.
        "JobSettings": _job_settings(environment, named),
        # Only the claim reads them (a person's overrides may set these), so not in JobSettings.
        "JobVariables": sorted(job.environment) or None,
        "ExecutionTimeoutSeconds": int(job.execution_timeout.total_seconds()),
        "TimeoutSeconds": int(job.timeout.total_seconds()),
        "LaunchType": None if job.capacity_strategy else "FARGATE",
        "PlatformVersion": job.platform_version,
        "CapacityProviderStrategy": (
            [
                {
                    "CapacityProvider": share.provider.value,
                    "Weight": share.weight,
                    **({"Base": share.base} if share.base else {}),
                }
                for share in job.capacity_strategy
            ]
            if job.capacity_strategy
            else None
        ),
        "Subnets": network.subnet_ids,
        "SecurityGroups": network.security_group_ids,
        "AssignPublicIp": "ENABLED" if network.assign_public_ip else "DISABLED",
        "TaskGroup": f"cronguard:{job.name}",
        "ContainerName": named.container,
        "LaunchErrors": list(errors.LAUNCH_ERRORS),
        "LaunchRetryIntervalSeconds": job.launch_retries.interval_seconds,
        "LaunchRetryMaxAttempts": job.launch_retries.max_attempts,
        "LaunchRetryBackoffRate": job.launch_retries.backoff_rate,
        "NeverRetriedErrors": list(errors.NEVER_RETRIED),
        # What Failed raises for what Run job failed with, as a JSONata object.
        "ExecutionErrors": json.dumps(dict(errors.BY_ORIGINAL_ERROR), separators=(",", ":")),
    }


def _job_settings(environment: Environment, named: NamedJob) -> JobPayload:
    job = named.job
    settings = JobPayload(
        name=job.name,
        concurrency=job.concurrency.value,
        startingDeadlineSeconds=(
            int(job.starting_deadline.total_seconds()) if job.starting_deadline else None
        ),
        leaseSeconds=int(job.lease.total_seconds()),
        retentionSeconds=int(environment.ledger.retention.total_seconds()),
        container=named.container,
        taskFamily=named.task_family,
    )
    if job.max_job_retries:  # absent: never retried (each payload carries it: keep it small)
        settings["jobRetries"] = _job_retries(job)
    essential = essential_sidecars(named)
    if essential:
        settings["essentialSidecars"] = essential
    if job.renamed_from is not None:
        settings["renamedFrom"] = job.renamed_from
    return settings


def _job_retries(job: Job) -> JobRetriesPayload:
    """``job_retries`` as the guard reads it when an attempt fails (it decides the retry)."""
    retries: JobRetriesPayload = {
        "max": job.max_job_retries,
        "intervalSeconds": JOB_RETRY_INTERVAL_SECONDS,
    }
    if isinstance(job.job_retries, JobRetries):
        if job.job_retries.on_exit_codes:
            retries["onExitCodes"] = sorted(job.job_retries.on_exit_codes)
        if job.job_retries.except_exit_codes:
            retries["exceptExitCodes"] = sorted(job.job_retries.except_exit_codes)
    return retries
