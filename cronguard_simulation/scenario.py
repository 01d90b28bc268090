"""The main job's simulation: a burst of duplicate triggers collapses into one run.

Against one job of a synthesized environment, on the local engine:

1. a burst of triggers for one slot, as a misbehaving schedule would send them;
2. the job's next slot, while the first run still runs: ``forbid`` skips it as an overlap,
   ``replace`` stops the first run and then runs it, ``allow`` runs both at once;
3. a late duplicate of the first slot, after its run finished (a lock could not stop it);
4. a run whose container exits 3 (on every attempt, when the job has ``job_retries`` of
   every exit code; once, with an exit code its ``job_retries`` does not retry);
5. with ``job_retries``, a run that exits a code it retries once and succeeds when retried;
6. a person's run of the next slot with an override (``cronguard run JOB --slot S --var
   RUN_REASON=…``, its own code): the task gets the variable, the ledger records it;
7. a missed slot: its trigger is never delivered. The real slot watch (``watch``, with the
   manifest synth wrote into its layer) checks on a simulated clock, once the slot's grace
   has passed: it records the slot ``MISSED``, counts it (``MissedSlots``) and starts it
   (its ``catch_up``; turned on here for a job that has none); a check after that reports
   and starts nothing again, and Scheduler's own delivery, arriving last, is a duplicate;
8. ``cronguard pause`` (its own code): the next trigger is skipped as paused; ``cronguard
   resume``: the one after runs, and the slot watch reports no slot missed.

With ``alert_after``, while the first run still runs, the slot watch's running-long check
(``check_running_long``, which each of its checks runs first) on a simulated clock: not yet a
second before ``alert_after``, once a second after it (``RunningLong``), not again at the
watch's next check. Only that check is run at those moments: a whole check an hour ahead
would find the slots of that hour missed.

The slots are the job's latest ones (the guard refuses a slot in the future), played in
seconds: each trigger is the input a replay of its slot sends (``{"scheduledTime": …}``,
without Scheduler's attempt number), since a day-old slot delivered by Scheduler now would be
skipped as late by a job's starting deadline. Each slot's ECS tasks are scripted for that
slot (by ``CRONGUARD_SLOT``), so which execution starts a task first never changes what the
task does. It prints what each execution decided
and how it ended, then checks the guarantees and says which, if any, failed.
"""

from __future__ import annotations

import contextlib
import io
import json
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from functools import cached_property
from pathlib import Path
from typing import Any

import boto3

from cronguard.config import Concurrency, Environment, Job
from cronguard.config.model import format_duration
from cronguard.operations import pause as pause_command
from cronguard.operations.environment import Operations
from cronguard_simulation.deploy import AssemblyError, LocalEnvironment
from cronguard_simulation.engine import StartedTask, TaskScript
from lambdas.core import metrics_contract as metrics
from lambdas.core.execution_contract import CATCH_UP, replay_names
from lambdas.core.guard_contract import job_of_definition
from lambdas.core.input_contract import OVERRIDE_PREFIX, Overrides
from lambdas.core.ledger_contract import (
    ATTEMPTS,
    EXIT_CODE,
    OVERRIDES,
    REASON,
    RETRIES,
    RUNNING_LONG_AT,
    STATUS,
    Status,
)
from lambdas.core.schedule import upcoming_slots
from lambdas.core.times import EARLIEST, slot_key
from lambdas.guard.retry import RetryPolicy
from lambdas.slot_watch.handler import JobReport, watch
from lambdas.slot_watch.manifest import FILE_NAME, Manifest, ManifestError, WatchedJob, parse
from lambdas.slot_watch.running_long import check_running_long, held_lease

FAILING_EXIT_CODE = 3
SHORT_TASK_SECONDS = 0.1  # every run but the first: a task, not a wait
FIRST_RUN_SECONDS = 1.0  # the first run: at least this long, and until the next slot is decided
RUN_WAIT_SECONDS = 120  # the longest step: a failing run with job_retries 5, retries compressed


