"""Owners: a team's jobs alarm its topic as well as the environment's, one topic per team.

One synth (with cdk-nag) of an environment whose jobs name three teams: ``payments`` gives
e-mail addresses (cronguard creates its topic), ``data`` its own topic, and ``platform``, the
environment's default owner, neither (a tag only). ``pay-in`` and ``warehouse`` also alert
their owners of a run still running past ``alert_after``.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Mapping
from typing import Any

import pytest

from cronguard.config import Environment, load_environment
from cronguard.config.model import OWNER_TAG, Job
from lambdas.core import metrics_contract as names
from stacks.job.shapes import JobResources
from stacks.job.template import PARAMETERS
from testkit.assembly import nested_templates
from testkit.configs import write_config
from testkit.generated import synthesize
from tests.infra.test_alarm_delivery import (
    Account,
    JobStacks,
    Synth,
    delivery_problems,
    every_alarm,
)

ENVIRONMENT = "own"
IMAGE = "123456789012.dkr.ecr.eu-west-1.amazonaws.com/job:1"
DATA_TOPIC = "arn:aws:sns:eu-west-1:111122223333:data-alarms"
PAYMENTS = {"team": "payments", "email": ["payments-oncall@example.com"]}
JOBS: dict[str, dict[str, Any]] = {
    "pay-in": {"owner": PAYMENTS, "alert_after": "45m"},
    "pay-out": {"owner": PAYMENTS},
    "warehouse": {"owner": {"team": "data", "topic_arn": DATA_TOPIC}, "alert_after": "30m"},
    "housekeeping": {},  # the environment's owner
}


@pytest.fixture(scope="module")
def owned(tmp_path_factory: pytest.TempPathFactory) -> tuple[Environment, dict[str, Any]]:
    """The environment, and its synthesized templates: the parent's and each job's stack."""
    root = tmp_path_factory.mktemp("owners")
    jobs = {
        name: {"schedule": "rate(1 hour)", "image": IMAGE, **settings}
        for name, settings in JOBS.items()
    }
    environment = load_environment(
        ENVIRONMENT,
        write_config(root / "config", jobs, name=ENVIRONMENT, owner={"team": "platform"}),
    )
    parent_file = (
        synthesize(environment, root / "cdk.out") / f"{environment.stack_name}.template.json"
    )
    parent = json.loads(parent_file.read_text())
    stacks = {
        logical_id: (
            json.loads(template_file.read_text()),
            parent["Resources"][logical_id]["Properties"]["Parameters"],
        )
        for logical_id, template_file in nested_templates(parent_file).items()
    }
    return environment, {"parent": parent, "stacks": stacks}


def of_type(template: Mapping[str, Any], kind: str) -> dict[str, Any]:
    return {k: r for k, r in template["Resources"].items() if r["Type"] == kind}


def job_alarm(
    templates: dict[str, Any], job: str, *, running_long: bool = False
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The job's alarm (or its running-long alarm), and the parameters its job stack is
    passed."""
    ids = JobResources.of(Job(name=job, schedule="rate(1 hour)", image=IMAGE))
    logical_id = ids.running_long_alarm if running_long else ids.alarm
    for template, parameters in templates["stacks"].values():
        if logical_id in template["Resources"]:
            return template["Resources"][logical_id], parameters
    raise AssertionError(f"no {logical_id} of {job}")


def test_a_team_with_email_gets_one_topic_for_all_its_jobs(
    owned: tuple[Environment, dict[str, Any]],
) -> None:
    _, templates = owned
    parent = templates["parent"]
    topics = of_type(parent, "AWS::SNS::Topic")
    owner_topics = [
        logical_id
        for logical_id, topic in topics.items()
        if topic["Properties"]["DisplayName"] == f"cronguard {ENVIRONMENT} payments alarms"
    ]
    assert len(topics) == 2 and len(owner_topics) == 1  # the environment's and payments'
    (payments,) = owner_topics
    assert topics[payments]["Properties"]["KmsMasterKeyId"]  # encrypted like the environment's
    subscriptions = of_type(parent, "AWS::SNS::Subscription").values()
    assert {
        (s["Properties"]["Endpoint"], s["Properties"]["TopicArn"]["Ref"])
        for s in subscriptions
        if s["Properties"]["TopicArn"] == {"Ref": payments}
    } == {("payments-oncall@example.com", payments)}
    for job in ("pay-in", "pay-out"):
        alarm, parameters = job_alarm(templates, job)
        assert alarm["Properties"]["AlarmActions"] == [
            {"Ref": "AlarmTopicArn"},
            {"Ref": "OwnerTopicPayments"},
        ]
        assert parameters["OwnerTopicPayments"] == {"Ref": payments}


