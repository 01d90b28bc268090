"""Least privilege to the letter: a role is granted the calls its holder's code makes, no
more (issue 20)."""

from __future__ import annotations

import ast
import inspect
import json
from collections.abc import Callable
from typing import Any

import pytest

from cronguard.config import load_environment
from lambdas.core import ledger
from stacks.job.shapes import JobResources
from tests.configs import REPOSITORY_CONFIG
from tests.infra.conftest import Synthesized

Synth = Callable[[str], Synthesized]


def actions_of(statement: dict[str, Any]) -> set[str]:
    action = statement["Action"]
    return {action} if isinstance(action, str) else set(action)


def ledger_table_actions() -> set[str]:
    """The DynamoDB actions ``LedgerTable`` (the guard's only ledger client) calls, read
    from its code: each ``self._client.<operation>(…)``, and for a transaction the actions
    of the items in it (``{"Put": …}`` is authorized as ``dynamodb:PutItem``)."""
    (table,) = [
        node
        for node in ast.walk(ast.parse(inspect.getsource(ledger)))
        if isinstance(node, ast.ClassDef) and node.name == "LedgerTable"
    ]
    operations = {
        node.func.attr
        for node in ast.walk(table)
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and ast.unparse(node.func.value) == "self._client"
    }
    assert "transact_write_items" in operations
    transaction_items = {
        f"{key.value}Item"
        for node in ast.walk(table)
        if isinstance(node, ast.Dict)
        for key in node.keys
        if isinstance(key, ast.Constant)
        and key.value in {"Put", "Update", "Delete", "ConditionCheck"}
    }
    pascal = {"".join(part.title() for part in op.split("_")) for op in operations}
    return {
        f"dynamodb:{action}" for action in (pascal - {"TransactWriteItems"}) | transaction_items
    }


@pytest.mark.parametrize("env_name", ["dev", "prod"])
def test_each_guard_role_grants_exactly_the_ledger_calls_the_guard_makes(
    synth: Synth, env_name: str
) -> None:
    # BatchGetItem reads the slot, lease and pause in one call: no GetItem anywhere.
    assert ledger_table_actions() == {
        "dynamodb:BatchGetItem",
        "dynamodb:ConditionCheckItem",
        "dynamodb:DeleteItem",
        "dynamodb:PutItem",
        "dynamodb:UpdateItem",
    }
    synthesized = synth(env_name)
    for job in load_environment(env_name, REPOSITORY_CONFIG).jobs:
        role = synthesized.job_templates[job.name].to_json()["Resources"][
            JobResources.of(job).guard_role
        ]
        (policy,) = role["Properties"]["Policies"]
        granted = {
            action
            for statement in policy["PolicyDocument"]["Statement"]
            for action in actions_of(statement)
            if action.startswith("dynamodb:")
        }
        assert granted == ledger_table_actions(), job.name


def test_a_failed_invocations_queue_may_only_be_sent_to_by_its_function(synth: Synth) -> None:
    """Lambda needs sqs:SendMessage on an on-failure destination, nothing else; the CDK's
    SqsDestination would add GetQueueAttributes and GetQueueUrl."""
    resources = synth("dev").template.to_json()["Resources"]
    destinations = {
        resource["Properties"]["FunctionName"]["Ref"]: resource["Properties"]["DestinationConfig"][
            "OnFailure"
        ]["Destination"]
        for resource in resources.values()
        if resource["Type"] == "AWS::Lambda::EventInvokeConfig"
    }
    # The cleanup, the orphan sweeper and the slot watch.
    assert len(destinations) == 3, destinations
    for function, queue in destinations.items():
        role = resources[function]["Properties"]["Role"]["Fn::GetAtt"][0]
        on_queue = [
            statement
            for resource in resources.values()
            if resource["Type"] == "AWS::IAM::Policy"
            and {"Ref": role} in resource["Properties"]["Roles"]
            for statement in resource["Properties"]["PolicyDocument"]["Statement"]
            if statement["Resource"] == queue
        ]
        assert [actions_of(statement) for statement in on_queue] == [{"sqs:SendMessage"}], function
    assert "sqs:GetQueue" not in json.dumps(resources)  # no function calls either
