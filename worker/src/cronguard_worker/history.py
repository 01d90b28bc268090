"""Work history: one DynamoDB item per unit of work, kept honest by conditional writes.

Item (table key ``pk``; GSI ``by_status``: partition ``status``, sort ``heartbeat_at``)::

    pk                  S  "work#<name>#<work_id>"
    name, work_id       S
    run_id              S  one attempt at the unit (uuid4 hex); later writes require it
    attempts            N  how many runs started for this pk
    status              S  RUNNING -> SUCCEEDED | FAILED   (ORPHANED is set by the sweeper)
    task_arn, cluster   S  from ECS task metadata v4 ("unknown" outside ECS)
    container_id        S  DockerId of the container doing the work
    started_at, heartbeat_at, ended_at   S  ISO-8601 UTC, millisecond, "Z" suffix
    error               S  "<ExceptionType>: <message>" when FAILED
    expires_at          N  DynamoDB TTL, epoch seconds
    orphaned_at, orphan_reason   S  written by the sweeper with status ORPHANED
    late_completion_at, late_status, late_error   only when ORPHANED before the end
    runs                L  earlier runs of a redelivered unit (their status, task, outcome;
                           the last 20), oldest first

The README documents the schema for the table and the orphan sweeper.
"""

from __future__ import annotations

import asyncio
import importlib
import logging
import threading
import uuid
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from types import TracebackType
from typing import Any

from cronguard_worker._threads import enter_in_thread, exit_in_thread
from cronguard_worker.metadata import TaskMetadata

_log = logging.getLogger("cronguard_worker")

ERROR_MAX_CHARS = 1000
START_ATTEMPTS = 5
KEPT_RUNS = 20  # earlier runs kept on a unit's item (a poison message is redelivered often)
# What one run's outcome is; a new run starts without them, and keeps the earlier ones in runs.
OUTCOME_ATTRIBUTES = (
    "ended_at",
    "error",
    "orphaned_at",
    "orphan_reason",
    "late_completion_at",
    "late_status",
    "late_error",
)
RUN_ATTRIBUTES = (
    "run_id",
    "status",
    "task_arn",
    "cluster",
    "container_id",
    "started_at",
    "heartbeat_at",
    *OUTCOME_ATTRIBUTES,
)


class WorkHistoryError(Exception):
    """The history could not record the start of a unit of work."""


class WorkStatus(StrEnum):
    RUNNING = "RUNNING"
    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"
    ORPHANED = "ORPHANED"


def work_key(name: str, work_id: str) -> str:
    """The item key of a unit of work."""
    return f"work#{name}#{work_id}"


def iso_utc(moment: datetime) -> str:
    """``2026-11-22T03:00:00.000Z``: sorts lexically in time order (GSI sort key)."""
    moment = moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def describe_error(exc: BaseException) -> str:
    text = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    return text if len(text) <= ERROR_MAX_CHARS else text[: ERROR_MAX_CHARS - 3] + "..."


def _utc_now() -> datetime:
    return datetime.now(UTC)


class WorkUnit:
    """One run of one unit of work, as recorded in the history table."""

    def __init__(self, name: str, work_id: str, *, started_at: str) -> None:
        self.name = name
        self.work_id = work_id
        self.key = work_key(name, work_id)
        self.run_id = uuid.uuid4().hex
        self.started_at = started_at
        self.status = WorkStatus.RUNNING
        """What the history table says after the unit ended (ORPHANED if the sweeper won)."""

    def __repr__(self) -> str:
        return f"WorkUnit({self.key!r}, run_id={self.run_id!r}, status={self.status.value})"


