"""Task protection IAM for the configured services, the work history and the sweeper."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from aws_cdk.assertions import Match, Template

from lambdas.core import metrics_contract, variables
from lambdas.sweeper import settings as sweeper_settings
from tests.infra.conftest import Synthesized

Synth = Callable[[str], Synthesized]


def protection_policy(template: Template) -> dict[str, Any]:
    policies = [
        resource
        for resource in template.find_resources("AWS::IAM::Policy").values()
        if any(
            "ecs:UpdateTaskProtection" in json.dumps(statement["Action"])
            for statement in resource["Properties"]["PolicyDocument"]["Statement"]
        )
    ]
    assert len(policies) == 1
    return dict(policies[0]["Properties"])


def test_an_existing_task_role_gets_protection_scoped_to_its_clusters_tasks(synth: Synth) -> None:
    policy = protection_policy(synth("prod").template)
    assert policy["Roles"] == ["orders-worker-task"]  # imported by ARN, attached by name
    protection, history = policy["PolicyDocument"]["Statement"]
    assert protection["Action"] == ["ecs:GetTaskProtection", "ecs:UpdateTaskProtection"]
    assert json.dumps(protection["Resource"]).endswith(
        ':ecs:ap-northeast-1:123456789012:task/batch-prod/*"]]}'
    )
    assert history["Action"] == ["dynamodb:GetItem", "dynamodb:UpdateItem"]


def test_a_task_role_may_make_every_call_the_worker_client_makes_to_its_history(
    synth: Synth,
) -> None:
    """cronguard_worker reads the item before it takes a redelivered unit over (GetItem) and
    writes with UpdateItem; a missing action is an AccessDenied in the worker at run time."""
    (_, history) = protection_policy(synth("dev").template)["PolicyDocument"]["Statement"]
    source = (Path(__file__).parents[2] / "worker/src/cronguard_worker/history.py").read_text()
    called = {
        "dynamodb:" + "".join(part.title() for part in name.split("_"))
        for name in re.findall(r"_client\.(\w+)\(", source)
    }
    assert called == set(history["Action"])


def test_a_created_task_role_is_assumable_by_ecs_tasks_and_output(synth: Synth) -> None:
    synthesized = synth("dev")
    template = synthesized.template
    policy = protection_policy(template)
    (role_ref,) = policy["Roles"]
    role = template.find_resources("AWS::IAM::Role")[role_ref["Ref"]]
    assert role["Properties"]["AssumeRolePolicyDocument"]["Statement"][0]["Principal"] == {
        "Service": "ecs-tasks.amazonaws.com"
    }
    outputs = template.find_outputs("*")
    assert any(o["Value"] == {"Fn::GetAtt": [role_ref["Ref"], "Arn"]} for o in outputs.values())
    assert json.dumps(policy["PolicyDocument"]["Statement"][0]["Resource"]).endswith(
        ':task/cronguard-dev/*"]]}'
    )


def test_work_history_table_has_the_status_index_the_sweeper_queries(synth: Synth) -> None:
    synth("dev").template.has_resource(
        "AWS::DynamoDB::Table",
        {
            # Its name is fixed: kept on delete and replacement, removed by a create rollback.
            "DeletionPolicy": "RetainExceptOnCreate",
            "UpdateReplacePolicy": "Retain",
            "Properties": {
                "TableName": "cronguard-dev-work",
                "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}],
                "GlobalSecondaryIndexes": [
                    {
                        "IndexName": "by_status",
                        "KeySchema": [
                            {"AttributeName": "status", "KeyType": "HASH"},
                            {"AttributeName": "heartbeat_at", "KeyType": "RANGE"},
                        ],
                        "Projection": {"ProjectionType": "ALL"},
                    }
                ],
                "TimeToLiveSpecification": {"AttributeName": "expires_at", "Enabled": True},
            },
        },
    )


def test_sweeper_runs_on_schedule_and_alarms_on_orphans(synth: Synth) -> None:
    template = synth("prod").template
    template.has_resource_properties(
        "AWS::Events::Rule", {"ScheduleExpression": "rate(5 minutes)", "State": "ENABLED"}
    )
    template.has_resource_properties(
        "AWS::Lambda::Function",
        {
            "Handler": sweeper_settings.HANDLER,
            "Environment": {"Variables": Match.object_like({variables.STALE_AFTER_SECONDS: "900"})},
        },
    )
    template.has_resource_properties(
        "AWS::CloudWatch::Alarm",
        {
            "MetricName": metrics_contract.ORPHANED_WORK,
            "Namespace": metrics_contract.NAMESPACE,
            "Threshold": 1,
            "ComparisonOperator": "GreaterThanOrEqualToThreshold",
            "AlarmActions": [Match.any_value()],
            "Dimensions": Match.array_with([{"Name": "environment", "Value": "prod"}]),
        },
    )
