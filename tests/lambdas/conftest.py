"""A moto DynamoDB ledger (same keys as the CDK table) and a moto state machine."""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import boto3
import pytest
from moto import mock_aws
from moto.core.botocore_stubber import BotocoreStubber

from lambdas.guard.executions import Executions
from lambdas.guard.handler import Guard
from lambdas.guard.ledger import LedgerTable
from tests.aws import REGION, create_ledger_table, use_fake_credentials

TABLE = "cronguard-test-ledger"


@dataclass(frozen=True)
class LambdaContext:
    """What Powertools reads from the Lambda context object."""

    function_name: str = "cronguard-test-guard"
    memory_limit_in_mb: int = 256
    invoked_function_arn: str = f"arn:aws:lambda:{REGION}:123456789012:function:guard"
    aws_request_id: str = "test-request"


CONTEXT = LambdaContext()


@dataclass
class Aws:
    dynamodb: Any
    sfn: Any
    state_machine_arn: str

    def start(self, name: str) -> str:
        return str(
            self.sfn.start_execution(stateMachineArn=self.state_machine_arn, name=name, input="{}")[
                "executionArn"
            ]
        )

    def guard(self, clock: Any = None) -> Guard:
        return Guard(LedgerTable(self.dynamodb, TABLE), Executions(self.sfn), clock=clock)

    def item(self, sort_key: str, job: str = "report") -> dict[str, Any] | None:
        response = self.dynamodb.get_item(
            TableName=TABLE, Key={"pk": {"S": f"job#{job}"}, "sk": {"S": sort_key}}
        )
        item: dict[str, Any] | None = response.get("Item")
        return item


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[Aws]:
    use_fake_credentials(
        monkeypatch,
        LEDGER_TABLE=TABLE,
        CRONGUARD_ENV="test",
        POWERTOOLS_METRICS_DISABLED="true",
    )
    # moto serves concurrent requests without isolation; AWS makes each call atomic. The
    # racing tests need the latter (see the shim and canary in cronguard/local/shims.py).
    lock = threading.Lock()
    original = BotocoreStubber.process_request

    def process_request(self: Any, request: Any) -> Any:
        with lock:
            return original(self, request)

    monkeypatch.setattr(BotocoreStubber, "process_request", process_request)
    with mock_aws():
        dynamodb = boto3.client("dynamodb", region_name=REGION)
        create_ledger_table(dynamodb, TABLE)
        iam = boto3.client("iam", region_name=REGION)
        role = iam.create_role(
            RoleName="sfn",
            AssumeRolePolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": []}),
        )["Role"]["Arn"]
        sfn = boto3.client("stepfunctions", region_name=REGION)
        machine = sfn.create_state_machine(
            name="test-report",
            roleArn=role,
            definition=json.dumps(
                {
                    "StartAt": "Wait",
                    "States": {"Wait": {"Type": "Wait", "Seconds": 600, "End": True}},
                }
            ),
        )["stateMachineArn"]
        assert os.environ["LEDGER_TABLE"] == TABLE
        yield Aws(dynamodb=dynamodb, sfn=sfn, state_machine_arn=machine)
