"""What several test suites need from a moto account: credentials and cronguard's tables."""

from __future__ import annotations

from typing import Any

import pytest

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
    """The ledger's key schema as stacks/ledger.py builds it."""
    client.create_table(
        TableName=name,
        KeySchema=[
            {"AttributeName": "pk", "KeyType": "HASH"},
            {"AttributeName": "sk", "KeyType": "RANGE"},
        ],
        AttributeDefinitions=[
            {"AttributeName": "pk", "AttributeType": "S"},
            {"AttributeName": "sk", "AttributeType": "S"},
        ],
        BillingMode="PAY_PER_REQUEST",
    )
