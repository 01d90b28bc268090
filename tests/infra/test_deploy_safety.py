"""Deploy safety: no refactor may silently rename or replace a deployed resource.

CloudFormation replaces a resource whose logical ID, type or physical name changes; for a
state machine that terminates its running executions, for a table it means a new, empty one,
for an SSM parameter a handle others read is gone. ``deploy_safety_snapshot.json`` records,
for the shipped environments and a generated one of 250 jobs, every template's resources
(the environment's stack, and each job stack under its logical ID in the parent): logical
ID -> [type, {name property: value}]. The name properties of a type are those its
CloudFormation resource schema (cfn-lint's copy) makes create-only and calls a name
(``name_properties``). Every recorded resource must still be there, of the same type, with
the same names.

New resources are fine, but are recorded too so that they are protected from then on:
``python -m tests.infra.test_deploy_safety`` adds them to the snapshot, and refuses (naming
them) if anything recorded was renamed, removed or changed type. A deliberate replacement is
recorded with ``--accept-replacement <logical ID>`` (in every template), and
docs/upgrading.md says what it does at deploy.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import sys
import tempfile
from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from cronguard.config import load_environment
from testkit.assembly import nested_templates
from testkit.generated import generated_config
from testkit.generated import synthesize as synthesize_generated
from tests.configs import REPOSITORY_CONFIG
from tests.infra.conftest import Synthesized, synthesize

Synth = Callable[[str], Synthesized]
ENVIRONMENTS = ["dev", "prod"]
# A generated environment of this many jobs (``testkit.generated.generated_config``), recorded as
# ``generated-<count>``: the shipped ones hold three jobs, too few to show that jobs keep
# their job stacks.
GENERATED_JOBS = 250
GENERATED = f"generated-{GENERATED_JOBS}"
SNAPSHOT = Path(__file__).with_name("deploy_safety_snapshot.json")
# Create-only properties are the same in every region's schema (cfn-lint 1.58.0, every type
# cronguard renders): one region's copy is read.
SCHEMA_REGION = "us-east-1"
# ECS names a task definition by its family (its identifier is the revision's ARN).
NAMES_NOT_CALLED_NAME = frozenset({"Family"})
_ASSET_KEY = re.compile(r"/([0-9a-f]{64})\.json")

Identities = dict[str, dict[str, list[Any]]]  # template -> logical ID -> [type, names]


@cache
def name_properties(kind: str) -> tuple[str, ...]:
    """The properties that name a resource of type ``kind``: the top-level create-only
    properties (a new value replaces the resource) of its CloudFormation schema whose name
    ends in ``Name`` (``TableName``, an SSM parameter's ``Name``), and ``Family``."""
    # Imported here: cfn-lint imports sympy, about 3 s of every xdist worker's collection.
    from cfnlint.schema import PROVIDER_SCHEMA_MANAGER

    schema = PROVIDER_SCHEMA_MANAGER.get_resource_schema(SCHEMA_REGION, kind).schema
    create_only = [
        path.removeprefix("/properties/") for path in schema.get("createOnlyProperties", [])
    ]
    return tuple(
        sorted(
            name
            for name in create_only
            if "/" not in name and (name.endswith("Name") or name in NAMES_NOT_CALLED_NAME)
        )
    )


def _identities(template: dict[str, Any]) -> dict[str, list[Any]]:
    found = {}
    for logical_id, resource in template["Resources"].items():
        properties = resource.get("Properties", {})
        names = {
            name: properties[name]
            for name in name_properties(resource["Type"])
            if name in properties
        }
        found[logical_id] = [resource["Type"], names]
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
        for logical_id, (kind, names) in resources.items():
            now = current.get(template, {}).get(logical_id)
            if now is None:
                problems.append(f"{template}/{logical_id} ({kind}, {names}) is gone")
            elif now != [kind, names]:
                problems.append(f"{template}/{logical_id}: was {[kind, names]}, now {now}")
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


def recorded_names(env_name: str, kind: str, name_property: str) -> set[Any]:
    """The recorded ``name_property`` of every resource of type ``kind`` of an environment."""
    recorded = json.loads(SNAPSHOT.read_text())[env_name]
    return {
        names[name_property]
        for resources in recorded.values()
        for recorded_kind, names in resources.values()
        if recorded_kind == kind
    }


@pytest.mark.parametrize("env_name", ENVIRONMENTS)
def test_the_snapshot_protects_every_state_machine_and_its_name(env_name: str) -> None:
    assert recorded_names(env_name, "AWS::StepFunctions::StateMachine", "StateMachineName") == {
        f"{env_name}-{job}" for job in ("nightly-report", "hourly-sync", "weekly-cleanup")
    }


@pytest.mark.parametrize("env_name", ENVIRONMENTS)
def test_the_snapshot_protects_every_ssm_parameter_name(env_name: str) -> None:
    environment = load_environment(env_name, REPOSITORY_CONFIG)
    assert recorded_names(env_name, "AWS::SSM::Parameter", "Name") == {
        environment.state_machine_parameter(job) for job in environment.jobs
    }


def test_a_renamed_ssm_parameter_is_caught(synth: Synth, tmp_path: Path) -> None:
    """An SSM parameter's name is its identity: a new name replaces the parameter, and
    whoever reads the old one (other stacks, pipelines) finds it gone."""
    assembly = synth("dev").template_file.parent
    for path in [*assembly.glob("*.template.json"), *assembly.glob("*.assets.json")]:
        shutil.copy(path, tmp_path / path.name)
    parent_file = tmp_path / synth("dev").template_file.name
    recorded = identities(parent_file)
    job_stack, template_file = sorted(nested_templates(parent_file).items())[0]
    template = json.loads(template_file.read_text())
    (logical_id,) = [
        key
        for key, resource in template["Resources"].items()
        if resource["Type"] == "AWS::SSM::Parameter"
    ]
    name = template["Resources"][logical_id]["Properties"]["Name"]
    template["Resources"][logical_id]["Properties"]["Name"] = name + "-renamed"
    template_file.write_text(json.dumps(template))
    assert replacements(recorded, identities(parent_file)) == [
        f"{job_stack}/{logical_id}: was ['AWS::SSM::Parameter', {{'Name': '{name}'}}], "
        f"now ['AWS::SSM::Parameter', {{'Name': '{name}-renamed'}}]"
    ]


def test_the_names_recorded_are_those_whose_change_replaces_the_resource() -> None:
    """From CloudFormation's resource schemas (cfn-lint's copy): the create-only properties
    that name the resource. An alarm's MetricName or a policy's PolicyName changes in place."""
    assert name_properties("AWS::SSM::Parameter") == ("Name",)
    assert name_properties("AWS::StepFunctions::StateMachine") == ("StateMachineName",)
    assert name_properties("AWS::Logs::LogGroup") == ("LogGroupName",)
    assert name_properties("AWS::CloudWatch::Alarm") == ("AlarmName",)
    assert name_properties("AWS::Events::Rule") == ("Name",)
    assert name_properties("AWS::ECS::TaskDefinition") == ("Family",)
    assert name_properties("AWS::IAM::Policy") == ()


@pytest.mark.parametrize("env_name", ENVIRONMENTS)
def test_no_named_resource_of_the_environment_stack_outlives_a_failed_create(
    synth: Synth, env_name: str
) -> None:
    """A resource of a fixed name that a create rollback keeps (``Retain``) makes the retry
    of a failed first deploy fail ("already exists"): those are ``RetainExceptOnCreate``."""
    template = json.loads(synth(env_name).template_file.read_text())
    named = {
        logical_id: resource.get("DeletionPolicy", "Delete")
        for logical_id, resource in template["Resources"].items()
        if set(name_properties(resource["Type"])) & set(resource.get("Properties", {}))
    }
    assert "LedgerTable9343E4AA" in named
    assert {key: policy for key, policy in named.items() if policy == "Retain"} == {}


def test_a_renamed_state_machine_is_caught() -> None:
    machine = "AWS::StepFunctions::StateMachine"
    recorded: Identities = {
        "Jobs03": {"SyncStateMachine": [machine, {"StateMachineName": "dev-sync"}]}
    }
    renamed: Identities = {
        "Jobs03": {"SyncStateMachine": [machine, {"StateMachineName": "dev-sync2"}]}
    }
    moved: Identities = {"Jobs04": recorded["Jobs03"]}
    assert replacements(recorded, renamed) == [
        f"Jobs03/SyncStateMachine: was ['{machine}', {{'StateMachineName': 'dev-sync'}}], "
        f"now ['{machine}', {{'StateMachineName': 'dev-sync2'}}]"
    ]
    assert replacements(recorded, moved) == [
        f"Jobs03/SyncStateMachine ({machine}, {{'StateMachineName': 'dev-sync'}}) is gone"
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
