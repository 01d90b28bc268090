"""What started an execution: the slot it asks for, parsed from the state machine input.

The schedule sends ``{"scheduledTime": "<aws.scheduler.scheduled-time>", "attempt": "<n>"}``.
A person sends ``{"scheduledTime": "..."}`` to re-run or backfill a slot, optionally with
``"force": true``; an input without ``scheduledTime`` is a manual run with a slot of its own.
The slot key comes from the scheduled time, never from an id that changes per delivery.
A slot in the future is refused by the guard (``refuse_future``), not by the parse: the cleanup
parses the input of an execution that ended too, and must still find its slot.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from lambdas.core.input_contract import ATTEMPT, FORCE, KNOWN_KEYS, OVERRIDES, SCHEDULED_TIME
from lambdas.core.times import EXAMPLE, in_future, not_due, parse_time, slot_key

MANUAL_PREFIX = "manual:"
# The console shows the message as the execution's Cause: bound what the input can put there.
MAX_MESSAGE = 1024
MAX_SHOWN = 200
MAX_ATTEMPT = 1000  # Scheduler retries a delivery at most 185 times


class InvalidInput(Exception):
    """The execution input cannot name a slot; the run is rejected before anything is held."""

    def __init__(self, message: str) -> None:
        if len(message) > MAX_MESSAGE:
            message = message[: MAX_MESSAGE - 1] + "…"
        super().__init__(message)


def shown(value: Any) -> str:
    """``repr(value)``, cut to a length a message can carry."""
    text = repr(value)
    return text if len(text) <= MAX_SHOWN else text[: MAX_SHOWN - 1] + "…"


@dataclass(frozen=True)
class Trigger:
    slot: str
    scheduled_time: datetime | None
    from_schedule: bool  # only deliveries from Scheduler carry "attempt"
    attempt: int | None
    force: bool
    overrides: Any = None  # a person's overrides, as sent (the guard checks them against the job)

    @property
    def manual(self) -> bool:
        return self.scheduled_time is None


def _scheduled_time(value: Any) -> datetime:
    if not isinstance(value, str):
        raise InvalidInput(
            f"scheduledTime must be an ISO-8601 string like '{EXAMPLE}', "
            f"got {type(value).__name__} {shown(value)}"
        )
    try:
        return parse_time(value)
    except ValueError as problem:
        raise InvalidInput(f"scheduledTime {shown(value)} {problem}") from None


def _parse_attempt(value: Any) -> int:
    # Scheduler substitutes <aws.scheduler.attempt-number> as a string.
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise InvalidInput(f"attempt must be a number, got {shown(value)}")
    try:
        attempt = int(value)
    except ValueError:
        raise InvalidInput(f"attempt must be a number, got {shown(value)}") from None
    if not 0 <= attempt <= MAX_ATTEMPT:
        raise InvalidInput(f"attempt must be between 0 and {MAX_ATTEMPT}, got {shown(attempt)}")
    return attempt


def parse_trigger(raw: Any, execution_name: str) -> Trigger:
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise InvalidInput(
            f'input must be a JSON object like {{"scheduledTime": "2026-11-22T03:00:00Z"}}, '
            f"got {type(raw).__name__}"
        )
    unknown = sorted(str(key) for key in set(raw) - set(KNOWN_KEYS))
    if unknown:
        raise InvalidInput(
            f"unknown input key(s) {shown(', '.join(unknown))[1:-1]}; "
            f"allowed: {', '.join(KNOWN_KEYS)}"
        )
    force = raw.get(FORCE, False)
    if not isinstance(force, bool):
        raise InvalidInput(f"force must be true or false, got {shown(force)}")
    attempt = _parse_attempt(raw[ATTEMPT]) if ATTEMPT in raw else None
    overrides = raw.get(OVERRIDES)
    if overrides is not None and attempt is not None:
        # Scheduler's input has no overrides: a delivery that carries them is not Scheduler's.
        raise InvalidInput("a scheduled trigger (with attempt) never carries overrides")
    if SCHEDULED_TIME not in raw:
        return Trigger(
            slot=f"{MANUAL_PREFIX}{execution_name}",
            scheduled_time=None,
            from_schedule=False,
            attempt=attempt,
            force=force,
            overrides=overrides,
        )
    moment = _scheduled_time(raw[SCHEDULED_TIME])
    return Trigger(
        slot=slot_key(moment),
        scheduled_time=moment,
        from_schedule=attempt is not None,
        attempt=attempt,
        force=force,
        overrides=overrides,
    )


def refuse_future(trigger: Trigger, now: datetime) -> None:
    """``InvalidInput`` when the trigger's slot is not due yet at ``now`` (``times.in_future``):
    Scheduler never delivers a slot early, so such a trigger is a typo or a fast clock, and
    claiming the slot now would skip its real delivery later as a duplicate."""
    if trigger.scheduled_time is not None and in_future(trigger.scheduled_time, now):
        raise InvalidInput(not_due(trigger.scheduled_time, now))
