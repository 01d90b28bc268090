"""Work history against moto's DynamoDB, with identity from the fake metadata endpoint."""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from cronguard_worker import (
    TaskMetadata,
    TaskProtection,
    WorkHistory,
    WorkStatus,
    protected_work,
    work_key,
)

from lambdas.sweeper.handler import Orphan, mark_orphaned, running_work
from tests.worker.ecs_agent_fake import CLUSTER, DOCKER_ID, TASK_ARN, FakeEcsAgent
from tests.worker.history_table import TABLE, item

START = datetime(2026, 11, 22, 3, 0, tzinfo=UTC)


class TickingClock:
    """Each reading is one second after the previous one."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._now = START

    def __call__(self) -> datetime:
        with self._lock:
            self._now += timedelta(seconds=1)
            return self._now


@pytest.fixture
def on_ecs(agent: FakeEcsAgent, monkeypatch: pytest.MonkeyPatch) -> FakeEcsAgent:
    monkeypatch.setenv("ECS_CONTAINER_METADATA_URI_V4", agent.metadata_uri)
    return agent


def make_history(dynamodb: Any, **options: Any) -> WorkHistory:
    options.setdefault("clock", TickingClock())
    options.setdefault("heartbeat_seconds", 0.05)
    return WorkHistory(TABLE, client=dynamodb, **options)


def sweeper_marks_orphaned(dynamodb: Any, name: str, work_id: str) -> None:
    """The orphan sweeper's own code (``lambdas/sweeper/handler.py``) marks the unit ORPHANED,
    as a sweep does once ECS reports its task stopped: it reads RUNNING work from the
    status index and writes the verdict only if the heartbeat it judged is still current. A
    heartbeat in between (every 50 ms here) makes a sweep miss, so sweep again, as the
    next sweep would."""
    key = work_key(name, work_id)
    now = datetime(2026, 11, 22, 4, tzinfo=UTC)
    for _ in range(50):
        (work,) = [unit for unit in running_work(dynamodb, TABLE) if unit.key == key]
        if mark_orphaned(dynamodb, TABLE, Orphan(work, "task stopped: OutOfMemoryError"), now):
            return
    raise AssertionError(f"the sweeper never caught {key} between two heartbeats")


def wait_until(condition: Callable[[], bool], timeout: float = 60.0) -> bool:
    """Poll ``condition``; ``timeout`` (wall time) is only a hang guard."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


def test_a_unit_is_recorded_running_with_the_task_that_runs_it_then_succeeded(
    dynamodb: Any, on_ecs: FakeEcsAgent
) -> None:
    history = make_history(dynamodb, heartbeat_seconds=30)

    with history.record("resize", "msg-1") as unit:
        running = item(dynamodb, "resize", "msg-1")
    with history.record("resize", "msg-2"):
        pass

    assert running == {
        "pk": "work#resize#msg-1",
        "name": "resize",
        "work_id": "msg-1",
        "run_id": unit.run_id,
        "attempts": "1",
        "status": "RUNNING",
        "task_arn": TASK_ARN,
        "cluster": CLUSTER,
        "container_id": DOCKER_ID,
        "started_at": "2026-11-22T03:00:01.000Z",
        "heartbeat_at": "2026-11-22T03:00:01.000Z",
        "expires_at": str(int((START + timedelta(days=30, seconds=1)).timestamp())),
    }
    done = item(dynamodb, "resize", "msg-1")
    assert done["status"] == "SUCCEEDED"
    assert done["ended_at"] == "2026-11-22T03:00:02.000Z"
    assert done["expires_at"] == str(int((START + timedelta(days=30, seconds=2)).timestamp()))
    assert "error" not in done
    assert unit.status is WorkStatus.SUCCEEDED
    assert len(on_ecs.metadata_requests()) == 2  # task and container, fetched once


def test_heartbeat_advances_while_the_unit_runs_and_the_sweeper_index_sees_it(
    dynamodb: Any, on_ecs: FakeEcsAgent
) -> None:
    history = make_history(dynamodb)

    with history.record("transcode", "video-7"):
        started = item(dynamodb, "transcode", "video-7")["started_at"]
        assert wait_until(lambda: item(dynamodb, "transcode", "video-7")["heartbeat_at"] > started)
        running = dynamodb.query(
            TableName=TABLE,
            IndexName="by_status",
            KeyConditionExpression="#s = :running AND heartbeat_at > :since",
            ExpressionAttributeNames={"#s": "status"},
            ExpressionAttributeValues={":running": {"S": "RUNNING"}, ":since": {"S": started}},
        )["Items"]

    assert [found["pk"]["S"] for found in running] == ["work#transcode#video-7"]


def test_a_failing_unit_is_recorded_failed_with_its_error(
    dynamodb: Any, on_ecs: FakeEcsAgent
) -> None:
    history = make_history(dynamodb)

    with pytest.raises(KeyError), history.record("resize", "msg-3") as unit:
        raise KeyError("width")

    failed = item(dynamodb, "resize", "msg-3")
    assert failed["status"] == "FAILED"
    assert failed["error"] == "KeyError: 'width'"
    assert "ended_at" in failed
    assert unit.status is WorkStatus.FAILED


