"""What the simulation deploys comes from the cloud assembly: the cleanup's statuses from its
synthesized rule, each function's handler from its synthesized ``Handler``."""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

from cronguard.config import Environment, load_environment
from cronguard_simulation.deploy import (
    HANDLERS,
    AssemblyError,
    LocalEnvironment,
    cleanup_statuses,
)
from cronguard_simulation.engine import LocalAws, TaskScript
from lambdas.cleanup.settings import HANDLER as CLEANUP_HANDLER
from lambdas.guard.settings import HANDLER as GUARD_HANDLER
from stacks.environment_stack import CronguardStack
from testkit.apps import project_app
from testkit.configs import NETWORK
from tests.local.conftest import JOB, JOB_SETTINGS

Template = dict[str, Any]

# A job that brings its own task definition: the template holds only its ARN.
OWN_JOB = "own"
OWN_JOB_SETTINGS = {
    "schedule": "rate(1 hour)",
    "task_definition_arn": "arn:aws:ecs:us-east-1:123456789012:task-definition/reports-nightly:7",
    "container": "app",
    "pass_roles": ["arn:aws:iam::123456789012:role/reports-task"],
}


@pytest.fixture(scope="module")
def synthesized(tmp_path_factory: pytest.TempPathFactory) -> tuple[Environment, Path]:
    root = tmp_path_factory.mktemp("assembly")
    config = root / "config"
    (config / "environments").mkdir(parents=True)
    jobs = {JOB: JOB_SETTINGS, OWN_JOB: OWN_JOB_SETTINGS}
    (config / "jobs.yaml").write_text(yaml.safe_dump({"jobs": jobs}))
    (config / "environments" / "local.yaml").write_text(yaml.safe_dump({"network": NETWORK}))
    environment = load_environment("local", config)
    app = project_app(root / "cdk.out")
    CronguardStack(app, environment.stack_name, environment=environment)
    app.synth()
    return environment, root / "cdk.out"


def edited(
    synthesized: tuple[Environment, Path],
    target: Path,
    edit: Callable[[Template, list[Template]], None],
) -> Path:
    """A copy of the assembly whose parent and job stack templates ``edit`` changed."""
    environment, assembly = synthesized
    shutil.copytree(assembly, target)
    parent_file = target / f"{environment.stack_name}.template.json"
    nested_files = sorted(target.glob("*.nested.template.json"))
    parent = json.loads(parent_file.read_text())
    nested = [json.loads(path.read_text()) for path in nested_files]
    edit(parent, nested)
    parent_file.write_text(json.dumps(parent))
    for path, template in zip(nested_files, nested, strict=True):
        path.write_text(json.dumps(template))
    return target


def of_type(template: Template, kind: str) -> dict[str, Template]:
    return {key: r for key, r in template["Resources"].items() if r["Type"] == kind}


def cleanup_id(parent: Template) -> str:
    (found,) = [
        key
        for key, function in of_type(parent, "AWS::Lambda::Function").items()
        if function["Properties"]["Handler"] == CLEANUP_HANDLER
    ]
    return found


def cleanup_pattern(parent: Template) -> Template:
    (pattern,) = [
        rule["Properties"]["EventPattern"]
        for rule in of_type(parent, "AWS::Events::Rule").values()
        if "EventPattern" in rule["Properties"]
    ]
    return dict(pattern)


def aborted_mid_run(environment: Environment, assembly: Path) -> tuple[str, bool]:
    """Deploy, stop an execution while its task runs: its slot's status in the ledger, and
    whether the lease is still held."""
    slot = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    scheduled = slot.strftime("%Y-%m-%dT%H:%M:%SZ")
    with LocalAws(default_task_script=TaskScript(duration_seconds=30)) as aws:
        local = LocalEnvironment(aws, environment, assembly).deploy()
        job = local.jobs[JOB]
        execution = aws.start(job.state_machine_arn, "stopped", {"scheduledTime": scheduled})
        deadline = time.monotonic() + 30
        while not aws.tasks_started(job.task_definition_arn):
            assert time.monotonic() < deadline, "the run's task never started"
            time.sleep(0.05)
        aws.sfn.stop_execution(executionArn=execution)
        assert aws.wait(execution)["status"] == "ABORTED"
        item = local.slot_item(JOB, scheduled)
        assert item is not None
        return item["status"]["S"], local.lease(JOB) is not None


