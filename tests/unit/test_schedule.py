"""EventBridge Scheduler expressions: validation messages and fire times (incl. DST)."""

from __future__ import annotations

import pickle
import time
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from lambdas.core.schedule import (
    CronSchedule,
    RateSchedule,
    RateUnit,
    ScheduleExpressionError,
    load_time_zone,
    parse_schedule,
    upcoming_slots,
)

EXPECTED_FORMS = (
    "expected cron(minutes hours day-of-month month day-of-week year) or rate(value unit), "
    "e.g. cron(0 3 * * ? *) or rate(5 minutes)"
)


def utc(
    year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0
) -> datetime:
    return datetime(year, month, day, hour, minute, second, tzinfo=UTC)


def as_utc(times: list[datetime]) -> list[datetime]:
    # Compare instants in UTC: aware datetimes in a repeated (fall-back) hour never compare
    # equal to another zone's datetimes (PEP 495), and same-zone comparisons ignore the fold.
    return [moment.astimezone(UTC) for moment in times]


def slots(expression: str, after: datetime, count: int, timezone: str = "UTC") -> list[datetime]:
    return as_utc(upcoming_slots(expression, timezone, after=after, count=count))


# --- validation ------------------------------------------------------------------------------

INVALID = [
    # (expression, exact message)
    ("", f"'': the schedule expression is empty; {EXPECTED_FORMS}"),
    ("   ", f"'   ': the schedule expression is empty; {EXPECTED_FORMS}"),
    ("every day at 3", f"every day at 3: {EXPECTED_FORMS}"),
    ("0 3 * * *", f"0 3 * * *: {EXPECTED_FORMS}"),
    ("CRON(0 3 * * ? *)", f"CRON(0 3 * * ? *): {EXPECTED_FORMS}"),
    (" cron(0 3 * * ? *)", "' cron(0 3 * * ? *)': remove the leading/trailing whitespace"),
    (
        "at(2026-11-22T03:00:00)",
        "at(2026-11-22T03:00:00): one-time at() schedules are not supported; "
        "cronguard jobs must be recurring: use cron(...) or rate(...)",
    ),
    ("cron(0 3 * * ? *", "cron(0 3 * * ? *: missing ')' at the end"),
    (
        "cron(0 3 * * ?)",
        "cron(0 3 * * ?): expected 6 fields "
        "(minutes hours day-of-month month day-of-week year), got 5",
    ),
    (
        "cron(0 0 3 * * ? *)",
        "cron(0 0 3 * * ? *): expected 6 fields "
        "(minutes hours day-of-month month day-of-week year), got 7",
    ),
    ("cron(0 25 * * ? *)", "cron(0 25 * * ? *): hours field '25' is out of range 0-23"),
    ("cron(60 3 * * ? *)", "cron(60 3 * * ? *): minutes field '60' is out of range 0-59"),
    (
        "cron(0-65 3 * * ? *)",
        "cron(0-65 3 * * ? *): minutes field '0-65' has 65, which is out of range 0-59",
    ),
    ("cron(0 3 0 * ? *)", "cron(0 3 0 * ? *): day-of-month field '0' is out of range 1-31"),
    ("cron(0 3 32 * ? *)", "cron(0 3 32 * ? *): day-of-month field '32' is out of range 1-31"),
    ("cron(0 3 * 13 ? *)", "cron(0 3 * 13 ? *): month field '13' is out of range 1-12"),
    ("cron(0 3 ? * 0 *)", "cron(0 3 ? * 0 *): day-of-week field '0' is out of range 1-7"),
    ("cron(0 3 ? * 8 *)", "cron(0 3 ? * 8 *): day-of-week field '8' is out of range 1-7"),
    ("cron(0 3 * * ? 1969)", "cron(0 3 * * ? 1969): year field '1969' is out of range 1970-2199"),
    ("cron(0 3 * * ? 2200)", "cron(0 3 * * ? 2200): year field '2200' is out of range 1970-2199"),
    (
        "cron(0 3 * FOO ? *)",
        "cron(0 3 * FOO ? *): month field 'FOO' is not a number or name (1-12 or JAN-DEC)",
    ),
    (
        "cron(0 3 ? * MON-FRY *)",
        "cron(0 3 ? * MON-FRY *): day-of-week field 'MON-FRY' has 'FRY', "
        "which is not a number or name (1-7 or SUN-SAT)",
    ),
    ("cron(MON 3 * * ? *)", "cron(MON 3 * * ? *): minutes field 'MON' is not a number (0-59)"),
    (
        "cron(0 3 * * * *)",
        "cron(0 3 * * * *): day-of-month and day-of-week cannot both be '*'/values; "
        "put '?' in one of them",
    ),
    (
        "cron(0 3 1 * MON *)",
        "cron(0 3 1 * MON *): day-of-month and day-of-week cannot both be '*'/values; "
        "put '?' in one of them",
    ),
    (
        "cron(0 3 ? * ? *)",
        "cron(0 3 ? * ? *): day-of-month and day-of-week cannot both be '?'; "
        "put '?' in exactly one of them",
    ),
    (
        "cron(0 ? * * ? *)",
        "cron(0 ? * * ? *): hours field '?' uses '?', "
        "which is only allowed in day-of-month or day-of-week",
    ),
    (
        "cron(0 3 * * ? %)",
        "cron(0 3 * * ? %): year field '%' uses '%', which is not allowed here (allowed: , - * /)",
    ),
    (
        "cron(0 3 ? * */2 *)",
        "cron(0 3 ? * */2 *): day-of-week field '*/2' uses '/', "
        "which is not allowed here (allowed: , - * ? L #)",
    ),
    (
        "cron(0 3 * L ? *)",
        "cron(0 3 * L ? *): month field 'L' is not a number or name (1-12 or JAN-DEC)",
    ),
    (
        "cron(0 10-2 * * ? *)",
        "cron(0 10-2 * * ? *): hours field '10-2' has range '10-2', "
        "which must be ascending (start <= end)",
    ),
    (
        "cron(0 3 ? * FRI-MON *)",
        "cron(0 3 ? * FRI-MON *): day-of-week field 'FRI-MON' has range 'FRI-MON', "
        "which must be ascending (start <= end)",
    ),
    (
        "cron(0/0 * * * ? *)",
        "cron(0/0 * * * ? *): minutes field '0/0' has step '/0', "
        "which must be a whole number from 1 to 60",
    ),
    (
        "cron(*/x * * * ? *)",
        "cron(*/x * * * ? *): minutes field '*/x' has step '/x', "
        "which must be a whole number from 1 to 60",
    ),
    (
        "cron(0 */25 * * ? *)",
        "cron(0 */25 * * ? *): hours field '*/25' has step '/25', "
        "which must be a whole number from 1 to 24",
    ),
    (
        "cron(0 3 1,,15 * ? *)",
        "cron(0 3 1,,15 * ? *): day-of-month field '1,,15' has an empty entry in its ',' list",
    ),
    (
        "cron(0 3 W * ? *)",
        "cron(0 3 W * ? *): day-of-month field 'W' must put 'W' after a single day, "
        "e.g. '15W' (or use 'LW')",
    ),
    (
        "cron(0 3 1-5W * ? *)",
        "cron(0 3 1-5W * ? *): day-of-month field '1-5W' must put 'W' after a single day, "
        "e.g. '15W' (or use 'LW')",
    ),
    (
        "cron(0 3 32W * ? *)",
        "cron(0 3 32W * ? *): day-of-month field '32W' has 32, which is out of range 1-31",
    ),
    (
        "cron(0 3 L,15 * ? *)",
        "cron(0 3 L,15 * ? *): day-of-month field 'L,15' must use 'L', 'LW' or '<day>W' alone, "
        "not with other values",
    ),
    (
        "cron(0 3 L-3 * ? *)",
        "cron(0 3 L-3 * ? *): day-of-month field 'L-3' must use 'L', 'LW' or '<day>W' alone, "
        "not with other values",
    ),
    (
        "cron(0 3 1,? * MON *)",
        "cron(0 3 1,? * MON *): day-of-month field '1,?' must use '?' alone",
    ),
    (
        "cron(0 3 ? * 3#1,6#3 *)",
        "cron(0 3 ? * 3#1,6#3 *): day-of-week field '3#1,6#3' combines '#' with other values; "
        "'#' allows one expression, e.g. '2#1'",
    ),
    (
        "cron(0 3 ? * 2#6 *)",
        "cron(0 3 ? * 2#6 *): day-of-week field '2#6' must put 1-5 after '#' "
        "(which occurrence of the day in the month)",
    ),
    (
        "cron(0 3 ? * 2#0 *)",
        "cron(0 3 ? * 2#0 *): day-of-week field '2#0' must put 1-5 after '#' "
        "(which occurrence of the day in the month)",
    ),
    (
        "cron(0 3 ? * 1-3#1 *)",
        "cron(0 3 ? * 1-3#1 *): day-of-week field '1-3#1' must put a single day before '#', "
        "e.g. '2#1' (first Monday)",
    ),
    (
        "cron(0 3 ? * 6L,2 *)",
        "cron(0 3 ? * 6L,2 *): day-of-week field '6L,2' must use 'L' alone or after a single "
        "day, e.g. '6L' (last Friday)",
    ),
    (
        "cron(0 3 ? * 9L *)",
        "cron(0 3 ? * 9L *): day-of-week field '9L' has 9, which is out of range 1-7",
    ),
    (
        "cron(0 3 ? * mon-fry *)",
        "cron(0 3 ? * mon-fry *): day-of-week field 'mon-fry' has 'fry', "
        "which is not a number or name (1-7 or SUN-SAT)",
    ),
    ("rate(5 minute)", "rate(5 minute): unit must be 'minutes' when the value is greater than 1"),
    ("rate(2 day)", "rate(2 day): unit must be 'days' when the value is greater than 1"),
    ("rate(1 minutes)", "rate(1 minutes): unit must be 'minute' when the value is 1"),
    ("rate(1 hours)", "rate(1 hours): unit must be 'hour' when the value is 1"),
    ("rate(0 minutes)", "rate(0 minutes): value '0' must be a positive whole number"),
    ("rate(-5 minutes)", "rate(-5 minutes): value '-5' must be a positive whole number"),
    ("rate(1.5 hours)", "rate(1.5 hours): value '1.5' must be a positive whole number"),
    ("rate(five minutes)", "rate(five minutes): value 'five' must be a positive whole number"),
    ("rate(5 weeks)", "rate(5 weeks): unit 'weeks' must be one of minute(s), hour(s), day(s)"),
    (
        "rate(5 Minutes)",
        "rate(5 Minutes): unit 'Minutes' must be one of minute(s), hour(s), day(s)",
    ),
    ("rate(5)", "rate(5): expected rate(value unit) with one space, e.g. rate(5 minutes)"),
    (
        "rate(5  minutes)",
        "rate(5  minutes): expected rate(value unit) with one space, e.g. rate(5 minutes)",
    ),
    ("rate(5 minutes", "rate(5 minutes: missing ')' at the end"),
    (
        "rate(99999999999999999 days)",
        "rate(99999999999999999 days): value 99999999999999999 is too large for a day interval",
    ),
]


