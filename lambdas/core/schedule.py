"""EventBridge Scheduler schedule expressions: parse, validate, and list upcoming slots.

A job's schedule is checked here before `cdk deploy`, so a typo fails with a message that
says what is wrong and what is allowed instead of a CloudFormation rollback. The fire times
follow EventBridge Scheduler's documented semantics, including daylight saving time, so the
slots the CLI and dashboard show are the slots the guard will be asked to claim.

Syntax reference: "Cron expressions reference" and "Schedule types in EventBridge Scheduler"
(docs.aws.amazon.com/eventbridge/latest/userguide/eb-cron-expressions.html,
docs.aws.amazon.com/scheduler/latest/UserGuide/schedule-types.html).

Daylight saving time, as AWS documents it (re:Post knowledge center, "How can I adjust my
Amazon EventBridge schedule for daylight saving?", AWS official):

    "Amazon EventBridge Scheduler automatically adjusts your schedule for Daylight Saving
    Time. When the time shifts forward in Spring, your schedule invocation gets skipped if the
    cron expression falls on a non-existent date and time. When the time shifts back in the
    Fall, your schedule runs only once and doesn't repeat its invocation."

    "in a rate-based schedule that uses days as the unit, days represents a 24-hour duration
    on the clock. When Daylight Saving Time shortens a day to 23 hours, or extends it to 25
    hours, the EventBridge Scheduler evaluates the rate expression 24 hours after the
    schedule's last invocation."

So a cron wall-clock time that does not exist is skipped (not moved), and a wall-clock time
that occurs twice fires once. The docs do not say *which* of the two occurrences fires; we
choose the first (the earlier instant, still on daylight time), i.e. once per wall-clock
slot. Rate schedules step in elapsed time and ignore the time zone entirely.
"""

from __future__ import annotations

import calendar
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Literal, NoReturn, Protocol
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

__all__ = [
    "CronSchedule",
    "RateSchedule",
    "RateUnit",
    "ScheduleExpressionError",
    "load_time_zone",
    "parse_schedule",
    "upcoming_slots",
]

RateUnit = Literal["minute", "hour", "day"]

_EXPECTED_FORMS = (
    "expected cron(minutes hours day-of-month month day-of-week year) or rate(value unit), "
    "e.g. cron(0 3 * * ? *) or rate(5 minutes)"
)
_CRON_FIELDS = "minutes hours day-of-month month day-of-week year"
_RATE_UNITS: dict[str, RateUnit] = {
    "minute": "minute",
    "minutes": "minute",
    "hour": "hour",
    "hours": "hour",
    "day": "day",
    "days": "day",
}
_DIGITS = re.compile(r"[0-9]+")


class ScheduleExpressionError(ValueError):
    """A schedule expression EventBridge Scheduler would reject (or cronguard cannot use).

    ``str(error)`` is one line: the expression, then what is wrong and what is allowed.
    """

    def __init__(self, expression: str, reason: str) -> None:
        shown = expression if expression and expression == expression.strip() else repr(expression)
        super().__init__(f"{shown}: {reason}")
        self.expression = expression
        self.reason = reason

    def __reduce__(self) -> tuple[type[ScheduleExpressionError], tuple[str, str]]:
        return (type(self), (self.expression, self.reason))


def _fail(expression: str, reason: str) -> NoReturn:
    raise ScheduleExpressionError(expression, reason)


# --- cron fields -----------------------------------------------------------------------------


@dataclass(frozen=True)
class _Field:
    name: str
    low: int
    high: int
    wildcards: str
    names: tuple[str, ...] = ()

    @property
    def allowed_values(self) -> str:
        numbers = f"{self.low}-{self.high}"
        return f"{numbers} or {self.names[0]}-{self.names[-1]}" if self.names else numbers


_MINUTES = _Field("minutes", 0, 59, ",-*/")
_HOURS = _Field("hours", 0, 23, ",-*/")
_DAY_OF_MONTH = _Field("day-of-month", 1, 31, ",-*?/LW")
_MONTH = _Field(
    "month",
    1,
    12,
    ",-*/",
    ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"),
)
# EventBridge numbers the week from Sunday: 1=SUN ... 7=SAT.
_DAY_OF_WEEK = _Field(
    "day-of-week", 1, 7, ",-*?L#", ("SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT")
)
_YEAR = _Field("year", 1970, 2199, ",-*/")


