"""``cronguard status``: one row per job, from the ledger and the config only.

**One Query per job, no scans.** A job's partition (``pk = job#<job>``) holds everything a
row needs: its ``slot#…`` records (last slot, runs in progress, ``MISSED`` slots, failures),
its ``lease``, its ``pause`` record (and the slot watch's ``schedule`` record). The sort keys
order them ``lease`` < ``pause`` < ``schedule`` < ``slot#<time>`` < ``slot#manual:…``, so no
single key range can leave the old slots out and keep the lease and pause record in; the
query reads the whole partition instead (key condition ``pk = :job``, eventually
consistent, with a projection of the attributes used).
The partition is bounded by the ledger's retention (``ledger.retention_days``, TTL; TTL
deletes lazily, within days): what it costs is the size of the job's items, 0.43 KB for a
succeeded slot's record (measured on the local engine). An hourly job with 7 days' retention
holds ~170 items (~70 KB): one page, ~9 read units. A job every minute holds ~10,100 (~4.3 MB):
five 1 MB pages, ~540 read units (eventually consistent; on demand, under $0.0001).
``next`` and ``disabled`` come from the config; nothing calls Step Functions.

**Missed** is the slot watch's own answer (``missed_of``: ``lambdas.core.missed.job_missed``):
the job's ``MISSED`` records and the slots due without a record, counted from where the watch
counts (the watch's ``schedule`` record: not before it first saw the job with its current
schedule), over the watch's look-back. ``catch-up`` starts exactly these slots.

``--json`` prints ``status_document``'s shape, stable for tools (times ISO-8601 UTC, durations
in seconds, absent values null)::

    {"environment": "dev", "generatedAt": "…Z", "windowDays": 7,
     "jobs": [{"name", "schedule", "timezone", "concurrency", "enabled",
               "state": "active" | "paused" | "disabled",
               "paused": null | {"reason", "since", "by"},
               "lastSlot": null | {"slot", "status", "reason", "execution", "startedAt",
                                   "endedAt", "ageSeconds", "durationSeconds"},
               # the latest slot with a record (not MISSED); its age is since its time
               "running": [{"slot", "execution", "startedAt", "forSeconds", "runningLong"}],
               # runningLong: it has run the job's alert_after or longer (the slot watch
               # alerts the owner once per such run)
               "nextSlot": null | {"local", "utc"},
               "missed": {"count", "slots": [slot…]},
               "failures": {"count", "slots": [{"slot", "status", "reason"}]}}]}
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from cronguard.config import Environment, Job
from cronguard.operations.environment import Operations
from lambdas.core.ledger_contract import (
    ENDED_AT,
    OWNER,
    PARTITION_KEY,
    PAUSE_PERIODS,
    PAUSE_REASON,
    PAUSE_SORT_KEY,
    PAUSED,
    PAUSED_AT,
    PAUSED_BY,
    REASON,
    RUNS,
    SLOT,
    SLOT_PREFIX,
    SORT_KEY,
    STARTED_AT,
    STATUS,
    WATCH_SORT_KEY,
    WATCHED_SCHEDULE,
    WATCHED_SINCE,
    Status,
    partition,
)
from lambdas.core.missed import (
    LOOK_BACK_CAP,
    Paused,
    WatchRecord,
    job_missed,
    look_back,
    rate_anchor,
    read_watch,
)
from lambdas.core.pause import Pause, read_pause
from lambdas.core.schedule import upcoming_slots
from lambdas.core.times import parse_iso, slot_time

PARALLEL = 16  # queries in flight at once (one per job)
WINDOW = LOOK_BACK_CAP
"""Failures are counted over this window; missed slots over the slot watch's look-back (the
ledger retention, capped at this)."""
FAILURES = frozenset({Status.FAILED, Status.TIMED_OUT, Status.ABORTED})
MISSED = Status.MISSED  # the missed-slot check's record status


PROJECTED = tuple(
    dict.fromkeys(  # unique, in order: the pause record's reason is the slot's REASON too
        [
            SORT_KEY,
            SLOT,
            STATUS,
            REASON,
            OWNER,
            STARTED_AT,
            ENDED_AT,
            RUNS,
            PAUSED,
            PAUSE_REASON,
            PAUSED_AT,
            PAUSED_BY,
            PAUSE_PERIODS,
            WATCHED_SCHEDULE,
            WATCHED_SINCE,
        ]
    )
)
"""What a row uses of the partition's items (the read units are those of whole items)."""