@pytest.mark.parametrize(("expression", "message"), INVALID, ids=[e for e, _ in INVALID])
def test_invalid_expression_is_rejected_with_a_precise_message(
    expression: str, message: str
) -> None:
    with pytest.raises(ScheduleExpressionError) as caught:
        parse_schedule(expression)
    assert str(caught.value) == message
    assert "\n" not in str(caught.value)


def test_schedule_expression_error_is_a_value_error_that_keeps_its_parts() -> None:
    with pytest.raises(ValueError, match="out of range 0-23") as caught:
        parse_schedule("cron(0 25 * * ? *)")
    error = caught.value
    assert isinstance(error, ScheduleExpressionError)
    assert error.expression == "cron(0 25 * * ? *)"
    assert error.reason == "hours field '25' is out of range 0-23"
    copy = pickle.loads(pickle.dumps(error))
    assert (str(copy), copy.reason) == (str(error), error.reason)


CRON_FIELDS = [
    # (expression, minutes, hours, months, years[:3])
    ("cron(0 3 * * ? *)", (0,), (3,), tuple(range(1, 13)), (1970, 1971, 1972)),
    ("cron(0/15 * * * ? *)", (0, 15, 30, 45), tuple(range(24)), tuple(range(1, 13)), None),
    ("cron(5/20 * * * ? *)", (5, 25, 45), tuple(range(24)), tuple(range(1, 13)), None),
    ("cron(*/20 * * * ? *)", (0, 20, 40), tuple(range(24)), tuple(range(1, 13)), None),
    ("cron(10-40/10 8-17/3 * * ? *)", (10, 20, 30, 40), (8, 11, 14, 17), None, None),
    ("cron(0,30 1,13 ? jan-Mar,DEC MON-FRI *)", (0, 30), (1, 13), (1, 2, 3, 12), None),
    ("cron(59 23 L */4 ? 2025-2030/2)", (59,), (23,), (1, 5, 9), (2025, 2027, 2029)),
    ("cron(0 3 ? 6 * 2199)", (0,), (3,), (6,), (2199,)),
]


