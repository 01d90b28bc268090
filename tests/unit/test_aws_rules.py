"""AWS's rules for config values come from the pinned cfn-lint, and say what it says."""

from __future__ import annotations

from importlib import metadata

import pytest

from cronguard.config import aws_rules


def test_the_committed_rules_are_the_pinned_cfn_lints() -> None:
    assert aws_rules.RULES_FILE.read_text(encoding="utf-8") == aws_rules.rendered(), (
        f"{aws_rules.RULES_FILE.name} is stale: run `make schema`"
    )
    assert aws_rules.rules().cfn_lint == metadata.version("cfn-lint")


@pytest.mark.parametrize(
    "action",
    ["s3:PutObject", "S3:putobject", "s3:Get*", "s3:Put?bject", "logs:*", "sqs:SendMessage"],
)
def test_real_actions_and_wildcards_that_match_one_are_iam_actions(action: str) -> None:
    assert aws_rules.action_refusal(action) is None


@pytest.mark.parametrize(
    ("resource", "is_arn"),
    [
        ("arn:aws:s3:::reports/nightly/*", True),
        ("arn:aws-cn:sqs:cn-north-1:123456789012:done", True),
        ("arn:aws:iam::123456789012:role/x", True),
        ("*", True),
        ("reports", False),
        ("arn:aws:s3", False),
    ],
)
def test_a_resource_is_an_arn_or_star(resource: str, is_arn: bool) -> None:
    assert aws_rules.is_arn(resource) is is_arn


@pytest.mark.parametrize(
    ("key", "value"),
    [("team", "données équipe"), ("cost-center:id", "a/b=c+d.e_f@g"), ("チーム", "データ 基盤")],
)
def test_letters_of_any_script_spaces_and_the_punctuation_cloudformation_allows_are_tags(
    key: str, value: str
) -> None:
    for tagged in (aws_rules.JOB_TAGGED, aws_rules.ENVIRONMENT_TAGGED):
        assert aws_rules.tag_refusal("key", key, tagged) is None
        assert aws_rules.tag_refusal("value", value, tagged) is None


def test_an_empty_value_is_a_tag_only_where_no_tagged_type_refuses_it() -> None:
    # Step Functions and CloudWatch alarms require a value of at least one character.
    assert aws_rules.tag_refusal("value", "", ("AWS::DynamoDB::Table",)) is None
    refusal = aws_rules.tag_refusal("value", "", aws_rules.JOB_TAGGED)
    assert refusal is not None
    assert "AWS::StepFunctions::StateMachine" in refusal
