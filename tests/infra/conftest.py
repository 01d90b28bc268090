"""Synthesize the shipped environments once per session, with cdk-nag on, as `cdk synth` does."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from aws_cdk.assertions import Template

from cronguard.config import load_environment
from testkit.assembly import nested_templates, state_machine_stacks
from tests.assemblies import environment_assembly, synthesize_environment
from tests.configs import REPOSITORY_CONFIG


@dataclass(frozen=True)
class Synthesized:
    environment: str  # the manifest's: aws://<account>/<region> (unknown-… when agnostic)
    template: Template  # the environment's stack
    template_file: Path
    job_templates: dict[str, Template]  # job name -> the template of its job stack
    job_parameters: dict[str, dict[str, Any]]  # job name -> what its job stack is passed
    nested_files: list[Path]

    def parameter(self, job: str, reference: Any) -> Any:
        """What a ``{"Ref": <parameter>}`` in a job stack stands for in the parent."""
        return self.job_parameters[job][reference["Ref"]]


def synthesize(env_name: str, outdir: Path) -> Synthesized:
    return read_assembly(env_name, synthesize_environment(env_name, outdir))


def read_assembly(env_name: str, assembly: Path) -> Synthesized:
    """The environment's templates as synth wrote them into ``assembly``: its stack, and each
    job's job stack (the nested stack whose template holds the job's state machine)."""
    environment = load_environment(env_name, REPOSITORY_CONFIG)
    manifest = json.loads((assembly / "manifest.json").read_text())
    # Synth is offline: a lookup would leave missing context (and make `cdk synth` call AWS).
    assert "missing" not in manifest, manifest["missing"]
    artifact = manifest["artifacts"][environment.stack_name]
    parent_file = assembly / artifact["properties"]["templateFile"]
    parent = json.loads(parent_file.read_text())
    job_stacks = {
        logical_id: Template.from_json(json.loads(template_file.read_text()))
        for logical_id, template_file in nested_templates(parent_file).items()
    }
    where = state_machine_stacks(parent_file)
    job_templates: dict[str, Template] = {}
    job_parameters: dict[str, dict[str, Any]] = {}
    for job in environment.jobs:
        logical_id = where[environment.state_machine_name(job)]
        job_templates[job.name] = job_stacks[logical_id]
        job_parameters[job.name] = parent["Resources"][logical_id]["Properties"]["Parameters"]
    nested_files = sorted(assembly.glob("*.nested.template.json"))
    return Synthesized(
        artifact["environment"],
        Template.from_json(parent),
        parent_file,
        job_templates,
        job_parameters,
        nested_files,
    )


@pytest.fixture(scope="session")
def synth(tmp_path_factory: pytest.TempPathFactory) -> Callable[[str], Synthesized]:
    """The shipped environments, synthesized once per session (``tests/assemblies.py``)."""
    cache: dict[str, Synthesized] = {}

    def get(env_name: str) -> Synthesized:
        if env_name not in cache:
            assembly = environment_assembly(tmp_path_factory, env_name)
            cache[env_name] = read_assembly(env_name, assembly)
        return cache[env_name]

    return get