@pytest.mark.parametrize(
    ("expression", "minutes", "hours", "months", "years"),
    CRON_FIELDS,
    ids=[row[0] for row in CRON_FIELDS],
)
def test_valid_cron_fields_expand_lists_ranges_steps_and_names(
    expression: str,
    minutes: tuple[int, ...],
    hours: tuple[int, ...],
    months: tuple[int, ...] | None,
    years: tuple[int, ...] | None,
) -> None:
    schedule = parse_schedule(expression)
    assert isinstance(schedule, CronSchedule)
    assert schedule.expression == expression
    assert (schedule.minutes, schedule.hours) == (minutes, hours)
    if months is not None:
        assert schedule.months == months
    if years is not None:
        assert schedule.years[:3] == years


VALID_CRON = [
    "cron(0 3 * * ? *)",
    "cron(0 3 ? * * *)",
    "cron(0 3 L * ? *)",
    "cron(0 3 l * ? *)",
    "cron(0 3 LW * ? *)",
    "cron(0 3 15W * ? *)",
    "cron(0 3 15w * ? *)",
    "cron(0 3 1,15 * ? *)",
    "cron(0 3 1/7 * ? *)",
    "cron(0 3 ? * 6L *)",
    "cron(0 3 ? * FRIL *)",
    "cron(0 3 ? * L *)",
    "cron(0 3 ? * 2#1 *)",
    "cron(0 3 ? * mon#1 *)",
    "cron(0 18 ? * MON-FRI *)",
    "cron(0 18 ? * 2-6 *)",
    "cron(0 18 ? * sun,sat *)",
    "cron(0 0 1 JAN ? 1970)",
    "cron(0   3  *  *  ?  *)",
]


