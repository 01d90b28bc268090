"""The manual clock waits as Condition.wait would, in virtual time."""

from __future__ import annotations

import math
import threading
from collections.abc import Iterator

import pytest

from tests.worker.clock import ManualClock


class Sleeper:
    """A thread that waits on the clock until a moment (or until told), as the renewal does."""

    def __init__(self, clock: ManualClock) -> None:
        self.clock = clock
        self.changed = threading.Condition()
        self.until: float | None = None
        self.woke_at: list[float] = []
        self._stop = False
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> Sleeper:
        self._thread.start()
        return self

    def stop(self) -> None:
        with self.changed:
            self._stop = True
            self.changed.notify_all()
        self._thread.join(60)

    def wake_at(self, moment: float | None) -> None:
        with self.changed:
            self.until = moment
            self.changed.notify_all()

    def _run(self) -> None:
        with self.changed:
            while not self._stop:
                now = self.clock.monotonic()
                if self.until is None or now < self.until:
                    self.clock.wait(self.changed, None if self.until is None else self.until - now)
                    continue
                self.woke_at.append(now)
                self.until = None


@pytest.fixture
def sleeper() -> Iterator[Sleeper]:
    started = Sleeper(ManualClock()).start()
    yield started
    started.stop()


def test_a_timed_wait_ends_when_time_reaches_it_not_before(sleeper: Sleeper) -> None:
    clock = sleeper.clock
    sleeper.wake_at(10.0)

    assert clock.next_wakeup() == 10.0
    clock.advance(9.5)
    assert clock.next_wakeup() == 10.0
    assert sleeper.woke_at == []
    clock.advance(1.5)
    assert clock.next_wakeup() == math.inf  # it woke, and now waits to be told
    assert sleeper.woke_at == [11.0]


def test_advancing_never_wakes_a_wait_without_a_timeout(sleeper: Sleeper) -> None:
    clock = sleeper.clock

    assert clock.next_wakeup() == math.inf
    clock.advance(3600)
    assert clock.next_wakeup() == math.inf
    sleeper.wake_at(3600)  # a notify: it looks at the time again
    assert clock.next_wakeup() == math.inf
    assert sleeper.woke_at == [3600]


def test_time_does_not_go_back() -> None:
    clock = ManualClock()
    clock.advance(5)

    with pytest.raises(ValueError, match="does not go back"):
        clock.advance_to(4)
    assert clock.monotonic() == 5
