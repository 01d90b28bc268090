"""Missed slots: the slots a job's schedule was due to fire that the ledger has no record of.

Pure and dependency-free (the standard library and ``lambdas`` contract modules only), so
the slot-watch Lambda and the CLI (``cronguard catch-up``) count missed slots the same way.

A slot is **missed** when its scheduled time plus a grace period has passed and the ledger
holds no record of it: not a run, not a skip, not an earlier ``MISSED`` record (so each is
reported once). The grace period defaults to the job's flexible window plus
``GRACE_MARGIN``: Scheduler may deliver a trigger anywhere in the flexible window, and the
guard claims its slot seconds after that. Slots inside a pause period are not missed, nor
slots before the job was first watched with its current schedule (``watched_since``: a job
that is new, re-enabled or given another schedule has no history to compare with).

Cron schedules fire at fixed wall-clock times (``lambdas.core.schedule`` reproduces Scheduler's
time zones and DST). A rate schedule fires every interval from when Scheduler created it,
which config does not know: its slots are counted from the latest slot the ledger holds
(``rate_anchor``), a run or an earlier ``MISSED`` record, so the phase is the one Scheduler
really uses. A rate job with no record at all has no phase to count from; once a whole
interval plus the grace has passed since it was first watched, the check says so
(``Check.silent``) without naming a slot.

``job_missed`` is the one answer to "which of this job's slots are missed": the slot watch
records and reports what it finds, ``cronguard status`` counts it and ``cronguard catch-up``
starts it. It is the job's ``MISSED`` records plus the due slots with no record, counted from
where the watch counts (``WatchRecord``): nothing before the watch first saw the job with its
current schedule, and nothing computed while it has not seen that schedule yet.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from lambdas.core.ledger_contract import (
    CHECKED_UNTIL,
    LATEST_SLOT,
    REASON,
    RECENT_FAILURES,
    RECENT_MISSED,
    SLOT,
    STATUS,
    WATCHED_SCHEDULE,
    WATCHED_SINCE,
    Status,
)
from lambdas.core.schedule import CronSchedule, RateSchedule, load_time_zone, parse_schedule
from lambdas.core.times import parse_iso, slot_key, slot_time

GRACE_MARGIN = timedelta(minutes=5)
"""Added to the flexible window: the default grace before a slot without a record is missed."""
LOOK_BACK_CAP = timedelta(days=7)
"""The look-back window is the ledger retention, capped at this."""
MAX_MISSED = 500
"""At most this many missed slots per job and check (the rest are found by the next check)."""
_BATCH = 256
_TICK = timedelta(microseconds=1)
_SECOND = timedelta(seconds=1)  # a slot's resolution (``SLOT_FORMAT``)


@dataclass(frozen=True)
class JobSchedule:
    """What the check knows of a job's schedule: config's deploy intent, never the deployed
    schedule's state (a schedule disabled by mistake must show up as missed slots)."""

    expression: str
    timezone: str = "UTC"
    flexible_window: timedelta = timedelta(0)
    start: datetime | None = None  # Scheduler's StartDate: no slot before it
    end: datetime | None = None  # Scheduler's EndDate: no slot after it

    def __post_init__(self) -> None:
        parse_schedule(self.expression)  # ScheduleExpressionError names the expression
        load_time_zone(self.timezone)  # ValueError names the zone
        if self.flexible_window < timedelta(0):
            raise ValueError(f"flexible_window must not be negative, got {self.flexible_window}")
        for name, moment in (("start", self.start), ("end", self.end)):
            if moment is not None and moment.utcoffset() is None:
                raise ValueError(f"{name} must be a timezone-aware datetime, got {moment!r}")

    @property
    def grace(self) -> timedelta:
        """The default grace: the flexible window plus ``GRACE_MARGIN``."""
        return self.flexible_window + GRACE_MARGIN

    @property
    def fingerprint(self) -> str:
        """What, when it changes, restarts the job's watch (its slots before were another
        schedule's). The flexible window is left out: it moves no slot."""
        parts = [self.expression, self.timezone]
        parts += [
            moment.astimezone(UTC).isoformat() if moment else ""
            for moment in (
                self.start,
                self.end,
            )
        ]
        return " ".join(parts).rstrip()


