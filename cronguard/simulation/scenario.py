"""The main job's simulation: a burst of duplicate triggers collapses into one run.

Against one job of a synthesized environment, on the local engine:

1. a burst of triggers for one slot, as a misbehaving schedule would send them;
2. the job's next slot, while the first run still runs: ``forbid`` skips it as an overlap,
   ``replace`` stops the first run and then runs it, ``allow`` runs both at once;
3. a late duplicate of the first slot, after its run finished (a lock could not stop it);
4. a run whose container exits 3 (on every attempt, when the job has ``job_retries``);
5. with ``job_retries``, a run that exits 3 once and succeeds when retried.

Each slot's ECS tasks are scripted for that slot (by ``CRONGUARD_SLOT``), so which execution
starts a task first never changes what the task does. It prints what each execution decided
and how it ended, then checks the guarantees and says which, if any, failed.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from cronguard.config import Concurrency, Environment, Job
from cronguard.local import StartedTask, TaskScript
from cronguard.simulation.deploy import LocalEnvironment
from lambdas.ledger_contract import EXIT_CODE, REASON, RETRIES, STATUS, Status
from lambdas.schedule import upcoming_slots
from lambdas.times import slot_key

FAILING_EXIT_CODE = 3
SHORT_TASK_SECONDS = 0.5
RUN_WAIT_SECONDS = 120  # the longest step: a failing run with job_retries 5, retries compressed


CATCH_UP_STEP = "catch up"
"""The step of a run started for a missed slot (the report draws it as missed → caught up)."""


@dataclass(frozen=True)
class TaskSpan:
    """One ECS task an execution started, as the local engine recorded it."""

    task: str  # the first 8 characters of its task ID, as the timeline shows it
    started_at: datetime
    stopped_at: datetime | None
    exit_code: int | None


@dataclass(frozen=True)
class Row:
    step: str
    execution: str
    slot: str
    decision: str
    reason: str
    task: str
    outcome: str
    # When the execution started and stopped (DescribeExecution) and its ECS tasks.
    started_at: datetime | None = None
    stopped_at: datetime | None = None
    tasks: tuple[TaskSpan, ...] = ()


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
    return slot_key(moment)


def pick_job(environment: Environment) -> Job:
    """The job `cronguard simulate` shows by default: the first enabled forbid job."""
    for job in environment.jobs:
        if job.enabled and job.concurrency is Concurrency.FORBID:
            return job
    raise KeyError(f"no enabled job with concurrency forbid in {environment.name}: name one")


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

    def _script(self, slot: datetime, *scripts: TaskScript) -> None:
        """What the tasks of this slot do, in the order they start."""
        self.aws.script_tasks(
            self.deployed.task_definition_arn,
            *scripts,
            environment={"CRONGUARD_SLOT": slot_text(slot)},
        )

    def _tasks(self, slot: datetime) -> list[StartedTask]:
        return [
            task
            for task in self.aws.tasks_started(self.deployed.task_definition_arn)
            if task.environment.get("CRONGUARD_SLOT") == slot_text(slot)
        ]

    def _row(self, step: str, execution_arn: str, slot: datetime) -> Row:
        described = self.aws.wait(execution_arn, timeout=RUN_WAIT_SECONDS)
        output = json.loads(described.get("output") or "null") or {}
        tasks = [
            task
            for task in self.aws.tasks_started(self.deployed.task_definition_arn)
            if task.execution_arn == execution_arn
        ]
        spans = tuple(
            TaskSpan(
                task.task_arn.rsplit("/", 1)[-1][:8],
                task.started_at,
                task.stopped_at,
                task.exit_code,
            )
            for task in tasks
        )
        task = spans[-1].task if spans else "-"
        if output.get("action") == "skip":
            decision, reason = "skip", output.get("reason", "")
        else:
            decision, reason = "run", "claimed"
        outcome = described["status"]
        if decision == "run":
            outcome += " · " + _ledger_text(self.local.slot_item(self.job.name, slot_text(slot)))
        return Row(
            step,
            execution_arn.rsplit(":", 1)[-1],
            slot_text(slot),
            decision,
            reason,
            task,
            outcome,
            started_at=described.get("startDate"),
            stopped_at=described.get("stopDate"),
            tasks=spans,
        )

    def run(self) -> Result:
        now = datetime.now(UTC).replace(second=0, microsecond=0)
        first, following, failing, flaky = upcoming_slots(
            self.job.schedule, self.job.timezone, after=now - timedelta(seconds=1), count=4
        )[:4]
        retries = self.job.job_retries
        self._script(first, TaskScript(duration_seconds=self.task_seconds))
        self._script(following, TaskScript(duration_seconds=SHORT_TASK_SECONDS))
        exits_3 = TaskScript(duration_seconds=SHORT_TASK_SECONDS, exit_code=FAILING_EXIT_CODE)
        self._script(failing, *[exits_3] * (retries + 1))
        self._script(flaky, exits_3, TaskScript(duration_seconds=SHORT_TASK_SECONDS))

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
        for _, arn, _ in started:  # every record final (a replaced run's too) before reading
            self.aws.wait(arn, timeout=RUN_WAIT_SECONDS)
        for step, arn, slot in started:
            self.rows.append(self._row(step, arn, slot))

        self.progress(f"a late duplicate of {slot_text(first)}, after its run finished")
        step, arn = self._start("late duplicate", first, self.burst)
        self.rows.append(self._row(step, arn, first))

        attempts = f" on each of its {retries + 1} attempts" if retries else ""
        self.progress(f"slot {slot_text(failing)}: the job exits {FAILING_EXIT_CODE}{attempts}")
        step, arn = self._start("failing run", failing, 0)
        self.rows.append(self._row(step, arn, failing))

        if retries:
            self.progress(
                f"slot {slot_text(flaky)}: the job exits {FAILING_EXIT_CODE} once, "
                f"then succeeds (job_retries {retries})"
            )
            step, arn = self._start("retried run", flaky, 0)
            self.rows.append(self._row(step, arn, flaky))
        return Result(self.job.name, self.rows, self._checks(first, following, failing, flaky))

    def _wait_for_task(self, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while not self.aws.tasks_started(self.deployed.task_definition_arn):
            if time.monotonic() > deadline:
                raise TimeoutError("no ECS task started for the burst")
            time.sleep(0.05)

    def _step(self, step: str) -> Row:
        return next(row for row in self.rows if row.step == step)

    def _checks(
        self, first: datetime, following: datetime, failing: datetime, flaky: datetime
    ) -> list[Check]:
        burst = [row for row in self.rows if row.step == "burst"]
        runs = [row for row in burst if row.decision == "run"]
        tasks_for_first = self._tasks(first)
        late = self._step("late duplicate")
        failed = self._step("failing run")
        failed_item = self.local.slot_item(self.job.name, slot_text(failing)) or {}
        attempts = self.job.job_retries + 1
        checks = [
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
            self._next_slot_check(runs[0] if len(runs) == 1 else None, first, following),
            Check(
                "a duplicate after the run finished was skipped",
                (late.decision, late.reason) == ("skip", "duplicate"),
                f"{late.decision} ({late.reason})",
            ),
            Check(
                f"honest outcome: exit {FAILING_EXIT_CODE} failed the execution and is in the "
                "ledger" + (f" (after {attempts} attempts)" if attempts > 1 else ""),
                failed.outcome.startswith("FAILED")
                and _ledger_status(failed_item) == Status.FAILED
                and failed_item.get("exit_code", {}).get("N") == str(FAILING_EXIT_CODE)
                and len(self._tasks(failing)) == attempts,
                failed.outcome + (f", {len(self._tasks(failing))} tasks" if attempts > 1 else ""),
            ),
        ]
        if self.job.job_retries:
            retried = self._step("retried run")
            retried_item = self.local.slot_item(self.job.name, slot_text(flaky)) or {}
            checks.append(
                Check(
                    f"job_retries {self.job.job_retries}: a run that failed once was retried "
                    "and succeeded",
                    retried.outcome.startswith("SUCCEEDED")
                    and _ledger_status(retried_item) == Status.SUCCEEDED
                    and retried_item.get(RETRIES, {}).get("N") == "1"
                    and [task.exit_code for task in self._tasks(flaky)] == [FAILING_EXIT_CODE, 0],
                    retried.outcome,
                )
            )
        lease_free = self.local.lease(self.job.name) is None
        checks.append(
            Check(
                "no stuck lock: nothing is held at the end",
                lease_free,
                "lease free" if lease_free else "lease still held",
            )
        )
        return checks

    def _next_slot_check(self, run: Row | None, first: datetime, following: datetime) -> Check:
        """What the next slot did while the first slot's run ran, under the job's policy."""
        policy = self.job.concurrency
        nxt = self._step("next slot")
        earlier = run.outcome if run is not None else "no single run"
        ran = f" {nxt.outcome.split(' · ')[0]}" if nxt.decision == "run" else ""
        detail = (
            f"next slot {nxt.decision} ({nxt.reason}){ran}, earlier run {earlier.split(' · ')[0]}"
        )
        first_tasks, next_tasks = self._tasks(first), self._tasks(following)
        earlier_succeeded = run is not None and run.outcome.startswith("SUCCEEDED")
        next_succeeded = nxt.decision == "run" and nxt.outcome.startswith("SUCCEEDED")
        if policy is Concurrency.FORBID:
            return Check(
                "no overlap (forbid): the next slot was skipped while the run ran",
                (nxt.decision, nxt.reason) == ("skip", "overlap")
                and earlier_succeeded
                and not next_tasks,
                detail,
            )
        overlapped = (
            len(first_tasks) == 1
            and len(next_tasks) == 1
            and first_tasks[0].stopped_at is not None
            and next_tasks[0].started_at < first_tasks[0].stopped_at
        )
        if policy is Concurrency.REPLACE:
            first_item = self.local.slot_item(self.job.name, slot_text(first)) or {}
            return Check(
                "replace: the next slot stopped the earlier run, then ran",
                next_succeeded
                and earlier.startswith("ABORTED")
                and _ledger_status(first_item) == Status.ABORTED
                and first_item.get(REASON, {}).get("S", "").startswith("replaced by")
                and len(first_tasks) == 1
                and not first_tasks[0].running
                and not overlapped,
                detail,
            )
        return Check(
            "allow: the next slot ran while the earlier run still ran",
            next_succeeded and earlier_succeeded and overlapped,
            detail,
        )


def _ledger_status(item: dict[str, Any]) -> str:
    return str(item.get(STATUS, {}).get("S", "?"))


def _ledger_text(item: dict[str, Any] | None) -> str:
    """The slot's record in a few words: status, exit code, retries, why it was aborted."""
    if item is None:
        return "ledger: no record"
    status = _ledger_status(item)
    details = []
    if EXIT_CODE in item:
        details.append(f"exit {item[EXIT_CODE]['N']}")
    retries = int(item.get(RETRIES, {}).get("N", "0"))
    if retries:
        details.append(f"{retries} retr{'y' if retries == 1 else 'ies'}")
    if status == Status.ABORTED and REASON in item:
        reason = item[REASON]["S"].split(";", 1)[0]
        details.append(re.sub(r"arn:aws:states:\S+:execution:[^:\s]+:", "", reason))
    return f"ledger {status}" + (f" ({', '.join(details)})" if details else "")