@pytest.mark.parametrize("expression", VALID_CRON)
def test_valid_cron_expression_parses(expression: str) -> None:
    schedule = parse_schedule(expression)
    assert schedule == CronSchedule(expression)


VALID_RATE: list[tuple[str, int, RateUnit, timedelta]] = [
    ("rate(1 minute)", 1, "minute", timedelta(minutes=1)),
    ("rate(5 minutes)", 5, "minute", timedelta(minutes=5)),
    ("rate(1 hour)", 1, "hour", timedelta(hours=1)),
    ("rate(12 hours)", 12, "hour", timedelta(hours=12)),
    ("rate(1 day)", 1, "day", timedelta(days=1)),
    ("rate(7 days)", 7, "day", timedelta(days=7)),
]


@pytest.mark.parametrize(("expression", "value", "unit", "interval"), VALID_RATE)
def test_valid_rate_expression_parses(
    expression: str, value: int, unit: RateUnit, interval: timedelta
) -> None:
    schedule = parse_schedule(expression)
    assert schedule == RateSchedule(expression, value, unit)
    assert isinstance(schedule, RateSchedule)
    assert schedule.interval == interval


def test_constructing_a_cron_schedule_directly_validates_it() -> None:
    with pytest.raises(ScheduleExpressionError, match="out of range 0-23"):
        CronSchedule("cron(0 24 * * ? *)")


def test_constructing_a_rate_schedule_directly_validates_it() -> None:
    with pytest.raises(ScheduleExpressionError, match="positive whole number, got 0"):
        RateSchedule("rate(0 minutes)", 0, "minute")


# --- cron fire times -------------------------------------------------------------------------

