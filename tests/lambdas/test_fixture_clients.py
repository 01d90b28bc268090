"""The ``aws`` fixture's clients outlive a test (made once per process); what a test hooks
into them does not."""

from __future__ import annotations

from typing import Any

from tests.lambdas.conftest import TABLE, Aws, _client


def test_the_fixture_serves_each_test_the_process_clients_from_its_own_mock(aws: Aws) -> None:
    assert aws.dynamodb is _client("dynamodb") and aws.sfn is _client("stepfunctions")
    assert aws.dynamodb.scan(TableName=TABLE)["Items"] == []  # this test's ledger, empty


def test_a_tests_hooks_are_removed_with_it(aws: Aws) -> None:
    seen: list[str] = []

    def called(model: Any, **_: Any) -> None:
        seen.append(model.name)

    aws.hook(aws.dynamodb, "before-call.dynamodb.*", called)
    aws.dynamodb.describe_table(TableName=TABLE)
    aws.remove_hooks()
    aws.dynamodb.describe_table(TableName=TABLE)

    assert seen == ["DescribeTable"]