def watch_fingerprint(schedule: JobSchedule, enabled: bool) -> str:
    """What the slot watch keeps of a job (``WATCHED_SCHEDULE``): when it changes (a new
    schedule, a job disabled or enabled again), the job's watch restarts."""
    return f"{schedule.fingerprint} :{'enabled' if enabled else 'disabled'}"


@dataclass(frozen=True)
class Failure:
    """A failed slot the watch's watermark passed: its slot, status and reason."""

    slot: str
    status: str
    reason: str

    @property
    def item(self) -> dict[str, Any]:
        return {
            "M": {SLOT: {"S": self.slot}, STATUS: {"S": self.status}, REASON: {"S": self.reason}}
        }


@dataclass(frozen=True)
class WatchRecord:
    """The slot watch's record of a job (``WATCH_SORT_KEY``): the job as the watch last saw it
    (``watch_fingerprint``) and since when, its watermark (``checked_until``: every slot due
    before it was checked, and found recorded, paused or recorded MISSED) and the latest dated
    slot it saw recorded. ``WatchRecord()``: the watch has not seen the job yet."""

    fingerprint: str | None = None
    since: datetime | None = None
    checked_until: str | None = None  # a slot key
    latest_slot: str | None = None  # a slot key
    # MISSED and failed slots the watermark passed (``RECENT_MISSED``, ``RECENT_FAILURES``).
    recent_missed: tuple[str, ...] = ()
    recent_failures: tuple[Failure, ...] = ()

    def counts(self, schedule: JobSchedule, enabled: bool) -> bool:
        """Whether the watch counts this schedule's slots (it has seen it, enabled)."""
        return enabled and self.fingerprint == watch_fingerprint(schedule, enabled)

    def checks_from(self, since: datetime) -> datetime:
        """Where a check's due slots start, looking back to ``since``: not before the watch
        first saw the job, nor before its watermark."""
        start = since if self.since is None else max(since, self.since)
        watermark = slot_time(self.checked_until) if self.checked_until else None
        return start if watermark is None else max(start, watermark)

    def reads_from(self, since: datetime) -> str:
        """The first slot key whose record a check (or ``status``) needs, looking back to
        ``since``: the watermark, if later. Records before it were read by an earlier check."""
        first = slot_key(since)
        return max(first, self.checked_until) if self.checked_until else first


def read_watch(item: Mapping[str, Any] | None) -> WatchRecord:
    """The watch's record from a GetItem/Query item (None: no record)."""
    if not item:
        return WatchRecord()
    since = item.get(WATCHED_SINCE, {}).get("S")
    failures = (entry.get("M", {}) for entry in item.get(RECENT_FAILURES, {}).get("L", []))
    return WatchRecord(
        item.get(WATCHED_SCHEDULE, {}).get("S"),
        parse_iso(since) if since else None,
        item.get(CHECKED_UNTIL, {}).get("S"),
        item.get(LATEST_SLOT, {}).get("S"),
        tuple(entry["S"] for entry in item.get(RECENT_MISSED, {}).get("L", [])),
        tuple(
            Failure(
                entry.get(SLOT, {}).get("S", ""),
                entry.get(STATUS, {}).get("S", ""),
                entry.get(REASON, {}).get("S", ""),
            )
            for entry in failures
        ),
    )


class Paused(Protocol):
    """Whether the job was paused at a moment: ``lambdas.core.pause.Pause`` (the pause record)."""

    def covers(self, moment: datetime) -> bool: ...


@dataclass(frozen=True)
class Check:
    """One job's missed slots (oldest first, slot keys as the ledger writes them)."""

    missed: tuple[str, ...]
    due: int  # slots due in the window (their grace has passed), missed ones included
    window_start: datetime
    window_end: datetime  # slots up to here had their grace
    truncated: bool = False  # more than MAX_MISSED were missed: the next check finds the rest
    silent: bool = False  # a rate job with no record to count from, and overdue
    paused: tuple[str, ...] = field(default=())  # due slots left out because the job was paused
    # Every due slot before this was checked (a slot key): just after the last due slot, or
    # the first one left for the next check (truncated). None: no slot was due.
    checked_until: str | None = None
    anchor: str | None = None  # a rate schedule's latest recorded slot, its phase


