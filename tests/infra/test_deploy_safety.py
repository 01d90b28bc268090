"""Deploy safety: no refactor may silently rename or replace a deployed resource.

CloudFormation replaces a resource whose logical ID, type or physical name changes; for a
state machine that terminates its running executions, for a table it means a new, empty one.
``deploy_safety_snapshot.json`` records, for the shipped environments and a generated one
of 250 jobs, every template's resources (the environment's stack, and each job stack under
its logical ID in the parent): logical ID -> [type, physical name or null]. Every recorded
resource must still be there, of the same type, with the same name.

New resources are fine, but are recorded too so that they are protected from then on:
``python -m tests.infra.test_deploy_safety`` adds them to the snapshot, and refuses (naming
them) if anything recorded was renamed, removed or changed type. A deliberate replacement is
recorded with ``--accept-replacement <logical ID>`` (in every template), and
docs/upgrading.md says what it does at deploy.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from testkit.assembly import nested_templates
from testkit.generated import generated_config
from testkit.generated import synthesize as synthesize_generated
from tests.infra.conftest import Synthesized, synthesize

Synth = Callable[[str], Synthesized]
ENVIRONMENTS = ["dev", "prod"]
# A generated environment of this many jobs (``testkit.generated.generated_config``), recorded as
# ``generated-<count>``: the shipped ones hold three jobs, too few to show that jobs keep
# their job stacks.
GENERATED_JOBS = 250
GENERATED = f"generated-{GENERATED_JOBS}"
SNAPSHOT = Path(__file__).with_name("deploy_safety_snapshot.json")
# The property that is a resource's physical name, for the types that have one; a name that
# appears, disappears or changes replaces the resource just as a new logical ID does.
PHYSICAL_NAME = {
    "AWS::CloudWatch::Alarm": "AlarmName",
    "AWS::CloudWatch::Dashboard": "DashboardName",
    "AWS::DynamoDB::Table": "TableName",
    "AWS::ECS::Cluster": "ClusterName",
    "AWS::ECS::TaskDefinition": "Family",
    "AWS::Events::Rule": "Name",
    "AWS::IAM::Policy": "PolicyName",
    "AWS::IAM::Role": "RoleName",
    "AWS::KMS::Alias": "AliasName",
    "AWS::Lambda::Function": "FunctionName",
    "AWS::Logs::LogGroup": "LogGroupName",
    "AWS::SNS::Topic": "TopicName",
    "AWS::SQS::Queue": "QueueName",
    "AWS::Scheduler::Schedule": "Name",
    "AWS::StepFunctions::StateMachine": "StateMachineName",
}

Identities = dict[str, dict[str, list[Any]]]  # template -> logical ID -> [type, name]


def _identities(template: dict[str, Any]) -> dict[str, list[Any]]:
    found = {}
    for logical_id, resource in template["Resources"].items():
        name = resource.get("Properties", {}).get(PHYSICAL_NAME.get(resource["Type"], ""))
        found[logical_id] = [resource["Type"], name]
    return found


def identities(parent_file: Path) -> Identities:
    """Every resource of a synthesized environment: its stack's, and each job stack's under
    the job stack's logical ID."""
    parent = json.loads(parent_file.read_text())
    found = {parent_file.name.removesuffix(".template.json"): _identities(parent)}
    for logical_id, template_file in nested_templates(parent_file).items():
        found[logical_id] = _identities(json.loads(template_file.read_text()))
    return found


def replacements(recorded: Identities, current: Identities) -> list[str]:
    """Each recorded resource that is gone, or now of another type or name."""
    problems = []
    for template, resources in recorded.items():
        for logical_id, (kind, name) in resources.items():
            now = current.get(template, {}).get(logical_id)
            if now is None:
                problems.append(f"{template}/{logical_id} ({kind}, {name}) is gone")
            elif now != [kind, name]:
                problems.append(f"{template}/{logical_id}: was {[kind, name]}, now {now}")
    return problems


def additions(recorded: Identities, current: Identities) -> list[str]:
    return [
        f"{template}/{logical_id}"
        for template, resources in current.items()
        for logical_id in resources
        if logical_id not in recorded.get(template, {})
    ]


@pytest.mark.parametrize("env_name", ENVIRONMENTS)
def test_no_recorded_resource_is_renamed_replaced_or_removed(synth: Synth, env_name: str) -> None:
    recorded = json.loads(SNAPSHOT.read_text())[env_name]
    current = identities(synth(env_name).template_file)
    assert replacements(recorded, current) == []
    assert additions(recorded, current) == [], (
        "new resources: record them with `python -m tests.infra.test_deploy_safety`"
    )