CATCH_UP_STEP = "catch up"
"""The step of a run started for a missed slot (the report draws it as missed → caught up)."""
LATE_DELIVERY_STEP = "late delivery"  # Scheduler's own delivery of the missed slot, at last
RETRIED_STEP = "retried run"
OVERRIDDEN_STEP = "overridden run"
OVERRIDE_VARIABLE = f"{OVERRIDE_PREFIX}REASON"  # a variable a person may set on any job's run
OVERRIDE_VALUE = "re-run by hand (simulated)"
PAUSED_STEP = "paused"
RESUMED_STEP = "resumed"
PAUSE_REASON = "simulated maintenance"
CATCH_UP_WINDOW = timedelta(hours=6)
"""The missed slot's catch-up window when the job configures none (``catch_up: {window}``)."""


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


def latest_slots(expression: str, timezone: str, *, until: datetime, count: int) -> list[datetime]:
    """The schedule's last ``count`` slots at or before ``until``, oldest first (a rate
    schedule's counted from a start of its own, as Scheduler counts from its creation)."""
    window = timedelta(minutes=1)
    while True:  # widen the window until it holds ``count`` slots
        start = until - window
        batch = upcoming_slots(expression, timezone, after=start, count=count, anchor=start)
        if len(batch) == count and batch[-1] <= until:
            break
        if start - window < EARLIEST:
            raise ValueError(f"{expression} has fewer than {count} slots before {until}")
        window *= 2
    found: list[datetime] = []
    while True:
        found += [moment for moment in batch if moment <= until]
        if len(batch) < count or batch[-1] >= until:
            return found[-count:]
        batch = upcoming_slots(expression, timezone, after=batch[-1], count=count, anchor=start)


def deployed_manifest(assembly: Path, stack_name: str) -> Manifest:
    """The slot watch's ``jobs.json`` as synth wrote it into the watch's layer: the layer
    version's asset in the environment's template, found through the assembly's assets."""
    template = json.loads((assembly / f"{stack_name}.template.json").read_text())
    assets = json.loads((assembly / f"{stack_name}.assets.json").read_text())["files"]
    for resource in template["Resources"].values():
        if resource["Type"] != "AWS::Lambda::LayerVersion":
            continue
        asset = assets.get(str(resource["Properties"]["Content"]["S3Key"]).removesuffix(".zip"))
        if asset is None:
            continue
        path = assembly / asset["source"]["path"] / FILE_NAME
        if path.exists():
            try:
                return parse(path.read_bytes())
            except ManifestError as error:
                raise AssemblyError(f"{path}: {error}") from None
    raise AssemblyError(
        f"{assembly} has no slot watch manifest ({FILE_NAME}) for {stack_name}: re-synthesize "
        "it with `npx cdk synth` (or `make synth`)"
    )