FIRE_TIMES = [
    # (name, expression, time zone, after, expected instants in UTC)
    (
        "daily 03:00 Tokyo is 18:00 UTC the day before",
        "cron(0 3 * * ? *)",
        "Asia/Tokyo",
        utc(2025, 1, 1, 0, 0),
        [utc(2025, 1, 1, 18), utc(2025, 1, 2, 18), utc(2025, 1, 3, 18)],
    ),
    (
        "L is the last day of the month, the 29th in a leap February",
        "cron(0 3 L * ? *)",
        "UTC",
        utc(2024, 1, 15),
        [utc(2024, 1, 31, 3), utc(2024, 2, 29, 3), utc(2024, 3, 31, 3), utc(2024, 4, 30, 3)],
    ),
    (
        "L is the 28th in a common February",
        "cron(0 3 L 2 ? *)",
        "UTC",
        utc(2025, 1, 1),
        [utc(2025, 2, 28, 3), utc(2026, 2, 28, 3), utc(2027, 2, 28, 3), utc(2028, 2, 29, 3)],
    ),
    (
        "6L is the last Friday of the month",
        "cron(0 3 ? * 6L *)",
        "UTC",
        utc(2025, 1, 1),
        [utc(2025, 1, 31, 3), utc(2025, 2, 28, 3), utc(2025, 3, 28, 3), utc(2025, 4, 25, 3)],
    ),
    (
        "FRIL is 6L",
        "cron(0 3 ? * FRIL *)",
        "UTC",
        utc(2025, 1, 1),
        [utc(2025, 1, 31, 3), utc(2025, 2, 28, 3), utc(2025, 3, 28, 3), utc(2025, 4, 25, 3)],
    ),
    (
        "L alone in day-of-week is every Saturday",
        "cron(0 3 ? * L *)",
        "UTC",
        utc(2025, 3, 1, 12),
        [utc(2025, 3, 8, 3), utc(2025, 3, 15, 3)],
    ),
    (
        "2#1 is the first Monday",
        "cron(0 9 ? * 2#1 *)",
        "UTC",
        utc(2025, 1, 1),
        [utc(2025, 1, 6, 9), utc(2025, 2, 3, 9), utc(2025, 3, 3, 9), utc(2025, 4, 7, 9)],
    ),
    (
        "2#5 skips months without a fifth Monday",
        "cron(0 9 ? * MON#5 *)",
        "UTC",
        utc(2025, 1, 1),
        [utc(2025, 3, 31, 9), utc(2025, 6, 30, 9), utc(2025, 9, 29, 9), utc(2025, 12, 29, 9)],
    ),
    (
        "1W on a Saturday moves to Monday the 3rd, not into the previous month",
        "cron(0 3 1W * ? *)",
        "UTC",
        utc(2025, 2, 15),
        [utc(2025, 3, 3, 3), utc(2025, 4, 1, 3), utc(2025, 5, 1, 3), utc(2025, 6, 2, 3)],
    ),
    (
        "15W: Saturday the 15th -> Friday 14th, Sunday the 15th -> Monday 16th",
        "cron(0 3 15W 3,6 ? 2025)",
        "UTC",
        utc(2025, 1, 1),
        [utc(2025, 3, 14, 3), utc(2025, 6, 16, 3)],
    ),
    (
        "LW: last weekday; a Sunday 31st goes back to Friday, not into the next month",
        "cron(0 3 LW 1,5,8 ? 2025)",
        "UTC",
        utc(2025, 1, 1),
        [utc(2025, 1, 31, 3), utc(2025, 5, 30, 3), utc(2025, 8, 29, 3)],
    ),
    (
        "30W on a Sunday that ends the month goes back to Friday the 28th",
        "cron(0 3 30W 6 ? 2024)",
        "UTC",
        utc(2024, 1, 1),
        [utc(2024, 6, 28, 3)],
    ),
    (
        "31W does not fire in a 30-day month",
        "cron(0 3 31W 4,5 ? 2025)",
        "UTC",
        utc(2025, 1, 1),
        [utc(2025, 5, 30, 3)],
    ),
    (
        "MON-FRI skips the weekend",
        "cron(0 18 ? * MON-FRI *)",
        "UTC",
        utc(2025, 3, 7, 12),
        [utc(2025, 3, 7, 18), utc(2025, 3, 10, 18), utc(2025, 3, 11, 18)],
    ),
    (
        "sun,sat is only the weekend",
        "cron(0 18 ? * sun,sat *)",
        "UTC",
        utc(2025, 3, 7, 12),
        [utc(2025, 3, 8, 18), utc(2025, 3, 9, 18), utc(2025, 3, 15, 18)],
    ),
    (
        "0/15 is every quarter hour",
        "cron(0/15 * * * ? *)",
        "UTC",
        utc(2025, 1, 1, 10, 7, 30),
        [
            utc(2025, 1, 1, 10, 15),
            utc(2025, 1, 1, 10, 30),
            utc(2025, 1, 1, 10, 45),
            utc(2025, 1, 1, 11, 0),
        ],
    ),
    (
        "1,15 of the month, over a year boundary",
        "cron(0 0 1,15 * ? *)",
        "UTC",
        utc(2025, 12, 10),
        [utc(2025, 12, 15), utc(2026, 1, 1), utc(2026, 1, 15)],
    ),
    (
        "a 31st only fires in months that have one",
        "cron(0 0 31 * ? *)",
        "UTC",
        utc(2025, 1, 31, 1),
        [utc(2025, 3, 31), utc(2025, 5, 31), utc(2025, 7, 31)],
    ),
    (
        "a fire time equal to `after` is not upcoming",
        "cron(0 3 * * ? *)",
        "UTC",
        utc(2025, 1, 1, 3),
        [utc(2025, 1, 2, 3)],
    ),
    (
        "London spring forward: 01:30 does not exist on 30 March 2025 and is skipped",
        "cron(30 1 * * ? *)",
        "Europe/London",
        utc(2025, 3, 28, 12),
        [utc(2025, 3, 29, 1, 30), utc(2025, 3, 31, 0, 30), utc(2025, 4, 1, 0, 30)],
    ),
    (
        "London spring forward: half-hourly slots in the missing hour are skipped",
        "cron(0/30 * * * ? *)",
        "Europe/London",
        utc(2025, 3, 30, 0, 10),
        [utc(2025, 3, 30, 0, 30), utc(2025, 3, 30, 1, 0), utc(2025, 3, 30, 1, 30)],
    ),
    (
        "London fall back: 01:30 happens twice on 26 October 2025 and runs once (BST)",
        "cron(30 1 * * ? *)",
        "Europe/London",
        utc(2025, 10, 25, 12),
        [utc(2025, 10, 26, 0, 30), utc(2025, 10, 27, 1, 30)],
    ),
    (
        "London fall back: half-hourly slots run once per wall-clock time",
        "cron(0/30 * * * ? *)",
        "Europe/London",
        utc(2025, 10, 25, 23, 10),
        [
            utc(2025, 10, 25, 23, 30),  # 00:30 BST
            utc(2025, 10, 26, 0, 0),  # 01:00 BST
            utc(2025, 10, 26, 0, 30),  # 01:30 BST; 01:00 and 01:30 GMT do not fire again
            utc(2025, 10, 26, 2, 0),  # 02:00 GMT
            utc(2025, 10, 26, 2, 30),
        ],
    ),
    (
        "London fall back: after the first 01:30 the repeat 01:30 is not a new slot",
        "cron(30 1 * * ? *)",
        "Europe/London",
        utc(2025, 10, 26, 1, 10),
        [utc(2025, 10, 27, 1, 30)],
    ),
    (
        "New York spring forward: 02:30 does not exist on 9 March 2025 and is skipped",
        "cron(30 2 * * ? *)",
        "America/New_York",
        utc(2025, 3, 8),
        [utc(2025, 3, 8, 7, 30), utc(2025, 3, 10, 6, 30), utc(2025, 3, 11, 6, 30)],
    ),
    (
        "New York fall back: 01:30 on 2 November 2025 runs once (EDT)",
        "cron(30 1 * * ? *)",
        "America/New_York",
        utc(2025, 11, 1, 12),
        [utc(2025, 11, 2, 5, 30), utc(2025, 11, 3, 6, 30)],
    ),
    (
        "New York: a daily 09:00 follows the wall clock across the change",
        "cron(0 9 ? * * *)",
        "America/New_York",
        utc(2025, 3, 8),
        [utc(2025, 3, 8, 14), utc(2025, 3, 9, 13), utc(2025, 3, 10, 13)],
    ),
]


