"""A job stack's CloudFormation template, rendered from config in plain Python.

Why not CDK constructs here, when the environment's stack is built from them: a job is 10
resources (``JobResources``), and building them as constructs costs a jsii round trip per
construct, property and grant — about 60 ms a job, 6× what the CDK's own ``ScheduledFargateTask``
costs, and most of a 250-job synth (``bench/benchmark.py`` measures both). A job's
resources are a closed, code-defined shape filled in from a validated config, so they are
rendered here as data, once per job stack, in about a millisecond a job.

Nothing is checked less for it: the job stack includes the rendered template in the
construct tree (``stacks/job_stack.py``), so cdk-nag, Aspects, tags and permissions
boundaries reach each resource as they reach a construct's; the tests run cfn-lint over
it, and the local engine executes its state machines.

What a job stack is passed (the environment's stack fills ``PARAMETERS``) and what it holds:

- shared by its jobs: three log groups (executions, job containers, guards; a stream
  prefix per job) and the role EventBridge Scheduler assumes;
- per job (``JobResources`` names them): the task definition with its task and execution
  roles, the guard Lambda and its role, the state machine and its role, the schedule, one
  alarm, and the SSM parameter holding the state machine's ARN (and a log group of its own
  for a job that sets its containers' log retention).

Each concern is rendered by its own module of ``stacks.job`` (``CONCERNS``); this one puts
their fragments together in a fixed order.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from cronguard.config import Environment, Job
from stacks.job.guard import guards
from stacks.job.handles import handles
from stacks.job.iam import roles
from stacks.job.monitoring import monitoring
from stacks.job.schedule import schedules
from stacks.job.shapes import (
    SHARED,
    Acknowledgement,
    Fragment,
    NamedJob,
    Output,
    Resource,
    owner_parameters,
)
from stacks.job.state_machine import state_machines
from stacks.job.task import task_definitions

# What the environment's stack passes to each job stack.
PARAMETERS = {
    "LedgerTableName": "The environment's ledger table",
    "LedgerTableArn": "ARN of the environment's ledger table",
    "ClusterArn": "ARN of the ECS cluster the jobs run in",
    "DeadLetterQueueArn": "Where the schedules' failed deliveries go",
    "AlarmTopicArn": "The environment's alarm topic",
    "CodeS3Bucket": "Bucket of the Lambda code asset",
    "CodeS3Key": "Key of the Lambda code asset",
}

CONCERNS: tuple[Callable[[Environment, Sequence[NamedJob]], Iterable[Fragment]], ...] = (
    monitoring,
    roles,
    task_definitions,
    guards,
    state_machines,
    schedules,
    handles,
)


class JobStackTemplate:
    """Renders the template of one job stack: ``render()`` returns it as a dict."""

    def __init__(self, environment: Environment, jobs: Sequence[Job]) -> None:
        self.environment = environment
        self.jobs = jobs
        self.resources: dict[str, Resource] = {}
        # logical ID -> the AwsSolutions findings accepted on it, as
        # ``stacks.compliance.acknowledge_all`` takes them.
        self.acknowledgements: dict[str, tuple[Acknowledgement, ...]] = {}
        self.outputs: dict[str, Output] = {}

    def render(self) -> dict[str, Any]:
        self.resources = {}
        self.outputs = {}
        self.acknowledgements = {}
        named = [NamedJob.of(self.environment, job) for job in self.jobs]
        rendered = {
            fragment.logical_id: fragment
            for concern in CONCERNS
            for fragment in concern(self.environment, named)
        }
        # The shared resources, then each job's in ``JobResources``' order (a job that
        # brings its own task role has none rendered): the same template for the same config.
        order = [*SHARED.logical_ids, *(id_ for job in named for id_ in job.ids.logical_ids)]
        for logical_id in order:
            fragment = rendered.pop(logical_id, None)
            if fragment is not None:
                self._add(logical_id, fragment.resource, *fragment.acknowledgements)
                self.outputs.update(fragment.outputs)
        if rendered:
            raise RuntimeError(f"rendered but not a job stack's resource: {sorted(rendered)}")
        return {
            "AWSTemplateFormatVersion": "2010-09-09",
            "Description": (
                f"cronguard {self.environment.name}: jobs "
                + ", ".join(job.name for job in self.jobs)
            )[:1024],
            "Parameters": {
                name: {"Type": "String", "Description": description}
                for name, description in {**PARAMETERS, **self.owner_topics}.items()
            },
            "Resources": self.resources,
            "Outputs": self.outputs,
        }

    @property
    def owner_topics(self) -> dict[str, str]:
        """The parameters of the alarm topics of the teams owning these jobs (none without
        owners: such a job stack's template is what it was before owners existed)."""
        return {
            parameter: f"The alarm topic of team {owner.team}"
            for parameter, owner in owner_parameters(self.environment, self.jobs).items()
        }

    def _add(
        self,
        logical_id: str,
        resource: Resource,
        *acknowledgements: Acknowledgement,
    ) -> None:
        """Add a resource; ``acknowledgements`` are the cdk-nag findings accepted on it, each
        (rule, reason): the job stack acknowledges them on the included resource."""
        if acknowledgements:
            self.acknowledgements[logical_id] = acknowledgements
        self.resources[logical_id] = resource


def template_body(template: dict[str, Any]) -> str:
    """The template as written to its asset: compact, because a full job stack of generous
    jobs is about 650 KB this way (900 KB indented) and CloudFormation takes at most 1 MB."""
    return json.dumps(template, separators=(",", ":"), ensure_ascii=False)