def test_the_cleanup_gets_the_statuses_its_synthesized_rule_names(synthesized, tmp_path):
    environment, assembly = synthesized
    parent = json.loads((assembly / f"{environment.stack_name}.template.json").read_text())
    assert cleanup_statuses(parent, cleanup_id(parent)) == set(
        cleanup_pattern(parent)["detail"]["status"]
    )
    assert aborted_mid_run(environment, assembly) == ("ABORTED", False)

    def without_aborted(parent: Template, nested: list[Template]) -> None:
        pattern = cleanup_pattern(parent)
        pattern["detail"]["status"].remove("ABORTED")
        for rule in of_type(parent, "AWS::Events::Rule").values():
            if "EventPattern" in rule["Properties"]:
                rule["Properties"]["EventPattern"] = pattern

    # A rule without ABORTED: nobody releases an aborted run's lease (until it expires).
    unsubscribed = edited(synthesized, tmp_path / "cdk.out", without_aborted)
    assert aborted_mid_run(environment, unsubscribed) == ("RUNNING", True)


@pytest.mark.parametrize(
    ("field", "value", "error"),
    [
        ("source", ["aws.ecs"], "not Step Functions' execution status changes"),
        ("detail-type", ["ECS Task State Change"], "not Step Functions' execution status"),
        ("detail", {}, "names no execution statuses"),
    ],
)
def test_a_cleanup_rule_on_other_events_is_refused(synthesized, field, value, error):
    environment, assembly = synthesized
    parent = json.loads((assembly / f"{environment.stack_name}.template.json").read_text())
    for rule in of_type(parent, "AWS::Events::Rule").values():
        if "EventPattern" in rule["Properties"]:
            rule["Properties"]["EventPattern"][field] = value
    with pytest.raises(AssemblyError, match=error):
        cleanup_statuses(parent, cleanup_id(parent))


def test_a_guard_naming_another_handler_is_refused(synthesized, tmp_path):
    environment, _ = synthesized

    def cleanup_as_guard(parent: Template, nested: list[Template]) -> None:
        for template in nested:
            for function in of_type(template, "AWS::Lambda::Function").values():
                function["Properties"]["Handler"] = CLEANUP_HANDLER

    assembly = edited(synthesized, tmp_path / "cdk.out", cleanup_as_guard)
    with (
        LocalAws() as aws,
        pytest.raises(AssemblyError, match=f"guard: handler '{CLEANUP_HANDLER}', expected"),
    ):
        LocalEnvironment(aws, environment, assembly).deploy()


def test_each_handler_the_engine_runs_is_the_one_its_path_names():
    """What Lambda imports for a function's ``Handler`` is what the engine calls for it."""
    assert set(HANDLERS) == {GUARD_HANDLER, CLEANUP_HANDLER}
    for path, handler in HANDLERS.items():
        module, _, name = path.rpartition(".")
        assert (handler.__module__, handler.__name__) == (module, name)


def test_a_job_with_its_own_task_definition_runs_on_a_stand_in_of_that_family(synthesized):
    environment, assembly = synthesized
    scheduled = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    slot = scheduled.strftime("%Y-%m-%dT%H:%M:%SZ")
    with LocalAws() as aws:
        own = LocalEnvironment(aws, environment, assembly).deploy().jobs[OWN_JOB]
        assert ":task-definition/reports-nightly:" in own.task_definition_arn

        assert aws.run(own.state_machine_arn, "own", {"scheduledTime": slot})["status"] == (
            "SUCCEEDED"
        )
        (task,) = aws.tasks_started(own.task_definition_arn)
        assert (task.job_container, task.environment["CRONGUARD_JOB"]) == ("app", OWN_JOB)