def test_a_unit_the_sweeper_marked_orphaned_keeps_that_verdict_and_records_the_late_end(
    dynamodb: Any, on_ecs: FakeEcsAgent, caplog: pytest.LogCaptureFixture
) -> None:
    history = make_history(dynamodb)

    with (
        caplog.at_level(logging.WARNING, logger="cronguard_worker"),
        history.record("resize", "msg-4") as unit,
    ):
        sweeper_marks_orphaned(dynamodb, "resize", "msg-4")
        orphaned_heartbeat = item(dynamodb, "resize", "msg-4")["heartbeat_at"]
        # The next heartbeat finds the verdict and stops: it must not touch the item.
        assert wait_until(
            lambda: any("stopped heartbeating" in r.getMessage() for r in caplog.records)
        )

    late = item(dynamodb, "resize", "msg-4")
    assert late["status"] == "ORPHANED"
    assert late["heartbeat_at"] == orphaned_heartbeat
    assert late["orphan_reason"] == "task stopped: OutOfMemoryError"
    assert late["late_status"] == "SUCCEEDED"
    assert "late_completion_at" in late
    assert "ended_at" not in late
    assert unit.status is WorkStatus.ORPHANED
    assert any("marked ORPHANED" in r.getMessage() for r in caplog.records)


def test_a_redelivered_unit_takes_the_item_over_and_the_stale_run_cannot_overwrite_it(
    dynamodb: Any, on_ecs: FakeEcsAgent
) -> None:
    history = make_history(dynamodb)
    stale = history.record("resize", "msg-5")
    stale_unit = stale.__enter__()

    with history.record("resize", "msg-5") as fresh_unit:
        stale.__exit__(None, None, None)  # the first run finishes late
        current = item(dynamodb, "resize", "msg-5")
        assert current["status"] == "RUNNING"
        assert current["run_id"] == fresh_unit.run_id
        assert current["attempts"] == "2"

    assert item(dynamodb, "resize", "msg-5")["status"] == "SUCCEEDED"
    assert stale_unit.status is WorkStatus.RUNNING  # its outcome was not recorded


def test_a_unit_redelivered_after_an_orphan_verdict_starts_clean_and_keeps_that_verdict(
    dynamodb: Any, on_ecs: FakeEcsAgent
) -> None:
    history = make_history(dynamodb)
    with history.record("resize", "msg-10") as first:
        sweeper_marks_orphaned(dynamodb, "resize", "msg-10")

    with history.record("resize", "msg-10"):
        rerun = item(dynamodb, "resize", "msg-10")

    assert rerun["status"] == "RUNNING"
    assert rerun["attempts"] == "2"
    assert not {"orphaned_at", "orphan_reason", "late_completion_at", "late_status"} & set(rerun)
    assert item(dynamodb, "resize", "msg-10")["status"] == "SUCCEEDED"
    (earlier,) = runs(dynamodb, "resize", "msg-10")
    assert earlier["run_id"] == first.run_id
    assert earlier["status"] == "ORPHANED"
    assert earlier["orphan_reason"] == "task stopped: OutOfMemoryError"
    assert earlier["late_status"] == "SUCCEEDED"


def test_a_redelivered_unit_keeps_every_earlier_outcome(
    dynamodb: Any, on_ecs: FakeEcsAgent
) -> None:
    history = make_history(dynamodb)
    with pytest.raises(ValueError, match="bad input"), history.record("resize", "msg-11"):
        raise ValueError("bad input")
    with history.record("resize", "msg-11"):
        pass
    with history.record("resize", "msg-11"):
        pass

    kept = runs(dynamodb, "resize", "msg-11")
    assert [run["status"] for run in kept] == ["FAILED", "SUCCEEDED"]
    assert kept[0]["error"] == "ValueError: bad input"
    assert all("ended_at" in run for run in kept)
    assert item(dynamodb, "resize", "msg-11")["attempts"] == "3"


def runs(dynamodb: Any, name: str, work_id: str) -> list[dict[str, str]]:
    raw = dynamodb.get_item(TableName=TABLE, Key={"pk": {"S": work_key(name, work_id)}})["Item"]
    return [
        {attribute: value.get("S", value.get("N")) for attribute, value in run["M"].items()}
        for run in raw.get("runs", {}).get("L", [])
    ]


def test_identity_is_unknown_outside_ecs(
    dynamodb: Any, monkeypatch: pytest.MonkeyPatch, closed_port_uri: str
) -> None:
    monkeypatch.delenv("ECS_CONTAINER_METADATA_URI_V4", raising=False)
    assert TaskMetadata.from_environment() == TaskMetadata()
    monkeypatch.setenv("ECS_CONTAINER_METADATA_URI_V4", closed_port_uri)
    history = make_history(dynamodb)

    with history.record("resize", "msg-6"):
        pass

    recorded = item(dynamodb, "resize", "msg-6")
    assert (recorded["task_arn"], recorded["cluster"], recorded["container_id"]) == (
        "unknown",
        "unknown",
        "unknown",
    )


def test_protected_work_keeps_the_task_protected_until_the_outcome_is_written(
    dynamodb: Any,
    on_ecs: FakeEcsAgent,
    make_protection: Callable[..., TaskProtection],
) -> None:
    protection = make_protection(on_ecs.uri)
    history = make_history(dynamodb)

    with protected_work("resize", "msg-7", history=history, protection=protection) as unit:
        assert on_ecs.protection_enabled
        assert item(dynamodb, "resize", "msg-7")["status"] == "RUNNING"

    async def async_unit() -> None:
        async with protected_work("resize", "msg-8", history=history, protection=protection):
            assert on_ecs.protection_enabled
            assert protection.active_units() == {"resize#msg-8": 1}
        with pytest.raises(ValueError, match="bad input"):
            async with protected_work("resize", "msg-9", history=history, protection=protection):
                raise ValueError("bad input")

    asyncio.run(async_unit())

    assert unit.status is WorkStatus.SUCCEEDED
    assert item(dynamodb, "resize", "msg-8")["status"] == "SUCCEEDED"
    assert item(dynamodb, "resize", "msg-9")["status"] == "FAILED"
    assert not on_ecs.protection_enabled
    assert [put.enables for put in on_ecs.puts()] == [True, False] * 3
