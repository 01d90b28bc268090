"""Missed slots: which due slots have no ledger record once their grace has passed."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from lambdas.core.ledger_contract import Status
from lambdas.core.missed import (
    GRACE_MARGIN,
    LOOK_BACK_CAP,
    JobSchedule,
    WatchRecord,
    job_missed,
    look_back,
    missed_slots,
    outlives_window,
    rate_anchor,
    watch_fingerprint,
)
from lambdas.core.pause import Pause, PausePeriod
from lambdas.core.schedule import ScheduleExpressionError
from lambdas.core.times import slot_key


def utc(month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0) -> datetime:
    return datetime(2026, month, day, hour, minute, second, tzinfo=UTC)


def key(month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0) -> str:
    return slot_key(utc(month, day, hour, minute, second))


HOURLY = JobSchedule("cron(0 * * * ? *)")


def test_slots_with_a_record_are_not_missed_and_the_others_are() -> None:
    check = missed_slots(
        HOURLY,
        now=utc(11, 22, 4, 30),
        since=utc(11, 22, 0, 0),
        recorded={key(11, 22, 0), key(11, 22, 2), key(11, 22, 4)},
    )
    assert check.missed == (key(11, 22, 1), key(11, 22, 3))
    assert check.due == 5


def test_a_slot_is_missed_only_once_its_grace_has_passed() -> None:
    # Default grace: no flexible window, so GRACE_MARGIN (5 minutes).
    before = missed_slots(HOURLY, now=utc(11, 22, 4, 4, 59), since=utc(11, 22, 4), recorded=set())
    at = missed_slots(HOURLY, now=utc(11, 22, 4, 5), since=utc(11, 22, 4), recorded=set())
    assert before.missed == ()
    assert at.missed == (key(11, 22, 4),)
    assert HOURLY.grace == GRACE_MARGIN == timedelta(minutes=5)


def test_the_flexible_window_extends_the_grace() -> None:
    flexible = JobSchedule("cron(0 * * * ? *)", flexible_window=timedelta(minutes=15))
    assert flexible.grace == timedelta(minutes=20)
    during = missed_slots(flexible, now=utc(11, 22, 4, 19), since=utc(11, 22, 4), recorded=())
    after = missed_slots(flexible, now=utc(11, 22, 4, 20), since=utc(11, 22, 4), recorded=())
    assert during.missed == ()
    assert after.missed == (key(11, 22, 4),)


def test_an_explicit_grace_overrides_the_default() -> None:
    check = missed_slots(
        HOURLY, now=utc(11, 22, 4, 1), since=utc(11, 22, 4), recorded=(), grace=timedelta(0)
    )
    assert check.missed == (key(11, 22, 4),)


def test_a_record_of_any_status_counts_so_a_missed_record_is_not_reported_again() -> None:
    first = missed_slots(HOURLY, now=utc(11, 22, 2, 10), since=utc(11, 22, 1), recorded=())
    assert first.missed == (key(11, 22, 1), key(11, 22, 2))
    # The check recorded both as MISSED: the ledger now holds their keys.
    again = missed_slots(
        HOURLY, now=utc(11, 22, 3, 10), since=utc(11, 22, 1), recorded=set(first.missed)
    )
    assert again.missed == (key(11, 22, 3),)


def test_time_zone_spring_forward_skips_the_missing_wall_clock_time() -> None:
    # Europe/Berlin jumps from 02:00 to 03:00 on 2026-03-29: 02:30 does not exist that day.
    nightly = JobSchedule("cron(30 2 * * ? *)", timezone="Europe/Berlin")
    check = missed_slots(nightly, now=utc(3, 31, 12), since=utc(3, 27, 12), recorded=())
    assert check.missed == (key(3, 28, 1, 30), key(3, 30, 0, 30), key(3, 31, 0, 30))


def test_time_zone_fall_back_expects_the_repeated_time_once() -> None:
    # On 2026-10-25 Berlin's 02:30 happens twice (CEST, then CET): Scheduler fires once.
    nightly = JobSchedule("cron(30 2 * * ? *)", timezone="Europe/Berlin")
    check = missed_slots(nightly, now=utc(10, 26, 12), since=utc(10, 24, 12), recorded=())
    assert check.missed == (key(10, 25, 0, 30), key(10, 26, 1, 30))


def test_a_rate_job_counts_its_slots_from_its_latest_record() -> None:
    # Scheduler anchored this rate schedule at 10:03:17 (when it was created).
    every_hour = JobSchedule("rate(1 hour)")
    recorded = {key(11, 22, 8, 3, 17), key(11, 22, 9, 3, 17)}
    check = missed_slots(every_hour, now=utc(11, 22, 12, 30), since=utc(11, 22), recorded=recorded)
    assert check.missed == (key(11, 22, 10, 3, 17), key(11, 22, 11, 3, 17), key(11, 22, 12, 3, 17))
    assert not check.silent


def test_a_rate_job_does_not_reach_before_its_latest_record() -> None:
    # The schedule was recreated at 09:40 (a new phase): slots of the old phase before the
    # latest record are not guessed.
    every_hour = JobSchedule("rate(1 hour)")
    recorded = {key(11, 22, 6, 3, 17), key(11, 22, 9, 40)}
    check = missed_slots(every_hour, now=utc(11, 22, 10, 20), since=utc(11, 22), recorded=recorded)
    assert check.missed == ()


def test_a_rate_job_without_any_record_is_silent_once_an_interval_and_grace_passed() -> None:
    every_hour = JobSchedule("rate(1 hour)")
    since = utc(11, 22, 8)
    soon = missed_slots(every_hour, now=utc(11, 22, 9, 4), since=since, recorded=())
    late = missed_slots(every_hour, now=utc(11, 22, 9, 5), since=since, recorded=())
    assert (soon.silent, late.silent) == (False, True)
    assert late.missed == ()  # no phase: no slot to name


def test_rate_anchor_ignores_manual_slots() -> None:
    assert rate_anchor({key(11, 22, 1), "manual:run-1", key(11, 22, 3)}) == utc(11, 22, 3)
    assert rate_anchor({"manual:run-1"}) is None


def test_slots_in_a_pause_period_are_not_missed() -> None:
    pauses = [Pause(periods=(PausePeriod(utc(11, 22, 1, 30), utc(11, 22, 3, 0), "migration"),))]
    check = missed_slots(
        HOURLY, now=utc(11, 22, 4, 30), since=utc(11, 22, 0), recorded=(), pauses=pauses
    )
    # 03:00 is the first slot after the resume: due again.
    assert check.missed == (key(11, 22, 0), key(11, 22, 1), key(11, 22, 3), key(11, 22, 4))
    assert check.paused == (key(11, 22, 2),)


def test_a_job_still_paused_misses_nothing_since_its_pause() -> None:
    pauses = [Pause(paused=True, reason="incident", since=utc(11, 22, 2, 0))]
    check = missed_slots(
        HOURLY, now=utc(11, 22, 6, 30), since=utc(11, 22, 0), recorded=(), pauses=pauses
    )
    assert check.missed == (key(11, 22, 0), key(11, 22, 1))


def test_a_paused_rate_job_without_records_is_not_silent() -> None:
    check = missed_slots(
        JobSchedule("rate(1 hour)"),
        now=utc(11, 22, 12),
        since=utc(11, 22, 0),
        recorded=(),
        pauses=[Pause(paused=True, since=utc(11, 21))],
    )
    assert not check.silent


WATCHED = WatchRecord(watch_fingerprint(HOURLY, True), since=utc(11, 22, 10, 30))


def test_slots_before_the_watch_first_saw_the_schedule_are_not_missed() -> None:
    now = utc(11, 22, 12)
    missed = job_missed(
        HOURLY,
        enabled=True,
        now=now,
        since=now - look_back(timedelta(days=30)),
        watch=WATCHED,
        slots={},
    )
    assert missed.slots == missed.unrecorded == (key(11, 22, 11),)  # 12:00's grace has not passed
    assert missed.check is not None and missed.check.window_start == utc(11, 22, 10, 30)


def test_missed_records_and_due_slots_without_a_record_are_the_missed_slots() -> None:
    now = utc(11, 22, 14)
    slots = {
        key(11, 22, 9): Status.MISSED,  # recorded before the watch restarted: still missed
        key(11, 22, 11): Status.SUCCEEDED,
        key(11, 22, 12): Status.MISSED,
        key(11, 21, 3): Status.MISSED,  # before ``since``
    }
    missed = job_missed(
        HOURLY, enabled=True, now=now, since=utc(11, 22), watch=WATCHED, slots=slots
    )
    assert missed.slots == (key(11, 22, 9), key(11, 22, 12), key(11, 22, 13))
    assert missed.unrecorded == (key(11, 22, 13),)


@pytest.mark.parametrize(
    ("watch", "enabled"),
    [
        (WatchRecord(), True),  # the watch has not seen the job yet
        (WatchRecord(watch_fingerprint(JobSchedule("cron(0 3 * * ? *)"), True), utc(11, 1)), True),
        (WatchRecord(watch_fingerprint(HOURLY, False), utc(11, 1)), False),
    ],
    ids=["new", "rescheduled", "disabled"],
)
def test_a_schedule_the_watch_does_not_count_has_only_its_missed_records(
    watch: WatchRecord, enabled: bool
) -> None:
    slots = {key(11, 22, 9): Status.MISSED, key(11, 22, 11): Status.SUCCEEDED}
    missed = job_missed(
        HOURLY, enabled=enabled, now=utc(11, 22, 14), since=utc(11, 22), watch=watch, slots=slots
    )
    assert (missed.slots, missed.unrecorded, missed.check) == ((key(11, 22, 9),), (), None)


def test_the_look_back_is_the_retention_capped_at_seven_days() -> None:
    assert look_back(timedelta(days=3)) == timedelta(days=3)
    assert look_back(timedelta(days=90)) == LOOK_BACK_CAP == timedelta(days=7)


def test_the_schedule_start_and_end_bound_the_slots() -> None:
    bounded = JobSchedule("cron(0 * * * ? *)", start=utc(11, 22, 2), end=utc(11, 22, 4))
    check = missed_slots(bounded, now=utc(11, 22, 8), since=utc(11, 22, 0), recorded=())
    assert check.missed == (key(11, 22, 2), key(11, 22, 3), key(11, 22, 4))


def test_a_long_outage_is_reported_in_bounded_steps() -> None:
    every_minute = JobSchedule("cron(* * * * ? *)")
    check = missed_slots(
        every_minute, now=utc(11, 22, 12), since=utc(11, 22, 0), recorded=(), limit=100
    )
    assert len(check.missed) == 100 and check.truncated
    assert check.missed[0] == key(11, 22, 0) and check.missed[-1] == key(11, 22, 1, 39)
    rest = missed_slots(
        every_minute,
        now=utc(11, 22, 12),
        since=utc(11, 22, 0),
        recorded=set(check.missed),
        limit=1000,
    )
    assert rest.missed[0] == key(11, 22, 1, 40) and not rest.truncated
    assert len(rest.missed) == 12 * 60 - 5 + 1 - 100  # up to 11:55, the last slot past grace


def test_bad_input_names_what_is_wrong() -> None:
    with pytest.raises(ScheduleExpressionError, match="cron\\(0 \\* \\* \\*\\)"):
        JobSchedule("cron(0 * * *)")
    with pytest.raises(ValueError, match="unknown time zone 'Mars/Olympus'"):
        JobSchedule("rate(1 hour)", timezone="Mars/Olympus")
    with pytest.raises(ValueError, match="now must be a timezone-aware datetime"):
        missed_slots(HOURLY, now=datetime(2026, 11, 22), since=utc(11, 22), recorded=())


def test_the_fingerprint_changes_with_what_moves_slots_only() -> None:
    base = JobSchedule("cron(0 3 * * ? *)", timezone="Europe/London")
    assert (
        base.fingerprint
        == JobSchedule(
            "cron(0 3 * * ? *)", timezone="Europe/London", flexible_window=timedelta(minutes=9)
        ).fingerprint
    )
    assert (
        base.fingerprint != JobSchedule("cron(0 4 * * ? *)", timezone="Europe/London").fingerprint
    )
    assert base.fingerprint != JobSchedule("cron(0 3 * * ? *)", timezone="UTC").fingerprint


@pytest.mark.parametrize("retention_days", [1, 3, 7, 30])
@pytest.mark.parametrize(
    "expression",
    [
        "rate(1 day)",
        "rate(2 days)",
        "rate(6 days)",
        "rate(7 days)",
        "rate(8 days)",
        "rate(10079 minutes)",
        "rate(167 hours)",
        "rate(168 hours)",
    ],
)
def test_config_refuses_exactly_the_rates_whose_silence_the_watch_could_never_see(
    expression: str, retention_days: int
) -> None:
    """``outlives_window`` (what validate refuses) is true exactly when a job with no record
    in a whole look-back window is not reported silent by the check itself."""
    schedule = JobSchedule(expression)
    retention = timedelta(days=retention_days)
    now = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)
    check = missed_slots(schedule, now=now, since=now - look_back(retention), recorded=[])
    assert outlives_window(schedule, retention) is not check.silent
