"""Handles for other stacks and tools: each job's state machine ARN in an SSM parameter of a
fixed name and in its job stack's outputs, as `cronguard jobs --json` names them."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from cronguard.cli.jobs import jobs_document
from cronguard.config import load_environment
from stacks.job.shapes import JobResources
from tests.configs import REPOSITORY_CONFIG
from tests.infra.conftest import Synthesized

Synth = Callable[[str], Synthesized]


@pytest.mark.parametrize("env_name", ["dev", "prod"])
def test_every_job_has_its_state_machine_arn_in_ssm_and_in_an_output(
    synth: Synth, env_name: str
) -> None:
    synthesized = synth(env_name)
    environment = load_environment(env_name, REPOSITORY_CONFIG)
    documented = {job["name"]: job for job in jobs_document(environment)["jobs"]}
    assert set(documented) == {job.name for job in environment.jobs}
    for job in environment.jobs:
        template = synthesized.job_templates[job.name].to_json()
        ids = JobResources.of(job)
        parameter = template["Resources"][ids.state_machine_parameter]["Properties"]
        assert parameter["Name"] == documented[job.name]["stateMachineArnParameter"]
        assert parameter["Value"] == {"Ref": ids.state_machine}
        machine = template["Resources"][ids.state_machine]["Properties"]
        assert documented[job.name]["stateMachineArn"].endswith(
            f":stateMachine:{machine['StateMachineName']}"
        )
        assert template["Outputs"][f"{ids.prefix}StateMachineArn"]["Value"] == {
            "Ref": ids.state_machine
        }
