"""The slot watch's ``jobs.json``: every job of the environment as config declares it.

The watch must compare the ledger with deploy intent, not with the deployed schedules' state
(a schedule disabled by mistake is exactly what it should report), and Lambda environment
variables (4 KB) or an EventBridge input (8 KB) cannot hold thousands of jobs. So synth
writes this manifest into a small layer of the watch's own (``stacks/slot_watch.py``): a config
change updates the watch alone, never the guards' shared code asset.

Dependency-free: the stack renders it with ``render``, the Lambda reads it with ``load``.
The bytes are deterministic (sorted keys, jobs in name order), so synth stays deterministic.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from lambdas.core.missed import JobSchedule, watch_fingerprint

FILE_NAME = "jobs.json"
LAYER_PATH = f"/opt/{FILE_NAME}"  # where Lambda mounts the layer's files
VERSION = 1

SHARD_SIZE = 250
"""At most this many jobs per invocation: the stack schedules one check per shard of the
manifest, so no invocation's work grows with the number of jobs. ``docs/benchmark.md`` (the
cost table) measures a steady check of this many at the function's memory well within a
quarter of its timeout."""
SHARD = "shard"  # the check's event: {"shard": index, "shards": count}
SHARDS = "shards"


class ManifestError(ValueError):
    """The manifest is not one ``render`` wrote: a deploy bug, named with the field."""


@dataclass(frozen=True)
class WatchedJob:
    name: str
    state_machine: str  # the state machine's name; its ARN is STATE_MACHINE_ARN_PREFIX + this
    schedule: JobSchedule
    enabled: bool = True
    catch_up: timedelta | None = None  # start missed slots this recent by itself
    alert_after: timedelta | None = None  # alert once per run still running this long

    @property
    def fingerprint(self) -> str:
        """What the watch keeps in the ledger: when it changes, the job's watch restarts."""
        return watch_fingerprint(self.schedule, self.enabled)


@dataclass(frozen=True)
class Shard:
    """Which of the manifest's jobs one check covers: every ``count``-th job in name order,
    from the ``index``-th. ``Shard()`` is every job (an event without a shard)."""

    index: int = 0
    count: int = 1

    @classmethod
    def of(cls, event: Mapping[str, Any]) -> Shard:
        index, count = event.get(SHARD, 0), event.get(SHARDS, 1)
        if not (isinstance(index, int) and isinstance(count, int) and 0 <= index < count):
            raise ManifestError(f"not a shard of the slot watch: {dict(event)!r}")
        return cls(index, count)

    @property
    def event(self) -> dict[str, int]:
        return {SHARD: self.index, SHARDS: self.count}


def shards(jobs: int) -> tuple[Shard, ...]:
    """The shards of a manifest of ``jobs`` jobs: each at most ``SHARD_SIZE``."""
    count = max(1, -(-jobs // SHARD_SIZE))
    return tuple(Shard(index, count) for index in range(count))


@dataclass(frozen=True)
class Manifest:
    environment: str
    retention: timedelta  # the ledger retention: the look-back window is this, capped
    jobs: tuple[WatchedJob, ...]

    def shard(self, shard: Shard) -> tuple[WatchedJob, ...]:
        return self.jobs[shard.index :: shard.count]


def _seconds(value: timedelta | None) -> int | None:
    return None if value is None else int(value.total_seconds())


def _time(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def render(manifest: Manifest) -> bytes:
    """The manifest's bytes: the same for the same config, whatever the order of its jobs."""
    jobs = [
        {
            "name": job.name,
            "stateMachine": job.state_machine,
            "schedule": job.schedule.expression,
            "timezone": job.schedule.timezone,
            "flexibleWindowSeconds": _seconds(job.schedule.flexible_window),
            "start": _time(job.schedule.start),
            "end": _time(job.schedule.end),
            "enabled": job.enabled,
            "catchUpSeconds": _seconds(job.catch_up),
            # Only when set: the manifest of jobs without it stays as it was.
            **({"alertAfterSeconds": _seconds(job.alert_after)} if job.alert_after else {}),
        }
        for job in sorted(manifest.jobs, key=lambda job: job.name)
    ]
    document = {
        "version": VERSION,
        "environment": manifest.environment,
        "retentionSeconds": _seconds(manifest.retention),
        "jobs": jobs,
    }
    return (json.dumps(document, sort_keys=True, indent=1) + "\n").encode()


def _field(
    document: Mapping[str, Any], name: str, kind: type | tuple[type, ...], where: str
) -> Any:
    if name not in document:
        raise ManifestError(f"{where}: '{name}' is missing")
    value = document[name]
    kinds = kind if isinstance(kind, tuple) else (kind,)
    if not isinstance(value, kinds) or (isinstance(value, bool) and bool not in kinds):
        raise ManifestError(f"{where}: '{name}' has the wrong type ({type(value).__name__})")
    return value


def _job(document: Any, index: int) -> WatchedJob:
    where = f"{FILE_NAME}: jobs[{index}]"
    if not isinstance(document, dict):
        raise ManifestError(f"{where} is not an object")
    name = _field(document, "name", str, where)
    where = f"{FILE_NAME}: job '{name}'"
    optional_int = (int, type(None))
    optional_str = (str, type(None))
    window = _field(document, "flexibleWindowSeconds", optional_int, where)
    catch_up = _field(document, "catchUpSeconds", optional_int, where)
    start = _field(document, "start", optional_str, where)
    end = _field(document, "end", optional_str, where)
    alert_after = (
        _field(document, "alertAfterSeconds", int, where)
        if "alertAfterSeconds" in document
        else None
    )
    try:
        schedule = JobSchedule(
            expression=_field(document, "schedule", str, where),
            timezone=_field(document, "timezone", str, where),
            flexible_window=timedelta(seconds=window or 0),
            start=datetime.fromisoformat(start) if start else None,
            end=datetime.fromisoformat(end) if end else None,
        )
    except ValueError as error:  # a bad expression, zone or time
        raise ManifestError(f"{where}: {error}") from None
    return WatchedJob(
        name=name,
        state_machine=_field(document, "stateMachine", str, where),
        schedule=schedule,
        enabled=_field(document, "enabled", bool, where),
        catch_up=timedelta(seconds=catch_up) if catch_up else None,
        alert_after=timedelta(seconds=alert_after) if alert_after else None,
    )


def parse(data: bytes | str) -> Manifest:
    try:
        document = json.loads(data)
    except ValueError as error:
        raise ManifestError(f"{FILE_NAME} is not JSON: {error}") from None
    if not isinstance(document, dict):
        raise ManifestError(f"{FILE_NAME} is not a JSON object")
    version = _field(document, "version", int, FILE_NAME)
    if version != VERSION:
        raise ManifestError(f"{FILE_NAME}: version {version} is not {VERSION}")
    jobs = _field(document, "jobs", list, FILE_NAME)
    return Manifest(
        environment=_field(document, "environment", str, FILE_NAME),
        retention=timedelta(seconds=_field(document, "retentionSeconds", int, FILE_NAME)),
        jobs=tuple(_job(job, index) for index, job in enumerate(jobs)),
    )


def load(path: str = LAYER_PATH) -> Manifest:
    try:
        with open(path, "rb") as file:
            return parse(file.read())
    except OSError as error:
        raise ManifestError(f"cannot read the jobs manifest {path}: {error}") from None