def watch_job(
    local: LocalEnvironment, manifest: Manifest, watched: WatchedJob, now: datetime
) -> JobReport:
    """One check of the real slot watch (``lambdas/slot_watch``) at ``now``, of ``watched``
    alone, against the job as deployed in the local engine."""
    machine = local.jobs[watched.name].state_machine_arn
    result = watch(
        local.aws.dynamodb,
        local.aws.sfn,
        local.ledger_table,
        replace(manifest, jobs=(watched,)),
        now=now,
        state_machine_arn_prefix=machine.removesuffix(watched.state_machine),
    )
    if result.errors:
        raise RuntimeError(f"the slot watch could not check {watched.name}: {result.errors}")
    (report,) = result.reports
    return report


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
        task_seconds: float = FIRST_RUN_SECONDS,
        progress: Callable[[str], None] = lambda message: None,
        manifest: Manifest | None = None,
    ) -> None:
        """``manifest``: the slot watch's (``deployed_manifest``; read from the local
        environment's assembly when not given)."""
        self.local = local
        self.aws = local.aws
        self.job = job
        self.deployed = local.jobs[job.name]
        self.manifest = manifest or deployed_manifest(local.assembly, local.environment.stack_name)
        found = [watched for watched in self.manifest.jobs if watched.name == job.name]
        if not found:
            raise AssemblyError(f"the slot watch's {FILE_NAME} has no job {job.name}")
        # Watched as deployed; a disabled job (which the watch skips) as if enabled, and
        # catch_up on for a job that has none, so the missed slot is caught up by the watch.
        self.watched: WatchedJob = replace(
            found[0], enabled=True, catch_up=found[0].catch_up or CATCH_UP_WINDOW
        )
        self.burst = burst
        self.task_seconds = task_seconds
        self.progress = progress
        self.rows: list[Row] = []
        self._stamp = datetime.now(UTC).strftime("%H%M%S")
        self.retry_policy = self._deployed_retry_policy()
        self.failing_exit, self.failing_attempts, self.retried_exit = failing_and_retried_exits(
            self.retry_policy
        )

    def _deployed_retry_policy(self) -> RetryPolicy:
        """``job_retries`` as the deployed state machine hands it to the guard."""
        definition = self.aws.sfn.describe_state_machine(
            stateMachineArn=self.deployed.state_machine_arn
        )["definition"]
        return RetryPolicy.from_payload(job_of_definition(definition).get("jobRetries"))

    @cached_property
    def operations(self) -> Operations:
        """What the CLI's commands run against the (local) environment."""
        session = boto3.Session(region_name=self.aws.region)
        return Operations(self.local.environment, session=session)

    def _start(self, step: str, slot: datetime, index: int, **extra: Any) -> tuple[str, str]:
        name = f"{step.replace(' ', '-')}-{self._stamp}-{index}"
        run_input = {"scheduledTime": slot_text(slot), **extra}
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
        # The job's latest slots: the guard refuses a slot in the future.
        slots = latest_slots(self.job.schedule, self.job.timezone, until=datetime.now(UTC), count=8)
        first, following, failing, flaky = slots[:4]
        retries = self.retry_policy.max
        # The overridden slot, the missed one, the paused one and the resumed one follow the
        # last slot used.
        used = 4 if self.retried_exit is not None else 3
        overridden, missed, paused, resumed = slots[used : used + 4]
        # The first run lasts until the next slot has been decided: that slot must find it
        # running, however long a loaded machine takes to get there.
        next_decided = threading.Event()
        self._script(first, TaskScript(duration_seconds=self.task_seconds, held_by=next_decided))
        self._script(following, TaskScript(duration_seconds=SHORT_TASK_SECONDS))
        fails = TaskScript(duration_seconds=SHORT_TASK_SECONDS, exit_code=self.failing_exit)
        self._script(failing, *[fails] * self.failing_attempts)
        if self.retried_exit is not None:
            once = TaskScript(duration_seconds=SHORT_TASK_SECONDS, exit_code=self.retried_exit)
            self._script(flaky, once, TaskScript(duration_seconds=SHORT_TASK_SECONDS))
        self._script(overridden, TaskScript(duration_seconds=SHORT_TASK_SECONDS))
        self._script(missed, TaskScript(duration_seconds=SHORT_TASK_SECONDS))
        self._script(resumed, TaskScript(duration_seconds=SHORT_TASK_SECONDS))

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

        try:
            self._wait_for_task()
            running_long = self._running_long() if self.watched.alert_after else []
            self.progress(f"the next slot {slot_text(following)} arrives while the run still runs")
            step, arn = self._start("next slot", following, 0)
            started.append((step, arn, following))
            self.aws.wait(arn, timeout=RUN_WAIT_SECONDS)
        finally:
            next_decided.set()
        for _, arn, _ in started:  # every record final (a replaced run's too) before reading
            self.aws.wait(arn, timeout=RUN_WAIT_SECONDS)
        for step, arn, slot in started:
            self.rows.append(self._row(step, arn, slot))

        self.progress(f"a late duplicate of {slot_text(first)}, after its run finished")
        step, arn = self._start("late duplicate", first, self.burst)
        self.rows.append(self._row(step, arn, first))

        if self.failing_attempts > 1:
            attempts = f" on each of its {self.failing_attempts} attempts"
        elif retries:
            attempts = f", which job_retries ({self.job.job_retries}) does not retry"
        else:
            attempts = ""
        self.progress(f"slot {slot_text(failing)}: the job exits {self.failing_exit}{attempts}")
        step, arn = self._start("failing run", failing, 0)
        self.rows.append(self._row(step, arn, failing))

        if self.retried_exit is not None:
            self.progress(
                f"slot {slot_text(flaky)}: the job exits {self.retried_exit} once, "
                f"then succeeds (job_retries {self.job.job_retries})"
            )
            step, arn = self._start(RETRIED_STEP, flaky, 0)
            self.rows.append(self._row(step, arn, flaky))

        checks = running_long + self._checks(first, following, failing, flaky)
        checks.append(self._overridden_run(overridden))
        checks += self._missed_slot(overridden, missed)
        checks += self._pause_and_resume(paused, resumed)
        checks.append(self._lease_check())
        return Result(self.job.name, self.rows, checks)

    def _watch(self, now: datetime) -> JobReport:
        """One check of the real slot watch at the simulated time ``now``, of this job."""
        return watch_job(self.local, self.manifest, self.watched, now)

    def _missed_slot(self, before: datetime, missed: datetime) -> list[Check]:
        """The slot after ``before`` is never delivered: reported, caught up once, and its
        late delivery deduplicated."""
        grace = self.watched.schedule.grace
        slot = slot_text(missed)
        self._watch(before + timedelta(seconds=1))  # the watch watches the job from here on
        self.progress(
            f"slot {slot}: its trigger is never delivered; the slot watch checks "
            f"{int(grace.total_seconds())} s after it (its grace), on a simulated clock"
        )
        reported = self._watch(missed + grace + timedelta(seconds=1))
        name = replay_names(CATCH_UP, slot)[0]
        caught_up = None
        if slot in reported.caught_up:
            self.progress(
                f"the slot watch recorded {slot} MISSED (MissedSlots {reported.reported}) and "
                f"started {name}"
            )
            arn = self.deployed.state_machine_arn.replace(":stateMachine:", ":execution:")
            caught_up = self._row(CATCH_UP_STEP, f"{arn}:{name}", missed)
            self.rows.append(caught_up)
        again = self._watch(missed + grace + timedelta(seconds=2))
        self.progress(f"Scheduler's own delivery of {slot} finally arrives")
        step, arn = self._start(LATE_DELIVERY_STEP, missed, 0)
        late = self._row(step, arn, missed)
        self.rows.append(late)

        tasks = self._tasks(missed)
        item = self.local.slot_item(self.job.name, slot) or {}
        found = "MISSED" if slot in reported.missed else "not reported"
        ran = caught_up.outcome.split(" · ")[0] if caught_up else "not started"
        return [
            Check(
                "at least once: a trigger never delivered was reported missed and caught up once",
                reported.missed == [slot]
                and reported.reported == 1
                and caught_up is not None
                and caught_up.outcome.startswith("SUCCEEDED")
                and _ledger_status(item) == Status.SUCCEEDED
                and len(tasks) == 1
                and (again.missed, again.caught_up) == ([], []),
                f"{found} · MissedSlots {reported.reported} · {name} {ran}, {len(tasks)} task(s)",
            ),
            Check(
                "the missed slot's late delivery was skipped as a duplicate",
                (late.decision, late.reason) == ("skip", "duplicate") and len(tasks) == 1,
                f"{late.decision} ({late.reason})",
            ),
        ]

    def _pause_and_resume(self, paused: datetime, resumed: datetime) -> list[Check]:
        """``cronguard pause``, a trigger skipped as paused, ``cronguard resume``, the next
        trigger runs; and the slot watch does not report the skipped slot as missed."""
        operations = self.operations
        self.progress(f"cronguard pause {self.job.name} --reason '{PAUSE_REASON}'")
        pause_command.pause(operations, self.job, PAUSE_REASON)
        self.progress(f"slot {slot_text(paused)} arrives while the job is paused")
        step, arn = self._start(PAUSED_STEP, paused, 0)
        skipped = self._row(step, arn, paused)
        self.rows.append(skipped)
        final = self._final_state(arn)
        self.progress(f"cronguard resume {self.job.name}; slot {slot_text(resumed)} arrives")
        pause_command.resume(operations, self.job)
        step, arn = self._start(RESUMED_STEP, resumed, 0)
        ran = self._row(step, arn, resumed)
        self.rows.append(ran)
        report = self._watch(resumed + self.watched.schedule.grace + timedelta(seconds=1))

        item = self.local.slot_item(self.job.name, slot_text(paused)) or {}
        recorded = _ledger_status(item)
        has_reason = PAUSE_REASON in item.get(REASON, {}).get("S", "")
        missed = ", ".join(report.missed) or "none"
        return [
            Check(
                "pause: a trigger of the paused job was skipped, with the reason in the ledger",
                (skipped.decision, skipped.reason) == ("skip", "paused")
                and final == "Skipped: paused"
                and recorded == Status.SKIPPED_PAUSED
                and has_reason
                and not self._tasks(paused),
                f"{final} · ledger {recorded}" + (f" ({PAUSE_REASON})" if has_reason else ""),
            ),
            Check(
                "resume: the next slot ran, and the slot skipped while paused is not missed",
                ran.decision == "run"
                and ran.outcome.startswith("SUCCEEDED")
                and report.missed == []
                and not report.silent,
                f"{ran.outcome.split(' · ')[0]} · missed: {missed}",
            ),
        ]

    def _running_long(self) -> list[Check]:
        """The running-long check of the slot watch, against the first run while it holds the
        job's lease, at moments of a simulated clock counted from when the run claimed it."""
        after = self.watched.alert_after
        assert after is not None
        shown = format_duration(after)
        guarantee = (
            f"running long: a run still running {shown} (alert_after) after it started was "
            "alerted once"
        )
        lease = self.local.lease(self.job.name)
        held = held_lease(lease, datetime.now(UTC)) if lease is not None else None
        if held is None:
            return [Check(guarantee, False, "no run holds the job's lease")]

        def check(offset: timedelta) -> tuple[bool, int]:
            """Whether the check marked the run, and the RunningLong it published (its EMF
            record, which CloudWatch turns into the metric the job's alarm watches)."""
            published = io.StringIO()
            with contextlib.redirect_stdout(published):
                marked = check_running_long(
                    self.aws.dynamodb,
                    self.local.ledger_table,
                    self.watched,
                    self.local.lease(self.job.name),
                    environment=self.manifest.environment,
                    now=held.acquired + after + offset,
                )
            return marked, _counted(published.getvalue(), metrics.RUNNING_LONG, self.job.name)

        self.progress(
            f"the run of {held.slot} is still running {shown} after it started (alert_after; "
            "a simulated clock): the slot watch checks its lease"
        )
        early = check(-timedelta(seconds=1))
        alerted = check(timedelta(seconds=1))
        again = check(timedelta(minutes=5))  # the watch's next check
        marked = RUNNING_LONG_AT in (self.local.lease(self.job.name) or {})

        def said(result: tuple[bool, int]) -> str:
            return f"{metrics.RUNNING_LONG} {result[1]}" if result[1] else "nothing"

        return [
            Check(
                guarantee,
                (early, alerted, again) == ((False, 0), (True, 1), (False, 0)) and marked,
                f"{shown} - 1 s: {said(early)} · {shown} + 1 s: {said(alerted)} · "
                f"5 min later: {said(again)}",
            )
        ]

    def _overridden_run(self, slot: datetime) -> Check:
        """A person runs ``slot`` with a variable of their own (``cronguard run --var``)."""
        overrides: Overrides = {"environment": {OVERRIDE_VARIABLE: OVERRIDE_VALUE}}
        self.progress(
            f"cronguard run {self.job.name} --slot {slot_text(slot)} "
            f"--var {OVERRIDE_VARIABLE}='{OVERRIDE_VALUE}'"
        )
        arn, _ = self.operations.start_run(self.job, slot, False, overrides=overrides)
        self.progress(f"started {arn.rsplit(':', 1)[-1]}")
        row = self._row(OVERRIDDEN_STEP, arn, slot)
        row = replace(row, reason=f"claimed · --var {OVERRIDE_VARIABLE}")
        self.rows.append(row)
        tasks = self._tasks(slot)
        item = self.local.slot_item(self.job.name, slot_text(slot)) or {}
        recorded = json.loads(item.get(OVERRIDES, {}).get("S", "null"))
        seen = [task.environment.get(OVERRIDE_VARIABLE) for task in tasks]
        return Check(
            "a person's run with an override: the job's container got it, the ledger records it",
            row.outcome.startswith("SUCCEEDED")
            and seen == [OVERRIDE_VALUE]
            and recorded == overrides,
            f"{row.outcome.split(' · ')[0]} · task {OVERRIDE_VARIABLE}={seen[0] if seen else '-'}"
            f" · ledger overrides {json.dumps(recorded)}",
        )

    def _final_state(self, execution_arn: str) -> str:
        """The last state the execution entered (what the console graph shows)."""
        entered = [
            event["stateEnteredEventDetails"]["name"]
            for event in self.aws.history(execution_arn)
            if event["type"].endswith("StateEntered")
        ]
        return str(entered[-1]) if entered else "-"

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
        attempts = self.failing_attempts
        if attempts > 1:
            attempted = f" (after {attempts} attempts)"
        elif self.retry_policy.max:
            attempted = f", not retried (job_retries {self.job.job_retries})"
        else:
            attempted = ""
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
                f"honest outcome: exit {self.failing_exit} failed the execution and is in the "
                f"ledger{attempted}",
                failed.outcome.startswith("FAILED")
                and _ledger_status(failed_item) == Status.FAILED
                and failed_item.get(EXIT_CODE, {}).get("N") == str(self.failing_exit)
                and len(self._tasks(failing)) == attempts,
                f"{failed.outcome}, {len(self._tasks(failing))} task(s)",
            ),
        ]
        if self.retried_exit is not None:
            retried = self._step(RETRIED_STEP)
            retried_item = self.local.slot_item(self.job.name, slot_text(flaky)) or {}
            exits = [task.exit_code for task in self._tasks(flaky)]
            recorded = _attempt_exit_codes(retried_item)
            checks.append(
                Check(
                    f"job_retries {self.job.job_retries}: a run that exited {self.retried_exit} "
                    "once was retried and succeeded",
                    retried.outcome.startswith("SUCCEEDED")
                    and _ledger_status(retried_item) == Status.SUCCEEDED
                    and retried_item.get(RETRIES, {}).get("N") == "1"
                    and exits == [self.retried_exit, 0]
                    and recorded == exits,
                    f"{retried.outcome} · attempts' exit codes in the ledger: "
                    + ", ".join(map(str, recorded)),
                )
            )
        return checks

    def _lease_check(self) -> Check:
        lease_free = self.local.lease(self.job.name) is None
        return Check(
            "no stuck lock: nothing is held at the end",
            lease_free,
            "lease free" if lease_free else "lease still held",
        )

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