@pytest.mark.parametrize(
    ("expression", "timezone", "after", "expected"),
    [row[1:] for row in FIRE_TIMES],
    ids=[row[0] for row in FIRE_TIMES],
)
def test_cron_fire_times(
    expression: str, timezone: str, after: datetime, expected: list[datetime]
) -> None:
    # Ask for more than expected: the extra slot must be the one after the last expected,
    # and schedules that run out (year field, impossible dates) must stop, not hang.
    more = slots(expression, after, len(expected) + 1, timezone)
    assert more[: len(expected)] == expected
    if len(more) > len(expected):
        assert more[-1] > expected[-1]


EXHAUSTED = [
    ("cron(0 0 1 * ? 2025)", utc(2025, 10, 15), [utc(2025, 11, 1), utc(2025, 12, 1)]),
    ("cron(0 0 1 * ? 2025-2026)", utc(2024, 1, 1), None),
    ("cron(0 0 * * ? 2020)", utc(2025, 1, 1), []),
    ("cron(0 0 30 2 ? *)", utc(2025, 1, 1), []),
    ("cron(0 0 31 4,6,9,11 ? *)", utc(1970, 1, 1), []),
    ("cron(0 0 1 1 ? 2199)", utc(2199, 1, 1, 0, 1), []),
]