def test_every_job_of_a_generated_environment_keeps_its_stack_and_logical_ids(
    tmp_path: Path,
) -> None:
    """250 jobs over many job stacks: the snapshot was recorded when jobs were placed by a
    hash of their names, so this also proves the move to recorded placement moved none."""
    recorded = json.loads(SNAPSHOT.read_text())[GENERATED]
    current = generated_identities(tmp_path)
    assert replacements(recorded, current) == []
    assert additions(recorded, current) == []


@pytest.mark.parametrize("env_name", ENVIRONMENTS)
def test_the_snapshot_protects_every_state_machine_and_its_name(env_name: str) -> None:
    recorded = json.loads(SNAPSHOT.read_text())[env_name]
    machines = {
        name
        for resources in recorded.values()
        for kind, name in resources.values()
        if kind == "AWS::StepFunctions::StateMachine"
    }
    assert machines == {
        f"{env_name}-{job}" for job in ("nightly-report", "hourly-sync", "weekly-cleanup")
    }


def test_a_renamed_state_machine_is_caught() -> None:
    recorded: Identities = {
        "Jobs03": {"SyncStateMachine": ["AWS::StepFunctions::StateMachine", "dev-sync"]}
    }
    renamed: Identities = {
        "Jobs03": {"SyncStateMachine": ["AWS::StepFunctions::StateMachine", "dev-sync2"]}
    }
    moved: Identities = {"Jobs04": recorded["Jobs03"]}
    assert replacements(recorded, renamed) == [
        "Jobs03/SyncStateMachine: was ['AWS::StepFunctions::StateMachine', 'dev-sync'], "
        "now ['AWS::StepFunctions::StateMachine', 'dev-sync2']"
    ]
    assert replacements(recorded, moved) == [
        "Jobs03/SyncStateMachine (AWS::StepFunctions::StateMachine, dev-sync) is gone"
    ]


def _dump(snapshot: dict[str, Identities]) -> str:
    """JSON with one line per resource, so a change to the snapshot reads as a diff."""
    environments = []
    for env_name, templates in sorted(snapshot.items()):
        blocks = []
        for template, resources in sorted(templates.items()):
            rows = ",\n".join(
                f"   {json.dumps(logical_id)}: {json.dumps(identity)}"
                for logical_id, identity in sorted(resources.items())
            )
            blocks.append(f"  {json.dumps(template)}: {{\n{rows}\n  }}")
        environments.append(f" {json.dumps(env_name)}: {{\n" + ",\n".join(blocks) + "\n }")
    return "{\n" + ",\n".join(environments) + "\n}\n"


def generated_identities(root: Path) -> Identities:
    """The identities of the generated environment, synthesized under ``root``."""
    environment = generated_config(root / "config", GENERATED_JOBS)
    outdir = synthesize_generated(environment, root / "out")
    return identities(outdir / f"{environment.stack_name}.template.json")


def record(accepted: frozenset[str] = frozenset()) -> int:
    """Add new resources to the snapshot; refuse if a recorded one changed, unless its
    logical ID is ``accepted``."""
    recorded: dict[str, Identities] = json.loads(SNAPSHOT.read_text()) if SNAPSHOT.exists() else {}
    merged: dict[str, Identities] = {}
    problems = []
    for env_name in [*ENVIRONMENTS, GENERATED]:
        with tempfile.TemporaryDirectory() as outdir:
            if env_name == GENERATED:
                current = generated_identities(Path(outdir))
            else:
                current = identities(synthesize(env_name, Path(outdir)).template_file)
        before = recorded.get(env_name, {})
        kept = {
            template: {key: value for key, value in resources.items() if key not in accepted}
            for template, resources in before.items()
        }
        problems += [f"{env_name}: {problem}" for problem in replacements(kept, current)]
        merged[env_name] = current
    if problems:
        print("not recorded: these would replace deployed resources\n" + "\n".join(problems))
        return 1
    SNAPSHOT.write_text(_dump(merged))
    print(f"recorded {SNAPSHOT}")
    return 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="Record the deploy-safety snapshot.")
    parser.add_argument("--accept-replacement", action="append", default=[], metavar="ID")
    sys.exit(record(frozenset(parser.parse_args().accept_replacement)))
