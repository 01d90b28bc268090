"""Synthesize the shipped environments once per session, with cdk-nag on, as `cdk synth` does."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import aws_cdk as cdk
import pytest
from aws_cdk.assertions import Template

import app as cdk_app
from stacks.environment_stack import CronguardStack


@dataclass(frozen=True)
class Synthesized:
    stack: CronguardStack
    template: Template
    template_file: Path


def synthesize(env_name: str, outdir: Path) -> Synthesized:
    # Lambda assets are bundled by the CLI's synth; tests skip bundling (no pip in the loop).
    app = cdk.App(
        outdir=str(outdir),
        context={"env": env_name, "aws:cdk:bundling-stacks": []},
    )
    stack = cdk_app.build(app)
    assembly = app.synth()
    template_file = Path(assembly.directory) / stack.template_file
    return Synthesized(stack, Template.from_stack(stack), template_file)


@pytest.fixture(scope="session")
def synth(tmp_path_factory: pytest.TempPathFactory) -> Callable[[str], Synthesized]:
    cache: dict[str, Synthesized] = {}

    def get(env_name: str) -> Synthesized:
        if env_name not in cache:
            cache[env_name] = synthesize(env_name, tmp_path_factory.mktemp(f"cdk-{env_name}"))
        return cache[env_name]

    return get
