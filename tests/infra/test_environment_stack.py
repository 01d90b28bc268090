"""The per-environment stack skeleton: ledger, alarm topic, cluster, naming, environments."""

from __future__ import annotations

from collections.abc import Callable

import aws_cdk as cdk
import pytest
from aws_cdk.assertions import Match

import app as cdk_app
from cronguard.config import ConfigError
from lambdas.cleanup import settings as cleanup_settings
from lambdas.core import variables
from lambdas.core.ledger_contract import RUNNING_ATTRIBUTE, RUNNING_INDEX, SORT_KEY, table_name
from stacks.job.shapes import CONTAINER_NAME
from tests.infra.conftest import Synthesized

Synth = Callable[[str], Synthesized]


def test_stack_is_named_after_the_environment(synth: Synth) -> None:
    assert synth("dev").template_file.name == "cronguard-dev.template.json"
    assert synth("prod").template_file.name == "cronguard-prod.template.json"


def test_dev_is_environment_agnostic_and_prod_is_pinned(synth: Synth) -> None:
    assert synth("dev").environment == "aws://unknown-account/unknown-region"
    assert synth("prod").environment == "aws://123456789012/ap-northeast-1"


def test_ledger_table_is_durable(synth: Synth) -> None:
    template = synth("dev").template
    template.has_resource(
        "AWS::DynamoDB::Table",
        {
            # Kept when the stack is deleted or an update would replace it, but removed when
            # the deploy that created it rolls back: a failed first deploy can be retried
            # (a retained table of the same name would make the retry fail "already exists").
            "DeletionPolicy": "RetainExceptOnCreate",
            "UpdateReplacePolicy": "Retain",
            "Properties": {
                "TableName": table_name("dev"),
                "BillingMode": "PAY_PER_REQUEST",
                "KeySchema": [
                    {"AttributeName": "pk", "KeyType": "HASH"},
                    {"AttributeName": "sk", "KeyType": "RANGE"},
                ],
                "PointInTimeRecoverySpecification": {"PointInTimeRecoveryEnabled": True},
                "SSESpecification": {"SSEEnabled": True},
                "TimeToLiveSpecification": {"AttributeName": "expires_at", "Enabled": True},
                "DeletionProtectionEnabled": True,
            },
        },
    )


def test_alarm_topic_is_encrypted_and_subscribed(synth: Synth) -> None:
    template = synth("dev").template
    template.has_resource_properties("AWS::SNS::Topic", {"KmsMasterKeyId": Match.any_value()})
    template.has_resource_properties(
        "AWS::SNS::Subscription", {"Protocol": "email", "Endpoint": "batch-dev@example.com"}
    )
    template.has_resource_properties("AWS::KMS::Key", {"EnableKeyRotation": True})


def test_dev_creates_its_cluster_and_prod_imports_one(synth: Synth) -> None:
    synth("dev").template.has_resource_properties(
        "AWS::ECS::Cluster",
        {
            "ClusterName": "cronguard-dev",
            "ClusterSettings": [{"Name": "containerInsights", "Value": "enabled"}],
        },
    )
    synth("dev").template.has_resource_properties(
        "AWS::ECS::ClusterCapacityProviderAssociations",
        {"CapacityProviders": Match.array_with(["FARGATE", "FARGATE_SPOT"])},
    )
    synth("prod").template.resource_count_is("AWS::ECS::Cluster", 0)


def test_environment_tags_reach_resources(synth: Synth) -> None:
    synth("prod").template.has_resource_properties(
        "AWS::DynamoDB::Table",
        {
            "Tags": Match.array_with(
                [
                    {"Key": "cronguard:environment", "Value": "prod"},
                    {"Key": "team", "Value": "data-platform"},
                ]
            )
        },
    )


def test_unknown_environment_fails_before_synth() -> None:
    app = cdk.App(context={"env": "nope"})
    with pytest.raises(
        ConfigError, match=r"unknown environment 'nope'; known environments: dev, prod"
    ):
        cdk_app.build(app)


def test_the_ledger_indexes_only_the_items_of_runs_in_progress(synth: Synth) -> None:
    synth("dev").template.has_resource_properties(
        "AWS::DynamoDB::Table",
        {
            "TableName": table_name("dev"),
            "GlobalSecondaryIndexes": [
                Match.object_like(
                    {
                        "IndexName": RUNNING_INDEX,
                        "KeySchema": [
                            {"AttributeName": RUNNING_ATTRIBUTE, "KeyType": "HASH"},
                            {"AttributeName": SORT_KEY, "KeyType": "RANGE"},
                        ],
                    }
                )
            ],
        },
    )


def test_the_cleanup_reconciles_on_a_schedule_with_what_settling_a_run_needs(
    synth: Synth,
) -> None:
    template = synth("dev").template
    functions = template.find_resources(
        "AWS::Lambda::Function",
        {"Properties": {"Handler": cleanup_settings.HANDLER}},
    )
    ((logical_id, cleanup),) = functions.items()
    settings = cleanup["Properties"]["Environment"]["Variables"]
    assert settings[variables.TASK_FAMILY_PREFIX] == "cronguard-dev-"
    assert settings[variables.JOB_CONTAINER] == CONTAINER_NAME
    assert variables.JOB_CLUSTER_ARN in settings and variables.LEDGER_TABLE in settings
    rules = template.find_resources(
        "AWS::Events::Rule", {"Properties": {"ScheduleExpression": "rate(5 minutes)"}}
    )
    targets = [target["Arn"] for rule in rules.values() for target in rule["Properties"]["Targets"]]
    assert {"Fn::GetAtt": [logical_id, "Arn"]} in targets
    role_policies = template.find_resources("AWS::IAM::Policy")
    actions = {
        action
        for policy in role_policies.values()
        if any(
            role.get("Ref") == cleanup["Properties"]["Role"]["Fn::GetAtt"][0]
            for role in policy["Properties"]["Roles"]
        )
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]
        for action in (
            statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
        )
    }
    assert {
        "dynamodb:Scan",
        "states:DescribeExecution",
        "ecs:ListTasks",
        "ecs:DescribeTasks",
        "ecs:StopTask",
    } <= actions
