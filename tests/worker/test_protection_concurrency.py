"""Reference counting across threads and asyncio tasks against a real HTTP agent."""

from __future__ import annotations

import asyncio
import itertools
import random
import threading
import time
from collections.abc import Callable
from http import HTTPStatus

from cronguard_worker import TaskProtection

from tests.worker.ecs_agent_fake import FakeEcsAgent

WORKERS_PER_KIND = 16


class BoomError(Exception):
    pass


class QuiescentProbe:
    """Samples "work inside" against the agent's state while no agent call is in flight.

    The client holds its lock for every agent call, so under that lock the
    agent must already agree with the count.
    """

    def __init__(self, protection: TaskProtection, agent: FakeEcsAgent) -> None:
        self._protection = protection
        self._agent = agent
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._sampled = threading.Condition()
        self.samples = 0
        self.busy_samples = 0
        self.mismatches: list[tuple[int, bool]] = []

    def __enter__(self) -> QuiescentProbe:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def wait_samples(self, more: int, timeout: float = 60.0) -> None:
        """Block until the probe has sampled ``more`` times from now (``timeout``, wall time,
        only a hang guard): so that what it saw does not depend on how fast its thread ran."""
        with self._sampled:
            target = self.samples + more
            assert self._sampled.wait_for(lambda: self.samples >= target, timeout)

    def _run(self) -> None:
        while not self._stop.wait(0.001):
            with self._protection._lock:
                count = self._protection._count
                enabled = self._agent.protection_enabled
            with self._sampled:
                self.samples += 1
                self.busy_samples += count > 0
                self._sampled.notify_all()
            if (count > 0) != enabled:
                self.mismatches.append((count, enabled))


class Workload:
    """16 threads and 16 asyncio tasks entering and leaving protect() at random.

    Every unit checks that the agent has the task protected while it works;
    about one unit in five raises.
    """

    def __init__(self, protection: TaskProtection, agent: FakeEcsAgent, *, units: int) -> None:
        self._protection = protection
        self._agent = agent
        self._units = units
        self._lock = threading.Lock()
        self.done = 0
        self.raised = 0
        self.unprotected = 0

    def run(self, *, pause: float, work: float) -> None:
        threads = [
            threading.Thread(target=self._thread_worker, args=(i, pause, work))
            for i in range(WORKERS_PER_KIND)
        ]
        for thread in threads:
            thread.start()
        asyncio.run(self._async_workers(pause, work))
        for thread in threads:
            thread.join()

    def _check(self) -> None:
        if not self._agent.protection_enabled:
            with self._lock:
                self.unprotected += 1
        if random.random() < 0.2:
            raise BoomError

    def _tally(self, raised: bool) -> None:
        with self._lock:
            self.done += 1
            self.raised += raised

    def _thread_worker(self, index: int, pause: float, work: float) -> None:
        @self._protection.protect(f"decorated-thread-{index}")
        def decorated() -> None:
            time.sleep(random.uniform(0, work))
            self._check()

        for unit in range(self._units):
            time.sleep(random.uniform(0, pause))
            try:
                if unit % 2:
                    decorated()
                else:
                    with self._protection.protect(f"thread-{index}"):
                        time.sleep(random.uniform(0, work))
                        self._check()
            except BoomError:
                self._tally(raised=True)
            else:
                self._tally(raised=False)

    async def _async_workers(self, pause: float, work: float) -> None:
        await asyncio.gather(*(self._task_worker(i, pause, work) for i in range(WORKERS_PER_KIND)))

    async def _task_worker(self, index: int, pause: float, work: float) -> None:
        @self._protection.protect(f"decorated-task-{index}")
        async def decorated() -> None:
            await asyncio.sleep(random.uniform(0, work))
            self._check()

        for unit in range(self._units):
            await asyncio.sleep(random.uniform(0, pause))
            try:
                if unit % 2:
                    await decorated()
                else:
                    async with self._protection.protect(f"task-{index}"):
                        await asyncio.sleep(random.uniform(0, work))
                        self._check()
            except BoomError:
                self._tally(raised=True)
            else:
                self._tally(raised=False)


def enabled_sequence(agent: FakeEcsAgent) -> list[bool]:
    """The transitions the agent accepted.

    A racing workload can outrun the agent's rate limit; a 429 changes nothing
    on the agent and the client retries it, so only accepted PUTs count.
    """
    return [put.enables for put in agent.puts() if put.status == HTTPStatus.OK]


def test_each_busy_period_costs_one_enable_and_one_disable(
    agent: FakeEcsAgent, make_protection: Callable[..., TaskProtection]
) -> None:
    agent.latency_seconds = 0.002
    protection = make_protection(agent.uri)

    with QuiescentProbe(protection, agent) as probe:
        for _period in range(2):
            # A batch fans out to 32 concurrent units: the batch keeps the count
            # above zero, so the units' own entries and exits cost no agent call.
            with protection.protect("batch"):
                assert agent.protection_enabled
                workload = Workload(protection, agent, units=6)
                workload.run(pause=0.01, work=0.015)
                probe.wait_samples(10)  # busy: the batch is still inside
                assert agent.protection_enabled
            assert not agent.protection_enabled
            assert protection.active_count == 0
            probe.wait_samples(10)  # the idle gap between two busy periods
            assert not agent.protection_enabled

    assert enabled_sequence(agent) == [True, False, True, False]
    assert workload.done == 2 * WORKERS_PER_KIND * 6
    assert workload.raised > 0
    assert workload.unprotected == 0
    assert probe.mismatches == []
    assert probe.busy_samples >= 20 and probe.samples - probe.busy_samples >= 20


def test_racing_first_entries_and_last_exits_leave_the_agent_in_step(
    agent: FakeEcsAgent, make_protection: Callable[..., TaskProtection]
) -> None:
    agent.latency_seconds = 0.001
    protection = make_protection(agent.uri)
    workload = Workload(protection, agent, units=15)

    with QuiescentProbe(protection, agent) as probe:
        # Short units with long pauses between them: the count keeps
        # dropping to zero while other workers are about to enter.
        workload.run(pause=0.04, work=0.001)

    sequence = enabled_sequence(agent)
    assert sequence[0] is True
    assert sequence[-1] is False
    assert all(a != b for a, b in itertools.pairwise(sequence)), sequence
    assert sequence.count(True) >= 2, "the workload never went idle: nothing raced"
    assert workload.done == 2 * WORKERS_PER_KIND * 15
    assert workload.unprotected == 0
    assert probe.mismatches == []
    assert protection.active_count == 0
    assert not agent.protection_enabled
    assert agent.expirations == 0