def look_back(retention: timedelta) -> timedelta:
    """The default look-back window: the ledger retention (older records are gone), capped."""
    return min(retention, LOOK_BACK_CAP)


def outlives_window(schedule: JobSchedule, retention: timedelta) -> bool:
    """Whether the check could never notice a missed run of this rate schedule.

    A rate job's slots count from its latest record, and a job with none in the look-back
    window is reported silent once an interval plus the grace passed in it. If the interval
    plus the grace is longer than the window, the previous record has always left the window
    (and the ledger, once retention removed it) before the next slot's grace has passed:
    neither can ever fire."""
    parsed = parse_schedule(schedule.expression)
    return isinstance(parsed, RateSchedule) and parsed.interval + schedule.grace > look_back(
        retention
    )


def rate_anchor(recorded: Iterable[str | None]) -> datetime | None:
    """The latest scheduled time among the ledger's slot keys (manual runs' slots have none).

    Slot keys of one format sort as their times do: only the latest is parsed."""
    dated = (slot for slot in recorded if slot and slot[:1].isdigit())
    for slot in sorted(dated, reverse=True):
        moment = slot_time(slot)
        if moment is not None:
            return moment
    return None


def due_slots(
    schedule: JobSchedule,
    *,
    after: datetime,
    until: datetime,
    anchor: datetime | None = None,
) -> Iterator[datetime]:
    """The schedule's slots from ``after`` (inclusive) to ``until`` (inclusive), in UTC.

    A rate schedule needs ``anchor`` (one of its slots): it yields ``anchor + k * interval``,
    k >= 1, only — slots before the anchor may belong to an earlier phase of the schedule.
    """
    parsed = parse_schedule(schedule.expression)
    tz = load_time_zone(schedule.timezone)
    floor = after
    if schedule.start is not None:
        floor = max(floor, schedule.start)
    if schedule.end is not None:
        until = min(until, schedule.end)
    cursor = floor - _TICK  # next_fire_times is strictly after its argument
    if isinstance(parsed, RateSchedule):
        if anchor is None:
            return
        cursor = max(cursor, anchor)
    while cursor < until:
        if isinstance(parsed, CronSchedule):
            batch = parsed.next_fire_times(cursor, tz, _BATCH)
        else:
            assert anchor is not None
            batch = parsed.next_fire_times(cursor, tz, _BATCH, anchor)
        if not batch:
            return
        for moment in batch:
            utc = moment.astimezone(UTC)
            if utc > until:
                return
            yield utc
        cursor = batch[-1]


