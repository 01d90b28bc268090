"""The ledger table: one item per (job, slot), one lease item and one pause record per job.

Keys: ``pk = "job#<job>"``; ``sk = "slot#<slot>"`` for a slot, ``sk = "lease"`` for the lease,
``sk = "pause"`` for the pause record (``lambdas/core/pause.py``; the guard only reads it).
Every write that acts on a decision is conditional on the snapshot the decision was made
from; a failed condition raises ``LedgerConflict`` and the guard decides again — on the items
the failed claim returned when DynamoDB sent them all, else on a fresh read.
``expires_at`` is a TTL for garbage collection only: TTL deletion is lazy, so conditions
never rely on it — they compare lease times.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from botocore.exceptions import ClientError

from lambdas.core.ledger_contract import (
    ACQUIRED_AT,
    ATTEMPT,
    ATTEMPTS,
    DUPLICATES,
    ENDED_AT,
    EXIT_CODE,
    FORCED,
    HOLDER,
    JOB,
    LEASE_SORT_KEY,
    LEASE_UNTIL,
    OVERRIDES,
    OWNER,
    PARTITION_KEY,
    PAUSED,
    REASON,
    REPLACE_WAIT_SECONDS,
    RETRIES,
    RUN_ATTRIBUTES,
    RUNNING_ATTRIBUTE,
    RUNS,
    SLOT,
    SORT_KEY,
    STARTED_AT,
    STATUS,
    STOP_CODE,
    STOPPED_REASON,
    TASK_ARN,
    TASK_STOP,
    TTL_ATTRIBUTE,
    Status,
    partition,
    slot_sort_key,
)
from lambdas.core.outcome import Outcome
from lambdas.core.pause import Pause, is_pause_item, read_pause
from lambdas.core.pause import key as pause_key
from lambdas.core.records import Lease, Predecessor, SlotRecord, Snapshot
from lambdas.core.times import iso, parse_iso

# Placeholders for the attributes a condition or update names (``status`` is reserved).
_NAMES = {"#owner": OWNER, "#status": STATUS}


# The snapshot field each item of a claim's transaction asserts (None: not in the snapshot).
_Asserts = Sequence[str | None]
# A renamed job's check of its old name's lease: when it fails, the ledger is read again.
PREDECESSOR = "predecessor"


class LedgerConflict(Exception):
    """Another execution changed the slot or the lease since the snapshot was read.

    ``seen``: the current value of each snapshot item whose condition failed, by ``Snapshot``
    field, from the items the cancelled claim returned; None when the ledger must be read again.
    """

    def __init__(self, message: str, seen: Mapping[str, Any] | None = None) -> None:
        super().__init__(message)
        self.seen = seen

    def snapshot_after(self, earlier: Snapshot) -> Snapshot | None:
        """The snapshot to decide again on, without reading: ``earlier`` with every item whose
        condition failed replaced by its current value — an item whose condition held still
        satisfies what the decision asserted of it. None: read the ledger again."""
        if self.seen is None:
            return None
        return replace(earlier, **self.seen)


@dataclass(frozen=True)
class Abandoned:
    """A run whose lease is taken over: its slot's record is ended in the same transaction."""

    lease: Lease
    status: Status
    reason: str
    also_if_aborted: bool = False  # a replaced run the cleanup may have recorded first


def epoch(moment: datetime) -> int:
    return int(moment.timestamp())


def _s(value: str) -> dict[str, str]:
    return {"S": value}


def _n(value: float) -> dict[str, str]:
    return {"N": str(value)}


def _attempt(outcome: Outcome, now: datetime) -> dict[str, Any]:
    """One attempt of a run, as ``ATTEMPTS`` lists it."""
    entry: dict[str, Any] = {REASON: _s(outcome.reason), ENDED_AT: _s(iso(now))}
    if outcome.exit_code is not None:
        entry[EXIT_CODE] = _n(outcome.exit_code)
    for attribute, value in ((STOP_CODE, outcome.stop_code), (TASK_ARN, outcome.task_arn)):
        if value is not None:
            entry[attribute] = _s(value)
    return {"M": entry}


def _archived(record: SlotRecord, now: datetime) -> dict[str, Any]:
    """An earlier run of the slot, as it is kept in the new record's ``runs`` list."""
    kept = {key: record.attributes[key] for key in RUN_ATTRIBUTES if key in record.attributes}
    if record.status is Status.RUNNING:
        # Only a run whose execution no longer runs is ever taken over while RUNNING.
        kept[STATUS] = _s(Status.ABORTED)
        kept[REASON] = _s("its execution ended without recording an outcome")
        kept[ENDED_AT] = _s(iso(now))
    return {"M": kept}


