"""``cronguard status``: one row per job, from the ledger and the config only.

**The key ranges the slot watch reads, no scans** (``read_job``). A job's partition
(``pk = job#<job>``) sorts ``lease`` < ``pause`` < ``schedule`` < ``slot#<time>`` <
``slot#manual:…``. A row reads, eventually consistent, with a projection of the attributes
used: the lease, the pause record and the slot watch's record (``lease`` to ``schedule``);
the slots from the watch's watermark to now (runs in progress and the slots the watch has
not passed yet); the latest slots, newest first, until one that ran; the manual runs; and
the MISSED slots the watch listed, to see which ran since. What the watermark passed in the
window comes from the watch's record: the MISSED and failed slots it listed
(``RECENT_MISSED``, ``RECENT_FAILURES``). So a row costs a few read units whatever the
history: 2.5 for a job every minute with 7 days of it (``docs/benchmark.md``), where the
whole partition was about 540. ``next`` and ``disabled`` come from the config; nothing calls
Step Functions.

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
    CHECKED_UNTIL,
    ENDED_AT,
    FAILURE_STATUSES,
    LEASE_SORT_KEY,
    OWNER,
    PARTITION_KEY,
    PAUSE_PERIODS,
    PAUSE_REASON,
    PAUSE_SORT_KEY,
    PAUSED,
    PAUSED_AT,
    PAUSED_BY,
    REASON,
    RECENT_FAILURES,
    RECENT_MISSED,
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
    slot_sort_key,
)
from lambdas.core.missed import (
    LOOK_BACK_CAP,
    Failure,
    Paused,
    WatchRecord,
    job_missed,
    look_back,
    rate_anchor,
    read_watch,
)
from lambdas.core.pause import Pause, read_pause
from lambdas.core.schedule import upcoming_slots
from lambdas.core.times import parse_iso, slot_key, slot_time
from lambdas.core.trigger import MANUAL_PREFIX

PARALLEL = 16  # queries in flight at once (one per job)
WINDOW = LOOK_BACK_CAP
"""Failures are counted over this window; missed slots over the slot watch's look-back (the
ledger retention, capped at this)."""
FAILURES = FAILURE_STATUSES
LATEST_PAGE = 10  # the latest slots are read this many at a time, until one that ran
LATEST_PAGES = 10  # at most: a job whose latest 100 slots were all missed shows none
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
            CHECKED_UNTIL,
            RECENT_MISSED,
            RECENT_FAILURES,
        ]
    )
)
"""What a row uses of the partition's items (the read units are those of whole items)."""