def partition_query(table: str, job: str) -> dict[str, Any]:
    """Query arguments for the job's whole partition (see the module doc for why)."""
    # Placeholders for every name: several are DynamoDB reserved words (status, owner).
    names = {f"#a{index}": name for index, name in enumerate(PROJECTED)}
    return {
        "TableName": table,
        "KeyConditionExpression": "#pk = :job",
        "ExpressionAttributeNames": {"#pk": PARTITION_KEY, **names},
        "ExpressionAttributeValues": {":job": {"S": partition(job)}},
        "ProjectionExpression": ", ".join(names),
    }


def _time(text: str | None) -> datetime | None:
    return parse_iso(text) if text else None


@dataclass(frozen=True)
class Run:
    """One slot record (or an earlier run of it) as a status row uses it."""

    slot: str
    status: str
    reason: str
    execution: str
    started_at: datetime | None
    ended_at: datetime | None

    @property
    def scheduled(self) -> datetime | None:
        """Its slot's scheduled time, else (a manual run) its start."""
        return slot_time(self.slot) or self.started_at

    @property
    def when(self) -> datetime | None:
        """When it happened: its start, else its scheduled time."""
        return self.started_at or slot_time(self.slot)

    @property
    def duration(self) -> timedelta | None:
        if self.started_at and self.ended_at:
            return self.ended_at - self.started_at
        return None


def _run(item: Mapping[str, Any], slot: str) -> Run:
    return Run(
        slot=slot,
        status=item.get(STATUS, {}).get("S", ""),
        reason=item.get(REASON, {}).get("S", ""),
        execution=item.get(OWNER, {}).get("S", ""),
        started_at=_time(item.get(STARTED_AT, {}).get("S")),
        ended_at=_time(item.get(ENDED_AT, {}).get("S")),
    )


@dataclass(frozen=True)
class JobStatus:
    job: Job
    now: datetime
    pause: Pause
    last: Run | None
    running: list[Run]
    next_slot: datetime | None  # in the job's time zone; None: a rate job with no record
    missed: list[str]
    failures: list[Run] = field(default_factory=list)
    owner: str | None = None  # the team that owns the job (its own owner, or the environment's)

    def running_long(self, run: Run) -> bool:
        """Whether ``run`` has run the job's ``alert_after`` or longer: what the slot watch
        alerts once (it counts from the lease, taken in the same claim as the start)."""
        after = self.job.alert_after
        return (
            after is not None and run.started_at is not None and self.now - run.started_at >= after
        )

    @property
    def state(self) -> str:
        if not self.job.enabled:
            return "disabled"
        return "paused" if self.pause.paused else "active"


def missed_window(environment: Environment) -> timedelta:
    """How far back missed slots are counted: the slot watch's look-back (the ledger
    retention, capped)."""
    return look_back(environment.ledger.retention)


def missed_of(
    job: Job, items: Iterable[Mapping[str, Any]], pause: Paused, *, now: datetime, since: datetime
) -> list[str]:
    """The job's missed slots from ``since`` on, from its partition's items: what the slot
    watch finds (``lambdas.core.missed.job_missed``), so ``status`` counts and ``catch-up``
    starts exactly what the watch reports. Slots in a pause period are not missed."""
    slots: dict[str, str] = {}
    watch = WatchRecord()
    for item in items:
        sort_key = item[SORT_KEY]["S"]
        if sort_key == WATCH_SORT_KEY:
            watch = read_watch(item)
        elif sort_key.startswith(SLOT_PREFIX):
            slots[sort_key.removeprefix(SLOT_PREFIX)] = item.get(STATUS, {}).get("S", "")
    missed = job_missed(
        job.watched_schedule,
        enabled=job.enabled,
        now=now,
        since=since,
        watch=watch,
        slots=slots,
        pauses=[pause],
    )
    return list(missed.slots)