def test_a_team_with_its_own_topic_is_notified_there_and_a_team_without_only_tags(
    owned: tuple[Environment, dict[str, Any]],
) -> None:
    environment, templates = owned
    warehouse, _ = job_alarm(templates, "warehouse")
    assert warehouse["Properties"]["AlarmActions"] == [{"Ref": "AlarmTopicArn"}, DATA_TOPIC]
    housekeeping, _ = job_alarm(templates, "housekeeping")
    assert housekeeping["Properties"]["AlarmActions"] == [{"Ref": "AlarmTopicArn"}]
    owner = environment.owner_of(environment.job("housekeeping"))
    assert owner is not None and owner.team == "platform"
    # Every job's resources carry its team as a tag.
    teams = {
        tag["Value"]
        for template, _ in templates["stacks"].values()
        for machine in of_type(template, "AWS::StepFunctions::StateMachine").values()
        for tag in machine["Properties"].get("Tags", [])
        if tag["Key"] == OWNER_TAG
    }
    assert teams == {"payments", "data", "platform"}


def test_every_alarm_to_a_topic_cronguard_made_can_notify(
    owned: tuple[Environment, dict[str, Any]],
) -> None:
    """The created team topic passes the walk the environment's topic passes; an imported
    topic cannot be walked (its policies are not in these templates), as with alarms.topic_arn,
    so its alarm action is the one left out, and docs/metrics.md says what it needs."""
    templates = copy.deepcopy(owned[1])  # its alarms' actions are changed below
    job_stacks: JobStacks = [
        (logical_id, template, parameters)
        for logical_id, (template, parameters) in templates["stacks"].items()
    ]
    for _, template, _ in job_stacks:
        for alarm in of_type(template, "AWS::CloudWatch::Alarm").values():
            actions = alarm["Properties"]["AlarmActions"]
            alarm["Properties"]["AlarmActions"] = [a for a in actions if a != DATA_TOPIC]
    assert len(every_alarm(templates["parent"], job_stacks)) > len(JOBS)
    account = Account("aws", "eu-west-1", "111122223333")
    assert list(delivery_problems(templates["parent"], job_stacks, account)) == []


def test_a_run_running_long_alarms_the_environments_and_the_owners_topics(
    owned: tuple[Environment, dict[str, Any]],
) -> None:
    _, templates = owned
    expected_actions = {
        "pay-in": [{"Ref": "AlarmTopicArn"}, {"Ref": "OwnerTopicPayments"}],
        "warehouse": [{"Ref": "AlarmTopicArn"}, DATA_TOPIC],
    }
    for job, actions in expected_actions.items():
        alarm, _ = job_alarm(templates, job, running_long=True)
        properties = alarm["Properties"]
        assert properties["AlarmActions"] == actions
        assert (properties["Namespace"], properties["MetricName"]) == (
            names.NAMESPACE,
            names.RUNNING_LONG,
        )
        assert properties["Dimensions"] == [
            {"Name": names.ENVIRONMENT_DIMENSION, "Value": ENVIRONMENT},
            {"Name": names.SERVICE_DIMENSION, "Value": names.SERVICE},
            {"Name": names.JOB_DIMENSION, "Value": job},
        ]
        # The slot watch counts a run once: its first count alarms, and no count is healthy.
        assert properties["Statistic"] == "Sum" and properties["Threshold"] == 1
        assert properties["ComparisonOperator"] == "GreaterThanOrEqualToThreshold"
        assert properties["TreatMissingData"] == "notBreaching"
    assert (
        "still running 45m after it started"
        in job_alarm(templates, "pay-in", running_long=True)[0]["Properties"]["AlarmDescription"]
    )
    # No alert_after, no such alarm: two alarms of its own per alerted job, one per other job.
    alarms = [
        logical_id
        for template, _ in templates["stacks"].values()
        for logical_id in of_type(template, "AWS::CloudWatch::Alarm")
    ]
    assert len(alarms) == len(JOBS) + len(expected_actions)


def test_job_stacks_declare_only_the_owner_parameters_of_their_jobs(
    owned: tuple[Environment, dict[str, Any]],
) -> None:
    _, templates = owned
    for template, _ in templates["stacks"].values():
        extra = set(template["Parameters"]) - set(PARAMETERS)
        assert extra <= {"OwnerTopicPayments"}


def test_a_job_stack_of_jobs_without_owners_is_as_before_owners(synth: Synth) -> None:
    for template in synth("dev").job_templates.values():
        as_json = template.to_json()
        assert set(as_json["Parameters"]) == set(PARAMETERS)
        for alarm in of_type(as_json, "AWS::CloudWatch::Alarm").values():
            assert alarm["Properties"]["AlarmActions"] == [{"Ref": "AlarmTopicArn"}]
