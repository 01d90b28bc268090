"""Reference-counted ECS task scale-in protection.

Every unit of work enters ``protect(name)``; the task is protected while at least
one unit is inside. One lock guards the count *and* serialises every call to
the agent, so the agent always hears enable/disable in the order the count
crossed zero: its final state is "count > 0", whatever the interleaving.
Entering work waits for the enabling call on purpose: work must not start
before the task is protected.
"""

from __future__ import annotations

import functools
import inspect
import logging
import os
import threading
from collections import Counter
from collections.abc import Callable, Coroutine
from types import TracebackType
from typing import Any, ParamSpec, TypeVar, overload

from cronguard_worker._agent import AgentClient, Reply
from cronguard_worker._clock import Clock, SystemClock
from cronguard_worker._threads import enter_in_thread, exit_in_thread
from cronguard_worker.errors import ProtectionError

_log = logging.getLogger("cronguard_worker")

P = ParamSpec("P")
R = TypeVar("R")

MAX_EXPIRES_IN_MINUTES = 2880


class TaskProtection:
    """Scale-in protection for the ECS task this process runs in.

    ``agent_uri`` defaults to ``$ECS_AGENT_URI``, read on first use; without one
    every ``protect()`` is a no-op (logged once). Protection is requested for
    ``expires_in_minutes`` and renewed every ``renew_interval_seconds`` (default:
    two thirds of the expiry) while work is inside, so a crashed process loses
    its protection by itself. Transitions retry ``max_attempts`` times with
    exponential backoff and jitter.

    ``clock`` is the source of time for expiry and renewal (default: the system's
    monotonic clock); tests pass a manual one.
    """

    def __init__(
        self,
        agent_uri: str | None = None,
        *,
        expires_in_minutes: int = 60,
        renew_interval_seconds: float | None = None,
        max_attempts: int = 5,
        backoff_base_seconds: float = 0.2,
        backoff_max_seconds: float = 5.0,
        timeout_seconds: float = 5.0,
        clock: Clock | None = None,
    ) -> None:
        if not 1 <= expires_in_minutes <= MAX_EXPIRES_IN_MINUTES:
            raise ValueError(
                f"expires_in_minutes must be 1..{MAX_EXPIRES_IN_MINUTES}, got {expires_in_minutes}"
            )
        expiry_seconds = expires_in_minutes * 60
        renew = expiry_seconds * 2 / 3 if renew_interval_seconds is None else renew_interval_seconds
        if not 0 < renew < expiry_seconds:
            raise ValueError(
                f"renew_interval_seconds must be > 0 and below the expiry ({expiry_seconds} s), "
                f"got {renew}"
            )
        if max_attempts < 1:
            raise ValueError(f"max_attempts must be >= 1, got {max_attempts}")
        self._agent_uri = agent_uri
        self._expires_in_minutes = expires_in_minutes
        self._renew_interval = renew
        self._clock: Clock = SystemClock() if clock is None else clock
        self._client_options: dict[str, float] = {
            "timeout_seconds": timeout_seconds,
            "max_attempts": max_attempts,
            "backoff_base_seconds": backoff_base_seconds,
            "backoff_max_seconds": backoff_max_seconds,
        }

        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        self._count = 0
        self._units: Counter[str] = Counter()
        self._resolved = False
        self._agent: AgentClient | None = None
        self._applies = True
        self._protected_until: float | None = None
        # Next background call (renewal, or a disable to retry), in the clock's seconds.
        self._due: float | None = None
        self._background_failures = 0
        self._maintainer: threading.Thread | None = None
        self._closed = False

    def protect(self, name: str) -> Protected:
        """A context manager (sync and async) and decorator that keeps the task protected."""
        if not name:
            raise ValueError("protect() needs a non-empty name for the unit of work")
        return Protected(self, name)

    @property
    def active_count(self) -> int:
        """Units of work currently inside ``protect()``."""
        with self._lock:
            return self._count

    def active_units(self) -> dict[str, int]:
        """Units currently inside ``protect()``, by name (for logs and diagnostics)."""
        with self._lock:
            return dict(self._units)

    def wait_idle(self, timeout: float | None = None) -> bool:
        """Block until no unit is inside (and the disabling call was made); False on timeout."""
        with self._changed:
            return self._changed.wait_for(lambda: self._count == 0, timeout)

    def state(self) -> dict[str, Any] | None:
        """The agent's view (GET), e.g. ``{"ProtectionEnabled": true, "ExpirationDate": ...}``.

        ``None`` when protection does not apply here (no agent, or a standalone task).
        """
        with self._lock:
            self._resolve()
            agent = self._agent if self._applies else None
        return None if agent is None else agent.get().protection

    def close(self) -> None:
        """Stop background renewal (at process exit; tests)."""
        with self._changed:
            self._closed = True
            self._changed.notify_all()
            maintainer = self._maintainer
        if maintainer is not None:
            maintainer.join()

    # Entering and leaving

    def _enter(self, name: str) -> None:
        with self._lock:
            self._resolve()
            if self._count == 0 and self._applies:
                self._set_protection(True)
            self._count += 1
            self._units[name] += 1
            self._revive_maintainer()

    def _exit(self, name: str) -> None:
        with self._lock:
            if not self._leave(name):
                return
            try:
                self._set_protection(False)
            except Exception as err:
                # Raising here would turn finished work into a failure; protection
                # also expires by itself. Keep trying in the background instead.
                self._background_failed("disable", err)

    def _enter_without_call(self, name: str) -> bool:
        """Enter at once if no agent call is needed; never blocks (event loop path)."""
        if not self._lock.acquire(blocking=False):
            return False
        try:
            if not self._resolved or (self._count == 0 and self._applies):
                return False
            self._count += 1
            self._units[name] += 1
            self._revive_maintainer()
            return True
        finally:
            self._lock.release()

    def _exit_without_call(self, name: str) -> bool:
        """Leave at once if no agent call is needed; never blocks (event loop path)."""
        if not self._lock.acquire(blocking=False):
            return False
        try:
            if self._count == 1 and self._applies:
                return False
            self._leave(name)
            return True
        finally:
            self._lock.release()

    def _leave(self, name: str) -> bool:
        """Count one unit out (lock held); True when the agent must now be told."""
        if self._count == 0:
            raise RuntimeError(f"protect({name!r}) exited more often than entered")
        self._count -= 1
        self._units[name] -= 1
        if self._units[name] <= 0:
            del self._units[name]
        if self._count:
            return False
        self._changed.notify_all()
        return self._applies

    async def _aenter(self, name: str) -> None:
        if not self._enter_without_call(name):
            await enter_in_thread(lambda: self._enter(name), lambda _: self._exit(name))

    async def _aexit(self, name: str) -> None:
        if not self._exit_without_call(name):
            await exit_in_thread(lambda: self._exit(name))

    # Talking to the agent (always with the lock held)

    def _resolve(self) -> None:
        if self._resolved:
            return
        self._resolved = True
        uri = self._agent_uri if self._agent_uri is not None else os.environ.get("ECS_AGENT_URI")
        if not uri:
            self._applies = False
            _log.info(
                "ECS_AGENT_URI is not set (not running on ECS?): task scale-in protection "
                "is a no-op in this process"
            )
            return
        options = self._client_options
        self._agent = AgentClient(
            uri,
            timeout_seconds=options["timeout_seconds"],
            max_attempts=int(options["max_attempts"]),
            backoff_base_seconds=options["backoff_base_seconds"],
            backoff_max_seconds=options["backoff_max_seconds"],
        )

    def _set_protection(self, enabled: bool, *, attempts: int | None = None) -> None:
        assert self._agent is not None
        reply = self._agent.put(enabled, self._expires_in_minutes, attempts=attempts)
        self._record(enabled, reply)

    def _record(self, enabled: bool, reply: Reply) -> None:
        self._background_failures = 0
        if reply.protection is None:
            self._applies = False
            self._protected_until = self._due = None
            _log.warning(
                "ECS answered TASK_NOT_VALID: this task is not part of an ECS service, so "
                "scale-in protection does not apply; continuing without it (%s)",
                reply.detail or "no detail",
            )
            return
        now = self._clock.monotonic()
        if enabled:
            self._protected_until = now + self._expires_in_minutes * 60
            self._schedule(now + self._renew_interval)
            _log.debug("task protection enabled for %d min", self._expires_in_minutes)
        else:
            self._protected_until = self._due = None
            _log.debug("task protection disabled")

    def _background_failed(self, what: str, err: Exception) -> None:
        assert self._agent is not None
        self._background_failures += 1
        delay = min(self._agent.backoff(self._background_failures), self._renew_interval)
        now = self._clock.monotonic()
        self._schedule(now + delay)
        left = ""
        if what == "renewal" and self._protected_until is not None:
            left = f"; current protection ends in {self._protected_until - now:.0f} s"
        if isinstance(err, ProtectionError):
            _log.warning(
                "task protection %s failed (%s); retrying in %.1f s%s", what, err, delay, left
            )
        else:
            _log.error(
                "task protection %s failed unexpectedly (%s: %s); retrying in %.1f s%s",
                what,
                type(err).__name__,
                err,
                delay,
                left,
                exc_info=err,
            )

    def _schedule(self, due: float) -> None:
        """Set the next background call; the renewal thread, started or woken, sees it.

        Woken: after an idle period it waits with nothing due, and only a notify ends that.
        """
        self._due = due
        self._start_maintainer()
        self._changed.notify_all()

    def _start_maintainer(self) -> None:
        if self._closed:
            return
        if self._maintainer is not None:
            if self._maintainer.is_alive():
                return
            _log.warning("the task protection renewal thread had stopped; restarting it")
        self._maintainer = threading.Thread(
            target=self._maintain, name="cronguard-task-protection", daemon=True
        )
        self._maintainer.start()

    def _revive_maintainer(self) -> None:
        """On entry: restart the background thread if it died with work to do (lock held)."""
        if self._due is not None:
            self._start_maintainer()

    def _maintain(self) -> None:
        """Renew while work is inside; retry a failed disable once idle.

        Survives any exception: a thread that died would let protection lapse silently.
        """
        with self._changed:
            while not self._closed:
                now = self._clock.monotonic()
                if self._due is None or now < self._due:
                    self._clock.wait(self._changed, None if self._due is None else self._due - now)
                    continue
                enable = self._count > 0
                try:
                    self._set_protection(enable, attempts=1)
                except Exception as err:
                    self._background_failed("renewal" if enable else "disable", err)


