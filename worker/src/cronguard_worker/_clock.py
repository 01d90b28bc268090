"""Where task protection reads the time and waits for it: the system's clock, or a test's."""

from __future__ import annotations

import threading
import time
from typing import Protocol


class Clock(Protocol):
    """The time that protection's expiry and renewal are measured in."""

    def monotonic(self) -> float:
        """Now, in seconds; only differences between readings mean anything."""
        ...

    def wait(self, condition: threading.Condition, timeout: float | None) -> None:
        """``condition.wait(timeout)``, ``timeout`` in this clock's seconds.

        The caller holds the condition's lock, as for ``Condition.wait``; it may return
        early (a notify, or spuriously), so the caller checks the time again.
        """
        ...


class SystemClock:
    """``time.monotonic`` and ``Condition.wait``: the default."""

    def monotonic(self) -> float:
        return time.monotonic()

    def wait(self, condition: threading.Condition, timeout: float | None) -> None:
        condition.wait(timeout)
