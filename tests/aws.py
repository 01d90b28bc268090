"""What several test suites need from a moto account: credentials and cronguard's tables."""

from __future__ import annotations

from typing import Any

import pytest

from lambdas.core.ledger_contract import (
    PARTITION_KEY,
    RUNNING_ATTRIBUTE,
    RUNNING_INDEX,
    SORT_KEY,
)

REGION = "us-east-1"


def use_fake_credentials(monkeypatch: pytest.MonkeyPatch, **variables: str) -> None:
    """Point boto3 at moto's fake account (never a real profile), plus ``variables``."""
    for key, value in {
        "AWS_DEFAULT_REGION": REGION,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        **variables,
    }.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)


def create_ledger_table(client: Any, name: str) -> None:
    """The ledger's key schema and index as stacks/ledger.py builds them."""
    client.create_table(
        TableName=name,
        KeySchema=[
            {"AttributeName": PARTITION_KEY, "KeyType": "HASH"},
            {"AttributeName": SORT_KEY, "KeyType": "RANGE"},
        ],
        AttributeDefinitions=[
            {"AttributeName": PARTITION_KEY, "AttributeType": "S"},
            {"AttributeName": SORT_KEY, "AttributeType": "S"},
            {"AttributeName": RUNNING_ATTRIBUTE, "AttributeType": "S"},
        ],
        GlobalSecondaryIndexes=[
            {
                "IndexName": RUNNING_INDEX,
                "KeySchema": [
                    {"AttributeName": RUNNING_ATTRIBUTE, "KeyType": "HASH"},
                    {"AttributeName": SORT_KEY, "KeyType": "RANGE"},
                ],
                "Projection": {"ProjectionType": "ALL"},
            }
        ],
        BillingMode="PAY_PER_REQUEST",
    )
