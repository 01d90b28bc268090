"""protect() against each answer the ECS agent can give, over real HTTP."""

from __future__ import annotations

import asyncio
import itertools
import logging
import re
import time
from collections.abc import Callable

import pytest
from cronguard_worker import (
    ProtectionAccessDenied,
    ProtectionError,
    ProtectionUnavailable,
    TaskProtection,
)

from tests.worker.ecs_agent_fake import (
    FakeEcsAgent,
    Response,
    ecs_call_timed_out,
    ecs_error,
    task_not_valid,
)

DENIED = (
    "User: arn:aws:sts::111122223333:assumed-role/worker/8f03e412 is not authorized to perform: "
    "ecs:UpdateTaskProtection on resource: arn:aws:ecs:eu-west-1:111122223333:task/batch/8f03e412"
)

MakeProtection = Callable[..., TaskProtection]


def wait_until(condition: Callable[[], bool], timeout: float = 3.0) -> bool:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


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
    agent: FakeEcsAgent, make_protection: MakeProtection
) -> None:
    agent.minute_seconds = 1.0  # ExpiresInMinutes=1 lasts one second here
    protection = make_protection(agent.uri, expires_in_minutes=1, renew_interval_seconds=0.3)

    with protection.protect("transcode"):
        time.sleep(1.6)
        assert agent.protection_enabled

    puts = agent.puts()
    enables = [put for put in puts if put.enables]
    assert len(enables) >= 5  # the first enable, then one renewal every 0.3 s
    assert all(b.at - a.at < 0.6 for a, b in itertools.pairwise(enables))
    assert not puts[-1].enables
    assert agent.expirations == 0  # protection never lapsed while work was inside


def test_renewal_failures_are_retried_without_losing_protection(
    agent: FakeEcsAgent, make_protection: MakeProtection, caplog: pytest.LogCaptureFixture
) -> None:
    agent.minute_seconds = 1.0
    protection = make_protection(agent.uri, expires_in_minutes=1, renew_interval_seconds=0.3)

    with caplog.at_level(logging.WARNING, logger="cronguard_worker"):
        with protection.protect("transcode"):
            agent.respond_next("PUT", ecs_error("ServerException", "internal", 500), times=2)
            time.sleep(1.2)
        assert agent.expirations == 0
    assert sum("renewal failed" in r.getMessage() for r in records(caplog)) == 2


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
    agent: FakeEcsAgent, make_protection: MakeProtection, caplog: pytest.LogCaptureFixture
) -> None:
    protection = make_protection(agent.uri, max_attempts=2)

    with caplog.at_level(logging.WARNING, logger="cronguard_worker"):
        with protection.protect("job"):
            agent.respond_next("PUT", ecs_error("ServerException", "internal", 500), times=4)
        assert protection.active_count == 0
        assert wait_until(lambda: not agent.protection_enabled)

    statuses = [put.status for put in agent.puts()]
    assert statuses == [200, 500, 500, 500, 500, 200]
    assert any("disable failed" in r.getMessage() for r in records(caplog))


def test_async_entry_does_not_block_the_event_loop(
    agent: FakeEcsAgent, make_protection: MakeProtection
) -> None:
    agent.latency_seconds = 0.3
    protection = make_protection(agent.uri)
    gaps: list[float] = []

    async def ticker(stop: asyncio.Event) -> None:
        last = time.monotonic()
        while not stop.is_set():
            await asyncio.sleep(0.01)
            now = time.monotonic()
            gaps.append(now - last)
            last = now

    async def main() -> None:
        stop = asyncio.Event()
        ticking = asyncio.create_task(ticker(stop))
        async with protection.protect("job"):
            assert agent.protection_enabled
        stop.set()
        await ticking

    asyncio.run(main())

    assert len(agent.puts()) == 2
    assert max(gaps) < 0.15  # each agent call took 0.3 s, off the loop


def test_cancelling_a_task_while_it_waits_for_protection_leaks_nothing(
    agent: FakeEcsAgent, make_protection: MakeProtection
) -> None:
    agent.latency_seconds = 0.2
    protection = make_protection(agent.uri)
    started = False

    async def job() -> None:
        nonlocal started
        async with protection.protect("job"):
            started = True

    async def main() -> None:
        task = asyncio.create_task(job())
        await asyncio.sleep(0.05)  # the enabling call is in flight
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(main())

    assert not started
    assert wait_until(lambda: len(agent.puts()) == 2)
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
def test_impossible_settings_are_refused(options: dict[str, int]) -> None:
    with pytest.raises(ValueError, match="must be"):
        TaskProtection("http://127.0.0.1:1", **options)


def test_generators_cannot_be_decorated(make_protection: MakeProtection) -> None:
    protection = make_protection(None)

    with pytest.raises(TypeError, match="generator"):

        @protection.protect("stream")
        def stream() -> object:
            yield 1