def job_status(
    job: Job, items: Iterable[Mapping[str, Any]], now: datetime, missed_window: timedelta = WINDOW
) -> JobStatus:
    """A job's row from the items of its partition (pure: the query is ``partition_query``);
    missed slots over ``missed_window`` (the slot watch's ``look_back`` of the retention)."""
    items = list(items)
    pause = Pause()
    records: list[Run] = []
    earlier: list[Run] = []
    for item in items:
        sort_key = item[SORT_KEY]["S"]
        if sort_key == PAUSE_SORT_KEY:
            pause = read_pause(item)
        elif sort_key.startswith(SLOT_PREFIX) and STATUS in item:
            slot = item.get(SLOT, {}).get("S", sort_key[len(SLOT_PREFIX) :])
            records.append(_run(item, slot))
            earlier += [_run(run.get("M", {}), slot) for run in item.get(RUNS, {}).get("L", [])]
        # The lease adds nothing: its run's slot record is RUNNING.
    since = now - WINDOW
    oldest = datetime.min.replace(tzinfo=UTC)
    ran = [record for record in records if record.status != MISSED]
    # The latest slot, as kubectl's LAST SCHEDULE: a backfill of an old slot is not "last".
    last = max(ran, key=lambda record: record.scheduled or oldest, default=None)
    running = sorted(
        (record for record in records if record.status == Status.RUNNING),
        key=lambda record: record.when or oldest,
    )
    missed = missed_of(job, items, pause, now=now, since=now - missed_window)
    failures = sorted(
        (
            record
            for record in [*records, *earlier]
            if record.status in FAILURES and (record.when or oldest) >= since
        ),
        key=lambda record: record.when or oldest,
    )
    return JobStatus(
        job=job,
        now=now,
        pause=pause,
        last=last,
        running=running,
        next_slot=_next_slot(job, records, now),
        missed=missed,
        failures=failures,
    )


def _next_slot(job: Job, records: list[Run], now: datetime) -> datetime | None:
    """The next slot in the job's time zone. A rate schedule counts from when it was created,
    which config does not say: its phase is that of its latest recorded slot (``rate_anchor``,
    as the slot watch counts it); with no record it is unknown."""
    anchor = None
    if job.schedule.startswith("rate("):
        anchor = rate_anchor(record.slot for record in records)
        if anchor is None:
            return None
    slots = upcoming_slots(job.schedule, job.timezone, after=now, count=1, anchor=anchor)
    return slots[0] if slots else None


def read_partition(ops: Operations, job: Job, client: Any = None) -> list[dict[str, Any]]:
    """The job's partition: one Query (paged past 1 MB)."""
    table = ops.environment.ledger_table_name
    client = client or ops._client("dynamodb")
    kwargs = partition_query(table, job.name)
    items: list[dict[str, Any]] = []
    while True:
        page = ops._call(f"read the ledger {table}", client.query, **kwargs)
        items += page["Items"]
        if "LastEvaluatedKey" not in page:
            return items
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def environment_status(ops: Operations, now: datetime | None = None) -> list[JobStatus]:
    """Every job's row, in config order. The queries run side by side (``PARALLEL`` at
    once; a low-level client is safe to share between threads), so their round trips
    overlap instead of adding up over hundreds of jobs."""
    moment = now or datetime.now(UTC)
    jobs = ops.environment.jobs
    client = ops._client("dynamodb")
    with ThreadPoolExecutor(max_workers=max(1, min(PARALLEL, len(jobs)))) as pool:
        partitions = list(pool.map(lambda job: read_partition(ops, job, client), jobs))
    window = missed_window(ops.environment)
    return [
        replace(job_status(job, items, moment, window), owner=_team(ops.environment, job))
        for job, items in zip(jobs, partitions, strict=True)
    ]


def _team(environment: Environment, job: Job) -> str | None:
    owner = environment.owner_of(job)
    return owner.team if owner is not None else None


