"""Hundreds of jobs: spread over job stacks under CloudFormation's limit, and never moved."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import aws_cdk as cdk
import pytest
import yaml

from cronguard.config import Environment, load_environment
from stacks.checks import add_compliance_checks
from stacks.environment_stack import CronguardStack
from tests.infra.test_template_checks import CFN_LINT

STACK_RESOURCE_LIMIT = 500
NETWORK = {
    "vpc_id": "vpc-0123456789abcdef0",
    "subnet_ids": ["subnet-0123456789abcdef0"],
    "security_group_ids": ["sg-0123456789abcdef0"],
}


def generated_config(root: Path, count: int) -> Environment:
    jobs = {
        f"job-{i:03d}": {"schedule": f"cron({i % 60} {i % 24} * * ? *)", "image": "repo/job:1"}
        for i in range(count)
    }
    (root / "environments").mkdir(parents=True)
    (root / "jobs.yaml").write_text(yaml.safe_dump({"jobs": jobs}))
    (root / "environments" / "big.yaml").write_text(yaml.safe_dump({"network": NETWORK}))
    return load_environment("big", root)


def placement(outdir: Path) -> dict[str, str]:
    """State machine name -> the template file (job stack) it is in, from the assembly."""
    where = {}
    for template_file in outdir.glob("*.template.json"):
        resources = json.loads(template_file.read_text())["Resources"]
        for resource in resources.values():
            if resource["Type"] == "AWS::StepFunctions::StateMachine":
                where[resource["Properties"]["StateMachineName"]] = template_file.name
    return where


def synthesize(environment: Environment, outdir: Path) -> Path:
    app = cdk.App(outdir=str(outdir), context={"aws:cdk:bundling-stacks": []})
    CronguardStack(app, "cronguard-big", environment=environment)
    add_compliance_checks(app)  # cdk-nag too: a finding fails the synth
    app.synth()
    return outdir


@pytest.fixture(scope="module")
def big(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    root = tmp_path_factory.mktemp("big")
    environment = generated_config(root / "config-250", 250)
    grown = generated_config(root / "config-251", 251)
    return {
        "environment": environment,
        "grown": grown,
        "out": synthesize(environment, root / "out-250"),
        "grown_out": synthesize(grown, root / "out-251"),
    }


def test_250_jobs_fit_in_stacks_under_the_resource_limit(big: dict[str, Any]) -> None:
    counts = {
        path.name: len(json.loads(path.read_text())["Resources"])
        for path in big["out"].glob("*.template.json")
    }
    assert len(counts) > 1 + 16  # the environment's stack and its job stacks
    assert max(counts.values()) <= STACK_RESOURCE_LIMIT - 50, counts
    assert len(placement(big["out"])) == 250


def test_the_environment_stack_and_the_fullest_job_stack_of_250_jobs_pass_cfn_lint(
    big: dict[str, Any],
) -> None:
    # Every job stack is rendered by the same code, so the fullest one stands for the rest;
    # `make bench` lints all of them (about 2 minutes here).
    templates = list(big["out"].glob("*.template.json"))
    job_stacks = [path for path in templates if path.name.endswith(".nested.template.json")]
    fullest = max(job_stacks, key=lambda path: len(json.loads(path.read_text())["Resources"]))
    shared = [path for path in templates if path not in job_stacks]
    assert len(shared) == 1 and len(job_stacks) > 16
    files = [str(path) for path in (*shared, fullest)]
    result = subprocess.run(
        [CFN_LINT, "--ignore-checks", "W3005", "--", *files],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]


def test_adding_a_job_moves_no_other_job(big: dict[str, Any]) -> None:
    before, after = placement(big["out"]), placement(big["grown_out"])
    assert set(after) - set(before) == {"big-job-250"}
    moved = {name: (before[name], after[name]) for name in before if before[name] != after[name]}
    assert moved == {}


def test_removing_jobs_moves_no_other_job(tmp_path: Path) -> None:
    environment = generated_config(tmp_path / "all", 60)
    fewer = environment.model_copy(update={"jobs": environment.jobs[::2]})
    for job in fewer.jobs:
        assert fewer.job_stack_of(job) == environment.job_stack_of(job)