def missed_slots(
    schedule: JobSchedule,
    *,
    now: datetime,
    since: datetime,
    recorded: Collection[str],
    pauses: Iterable[Paused] = (),
    grace: timedelta | None = None,
    limit: int = MAX_MISSED,
    latest: str | None = None,
) -> Check:
    """The slots due from ``since`` (inclusive) whose grace has passed by ``now`` and that have
    no record in ``recorded`` (the ledger's slot keys: any status, ``MISSED`` included).

    ``job_missed`` says from where (the look-back window, where the watch counts from, its
    watermark). ``latest``: a recorded slot older than ``recorded`` (a rate schedule's phase
    when its record was read by an earlier check).
    """
    for name, moment in (("now", now), ("since", since)):
        if moment.utcoffset() is None:
            raise ValueError(f"{name} must be a timezone-aware datetime, got {moment!r}")
    if limit < 1:
        raise ValueError(f"limit must be at least 1, got {limit}")
    grace = schedule.grace if grace is None else grace
    if grace < timedelta(0):
        raise ValueError(f"grace must not be negative, got {grace}")
    now, since = now.astimezone(UTC), since.astimezone(UTC)
    until = now - grace
    pauses = tuple(pauses)
    recorded_keys = set(recorded)
    parsed = parse_schedule(schedule.expression)
    anchor = None
    if isinstance(parsed, RateSchedule):
        anchor = rate_anchor([*recorded_keys, latest])
    missed: list[str] = []
    paused: list[str] = []
    due = 0
    truncated = False
    checked_until = None
    for slot in due_slots(schedule, after=since, until=until, anchor=anchor):
        due += 1
        key = slot_key(slot)
        if key in recorded_keys:
            pass
        elif any(pause.covers(slot) for pause in pauses):
            paused.append(key)
        elif len(missed) == limit:
            truncated = True
            checked_until = key  # the next check starts with it
            break
        else:
            missed.append(key)
        checked_until = slot_key(slot + _SECOND)
    if anchor is not None and checked_until is None:
        # A rate schedule has no slot due before its latest record: that far is checked.
        checked_until = slot_key(anchor + _SECOND)
    silent = False
    if isinstance(parsed, RateSchedule) and anchor is None:
        # No slot to count from: silent once a whole interval (plus grace) passed without a
        # record while the job was not paused.
        first = max(since, schedule.start) if schedule.start else since
        last = min(until, schedule.end) if schedule.end else until
        moment = first + parsed.interval
        while moment <= last and not silent:
            silent = not any(pause.covers(moment) for pause in pauses)
            moment += parsed.interval
    return Check(
        missed=tuple(missed),
        due=due,
        window_start=since,
        window_end=until,
        truncated=truncated,
        silent=silent,
        paused=tuple(paused),
        checked_until=checked_until,
        anchor=slot_key(anchor) if anchor else None,
    )


@dataclass(frozen=True)
class Missed:
    """A job's missed slots (``job_missed``)."""

    slots: tuple[str, ...]  # every missed slot from ``since`` on, oldest first
    unrecorded: tuple[str, ...]  # those without a record yet (the watch records them MISSED)
    check: Check | None  # the schedule's check; None while the watch does not count it


def job_missed(
    schedule: JobSchedule,
    *,
    enabled: bool,
    now: datetime,
    since: datetime,
    watch: WatchRecord,
    slots: Mapping[str, str],
    pauses: Iterable[Paused] = (),
    limit: int = MAX_MISSED,
) -> Missed:
    """The job's missed slots at ``now``, from ``since`` on (usually ``now - look_back``):
    its ``MISSED`` records, and the slots due without a record (``missed_slots``) from where
    the watch counts (``WatchRecord.since``; none while it does not count this schedule).
    ``slots`` is the ledger's slot keys with their status, from ``watch.reads_from(since)`` on
    at least: slots before the watermark were checked already, and the MISSED ones among them
    are in the watch's record (``recent_missed``) unless ``slots`` says they ran since."""
    earlier = [slot for slot in watch.recent_missed if slot not in slots]
    recorded = [
        slot
        for slot, status in [*slots.items(), *((slot, Status.MISSED) for slot in earlier)]
        if status == Status.MISSED and (moment := slot_time(slot)) is not None and moment >= since
    ]
    if not watch.counts(schedule, enabled):
        return Missed(tuple(sorted(recorded)), (), None)
    start = watch.checks_from(since)
    check = missed_slots(
        schedule,
        now=now,
        since=start,
        recorded=slots,
        pauses=pauses,
        limit=limit,
        latest=watch.latest_slot,
    )
    return Missed(tuple(sorted({*recorded, *check.missed})), check.missed, check)


def any_due(schedule: JobSchedule, watch: WatchRecord, *, now: datetime, since: datetime) -> bool:
    """Whether a slot of the schedule may be due since the watch's watermark: else a check has
    no slot record to read. A rate schedule whose phase the watch does not know yet may."""
    parsed = parse_schedule(schedule.expression)
    anchor = slot_time(watch.latest_slot) if watch.latest_slot else None
    if isinstance(parsed, RateSchedule) and anchor is None:
        return True
    waiting = watch.checked_until and watch.latest_slot and watch.checked_until <= watch.latest_slot
    if waiting:  # the watermark waits at a slot before the latest: RUNNING, or to catch up
        return True
    until = now - schedule.grace
    first = due_slots(schedule, after=watch.checks_from(since), until=until, anchor=anchor)
    return next(first, None) is not None