@dataclass(frozen=True)
class _FieldParser:
    """Parses one field's text, raising errors that name the expression and the field."""

    expression: str
    spec: _Field
    text: str

    def fail(self, reason: str) -> NoReturn:
        _fail(self.expression, f"{self.spec.name} field '{self.text}' {reason}")

    def check_characters(self) -> None:
        for char in self.text:
            if char.isascii() and char.isalnum():
                continue
            if char == "?" and "?" not in self.spec.wildcards:
                self.fail("uses '?', which is only allowed in day-of-month or day-of-week")
            if char not in self.spec.wildcards:
                allowed = " ".join(self.spec.wildcards)
                self.fail(f"uses '{char}', which is not allowed here (allowed: {allowed})")

    def value(self, text: str) -> int:
        if _DIGITS.fullmatch(text):
            number = int(text)
        elif text.upper() in self.spec.names:
            number = self.spec.low + self.spec.names.index(text.upper())
        else:
            kind = "a number or name" if self.spec.names else "a number"
            if text == self.text:
                self.fail(f"is not {kind} ({self.spec.allowed_values})")
            self.fail(f"has '{text}', which is not {kind} ({self.spec.allowed_values})")
        if not self.spec.low <= number <= self.spec.high:
            if text == self.text:
                self.fail(f"is out of range {self.spec.low}-{self.spec.high}")
            self.fail(f"has {number}, which is out of range {self.spec.low}-{self.spec.high}")
        return number

    def values(self) -> frozenset[int]:
        """Parse a list of values, ranges and steps: ``1,15``, ``MON-FRI``, ``0/15``, ``*/5``."""
        result: set[int] = set()
        for item in self.text.split(","):
            if not item:
                self.fail("has an empty entry in its ',' list")
            base, slash, step_text = item.partition("/")
            step = self.step(step_text) if slash else 1
            if base == "*":
                low, high = self.spec.low, self.spec.high
            elif "-" in base:
                start_text, _, end_text = base.partition("-")
                low, high = self.value(start_text), self.value(end_text)
                if low > high:
                    self.fail(f"has range '{base}', which must be ascending (start <= end)")
            else:
                low = self.value(base)
                high = self.spec.high if slash else low
            result.update(range(low, high + 1, step))
        return frozenset(result)

    def step(self, text: str) -> int:
        span = self.spec.high - self.spec.low + 1
        if not _DIGITS.fullmatch(text) or not 1 <= int(text) <= span:
            self.fail(f"has step '/{text}', which must be a whole number from 1 to {span}")
        return int(text)


def _days_in_month(year: int, month: int) -> int:
    return calendar.monthrange(year, month)[1]


def _day_of_week(year: int, month: int, day: int) -> int:
    """EventBridge day-of-week number: 1=SUN ... 7=SAT."""
    return date(year, month, day).isoweekday() % 7 + 1


def _nearest_weekday(year: int, month: int, day: int) -> int:
    """The ``W`` rule: the weekday nearest ``day`` without leaving the month."""
    last = _days_in_month(year, month)
    weekday = _day_of_week(year, month, day)
    if weekday == 7:  # Saturday: the Friday before, or Monday the 3rd if that leaves the month.
        return day - 1 if day > 1 else day + 2
    if weekday == 1:  # Sunday: the Monday after, or the Friday before on the last day.
        return day + 1 if day < last else day - 2
    return day


class _DayRule(Protocol):
    def days(self, year: int, month: int) -> list[int]: ...


@dataclass(frozen=True)
class _DaysOfMonth:
    values: tuple[int, ...]

    def days(self, year: int, month: int) -> list[int]:
        last = _days_in_month(year, month)
        return [day for day in self.values if day <= last]


@dataclass(frozen=True)
class _LastDayOfMonth:
    def days(self, year: int, month: int) -> list[int]:
        return [_days_in_month(year, month)]


@dataclass(frozen=True)
class _LastWeekdayOfMonth:
    def days(self, year: int, month: int) -> list[int]:
        return [_nearest_weekday(year, month, _days_in_month(year, month))]


@dataclass(frozen=True)
class _NearestWeekday:
    day: int

    def days(self, year: int, month: int) -> list[int]:
        # Like a plain day number, '31W' does not fire in a month without a 31st.
        if self.day > _days_in_month(year, month):
            return []
        return [_nearest_weekday(year, month, self.day)]


