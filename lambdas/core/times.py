"""Times as cronguard spells them: slots, ledger timestamps, and ISO-8601 input.

Dependency-free: the guard, the cleanup, the CLI and the simulation share these, so a slot
the CLI backfills is the slot the guard claims, and a time the CLI accepts the guard accepts.

- A slot is its scheduled time in UTC to the second (``SLOT_FORMAT``): every spelling of one
  instant is one slot.
- The ledger stores times as ISO-8601 UTC with milliseconds and a ``Z`` (``iso``).
- A time a person or a schedule gives must be ISO-8601 with a time zone (``parse_time``).
- A slot is due once its time has come: one more than ``CLOCK_SKEW`` ahead of a clock is in
  the future there (``in_future``), and nothing starts it — not the guard, not the CLI.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

SLOT_FORMAT = "%Y-%m-%dT%H:%M:%SZ"
EXAMPLE = "2026-11-22T03:00:00Z"
# Times a schedule or a person can mean; anything else is a typo (and year 1 overflows UTC).
EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
LATEST = datetime(9999, 12, 30, tzinfo=UTC)

CLOCK_SKEW = timedelta(minutes=1)
"""How far ahead of a clock a slot may be and still be due there.

EventBridge Scheduler invokes its target at or after the scheduled time, never before (a
flexible time window only delays it: "it invokes the target within 15 minutes after the
scheduled time", docs.aws.amazon.com/scheduler/latest/UserGuide/
managing-schedule-flexible-time-windows.html), and ``<aws.scheduler.scheduled-time>`` is that
time. So a delivery's slot is never ahead of Scheduler's clock, and what this allows is only the
difference between two clocks: Scheduler's and the guard's (both AWS's, kept in step by the
Amazon Time Sync Service to well under a second), or an operator's and AWS's. A slot further
ahead is a typo or a fast clock: claiming it now would start its run early, and Scheduler's real
delivery would later be skipped as a duplicate, silently."""


def slot_key(moment: datetime) -> str:
    """The canonical slot of a scheduled time."""
    return moment.astimezone(UTC).strftime(SLOT_FORMAT)


def slot_time(slot: str) -> datetime | None:
    """The scheduled time a slot key stands for; None for a manual run's slot."""
    try:
        return datetime.strptime(slot, SLOT_FORMAT).replace(tzinfo=UTC)
    except ValueError:
        return None


def iso(moment: datetime) -> str:
    """A timestamp as the ledger stores it."""
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def parse_iso(text: str) -> datetime:
    """A timestamp the ledger stored (``iso``)."""
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def parse_time(text: str) -> datetime:
    """An ISO-8601 time with a time zone, in UTC.

    ``ValueError`` says what is wrong with the text, to follow the name of what was given
    (``"'soon' is not an ISO-8601 time like …"``)."""
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        raise ValueError(f"is not an ISO-8601 time like '{EXAMPLE}'") from None
    if moment.tzinfo is None:
        raise ValueError("has no time zone; add 'Z' for UTC or an offset like '+09:00'")
    try:
        utc = moment.astimezone(UTC)
    except (OverflowError, ValueError):
        utc = None
    if utc is None or not EARLIEST <= utc <= LATEST:
        raise ValueError(
            f"is out of range; expected a time between {EARLIEST.year} and {LATEST.year}"
        )
    return utc


def in_future(slot: datetime, now: datetime) -> bool:
    """Whether ``slot`` is not due yet at ``now``: more than ``CLOCK_SKEW`` ahead of it."""
    return slot - now > CLOCK_SKEW


def not_due(slot: datetime, now: datetime) -> str:
    """Why a slot in the future is refused, in one line (``in_future`` is true)."""
    return (
        f"slot {slot_key(slot)} is in the future (now {slot_key(now)}): a slot starts once its "
        f"time has come (at most {int(CLOCK_SKEW.total_seconds())} s early, for clock skew), "
        "and its schedule starts it then"
    )


def utc_now() -> datetime:
    """The Lambdas' clock; handlers name it so tests can stand in their own."""
    return datetime.now(UTC)
