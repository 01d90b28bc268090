"""Fixtures for the container-side client (worker/): a fake ECS agent on loopback.

The client and the agent share one manual clock: protection's expiry and renewal move only
when a test advances it, however slowly the machine runs the renewal thread.
"""

from __future__ import annotations

import socket
from collections.abc import Callable, Iterator
from typing import Any

import boto3
import pytest
from cronguard_worker import TaskProtection
from moto import mock_aws

from tests.worker.clock import ManualClock
from tests.worker.ecs_agent_fake import FakeEcsAgent
from tests.worker.history_table import create_history_table


@pytest.fixture
def clock() -> ManualClock:
    """Virtual time for protection's expiry and renewal, on both sides."""
    return ManualClock()


@pytest.fixture
def agent(clock: ManualClock) -> Iterator[FakeEcsAgent]:
    fake = FakeEcsAgent(clock=clock).start()
    yield fake
    fake.stop()


@pytest.fixture
def make_protection(clock: ManualClock) -> Iterator[Callable[..., TaskProtection]]:
    """TaskProtection with test-sized retries on the test's clock, closed at teardown."""
    made: list[TaskProtection] = []

    def make(agent_uri: str | None, **options: Any) -> TaskProtection:
        options.setdefault("max_attempts", 3)
        options.setdefault("backoff_base_seconds", 0.01)
        options.setdefault("backoff_max_seconds", 0.05)
        options.setdefault("timeout_seconds", 2.0)
        options.setdefault("clock", clock)
        protection = TaskProtection(agent_uri, **options)
        made.append(protection)
        return protection

    yield make
    for protection in made:
        protection.close()


@pytest.fixture
def closed_port_uri() -> str:
    """An agent URI nobody listens on: connections are refused."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/api/gone"


@pytest.fixture
def dynamodb(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """A moto DynamoDB client with the work history table created."""
    for variable, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "eu-west-1",
    }.items():
        monkeypatch.setenv(variable, value)
    with mock_aws():
        client = boto3.client("dynamodb", region_name="eu-west-1")
        create_history_table(client)
        yield client
