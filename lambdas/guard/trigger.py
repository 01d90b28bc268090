"""What started an execution: the slot it asks for, parsed from the state machine input.

The schedule sends ``{"scheduledTime": "<aws.scheduler.scheduled-time>", "attempt": "<n>"}``.
A person sends ``{"scheduledTime": "..."}`` to re-run or backfill a slot, optionally with
``"force": true``; an input without ``scheduledTime`` is a manual run with a slot of its own.
The slot key comes from the scheduled time, never from an id that changes per delivery.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

KNOWN_KEYS = frozenset({"scheduledTime", "attempt", "force"})
MANUAL_PREFIX = "manual:"


class InvalidInput(Exception):
    """The execution input cannot name a slot; the run is rejected before anything is held."""


@dataclass(frozen=True)
class Trigger:
    slot: str
    scheduled_time: datetime | None
    from_schedule: bool  # only deliveries from Scheduler carry "attempt"
    attempt: int | None
    force: bool

    @property
    def manual(self) -> bool:
        return self.scheduled_time is None


def slot_key(moment: datetime) -> str:
    """The canonical slot: UTC to the second, so every spelling of one instant is one slot."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _parse_time(value: Any) -> datetime:
    if not isinstance(value, str):
        raise InvalidInput(
            f"scheduledTime must be an ISO-8601 string like '2026-11-22T03:00:00Z', "
            f"got {type(value).__name__} {value!r}"
        )
    try:
        moment = datetime.fromisoformat(value.strip())
    except ValueError:
        raise InvalidInput(
            f"scheduledTime {value!r} is not an ISO-8601 time like '2026-11-22T03:00:00Z'"
        ) from None
    if moment.tzinfo is None:
        raise InvalidInput(
            f"scheduledTime {value!r} has no time zone; add 'Z' for UTC or an offset like '+09:00'"
        )
    return moment


def _parse_attempt(value: Any) -> int:
    # Scheduler substitutes <aws.scheduler.attempt-number> as a string.
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise InvalidInput(f"attempt must be a number, got {value!r}")
    try:
        attempt = int(value)
    except ValueError:
        raise InvalidInput(f"attempt must be a number, got {value!r}") from None
    if attempt < 0:
        raise InvalidInput(f"attempt must not be negative, got {attempt}")
    return attempt


def parse_trigger(raw: Any, execution_name: str) -> Trigger:
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise InvalidInput(
            f'input must be a JSON object like {{"scheduledTime": "2026-11-22T03:00:00Z"}}, '
            f"got {type(raw).__name__}"
        )
    unknown = sorted(set(raw) - KNOWN_KEYS)
    if unknown:
        raise InvalidInput(
            f"unknown input key(s) {', '.join(unknown)}; allowed: scheduledTime, attempt, force"
        )
    force = raw.get("force", False)
    if not isinstance(force, bool):
        raise InvalidInput(f"force must be true or false, got {force!r}")
    attempt = _parse_attempt(raw["attempt"]) if "attempt" in raw else None
    if "scheduledTime" not in raw:
        return Trigger(
            slot=f"{MANUAL_PREFIX}{execution_name}",
            scheduled_time=None,
            from_schedule=False,
            attempt=attempt,
            force=force,
        )
    moment = _parse_time(raw["scheduledTime"])
    return Trigger(
        slot=slot_key(moment),
        scheduled_time=moment.astimezone(UTC),
        from_schedule=attempt is not None,
        attempt=attempt,
        force=force,
    )
