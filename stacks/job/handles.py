"""Each job's handle: its state machine's ARN where other stacks and tools find it, an SSM
parameter of a fixed name and an output of its job stack (``cronguard jobs --json`` names
both)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from cronguard.config import Environment
from stacks.job.cloudformation import ref
from stacks.job.shapes import Fragment, NamedJob


def handles(environment: Environment, jobs: Sequence[NamedJob]) -> Iterator[Fragment]:
    for named in jobs:
        job, ids = named.job, named.ids
        yield Fragment(
            ids.state_machine_parameter,
            {
                "Type": "AWS::SSM::Parameter",
                "Properties": {
                    "Name": environment.state_machine_parameter(job),
                    "Type": "String",
                    "Value": ref(ids.state_machine),
                    "Description": f"cronguard {environment.name}/{job.name}: the ARN of "
                    "its state machine",
                },
            },
            outputs={
                f"{ids.prefix}StateMachineArn": {
                    "Description": f"cronguard {environment.name}/{job.name}: its state machine",
                    "Value": ref(ids.state_machine),
                }
            },
        )
