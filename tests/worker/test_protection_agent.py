"""protect() against each answer the ECS agent can give, over real HTTP."""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
import math
import re
import threading
from collections.abc import Callable
from typing import Any

import pytest
from cronguard_worker import (
    ProtectionAccessDenied,
    ProtectionError,
    ProtectionUnavailable,
    TaskProtection,
)
from cronguard_worker._agent import AgentClient

from tests.worker.clock import ManualClock
from tests.worker.ecs_agent_fake import (
    METHOD_NOT_ALLOWED,
    PAGE_NOT_FOUND,
    Delivery,
    FakeEcsAgent,
    Request,
    Response,
    agent_error,
    decode_failed,
    ecs_call_timed_out,
    ecs_error,
    ecs_failure,
    missing_protection_enabled,
    no_task_role,
    non_aws_error,
    protection,
    rate_limited,
    task_lookup_failed,
    task_metadata_fetch_failed,
    task_not_valid,
    unexpected_ecs_answer,
)

DENIED = (
    "User: arn:aws:sts::111122223333:assumed-role/worker/8f03e412 is not authorized to perform: "
    "ecs:UpdateTaskProtection on resource: arn:aws:ecs:eu-west-1:111122223333:task/batch/8f03e412"
)

MakeProtection = Callable[..., TaskProtection]

# Time below is the test's virtual time (the `clock` fixture, shared by the client and the
# agent): it starts at 0 and moves only when a test advances it, to the moment the renewal
# thread waits for. ECS's minutes are real minutes: ExpiresInMinutes=1 lasts 60 s, and
# protection renews every two thirds of that.
EXPIRY = 60.0
RENEWAL = 40.0
BACKOFF_MAX = 0.05
"""backoff_max_seconds: a background retry comes at most this long after the failure."""


def step(clock: ManualClock) -> float:
    """Advance to the moment the renewal thread waits for, and return it once the thread
    has done what fell due then (a renewal, a retry) and waits again."""
    moment = clock.next_wakeup()
    assert moment < math.inf, "the renewal thread waits for nothing"
    clock.advance_to(moment)
    clock.next_wakeup()
    return moment


def puts(requests: list[Request]) -> list[Request]:
    return [r for r in requests if r.method == "PUT"]


def timeline(agent: FakeEcsAgent) -> list[tuple[float, bool, int]]:
    """Each PUT: when (virtual time), whether it enables, and the agent's status."""
    return [(put.at, put.enables, put.status) for put in agent.puts()]


def records(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == "cronguard_worker"]


def test_work_runs_protected_and_protection_ends_with_it(
    agent: FakeEcsAgent, make_protection: MakeProtection
) -> None:
    protection = make_protection(agent.uri, expires_in_minutes=30)

    with protection.protect("resize"):
        assert agent.protection_enabled
        state = protection.state()
        assert state is not None
        assert state["ProtectionEnabled"] is True

    assert not agent.protection_enabled
    assert [put.body for put in agent.puts()] == [
        {"ProtectionEnabled": True, "ExpiresInMinutes": 30},
        {"ProtectionEnabled": False},
    ]


def test_an_exception_inside_the_work_still_releases_protection(
    agent: FakeEcsAgent, make_protection: MakeProtection
) -> None:
    protection = make_protection(agent.uri)

    with pytest.raises(ZeroDivisionError), protection.protect("divide"):
        _ = 1 / 0

    assert protection.active_count == 0
    assert not agent.protection_enabled


def test_long_work_is_renewed_before_protection_expires(
    agent: FakeEcsAgent, clock: ManualClock, make_protection: MakeProtection
) -> None:
    protection = make_protection(agent.uri, expires_in_minutes=1)

    with protection.protect("transcode"):
        for renewal in range(1, 6):
            assert step(clock) == renewal * RENEWAL  # due two thirds of the expiry after the last
        assert clock.next_wakeup() == 6 * RENEWAL
        assert agent.protection_enabled

    assert timeline(agent) == [
        *[(n * RENEWAL, True, 200) for n in range(6)],  # the enable, then five renewals
        (5 * RENEWAL, False, 200),
    ]
    assert agent.expirations == 0  # protection never lapsed while work was inside


