"""Fixtures for the local-AWS tests: a LocalAws per test and a job's real state machine.

The state machine is rendered from ``state_machines/guarded_job.asl.json`` by the job
template, exactly as a job stack's template holds it (``stacks/job/``), for one
job of a small config; only its guard is a stand-in the tests script.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
import yaml

from cronguard.config import load_environment
from cronguard_simulation.engine import LocalAws
from lambdas.core import variables
from lambdas.guard.decision import Verdict
from stacks.job.shapes import CONTAINER_NAME
from stacks.job.template import JobStackTemplate
from testkit.configs import NETWORK

JOB = "nightly"
JOB_SETTINGS = {
    "schedule": "rate(1 hour)",
    "image": "repo/job:1",
    # Launch failures are retried after about a second, not the default's longer waits.
    "launch_retries": {"max_attempts": 3, "interval_seconds": 1, "backoff_rate": 2.0},
}


@dataclass(frozen=True)
class RenderedJob:
    """A job's state machine as its job stack's template holds it."""

    definition: str
    substitutions: frozenset[str]  # what CloudFormation fills in (DefinitionSubstitutions)
    network_ids: tuple[str, ...]  # config's subnet and security group, in that order


@pytest.fixture(scope="session")
def rendered_job(tmp_path_factory: pytest.TempPathFactory) -> RenderedJob:
    config = tmp_path_factory.mktemp("config")
    (config / "environments").mkdir()
    (config / "jobs.yaml").write_text(yaml.safe_dump({"jobs": {JOB: JOB_SETTINGS}}))
    (config / "environments" / "local.yaml").write_text(yaml.safe_dump({"network": NETWORK}))
    environment = load_environment("local", config)
    template = JobStackTemplate(environment, environment.jobs).render()
    (machine,) = [
        resource["Properties"]
        for resource in template["Resources"].values()
        if resource["Type"] == "AWS::StepFunctions::StateMachine"
    ]
    return RenderedJob(
        machine["DefinitionString"],
        frozenset(machine["DefinitionSubstitutions"]),
        (NETWORK["subnet_ids"][0], NETWORK["security_group_ids"][0]),
    )


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


def skip(reason: Verdict = Verdict.DUPLICATE) -> dict[str, Any]:
    """The guard's answer for a slot it skips."""
    return {"action": "skip", "reason": reason.value}


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
def deploy_job(aws: LocalAws, rendered_job: RenderedJob) -> DeployJob:
    """Deploy the job's real state machine with `guard` as its guard Lambda; `edit(definition)`
    may change the definition first (e.g. a shorter TimeoutSeconds)."""

    def deploy(
        guard: Callable[[dict[str, Any], Any], Any],
        edit: Callable[[dict[str, Any]], None] | None = None,
    ) -> GuardedJob:
        network = aws.network()
        definition = rendered_job.definition
        subnet, security_group = rendered_job.network_ids  # config's ids exist in no moto
        definition = definition.replace(f'"{subnet}"', f'"{network.subnet_ids[0]}"')
        definition = definition.replace(f'"{security_group}"', f'"{network.security_group_ids[0]}"')
        parsed = json.loads(definition)
        if edit is not None:
            edit(parsed)
        guard_arn = aws.register_lambda("guard", guard, {variables.LEDGER_TABLE: "ledger"})
        task_definition = aws.register_task_definition(JOB, CONTAINER_NAME)
        substitutions = {
            "GuardFunctionArn": guard_arn,
            "ClusterArn": aws.create_cluster("jobs"),
            "TaskDefinitionArn": task_definition,
        }
        assert set(substitutions) == rendered_job.substitutions
        machine = aws.deploy_state_machine(f"local-{JOB}", parsed, substitutions=substitutions)
        return GuardedJob(aws, machine, task_definition, guard)

    return deploy


def _wait_until(predicate: Callable[[], Any], timeout: float = 60.0) -> Any:
    """Poll ``predicate`` until truthy; ``timeout`` (wall time) is only a hang guard."""
    deadline = time.monotonic() + timeout
    while not (result := predicate()):
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout} s")
        time.sleep(0.02)
    return result


@pytest.fixture
def wait_until() -> Callable[..., Any]:
    """`wait_until(predicate, timeout=60)`: poll until truthy, return the value."""
    return _wait_until
