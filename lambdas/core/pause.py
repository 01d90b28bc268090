"""A job's pause record in the ledger: read it, and the UpdateItem calls that pause and resume.

Dependency-free (no boto3, no CDK), so the CLI writes the record and the guard and the
missed-slot check read it with the same code. Items are in the low-level DynamoDB encoding
(``{"S": ...}``), as the clients of both sides use it.

The record is ``pk = job#<job>``, ``sk = pause`` (``PAUSE_SORT_KEY``), in the job's own
partition so the guard's IAM (``dynamodb:LeadingKeys``) already reaches it. While the job is
paused it holds ``PAUSED = true``, the reason, when and by whom; resuming sets ``PAUSED`` to
false, removes those three and appends the period that ended (from, to, reason) to
``PAUSE_PERIODS``. So the record says both whether the job is paused now and whether it was
paused at a past slot. It has no TTL.

The record is bounded (``MAX_PERIODS``): the guard reads it at every trigger, and an item
cannot pass DynamoDB's 400 KB. When resuming would keep more periods than that, the two
neighbours with the shortest gap between them are joined into one (``bounded``), so the
record keeps covering every paused moment, and the joined gap, the shortest there is, is
counted as paused too: a slot there whose delivery never came is not caught up. That is the
cautious side (a pause is never run through); it takes more than ``MAX_PERIODS`` pauses
within the missed-slot check's look-back for it to matter at all.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from itertools import pairwise
from typing import Any

from lambdas.core.ledger_contract import (
    PARTITION_KEY,
    PAUSE_PERIODS,
    PAUSE_REASON,
    PAUSE_SORT_KEY,
    PAUSED,
    PAUSED_AT,
    PAUSED_BY,
    PERIOD_FROM,
    PERIOD_TO,
    SORT_KEY,
    partition,
)
from lambdas.core.times import iso, parse_iso

# 20 periods are about 2.5 KB: the record stays within one 4 KB read unit of the guard's read.
MAX_PERIODS = 20


@dataclass(frozen=True)
class PausePeriod:
    """A past pause: ``start <= moment < end`` was paused."""

    start: datetime
    end: datetime
    reason: str

    def covers(self, moment: datetime) -> bool:
        return self.start <= moment < self.end


@dataclass(frozen=True)
class Pause:
    """What the pause record says; ``Pause()`` for a job that was never paused."""

    paused: bool = False
    reason: str = ""
    since: datetime | None = None
    by: str = ""
    periods: tuple[PausePeriod, ...] = ()
    since_text: str = ""  # ``PAUSED_AT`` as stored: what resuming asserts

    def covers(self, moment: datetime) -> bool:
        """Whether the job was (or is) paused at ``moment``: a slot there is not missed."""
        if self.paused and self.since is not None and self.since <= moment:
            return True
        return any(period.covers(moment) for period in self.periods)


def bounded(periods: tuple[PausePeriod, ...], limit: int = MAX_PERIODS) -> tuple[PausePeriod, ...]:
    """``periods`` (in time order) with at most ``limit`` entries: the two neighbours with the
    shortest gap between them are joined until they fit, the later one's reason kept."""
    kept = list(periods)
    while len(kept) > max(limit, 1):
        gaps = [later.start - earlier.end for earlier, later in pairwise(kept)]
        at = gaps.index(min(gaps))
        earlier, later = kept[at], kept[at + 1]
        kept[at : at + 2] = [
            PausePeriod(start=earlier.start, end=max(earlier.end, later.end), reason=later.reason)
        ]
    return tuple(kept)


def _period_item(period: PausePeriod) -> dict[str, Any]:
    return {
        "M": {
            PERIOD_FROM: {"S": iso(period.start)},
            PERIOD_TO: {"S": iso(period.end)},
            PAUSE_REASON: {"S": period.reason},
        }
    }


def key(job: str) -> dict[str, Any]:
    """The pause record's key (GetItem, UpdateItem)."""
    return {PARTITION_KEY: {"S": partition(job)}, SORT_KEY: {"S": PAUSE_SORT_KEY}}


def is_pause_item(item: Mapping[str, Any]) -> bool:
    return bool(item.get(SORT_KEY, {}).get("S") == PAUSE_SORT_KEY)


def read_pause(item: Mapping[str, Any] | None) -> Pause:
    """The pause record from a GetItem/Query item (None: no record, never paused)."""
    if not item:
        return Pause()
    periods = []
    for entry in item.get(PAUSE_PERIODS, {}).get("L", []):
        period = entry.get("M", {})
        periods.append(
            PausePeriod(
                start=parse_iso(period[PERIOD_FROM]["S"]),
                end=parse_iso(period[PERIOD_TO]["S"]),
                reason=period.get(PAUSE_REASON, {}).get("S", ""),
            )
        )
    since = item.get(PAUSED_AT, {}).get("S")
    return Pause(
        paused=bool(item.get(PAUSED, {}).get("BOOL", False)),
        reason=item.get(PAUSE_REASON, {}).get("S", ""),
        since=parse_iso(since) if since else None,
        by=item.get(PAUSED_BY, {}).get("S", ""),
        periods=tuple(periods),
        since_text=since or "",
    )


def pause_update(table: str, job: str, *, reason: str, by: str, now: datetime) -> dict[str, Any]:
    """UpdateItem arguments that pause ``job``: only if it is not paused already (a failed
    condition, ``ConditionalCheckFailedException``, means it was). Earlier periods are kept."""
    return {
        "TableName": table,
        "Key": key(job),
        "UpdateExpression": "SET #paused = :true, #reason = :reason, #at = :now, #by = :by",
        "ConditionExpression": "attribute_not_exists(#paused) OR #paused = :false",
        "ExpressionAttributeNames": {
            "#paused": PAUSED,
            "#reason": PAUSE_REASON,
            "#at": PAUSED_AT,
            "#by": PAUSED_BY,
        },
        "ExpressionAttributeValues": {
            ":true": {"BOOL": True},
            ":false": {"BOOL": False},
            ":reason": {"S": reason},
            ":now": {"S": iso(now)},
            ":by": {"S": by},
        },
    }


def resume_update(table: str, job: str, pause: Pause, *, now: datetime) -> dict[str, Any]:
    """UpdateItem arguments that resume ``job``, paused as ``pause`` (read just before): the
    period ``pause.since``..``now`` joins the periods, bounded (``bounded``). The condition
    asserts that read (only a resume changes the periods, and it removes ``PAUSED_AT``), so a
    pause and resume racing this one fail it instead of recording a wrong period."""
    if not pause.paused or pause.since is None:
        raise ValueError(f"{job} is not paused: nothing to resume")
    ended = PausePeriod(start=pause.since, end=max(now, pause.since), reason=pause.reason)
    periods = bounded((*pause.periods, ended))
    return {
        "TableName": table,
        "Key": key(job),
        "UpdateExpression": "SET #paused = :false, #periods = :periods REMOVE #reason, #at, #by",
        "ConditionExpression": "#paused = :true AND #at = :since",
        "ExpressionAttributeNames": {
            "#paused": PAUSED,
            "#periods": PAUSE_PERIODS,
            "#reason": PAUSE_REASON,
            "#at": PAUSED_AT,
            "#by": PAUSED_BY,
        },
        "ExpressionAttributeValues": {
            ":true": {"BOOL": True},
            ":false": {"BOOL": False},
            ":since": {"S": pause.since_text or iso(pause.since)},
            ":periods": {"L": [_period_item(period) for period in periods]},
        },
    }
