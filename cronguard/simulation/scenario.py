"""The main job's simulation: a burst of duplicate triggers collapses into one run.

Against one job of a synthesized environment, on the local engine:

1. a burst of triggers for one slot, as a misbehaving schedule would send them;
2. the job's next slot, while the first run still runs (``forbid`` skips it as overlap);
3. a late duplicate of the first slot, after its run finished (a lock could not stop it);
4. a run whose container exits 3.

It prints what each execution decided and how it ended, then checks the guarantees and
says which, if any, failed.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from cronguard.config import Concurrency, Job
from cronguard.local import TaskScript
from cronguard.schedule import upcoming_slots
from cronguard.simulation.deploy import LocalEnvironment

FAILING_EXIT_CODE = 3


@dataclass(frozen=True)
class Row:
    step: str
    execution: str
    slot: str
    decision: str
    reason: str
    task: str
    outcome: str


@dataclass(frozen=True)
class Check:
    guarantee: str
    ok: bool
    detail: str


@dataclass(frozen=True)
class Result:
    job: str
    rows: list[Row]
    checks: list[Check]

    @property
    def ok(self) -> bool:
        return all(check.ok for check in self.checks)


def slot_text(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def pick_job(local: LocalEnvironment, name: str | None) -> Job:
    if name is not None:
        return local.environment.job(name)
    for job in local.environment.jobs:
        if job.enabled and job.concurrency is Concurrency.FORBID:
            return job
    raise KeyError(f"no enabled job with concurrency forbid in {local.environment.name}")


class Simulation:
    def __init__(
        self,
        local: LocalEnvironment,
        job: Job,
        *,
        burst: int = 8,
        task_seconds: float = 3.0,
        progress: Callable[[str], None] = lambda message: None,
    ) -> None:
        self.local = local
        self.aws = local.aws
        self.job = job
        self.deployed = local.jobs[job.name]
        self.burst = burst
        self.task_seconds = task_seconds
        self.progress = progress
        self.rows: list[Row] = []
        self._stamp = datetime.now(UTC).strftime("%H%M%S")

    def _start(self, step: str, slot: datetime, index: int, **extra: Any) -> tuple[str, str]:
        name = f"{step.replace(' ', '-')}-{self._stamp}-{index}"
        run_input = {"scheduledTime": slot_text(slot), "attempt": str(index), **extra}
        arn = self.aws.start(self.deployed.state_machine_arn, name, run_input)
        return step, arn

    def _row(self, step: str, execution_arn: str, slot: datetime) -> Row:
        described = self.aws.wait(execution_arn, timeout=60)
        output = json.loads(described.get("output") or "null") or {}
        tasks = [
            task
            for task in self.aws.tasks_started(self.deployed.task_definition_arn)
            if task.execution_arn == execution_arn
        ]
        task = tasks[-1].task_arn.rsplit("/", 1)[-1][:8] if tasks else "-"
        if output.get("action") == "skip":
            decision, reason = "skip", output.get("reason", "")
        else:
            decision, reason = "run", "claimed"
        item = self.local.slot_item(self.job.name, slot_text(slot)) or {}
        outcome = described["status"]
        if decision == "run":
            status = item.get("status", {}).get("S", "?")
            exit_code = item.get("exit_code", {}).get("N")
            outcome += f" · ledger {status}" + (f" (exit {exit_code})" if exit_code else "")
        return Row(
            step,
            execution_arn.rsplit(":", 1)[-1],
            slot_text(slot),
            decision,
            reason,
            task,
            outcome,
        )

    def run(self) -> Result:
        now = datetime.now(UTC).replace(second=0, microsecond=0)
        first, following, failing = upcoming_slots(
            self.job.schedule, self.job.timezone, after=now - timedelta(seconds=1), count=3
        )[:3]
        self.aws.script_tasks(
            self.deployed.task_definition_arn,
            TaskScript(duration_seconds=self.task_seconds),
            TaskScript(duration_seconds=0.5, exit_code=FAILING_EXIT_CODE),
        )

        self.progress(f"{self.burst} triggers at once for slot {slot_text(first)}")
        started: list[tuple[str, str, datetime]] = []
        lock = threading.Lock()

        def trigger(index: int) -> None:
            step, arn = self._start("burst", first, index)
            with lock:
                started.append((step, arn, first))

        threads = [threading.Thread(target=trigger, args=(i,)) for i in range(self.burst)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()

        self._wait_for_task()
        self.progress(f"the next slot {slot_text(following)} arrives while the run still runs")
        step, arn = self._start("next slot", following, 0)
        started.append((step, arn, following))
        for step, arn, slot in started:
            self.rows.append(self._row(step, arn, slot))

        self.progress(f"a late duplicate of {slot_text(first)}, after its run finished")
        step, arn = self._start("late duplicate", first, self.burst)
        self.rows.append(self._row(step, arn, first))

        self.progress(f"slot {slot_text(failing)}: the job exits {FAILING_EXIT_CODE}")
        step, arn = self._start("failing run", failing, 0)
        self.rows.append(self._row(step, arn, failing))
        return Result(self.job.name, self.rows, self._checks(first, following, failing))

    def _wait_for_task(self, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while not self.aws.tasks_started(self.deployed.task_definition_arn):
            if time.monotonic() > deadline:
                raise TimeoutError("no ECS task started for the burst")
            time.sleep(0.05)

    def _checks(self, first: datetime, following: datetime, failing: datetime) -> list[Check]:
        burst = [row for row in self.rows if row.step == "burst"]
        runs = [row for row in burst if row.decision == "run"]
        tasks_for_first = [
            task
            for task in self.aws.tasks_started(self.deployed.task_definition_arn)
            if task.environment.get("CRONGUARD_SLOT") == slot_text(first)
        ]
        overlap = next(row for row in self.rows if row.step == "next slot")
        late = next(row for row in self.rows if row.step == "late duplicate")
        failed = next(row for row in self.rows if row.step == "failing run")
        failed_item = self.local.slot_item(self.job.name, slot_text(failing)) or {}
        expected_overlap = (
            ("skip", "overlap")
            if self.job.concurrency is Concurrency.FORBID
            else ("run", "claimed")
        )
        return [
            Check(
                "once per slot: the burst started one ECS task",
                len(tasks_for_first) == 1 and len(runs) == 1,
                f"{len(tasks_for_first)} task(s), {len(runs)} run(s) of {len(burst)} triggers",
            ),
            Check(
                "every other trigger of the burst was skipped as a duplicate",
                all(row.reason == "duplicate" for row in burst if row.decision == "skip"),
                ", ".join(sorted({row.reason for row in burst if row.decision == "skip"})),
            ),
            Check(
                f"no overlap ({self.job.concurrency.value}): the next slot "
                f"{'was skipped' if expected_overlap[0] == 'skip' else 'ran'}",
                (overlap.decision, overlap.reason) == expected_overlap,
                f"{overlap.decision} ({overlap.reason})",
            ),
            Check(
                "a duplicate after the run finished was skipped",
                (late.decision, late.reason) == ("skip", "duplicate"),
                f"{late.decision} ({late.reason})",
            ),
            Check(
                "honest outcome: exit 3 failed the execution and is in the ledger",
                failed.outcome.startswith("FAILED")
                and failed_item.get("exit_code", {}).get("N") == str(FAILING_EXIT_CODE),
                failed.outcome,
            ),
            Check(
                "no stuck lock: nothing is held at the end",
                self.local.lease(self.job.name) is None,
                "lease free" if self.local.lease(self.job.name) is None else "lease still held",
            ),
        ]