@dataclass(frozen=True)
class _DaysOfWeek:
    values: frozenset[int]

    def days(self, year: int, month: int) -> list[int]:
        first = _day_of_week(year, month, 1)
        return [
            day
            for day in range(1, _days_in_month(year, month) + 1)
            if (first - 1 + day - 1) % 7 + 1 in self.values
        ]


@dataclass(frozen=True)
class _LastDayOfWeekInMonth:
    weekday: int

    def days(self, year: int, month: int) -> list[int]:
        last = _days_in_month(year, month)
        return [last - (_day_of_week(year, month, last) - self.weekday) % 7]


@dataclass(frozen=True)
class _NthDayOfWeekInMonth:
    weekday: int
    nth: int

    def days(self, year: int, month: int) -> list[int]:
        day = 1 + (self.weekday - _day_of_week(year, month, 1)) % 7 + 7 * (self.nth - 1)
        return [day] if day <= _days_in_month(year, month) else []


def _parse_day_of_month(parser: _FieldParser) -> _DayRule | None:
    text, upper = parser.text, parser.text.upper()
    if text == "?":
        return None
    if upper == "L":
        return _LastDayOfMonth()
    if upper == "LW":
        return _LastWeekdayOfMonth()
    if upper.endswith("W") and "L" not in upper and "," not in upper:
        base = text[:-1]
        if not _DIGITS.fullmatch(base):
            parser.fail("must put 'W' after a single day, e.g. '15W' (or use 'LW')")
        return _NearestWeekday(parser.value(base))
    if "L" in upper or "W" in upper:
        parser.fail("must use 'L', 'LW' or '<day>W' alone, not with other values")
    if "?" in text:
        parser.fail("must use '?' alone")
    return _DaysOfMonth(tuple(sorted(parser.values())))


def _parse_day_of_week(parser: _FieldParser) -> _DayRule | None:
    text, upper = parser.text, parser.text.upper()
    if text == "?":
        return None
    if "#" in text:
        if "," in text:
            # "If you use the '#' character, you can define only one expression in the
            # day-of-week field." (EventBridge cron expressions reference)
            parser.fail("combines '#' with other values; '#' allows one expression, e.g. '2#1'")
        weekday_text, _, nth_text = text.partition("#")
        if "-" in weekday_text or "*" in weekday_text or "L" in weekday_text.upper():
            parser.fail("must put a single day before '#', e.g. '2#1' (first Monday)")
        weekday = parser.value(weekday_text)
        if not _DIGITS.fullmatch(nth_text) or not 1 <= int(nth_text) <= 5:
            parser.fail("must put 1-5 after '#' (which occurrence of the day in the month)")
        return _NthDayOfWeekInMonth(weekday, int(nth_text))
    if upper == "L":
        return _DaysOfWeek(frozenset({7}))  # "the last day of the week" is Saturday.
    if "L" in upper:
        weekday_text = text[:-1]
        if not upper.endswith("L") or not weekday_text or not weekday_text.isalnum():
            parser.fail("must use 'L' alone or after a single day, e.g. '6L' (last Friday)")
        return _LastDayOfWeekInMonth(parser.value(weekday_text))
    if "?" in text:
        parser.fail("must use '?' alone")
    return _DaysOfWeek(parser.values())


# --- schedules -------------------------------------------------------------------------------


def _require_aware(name: str, moment: datetime) -> None:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"{name} must be a timezone-aware datetime, got naive {moment!r}")


def _require_count(count: int) -> None:
    if count < 0:
        raise ValueError(f"count must be zero or more, got {count}")


def _wall_clock_to_instant(local: datetime, tz: ZoneInfo) -> datetime | None:
    """The instant a local wall-clock time names, or None if the clock skips it.

    ``fold=0`` picks the first occurrence of a repeated time: Scheduler runs it only once.
    """
    aware = local.replace(tzinfo=tz, fold=0)
    instant = aware.astimezone(UTC)
    if instant.astimezone(tz).replace(tzinfo=None) != local:
        return None  # Spring forward: Scheduler skips a time that does not exist.
    return instant


