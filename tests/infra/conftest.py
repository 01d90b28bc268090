"""Synthesize the shipped environments once per session, with cdk-nag on, as `cdk synth` does."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aws_cdk as cdk
import pytest
from aws_cdk.assertions import Template

import app as cdk_app
from stacks.environment_stack import CronguardStack


@dataclass(frozen=True)
class Synthesized:
    stack: CronguardStack
    template: Template  # the environment's stack
    template_file: Path
    job_templates: dict[str, Template]  # job name -> the template of its job stack
    job_parameters: dict[str, dict[str, Any]]  # job name -> what its job stack is passed
    nested_files: list[Path]

    def parameter(self, job: str, reference: Any) -> Any:
        """What a ``{"Ref": <parameter>}`` in a job stack stands for in the parent."""
        return self.job_parameters[job][reference["Ref"]]


def synthesize(env_name: str, outdir: Path) -> Synthesized:
    # Lambda assets are bundled by the CLI's synth; tests skip bundling (no pip in the loop).
    app = cdk.App(
        outdir=str(outdir),
        context={"env": env_name, "aws:cdk:bundling-stacks": []},
    )
    stack = cdk_app.build(app)
    assembly = app.synth()
    # Synth is offline: a lookup would leave missing context (and make `cdk synth` call AWS).
    manifest = json.loads((Path(assembly.directory) / "manifest.json").read_text())
    assert "missing" not in manifest, manifest["missing"]
    parent_file = Path(assembly.directory) / stack.template_file
    parent = Template.from_json(json.loads(parent_file.read_text()))
    parent_resources = parent.to_json()["Resources"]
    job_templates: dict[str, Template] = {}
    job_parameters: dict[str, dict[str, Any]] = {}
    for job_stack in stack.job_stacks.values():
        template_file = Path(assembly.directory) / job_stack.template_file
        template = Template.from_json(json.loads(template_file.read_text()))
        logical_id = stack.resolve(job_stack.resource.logical_id)
        parameters = parent_resources[logical_id]["Properties"]["Parameters"]
        for name in job_stack.jobs:
            job_templates[name] = template
            job_parameters[name] = parameters
    nested_files = sorted(Path(assembly.directory).glob("*.nested.template.json"))
    return Synthesized(stack, parent, parent_file, job_templates, job_parameters, nested_files)


@pytest.fixture(scope="session")
def synth(tmp_path_factory: pytest.TempPathFactory) -> Callable[[str], Synthesized]:
    cache: dict[str, Synthesized] = {}

    def get(env_name: str) -> Synthesized:
        if env_name not in cache:
            cache[env_name] = synthesize(env_name, tmp_path_factory.mktemp(f"cdk-{env_name}"))
        return cache[env_name]

    return get
