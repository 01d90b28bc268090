"""Thousands of jobs: placed in job stacks that never move a job, each within CloudFormation's
limits. The full sizes (1,000 and 3,000 jobs through the real `npx cdk synth`) are measured
by `bench/scale.py`; here, placement at 3,000 jobs without a synth, and one synth that
fills job stacks to the brim and opens one more."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from cronguard.config import Environment, load_environment
from cronguard.config.loader import record_job_stacks
from cronguard.config.placement import MAX_JOBS_PER_STACK, Placement, stack_id
from stacks.cleanup import ended_pattern, machine_groups
from stacks.limits import EVENT_PATTERN_CHARACTERS, first_limit_hit, size_of, templates
from testkit.assembly import nested_templates, state_machine_stacks
from testkit.generated import (
    ENVIRONMENT,
    generated_config,
    generated_jobs,
    synthesize,
    write_config,
)
from tests.infra.ended_executions import (
    ACCOUNT,
    REGION,
    cleanup_rules,
    deployed,
    hearing,
    machine_arn,
    status_change,
)
from tests.infra.test_template_checks import CFN_LINT


def moved(before: Placement, after: Placement) -> dict[str, tuple[int, int]]:
    return {
        job: (index, after.stacks[job])
        for job, index in before.stacks.items()
        if job in after.stacks and after.stacks[job] != index
    }


def test_3000_jobs_fill_job_stacks_and_adding_removing_renaming_moves_none(
    tmp_path: Path,
) -> None:
    root = write_config(tmp_path, generated_jobs(3000))
    first = load_environment(ENVIRONMENT, root)
    assert record_job_stacks(first, root, strict=False) is not None  # the lock file
    placed = first.placement()
    counts = {index: len(jobs) for index, jobs in placed.by_stack().items()}
    assert max(counts.values()) == MAX_JOBS_PER_STACK
    assert len(counts) == -(-3000 // MAX_JOBS_PER_STACK)  # every stack full but the last
    assert sorted(counts) == list(range(len(counts)))  # the 32 hashed over, then opened ones

    jobs = generated_jobs(3000)
    jobs["job-new"] = jobs["job-000"]  # added
    del jobs["job-001"]  # removed
    jobs["job-renamed"] = jobs.pop("job-002")  # renamed
    after = load_environment(ENVIRONMENT, write_config(root, jobs)).placement()
    assert moved(placed, after) == {}
    assert after.removed == ("job-001", "job-002")
    assert set(after.added) == {"job-new", "job-renamed"}
    assert max(len(jobs) for jobs in after.by_stack().values()) == MAX_JOBS_PER_STACK


def _longest_region() -> str:
    """The region with the longest code, from cfn-lint's list of regions (imported here:
    cfn-lint imports sympy, about 3 s of every xdist worker's collection)."""
    from cfnlint.helpers import REGIONS

    return str(max(REGIONS, key=len))


def test_3000_state_machines_are_named_in_event_patterns_eventbridge_accepts(
    tmp_path: Path,
) -> None:
    environment = load_environment(ENVIRONMENT, write_config(tmp_path, generated_jobs(3000)))
    machines = sorted(environment.state_machine_name(job) for job in environment.jobs)
    groups = machine_groups(machines, region=environment.region)
    assert [name for group in groups for name in group] == machines
    longest_region = _longest_region()
    for group in groups:
        pattern = ended_pattern(group, account=ACCOUNT, region=longest_region)
        assert len(json.dumps(pattern)) <= EVENT_PATTERN_CHARACTERS
    assert len(groups) < 100  # each a rule on the account's default event bus (an adjustable quota)


