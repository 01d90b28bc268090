"""A ledger table as the stack builds it, and a job's history as the guard leaves it there.

Shared by the tests (``cronguard status`` reads under its target whatever the history) and the
benchmark's cost table. A record carries what the guard's claim and finish write (about
0.43 KB, as measured on the local engine).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

from lambdas.core.ledger_contract import (
    ATTEMPT,
    ENDED_AT,
    EXIT_CODE,
    JOB,
    OWNER,
    PARTITION_KEY,
    REASON,
    RUNNING_ATTRIBUTE,
    RUNNING_INDEX,
    SLOT,
    SORT_KEY,
    STARTED_AT,
    STATUS,
    TASK_ARN,
    TTL_ATTRIBUTE,
    Status,
    partition,
    slot_sort_key,
)
from lambdas.core.times import iso, slot_key

ACCOUNT = "123456789012"
REGION = "us-east-1"


def succeeded(job: str, slot: datetime, retention: timedelta = timedelta(days=7)) -> dict[str, Any]:
    """The record of a slot that ran and succeeded in 40 seconds."""
    key = slot_key(slot)
    execution = key.replace("-", "").replace(":", "")
    return {
        PARTITION_KEY: {"S": partition(job)},
        SORT_KEY: {"S": slot_sort_key(key)},
        JOB: {"S": job},
        SLOT: {"S": key},
        STATUS: {"S": Status.SUCCEEDED},
        REASON: {"S": "job exited 0"},
        OWNER: {"S": f"arn:aws:states:{REGION}:{ACCOUNT}:execution:prod-{job}:{execution}"},
        TASK_ARN: {"S": f"arn:aws:ecs:{REGION}:{ACCOUNT}:task/cronguard-prod/{'0' * 32}"},
        EXIT_CODE: {"N": "0"},
        ATTEMPT: {"N": "1"},
        STARTED_AT: {"S": iso(slot + timedelta(seconds=2))},
        ENDED_AT: {"S": iso(slot + timedelta(seconds=42))},
        TTL_ATTRIBUTE: {"N": str(int((slot + retention).timestamp()))},
    }


def every(start: datetime, until: datetime, step: timedelta) -> Iterator[datetime]:
    moment = start
    while moment <= until:
        yield moment
        moment += step


def write(client: Any, table: str, items: list[dict[str, Any]]) -> None:
    """Put ``items``, 25 a call."""
    for start in range(0, len(items), 25):
        batch = [{"PutRequest": {"Item": item}} for item in items[start : start + 25]]
        request = {table: batch}
        while request:
            request = client.batch_write_item(RequestItems=request).get("UnprocessedItems")


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