def _iso(moment: datetime | None) -> str | None:
    if moment is None:
        return None
    return moment.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def _seconds(delta: timedelta | None) -> float | None:
    return None if delta is None else round(delta.total_seconds(), 3)


def _execution(arn: str) -> str:
    return arn.rsplit(":", 1)[-1]


def job_document(row: JobStatus) -> dict[str, Any]:
    job, last = row.job, row.last
    return {
        "name": job.name,
        "schedule": job.schedule,
        "timezone": job.timezone,
        "concurrency": job.concurrency.value,
        "enabled": job.enabled,
        "state": row.state,
        "paused": (
            {"reason": row.pause.reason, "since": _iso(row.pause.since), "by": row.pause.by}
            if row.pause.paused
            else None
        ),
        "lastSlot": (
            {
                "slot": last.slot,
                "status": last.status,
                "reason": last.reason,
                "execution": _execution(last.execution),
                "startedAt": _iso(last.started_at),
                "endedAt": _iso(last.ended_at),
                "ageSeconds": _seconds(row.now - last.scheduled) if last.scheduled else None,
                "durationSeconds": _seconds(last.duration),
            }
            if last
            else None
        ),
        "running": [
            {
                "slot": run.slot,
                "execution": _execution(run.execution),
                "startedAt": _iso(run.started_at),
                "forSeconds": _seconds(row.now - run.started_at) if run.started_at else None,
                "runningLong": row.running_long(run),
            }
            for run in row.running
        ],
        "nextSlot": (
            {"local": row.next_slot.isoformat(), "utc": _iso(row.next_slot)}
            if row.next_slot
            else None
        ),
        "owner": row.owner,
        "missed": {"count": len(row.missed), "slots": row.missed},
        "failures": {
            "count": len(row.failures),
            "slots": [
                {"slot": run.slot, "status": run.status, "reason": run.reason}
                for run in row.failures
            ],
        },
    }


def status_document(
    environment: Environment, rows: list[JobStatus], now: datetime
) -> dict[str, Any]:
    return {
        "environment": environment.name,
        "generatedAt": _iso(now),
        "windowDays": WINDOW.days,
        "jobs": [job_document(row) for row in rows],
    }


def age(delta: timedelta) -> str:
    """kubectl-style: 45s, 12m, 5h, 3d."""
    seconds = int(delta.total_seconds())
    if seconds < 0:
        return "-"
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def table_rows(row: JobStatus) -> list[str]:
    """The text columns of one row: job, last slot, status, age, duration, running, next slot
    (job's zone), missed (window), failed (window), state."""
    last = row.last
    running = "-"
    if row.running:
        oldest = row.running[0].started_at
        running = f"for {age(row.now - oldest)}" if oldest else "yes"
        if oldest is not None and row.running_long(row.running[0]):
            # Past alert_after (the slot watch alerts its owner); as narrow as "for 50m".
            running = f"long {age(row.now - oldest)}"
        if len(row.running) > 1:
            running = f"{len(row.running)} runs, oldest {running}"
    if row.next_slot is not None:
        next_slot = row.next_slot.strftime("%Y-%m-%d %H:%M %Z")
    else:
        next_slot = "unknown (no slot yet)"  # a rate job: see _next_slot
    state = f"paused: {row.pause.reason}" if row.state == "paused" else row.state
    return [
        row.job.name,
        last.slot if last else "-",
        last.status if last else "-",
        age(row.now - last.scheduled) if last and last.scheduled else "-",
        age(last.duration) if last and last.duration is not None else "-",
        running,
        next_slot,
        str(len(row.missed)),
        str(len(row.failures)),
        state,
        row.owner or "-",
    ]


COLUMNS = (
    "job",
    "last slot",
    "status",
    "age",
    "duration",
    "running",
    "next slot",
    f"missed {WINDOW.days}d",
    f"failed {WINDOW.days}d",
    "state",
    "owner",
)


def pause_of(items: Iterable[Mapping[str, Any]]) -> Pause:
    """The pause record among a partition's items (``Pause()`` when there is none)."""
    return next(
        (read_pause(item) for item in items if item[SORT_KEY]["S"] == PAUSE_SORT_KEY), Pause()
    )
