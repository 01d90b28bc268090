"""Fixtures for the local-AWS tests: a LocalAws per test and the representative job."""

from __future__ import annotations

import copy
import json
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from cronguard.local import LocalAws
from lambdas import variables

FIXTURE = Path(__file__).with_name("guarded_job.asl.json")


@pytest.fixture
def aws() -> Iterator[LocalAws]:
    with LocalAws() as local:
        yield local


def slot_of(event_input: dict[str, Any]) -> str:
    """`2026-11-22T03:00:00Z` → `20261122T0300Z` (what the real guard derives)."""
    scheduled = str(event_input.get("scheduledTime", "manual"))
    return scheduled.replace("-", "").replace(":", "")[:13] + "Z"


def claim_every_slot(event: dict[str, Any]) -> dict[str, Any]:
    return {"action": "run", "slot": slot_of(event["input"])}


@dataclass
class RecordingGuard:
    """A stand-in guard Lambda: answers "claim" with `claim(event)` (default: run), records
    every call (thread-safe)."""

    claim: Callable[[dict[str, Any]], Any] = claim_every_slot
    calls: list[dict[str, Any]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def __call__(self, event: dict[str, Any], context: Any) -> Any:
        with self.lock:
            self.calls.append(event)
        if event["action"] == "claim":
            return self.claim(event)
        return {"recorded": event["outcome"]}

    def calls_for(self, action: str) -> list[dict[str, Any]]:
        with self.lock:
            return [call for call in self.calls if call["action"] == action]


@dataclass
class GuardedJob:
    aws: LocalAws
    state_machine_arn: str
    task_definition_arn: str
    guard: Callable[[dict[str, Any], Any], Any]

    def start(self, name: str, scheduled_time: str = "2026-11-22T03:00:00Z") -> str:
        return self.aws.start(self.state_machine_arn, name, {"scheduledTime": scheduled_time})

    def run(self, name: str, scheduled_time: str = "2026-11-22T03:00:00Z") -> dict[str, Any]:
        return self.aws.wait(self.start(name, scheduled_time))


DeployJob = Callable[..., GuardedJob]


@pytest.fixture
def guard() -> RecordingGuard:
    return RecordingGuard()


@pytest.fixture
def deploy_job(aws: LocalAws) -> DeployJob:
    """Deploy the fixture ASL with `guard` as its guard Lambda; `edit(definition)` may change
    the definition first (e.g. a shorter TimeoutSeconds)."""

    def deploy(
        guard: Callable[[dict[str, Any], Any], Any],
        edit: Callable[[dict[str, Any]], None] | None = None,
    ) -> GuardedJob:
        definition = copy.deepcopy(json.loads(FIXTURE.read_text()))
        if edit is not None:
            edit(definition)
        network = aws.network()
        guard_arn = aws.register_lambda("guard", guard, {variables.LEDGER_TABLE: "ledger"})
        task_definition = aws.register_task_definition("nightly", "job")
        machine = aws.deploy_state_machine(
            "dev-nightly",
            definition,
            substitutions={
                "GuardFunctionArn": guard_arn,
                "ClusterArn": aws.create_cluster("jobs"),
                "TaskDefinitionArn": task_definition,
                "SubnetId": network.subnet_ids[0],
                "SecurityGroupId": network.security_group_ids[0],
            },
        )
        return GuardedJob(aws, machine, task_definition, guard)

    return deploy


def _wait_until(predicate: Callable[[], Any], timeout: float = 5.0) -> Any:
    deadline = time.monotonic() + timeout
    while not (result := predicate()):
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout} s")
        time.sleep(0.02)
    return result


@pytest.fixture
def wait_until() -> Callable[..., Any]:
    """`wait_until(predicate, timeout=5)`: poll until truthy, return the value."""
    return _wait_until
