"""Rendered job stacks: what each config feature renders to, and how they are checked.

The job stacks' templates are rendered in Python (``stacks/job_template.py``), not built
from constructs; these tests pin what a construct library would otherwise guarantee: stable
logical IDs, least-privilege IAM for images and secrets, the parameters the environment's
stack passes, deterministic output, and cdk-nag on every synth.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import aws_cdk as cdk
import pytest
import yaml

import app as cdk_app
from cronguard.config import Environment, load_environment
from cronguard.config.model import MAX_JOBS_PER_STACK
from stacks.checks import PLUGIN_NAME, acknowledgements, check_template
from stacks.job_template import (
    GUARD_TIMEOUT_SECONDS,
    PARAMETERS,
    JobResources,
    JobStackTemplate,
    template_body,
)
from tests.infra.conftest import Synthesized

Synth = Callable[[str], Synthesized]
NETWORK = {
    "vpc_id": "vpc-0123456789abcdef0",
    "subnet_ids": ["subnet-0123456789abcdef0"],
    "security_group_ids": ["sg-0123456789abcdef0"],
}
SSM_ARN = "arn:aws:ssm:eu-west-1:111122223333:parameter/reports/token"
SECRET_ARN = "arn:aws:secretsmanager:eu-west-1:111122223333:secret:reports/db-AbCdEf"
ECR_IMAGE = "111122223333.dkr.ecr.eu-west-1.amazonaws.com/reports/builder:2.1"


def environment_of(root: Path, jobs: dict[str, dict[str, Any]]) -> Environment:
    (root / "environments").mkdir(parents=True)
    (root / "jobs.yaml").write_text(yaml.safe_dump({"jobs": jobs}))
    (root / "environments" / "test.yaml").write_text(yaml.safe_dump({"network": NETWORK}))
    return load_environment("test", root)


def render(root: Path, **job: Any) -> dict[str, Any]:
    environment = environment_of(root, {"report": {"schedule": "rate(1 hour)", **job}})
    return JobStackTemplate(environment, environment.jobs).render()


def of_type(template: dict[str, Any], kind: str) -> dict[str, dict[str, Any]]:
    return {k: r for k, r in template["Resources"].items() if r["Type"] == kind}


def role_statements(template: dict[str, Any], logical_id: str) -> list[dict[str, Any]]:
    policies = template["Resources"][logical_id]["Properties"].get("Policies", [])
    return [s for policy in policies for s in policy["PolicyDocument"]["Statement"]]


def test_logical_ids_depend_on_the_job_name_alone_and_never_collide(tmp_path: Path) -> None:
    environment = environment_of(
        tmp_path,
        {name: {"schedule": "rate(1 hour)", "image": "repo/job:1"} for name in ("a-1b", "a1b")},
    )
    first, second = (JobResources.of(job) for job in environment.jobs)
    assert first.prefix != second.prefix
    assert first.prefix.startswith("A1b")
    assert JobResources.of(environment.jobs[0]) == first
    template = JobStackTemplate(environment, environment.jobs).render()
    assert all(logical_id.isalnum() for logical_id in template["Resources"])


def test_a_registry_image_gets_no_ecr_permissions(tmp_path: Path) -> None:
    template = render(tmp_path, image="public.ecr.aws/docker/library/python:3.13")
    ids = JobResources.of(load_environment("test", tmp_path).jobs[0])
    statements = role_statements(template, ids.execution_role)
    assert not any("ecr:" in json.dumps(s["Action"]) for s in statements)
    assert "Metadata" not in template["Resources"][ids.execution_role]  # nothing to accept


def test_a_private_ecr_image_may_be_pulled_from_its_repository_only(tmp_path: Path) -> None:
    template = render(tmp_path, image=ECR_IMAGE)
    ids = JobResources.of(load_environment("test", tmp_path).jobs[0])
    statements = role_statements(template, ids.execution_role)
    pull = next(s for s in statements if "ecr:BatchGetImage" in s["Action"])
    assert pull["Resource"] == {
        "Fn::Sub": "arn:${AWS::Partition}:ecr:eu-west-1:111122223333:repository/reports/builder"
    }
    token = next(s for s in statements if s["Action"] == "ecr:GetAuthorizationToken")
    assert token["Resource"] == "*"
    (container,) = template["Resources"][ids.task_definition]["Properties"]["ContainerDefinitions"]
    assert container["Image"] == ECR_IMAGE


def test_secrets_are_read_from_exactly_the_configured_arns(tmp_path: Path) -> None:
    template = render(
        tmp_path, image="repo/job:1", secrets={"TOKEN": SSM_ARN, "DB_PASSWORD": SECRET_ARN}
    )
    ids = JobResources.of(load_environment("test", tmp_path).jobs[0])
    statements = role_statements(template, ids.execution_role)
    by_action = {s["Action"]: s["Resource"] for s in statements if isinstance(s["Action"], str)}
    assert by_action["ssm:GetParameters"] == [SSM_ARN]
    assert by_action["secretsmanager:GetSecretValue"] == [SECRET_ARN]
    (container,) = template["Resources"][ids.task_definition]["Properties"]["ContainerDefinitions"]
    assert container["Secrets"] == [
        {"Name": "DB_PASSWORD", "ValueFrom": SECRET_ARN},
        {"Name": "TOKEN", "ValueFrom": SSM_ARN},
    ]
    assert "Environment" not in container


def test_a_secret_json_key_is_read_with_the_secrets_own_arn(tmp_path: Path) -> None:
    template = render(
        tmp_path,
        image="repo/job:1",
        secrets={"DB_USER": f"{SECRET_ARN}:username::", "DB_PASSWORD": f"{SECRET_ARN}:password::"},
    )
    ids = JobResources.of(load_environment("test", tmp_path).jobs[0])
    statements = role_statements(template, ids.execution_role)
    (read,) = [s for s in statements if s["Action"] == "secretsmanager:GetSecretValue"]
    assert read["Resource"] == [SECRET_ARN]
    (container,) = template["Resources"][ids.task_definition]["Properties"]["ContainerDefinitions"]
    assert {s["ValueFrom"] for s in container["Secrets"]} == {
        f"{SECRET_ARN}:username::",
        f"{SECRET_ARN}:password::",
    }


def test_a_flexible_window_is_rendered_in_minutes(tmp_path: Path) -> None:
    template = render(tmp_path, image="repo/job:1", flexible_window="15m")
    (schedule,) = of_type(template, "AWS::Scheduler::Schedule").values()
    assert schedule["Properties"]["FlexibleTimeWindow"] == {
        "Mode": "FLEXIBLE",
        "MaximumWindowInMinutes": 15,
    }


def test_rendering_is_deterministic_and_pure_json(tmp_path: Path) -> None:
    environment = environment_of(
        tmp_path, {f"job-{i}": {"schedule": "rate(1 hour)", "image": "r/j:1"} for i in range(5)}
    )
    first = json.dumps(JobStackTemplate(environment, environment.jobs).render())
    second = json.dumps(JobStackTemplate(environment, environment.jobs).render())
    assert first == second  # the asset hash, so a re-synth changes nothing
    assert "${Token[" not in first  # no unresolved CDK token can leak into a rendered stack


def test_each_job_stack_is_passed_every_parameter_its_template_declares(synth: Synth) -> None:
    synthesized = synth("dev")
    for job, template in synthesized.job_templates.items():
        declared = set(template.to_json()["Parameters"])
        assert declared == set(PARAMETERS)
        assert set(synthesized.job_parameters[job]) == declared, job


def test_job_stacks_carry_the_environment_tags_to_their_resources(synth: Synth) -> None:
    # CloudFormation propagates a nested stack's tags to the resources in it.
    stacks = synth("dev").template.find_resources("AWS::CloudFormation::Stack")
    assert stacks
    for resource in stacks.values():
        tags = {tag["Key"]: tag["Value"] for tag in resource["Properties"]["Tags"]}
        assert tags["cronguard:environment"] == "dev"
        assert tags["team"] == "data-platform"


@pytest.mark.parametrize("env_name", ["dev", "prod"])
def test_cdk_nag_finds_nothing_open_in_the_job_stacks_and_each_acceptance_says_why(
    synth: Synth, env_name: str
) -> None:
    files = synth(env_name).nested_files
    assert files
    for template_file in files:
        assert check_template(template_file) == []
        resources = json.loads(template_file.read_text())["Resources"]
        for resource in resources.values():
            for accepted in acknowledgements(resource):
                assert len(accepted["reason"]) > 20, accepted
                # The only kinds of finding a job accepts; a new kind needs a review.
                assert accepted["id"].split("[")[0] in {"AwsSolutions-IAM5", "AwsSolutions-ECS2"}


def test_the_check_sees_what_an_acceptance_would_hide(synth: Synth, tmp_path: Path) -> None:
    (template_file,) = [
        f
        for f in synth("dev").nested_files
        if "dev-nightly-report" in f.read_text()  # the job with plain environment variables
    ]
    template = json.loads(template_file.read_text())
    for resource in template["Resources"].values():
        resource.pop("Metadata", None)
    stripped = tmp_path / "stripped.json"
    stripped.write_text(json.dumps(template))
    findings = {finding.rule: finding.logical_ids for finding in check_template(stripped)}
    nightly = JobResources.of(load_environment("dev").job("nightly-report"))
    assert findings["AwsSolutions-ECS2"] == (nightly.task_definition,)
    assert nightly.guard_role in findings["AwsSolutions-IAM5[Resource::*]"]


def test_an_open_finding_in_a_job_stack_fails_the_synth(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    add = JobStackTemplate._add

    def without_ecs2(
        self: JobStackTemplate, logical_id: str, resource: Any, *accepted: Any
    ) -> None:
        add(self, logical_id, resource, *(a for a in accepted if a[0] != "ECS2"))

    monkeypatch.setattr(JobStackTemplate, "_add", without_ecs2)
    app = cdk.App(outdir=str(tmp_path), context={"env": "dev", "aws:cdk:bundling-stacks": []})
    cdk_app.build(app)
    with pytest.raises(
        RuntimeError, match=r"stacks/job_template.py[\s\S]*NightlyReport\w+TaskDefinition"
    ):
        app.synth()
    report = json.loads((tmp_path / "validation-report.json").read_text())
    (jobs,) = [r for r in report["pluginReports"] if r["pluginName"] == PLUGIN_NAME]
    assert jobs["conclusion"] == "failure"
    (violation,) = jobs["violations"]
    assert violation["ruleName"] == "AwsSolutions-ECS2"
    (where,) = violation["violatingConstructs"]
    nightly = JobResources.of(load_environment("dev").job("nightly-report"))
    assert where["cloudFormationResource"]["logicalId"] == nightly.task_definition


def test_a_full_job_stack_fits_cloudformations_limits(tmp_path: Path) -> None:
    """The fullest job stack config allows, with generous jobs, stays well inside the 500
    resources and the 1 MB template (by S3 URL) CloudFormation accepts."""
    jobs = {
        f"a-rather-long-job-name-for-a-nightly-batch-{index:02d}": {
            "schedule": "cron(0 3 * * ? *)",
            "timezone": "America/Argentina/Buenos_Aires",
            "description": "x" * 200,
            "image": ECR_IMAGE,
            "command": ["python", "-m", "reports.build", "--all", "--since", "24h"],
            "environment": {f"SETTING_{n}": "v" * 40 for n in range(8)},
            "secrets": {"TOKEN": SSM_ARN, "DB_PASSWORD": SECRET_ARN},
        }
        for index in range(MAX_JOBS_PER_STACK)
    }
    environment = environment_of(tmp_path, jobs)
    template = JobStackTemplate(environment, environment.jobs).render()
    size = len(template_body(template).encode())
    assert len(template["Resources"]) <= 450
    assert size <= 800_000, size


def test_job_stack_templates_are_assets_cdk_deploy_publishes(synth: Synth) -> None:
    synthesized = synth("dev")
    assembly = synthesized.template_file.parent
    assets = json.loads((assembly / "cronguard-dev.assets.json").read_text())["files"]
    stacks = synthesized.template.find_resources("AWS::CloudFormation::Stack")
    assert len(stacks) == len(load_environment("dev").jobs_by_stack())
    for resource in stacks.values():
        path = resource["Metadata"]["aws:asset:path"]  # how `cdk diff` finds nested stacks
        assert (assembly / path).is_file()
        (asset_hash,) = [h for h, a in assets.items() if a["source"]["path"] == path]
        assert assets[asset_hash]["source"]["packaging"] == "file"
        assert f"/{asset_hash}.json" in json.dumps(resource["Properties"]["TemplateURL"])


def test_the_guard_may_stop_and_wait_for_its_runs_tasks_in_the_jobs_cluster_only(
    tmp_path: Path,
) -> None:
    template = render(tmp_path, image="repo/job:1")
    ids = JobResources.of(load_environment("test", tmp_path).jobs[0])
    by_action = {
        action: statement
        for statement in role_statements(template, ids.guard_role)
        for action in (
            statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
        )
    }
    listing = by_action["ecs:ListTasks"]
    assert listing["Resource"] == "*"
    assert listing["Condition"] == {"ArnEquals": {"ecs:cluster": {"Ref": "ClusterArn"}}}
    for action in ("ecs:DescribeTasks", "ecs:StopTask"):
        resource = json.dumps(by_action[action]["Resource"])
        assert resource.endswith(':ecs:${AWS::Region}:${AWS::AccountId}:task/cronguard-test/*"}')
    guard = template["Resources"][ids.guard]["Properties"]
    assert guard["Environment"]["Variables"]["JOB_CLUSTER_ARN"] == {"Ref": "ClusterArn"}
    # Long enough to wait out a SIGTERM'd container's 30 s stop timeout, with margin.
    assert guard["Timeout"] == GUARD_TIMEOUT_SECONDS >= 90


def test_the_guard_is_told_its_jobs_container_and_task_family(tmp_path: Path) -> None:
    template = render(tmp_path, image="repo/job:1")
    ids = JobResources.of(load_environment("test", tmp_path).jobs[0])
    definition = json.loads(
        template["Resources"][ids.state_machine]["Properties"]["DefinitionString"]
    )
    (task_definition,) = of_type(template, "AWS::ECS::TaskDefinition").values()
    settings = definition["States"]["Guard"]["Arguments"]["Payload"]["job"]
    assert settings["container"] == task_definition["Properties"]["ContainerDefinitions"][0]["Name"]
    assert settings["taskFamily"] == task_definition["Properties"]["Family"]
    for finish in ("Record success", "Record failure"):
        assert definition["States"][finish]["Arguments"]["Payload"]["job"] == settings
