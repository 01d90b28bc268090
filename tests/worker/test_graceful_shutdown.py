"""SIGTERM handling and the executor pattern from worker/README.md, with real signals."""

from __future__ import annotations

import os
import queue
import signal
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from cronguard_worker import GracefulShutdown, TaskProtection, WorkHistory, protected_work

from tests.worker.ecs_agent_fake import FakeEcsAgent
from tests.worker.history_table import TABLE, item

MakeProtection = Callable[..., TaskProtection]


def test_sigterm_stops_new_work_and_drain_waits_for_protected_work(
    agent: FakeEcsAgent, make_protection: MakeProtection
) -> None:
    protection = make_protection(agent.uri)
    before = signal.getsignal(signal.SIGTERM)
    inside, finish = threading.Event(), threading.Event()
    finished: list[str] = []

    def long_unit() -> None:
        with protection.protect("long"):
            inside.set()
            assert finish.wait(30)
            finished.append("long")

    with GracefulShutdown(protection) as shutdown:
        worker = threading.Thread(target=long_unit)
        worker.start()
        assert inside.wait(30)
        assert shutdown.accepting()

        os.kill(os.getpid(), signal.SIGTERM)

        assert shutdown.wait(timeout=30)
        assert shutdown.requested
        assert not shutdown.accepting()
        assert not shutdown.drain(timeout=0.05)  # the unit is still running
        finish.set()
        assert shutdown.drain(timeout=30)
        assert finished == ["long"]  # drain returned once the unit had ended, not before
        assert not agent.protection_enabled  # drained means protection was released too
        worker.join()

    assert signal.getsignal(signal.SIGTERM) is before


def test_a_second_ctrl_c_interrupts_at_once() -> None:
    with GracefulShutdown(TaskProtection("")) as shutdown:
        os.kill(os.getpid(), signal.SIGINT)
        assert shutdown.wait(timeout=30)
        with pytest.raises(KeyboardInterrupt):
            os.kill(os.getpid(), signal.SIGINT)  # the handler runs (and raises) right after


def test_wait_times_out_when_nothing_asks_for_shutdown() -> None:
    shutdown = GracefulShutdown(TaskProtection(""))

    assert not shutdown.wait(timeout=0.1)
    assert shutdown.accepting()


def run_worker(
    receive: Callable[[float], tuple[str, str] | None],
    process: Callable[[str], None],
    *,
    history: WorkHistory,
    protection: TaskProtection,
    workers: int,
) -> bool:
    """The executor pattern, as in worker/README.md (with injectable dependencies)."""
    slots = threading.BoundedSemaphore(workers)

    def handle(message_id: str, body: str) -> None:
        try:
            with protected_work("resize", message_id, history=history, protection=protection):
                process(body)
        finally:
            slots.release()

    with GracefulShutdown(protection) as shutdown, ThreadPoolExecutor(workers) as pool:
        while shutdown.accepting():
            if not slots.acquire(timeout=0.05):
                continue
            message = receive(0.05)
            if message is None:
                slots.release()
                continue
            pool.submit(handle, *message)
        return shutdown.drain(timeout=5)


def test_the_executor_pattern_finishes_what_it_took_and_leaves_the_rest(
    agent: FakeEcsAgent,
    dynamodb: Any,
    make_protection: MakeProtection,
) -> None:
    protection = make_protection(agent.uri)
    history = WorkHistory(TABLE, client=dynamodb, heartbeat_seconds=0.05)
    messages: queue.Queue[tuple[str, str]] = queue.Queue()
    for number in range(40):
        messages.put((f"msg-{number}", f"image-{number}"))
    taken: list[str] = []

    def receive(wait_seconds: float) -> tuple[str, str] | None:
        try:
            message = messages.get(timeout=wait_seconds)
        except queue.Empty:
            return None
        taken.append(message[0])
        return message

    processing = threading.Semaphore(0)

    def process(body: str) -> None:
        processing.release()
        time.sleep(0.1)

    def stop_once_every_worker_is_busy() -> None:
        for _ in range(4):
            assert processing.acquire(timeout=60)  # a hang guard
        os.kill(os.getpid(), signal.SIGTERM)  # ECS stops the task mid-work

    threading.Thread(target=stop_once_every_worker_is_busy, daemon=True).start()
    drained = run_worker(receive, process, history=history, protection=protection, workers=4)

    assert drained
    assert 4 <= len(taken) < 40  # it stopped pulling: the rest stays on the queue
    assert messages.qsize() == 40 - len(taken)
    assert {item(dynamodb, "resize", message_id)["status"] for message_id in taken} == {"SUCCEEDED"}
    assert protection.active_count == 0
    assert not agent.protection_enabled