@dataclass(frozen=True)
class CronSchedule:
    """A 6-field EventBridge cron: minutes hours day-of-month month day-of-week year.

    Constructing one validates the expression (``ScheduleExpressionError``).
    """

    expression: str
    minutes: tuple[int, ...] = field(init=False, repr=False, compare=False)
    hours: tuple[int, ...] = field(init=False, repr=False, compare=False)
    months: tuple[int, ...] = field(init=False, repr=False, compare=False)
    years: tuple[int, ...] = field(init=False, repr=False, compare=False)
    _day_rule: _DayRule = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        expression = self.expression
        if not (expression.startswith("cron(") and expression.endswith(")")):
            _fail(expression, "a cron expression must be written cron(<6 fields>)")
        texts = expression[len("cron(") : -1].split()
        if len(texts) != 6:
            _fail(
                expression,
                f"expected 6 fields ({_CRON_FIELDS}), got {len(texts)}",
            )
        parsers = [
            _FieldParser(expression, spec, text)
            for spec, text in zip(
                (_MINUTES, _HOURS, _DAY_OF_MONTH, _MONTH, _DAY_OF_WEEK, _YEAR), texts, strict=True
            )
        ]
        for parser in parsers:
            parser.check_characters()
        minutes, hours, dom, month, dow, year = parsers
        day_of_month = _parse_day_of_month(dom)
        day_of_week = _parse_day_of_week(dow)
        day_rule: _DayRule
        if day_of_month is None:
            if day_of_week is None:
                _fail(
                    expression,
                    "day-of-month and day-of-week cannot both be '?'; "
                    "put '?' in exactly one of them",
                )
            day_rule = day_of_week
        elif day_of_week is None:
            day_rule = day_of_month
        else:
            _fail(
                expression,
                "day-of-month and day-of-week cannot both be '*'/values; put '?' in one of them",
            )
        object.__setattr__(self, "minutes", tuple(sorted(minutes.values())))
        object.__setattr__(self, "hours", tuple(sorted(hours.values())))
        object.__setattr__(self, "months", tuple(sorted(month.values())))
        object.__setattr__(self, "years", tuple(sorted(year.values())))
        object.__setattr__(self, "_day_rule", day_rule)

    def next_fire_times(
        self,
        after: datetime,
        tz: ZoneInfo,
        count: int,
        *,
        not_before: datetime | None = None,
    ) -> list[datetime]:
        """The next ``count`` fire times strictly after ``after``, as aware datetimes in ``tz``.

        ``not_before`` is the schedule's start date: fire times earlier than it are left out.
        Fewer than ``count`` come back when the year field runs out (at the latest in 2199).
        """
        _require_aware("after", after)
        _require_count(count)
        floor = after.astimezone(UTC)
        if not_before is not None:
            _require_aware("not_before", not_before)
            # A fire time exactly at the start date counts; whole minutes make this exact.
            floor = max(floor, not_before.astimezone(UTC) - timedelta(microseconds=1))
        fire_times: list[datetime] = []
        if count == 0:
            return fire_times
        # Start from the local wall clock at `floor`. With fold=0 and gaps skipped, later
        # wall-clock times always map to later instants, so the scan is in instant order.
        start = floor.astimezone(tz).replace(tzinfo=None, fold=0, second=0, microsecond=0)
        for local in self._wall_clock_times(start):
            instant = _wall_clock_to_instant(local, tz)
            if instant is None or instant <= floor:
                continue
            fire_times.append(instant.astimezone(tz))
            if len(fire_times) == count:
                break
        return fire_times

    def _wall_clock_times(self, start: datetime) -> Iterator[datetime]:
        """Matching local times from ``start`` on, field by field (never minute by minute)."""
        start_day = start.date()
        for year in self.years:
            if year < start.year:
                continue
            for month in self.months:
                if (year, month) < (start.year, start.month):
                    continue
                for day in self._day_rule.days(year, month):
                    today = date(year, month, day)
                    if today < start_day:
                        continue
                    for hour in self.hours:
                        if today == start_day and hour < start.hour:
                            continue
                        for minute in self.minutes:
                            local = datetime(year, month, day, hour, minute)
                            if local >= start:
                                yield local