def test_work_in_a_later_busy_period_is_renewed_too(
    agent: FakeEcsAgent, clock: ManualClock, make_protection: MakeProtection
) -> None:
    protection = make_protection(agent.uri, expires_in_minutes=1)
    with protection.protect("first"):
        pass
    assert clock.next_wakeup() == math.inf  # idle: the renewal thread waits for nothing
    clock.advance(10)

    with protection.protect("second"):
        # Not step(): next_wakeup() would wake the thread itself; the entry has to.
        clock.advance(RENEWAL)
        agent.wait_for(lambda requests: len(puts(requests)) == 4)  # a hang guard

    assert timeline(agent) == [
        (0, True, 200),
        (0, False, 200),
        (10, True, 200),
        (10 + RENEWAL, True, 200),
        (10 + RENEWAL, False, 200),
    ]
    assert agent.expirations == 0


def test_protection_lapses_if_renewal_is_refused_past_the_expiry(
    agent: FakeEcsAgent,
    clock: ManualClock,
    make_protection: MakeProtection,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The check above can fail: renewals refused until the expiry let protection lapse."""
    protection = make_protection(agent.uri, expires_in_minutes=1)

    with (
        caplog.at_level(logging.WARNING, logger="cronguard_worker"),
        protection.protect("transcode"),
    ):
        agent.respond_next("PUT", ecs_error("ServerException", "internal", 500), times=2)
        assert step(clock) == RENEWAL  # refused
        clock.advance_to(EXPIRY)  # its retry, at the expiry: refused again
        clock.next_wakeup()
        assert not agent.protection_enabled
        assert agent.expirations == 1

    assert timeline(agent) == [
        (0, True, 200),
        (RENEWAL, True, 500),
        (EXPIRY, True, 500),
        (EXPIRY, False, 200),
    ]
    failed = [r.getMessage() for r in records(caplog) if "renewal failed" in r.getMessage()]
    assert len(failed) == 2
    assert "current protection ends in 20 s" in failed[0]
    assert "current protection ends in 0 s" in failed[1]


def test_renewal_failures_are_retried_without_losing_protection(
    agent: FakeEcsAgent,
    clock: ManualClock,
    make_protection: MakeProtection,
    caplog: pytest.LogCaptureFixture,
) -> None:
    protection = make_protection(agent.uri, expires_in_minutes=1, backoff_max_seconds=BACKOFF_MAX)

    with caplog.at_level(logging.WARNING, logger="cronguard_worker"):
        with protection.protect("transcode"):
            agent.respond_next("PUT", ecs_error("ServerException", "internal", 500), times=2)
            assert step(clock) == RENEWAL  # refused
            first_retry = step(clock)  # refused again
            second_retry = step(clock)  # renewed
            assert clock.next_wakeup() == second_retry + RENEWAL  # the schedule goes on from it
            assert agent.protection_enabled
        assert agent.expirations == 0

    assert RENEWAL < first_retry <= RENEWAL + BACKOFF_MAX
    assert first_retry < second_retry <= first_retry + BACKOFF_MAX
    assert timeline(agent) == [
        (0, True, 200),
        (RENEWAL, True, 500),
        (first_retry, True, 500),
        (second_retry, True, 200),
        (second_retry, False, 200),
    ]
    failed = [r.getMessage() for r in records(caplog) if "renewal failed" in r.getMessage()]
    assert len(failed) == 2
    assert "current protection ends in 20 s" in failed[0]


def test_no_agent_uri_is_a_noop_that_says_so_once(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.delenv("ECS_AGENT_URI", raising=False)
    protection = TaskProtection()

    @protection.protect("decorated")
    def work() -> str:
        return "done"

    async def async_work() -> None:
        async with protection.protect("async"):
            assert protection.active_count == 1

    with caplog.at_level(logging.DEBUG, logger="cronguard_worker"):
        with protection.protect("first"), protection.protect("nested"):
            assert protection.active_count == 2
        assert work() == "done"
        asyncio.run(async_work())
        assert protection.state() is None

    logged = records(caplog)
    assert len(logged) == 1
    assert "ECS_AGENT_URI is not set" in logged[0].getMessage()
    assert protection.active_count == 0
    assert protection.wait_idle(timeout=0)


def test_agent_uri_is_read_from_the_environment_on_first_use(
    agent: FakeEcsAgent, monkeypatch: pytest.MonkeyPatch, make_protection: MakeProtection
) -> None:
    protection = make_protection(None)
    monkeypatch.setenv("ECS_AGENT_URI", agent.uri)

    with protection.protect("job"):
        assert agent.protection_enabled


def test_standalone_task_warns_once_then_works_unprotected(
    agent: FakeEcsAgent, make_protection: MakeProtection, caplog: pytest.LogCaptureFixture
) -> None:
    agent.respond_next("PUT", task_not_valid())
    protection = make_protection(agent.uri)
    ran = 0

    with caplog.at_level(logging.DEBUG, logger="cronguard_worker"):
        for _ in range(3):
            with protection.protect("nightly-report"):
                ran += 1
        assert protection.state() is None

    assert ran == 3
    assert len(agent.protection_requests()) == 1
    warnings = [r for r in records(caplog) if r.levelno >= logging.WARNING]
    assert len(warnings) == 1
    assert "TASK_NOT_VALID" in warnings[0].getMessage()


def test_access_denied_fails_loudly_before_the_work_starts(
    agent: FakeEcsAgent, make_protection: MakeProtection
) -> None:
    agent.respond_next("PUT", ecs_error("AccessDeniedException", DENIED), times=2)
    protection = make_protection(agent.uri)
    started = False

    for _ in range(2):  # every attempt to start work says so, not only the first
        with (
            pytest.raises(ProtectionAccessDenied, match=r"ecs:UpdateTaskProtection"),
            protection.protect("job"),
        ):
            started = True

    assert not started
    assert len(agent.puts()) == 2  # never retried
    assert protection.active_count == 0
    with protection.protect("job"):  # once the role is fixed, work proceeds
        assert agent.protection_enabled


def test_access_denied_names_the_read_permission_for_state(
    agent: FakeEcsAgent, make_protection: MakeProtection
) -> None:
    agent.respond_next("GET", ecs_error("AccessDeniedException", DENIED))
    protection = make_protection(agent.uri)

    with pytest.raises(ProtectionAccessDenied, match=r"ecs:GetTaskProtection"):
        protection.state()


def test_throttling_is_retried_until_the_agent_accepts(
    agent: FakeEcsAgent, make_protection: MakeProtection
) -> None:
    agent.respond_next("PUT", ecs_error("ThrottlingException", "Rate exceeded"), times=3)
    protection = make_protection(agent.uri, max_attempts=5)

    with protection.protect("job"):
        assert agent.protection_enabled

    statuses = [put.status for put in agent.puts()]
    assert statuses == [400, 400, 400, 200, 200]


def test_persistent_throttling_gives_up_with_the_last_reason(
    agent: FakeEcsAgent, make_protection: MakeProtection
) -> None:
    agent.respond_next("PUT", ecs_error("ThrottlingException", "Rate exceeded"), times=9)
    protection = make_protection(agent.uri, max_attempts=4)

    with pytest.raises(ProtectionUnavailable) as raised, protection.protect("job"):
        pytest.fail("work must not start unprotected")

    assert raised.value.attempts == 4
    assert "ThrottlingException" in raised.value.reason
    assert "Rate exceeded" in raised.value.reason
    assert len(agent.puts()) == 4
    assert protection.active_count == 0


@pytest.mark.parametrize(
    ("failure", "reason"),
    [
        (ecs_error("ServerException", "internal", 500), "ServerException (HTTP 500)"),
        (Response(502, b"<html>Bad Gateway</html>"), "HTTP 502 with body '<html>Bad Gateway"),
        (ecs_call_timed_out(), "RequestCanceled (HTTP 504)"),
    ],
)
def test_server_errors_are_retried_then_reported(
    agent: FakeEcsAgent, make_protection: MakeProtection, failure: Response, reason: str
) -> None:
    agent.respond_next("PUT", failure, times=3)
    protection = make_protection(agent.uri, max_attempts=3)

    with (
        pytest.raises(ProtectionUnavailable, match=re.escape(reason)) as raised,
        protection.protect("job"),
    ):
        pytest.fail("work must not start unprotected")

    assert raised.value.attempts == 3
    assert len(agent.puts()) == 3


@pytest.mark.parametrize(
    ("answer", "named"),
    [
        (Response(200, b"this is not json"), "'this is not json'"),
        (Response.json(200, {"unexpected": True}), "unexpected"),
        (Response.json(200, {"protection": "yes"}), "'protection':'yes'"),
        (Response.json(200, {"failure": {"Reason": "MISSING"}}), "MISSING"),
    ],
)
def test_unusable_answers_are_reported_with_what_was_received(
    agent: FakeEcsAgent, make_protection: MakeProtection, answer: Response, named: str
) -> None:
    agent.respond_next("PUT", answer)
    protection = make_protection(agent.uri)

    with pytest.raises(ProtectionUnavailable) as raised, protection.protect("job"):
        pytest.fail("work must not start unprotected")

    assert named in str(raised.value).replace('"', "'")
    assert len(agent.puts()) == 1  # retrying cannot fix an answer we do not understand


def test_unreachable_agent_is_retried_then_reported(
    closed_port_uri: str, make_protection: MakeProtection
) -> None:
    protection = make_protection(closed_port_uri, max_attempts=3)

    with (
        pytest.raises(ProtectionUnavailable, match="cannot reach the ECS agent") as raised,
        protection.protect("job"),
    ):
        pytest.fail("work must not start unprotected")

    assert raised.value.attempts == 3
    assert isinstance(raised.value, ProtectionError)
    assert protection.active_count == 0


def test_a_failed_disable_does_not_fail_the_work_and_is_retried_in_the_background(
    agent: FakeEcsAgent,
    clock: ManualClock,
    make_protection: MakeProtection,
    caplog: pytest.LogCaptureFixture,
) -> None:
    protection = make_protection(agent.uri, max_attempts=2, backoff_max_seconds=BACKOFF_MAX)

    with caplog.at_level(logging.WARNING, logger="cronguard_worker"):
        with protection.protect("job"):
            agent.respond_next("PUT", ecs_error("ServerException", "internal", 500), times=4)
        assert protection.active_count == 0
        retries = [step(clock) for _ in range(3)]  # in the background, one attempt at a time
        assert clock.next_wakeup() == math.inf  # the last one got through: nothing is due
        assert not agent.protection_enabled

    statuses = [put.status for put in agent.puts()]
    assert statuses == [200, 500, 500, 500, 500, 200]
    assert [put.at for put in agent.puts()] == [0, 0, 0, *retries]
    assert all(0 < b - a <= BACKOFF_MAX for a, b in itertools.pairwise([0.0, *retries]))
    assert any("disable failed" in r.getMessage() for r in records(caplog))


async def entry_in_flight(
    protection: TaskProtection, arrived: threading.Event, entered: list[str]
) -> asyncio.Task[None]:
    """Start ``async with protection.protect("job")`` in a task; return the task once its agent
    call has reached the agent (``arrived``, from ``agent.held()``), with nothing entered.
    The loop runs on to here only if that call is off the loop: made on the loop, it would
    block the loop until the client gave up."""

    async def job() -> None:
        async with protection.protect("job"):
            entered.append("job")

    task = asyncio.create_task(job())
    assert await asyncio.to_thread(arrived.wait, 60)  # a hang guard
    assert entered == []
    return task


def test_async_entry_does_not_block_the_event_loop(
    agent: FakeEcsAgent, make_protection: MakeProtection
) -> None:
    protection = make_protection(agent.uri)
    entered: list[str] = []

    async def main() -> None:
        with agent.held() as arrived:
            task = await entry_in_flight(protection, arrived, entered)
        await asyncio.wait_for(task, 60)

    asyncio.run(main())

    assert entered == ["job"]
    assert [put.enables for put in agent.puts()] == [True, False]


def test_cancelling_a_task_while_it_waits_for_protection_leaks_nothing(
    agent: FakeEcsAgent, make_protection: MakeProtection
) -> None:
    protection = make_protection(agent.uri)
    entered: list[str] = []

    async def main() -> None:
        with agent.held() as arrived:
            task = await entry_in_flight(protection, arrived, entered)
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task

    asyncio.run(main())

    assert entered == []
    agent.wait_for(lambda requests: len(puts(requests)) == 2)  # the undo runs in a thread
    assert protection.active_count == 0
    assert [put.enables for put in agent.puts()] == [True, False]
    assert not agent.protection_enabled


@pytest.mark.parametrize(
    "options",
    [
        {"expires_in_minutes": 0},
        {"expires_in_minutes": 2881},
        {"expires_in_minutes": 1, "renew_interval_seconds": 60},
        {"max_attempts": 0},
    ],
)
def test_impossible_settings_are_refused(options: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match="must be"):
        TaskProtection("http://127.0.0.1:1", **options)


def test_generators_cannot_be_decorated(make_protection: MakeProtection) -> None:
    protection = make_protection(None)

    with pytest.raises(TypeError, match="generator"):

        @protection.protect("stream")
        def stream() -> object:
            yield 1


# Every answer the agent gives (tests/worker/ecs_agent_fake.py says where each comes from).

ANSWERS = {
    "protected": protection(True),
    "TASK_NOT_VALID": task_not_valid(),
    "ECS AccessDenied": ecs_error("AccessDeniedException", DENIED),
    "no task role": no_task_role(),
    "ECS throttling": ecs_error("ThrottlingException", "Rate exceeded"),
    "ECS ServerException": ecs_error("ServerException", "internal", 500),
    "ECS call timed out": ecs_call_timed_out(),
    "SDK error without AWS": non_aws_error("dial tcp: lookup ecs.eu-west-1.amazonaws.com"),
    "ECS answered two tasks": unexpected_ecs_answer(),
    "task metadata fetch failed": task_metadata_fetch_failed(),
    "agent rate limit": rate_limited(),
    "ECS InvalidParameter": ecs_error("InvalidParameterException", "Task is not valid"),
    "ECS ClientException": ecs_error("ClientException", "Cluster is inactive"),
    "AWS error without a response": agent_error("InvalidParameterException", "ecs error", 500),
    "request not decoded": decode_failed(),
    "ProtectionEnabled missing": missing_protection_enabled(),
    "task lookup failed": task_lookup_failed(),
    "another ECS failure": ecs_failure("MISSING"),
    "path not served": PAGE_NOT_FOUND,
    "method not allowed": METHOD_NOT_ALLOWED,
}
OUTCOMES = {
    "protected": "runs protected",
    "TASK_NOT_VALID": "runs unprotected",
    "ECS AccessDenied": "denied",
    "no task role": "denied",
    "ECS throttling": "retried",
    "ECS ServerException": "retried",
    "ECS call timed out": "retried",
    "SDK error without AWS": "retried",
    "ECS answered two tasks": "retried",
    "task metadata fetch failed": "retried",
    "agent rate limit": "retried",
    "ECS InvalidParameter": "refused at once",
    "ECS ClientException": "refused at once",
    "AWS error without a response": "refused at once",
    "request not decoded": "refused at once",
    "ProtectionEnabled missing": "refused at once",
    "task lookup failed": "refused at once",
    "another ECS failure": "refused at once",
    "path not served": "refused at once",
    "method not allowed": "refused at once",
}


@pytest.mark.parametrize("shape", list(ANSWERS))
def test_every_answer_the_agent_gives_has_one_outcome(
    agent: FakeEcsAgent, make_protection: MakeProtection, shape: str
) -> None:
    answer = ANSWERS[shape]
    agent.respond_next("PUT", answer, times=3)
    protection = make_protection(agent.uri, max_attempts=3)
    ran = False

    def work() -> None:
        nonlocal ran
        with protection.protect("job"):
            ran = True

    outcome = OUTCOMES[shape]
    if outcome in ("runs protected", "runs unprotected"):
        work()
        assert ran
        assert len(agent.puts()) == (2 if outcome == "runs protected" else 1)
        return
    expected = {"denied": ProtectionAccessDenied, "retried": ProtectionUnavailable}
    with pytest.raises(expected.get(outcome, ProtectionUnavailable)) as raised:
        work()
    assert not ran
    assert len(agent.puts()) == (3 if outcome == "retried" else 1)
    if isinstance(raised.value, ProtectionUnavailable):
        assert raised.value.attempts == len(agent.puts())
    message = json.loads(answer.body)["error"]["Message"] if b'"error"' in answer.body else ""
    assert message in str(raised.value)  # the agent's own words reach the operator


# 1. A body that stalls, arrives truncated or is reset is a transient failure. A stalled body
# ends when the client's socket times out: the fixture's 2 s, which every healthy answer also
# has to beat (a shorter one would fail a healthy answer on a loaded machine).

BROKEN = [Delivery.STALL, Delivery.TRUNCATE, Delivery.RESET]


@pytest.mark.parametrize("delivery", BROKEN, ids=lambda d: d.value)
def test_a_broken_error_body_on_entry_is_retried(
    agent: FakeEcsAgent, make_protection: MakeProtection, delivery: Delivery
) -> None:
    agent.respond_next("PUT", non_aws_error("boom").delivered(delivery))
    protection = make_protection(agent.uri)

    with protection.protect("job"):
        assert agent.protection_enabled

    assert [put.status for put in agent.puts()] == [500, 200, 200]


@pytest.mark.parametrize("delivery", BROKEN, ids=lambda d: d.value)
def test_a_broken_error_body_on_every_attempt_is_a_protection_error(
    agent: FakeEcsAgent, make_protection: MakeProtection, delivery: Delivery
) -> None:
    agent.respond_next("PUT", non_aws_error("boom").delivered(delivery), times=2)
    protection = make_protection(agent.uri, max_attempts=2)

    with pytest.raises(ProtectionUnavailable) as raised, protection.protect("job"):
        pytest.fail("work must not start unprotected")

    assert raised.value.attempts == 2
    assert "HTTP 500" in raised.value.reason
    assert protection.active_count == 0


@pytest.mark.parametrize("delivery", BROKEN, ids=lambda d: d.value)
def test_a_broken_error_body_on_the_last_exit_only_warns(
    agent: FakeEcsAgent,
    clock: ManualClock,
    make_protection: MakeProtection,
    caplog: pytest.LogCaptureFixture,
    delivery: Delivery,
) -> None:
    protection = make_protection(agent.uri, max_attempts=2)

    with caplog.at_level(logging.WARNING, logger="cronguard_worker"):
        with protection.protect("job"):  # finished work does not become a failure
            agent.respond_next("PUT", non_aws_error("boom").delivered(delivery), times=2)
        retry = step(clock)  # in the background
        assert clock.next_wakeup() == math.inf  # it got through: nothing is due
        assert not agent.protection_enabled

    assert [put.status for put in agent.puts()] == [200, 500, 500, 200]
    assert [put.at for put in agent.puts()] == [0, 0, 0, retry]
    assert 0 < retry <= BACKOFF_MAX  # the fixture's backoff_max_seconds
    assert any("disable failed" in r.getMessage() for r in records(caplog))


RENEWAL_FAULTS = {
    "stalled body": non_aws_error("boom").delivered(Delivery.STALL),
    "no answer": protection(True).delivered(Delivery.SILENCE),
    "truncated body": non_aws_error("boom").delivered(Delivery.TRUNCATE),
    "connection reset": non_aws_error("boom").delivered(Delivery.RESET),
    "agent rate limit": rate_limited(),
    "5xx": ecs_error("ServerException", "internal", 500),
}


@pytest.mark.parametrize("kind", list(RENEWAL_FAULTS))
def test_renewal_survives_each_failure_kind_and_protection_is_renewed_afterwards(
    agent: FakeEcsAgent,
    clock: ManualClock,
    make_protection: MakeProtection,
    caplog: pytest.LogCaptureFixture,
    kind: str,
) -> None:
    agent.write_timeout_seconds = 0.1  # "no answer": the agent closes before the client gives up
    # A stalled body: the client gives up after the fixture's timeout_seconds (wall time).
    protection = make_protection(agent.uri, expires_in_minutes=1, backoff_max_seconds=BACKOFF_MAX)
    fault = RENEWAL_FAULTS[kind]

    with caplog.at_level(logging.WARNING, logger="cronguard_worker"):
        with protection.protect("transcode"):
            assert step(clock) == RENEWAL
            agent.respond_next("PUT", fault)  # mid-unit, between two renewals
            assert step(clock) == 2 * RENEWAL  # meets the fault
            retry = step(clock)
            assert step(clock) == retry + RENEWAL  # and renewal goes on from the retry
            assert agent.protection_enabled
        assert agent.expirations == 0

    assert 2 * RENEWAL < retry <= 2 * RENEWAL + BACKOFF_MAX
    assert timeline(agent) == [
        (0, True, 200),
        (RENEWAL, True, 200),
        (2 * RENEWAL, True, fault.status),  # as the agent recorded it, whatever arrived
        (retry, True, 200),
        (retry + RENEWAL, True, 200),
        (retry + RENEWAL, False, 200),
    ]
    assert sum("renewal failed" in r.getMessage() for r in records(caplog)) == 1


def test_an_unexpected_error_in_renewal_is_logged_and_renewal_goes_on(
    agent: FakeEcsAgent,
    clock: ManualClock,
    make_protection: MakeProtection,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    protection = make_protection(agent.uri, expires_in_minutes=1, backoff_max_seconds=BACKOFF_MAX)
    calls = itertools.count()
    real_put = AgentClient.put

    def first_renewal_hits_a_bug(self: AgentClient, *args: Any, **kwargs: Any) -> Any:
        if next(calls) == 1:
            raise RuntimeError("a bug in the client")
        return real_put(self, *args, **kwargs)

    monkeypatch.setattr(AgentClient, "put", first_renewal_hits_a_bug)

    with (
        caplog.at_level(logging.WARNING, logger="cronguard_worker"),
        protection.protect("transcode"),
    ):
        assert step(clock) == RENEWAL  # the bug: nothing reaches the agent
        retry = step(clock)
        assert step(clock) == retry + RENEWAL
        assert agent.protection_enabled

    assert RENEWAL < retry <= RENEWAL + BACKOFF_MAX
    assert [put.at for put in agent.puts() if put.enables] == [0, retry, retry + RENEWAL]
    assert agent.expirations == 0
    logged = [r for r in records(caplog) if "a bug in the client" in r.getMessage()]
    assert len(logged) == 1
    assert logged[0].levelno == logging.ERROR
    assert logged[0].exc_info is not None


def test_a_renewal_thread_that_died_is_restarted_by_the_next_entry(
    agent: FakeEcsAgent,
    clock: ManualClock,
    make_protection: MakeProtection,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    protection = make_protection(agent.uri, expires_in_minutes=1)
    calls = itertools.count()
    real_put = AgentClient.put

    def first_renewal_ends_the_thread(self: AgentClient, *args: Any, **kwargs: Any) -> Any:
        if next(calls) == 1:
            raise SystemExit  # not an Exception: the renewal loop lets it end the thread
        return real_put(self, *args, **kwargs)

    monkeypatch.setattr(AgentClient, "put", first_renewal_ends_the_thread)
    deaths: list[threading.ExceptHookArgs] = []
    died = threading.Event()

    def record_death(death: threading.ExceptHookArgs) -> None:
        deaths.append(death)
        died.set()

    monkeypatch.setattr(threading, "excepthook", record_death)

    with caplog.at_level(logging.WARNING, logger="cronguard_worker"):
        with protection.protect("first"):
            assert clock.next_wakeup() == RENEWAL
            clock.advance(RENEWAL)  # the renewal ends the thread: nothing waits again
            assert died.wait(60)  # a hang guard
            dead = deaths[0].thread
            assert dead is not None
            dead.join(60)
            assert not dead.is_alive()
        with protection.protect("second"):
            assert step(clock) == 2 * RENEWAL  # the new thread renews on schedule

    assert timeline(agent) == [
        (0, True, 200),
        (RENEWAL, False, 200),
        (RENEWAL, True, 200),  # the second entry
        (2 * RENEWAL, True, 200),
        (2 * RENEWAL, False, 200),
    ]
    assert [death.exc_type for death in deaths] == [SystemExit]
    assert any("restarting" in r.getMessage() for r in records(caplog))


# 2. The agent's own rate limit (and 408) is retried whatever the body says.


@pytest.mark.parametrize(
    "answer",
    [
        rate_limited(),
        Response(408, b"request timed out", content_type="text/plain"),
        Response.json(429, {"error": {"Code": "InvalidParameterException", "Message": "?"}}),
    ],
    ids=["agent rate limit", "408", "429 with any body"],
)
def test_too_many_requests_and_request_timeout_are_retried(
    agent: FakeEcsAgent, make_protection: MakeProtection, answer: Response
) -> None:
    agent.respond_next("PUT", answer, times=2)
    protection = make_protection(agent.uri, max_attempts=3)

    with protection.protect("job"):
        assert agent.protection_enabled

    assert [put.status for put in agent.puts()] == [answer.status] * 2 + [200, 200]


def test_the_agents_real_rate_limiter_is_ridden_out() -> None:
    agent = FakeEcsAgent(steady_rate=10.0, burst=1).start()  # one token every 0.1 s
    protection = TaskProtection(
        agent.uri, max_attempts=8, backoff_base_seconds=0.05, backoff_max_seconds=0.2
    )
    try:
        with protection.protect("job"):
            state = protection.state()  # right after the enabling PUT took the only token
    finally:
        protection.close()
        agent.stop()

    assert state is not None
    assert state["ProtectionEnabled"] is True
    assert 429 in [request.status for request in agent.protection_requests()]
    assert not agent.protection_enabled


# 3. Errors that cannot change fail at once, with the agent's message.


def test_a_wrong_endpoint_container_fails_at_once_with_the_agents_message(
    agent: FakeEcsAgent, make_protection: MakeProtection
) -> None:
    protection = make_protection(f"{agent.base}/api/someone-else", max_attempts=3)

    with pytest.raises(ProtectionUnavailable) as raised, protection.protect("job"):
        pytest.fail("work must not start unprotected")

    assert raised.value.attempts == 1
    assert "ResourceNotFoundException" in raised.value.reason
    assert "Failed to find a task for the request" in raised.value.reason
    assert len(agent.protection_requests()) == 1


def test_an_agent_uri_the_agent_does_not_serve_fails_at_once_naming_it(
    agent: FakeEcsAgent, make_protection: MakeProtection
) -> None:
    protection = make_protection(f"{agent.base}/v4/{'x'}", max_attempts=3)

    with pytest.raises(ProtectionUnavailable) as raised, protection.protect("job"):
        pytest.fail("work must not start unprotected")

    assert raised.value.attempts == 1
    assert "404 page not found" in raised.value.reason
    assert "ECS_AGENT_URI" in raised.value.reason


# 4. No task role: the fix is in the task definition.


def test_a_task_without_a_task_role_is_told_to_set_one(
    agent: FakeEcsAgent, make_protection: MakeProtection
) -> None:
    agent.task_role = False
    protection = make_protection(agent.uri)

    with pytest.raises(ProtectionAccessDenied) as raised, protection.protect("job"):
        pytest.fail("work must not start unprotected")

    message = str(raised.value)
    assert "no task role" in message
    assert "taskRoleArn" in message
    assert "no task IAM role credentials available" in message  # the agent's words
    assert "Grant" not in message  # permissions are not the problem
    assert len(agent.puts()) == 1