class WorkHistory:
    """Writes the history of units of work to a DynamoDB table (needs boto3).

    ``with history.record(name, work_id) as unit:`` marks the unit RUNNING,
    heartbeats every ``heartbeat_seconds`` while it runs, then records
    SUCCEEDED, or FAILED with the exception (which propagates). The start
    write fails loudly; later writes only log, so a history hiccup never turns
    finished work into a failure.
    """

    def __init__(
        self,
        table_name: str,
        *,
        task_metadata: TaskMetadata | None = None,
        clock: Callable[[], datetime] = _utc_now,
        heartbeat_seconds: float = 30.0,
        retention_days: int = 30,
        client: Any = None,
    ) -> None:
        if heartbeat_seconds <= 0:
            raise ValueError(f"heartbeat_seconds must be > 0, got {heartbeat_seconds}")
        if retention_days < 1:
            raise ValueError(f"retention_days must be >= 1, got {retention_days}")
        self.table_name = table_name
        self.heartbeat_seconds = heartbeat_seconds
        self._retention = timedelta(days=retention_days)
        self._clock = clock
        self._metadata = task_metadata
        self._metadata_lock = threading.Lock()
        self._client = client if client is not None else _dynamodb_client()

    @property
    def task_metadata(self) -> TaskMetadata:
        """This task's identity, fetched once from the metadata endpoint."""
        with self._metadata_lock:
            if self._metadata is None:
                self._metadata = TaskMetadata.from_environment()
            return self._metadata

    def record(self, name: str, work_id: str) -> Recording:
        """A context manager (sync and async) recording one run of ``name``/``work_id``."""
        if not name or not work_id:
            raise ValueError("record() needs a non-empty name and work_id")
        return Recording(self, name, work_id)

    # Writes

    def _start(self, name: str, work_id: str) -> WorkUnit:
        meta = self.task_metadata
        now = self._clock()
        unit = WorkUnit(name, work_id, started_at=iso_utc(now))
        started: dict[str, str | int] = {
            "name": name,
            "work_id": work_id,
            "run_id": unit.run_id,
            "status": WorkStatus.RUNNING.value,
            "task_arn": meta.task_arn,
            "cluster": meta.cluster,
            "container_id": meta.container_id,
            "started_at": unit.started_at,
            "heartbeat_at": unit.started_at,
            "expires_at": self._expires_at(now),
        }
        # A redelivered unit takes the item over (attempts counts the runs, run_id fences the
        # writes of any earlier run still alive) and keeps the earlier run's outcome in
        # ``runs``: read, then write on the condition that the item is still what was read.
        for _ in range(START_ATTEMPTS):
            previous = self._client.get_item(
                TableName=self.table_name, Key={"pk": {"S": unit.key}}, ConsistentRead=True
            ).get("Item")
            if self._take_over(unit.key, started, previous):
                return unit
        raise WorkHistoryError(
            f"work {unit.key}: its history item kept changing; could not record the start"
        )

    def _take_over(
        self, key: str, started: Mapping[str, str | int], previous: dict[str, Any] | None
    ) -> bool:
        """Write the new run over ``previous``; False if the item changed since it was read."""
        names = {f"#{attribute}": attribute for attribute in (*started, *OUTCOME_ATTRIBUTES)}
        names["#attempts"] = "attempts"
        values: dict[str, Any] = {
            f":{a}": {"N": str(v)} if isinstance(v, int) else {"S": v} for a, v in started.items()
        }
        values[":one"] = {"N": "1"}
        sets = [f"#{attribute} = :{attribute}" for attribute in started]
        request: dict[str, Any] = {"TableName": self.table_name, "Key": {"pk": {"S": key}}}
        if previous is None:
            request["ConditionExpression"] = "attribute_not_exists(pk)"
        else:
            kept = {a: previous[a] for a in RUN_ATTRIBUTES if a in previous}
            runs = [*previous.get("runs", {}).get("L", []), {"M": kept}][-KEPT_RUNS:]
            names["#runs"] = "runs"
            values[":runs"] = {"L": runs}
            sets.append("#runs = :runs")
            names["#pk"] = "pk"
            condition = ["attribute_exists(#pk)"]
            for attribute in ("run_id", "status"):
                if attribute in previous:
                    values[f":was_{attribute}"] = previous[attribute]
                    condition.append(f"#{attribute} = :was_{attribute}")
            request["ConditionExpression"] = " AND ".join(condition)
        request["UpdateExpression"] = (
            "SET "
            + ", ".join(sets)
            + " ADD #attempts :one REMOVE "
            + ", ".join(f"#{attribute}" for attribute in OUTCOME_ATTRIBUTES)
        )
        request["ExpressionAttributeNames"] = names
        request["ExpressionAttributeValues"] = values
        try:
            self._client.update_item(**request)
        except self._client.exceptions.ConditionalCheckFailedException:
            return False
        return True

    def _heartbeat(self, unit: WorkUnit) -> bool:
        """Advance ``heartbeat_at``; False once the item is no longer this run's RUNNING item."""
        now = self._clock()
        conflict = self._update(
            unit.key,
            set_={"heartbeat_at": iso_utc(now), "expires_at": self._expires_at(now)},
            condition={"run_id": unit.run_id, "status": WorkStatus.RUNNING.value},
        )
        if conflict is None:
            return True
        _log.warning(
            "work %s: stopped heartbeating, the history item is %s (run %s)",
            unit.key,
            conflict.get("status", "missing"),
            conflict.get("run_id", "-"),
        )
        return False

    def _finish(self, unit: WorkUnit, exc: BaseException | None) -> None:
        status = WorkStatus.SUCCEEDED if exc is None else WorkStatus.FAILED
        now = self._clock()
        ended_at = iso_utc(now)
        outcome: dict[str, str | int] = {
            "status": status.value,
            "ended_at": ended_at,
            "heartbeat_at": ended_at,
            "expires_at": self._expires_at(now),
        }
        if exc is not None:
            outcome["error"] = describe_error(exc)
        conflict = self._update(
            unit.key,
            set_=outcome,
            condition={"run_id": unit.run_id, "status": WorkStatus.RUNNING.value},
        )
        if conflict is None:
            unit.status = status
            return
        if conflict.get("status") == WorkStatus.ORPHANED and conflict.get("run_id") == unit.run_id:
            # The sweeper decided this run was dead; keep its verdict visible
            # (an alarm fired) and add what really happened.
            late: dict[str, str | int] = {
                "late_completion_at": ended_at,
                "late_status": status.value,
                "expires_at": self._expires_at(now),
            }
            if exc is not None:
                late["late_error"] = describe_error(exc)
            self._update(
                unit.key,
                set_=late,
                condition={"run_id": unit.run_id, "status": WorkStatus.ORPHANED.value},
            )
            unit.status = WorkStatus.ORPHANED
            _log.warning(
                "work %s was marked ORPHANED before it ended; recorded its late completion (%s)",
                unit.key,
                status.value,
            )
            return
        _log.warning(
            "work %s ended (%s) but its history item belongs to run %s (status %s); left as is",
            unit.key,
            status.value,
            conflict.get("run_id", "-"),
            conflict.get("status", "missing"),
        )

    def _expires_at(self, now: datetime) -> int:
        return int((now + self._retention).timestamp())

    def _update(
        self,
        key: str,
        *,
        set_: Mapping[str, str | int],
        add: Mapping[str, int] | None = None,
        remove: Iterable[str] = (),
        condition: Mapping[str, str] | None = None,
    ) -> dict[str, str] | None:
        """UpdateItem; None when written, else the item as it was (``{}`` if absent)."""
        names: dict[str, str] = {}
        values: dict[str, dict[str, str]] = {}

        def name(attribute: str) -> str:
            names[f"#{attribute}"] = attribute
            return f"#{attribute}"

        def value(tag: str, raw: str | int) -> str:
            values[f":{tag}"] = {"N": str(raw)} if isinstance(raw, int) else {"S": raw}
            return f":{tag}"

        clauses = ["SET " + ", ".join(f"{name(a)} = {value(a, v)}" for a, v in set_.items())]
        if add:
            clauses.append("ADD " + ", ".join(f"{name(a)} {value(a, v)}" for a, v in add.items()))
        removed = [name(a) for a in remove]
        if removed:
            clauses.append("REMOVE " + ", ".join(removed))
        request: dict[str, Any] = {
            "TableName": self.table_name,
            "Key": {"pk": {"S": key}},
            "UpdateExpression": " ".join(clauses),
        }
        if condition:
            request["ConditionExpression"] = " AND ".join(
                f"{name(a)} = {value('expected_' + a, v)}" for a, v in condition.items()
            )
            request["ReturnValuesOnConditionCheckFailure"] = "ALL_OLD"
        request["ExpressionAttributeNames"] = names
        request["ExpressionAttributeValues"] = values
        try:
            self._client.update_item(**request)
        except self._client.exceptions.ConditionalCheckFailedException as err:
            old = err.response.get("Item") or {}
            return {a: v["S"] for a, v in old.items() if "S" in v}
        return None