@pytest.mark.parametrize(("expression", "after", "expected"), EXHAUSTED)
def test_a_schedule_that_runs_out_returns_fewer_slots_quickly(
    expression: str, after: datetime, expected: list[datetime] | None
) -> None:
    started = time.perf_counter()
    found = slots(expression, after, 100)
    assert time.perf_counter() - started < 1.0
    if expected is None:
        assert len(found) == 24
        assert (found[0], found[-1]) == (utc(2025, 1, 1), utc(2026, 12, 1))
    else:
        assert found == expected


def test_fire_times_are_aware_datetimes_in_the_schedule_time_zone() -> None:
    tokyo = ZoneInfo("Asia/Tokyo")
    (first,) = upcoming_slots("cron(0 3 * * ? *)", "Asia/Tokyo", after=utc(2025, 1, 1), count=1)
    assert first.tzinfo == tokyo
    assert (first.hour, first.minute, first.second, first.microsecond) == (3, 0, 0, 0)
    assert first.utcoffset() == timedelta(hours=9)


def test_fall_back_slot_is_reported_with_the_first_occurrence_offset() -> None:
    (first,) = upcoming_slots(
        "cron(30 1 * * ? *)", "Europe/London", after=utc(2025, 10, 25, 12), count=1
    )
    assert (first.day, first.hour, first.minute) == (26, 1, 30)
    assert first.utcoffset() == timedelta(hours=1)


def test_spring_forward_slots_keep_local_wall_clock_times() -> None:
    found = upcoming_slots(
        "cron(0/30 * * * ? *)", "Europe/London", after=utc(2025, 3, 30, 0, 10), count=3
    )
    assert [(moment.hour, moment.minute) for moment in found] == [(0, 30), (2, 0), (2, 30)]


def test_after_in_another_time_zone_means_the_same_instant() -> None:
    after = datetime(2025, 1, 1, 9, 0, tzinfo=ZoneInfo("Asia/Tokyo"))
    assert slots("cron(0 3 * * ? *)", after, 1, "UTC") == [utc(2025, 1, 1, 3)]


def test_cron_start_date_anchor_includes_a_slot_exactly_at_the_start() -> None:
    found = upcoming_slots(
        "cron(0 3 * * ? *)", "UTC", after=utc(2025, 1, 1), count=2, anchor=utc(2025, 1, 10, 3)
    )
    assert as_utc(found) == [utc(2025, 1, 10, 3), utc(2025, 1, 11, 3)]


def test_cron_anchor_in_the_past_changes_nothing() -> None:
    found = upcoming_slots(
        "cron(0 3 * * ? *)", "UTC", after=utc(2025, 1, 1), count=1, anchor=utc(2020, 1, 1)
    )
    assert as_utc(found) == [utc(2025, 1, 1, 3)]


@pytest.mark.parametrize(
    ("expression", "hundredth"),
    [("cron(0 3 L * ? *)", utc(2033, 4, 30, 3)), ("cron(0 9 ? * 2#1 *)", utc(2033, 4, 4, 9))],
)
def test_a_hundred_monthly_slots_are_computed_without_brute_force(
    expression: str, hundredth: datetime
) -> None:
    started = time.perf_counter()
    found = slots(expression, utc(2025, 1, 1), 100)
    assert time.perf_counter() - started < 0.5
    assert len(found) == 100
    assert found[-1] == hundredth
    assert found == sorted(set(found))


def test_every_minute_yields_consecutive_minutes() -> None:
    found = slots("cron(* * * * ? *)", utc(2025, 1, 1, 23, 58, 59), 3)
    assert found == [utc(2025, 1, 1, 23, 59), utc(2025, 1, 2, 0, 0), utc(2025, 1, 2, 0, 1)]


def test_count_zero_returns_no_slots() -> None:
    assert upcoming_slots("cron(0 3 * * ? *)", "UTC", after=utc(2025, 1, 1), count=0) == []


