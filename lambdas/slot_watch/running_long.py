"""A run still running its job's ``alert_after`` after it started: its owner is alerted once.

The slot watch reads each job's lease every check (``handler.read_job``). When the run holding
it started (``ACQUIRED_AT``) ``alert_after`` ago or longer, ``check_running_long`` marks the
lease ``RUNNING_LONG_AT`` with a conditional update — only while the same run holds it, and
only if no check marked it yet — and the check that marked it counts ``RunningLong`` for the
job, which the job's running-long alarm (``stacks/job/monitoring.py``) sends to the
environment's and the owner's topics. Each claim puts a new lease, so it is once per run.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from aws_lambda_powertools import Logger
from botocore.exceptions import ClientError

from lambdas.core import metrics_contract as names
from lambdas.core.emit import count
from lambdas.core.ledger_contract import (
    ACQUIRED_AT,
    HOLDER,
    LEASE_SORT_KEY,
    LEASE_UNTIL,
    PARTITION_KEY,
    RUNNING_LONG_AT,
    SLOT,
    SORT_KEY,
    partition,
)
from lambdas.core.times import iso, parse_iso
from lambdas.slot_watch.manifest import WatchedJob

logger = Logger(service=names.SLOT_WATCH_LOG_SERVICE, child=True)

# The lease attributes check_running_long reads besides LEASE_UNTIL, which the watch's Query
# projects anyway (a projection naming an attribute twice is refused).
LEASE_ATTRIBUTES = (HOLDER, SLOT, ACQUIRED_AT, RUNNING_LONG_AT)


@dataclass(frozen=True)
class HeldLease:
    holder: str  # the execution running the job
    slot: str
    acquired: datetime  # when the run claimed the job
    marked: bool  # a check already found it running long


def held_lease(item: Mapping[str, Any], now: datetime) -> HeldLease | None:
    """The lease item's run, while it holds the lease (None once void or without a start)."""
    acquired = item.get(ACQUIRED_AT, {}).get("S")
    if HOLDER not in item or acquired is None:
        return None
    if int(item.get(LEASE_UNTIL, {}).get("N", "0")) <= now.timestamp():
        return None
    return HeldLease(
        holder=item[HOLDER]["S"],
        slot=item.get(SLOT, {}).get("S", ""),
        acquired=parse_iso(acquired),
        marked=RUNNING_LONG_AT in item,
    )


def check_running_long(
    ledger: Any,
    table: str,
    job: WatchedJob,
    lease: Mapping[str, Any] | None,
    *,
    environment: str,
    now: datetime,
) -> bool:
    """Mark and count the run holding ``lease`` once it has run ``job.alert_after``; True when
    this check did (False: no alert_after, no run, not yet, or already marked)."""
    if job.alert_after is None or lease is None:
        return False
    held = held_lease(lease, now)
    if held is None or held.marked or now < held.acquired + job.alert_after:
        return False
    try:
        ledger.update_item(
            TableName=table,
            Key={PARTITION_KEY: {"S": partition(job.name)}, SORT_KEY: {"S": LEASE_SORT_KEY}},
            UpdateExpression="SET #marked = :now",
            # The same run, not marked yet: a new run's lease, or two checks at once, are not.
            ConditionExpression="#holder = :holder AND attribute_not_exists(#marked)",
            ExpressionAttributeNames={"#marked": RUNNING_LONG_AT, "#holder": HOLDER},
            ExpressionAttributeValues={":now": {"S": iso(now)}, ":holder": {"S": held.holder}},
        )
    except ClientError as error:
        if error.response["Error"]["Code"] == "ConditionalCheckFailedException":
            return False
        raise
    count(names.RUNNING_LONG, environment, job=job.name)
    logger.warning(
        "run still running past alert_after",
        job=job.name,
        slot=held.slot,
        execution=held.holder,
        started_at=iso(held.acquired),
        alert_after_seconds=int(job.alert_after.total_seconds()),
    )
    return True
