"""The synthesized state machines of a test environment, deployed into the local engine.

The environment is synthesized once per session exactly as ``cdk synth`` would (cdk-nag
on, asset bundling off); each test gets a fresh engine with it deployed.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from botocore.exceptions import ClientError

from cronguard.config import Environment, load_environment
from cronguard_simulation.deploy import LocalEnvironment
from cronguard_simulation.engine import LocalAws
from cronguard_simulation.engine.harness import ACCOUNT_ID
from cronguard_simulation.engine.lambdas import Handler, LambdaContext
from lambdas.cleanup import handler as cleanup
from stacks.checks import add_compliance_checks
from stacks.environment_stack import CronguardStack
from testkit.apps import project_app
from testkit.configs import NETWORK
from tests.assemblies import ASSEMBLY, shared

FAST_LAUNCH_RETRIES = {"max_attempts": 3, "interval_seconds": 1, "backoff_rate": 1.0}
JOBS = {
    "forbid-job": {
        "schedule": "rate(1 hour)",
        "image": "repo/job:1",
        "launch_retries": FAST_LAUNCH_RETRIES,
    },
    "replace-job": {"schedule": "rate(1 hour)", "image": "repo/job:1", "concurrency": "replace"},
    "allow-job": {"schedule": "rate(1 hour)", "image": "repo/job:1", "concurrency": "allow"},
    "timeout-job": {"schedule": "rate(1 hour)", "image": "repo/job:1", "timeout": "1m"},
    "retry-job": {"schedule": "rate(1 hour)", "image": "repo/job:1", "job_retries": 1},
    # Retried only when the container exits 75 (EX_TEMPFAIL) or 137 (OOM kill), or its
    # capacity went away (a Spot interruption). MODE is a variable a person may override.
    # (Named to sort after forbid-job: `cronguard simulate` shows the first forbid job.)
    "retry-codes-job": {
        "schedule": "rate(1 hour)",
        "image": "repo/job:1",
        "job_retries": {"max": 2, "on_exit_codes": [75, 137]},
        "environment": {"MODE": "full"},
    },
    # A cron job: its slots are fixed wall-clock times (04:00 UTC, once 03:00: see the tests).
    "nightly-job": {"schedule": "cron(0 4 * * ? *)", "image": "repo/job:1"},
    # A job renamed from one no longer in config (the rename tests write the old name's lease).
    "renamed-job": {"schedule": "rate(1 hour)", "image": "repo/job:1", "renamed_from": "old-job"},
    # A job with an agent beside it (essential: its exit stops the task) and a collector (not
    # essential), sharing a scratch volume.
    "sidecar-job": {
        "schedule": "rate(1 hour)",
        "image": "repo/job:1",
        "sidecars": [
            {
                "name": "agent",
                "image": "repo/agent:1",
                "essential": True,
                "mounts": [{"volume": "scratch", "path": "/var/run/agent"}],
            },
            {"name": "collector", "image": "repo/collector:1"},
        ],
        "volumes": [{"name": "scratch"}],
        "mounts": [{"volume": "scratch", "path": "/var/run/agent"}],
    },
}
RUN_TIMEOUT_SECONDS = 2  # timeout-job's 1m compressed, so scenario 6 takes seconds
JOB_RETRY_INTERVAL_SECONDS = 1  # the synthesized 30 s before a job retry, compressed


@pytest.fixture(scope="session")
def synthesized(tmp_path_factory: pytest.TempPathFactory) -> tuple[Environment, Path]:
    """The e2e environment's config and assembly (``config/`` and ``cdk.out/`` side by side),
    synthesized once per session (``tests/assemblies.py``)."""

    def build(root: Path) -> None:
        config = root / "config"
        (config / "environments").mkdir(parents=True)
        (config / "jobs.yaml").write_text(yaml.safe_dump({"jobs": JOBS}))
        (config / "environments" / "e2e.yaml").write_text(yaml.safe_dump({"network": NETWORK}))
        environment = load_environment("e2e", config)
        app = project_app(root / ASSEMBLY)
        CronguardStack(app, environment.stack_name, environment=environment)
        add_compliance_checks(app)
        app.synth()

    root = shared(tmp_path_factory, "e2e", build)
    return load_environment("e2e", root / "config"), root / ASSEMBLY


@dataclass
class Engine:
    aws: LocalAws
    local: LocalEnvironment

    def arn(self, job: str) -> str:
        return self.local.jobs[job].state_machine_arn

    def task_definition(self, job: str) -> str:
        return self.local.jobs[job].task_definition_arn

    def start(self, job: str, name: str, run_input: dict[str, Any]) -> str:
        return self.aws.start(self.arn(job), name, run_input)

    def run(self, job: str, name: str, run_input: dict[str, Any]) -> dict[str, Any]:
        return self.aws.wait(self.start(job, name, run_input), timeout=60)

    def final_state(self, execution_arn: str) -> str:
        """The name of the last state the execution entered (what the console graph shows)."""
        entered: list[str] = [
            event["stateEnteredEventDetails"]["name"]
            for event in self.aws.history(execution_arn)
            if event["type"].endswith("StateEntered")
        ]
        return entered[-1]

    def output(self, execution_arn: str) -> dict[str, Any]:
        described = self.aws.sfn.describe_execution(executionArn=execution_arn)
        return dict(json.loads(described.get("output") or "{}"))

    def slot(self, job: str, slot: str) -> dict[str, Any] | None:
        return self.local.slot_item(job, slot)

    def lease(self, job: str) -> dict[str, Any] | None:
        return self.local.lease(job)

    def wrap_guard(self, job: str, wrap: Callable[[Handler], Handler]) -> None:
        """Wrap the real guard of ``job`` (to inject a failure around it)."""
        self.aws.wrap_lambda(self.local.jobs[job].guard_function, wrap)

    def fail_claim_of(self, job: str, execution_name: str) -> None:
        """A DynamoDB incident while that execution's guard claims its slot: with the guard's
        retries compressed to one attempt, the execution ends without claiming anything."""

        def one_guard_attempt(definition: dict[str, Any]) -> None:
            definition["States"]["Guard"]["Retry"][-1]["MaxAttempts"] = 0  # its minute, compressed

        def ledger_down(guard: Handler) -> Handler:
            def handler(event: Any, context: Any) -> Any:
                if event["action"] == "claim" and event["execution"]["name"] == execution_name:
                    raise ClientError(
                        {"Error": {"Code": "InternalServerError", "Message": "ledger down"}},
                        "TransactWriteItems",
                    )
                return guard(event, context)

            return handler

        self.update_definition(job, one_guard_attempt)
        self.wrap_guard(job, ledger_down)

    def definition(self, job: str) -> dict[str, Any]:
        described = self.aws.sfn.describe_state_machine(stateMachineArn=self.arn(job))
        return dict(json.loads(described["definition"]))

    def update_definition(self, job: str, edit: Callable[[dict[str, Any]], None]) -> None:
        """UpdateStateMachine with ``edit`` applied (to compress a wait; executions started
        afterwards use it)."""
        definition = self.definition(job)
        edit(definition)
        self.aws.sfn.update_state_machine(
            stateMachineArn=self.arn(job), definition=json.dumps(definition)
        )

    def reconcile(self) -> Any:
        """One run of the cleanup's reconciler (its 5-minute schedule, fired now): the real
        handler, with the environment its function was deployed with."""
        context = LambdaContext(
            function_name="cleanup",
            invoked_function_arn=f"arn:aws:lambda:{self.aws.region}:{ACCOUNT_ID}:function:cleanup",
        )
        return cleanup.lambda_handler(
            {"detail-type": cleanup.SCHEDULED_EVENT, "source": "aws.events", "detail": {}},
            context,
        )

    def wait_for_tasks(self, job: str, count: int, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while len(self.aws.tasks_started(self.task_definition(job))) < count:
            assert time.monotonic() < deadline, f"{job}: fewer than {count} tasks started"
            time.sleep(0.05)


@pytest.fixture
def engine(synthesized: tuple[Environment, Path]) -> Iterator[Engine]:
    environment, assembly = synthesized
    for name in ("moto", "cronguard_simulation.engine"):
        logging.getLogger(name).setLevel(logging.CRITICAL)
    with LocalAws() as aws:
        local = LocalEnvironment(
            aws,
            environment,
            assembly,
            run_timeouts={"timeout-job": RUN_TIMEOUT_SECONDS},
            job_retry_interval_seconds=JOB_RETRY_INTERVAL_SECONDS,
        ).deploy()
        yield Engine(aws, local)


Slot = Callable[..., str]


@pytest.fixture
def slot() -> Slot:
    """Slots near now (so no starting deadline applies), one per hour offset; fixed for the
    whole test, so a test running across the hour still names the same slots."""
    base = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)

    def at(offset_hours: int = 0) -> str:
        return (base + timedelta(hours=offset_hours)).strftime("%Y-%m-%dT%H:%M:%SZ")

    return at