@dataclass(frozen=True)
class RateSchedule:
    """``rate(value unit)``: fires every ``interval`` of elapsed time from its start (anchor)."""

    expression: str
    value: int
    unit: RateUnit

    def __post_init__(self) -> None:
        if self.value < 1:
            _fail(self.expression, f"value must be a positive whole number, got {self.value}")
        if self.unit not in ("minute", "hour", "day"):
            _fail(self.expression, f"unit must be minute, hour or day, got {self.unit!r}")

    @property
    def interval(self) -> timedelta:
        # A day is 24 hours of elapsed time, even across a daylight saving change (see module doc).
        return timedelta(**{f"{self.unit}s": self.value})

    def next_fire_times(
        self, after: datetime, tz: ZoneInfo, count: int, anchor: datetime
    ) -> list[datetime]:
        """The next ``count`` times ``anchor + k * interval`` (k >= 0) strictly after ``after``.

        ``anchor`` is the schedule's start date (its first fire time); results are in ``tz``.
        """
        _require_aware("after", after)
        _require_aware("anchor", anchor)
        _require_count(count)
        interval = self.interval
        start = anchor.astimezone(UTC)
        floor = after.astimezone(UTC)
        steps = 0 if start > floor else (floor - start) // interval + 1
        fire_times: list[datetime] = []
        try:
            moment = start + steps * interval
            while len(fire_times) < count:
                fire_times.append(moment.astimezone(tz))
                moment += interval
        except OverflowError:
            pass  # Past year 9999: there are no more representable fire times.
        return fire_times


# --- entry points ----------------------------------------------------------------------------


def _parse_rate(expression: str) -> RateSchedule:
    parts = expression[len("rate(") : -1].split(" ")
    if len(parts) != 2 or not all(parts):
        _fail(expression, "expected rate(value unit) with one space, e.g. rate(5 minutes)")
    value_text, unit_text = parts
    if not _DIGITS.fullmatch(value_text) or int(value_text) == 0:
        _fail(expression, f"value '{value_text}' must be a positive whole number")
    value = int(value_text)
    unit = _RATE_UNITS.get(unit_text)
    if unit is None:
        _fail(expression, f"unit '{unit_text}' must be one of minute(s), hour(s), day(s)")
    if value == 1 and unit_text != unit:
        _fail(expression, f"unit must be '{unit}' when the value is 1")
    if value > 1 and unit_text == unit:
        _fail(expression, f"unit must be '{unit}s' when the value is greater than 1")
    try:
        timedelta(**{f"{unit}s": value})
    except OverflowError:
        _fail(expression, f"value {value} is too large for a {unit} interval")
    return RateSchedule(expression=expression, value=value, unit=unit)


def parse_schedule(expression: str) -> CronSchedule | RateSchedule:
    """Parse an EventBridge Scheduler recurring expression; raise ``ScheduleExpressionError``."""
    if not expression.strip():
        _fail(expression, f"the schedule expression is empty; {_EXPECTED_FORMS}")
    if expression != expression.strip():
        _fail(expression, "remove the leading/trailing whitespace")
    if expression.startswith("at("):
        _fail(
            expression,
            "one-time at() schedules are not supported; cronguard jobs must be recurring: "
            "use cron(...) or rate(...)",
        )
    for keyword in ("cron(", "rate("):
        if expression.startswith(keyword) and not expression.endswith(")"):
            _fail(expression, "missing ')' at the end")
    if expression.startswith("cron("):
        return CronSchedule(expression)
    if expression.startswith("rate("):
        return _parse_rate(expression)
    _fail(expression, _EXPECTED_FORMS)


def load_time_zone(name: str) -> ZoneInfo:
    """The IANA time zone ``name`` (e.g. ``Europe/London``), or ValueError saying it is unknown."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise ValueError(
            f"unknown time zone {name!r}: expected an IANA name such as 'Europe/London' or 'UTC'"
        ) from None


def upcoming_slots(
    expression: str,
    timezone: str,
    *,
    after: datetime,
    count: int = 5,
    anchor: datetime | None = None,
) -> list[datetime]:
    """The next ``count`` slots strictly after ``after``, as aware datetimes in ``timezone``.

    ``anchor`` is the schedule's start date. A rate schedule fires at ``anchor + k * interval``
    (the anchor defaults to ``after``, so its first slot is one interval later); a cron
    schedule fires no earlier than the anchor. Raises ``ScheduleExpressionError`` for a bad
    expression and ``ValueError`` for a bad time zone or a naive datetime.
    """
    schedule = parse_schedule(expression)
    tz = load_time_zone(timezone)
    if anchor is not None:
        _require_aware("anchor", anchor)
    if isinstance(schedule, RateSchedule):
        return schedule.next_fire_times(after, tz, count, anchor if anchor is not None else after)
    return schedule.next_fire_times(after, tz, count, not_before=anchor)
