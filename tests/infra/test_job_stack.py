"""Rendered job stacks: what each config feature renders to, and how they are checked.

The job stacks' resources are rendered in Python (``stacks/job/``), not built
from constructs, then included into a ``NestedStack``; these tests pin what a construct
library would otherwise guarantee: stable logical IDs, least-privilege IAM for images and
secrets, the parameters the environment's stack passes, deterministic output, and cdk-nag
on every synth, with each accepted finding next to its resource.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

import app as cdk_app
from cronguard.config import Environment, load_environment
from cronguard.config.model import MAX_JOBS_PER_STACK
from lambdas.core import variables
from lambdas.core.guard_contract import job_of_definition
from stacks.environment_stack import CronguardStack
from stacks.job import template as job_template
from stacks.job.guard import GUARD_TIMEOUT_SECONDS
from stacks.job.shapes import JobResources
from stacks.job.template import JobStackTemplate
from testkit.apps import project_app
from testkit.configs import NETWORK
from tests.configs import REPOSITORY_CONFIG
from tests.infra.conftest import Synthesized

Synth = Callable[[str], Synthesized]
SSM_ARN = "arn:aws:ssm:eu-west-1:111122223333:parameter/reports/token"
SECRET_ARN = "arn:aws:secretsmanager:eu-west-1:111122223333:secret:reports/db-AbCdEf"
ECR_IMAGE = "111122223333.dkr.ecr.eu-west-1.amazonaws.com/reports/builder:2.1"


def environment_of(root: Path, jobs: dict[str, dict[str, Any]], **settings: Any) -> Environment:
    (root / "environments").mkdir(parents=True)
    (root / "jobs.yaml").write_text(yaml.safe_dump({"jobs": jobs}))
    (root / "environments" / "test.yaml").write_text(
        yaml.safe_dump({"network": NETWORK, **settings})
    )
    return load_environment("test", root)


def renderer(root: Path, **job: Any) -> JobStackTemplate:
    environment = environment_of(root, {"report": {"schedule": "rate(1 hour)", **job}})
    rendered = JobStackTemplate(environment, environment.jobs)
    rendered.render()
    return rendered


def render(root: Path, **job: Any) -> dict[str, Any]:
    return renderer(root, **job).render()


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


def test_a_job_is_exactly_its_job_resources_and_the_module_says_how_many(tmp_path: Path) -> None:
    environment = environment_of(
        tmp_path,
        {name: {"schedule": "rate(1 hour)", "image": "r/j:1"} for name in ("report", "backup")},
    )
    one, two = (
        JobStackTemplate(environment, environment.jobs[:count]).render()["Resources"]
        for count in (1, 2)
    )
    second = JobResources.of(environment.jobs[1])
    # The rest is shared by the jobs; a job has a log group of its own only when it sets the
    # retention of its container's logs, and a running-long alarm only with alert_after.
    optional = {second.container_logs, second.running_long_alarm}
    assert set(two) - set(one) == set(second.logical_ids) - optional
    said = " ".join((job_template.__doc__ or "").split())
    assert (
        f"a job is {len(second.logical_ids) - len(optional)} resources (``JobResources``)" in said
    )


def test_a_registry_image_gets_no_ecr_permissions(tmp_path: Path) -> None:
    rendered = renderer(tmp_path, image="public.ecr.aws/docker/library/python:3.13")
    ids = JobResources.of(load_environment("test", tmp_path).jobs[0])
    statements = role_statements(rendered.render(), ids.execution_role)
    assert not any("ecr:" in json.dumps(s["Action"]) for s in statements)
    assert ids.execution_role not in rendered.acknowledgements  # nothing to accept


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
        assert declared
        assert set(synthesized.job_parameters[job]) == declared, job


def test_job_stacks_carry_the_environment_tags_to_their_resources(synth: Synth) -> None:
    # CloudFormation propagates a nested stack's tags to the resources in it.
    synthesized = synth("dev")
    stacks = synthesized.template.find_resources("AWS::CloudFormation::Stack")
    assert stacks
    for resource in stacks.values():
        tags = {tag["Key"]: tag["Value"] for tag in resource["Properties"]["Tags"]}
        assert tags["cronguard:environment"] == "dev"
        assert tags["team"] == "data-platform"


def nag_report(assembly: Path) -> dict[str, Any]:
    report = json.loads((assembly / "validation-report.json").read_text())
    (nag,) = [r for r in report["pluginReports"] if r["pluginName"] == "AwsSolutions"]
    return dict(nag)


@pytest.mark.parametrize("env_name", ["dev", "prod"])
def test_cdk_nag_checks_each_job_resource_and_each_acceptance_is_on_it_with_a_reason(
    synth: Synth, env_name: str
) -> None:
    nag = nag_report(synth(env_name).template_file.parent)
    assert nag["violations"] == []
    job_resource = re.compile(rf"^cronguard-{env_name}/Jobs\d\d/Template/(\w+)$")
    accepted_on = set()
    for accepted in nag["suppressedViolations"]:
        for where in accepted["violatingConstructs"]:
            found = job_resource.match(where["constructPath"])
            if not found:
                continue
            accepted_on.add(found[1])
            assert accepted["acknowledgedAt"] == where["constructPath"]  # not a whole stack
            assert len(accepted["reason"]) > 20, accepted
            # The only kinds of finding a job accepts; a new kind needs a review. SF2 (no
            # X-Ray on the state machine): X-Ray is off everywhere, see NO_TRACING.
            assert accepted["ruleName"].split("[")[0] in {
                "AwsSolutions-IAM5",
                "AwsSolutions-ECS2",
                "AwsSolutions-SF2",
            }
    for job in load_environment(env_name, REPOSITORY_CONFIG).jobs:
        ids = JobResources.of(job)  # each job's roles were checked, and accept what they need
        assert {ids.guard_role, ids.state_machine_role, ids.state_machine} <= accepted_on, job.name


def test_a_job_resource_without_its_acceptances_fails_the_synth(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    add = JobStackTemplate._add

    def without_acceptances(
        self: JobStackTemplate, logical_id: str, resource: Any, *accepted: Any
    ) -> None:
        add(self, logical_id, resource)

    monkeypatch.setattr(JobStackTemplate, "_add", without_acceptances)
    app = project_app(tmp_path, {"env": "dev"})
    cdk_app.build(app)
    with pytest.raises(
        RuntimeError,
        match=r"NightlyReport\w+TaskDefinition\s[^\n]*\n\s*"
        r"Acknowledge with .AwsSolutions::AwsSolutions-ECS2",
    ):
        app.synth()
    nag = nag_report(tmp_path)
    assert nag["conclusion"] == "failure"
    open_findings = {
        (violation["ruleName"], where["constructPath"].rsplit("/", 1)[-1])
        for violation in nag["violations"]
        for where in violation["violatingConstructs"]
    }
    nightly = JobResources.of(load_environment("dev", REPOSITORY_CONFIG).job("nightly-report"))
    assert ("AwsSolutions-ECS2", nightly.task_definition) in open_findings
    assert ("AwsSolutions-IAM5[Resource::*]", nightly.guard_role) in open_findings


def test_a_full_job_stack_fits_cloudformations_limits(tmp_path: Path) -> None:
    """The fullest job stack config allows, with generous jobs and the environment's tags on
    each resource, as synthesized, stays well inside the 500 resources and the 1 MB
    template (by S3 URL) CloudFormation accepts."""
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
    tags = {f"cost-allocation-{n}": "v" * 40 for n in range(4)}
    environment = environment_of(tmp_path / "config", jobs, job_stacks=1, tags=tags)
    app = project_app(tmp_path / "out", {"aws:cdk:enable-path-metadata": True})
    stack = CronguardStack(app, "cronguard-test", environment=environment)
    app.synth()
    (job_stack,) = stack.job_stacks.values()
    template_file = tmp_path / "out" / job_stack.template_file
    assert len(json.loads(template_file.read_text())["Resources"]) <= 450
    assert template_file.stat().st_size <= 800_000, template_file.stat().st_size


def test_job_stack_templates_are_assets_cdk_deploy_publishes(synth: Synth) -> None:
    synthesized = synth("dev")
    assembly = synthesized.template_file.parent
    assets = json.loads((assembly / "cronguard-dev.assets.json").read_text())["files"]
    stacks = synthesized.template.find_resources("AWS::CloudFormation::Stack")
    assert sorted(stacks) == [
        f"Jobs{i:02d}" for i in load_environment("dev", REPOSITORY_CONFIG).jobs_by_stack()
    ]
    for resource in stacks.values():
        (asset_hash,) = re.findall(r"/([0-9a-f]{64})\.json", json.dumps(resource["Properties"]))
        source = assets[asset_hash]["source"]
        assert source["packaging"] == "file"
        # The suffix tools (and the local simulation) find job stacks' templates by.
        assert source["path"].endswith(".nested.template.json")
        assert (assembly / source["path"]).is_file()


def test_the_state_machine_may_tag_only_the_tasks_it_starts_in_the_jobs_cluster(
    tmp_path: Path,
) -> None:
    # Run job propagates the task definition's tags (PropagateTags), which ECS authorizes
    # as ecs:TagResource by the caller of RunTask.
    template = render(tmp_path, image="repo/job:1")
    ids = JobResources.of(load_environment("test", tmp_path).jobs[0])
    (tagging,) = [
        s
        for s in role_statements(template, ids.state_machine_role)
        if "ecs:TagResource" in s["Action"]
    ]
    assert tagging["Action"] == "ecs:TagResource"
    assert tagging["Condition"] == {"StringEquals": {"ecs:CreateAction": "RunTask"}}
    assert tagging["Resource"] == {
        "Fn::Sub": "arn:${AWS::Partition}:ecs:${AWS::Region}:${AWS::AccountId}"
        ":task/cronguard-test/*"
    }
    definition = template["Resources"][ids.state_machine]["Properties"]["DefinitionString"]
    assert json.loads(definition)["States"]["Run job"]["Arguments"]["PropagateTags"] == (
        "TASK_DEFINITION"
    )


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
    assert guard["Environment"]["Variables"][variables.JOB_CLUSTER_ARN] == {"Ref": "ClusterArn"}
    # Long enough to wait out a SIGTERM'd container's 30 s stop timeout, with margin.
    assert guard["Timeout"] == GUARD_TIMEOUT_SECONDS >= 90


def test_the_guard_is_told_its_jobs_container_and_task_family(tmp_path: Path) -> None:
    template = render(tmp_path, image="repo/job:1")
    ids = JobResources.of(load_environment("test", tmp_path).jobs[0])
    text = template["Resources"][ids.state_machine]["Properties"]["DefinitionString"]
    definition = json.loads(text)
    (task_definition,) = of_type(template, "AWS::ECS::TaskDefinition").values()
    settings = job_of_definition(text)  # as the cleanup reads them back
    assert settings["container"] == task_definition["Properties"]["ContainerDefinitions"][0]["Name"]
    assert settings["taskFamily"] == task_definition["Properties"]["Family"]
    for finish in ("Record success", "Record failure"):
        assert definition["States"][finish]["Arguments"]["Payload"]["job"] == settings


def test_a_renamed_jobs_guard_is_told_its_old_name_and_may_only_read_and_check_it(
    tmp_path: Path,
) -> None:
    template = render(tmp_path / "renamed", image="repo/job:1", renamed_from="old-report")
    plain = render(tmp_path / "plain", image="repo/job:1")
    ids = JobResources.of(load_environment("test", tmp_path / "renamed").jobs[0])
    definition = json.loads(
        template["Resources"][ids.state_machine]["Properties"]["DefinitionString"]
    )
    settings = definition["States"]["Guard"]["Arguments"]["Payload"]["job"]
    assert settings["renamedFrom"] == "old-report"
    statements = role_statements(template, ids.guard_role)
    added = [s for s in statements if s not in role_statements(plain, ids.guard_role)]
    # The old name's partition is read (one BatchGetItem over both) and its lease checked in
    # the claim: never written.
    assert added == [
        {
            "Effect": "Allow",
            "Action": ["dynamodb:BatchGetItem", "dynamodb:ConditionCheckItem"],
            "Resource": {"Ref": "LedgerTableArn"},
            "Condition": {
                "ForAllValues:StringEquals": {
                    "dynamodb:LeadingKeys": ["job#report", "job#old-report"]
                }
            },
        }
    ]
    for finish in ("Record success", "Record failure"):
        assert definition["States"][finish]["Arguments"]["Payload"]["job"] == settings
    # Nothing else changes: a job without the key renders as before.
    for state in ("Guard", "Record success", "Record failure"):
        del definition["States"][state]["Arguments"]["Payload"]["job"]["renamedFrom"]
    plain_definition = json.loads(
        plain["Resources"][ids.state_machine]["Properties"]["DefinitionString"]
    )
    assert definition == plain_definition
