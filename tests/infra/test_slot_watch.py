"""The slot watch in the synthesized environment: its manifest, schedule, IAM and alarms."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from aws_cdk.assertions import Template

from cronguard.config import Environment, load_environment
from cronguard.config.model import ENVIRONMENT_TAG
from lambdas.core import metrics_contract as names
from lambdas.core import variables
from lambdas.slot_watch import manifest as manifest_module
from lambdas.slot_watch import settings as watch_settings
from lambdas.slot_watch.manifest import FILE_NAME, Shard, parse
from stacks.environment_stack import CronguardStack
from stacks.slot_watch import CHECK_EVERY
from testkit.apps import project_app
from testkit.configs import NETWORK
from tests.infra.conftest import Synthesized

JOBS: dict[str, Any] = {
    "nightly": {
        "schedule": "cron(0 3 * * ? *)",
        "timezone": "Europe/Berlin",
        "image": "repo/job:1",
        "flexible_window": "10m",
        "catch_up": {"window": "6h"},
    },
    "hourly": {"schedule": "rate(1 hour)", "image": "repo/job:1", "alert_after": "45m"},
    "off": {"schedule": "rate(1 hour)", "image": "repo/job:1", "enabled": False},
}


def resources(template: Template, kind: str) -> dict[str, Any]:
    return dict(template.find_resources(kind))


def watch_function(template: Template) -> dict[str, Any]:
    functions = resources(template, "AWS::Lambda::Function")
    (function,) = [
        f for f in functions.values() if f["Properties"]["Handler"] == watch_settings.HANDLER
    ]
    return dict(function)


def role_statements(template: Template, function: dict[str, Any]) -> list[dict[str, Any]]:
    role = function["Properties"]["Role"]["Fn::GetAtt"][0]
    policies = resources(template, "AWS::IAM::Policy")
    statements: list[dict[str, Any]] = []
    for policy in policies.values():
        if {"Ref": role} in policy["Properties"]["Roles"]:
            statements += policy["Properties"]["PolicyDocument"]["Statement"]
    return statements


def actions(statement: dict[str, Any]) -> list[str]:
    found = statement["Action"]
    return [found] if isinstance(found, str) else list(found)


def manifest_of(template: Template, assembly: Path, function: dict[str, Any]) -> bytes:
    (layer_ref,) = function["Properties"]["Layers"]
    layer = resources(template, "AWS::Lambda::LayerVersion")[layer_ref["Ref"]]
    asset_hash = layer["Properties"]["Content"]["S3Key"].removesuffix(".zip")
    return (assembly / f"asset.{asset_hash}" / FILE_NAME).read_bytes()


def build(tmp: Path, jobs: dict[str, Any]) -> tuple[Environment, Template, Path]:
    config = tmp / "config"
    (config / "environments").mkdir(parents=True, exist_ok=True)
    (config / "jobs.yaml").write_text(yaml.safe_dump({"jobs": jobs}))
    (config / "environments" / "watch.yaml").write_text(yaml.safe_dump({"network": NETWORK}))
    environment = load_environment("watch", config)
    app = project_app(tmp / "cdk.out")
    CronguardStack(app, environment.stack_name, environment=environment)
    assembly = Path(app.synth().directory)
    template = json.loads((assembly / f"{environment.stack_name}.template.json").read_text())
    return environment, Template.from_json(template), assembly


SHARD_SIZE = 2  # so that three jobs make two shards


@pytest.fixture(scope="module")
def watched(tmp_path_factory: pytest.TempPathFactory) -> tuple[Environment, Template, Path]:
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(manifest_module, "SHARD_SIZE", SHARD_SIZE)
        return build(tmp_path_factory.mktemp("watch"), JOBS)


def test_the_manifest_is_config_with_every_job_and_its_catch_up(
    watched: tuple[Environment, Template, Path],
) -> None:
    environment, template, assembly = watched
    manifest = parse(manifest_of(template, assembly, watch_function(template)))
    assert manifest.environment == "watch"
    assert manifest.retention == environment.ledger.retention
    by_name = {job.name: job for job in manifest.jobs}
    assert sorted(by_name) == ["hourly", "nightly", "off"]
    nightly = by_name["nightly"]
    assert nightly.schedule.expression == "cron(0 3 * * ? *)"
    assert nightly.schedule.timezone == "Europe/Berlin"
    assert nightly.schedule.grace.total_seconds() == 15 * 60  # 10m window + 5m
    assert nightly.catch_up is not None and nightly.catch_up.total_seconds() == 6 * 3600
    assert nightly.state_machine == environment.state_machine_name(environment.job("nightly"))
    assert not by_name["off"].enabled and by_name["hourly"].catch_up is None
    assert by_name["hourly"].alert_after == timedelta(minutes=45)
    assert nightly.alert_after is None


def test_the_watch_checks_each_shard_every_five_minutes_with_its_variables(
    watched: tuple[Environment, Template, Path],
) -> None:
    _, template, _ = watched
    function = watch_function(template)
    variables_set = function["Properties"]["Environment"]["Variables"]
    assert set(variables_set) == {
        variables.LEDGER_TABLE,
        variables.ENVIRONMENT,
        variables.STATE_MACHINE_ARN_PREFIX,
    }
    prefix = json.dumps(variables_set[variables.STATE_MACHINE_ARN_PREFIX])
    assert ":stateMachine:" in prefix
    rules = [
        rule["Properties"]
        for rule in resources(template, "AWS::Events::Rule").values()
        if "missed slots" in rule["Properties"].get("Description", "")
    ]
    every = f"rate({int(CHECK_EVERY.to_minutes())} minutes)"
    assert every == "rate(5 minutes)"
    assert [rule["ScheduleExpression"] for rule in rules] == [every, every]
    # One rule per shard (three jobs, two at most per shard), the shard in its input.
    shards = [Shard.of(json.loads(rule["Targets"][0]["Input"])) for rule in rules]
    assert sorted(shards, key=lambda shard: shard.index) == [Shard(0, 2), Shard(1, 2)]


def test_the_watch_may_write_in_the_jobs_partitions_and_its_own_and_start_the_environments(
    watched: tuple[Environment, Template, Path],
) -> None:
    _, template, _ = watched
    statements = role_statements(template, watch_function(template))
    by_action = {action: s for s in statements for action in actions(s)}
    assert by_action["dynamodb:Query"]["Condition"] == {
        "ForAllValues:StringLike": {"dynamodb:LeadingKeys": ["job#*", "slot-watch#*"]}
    }
    assert by_action["dynamodb:PutItem"] is by_action["dynamodb:Query"]
    assert by_action["dynamodb:UpdateItem"] is by_action["dynamodb:Query"]
    # The environment's state machines: its name prefix and its tag, however many jobs.
    start = by_action["states:StartExecution"]
    (resource,) = [start["Resource"]] if isinstance(start["Resource"], dict) else start["Resource"]
    assert json.dumps(resource).endswith(':stateMachine:watch-*"]]}')
    assert start["Condition"] == {"StringEquals": {f"aws:ResourceTag/{ENVIRONMENT_TAG}": "watch"}}
    assert not {"dynamodb:Scan", "dynamodb:DeleteItem", "states:StopExecution"} & set(by_action)


def test_without_catch_up_the_watch_cannot_start_anything(
    synth: Callable[[str], Synthesized],
) -> None:
    template = synth("dev").template
    granted = {a for s in role_statements(template, watch_function(template)) for a in actions(s)}
    assert "states:StartExecution" not in granted
    assert {"dynamodb:Query", "dynamodb:PutItem", "dynamodb:UpdateItem"} <= granted


def test_one_missed_slots_alarm_per_environment_to_its_topic(
    synth: Callable[[str], Synthesized],
) -> None:
    template = synth("dev").template
    alarms = resources(template, "AWS::CloudWatch::Alarm")
    missed = [
        a["Properties"]
        for a in alarms.values()
        if a["Properties"].get("MetricName") == names.MISSED_SLOTS
        and a["Properties"]["Statistic"] == "Sum"
    ]
    (alarm,) = missed
    assert {d["Name"]: d["Value"] for d in alarm["Dimensions"]} == {
        names.ENVIRONMENT_DIMENSION: "dev",
        names.SERVICE_DIMENSION: names.SERVICE,
    }
    assert alarm["ComparisonOperator"] == "GreaterThanOrEqualToThreshold"
    assert alarm["Threshold"] == 1 and alarm["Period"] == 300
    (topic,) = resources(template, "AWS::SNS::Topic")
    assert alarm["AlarmActions"] == [{"Ref": topic}]


def test_a_config_change_updates_the_manifest_layer_but_not_the_shared_code(
    tmp_path: Path,
) -> None:
    # Synthesized back to back: the shared asset hashes lambdas/ as it is on disk.
    _, before, _ = build(tmp_path / "before", JOBS)
    changed = {**JOBS, "hourly": {**JOBS["hourly"], "schedule": "rate(2 hours)"}}
    _, after, _ = build(tmp_path / "after", changed)

    def code_and_layer(template: Template) -> tuple[Any, Any]:
        function = watch_function(template)
        (layer_ref,) = function["Properties"]["Layers"]
        layer = resources(template, "AWS::Lambda::LayerVersion")[layer_ref["Ref"]]
        return function["Properties"]["Code"], layer["Properties"]["Content"]

    code_before, layer_before = code_and_layer(before)
    code_after, layer_after = code_and_layer(after)
    assert code_before == code_after
    assert layer_before != layer_after
    # The same config gives the same bytes: synth stays deterministic.
    _, again, _ = build(tmp_path / "again", JOBS)
    assert code_and_layer(again)[1] == layer_before
