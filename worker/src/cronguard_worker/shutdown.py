"""Stop taking work on SIGTERM, finish what is in flight, then exit.

ECS sends SIGTERM when it stops a task (deployment, scale-in of an
unprotected task, StopTask, Spot interruption) and SIGKILL after the
container's ``stopTimeout`` (30 s by default, at most 120 s on Fargate).
"""

from __future__ import annotations

import logging
import signal
import threading
import time
from collections.abc import Iterable
from types import FrameType, TracebackType
from typing import Any

from cronguard_worker.protection import TaskProtection, default_protection

_log = logging.getLogger("cronguard_worker")

_POLL_SECONDS = 0.05


class GracefulShutdown:
    """Signal handling for worker loops (the executor pattern in the README).

    >>> with GracefulShutdown() as shutdown, ThreadPoolExecutor(4) as pool:
    ...     while shutdown.accepting():
    ...         ...  # take one message per free worker, pool.submit(handle, message)
    ...     shutdown.drain(timeout=25)

    The handler only flips a flag: locks, logging and I/O are unsafe inside a
    signal handler, so ``wait()`` polls and the first observer logs.
    """

    def __init__(
        self,
        protection: TaskProtection | None = None,
        *,
        signals: Iterable[signal.Signals] = (signal.SIGTERM, signal.SIGINT),
    ) -> None:
        self._protection = protection or default_protection
        self._signals = tuple(signals)
        self._previous: dict[signal.Signals, Any] = {}
        self._reason: str | None = None
        self._announced = False
        self._announce_lock = threading.Lock()

    def install(self) -> GracefulShutdown:
        """Install the handlers (main thread only, as Python requires)."""
        for signum in self._signals:
            self._previous[signum] = signal.signal(signum, self._handle)
        return self

    def uninstall(self) -> None:
        """Restore the handlers that were there before ``install()``."""
        while self._previous:
            signum, previous = self._previous.popitem()
            signal.signal(signum, previous)

    def __enter__(self) -> GracefulShutdown:
        return self.install()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.uninstall()

    @property
    def requested(self) -> bool:
        """True once a stop signal arrived (or ``request()`` was called)."""
        if self._reason is None:
            return False
        self._announce()
        return True

    def request(self, reason: str = "requested") -> None:
        """Ask the loop to stop, as a signal would (for tests and in-process triggers)."""
        if self._reason is None:
            self._reason = reason

    def accepting(self) -> bool:
        """Whether the loop may take new work."""
        return not self.requested

    def wait(self, timeout: float | None = None) -> bool:
        """Block until shutdown is requested; False on timeout."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while not self.requested:
            remaining = None if deadline is None else deadline - time.monotonic()
            if remaining is not None and remaining <= 0:
                return False
            time.sleep(_POLL_SECONDS if remaining is None else min(_POLL_SECONDS, remaining))
        return True

    def drain(self, timeout: float | None = None) -> bool:
        """Wait until no work is inside ``protect()``; False if some is still running.

        Keep ``timeout`` below the container's ``stopTimeout`` so the process
        can still exit (and log) before SIGKILL.
        """
        started = time.monotonic()
        units = self._protection.active_units()
        if units:
            _log.info("draining %d unit(s) of work: %s", sum(units.values()), sorted(units))
        drained = self._protection.wait_idle(timeout)
        if drained:
            _log.info("drained in %.1f s", time.monotonic() - started)
        else:
            _log.warning(
                "drain timed out after %.1f s with work still running: %s",
                time.monotonic() - started,
                self._protection.active_units(),
            )
        return drained

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if self._reason is not None and signum == signal.SIGINT:
            raise KeyboardInterrupt  # a second Ctrl-C means "now"
        self.request(signal.Signals(signum).name)

    def _announce(self) -> None:
        with self._announce_lock:
            if self._announced:
                return
            self._announced = True
        _log.info(
            "shutdown requested (%s): no new work is taken; %d unit(s) in progress",
            self._reason,
            self._protection.active_count,
        )