def partition_query(table: str, job: str, key_range: str = "", **values: str) -> dict[str, Any]:
    """Query arguments for the job's items: its whole partition, or those whose ``sk`` is in
    ``key_range`` (a condition on ``#sk`` with ``values`` as its placeholders)."""
    # Placeholders for every name: several are DynamoDB reserved words (status, owner).
    names = {f"#a{index}": name for index, name in enumerate(PROJECTED)}
    condition = "#pk = :job" + (f" AND {key_range}" if key_range else "")
    return {
        "TableName": table,
        "KeyConditionExpression": condition,
        "ExpressionAttributeNames": {
            "#pk": PARTITION_KEY,
            **({"#sk": SORT_KEY} if key_range else {}),
            **names,
        },
        "ExpressionAttributeValues": {
            ":job": {"S": partition(job)},
            **{f":{name}": {"S": value} for name, value in values.items()},
        },
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


def _failed(failure: Failure) -> Run:
    return Run(failure.slot, failure.status, failure.reason, "", None, None)


def job_status(
    job: Job, items: Iterable[Mapping[str, Any]], now: datetime, missed_window: timedelta = WINDOW
) -> JobStatus:
    """A job's row from the items ``read_job`` read (or its whole partition): pure. Failed
    slots the watch's watermark passed come from its record; missed slots are counted over
    ``missed_window`` (the slot watch's ``look_back`` of the retention)."""
    items = list(items)
    pause = Pause()
    records: list[Run] = []
    earlier: list[Run] = []
    watch = WatchRecord()
    for item in items:
        sort_key = item[SORT_KEY]["S"]
        if sort_key == PAUSE_SORT_KEY:
            pause = read_pause(item)
        elif sort_key == WATCH_SORT_KEY:
            watch = read_watch(item)
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
    read = {record.slot for record in records}
    passed = [_failed(failure) for failure in watch.recent_failures if failure.slot not in read]
    failures = sorted(
        (
            record
            for record in [*records, *earlier, *passed]
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


def _query(
    ops: Operations, client: Any, kwargs: dict[str, Any], pages: int | None = None
) -> list[dict[str, Any]]:
    """The items of a Query, paged (past 1 MB, or past ``Limit``), at most ``pages`` pages;
    with ``pages``, stops at the first page holding a slot that ran (not MISSED)."""
    table = kwargs["TableName"]
    items: list[dict[str, Any]] = []
    for _ in range(pages or 1_000_000):
        page = ops._call(f"read the ledger {table}", client.query, **kwargs)
        items += page["Items"]
        ran = any(item.get(STATUS, {}).get("S") not in (None, MISSED) for item in page["Items"])
        if "LastEvaluatedKey" not in page or (pages is not None and ran):
            break
        kwargs = {**kwargs, "ExclusiveStartKey": page["LastEvaluatedKey"]}
    return items


def read_job(
    ops: Operations, job: Job, client: Any, now: datetime, window: timedelta
) -> list[dict[str, Any]]:
    """What a row needs of the job's partition, read by key ranges (see the module doc)."""
    table = ops.environment.ledger_table_name
    records = _query(
        ops,
        client,
        partition_query(
            table, job.name, "#sk BETWEEN :low AND :high", low=LEASE_SORT_KEY, high=WATCH_SORT_KEY
        ),
    )
    watch = next(
        (read_watch(item) for item in records if item[SORT_KEY]["S"] == WATCH_SORT_KEY),
        WatchRecord(),
    )
    now_key = slot_sort_key(slot_key(now))
    first = slot_sort_key(watch.reads_from(now - window))
    new = _query(
        ops,
        client,
        partition_query(table, job.name, "#sk BETWEEN :low AND :high", low=first, high=now_key),
    )
    manual = partition_query(
        table, job.name, "begins_with(#sk, :manual)", manual=slot_sort_key(MANUAL_PREFIX)
    )
    items = [*records, *new, *_query(ops, client, manual)]
    if not any(item.get(STATUS, {}).get("S") not in (None, MISSED) for item in new):
        # The latest slot that ran is behind the watermark: read back from now to it.
        latest = partition_query(
            table, job.name, "#sk BETWEEN :low AND :high", low=SLOT_PREFIX, high=now_key
        )
        latest.update(ScanIndexForward=False, Limit=LATEST_PAGE)
        items += _query(ops, client, latest, LATEST_PAGES)
    seen = {item[SORT_KEY]["S"] for item in items}
    listed = [slot_sort_key(slot) for slot in watch.recent_missed]
    items += _missed_records(ops, client, table, job, [key for key in listed if key not in seen])
    return list({item[SORT_KEY]["S"]: item for item in items}.values())


def _missed_records(
    ops: Operations, client: Any, table: str, job: Job, keys: list[str]
) -> list[dict[str, Any]]:
    """The records of the MISSED slots the watch listed (a catch-up may have run them)."""
    names = {f"#a{index}": name for index, name in enumerate(PROJECTED)}
    items: list[dict[str, Any]] = []
    for start in range(0, len(keys), 100):  # BatchGetItem: 100 keys a call
        request: dict[str, Any] = {
            table: {
                "Keys": [
                    {PARTITION_KEY: {"S": partition(job.name)}, SORT_KEY: {"S": key}}
                    for key in keys[start : start + 100]
                ],
                "ProjectionExpression": ", ".join(names),
                "ExpressionAttributeNames": names,
            }
        }
        while request:
            answer = ops._call(
                f"read the ledger {table}", client.batch_get_item, RequestItems=request
            )
            items += answer["Responses"].get(table, [])
            request = answer.get("UnprocessedKeys") or {}
    return items


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
    window = missed_window(ops.environment)
    with ThreadPoolExecutor(max_workers=max(1, min(PARALLEL, len(jobs)))) as pool:
        partitions = list(pool.map(lambda job: read_job(ops, job, client, moment, window), jobs))
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