# --- rate fire times -------------------------------------------------------------------------


def test_rate_fires_every_interval_from_its_anchor() -> None:
    found = upcoming_slots(
        "rate(15 minutes)", "UTC", after=utc(2025, 1, 1, 1), count=3, anchor=utc(2025, 1, 1, 0, 5)
    )
    assert as_utc(found) == [utc(2025, 1, 1, 1, 5), utc(2025, 1, 1, 1, 20), utc(2025, 1, 1, 1, 35)]


def test_rate_slot_equal_to_after_is_not_upcoming() -> None:
    found = upcoming_slots(
        "rate(2 hours)", "UTC", after=utc(2025, 1, 1, 4), count=2, anchor=utc(2025, 1, 1)
    )
    assert as_utc(found) == [utc(2025, 1, 1, 6), utc(2025, 1, 1, 8)]


def test_rate_with_a_future_anchor_starts_at_the_anchor() -> None:
    found = upcoming_slots(
        "rate(1 hour)", "UTC", after=utc(2025, 1, 1), count=2, anchor=utc(2025, 1, 3, 12, 30)
    )
    assert as_utc(found) == [utc(2025, 1, 3, 12, 30), utc(2025, 1, 3, 13, 30)]


def test_rate_anchor_defaults_to_after() -> None:
    found = upcoming_slots("rate(5 minutes)", "UTC", after=utc(2025, 1, 1, 0, 0, 30), count=2)
    assert as_utc(found) == [utc(2025, 1, 1, 0, 5, 30), utc(2025, 1, 1, 0, 10, 30)]


def test_rate_day_is_24_elapsed_hours_across_spring_forward() -> None:
    london = ZoneInfo("Europe/London")
    anchor = datetime(2025, 3, 29, 3, 0, tzinfo=london)
    found = upcoming_slots("rate(1 day)", "Europe/London", after=anchor, count=2, anchor=anchor)
    assert as_utc(found) == [utc(2025, 3, 30, 3), utc(2025, 3, 31, 3)]
    assert [moment.hour for moment in found] == [4, 4]


def test_rate_stops_instead_of_overflowing_past_year_9999() -> None:
    found = upcoming_slots(
        "rate(3650000 days)", "UTC", after=utc(2025, 1, 1), count=5, anchor=utc(2025, 1, 1)
    )
    assert found == []


# --- arguments -------------------------------------------------------------------------------


def test_unknown_time_zone_is_a_clear_value_error() -> None:
    with pytest.raises(ValueError, match=r"^unknown time zone 'Mars/Olympus'") as caught:
        upcoming_slots("cron(0 3 * * ? *)", "Mars/Olympus", after=utc(2025, 1, 1))
    assert not isinstance(caught.value, ScheduleExpressionError)


@pytest.mark.parametrize("name", ["", "Europe", "../etc/passwd", "/etc/localtime", "utc"])
def test_malformed_time_zone_names_are_rejected(name: str) -> None:
    with pytest.raises(ValueError, match="expected an IANA name such as 'Europe/London'"):
        load_time_zone(name)


def test_naive_after_is_rejected() -> None:
    with pytest.raises(ValueError, match="after must be a timezone-aware datetime"):
        upcoming_slots("cron(0 3 * * ? *)", "UTC", after=datetime(2025, 1, 1))


def test_naive_anchor_is_rejected() -> None:
    with pytest.raises(ValueError, match="anchor must be a timezone-aware datetime"):
        upcoming_slots("rate(5 minutes)", "UTC", after=utc(2025, 1, 1), anchor=datetime(2025, 1, 1))


def test_negative_count_is_rejected() -> None:
    with pytest.raises(ValueError, match="count must be zero or more, got -1"):
        upcoming_slots("rate(5 minutes)", "UTC", after=utc(2025, 1, 1), count=-1)


def test_bad_expression_is_reported_before_a_bad_time_zone() -> None:
    with pytest.raises(ScheduleExpressionError, match="rate\\(5 minute\\)"):
        upcoming_slots("rate(5 minute)", "Mars/Olympus", after=utc(2025, 1, 1))


def test_naive_cron_anchor_is_rejected() -> None:
    with pytest.raises(ValueError, match="anchor must be a timezone-aware datetime"):
        upcoming_slots(
            "cron(0 3 * * ? *)", "UTC", after=utc(2025, 1, 1), anchor=datetime(2025, 1, 1)
        )
