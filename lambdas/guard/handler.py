"""The guard Lambda: a thin adapter between the state machine, the ledger and ``decide``.

``claim`` runs first in every execution and answers run or skip (with the reason);
``finish`` records how a run ended and releases the lease. Both take the job's settings
from the state machine (they are substituted into its definition at synth), so one code
asset serves every job while each job's function keeps IAM rights on its own machine only.
"""

from __future__ import annotations

import os
import random
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit

from lambdas.clients import client
from lambdas.guard import outcome
from lambdas.guard.decision import (
    SKIP_STATUS,
    Decision,
    Policy,
    Snapshot,
    Status,
    Verdict,
    decide,
)
from lambdas.guard.executions import Executions
from lambdas.guard.ledger import LedgerConflict, LedgerTable
from lambdas.guard.trigger import InvalidInput, Trigger, parse_trigger

logger = Logger(service="cronguard-guard")
# One service name for every cronguard Lambda: dashboards and alarms match on it.
metrics = Metrics(namespace="cronguard", service="cronguard")

MAX_ROUNDS = 8
METRIC_BY_VERDICT = {
    Verdict.RUN: "RunsStarted",
    Verdict.DUPLICATE: "SkippedDuplicate",
    Verdict.OVERLAP: "SkippedOverlap",
    Verdict.LATE: "SkippedLate",
}


def status_metric(status: Status) -> str:
    """``RunsSucceeded``, ``RunsFailed``, ``RunsTimedOut``, ``RunsAborted``."""
    return "Runs" + status.value.title().replace("_", "")


class GuardBusy(Exception):
    """The slot kept changing under the guard; the state machine retries the guard."""


@dataclass(frozen=True)
class JobSettings:
    name: str
    policy: Policy
    starting_deadline: timedelta | None
    lease: timedelta
    retention: timedelta

    @classmethod
    def from_payload(cls, raw: Any) -> JobSettings:
        if not isinstance(raw, dict):
            raise InvalidInput("job settings missing from the state machine definition")
        deadline = raw.get("startingDeadlineSeconds")
        return cls(
            name=str(raw["name"]),
            policy=Policy(raw["concurrency"]),
            starting_deadline=None if deadline is None else timedelta(seconds=int(deadline)),
            lease=timedelta(seconds=int(raw["leaseSeconds"])),
            retention=timedelta(seconds=int(raw["retentionSeconds"])),
        )


@dataclass(frozen=True)
class Guard:
    ledger: LedgerTable
    executions: Executions
    clock: Any = None

    def now(self) -> datetime:
        return self.clock() if self.clock else datetime.now(UTC)

    def claim(self, job: JobSettings, trigger: Trigger, me: str) -> Decision:
        holder_running: bool | None = None
        snapshot: Snapshot | None = None
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
                holder_running=holder_running,
            )
            if decision.verdict is Verdict.CHECK_HOLDER:
                assert snapshot.lease is not None
                holder_running = self.executions.is_running(snapshot.lease.holder)
                continue
            try:
                self._apply(job, trigger, me, now, decision)
            except LedgerConflict:
                snapshot, holder_running = None, None
                time.sleep(random.uniform(0, 0.05 * (2**round_)))  # jitter, not crypto
                continue
            return decision
        raise GuardBusy(f"slot {trigger.slot} of {job.name} kept changing for {MAX_ROUNDS} rounds")

    def _apply(
        self, job: JobSettings, trigger: Trigger, me: str, now: datetime, decision: Decision
    ) -> None:
        if decision.verdict is Verdict.DUPLICATE:
            self.ledger.count_duplicate(job.name, trigger.slot)
        elif decision.verdict in SKIP_STATUS:
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
            if decision.stop_holder and decision.take_over is not None:
                # Stop before claiming: if stopping fails nothing is held and the guard retries.
                self.executions.stop(decision.take_over.holder, replaced_by=me)
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
                replacing=decision.take_over if decision.stop_holder else None,
            )


def _guard() -> Guard:
    table = os.environ["LEDGER_TABLE"]
    return Guard(LedgerTable(client("dynamodb"), table), Executions(client("stepfunctions")))


def _execution(payload: dict[str, Any]) -> tuple[str, str]:
    execution = payload.get("execution") or {}
    return str(execution["id"]), str(execution["name"])


def _claim(payload: dict[str, Any]) -> dict[str, Any]:
    job = JobSettings.from_payload(payload.get("job"))
    me, name = _execution(payload)
    trigger = parse_trigger(payload.get("input"), name)
    decision = _guard().claim(job, trigger, me)
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
    }


def _finish(payload: dict[str, Any]) -> dict[str, Any]:
    job = JobSettings.from_payload(payload.get("job"))
    me, _ = _execution(payload)
    slot = str(payload["slot"])
    ended = (
        outcome.succeeded(payload.get("task"))
        if payload.get("outcome") == "succeeded"
        else outcome.failed(payload.get("error"))
    )
    now = datetime.now(UTC)
    started = _guard().ledger.finish(job=job.name, slot=slot, me=me, now=now, outcome=ended)
    metrics.add_metric(status_metric(ended.status), MetricUnit.Count, 1)
    if started is not None:
        metrics.add_metric("RunDuration", MetricUnit.Seconds, (now - started).total_seconds())
    retries = payload.get("retries")
    retries = retries if isinstance(retries, int) and not isinstance(retries, bool) else 0
    # Retries of the Run job state: launch failures (and failed runs, if job_retries > 0).
    metrics.add_metric("LaunchRetries", MetricUnit.Count, retries)
    logger.info(
        "run finished",
        job=job.name,
        slot=slot,
        status=ended.status.value,
        reason=ended.reason,
        exit_code=ended.exit_code,
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
        "retries": retries,
    }


@metrics.log_metrics
@logger.inject_lambda_context
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    metrics.add_dimension("environment", os.environ.get("CRONGUARD_ENV", "unknown"))
    job = event.get("job") if isinstance(event, dict) else None
    metrics.add_dimension("job", str(job.get("name")) if isinstance(job, dict) else "unknown")
    action = event.get("action") if isinstance(event, dict) else None
    if action == "claim":
        return _claim(event)
    if action == "finish":
        return _finish(event)
    raise InvalidInput(f"unknown guard action {action!r}; expected 'claim' or 'finish'")
