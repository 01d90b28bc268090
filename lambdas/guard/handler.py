"""The guard Lambda: a thin adapter between the state machine, the ledger and ``decide``.

``claim`` runs first in every execution and answers run or skip (with the reason);
``finish`` records how a run ended and releases the lease. Both take the job's settings
from the state machine (they are substituted into its definition at synth), so one code
asset serves every job while each job's function keeps IAM rights on its own machine only.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit

from lambdas import metrics_contract as names
from lambdas.clients import client
from lambdas.guard import outcome
from lambdas.guard.decision import (
    SKIP_STATUS,
    Decision,
    Lease,
    Policy,
    Snapshot,
    Verdict,
    decide,
)
from lambdas.guard.executions import Executions
from lambdas.guard.ledger import Abandoned, LedgerConflict, LedgerTable
from lambdas.guard.settings import GuardSettings
from lambdas.guard.tasks import RunTasks, TaskStop
from lambdas.guard.trigger import InvalidInput, Trigger, parse_trigger, shown
from lambdas.ledger_contract import Status

logger = Logger(service="cronguard-guard")
metrics = Metrics(namespace=names.NAMESPACE, service=names.SERVICE)

MAX_ROUNDS = 8
METRIC_BY_VERDICT = {
    Verdict.RUN: names.RUNS_STARTED,
    Verdict.DUPLICATE: names.SKIPPED_DUPLICATE,
    Verdict.OVERLAP: names.SKIPPED_OVERLAP,
    Verdict.LATE: names.SKIPPED_LATE,
}


@dataclass(frozen=True)
class Replaced:
    """A run whose lease the guard takes — stopped under ``replace``, or one that ended or
    whose lease expired — and how its task stopped."""

    lease: Lease
    stop: TaskStop | None
    by_replace: bool  # the guard stopped its execution


class GuardBusy(Exception):
    """The slot kept changing under the guard; the state machine retries the guard."""


def _field(raw: Mapping[str, Any], key: str, where: str) -> Any:
    if key not in raw:
        raise InvalidInput(f"{where}: '{key}' is missing")
    return raw[key]


def _seconds(raw: Mapping[str, Any], key: str, where: str) -> timedelta:
    value = _field(raw, key, where)
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise InvalidInput(f"{where}: '{key}' must be whole seconds, got {shown(value)}")
    return timedelta(seconds=value)


@dataclass(frozen=True)
class JobSettings:
    """The job's settings, substituted into its state machine's definition at synth."""

    name: str
    policy: Policy
    starting_deadline: timedelta | None
    lease: timedelta
    retention: timedelta
    container: str  # the job's container: its exit code is the run's
    task_family: str | None = None  # None: no ECS tasks to stop (decision-only tests)

    @classmethod
    def from_payload(cls, raw: Any) -> JobSettings:
        where = "job settings in the state machine definition"
        if not isinstance(raw, dict):
            raise InvalidInput(f"{where} are missing")
        try:
            policy = Policy(_field(raw, "concurrency", where))
        except ValueError:
            wrong = shown(raw["concurrency"])
            raise InvalidInput(f"{where}: unknown concurrency {wrong}") from None
        deadline = raw.get("startingDeadlineSeconds")
        return cls(
            name=str(_field(raw, "name", where)),
            policy=policy,
            starting_deadline=None
            if deadline is None
            else _seconds(raw, "startingDeadlineSeconds", where),
            lease=_seconds(raw, "leaseSeconds", where),
            retention=_seconds(raw, "retentionSeconds", where),
            container=str(_field(raw, "container", where)),
            task_family=str(_field(raw, "taskFamily", where)),
        )


@dataclass(frozen=True)
class Guard:
    ledger: LedgerTable
    executions: Executions
    tasks: RunTasks | None = None  # None: no ECS to reach (the decision-only tests)
    clock: Callable[[], datetime] | None = None

    def now(self) -> datetime:
        return self.clock() if self.clock else datetime.now(UTC)

    def claim(self, job: JobSettings, trigger: Trigger, me: str) -> Decision:
        running: dict[str, bool] = {}
        snapshot: Snapshot | None = None
        # A run whose lease this guard takes: remembered across rounds, because the cleanup
        # may settle it (and release its lease) before this guard's claim lands.
        replaced: Replaced | None = None
        for round_ in range(MAX_ROUNDS):
            now = self.now()
            if snapshot is None:
                snapshot = self.ledger.read(job.name, trigger.slot)
            decision = decide(
                policy=job.policy,
                trigger=trigger,
                me=me,
                now=now,
                starting_deadline=job.starting_deadline,
                snapshot=snapshot,
                running=running,
            )
            if decision.verdict is Verdict.CHECK:
                assert decision.check is not None
                running[decision.check] = self.executions.is_running(decision.check)
                continue
            holder = decision.take_over
            if holder is not None and (replaced is None or replaced.lease.holder != holder.holder):
                # Stop before claiming: if stopping fails nothing is held and the guard
                # retries. Launch only once the old task is gone, or both would run — a run
                # that ended, or whose lease expired, may still have a task (Step Functions'
                # own stop is best effort, and a state timeout stops nothing).
                replaced = self._end_holder(job, holder, me, replace=decision.stop_holder)
            try:
                self._apply(job, trigger, me, now, decision, replaced)
            except LedgerConflict:
                snapshot, running = None, {}
                time.sleep(random.uniform(0, 0.05 * (2**round_)))  # jitter, not crypto
                continue
            return decision
        raise GuardBusy(f"slot {trigger.slot} of {job.name} kept changing for {MAX_ROUNDS} rounds")

    def stop_tasks(self, job: JobSettings, execution: str, reason: str) -> TaskStop | None:
        """Stop the execution's ECS tasks and wait until they are STOPPED (bounded)."""
        if self.tasks is None or job.task_family is None:
            return None
        stop = self.tasks.stop(job.task_family, execution, reason=reason)
        log = logger.info if stop.settled else logger.warning
        log("run's tasks stopped", job=job.name, execution=execution, tasks=stop.summary)
        return stop

    def _end_holder(self, job: JobSettings, holder: Lease, me: str, *, replace: bool) -> Replaced:
        if replace:
            self.executions.stop(holder.holder, replaced_by=me)
        why = "replaced" if replace else "lease taken over"
        stop = self.stop_tasks(job, holder.holder, f"cronguard: {why} by {me}")
        return Replaced(holder, stop, by_replace=replace)

    def _apply(
        self,
        job: JobSettings,
        trigger: Trigger,
        me: str,
        now: datetime,
        decision: Decision,
        replaced: Replaced | None,
    ) -> None:
        if decision.verdict is Verdict.DUPLICATE:
            self.ledger.count_duplicate(job.name, trigger.slot)
        elif decision.verdict in SKIP_STATUS and decision.record:
            self.ledger.record_skip(
                job=job.name,
                slot=trigger.slot,
                me=me,
                now=now,
                retention=job.retention,
                status=SKIP_STATUS[decision.verdict],
                reason=decision.reason,
            )
        elif decision.verdict is Verdict.RUN and not decision.resume:
            abandon, wait = None, None
            stop = replaced.stop if replaced is not None else None
            found = f"; {stop.summary}" if stop is not None and stop.task_arns else ""
            if replaced is not None and replaced.by_replace:
                wait = stop.waited_seconds if stop else None
                why = f"replaced by {me}" + (f"; {stop.summary}" if stop else "")
                # The cleanup may have recorded the stop first: say who replaced it anyway.
                abandon = Abandoned(replaced.lease, Status.ABORTED, why, also_if_aborted=True)
            elif decision.take_over is not None:
                if decision.take_over.until <= now:
                    why = f"its lease expired; taken over by {me}{found}"
                else:
                    why = (
                        "its execution ended without recording an outcome; "
                        f"taken over by {me}{found}"
                    )
                abandon = Abandoned(decision.take_over, Status.ABORTED, why)
            self.ledger.claim(
                job=job.name,
                slot=trigger.slot,
                me=me,
                now=now,
                retention=job.retention,
                lease_for=None if job.policy is Policy.ALLOW else job.lease,
                attempt=trigger.attempt,
                forced=trigger.force,
                take_over=decision.take_over,
                overwrite=decision.overwrite,
                abandon=abandon,
                replace_wait=wait,
            )