class Protected:
    """What ``protect(name)`` returns: a sync/async context manager and a decorator.

    It holds no per-entry state, so one instance may be entered concurrently
    and re-entered (as a decorator it is shared by every call).
    """

    __slots__ = ("_protection", "name")

    def __init__(self, protection: TaskProtection, name: str) -> None:
        self._protection = protection
        self.name = name

    def __enter__(self) -> None:
        self._protection._enter(self.name)

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._protection._exit(self.name)

    async def __aenter__(self) -> None:
        await self._protection._aenter(self.name)

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self._protection._aexit(self.name)

    @overload
    def __call__(
        self, func: Callable[P, Coroutine[Any, Any, R]]
    ) -> Callable[P, Coroutine[Any, Any, R]]: ...

    @overload
    def __call__(self, func: Callable[P, R]) -> Callable[P, R]: ...

    def __call__(self, func: Callable[P, Any]) -> Callable[P, Any]:
        if inspect.isgeneratorfunction(func) or inspect.isasyncgenfunction(func):
            raise TypeError(
                "protect() cannot decorate a generator: it would only protect its creation; "
                "use `with protect(...)` inside it"
            )
        if inspect.iscoroutinefunction(func):

            @functools.wraps(func)
            async def run_async(*args: P.args, **kwargs: P.kwargs) -> Any:
                async with self:
                    return await func(*args, **kwargs)

            return run_async

        @functools.wraps(func)
        def run(*args: P.args, **kwargs: P.kwargs) -> Any:
            with self:
                return func(*args, **kwargs)

        return run


default_protection = TaskProtection()
"""The process-wide instance behind ``protect()``; configured from the environment."""


def protect(name: str) -> Protected:
    """Keep this ECS task protected from scale-in while the named work runs.

    >>> with protect("resize-image"):
    ...     resize(image)
    """
    return default_protection.protect(name)
