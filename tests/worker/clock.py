"""A clock that moves only when the test says so, for TaskProtection and the fake agent.

The renewal thread waits on it as it would on the system clock, but time passes only by
:meth:`ManualClock.advance`: a test decides when each renewal is due, and a renewal that
comes late is a bug in the code, never a slow machine.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Iterable
from dataclasses import dataclass

HANG_GUARD_SECONDS = 60.0
"""Wall time: how long a test waits for the renewal thread, so a bug fails a run, not hangs it."""


@dataclass(eq=False)
class _Waiter:
    condition: threading.Condition
    deadline: float
    """Virtual time at which its timeout runs out (``math.inf``: it has none)."""
    number: int
    """How many waits began before this one, on this clock."""


class ManualClock:
    """Virtual monotonic time, starting at 0.

    ``wait(condition, timeout)`` is ``condition.wait(timeout)`` in virtual time: it returns
    when the condition's owner notifies it, as on the system clock, or when :meth:`advance`
    reaches the end of its timeout; never because wall time passed. Advancing never wakes a
    wait without a timeout.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        self._now = 0.0
        self._waiters: list[_Waiter] = []
        self._waits_begun = 0
        self._reads = threading.local()

    def monotonic(self) -> float:
        with self._lock:
            self._reads.now = self._now
            return self._now

    def wait(self, condition: threading.Condition, timeout: float | None) -> None:
        """The caller holds ``condition``'s lock, as for ``Condition.wait``."""
        with self._lock:
            # The caller computed the timeout from its last reading: time that has passed
            # since (another thread advanced) shortens the wait, or ends it at once.
            read: float = getattr(self._reads, "now", self._now)
            deadline = math.inf if timeout is None else read + timeout
            if self._now >= deadline:
                return
            waiter = _Waiter(condition, deadline, self._waits_begun)
            self._waits_begun += 1
            self._waiters.append(waiter)
            self._changed.notify_all()
        # Whoever wakes it (advance, next_wakeup) takes the condition's lock to notify, and
        # the caller holds that lock until condition.wait releases it: no notify is lost.
        # No wall-time limit here: waking after one would hide a missing notify, the very
        # bug a wait without a timeout can have. The test's own waits (next_wakeup, the
        # agent's wait_for) are the hang guards, and TaskProtection.close() notifies.
        try:
            condition.wait()
        finally:
            with self._lock:
                self._waiters.remove(waiter)
                self._changed.notify_all()

    def advance(self, seconds: float) -> None:
        """Move virtual time on by ``seconds``; wake every wait whose timeout has run out."""
        with self._lock:
            ending = self._move_to(self._now + seconds)
        _notify(ending)

    def advance_to(self, moment: float) -> None:
        """Move virtual time to ``moment`` exactly (e.g. a :meth:`next_wakeup`)."""
        with self._lock:
            ending = self._move_to(moment)
        _notify(ending)

    def next_wakeup(self, timeout: float = HANG_GUARD_SECONDS) -> float:
        """The virtual time the waiting thread will wake at; ``math.inf`` if only a notify will.

        Once the thread has done what an advance made due (say, a renewal over HTTP) it waits
        again: this returns what it then waits for. So that a wait its owner has notified but
        whose thread has not run yet is not taken for the answer, it wakes every waiting thread
        first (a spurious wakeup, which ``Condition.wait`` allows) and answers from the waits
        begun after that. A test for a missing notify must therefore advance without it.
        ``timeout`` (wall time) is only a hang guard.
        """
        with self._lock:
            begun = self._waits_begun
            waiting = _distinct(w.condition for w in self._waiters)
        _notify(waiting)

        def fresh() -> list[_Waiter]:
            return [w for w in self._waiters if w.number >= begun and w.deadline > self._now]

        with self._changed:
            if not self._changed.wait_for(fresh, timeout):
                raise AssertionError(f"nothing waited on the clock within {timeout} s")
            return min(w.deadline for w in fresh())

    def _move_to(self, moment: float) -> list[threading.Condition]:
        if moment < self._now:
            raise ValueError(f"a monotonic clock does not go back ({self._now} -> {moment})")
        self._now = moment
        return _distinct(w.condition for w in self._waiters if w.deadline <= moment)


def _distinct(conditions: Iterable[threading.Condition]) -> list[threading.Condition]:
    found: list[threading.Condition] = []
    for condition in conditions:
        if not any(condition is seen for seen in found):
            found.append(condition)
    return found


def _notify(conditions: list[threading.Condition]) -> None:
    # Outside the clock's lock: a waiter's owner (TaskProtection) holds the condition's lock
    # through a whole agent call, and reads this clock under it.
    for condition in conditions:
        with condition:
            condition.notify_all()