def _lease_of(item: Mapping[str, Any]) -> Lease:
    acquired = item.get(ACQUIRED_AT, {}).get("S")
    return Lease(
        holder=item[HOLDER]["S"],
        slot=item[SLOT]["S"],
        until=datetime.fromtimestamp(int(item[LEASE_UNTIL]["N"]), UTC),
        acquired=parse_iso(acquired) if acquired else None,
    )


def _record_of(item: Mapping[str, Any]) -> SlotRecord | None:
    if item[STATUS]["S"] == Status.MISSED:  # a MISSED slot is free to claim
        return None
    return SlotRecord(owner=item[OWNER]["S"], status=Status(item[STATUS]["S"]), attributes=item)


_READERS = {"slot": _record_of, "lease": _lease_of, "pause": read_pause}


def _seen(error: ClientError, asserts: _Asserts) -> dict[str, Any] | None:
    """The current value of each snapshot item whose condition failed, from the items the
    cancelled transaction returned (``ReturnValuesOnConditionCheckFailure: ALL_OLD``); None
    unless every such item came back.

    DynamoDB returns the item in its ``CancellationReasons[i].Item`` (API reference,
    https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_CancellationReason.html),
    but an SDK has been known not to pass them through (boto/boto3#2657), and an item that does
    not exist comes back as nothing at all — so nothing here depends on them: any failed item
    without one, a reason other than a failed condition (a conflicting transaction in flight),
    or a list that does not match the request means the ledger is read again.
    """
    reasons = error.response.get("CancellationReasons") or []
    if len(reasons) != len(asserts):
        return None
    seen: dict[str, Any] = {}
    for reason, field in zip(reasons, asserts, strict=True):
        code = reason.get("Code")
        if code in (None, "None"):
            continue  # its condition held: what the decision assumed of it is still true
        if code != "ConditionalCheckFailed" or field == PREDECESSOR:
            return None
        if field is None:
            continue  # the abandoned run's record: not part of the snapshot
        if "Item" not in reason:
            return None
        seen[field] = _READERS[field](reason["Item"])
    return seen or None


def _cancelled_only_by(error: ClientError, index: int) -> bool:
    """Whether a cancelled transaction failed on the condition of item ``index`` alone."""
    reasons = error.response.get("CancellationReasons") or []
    failed = [i for i, reason in enumerate(reasons) if reason.get("Code") not in (None, "None")]
    return failed == [index] and reasons[index].get("Code") == "ConditionalCheckFailed"