class Recording:
    """``history.record(...)``: one use per unit of work, sync or async."""

    def __init__(self, history: WorkHistory, name: str, work_id: str) -> None:
        self._history = history
        self._name = name
        self._work_id = work_id
        self._unit: WorkUnit | None = None
        self._stop = threading.Event()
        self._beater: threading.Thread | None = None

    def __enter__(self) -> WorkUnit:
        if self._unit is not None:
            raise RuntimeError("a Recording is entered once; call history.record() per unit")
        self._unit = self._history._start(self._name, self._work_id)
        self._beater = threading.Thread(
            target=self._beat, name=f"cronguard-heartbeat-{self._unit.key}", daemon=True
        )
        self._beater.start()
        return self._unit

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        assert self._unit is not None
        assert self._beater is not None
        self._stop.set()
        self._beater.join()
        try:
            self._history._finish(self._unit, exc)
        except Exception:
            _log.exception("could not record the end of work %s", self._unit.key)

    async def __aenter__(self) -> WorkUnit:
        cancelled = asyncio.CancelledError()
        return await enter_in_thread(
            self.__enter__, lambda _: self.__exit__(type(cancelled), cancelled, None)
        )

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await exit_in_thread(lambda: self.__exit__(exc_type, exc, tb))

    def _beat(self) -> None:
        assert self._unit is not None
        while not self._stop.wait(self._history.heartbeat_seconds):
            try:
                if not self._history._heartbeat(self._unit):
                    return
            except Exception as err:
                _log.warning("work %s: heartbeat failed (%s); will retry", self._unit.key, err)


def _dynamodb_client() -> Any:
    # Imported here so that protection-only users never need boto3; via
    # importlib because boto3 ships no type information.
    try:
        boto3 = importlib.import_module("boto3")
    except ImportError as err:
        raise ImportError(
            'WorkHistory needs boto3: pip install "cronguard-worker[history]"'
        ) from err
    return boto3.client("dynamodb")