@pytest.fixture(scope="module")
def brim(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """80 jobs hashed over 2 job stacks: both fill to 35 and a third is opened for the rest."""
    root = tmp_path_factory.mktemp("brim")
    environment = generated_config(root / "config", 80, job_stacks=2)
    return {"environment": environment, "out": synthesize(environment, root / "out")}


def test_full_job_stacks_open_another_and_each_job_is_where_its_placement_says(
    brim: dict[str, Any],
) -> None:
    environment: Environment = brim["environment"]
    stacks = environment.placement().stacks
    assert sorted({len(jobs) for jobs in environment.placement().by_stack().values()}) == [
        10,
        MAX_JOBS_PER_STACK,
    ]
    parent_file = brim["out"] / f"{environment.stack_name}.template.json"
    assert sorted(nested_templates(parent_file)) == [stack_id(index) for index in (0, 1, 2)]
    expected = {f"big-{job}": stack_id(index) for job, index in stacks.items()}
    assert state_machine_stacks(parent_file) == expected


def test_every_template_is_within_cloudformations_limits(brim: dict[str, Any]) -> None:
    assert first_limit_hit(brim["out"]) is None
    sizes = [size_of(path) for path in templates(brim["out"])]
    assert len(sizes) == 4 and max(size.resources for size in sizes) > 350  # a full job stack


def test_the_environment_stack_and_a_full_job_stack_pass_cfn_lint(brim: dict[str, Any]) -> None:
    # Every job stack is rendered by the same code, so a full one stands for the rest.
    files = templates(brim["out"])
    job_stacks = [path for path in files if path.name.endswith(".nested.template.json")]
    fullest = max(job_stacks, key=lambda path: size_of(path).resources)
    shared = [path for path in files if path not in job_stacks]
    assert len(shared) == 1
    result = subprocess.run(
        [CFN_LINT, "--ignore-checks", "W3005", "--", *map(str, (*shared, fullest))],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]


def test_the_cleanup_hears_every_state_machine_through_patterns_eventbridge_accepts(
    brim: dict[str, Any],
) -> None:
    """80 state machines are more than one event pattern (at most 2,048 characters) names:
    each is in exactly one of the cleanup's rules, and each rule's pattern fits even in the
    region with the longest code. The rules share one invoke permission and one dead-letter
    grant: a function policy holds at most 20 KB, a queue policy at most 20 statements."""
    environment: Environment = brim["environment"]
    parent = json.loads((brim["out"] / f"{environment.stack_name}.template.json").read_text())
    rules = cleanup_rules(parent)
    assert len(rules) > 1
    longest_region = _longest_region()
    for rule in rules.values():
        pattern = deployed(rule["EventPattern"], region=longest_region)
        assert len(json.dumps(pattern)) <= EVENT_PATTERN_CHARACTERS
    for job in environment.jobs:
        machine = machine_arn(environment.state_machine_name(job))
        event = status_change(machine, "FAILED", account=ACCOUNT, region=REGION)
        assert len(hearing(parent, event, account=ACCOUNT, region=REGION)) == 1, job.name
    resources = parent["Resources"].values()
    invoked_by_events = [
        resource
        for resource in resources
        if resource["Type"] == "AWS::Lambda::Permission"
        and resource["Properties"]["Principal"] == "events.amazonaws.com"
    ]
    queue_grants = [
        statement
        for resource in resources
        if resource["Type"] == "AWS::SQS::QueuePolicy"
        for statement in resource["Properties"]["PolicyDocument"]["Statement"]
    ]
    # One per scheduled rule (reconcile, sweep, slot watch) and one for all the ended rules.
    assert len(invoked_by_events) == 4
    assert len(queue_grants) < 20


def test_a_state_machine_logging_outside_vendedlogs_is_reported(
    brim: dict[str, Any], tmp_path: Path
) -> None:
    fullest = max(templates(brim["out"]), key=lambda path: size_of(path).resources)
    template = json.loads(fullest.read_text())
    template["Resources"]["ExecutionLogs"]["Properties"].pop("LogGroupName")
    (tmp_path / fullest.name).write_text(json.dumps(template))
    problem = first_limit_hit(tmp_path)
    assert problem is not None and "logs to a group outside /aws/vendedlogs/" in problem


def test_a_template_over_the_resource_limit_is_reported(tmp_path: Path) -> None:
    resources = {f"Topic{i}": {"Type": "AWS::SNS::Topic"} for i in range(501)}
    (tmp_path / "big.template.json").write_text(json.dumps({"Resources": resources}))
    assert first_limit_hit(tmp_path) == "big.template.json: 501 resources; at most 500"