class LedgerTable:
    """Adapter over the low-level DynamoDB client (fewer calls, explicit conditions)."""

    def __init__(self, client: Any, table_name: str) -> None:
        self._client = client
        self._table = table_name

    def _key(self, job: str, sort_key: str) -> dict[str, Any]:
        return {PARTITION_KEY: _s(partition(job)), SORT_KEY: _s(sort_key)}

    def read(self, job: str, slot: str, renamed_from: str | None = None) -> Snapshot:
        """The slot record, the lease and the pause record, read strongly consistently in one
        call (all three are in the job's partition, the one the guard's IAM allows); for a
        renamed job, its old name's record of the slot and lease too (``Predecessor``)."""
        keys = [
            self._key(job, slot_sort_key(slot)),
            self._key(job, LEASE_SORT_KEY),
            pause_key(job),
        ]
        if renamed_from is not None:
            keys += [
                self._key(renamed_from, slot_sort_key(slot)),
                self._key(renamed_from, LEASE_SORT_KEY),
            ]
        response = self._client.batch_get_item(
            RequestItems={self._table: {"Keys": keys, "ConsistentRead": True}}
        )
        found: dict[tuple[str, str], Any] = {}
        pause = Pause()
        for item in response["Responses"].get(self._table, []):
            if is_pause_item(item):
                pause = read_pause(item)
            else:
                found[item[PARTITION_KEY]["S"], item[SORT_KEY]["S"]] = item

        def read_job(name: str) -> tuple[SlotRecord | None, Lease | None]:
            record = found.get((partition(name), slot_sort_key(slot)))
            lease = found.get((partition(name), LEASE_SORT_KEY))
            return (
                _record_of(record) if record is not None else None,
                _lease_of(lease) if lease is not None else None,
            )

        if response.get("UnprocessedKeys"):
            raise LedgerConflict("ledger read was throttled")
        record, lease = read_job(job)
        predecessor = None
        if renamed_from is not None:
            predecessor = Predecessor(renamed_from, *read_job(renamed_from))
        return Snapshot(slot=record, lease=lease, pause=pause, predecessor=predecessor)

    def claim_slot(
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
        abandon: Abandoned | None = None,
        replace_wait: float | None = None,
        renamed_from: str | None = None,
        overrides: str | None = None,
    ) -> None:
        """Claim the slot (and the lease unless ``lease_for`` is None) in one transaction.

        With a lease and ``renamed_from`` (the job's old name), the old name's lease must be
        free or expired: a run of the old name that claimed it since the snapshot (during the
        deploy of the rename) fails the claim, and the guard reads and decides again.

        ``overwrite`` is the slot's earlier record (a forced run): it is kept in the new
        record's ``runs``. ``abandon`` ends the record of the run whose lease is taken over —
        unless that record has ended already, which is then left as it is. Unless ``forced``,
        the job's pause record must not say paused (a pause written since the snapshot was
        read fails the claim, and the guard decides again): one more item in the same call.

        A failed condition raises ``LedgerConflict`` with the items whose condition failed, as
        they are now (each conditioned item asks for ``ALL_OLD``), so the guard can decide
        again without reading the ledger (``LedgerConflict.snapshot_after``).
        """
        expires = now + (lease_for or timedelta(0)) + retention
        slot_item: dict[str, Any] = {
            **self._key(job, slot_sort_key(slot)),
            JOB: _s(job),
            SLOT: _s(slot),
            STATUS: _s(Status.RUNNING),
            OWNER: _s(me),
            STARTED_AT: _s(iso(now)),
            FORCED: {"BOOL": forced},
            TTL_ATTRIBUTE: _n(epoch(expires)),
            RUNNING_ATTRIBUTE: _s(job),
        }
        if attempt is not None:
            slot_item[ATTEMPT] = _n(attempt)
        if replace_wait is not None:
            slot_item[REPLACE_WAIT_SECONDS] = _n(replace_wait)
        if overrides is not None:
            slot_item[OVERRIDES] = _s(overrides)
        put_slot: dict[str, Any] = {"TableName": self._table, "Item": slot_item}
        if overwrite is None:
            # Free: no record, or the slot watch's MISSED record (a late or caught-up run).
            put_slot["ConditionExpression"] = (
                f"attribute_not_exists({PARTITION_KEY}) OR #status = :missed"
            )
            put_slot["ExpressionAttributeNames"] = {"#status": STATUS}
            put_slot["ExpressionAttributeValues"] = {":missed": _s(Status.MISSED)}
        else:
            earlier = list(overwrite.attributes.get(RUNS, {}).get("L", []))
            slot_item[RUNS] = {"L": [*earlier, _archived(overwrite, now)]}
            put_slot["ConditionExpression"] = "#owner = :old_owner AND #status = :old_status"
            put_slot["ExpressionAttributeNames"] = _NAMES
            put_slot["ExpressionAttributeValues"] = {
                ":old_owner": _s(overwrite.owner),
                ":old_status": _s(overwrite.status),
            }
        items: list[dict[str, Any]] = [{"Put": put_slot}]
        asserts: list[str | None] = ["slot"]
        if not forced:
            items.append({"ConditionCheck": self._not_paused(job)})
            asserts.append("pause")
        if lease_for is not None:
            put_lease: dict[str, Any] = {
                "TableName": self._table,
                "Item": {
                    **self._key(job, LEASE_SORT_KEY),
                    JOB: _s(job),
                    HOLDER: _s(me),
                    SLOT: _s(slot),
                    ACQUIRED_AT: _s(iso(now)),
                    LEASE_UNTIL: _n(epoch(now + lease_for)),
                    TTL_ATTRIBUTE: _n(epoch(expires)),
                    RUNNING_ATTRIBUTE: _s(job),
                },
            }
            if take_over is None:
                put_lease["ConditionExpression"] = f"attribute_not_exists({PARTITION_KEY})"
            else:
                put_lease["ConditionExpression"] = f"{HOLDER} = :old_holder"
                put_lease["ExpressionAttributeValues"] = {":old_holder": _s(take_over.holder)}
            items.append({"Put": put_lease})
            asserts.append("lease")
            if renamed_from is not None:
                items.append({"ConditionCheck": self._lease_free(renamed_from, now)})
                asserts.append(PREDECESSOR)
        # The abandoned run's record, unless it is the very record this claim replaces.
        if abandon is not None and abandon.lease.slot != slot:
            items.append({"Update": self._end_run(job, abandon, now)})
            asserts.append(None)
        for item in items:
            # Every item has a condition: one that fails returns the item as it is now.
            next(iter(item.values()))["ReturnValuesOnConditionCheckFailure"] = "ALL_OLD"
        try:
            self._client.transact_write_items(TransactItems=items)
        except ClientError as error:
            if error.response["Error"]["Code"] != "TransactionCanceledException":
                raise
            ended_by_abandon = asserts[-1] is None
            if ended_by_abandon and _cancelled_only_by(error, len(items) - 1):
                # The abandoned run's record had ended already: nothing of it to end.
                self._transact_or_conflict(items[:-1], asserts[:-1])
                return
            raise LedgerConflict(str(error), _seen(error, asserts)) from None

    def _lease_free(self, job: str, now: datetime) -> dict[str, Any]:
        """A transaction's check that the job's lease is free: no lease, or an expired one."""
        return {
            "TableName": self._table,
            "Key": self._key(job, LEASE_SORT_KEY),
            "ConditionExpression": (
                f"attribute_not_exists({PARTITION_KEY}) OR {LEASE_UNTIL} <= :now"
            ),
            "ExpressionAttributeValues": {":now": _n(epoch(now))},
        }

    def _not_paused(self, job: str) -> dict[str, Any]:
        """A transaction's check that the job is not paused (no pause record, or resumed)."""
        return {
            "TableName": self._table,
            "Key": pause_key(job),
            "ConditionExpression": f"attribute_not_exists({PARTITION_KEY}) OR #paused = :false",
            "ExpressionAttributeNames": {"#paused": PAUSED},
            "ExpressionAttributeValues": {":false": {"BOOL": False}},
        }

    def _transact_or_conflict(self, items: list[dict[str, Any]], asserts: _Asserts) -> None:
        try:
            self._client.transact_write_items(TransactItems=items)
        except ClientError as error:
            if error.response["Error"]["Code"] == "TransactionCanceledException":
                raise LedgerConflict(str(error), _seen(error, asserts)) from None
            raise

    def _end_run(self, job: str, abandon: Abandoned, now: datetime) -> dict[str, Any]:
        """End a RUNNING record of the given holder (an Update for a transaction)."""
        return {
            "TableName": self._table,
            "Key": self._key(job, slot_sort_key(abandon.lease.slot)),
            "UpdateExpression": f"SET #status = :status, {REASON} = :reason, "
            f"{ENDED_AT} = if_not_exists({ENDED_AT}, :now) REMOVE {RUNNING_ATTRIBUTE}",
            "ConditionExpression": "#owner = :old AND #status IN (:running, :ended)",
            "ExpressionAttributeNames": _NAMES,
            "ExpressionAttributeValues": {
                ":status": _s(abandon.status),
                ":reason": _s(abandon.reason),
                ":now": _s(iso(now)),
                ":old": _s(abandon.lease.holder),
                ":running": _s(Status.RUNNING),
                ":ended": _s(Status.ABORTED if abandon.also_if_aborted else Status.RUNNING),
            },
        }

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
                    JOB: _s(job),
                    SLOT: _s(slot),
                    STATUS: _s(status),
                    OWNER: _s(me),
                    REASON: _s(reason),
                    STARTED_AT: _s(iso(now)),
                    ENDED_AT: _s(iso(now)),
                    TTL_ATTRIBUTE: _n(epoch(now + retention)),
                },
                ConditionExpression=f"attribute_not_exists({PARTITION_KEY}) OR #owner = :me "
                "OR #status = :missed",
                ExpressionAttributeNames=_NAMES,
                ExpressionAttributeValues={":me": _s(me), ":missed": _s(Status.MISSED)},
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
                UpdateExpression=f"ADD {DUPLICATES} :one",
                ConditionExpression=f"attribute_exists({PARTITION_KEY})",
                ExpressionAttributeValues={":one": _n(1)},
            )
        except ClientError as error:
            if error.response["Error"]["Code"] != "ConditionalCheckFailedException":
                raise

    def finish(
        self,
        *,
        job: str,
        slot: str,
        me: str,
        now: datetime,
        outcome: Outcome,
        retries: int = 0,
        keep_lease: bool = False,
        attempt: int = 1,
    ) -> datetime | None:
        """Record how the run ended and release the lease — unless ``keep_lease``: the run's
        task is not confirmed STOPPED, so the lease stays until the reconciler sees it STOPPED
        (or it expires).

        ``retries``: how often Run job was retried before this outcome (launch failures, and
        failed attempts under ``job_retries``); kept when there were any, so a run that failed
        once and then succeeded says so. ``attempt`` > 1: the last attempt joins ``ATTEMPTS``.

        Returns when the run started (for its duration), or None when the slot is not ours
        or already finished: then nothing is rewritten.
        """
        values: dict[str, Any] = {
            ":status": _s(outcome.status),
            ":reason": _s(outcome.reason),
            ":now": _s(iso(now)),
            ":me": _s(me),
            ":running": _s(Status.RUNNING),
        }
        sets = ["#status = :status", f"{REASON} = :reason", f"{ENDED_AT} = :now"]
        for attribute, value in (
            (TASK_ARN, outcome.task_arn),
            (STOPPED_REASON, outcome.stopped_reason),
            (TASK_STOP, outcome.task_stop),
        ):
            if value is not None:
                sets.append(f"{attribute} = :{attribute}")
                values[f":{attribute}"] = _s(value)
        if outcome.exit_code is not None:
            sets.append(f"{EXIT_CODE} = :exit_code")
            values[":exit_code"] = _n(outcome.exit_code)
        if retries:
            sets.append(f"{RETRIES} = :retries")
            values[":retries"] = _n(retries)
        if attempt > 1:
            sets.append(f"{ATTEMPTS} = list_append(if_not_exists({ATTEMPTS}, :none), :attempt)")
            values |= {":none": {"L": []}, ":attempt": {"L": [_attempt(outcome, now)]}}
        started: datetime | None = None
        try:
            previous = self._client.update_item(
                TableName=self._table,
                Key=self._key(job, slot_sort_key(slot)),
                UpdateExpression="SET " + ", ".join(sets) + f" REMOVE {RUNNING_ATTRIBUTE}",
                ConditionExpression="#owner = :me AND #status = :running",
                ExpressionAttributeNames=_NAMES,
                ExpressionAttributeValues=values,
                ReturnValues="ALL_OLD",
            )["Attributes"]
            started = parse_iso(previous[STARTED_AT]["S"])
        except ClientError as error:
            if error.response["Error"]["Code"] != "ConditionalCheckFailedException":
                raise
        if not keep_lease:
            self.release_lease(job, me)
        return started

    def record_attempt(
        self, *, job: str, slot: str, me: str, now: datetime, outcome: Outcome, attempt: int
    ) -> bool:
        """Append a failed attempt that is retried to the slot's ``ATTEMPTS``; the run stays
        RUNNING and keeps its lease. Once per attempt (a retried guard call writes nothing
        again); False when the slot is not this execution's RUNNING run."""
        try:
            self._client.update_item(
                TableName=self._table,
                Key=self._key(job, slot_sort_key(slot)),
                UpdateExpression=f"SET {ATTEMPTS} = "
                f"list_append(if_not_exists({ATTEMPTS}, :none), :attempt)",
                ConditionExpression="#owner = :me AND #status = :running AND "
                f"(attribute_not_exists({ATTEMPTS}) OR size({ATTEMPTS}) < :number)",
                ExpressionAttributeNames=_NAMES,
                ExpressionAttributeValues={
                    ":me": _s(me),
                    ":running": _s(Status.RUNNING),
                    ":none": {"L": []},
                    ":attempt": {"L": [_attempt(outcome, now)]},
                    ":number": _n(attempt),
                },
            )
        except ClientError as error:
            if error.response["Error"]["Code"] == "ConditionalCheckFailedException":
                return False
            raise
        return True

    def release_lease(self, job: str, me: str) -> bool:
        try:
            self._client.delete_item(
                TableName=self._table,
                Key=self._key(job, LEASE_SORT_KEY),
                ConditionExpression=f"{HOLDER} = :me",
                ExpressionAttributeValues={":me": _s(me)},
            )
        except ClientError as error:
            if error.response["Error"]["Code"] == "ConditionalCheckFailedException":
                return False
            raise
        return True
