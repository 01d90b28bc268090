"""``protected_work``: the task stays protected and the history says what happened."""

from __future__ import annotations

from contextlib import AsyncExitStack, ExitStack
from types import TracebackType

from cronguard_worker.history import WorkHistory, WorkUnit
from cronguard_worker.protection import TaskProtection, default_protection


class ProtectedWork:
    """Protection first, then history; on the way out, history first, then protection.

    So the task is protected before the item says RUNNING, and stays protected
    until the outcome is written.
    """

    def __init__(
        self, name: str, work_id: str, *, history: WorkHistory, protection: TaskProtection
    ) -> None:
        self._name = name
        self._work_id = work_id
        self._history = history
        self._protection = protection
        self._stack: ExitStack | None = None
        self._async_stack: AsyncExitStack | None = None

    def __enter__(self) -> WorkUnit:
        with ExitStack() as stack:
            stack.enter_context(self._protection.protect(f"{self._name}#{self._work_id}"))
            unit = stack.enter_context(self._history.record(self._name, self._work_id))
            self._stack = stack.pop_all()
        return unit

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        assert self._stack is not None
        self._stack.__exit__(exc_type, exc, tb)

    async def __aenter__(self) -> WorkUnit:
        async with AsyncExitStack() as stack:
            await stack.enter_async_context(
                self._protection.protect(f"{self._name}#{self._work_id}")
            )
            unit = await stack.enter_async_context(self._history.record(self._name, self._work_id))
            self._async_stack = stack.pop_all()
        return unit

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        assert self._async_stack is not None
        await self._async_stack.__aexit__(exc_type, exc, tb)


def protected_work(
    name: str,
    work_id: str,
    *,
    history: WorkHistory,
    protection: TaskProtection | None = None,
) -> ProtectedWork:
    """Protect the task and record the unit in ``history`` (sync or async context manager).

    >>> with protected_work("resize", message_id, history=history) as unit:
    ...     resize(message)
    """
    return ProtectedWork(
        name, work_id, history=history, protection=protection or default_protection
    )
