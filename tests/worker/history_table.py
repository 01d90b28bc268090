"""The history table as the stack builds it, and how tests read it back."""

from __future__ import annotations

from typing import Any

from cronguard_worker import work_key

TABLE = "cronguard-work-history"


def create_history_table(client: Any, name: str = TABLE) -> None:
    """Key ``pk``; GSI ``by_status`` (partition ``status``, sort ``heartbeat_at``), as
    stacks/task_protection.py builds it."""
    client.create_table(
        TableName=name,
        BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[
            {"AttributeName": name, "AttributeType": "S"}
            for name in ("pk", "status", "heartbeat_at")
        ],
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        GlobalSecondaryIndexes=[
            {
                "IndexName": "by_status",
                "KeySchema": [
                    {"AttributeName": "status", "KeyType": "HASH"},
                    {"AttributeName": "heartbeat_at", "KeyType": "RANGE"},
                ],
                "Projection": {"ProjectionType": "ALL"},
            }
        ],
    )


def item(client: Any, name: str, work_id: str) -> dict[str, str]:
    """The unit's item with every attribute value as a string."""
    raw = client.get_item(TableName=TABLE, Key={"pk": {"S": work_key(name, work_id)}})["Item"]
    return {key: next(iter(value.values())) for key, value in raw.items()}
