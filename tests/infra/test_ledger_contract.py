"""The guard's IAM condition and the keys the guard writes come from one ledger contract.

moto does not enforce IAM, so a key prefix that drifted from the ``dynamodb:LeadingKeys``
condition would pass every local test and be denied on every ledger call in AWS.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from lambdas.core.ledger import LedgerTable
from lambdas.core.ledger_contract import PARTITION_KEY, partition, table_name
from stacks.job.shapes import JobResources
from tests.infra.test_job_stack import renderer

SLOT = "2026-11-23T03:00:00Z"
IMAGE = "repo/job:1"


class RecordingDynamoDB:
    """Records every key the ledger sends; answers as an empty table would."""

    def __init__(self) -> None:
        self.partitions: set[str] = set()

    def _record(self, value: Any) -> None:
        if isinstance(value, dict):
            if PARTITION_KEY in value and isinstance(value[PARTITION_KEY], dict):
                self.partitions.add(value[PARTITION_KEY]["S"])
            for child in value.values():
                self._record(child)
        elif isinstance(value, list):
            for child in value:
                self._record(child)

    def batch_get_item(self, **request: Any) -> dict[str, Any]:
        self._record(request)
        return {"Responses": {}}

    def transact_write_items(self, **request: Any) -> dict[str, Any]:
        self._record(request)
        return {}


def _leading_keys(tmp_path: Path) -> list[str]:
    rendered = renderer(tmp_path, image=IMAGE)
    (job,) = rendered.jobs
    role = rendered.render()["Resources"][JobResources.of(job).guard_role]
    conditions = [
        statement["Condition"]["ForAllValues:StringEquals"]["dynamodb:LeadingKeys"]
        for policy in role["Properties"]["Policies"]
        for statement in policy["PolicyDocument"]["Statement"]
        if "dynamodb:LeadingKeys" in str(statement.get("Condition", ""))
    ]
    assert len(conditions) == 1
    return list(conditions[0])


def test_the_guards_iam_condition_allows_exactly_the_keys_the_guard_writes(
    tmp_path: Path,
) -> None:
    allowed = _leading_keys(tmp_path)
    assert allowed == [partition("report")]

    dynamodb = RecordingDynamoDB()
    ledger = LedgerTable(dynamodb, table_name("test"))
    ledger.read("report", SLOT)
    ledger.claim_slot(
        job="report",
        slot=SLOT,
        me="arn:aws:states:eu-west-1:1:execution:test-report:a",
        now=datetime(2026, 11, 23, 3, tzinfo=UTC),
        retention=timedelta(days=30),
        lease_for=timedelta(hours=1),
        attempt=None,
        forced=False,
        take_over=None,
        overwrite=None,
    )
    assert dynamodb.partitions == set(allowed)


def test_the_environment_names_its_ledger_from_the_contract(tmp_path: Path) -> None:
    environment = renderer(tmp_path, image=IMAGE).environment
    assert environment.ledger_table_name == table_name("test") == "cronguard-test-ledger"