def _guard(settings: GuardSettings) -> Guard:
    return Guard(
        LedgerTable(client("dynamodb"), settings.ledger_table),
        Executions(client("stepfunctions")),
        RunTasks(client("ecs"), settings.cluster_arn),
    )


def _execution(payload: dict[str, Any]) -> tuple[str, str]:
    execution = payload.get("execution")
    where = "the guard's payload"
    if not isinstance(execution, dict):
        raise InvalidInput(f"{where}: 'execution' is missing")
    return str(_field(execution, "id", where)), str(_field(execution, "name", where))


def _redrive_count(payload: dict[str, Any]) -> int:
    count = payload.get("redriveCount")
    return count if isinstance(count, int) and not isinstance(count, bool) else 0


def _claim(payload: dict[str, Any], settings: GuardSettings) -> dict[str, Any]:
    job = JobSettings.from_payload(payload.get("job"))
    me, name = _execution(payload)
    trigger = parse_trigger(payload.get("input"), name)
    decision = _guard(settings).claim(job, trigger, me)
    metrics.add_metric(METRIC_BY_VERDICT[decision.verdict], MetricUnit.Count, 1)
    logger.info(
        "guard decision",
        job=job.name,
        slot=trigger.slot,
        verdict=decision.verdict.value,
        reason=decision.reason,
        execution=me,
    )
    return {
        "action": "run" if decision.verdict is Verdict.RUN else "skip",
        "reason": decision.verdict.value if decision.verdict.skips else "claimed",
        "detail": decision.reason,
        "job": job.name,
        "slot": trigger.slot,
        "scheduledTime": trigger.scheduled_time.isoformat() if trigger.scheduled_time else None,
        "forced": trigger.force,
        # Run job compares it with the execution's own: a redrive goes back to the guard.
        "redriveCount": _redrive_count(payload),
    }


