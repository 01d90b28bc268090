"""An organisation's guardrails, applied to the app, reach every job resource.

Organisations require a permissions boundary on every role, or tags on every resource,
and apply them as CDK Aspects to the whole app. The job stacks are nested stacks in the
construct tree (``stacks/job_stack.py``), so these reach their rendered resources exactly as
they reach the environment stack's constructs.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import aws_cdk as cdk
import pytest
from aws_cdk import aws_iam as iam

import app as cdk_app
from stacks.environment_stack import CronguardStack
from testkit.apps import project_app

BOUNDARY = "arn:aws:iam::123456789012:policy/org/batch-boundary"
ORG_TAG = ("org:cost-centre", "cc-4711")
NOT_TAGGABLE = {"AWS::Scheduler::Schedule"}  # CloudFormation takes no Tags on a schedule


@pytest.fixture(scope="module")
def guarded(tmp_path_factory: pytest.TempPathFactory) -> tuple[CronguardStack, Path]:
    outdir = tmp_path_factory.mktemp("guardrails")
    app = project_app(outdir, {"env": "dev"})
    stack = cdk_app.build(app)  # with cdk-nag, as `cdk synth` runs
    boundary = iam.ManagedPolicy.from_managed_policy_arn(stack, "OrgBoundary", BOUNDARY)
    iam.PermissionsBoundary.of(app).apply(boundary)
    cdk.Tags.of(app).add(*ORG_TAG)
    app.synth()
    return stack, outdir


def templates(stack: CronguardStack, outdir: Path) -> dict[str, dict[str, Any]]:
    files = [stack.template_file, *(s.template_file for s in stack.job_stacks.values())]
    return {name: json.loads((outdir / name).read_text()) for name in files}


def tags_of(resource: dict[str, Any]) -> set[tuple[str, str]]:
    """A resource's tags, written as a list of Key/Value or (SSM, for one) as a map."""
    tags = resource["Properties"].get("Tags", [])
    if isinstance(tags, dict):
        return set(tags.items())
    return {(tag["Key"], tag["Value"]) for tag in tags}


def test_a_boundary_applied_to_the_app_lands_on_every_role_in_every_template(
    guarded: tuple[CronguardStack, Path],
) -> None:
    stack, outdir = guarded
    roles = {
        (name, logical_id): resource["Properties"]
        for name, template in templates(stack, outdir).items()
        for logical_id, resource in template["Resources"].items()
        if resource["Type"] == "AWS::IAM::Role"
    }
    job_roles = [key for key in roles if key[0] != stack.template_file]
    # 4 per job (task, execution, guard, state machine) and each job stack's scheduler role.
    assert len(job_roles) == 4 * 3 + len(stack.job_stacks)
    for key, role in roles.items():
        assert role.get("PermissionsBoundary") == BOUNDARY, key


def test_an_app_level_tag_lands_on_every_taggable_job_resource(
    guarded: tuple[CronguardStack, Path],
) -> None:
    stack, outdir = guarded
    rendered = templates(stack, outdir)
    kinds = set()
    for job_stack in stack.job_stacks.values():
        resources = rendered[job_stack.template_file]["Resources"]
        included = [c for c in job_stack.node.find_all() if cdk.CfnResource.is_cfn_resource(c)]
        assert len(included) == len(resources)  # every resource is a construct of the app
        for logical_id, resource in resources.items():
            kinds.add(resource["Type"])
            if resource["Type"] not in NOT_TAGGABLE:
                assert ORG_TAG in tags_of(resource), logical_id
    assert kinds - NOT_TAGGABLE >= {
        "AWS::IAM::Role",
        "AWS::Lambda::Function",
        "AWS::StepFunctions::StateMachine",
        "AWS::ECS::TaskDefinition",
        "AWS::Logs::LogGroup",
        "AWS::CloudWatch::Alarm",
    }