def failing_and_retried_exits(policy: RetryPolicy) -> tuple[int, int, int | None]:
    """The failing run's exit code and how many attempts it gets under ``policy``, and the
    exit code the retried run fails with once (None: the job retries nothing). A job that
    retries every exit code fails on every attempt; one that retries some fails at once with
    an exit code it does not retry."""
    if not policy.max:
        return FAILING_EXIT_CODE, 1, None
    codes = range(1, 256)
    not_retried = (FAILING_EXIT_CODE, *sorted(policy.except_exit_codes), *codes)
    retried = (FAILING_EXIT_CODE, *sorted(policy.on_exit_codes or ()), *codes)
    fails = next((code for code in not_retried if not policy.retries_exit_code(code)), None)
    once = next((code for code in retried if policy.retries_exit_code(code)), None)
    if fails is None:
        return FAILING_EXIT_CODE, policy.max + 1, once
    return fails, 1, once


def _counted(emitted: str, metric: str, job: str) -> int:
    """How much of ``metric`` the EMF records in ``emitted`` (stdout) count for ``job``."""
    total = 0
    for line in emitted.splitlines():
        record = json.loads(line) if line.startswith("{") else {}
        if "_aws" in record and record.get(metrics.JOB_DIMENSION) == job:
            value = record.get(metric, 0)  # a list of values, or one
            total += int(sum(value) if isinstance(value, list) else value)
    return total


def _attempt_exit_codes(item: dict[str, Any]) -> list[int | None]:
    """The exit code of each attempt the slot's record lists (``ATTEMPTS``)."""
    return [
        int(attempt["M"][EXIT_CODE]["N"]) if EXIT_CODE in attempt["M"] else None
        for attempt in item.get(ATTEMPTS, {}).get("L", [])
    ]


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