def _finish(payload: dict[str, Any], settings: GuardSettings) -> dict[str, Any]:
    job = JobSettings.from_payload(payload.get("job"))
    me, _ = _execution(payload)
    slot = str(_field(payload, "slot", "the guard's payload"))
    guard = _guard(settings)
    if payload.get("outcome") == "succeeded":
        ended = outcome.succeeded(payload.get("task"), container=job.container)
    else:
        ended = outcome.failed(payload.get("error"), container=job.container)
        # A state timeout does not stop the task (AWS promises a stop only when the execution
        # is stopped): make sure it is gone before the lease lets the next run start.
        stop = guard.stop_tasks(job, me, f"cronguard: run ended {ended.status.value}")
        if stop is not None:
            ended = ended.with_stop(stop)
    retries = payload.get("retries")
    retries = retries if isinstance(retries, int) and not isinstance(retries, bool) else 0
    now = datetime.now(UTC)
    started = guard.ledger.finish(
        job=job.name, slot=slot, me=me, now=now, outcome=ended, retries=retries
    )
    metrics.add_metric(names.status_metric(ended.status), MetricUnit.Count, 1)
    if started is not None:
        metrics.add_metric(names.RUN_DURATION, MetricUnit.Seconds, (now - started).total_seconds())
    # Retries of the Run job state: launch failures (and failed runs, if job_retries > 0).
    metrics.add_metric(names.LAUNCH_RETRIES, MetricUnit.Count, retries)
    logger.info(
        "run finished",
        job=job.name,
        slot=slot,
        status=ended.status.value,
        reason=ended.reason,
        exit_code=ended.exit_code,
        task_stop=ended.task_stop,
        recorded=started is not None,
    )
    return {
        "job": job.name,
        "slot": slot,
        "status": ended.status.value,
        "reason": ended.reason,
        "taskArn": ended.task_arn,
        "exitCode": ended.exit_code,
        "stoppedReason": ended.stopped_reason,
        "taskStop": ended.task_stop,
        "retries": retries,
    }


@metrics.log_metrics
@logger.inject_lambda_context
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    settings = GuardSettings.from_environ()
    metrics.add_dimension(names.ENVIRONMENT_DIMENSION, settings.environment)
    job = event.get("job") if isinstance(event, dict) else None
    metrics.add_dimension(
        names.JOB_DIMENSION, str(job.get("name")) if isinstance(job, dict) else "unknown"
    )
    action = event.get("action") if isinstance(event, dict) else None
    if action == "claim":
        return _claim(event, settings)
    if action == "finish":
        return _finish(event, settings)
    raise InvalidInput(f"unknown guard action {action!r}; expected 'claim' or 'finish'")
