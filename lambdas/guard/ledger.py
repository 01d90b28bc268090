"""The ledger table: one item per (job, slot) and one lease item per job.

Keys: ``pk = "job#<job>"``; ``sk = "slot#<slot>"`` for a slot, ``sk = "lease"`` for the lease.
Every write that acts on a decision is conditional on the snapshot the decision was made
from; a failed condition raises ``LedgerConflict`` and the guard decides again.
``expires_at`` is a TTL for garbage collection only: TTL deletion is lazy, so conditions
never rely on it — they compare lease times.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from botocore.exceptions import ClientError

from lambdas.guard.decision import Lease, SlotRecord, Snapshot, Status

LEASE_SK = "lease"


class LedgerConflict(Exception):
    """Another execution changed the slot or the lease since the snapshot was read."""


def partition(job: str) -> str:
    return f"job#{job}"


def slot_sort_key(slot: str) -> str:
    return f"slot#{slot}"


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def epoch(moment: datetime) -> int:
    return int(moment.timestamp())


def _s(value: str) -> dict[str, str]:
    return {"S": value}


def _n(value: float) -> dict[str, str]:
    return {"N": str(value)}


@dataclass(frozen=True)
class Outcome:
    status: Status
    reason: str
    task_arn: str | None = None
    exit_code: int | None = None
    stopped_reason: str | None = None


class LedgerTable:
    """Adapter over the low-level DynamoDB client (fewer calls, explicit conditions)."""

    def __init__(self, client: Any, table_name: str) -> None:
        self._client = client
        self._table = table_name

    def _key(self, job: str, sort_key: str) -> dict[str, Any]:
        return {"pk": _s(partition(job)), "sk": _s(sort_key)}

    def read(self, job: str, slot: str) -> Snapshot:
        """The slot record and the lease, read strongly consistently in one call."""
        response = self._client.batch_get_item(
            RequestItems={
                self._table: {
                    "Keys": [self._key(job, slot_sort_key(slot)), self._key(job, LEASE_SK)],
                    "ConsistentRead": True,
                }
            }
        )
        record = lease = None
        for item in response["Responses"].get(self._table, []):
            if item["sk"]["S"] == LEASE_SK:
                lease = Lease(
                    holder=item["holder"]["S"],
                    slot=item["slot"]["S"],
                    until=datetime.fromtimestamp(int(item["lease_until"]["N"]), UTC),
                )
            else:
                record = SlotRecord(owner=item["owner"]["S"], status=Status(item["status"]["S"]))
        if response.get("UnprocessedKeys"):
            raise LedgerConflict("ledger read was throttled")
        return Snapshot(slot=record, lease=lease)

    def claim(
        self,
        *,
        job: str,
        slot: str,
        me: str,
        now: datetime,
        retention: timedelta,
        lease_for: timedelta | None,
        attempt: int | None,
        forced: bool,
        take_over: Lease | None,
        overwrite: SlotRecord | None,
        replacing: Lease | None,
    ) -> None:
        """Claim the slot (and the lease unless ``lease_for`` is None) in one transaction."""
        expires = now + (lease_for or timedelta(0)) + retention
        slot_item: dict[str, Any] = {
            **self._key(job, slot_sort_key(slot)),
            "job": _s(job),
            "slot": _s(slot),
            "status": _s(Status.RUNNING),
            "owner": _s(me),
            "started_at": _s(iso(now)),
            "forced": {"BOOL": forced},
            "expires_at": _n(epoch(expires)),
        }
        if attempt is not None:
            slot_item["attempt"] = _n(attempt)
        put_slot: dict[str, Any] = {"TableName": self._table, "Item": slot_item}
        if overwrite is None:
            put_slot["ConditionExpression"] = "attribute_not_exists(pk)"
        else:
            put_slot["ConditionExpression"] = "#owner = :old_owner AND #status = :old_status"
            put_slot["ExpressionAttributeNames"] = {"#owner": "owner", "#status": "status"}
            put_slot["ExpressionAttributeValues"] = {
                ":old_owner": _s(overwrite.owner),
                ":old_status": _s(overwrite.status),
            }
        items: list[dict[str, Any]] = [{"Put": put_slot}]
        if lease_for is not None:
            put_lease: dict[str, Any] = {
                "TableName": self._table,
                "Item": {
                    **self._key(job, LEASE_SK),
                    "job": _s(job),
                    "holder": _s(me),
                    "slot": _s(slot),
                    "acquired_at": _s(iso(now)),
                    "lease_until": _n(epoch(now + lease_for)),
                    "expires_at": _n(epoch(expires)),
                },
            }
            if take_over is None:
                put_lease["ConditionExpression"] = "attribute_not_exists(pk)"
            else:
                put_lease["ConditionExpression"] = "holder = :old_holder"
                put_lease["ExpressionAttributeValues"] = {":old_holder": _s(take_over.holder)}
            items.append({"Put": put_lease})
        if replacing is not None:
            items.append(
                {
                    "Update": {
                        "TableName": self._table,
                        "Key": self._key(job, slot_sort_key(replacing.slot)),
                        "UpdateExpression": "SET #status = :aborted, reason = :reason, "
                        "ended_at = :now",
                        "ConditionExpression": "#owner = :old AND #status = :running",
                        "ExpressionAttributeNames": {"#owner": "owner", "#status": "status"},
                        "ExpressionAttributeValues": {
                            ":aborted": _s(Status.ABORTED),
                            ":reason": _s(f"replaced by {me}"),
                            ":now": _s(iso(now)),
                            ":old": _s(replacing.holder),
                            ":running": _s(Status.RUNNING),
                        },
                    }
                }
            )
        try:
            self._client.transact_write_items(TransactItems=items)
        except ClientError as error:
            if error.response["Error"]["Code"] == "TransactionCanceledException":
                raise LedgerConflict(str(error)) from None
            raise

    def record_skip(
        self,
        *,
        job: str,
        slot: str,
        me: str,
        now: datetime,
        retention: timedelta,
        status: Status,
        reason: str,
    ) -> None:
        """Consume the slot as skipped, so a later duplicate of it is a duplicate too."""
        try:
            self._client.put_item(
                TableName=self._table,
                Item={
                    **self._key(job, slot_sort_key(slot)),
                    "job": _s(job),
                    "slot": _s(slot),
                    "status": _s(status),
                    "owner": _s(me),
                    "reason": _s(reason),
                    "started_at": _s(iso(now)),
                    "ended_at": _s(iso(now)),
                    "expires_at": _n(epoch(now + retention)),
                },
                ConditionExpression="attribute_not_exists(pk) OR #owner = :me",
                ExpressionAttributeNames={"#owner": "owner"},
                ExpressionAttributeValues={":me": _s(me)},
            )
        except ClientError as error:
            if error.response["Error"]["Code"] == "ConditionalCheckFailedException":
                raise LedgerConflict(str(error)) from None
            raise

    def count_duplicate(self, job: str, slot: str) -> None:
        """Count a duplicate trigger on the slot's record (the history shows the burst)."""
        try:
            self._client.update_item(
                TableName=self._table,
                Key=self._key(job, slot_sort_key(slot)),
                UpdateExpression="ADD duplicates :one",
                ConditionExpression="attribute_exists(pk)",
                ExpressionAttributeValues={":one": _n(1)},
            )
        except ClientError as error:
            if error.response["Error"]["Code"] != "ConditionalCheckFailedException":
                raise

    def finish(
        self, *, job: str, slot: str, me: str, now: datetime, outcome: Outcome
    ) -> datetime | None:
        """Record how the run ended and release the lease.

        Returns when the run started (for its duration), or None when the slot is not ours
        or already finished: then nothing is rewritten.
        """
        names = {"#owner": "owner", "#status": "status"}
        values: dict[str, Any] = {
            ":status": _s(outcome.status),
            ":reason": _s(outcome.reason),
            ":now": _s(iso(now)),
            ":me": _s(me),
            ":running": _s(Status.RUNNING),
        }
        sets = ["#status = :status", "reason = :reason", "ended_at = :now"]
        for attribute, value in (
            ("task_arn", outcome.task_arn),
            ("stopped_reason", outcome.stopped_reason),
        ):
            if value is not None:
                sets.append(f"{attribute} = :{attribute}")
                values[f":{attribute}"] = _s(value)
        if outcome.exit_code is not None:
            sets.append("exit_code = :exit_code")
            values[":exit_code"] = _n(outcome.exit_code)
        started: datetime | None = None
        try:
            previous = self._client.update_item(
                TableName=self._table,
                Key=self._key(job, slot_sort_key(slot)),
                UpdateExpression="SET " + ", ".join(sets),
                ConditionExpression="#owner = :me AND #status = :running",
                ExpressionAttributeNames=names,
                ExpressionAttributeValues=values,
                ReturnValues="ALL_OLD",
            )["Attributes"]
            started = datetime.fromisoformat(previous["started_at"]["S"].replace("Z", "+00:00"))
        except ClientError as error:
            if error.response["Error"]["Code"] != "ConditionalCheckFailedException":
                raise
        self.release_lease(job, me)
        return started

    def release_lease(self, job: str, me: str) -> bool:
        try:
            self._client.delete_item(
                TableName=self._table,
                Key=self._key(job, LEASE_SK),
                ConditionExpression="holder = :me",
                ExpressionAttributeValues={":me": _s(me)},
            )
        except ClientError as error:
            if error.response["Error"]["Code"] == "ConditionalCheckFailedException":
                return False
            raise
        return True
