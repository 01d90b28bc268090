"""Running blocking enter/exit steps from async code without losing track of them."""

from __future__ import annotations

import asyncio
import contextvars
import threading
from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")


async def enter_in_thread(enter: Callable[[], T], undo: Callable[[T], Any]) -> T:
    """Run ``enter`` in the default executor so the event loop never blocks on it.

    If the awaiting task is cancelled while ``enter`` runs, nobody will ever
    exit what it entered: ``undo`` does, once ``enter`` has finished.
    """
    handoff = threading.Lock()
    entered: list[T] = []
    abandoned = False

    def run() -> T:
        value = enter()
        with handoff:
            keep = not abandoned
            if keep:
                entered.append(value)
        if not keep:
            undo(value)
        return value

    call = asyncio.get_running_loop().run_in_executor(None, contextvars.copy_context().run, run)
    try:
        return await asyncio.shield(call)
    except asyncio.CancelledError:
        with handoff:
            abandoned = True
            to_undo = list(entered)
        for value in to_undo:
            threading.Thread(target=undo, args=(value,), daemon=True).start()
        raise


async def exit_in_thread(exit_: Callable[[], Any]) -> None:
    """Run ``exit_`` in the default executor and make sure it runs to the end.

    It is submitted before the first await and shielded, so cancelling the
    awaiting task (or a loop shutting down) cannot drop it.
    """
    call = asyncio.get_running_loop().run_in_executor(None, contextvars.copy_context().run, exit_)
    await asyncio.shield(call)
