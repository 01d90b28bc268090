"""Lambda handlers reuse their AWS clients across invocations, per region."""

from __future__ import annotations

import threading

import pytest

from lambdas.core import clients
from tests.aws import use_fake_credentials


@pytest.fixture(autouse=True)
def fresh_cache(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(clients, "_clients", {})
    use_fake_credentials(monkeypatch, AWS_DEFAULT_REGION="eu-west-1")
    monkeypatch.delenv("AWS_REGION", raising=False)


def test_a_client_is_created_once_and_reused(monkeypatch: pytest.MonkeyPatch) -> None:
    first = clients.client("dynamodb")
    assert clients.client("dynamodb") is first
    assert first.meta.region_name == "eu-west-1"
    other: object = clients.client("stepfunctions")  # typed apart: compared as objects
    assert other is not first


def test_the_region_named_at_call_time_gets_its_own_client(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    ireland = clients.client("dynamodb")
    monkeypatch.setenv("AWS_REGION", "ap-northeast-1")  # what Lambda sets
    tokyo = clients.client("dynamodb")
    assert tokyo is not ireland
    assert tokyo.meta.region_name == "ap-northeast-1"


def test_threads_asking_at_once_share_one_client(monkeypatch: pytest.MonkeyPatch) -> None:
    start = threading.Barrier(16)
    got: list[object] = []

    def ask() -> None:
        start.wait()
        got.append(clients.client("ecs"))

    threads = [threading.Thread(target=ask) for _ in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(got) == 16
    assert len({id(client) for client in got}) == 1


def test_a_client_on_first_use_is_created_by_its_first_call_and_is_the_cached_one() -> None:
    ecs = clients.on_first_use("ecs")
    assert clients._clients == {}  # nothing created yet
    assert ecs.meta.region_name == "eu-west-1"
    assert list(clients._clients) == [("ecs", "eu-west-1")]
    assert ecs.meta is clients.client("ecs").meta
