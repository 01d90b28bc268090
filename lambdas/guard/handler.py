"""The guard Lambda: a thin adapter between the state machine, the ledger and ``decide``.

The ``claim`` action runs first in every execution and answers run or skip (with the
reason); ``finish`` records how a run ended and releases the lease. Both take the job's
settings from the state machine (they are substituted into its definition at synth), so one
code asset serves every job while each job's function keeps IAM rights on its own machine
only. The payloads' shapes are ``lambdas/core/guard_contract.py``'s; a key a request lacks is
``InvalidInput`` naming it.
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any, TypeVar, cast

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit

from lambdas.core import input_contract, outcome
from lambdas.core import metrics_contract as names
from lambdas.core.clients import client, on_first_use
from lambdas.core.emit import count, log_invocation_metrics
from lambdas.core.guard_contract import (
    CLAIM,
    FAILED,
    FINISH,
    SUCCEEDED,
    ClaimReply,
    ClaimRequest,
    Concurrency,
    ExecutionPayload,
    FinishFailed,
    FinishReply,
    FinishRequest,
    FinishSucceeded,
    JobPayload,
)
from lambdas.core.ledger import Abandoned, LedgerConflict, LedgerTable
from lambdas.core.ledger_contract import Status
from lambdas.core.outcome import Outcome
from lambdas.core.records import Lease, Snapshot
from lambdas.core.tasks import RunTasks, TaskStop
from lambdas.core.times import utc_now
from lambdas.core.trigger import InvalidInput, Trigger, parse_trigger, refuse_future, shown
from lambdas.guard.decision import SKIP_STATUS, Decision, Verdict, decide
from lambdas.guard.executions import Executions
from lambdas.guard.retry import RetryPolicy
from lambdas.guard.settings import GuardSettings

logger = Logger(service=names.GUARD_LOG_SERVICE)
metrics = Metrics(namespace=names.NAMESPACE, service=names.SERVICE)

MAX_ROUNDS = 8
METRIC_BY_VERDICT = {
    Verdict.RUN: names.RUNS_STARTED,
    Verdict.DUPLICATE: names.SKIPPED_DUPLICATE,
    Verdict.OVERLAP: names.SKIPPED_OVERLAP,
    Verdict.LATE: names.SKIPPED_LATE,
    Verdict.PAUSED: names.SKIPPED_PAUSED,
}


@dataclass(frozen=True)
class Replaced:
    """A run whose lease the guard takes — stopped under ``replace``, or one that ended or
    whose lease expired — and how its task stopped."""

    lease: Lease
    stop: TaskStop | None
    by_replace: bool  # the guard stopped its execution

    def unconfirmed(self, now: datetime) -> bool:
        """Its task is not confirmed STOPPED and its lease has not expired (the backstop)."""
        return self.stop is not None and self.stop.unconfirmed and self.lease.until > now

    def still_running_reason(self) -> str:
        stop = f": {self.stop.summary}" if self.stop is not None else ""
        return f"the run of {self.lease.slot} ({self.lease.holder}) may still run{stop}"


class GuardBusy(Exception):
    """The slot kept changing under the guard; the state machine retries the guard."""


Payload = TypeVar("Payload", bound=Mapping[str, Any])
WHERE = "the guard's payload"
JOB_WHERE = "job settings in the state machine definition"


def _missing(raw: Mapping[str, Any], shape: Any, where: str) -> list[str]:
    return [
        f"{where}: '{key}' is missing"
        for key in shape.__annotations__
        if key in shape.__required_keys__ and key not in raw
    ]


def _payload(raw: Any, shape: type[Payload], where: str) -> Payload:
    """``raw`` as ``shape`` (a TypedDict of the contract), once it holds every key ``shape``
    requires, and the job settings and execution it carries do too."""
    if not isinstance(raw, dict):
        raise InvalidInput(f"{where} must be a JSON object, got {type(raw).__name__}")
    problems = _missing(raw, shape, where)
    for key, nested, nested_where in (
        ("job", JobPayload, JOB_WHERE),
        ("execution", ExecutionPayload, f"{where}: 'execution'"),
    ):
        if key in raw and key in shape.__annotations__:
            if isinstance(raw[key], dict):
                problems += _missing(raw[key], nested, nested_where)
            else:
                problems.append(f"{nested_where} must be a JSON object, got {shown(raw[key])}")
    if problems:
        raise InvalidInput("; ".join(problems))
    return cast(Payload, raw)


def _seconds(raw: JobPayload, key: str) -> timedelta:
    value = raw.get(key)
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise InvalidInput(f"{JOB_WHERE}: '{key}' must be whole seconds, got {shown(value)}")
    return timedelta(seconds=value)


def _count(value: Any) -> int:
    """A count the state machine sends (a retry or redrive count); 0 when absent."""
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 0


@dataclass(frozen=True)
class JobSettings:
    """The job's settings, substituted into its state machine's definition at synth."""

    name: str
    concurrency: Concurrency
    starting_deadline: timedelta | None
    lease: timedelta
    retention: timedelta
    container: str  # the job's container: its exit code is the run's
    task_family: str | None = None  # None: no ECS tasks to stop (decision-only tests)
    renamed_from: str | None = None  # the job's name before a rename: its lease and slots count
    essential_sidecars: tuple[str, ...] = ()  # sidecars whose exit stops the task
    retry: RetryPolicy = field(default_factory=RetryPolicy)  # job_retries: what runs again

    @classmethod
    def from_payload(cls, raw: JobPayload) -> JobSettings:
        """The settings of a payload ``_payload`` checked (every key is there)."""
        try:
            concurrency = Concurrency(raw["concurrency"])
        except ValueError:
            wrong = shown(raw["concurrency"])
            raise InvalidInput(f"{JOB_WHERE}: unknown concurrency {wrong}") from None
        return cls(
            name=str(raw["name"]),
            concurrency=concurrency,
            starting_deadline=None
            if raw["startingDeadlineSeconds"] is None
            else _seconds(raw, "startingDeadlineSeconds"),
            lease=_seconds(raw, "leaseSeconds"),
            retention=_seconds(raw, "retentionSeconds"),
            container=str(raw["container"]),
            task_family=str(raw["taskFamily"]),
            renamed_from=str(raw["renamedFrom"]) if raw.get("renamedFrom") else None,
            essential_sidecars=tuple(str(name) for name in raw.get("essentialSidecars") or ()),
            retry=RetryPolicy.from_payload(raw.get("jobRetries")),
        )


@dataclass(frozen=True)
class Guard:
    ledger: LedgerTable
    executions: Executions
    tasks: RunTasks | None = None  # None: no ECS to reach (the decision-only tests)
    clock: Callable[[], datetime] = utc_now  # tests pass their own
    environment: str = ""  # the metrics' environment dimension

    def now(self) -> datetime:
        return self.clock()

    def run_or_skip(self, job: JobSettings, trigger: Trigger, me: str) -> Decision:
        """Decide on a fresh snapshot and write the decision, conditional on that snapshot;
        when another execution changed the slot or the lease in between, decide again.
        A slot in the future is ``InvalidInput``: nothing is read or held for it."""
        refuse_future(trigger, self.now())
        running: dict[str, bool] = {}
        snapshot: Snapshot | None = None
        # A run whose lease this guard takes: remembered across rounds, because the cleanup
        # may settle it (and release its lease) before this guard's claim lands.
        replaced: Replaced | None = None
        for round_ in range(MAX_ROUNDS):
            now = self.now()
            if snapshot is None:
                snapshot = self.ledger.read(job.name, trigger.slot, job.renamed_from)
            decision = decide(
                concurrency=job.concurrency,
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
            if holder is not None and replaced is not None and replaced.unconfirmed(now):
                # Its task may still run: launching now would run two copies. The lease
                # stays; the reconciler releases it once ECS says STOPPED.
                decision = Decision(Verdict.OVERLAP, replaced.still_running_reason())
            try:
                self._apply(job, trigger, me, now, decision, replaced)
            except LedgerConflict as conflict:
                # Decide again on the items the failed claim returned, else on a fresh read.
                snapshot, running = conflict.snapshot_after(snapshot), {}
                time.sleep(random.uniform(0, 0.05 * (2**round_)))  # jitter, not crypto
                continue
            return decision
        raise GuardBusy(f"slot {trigger.slot} of {job.name} kept changing for {MAX_ROUNDS} rounds")

    def finish(
        self,
        job: JobSettings,
        slot: str,
        me: str,
        ended: Outcome,
        *,
        retries: int,
        now: datetime,
        attempt: int = 1,
    ) -> tuple[Outcome, datetime | None]:
        """Record how the run ended and release its lease; returns the outcome recorded and
        when the run started (None: the slot was not its RUNNING run).

        A failed run's task may still run (a state timeout stops nothing; AWS promises a stop
        only when the execution is stopped): it is stopped and awaited first. If it is not
        confirmed STOPPED, the lease is kept, the slot says so, and ``TaskStopsUnconfirmed``
        counts it: the reconciler releases the lease once ECS says STOPPED."""
        keep_lease = False
        if ended.status is not Status.SUCCEEDED:
            stop = self.stop_tasks(job, me, f"cronguard: run ended {ended.status.value}")
            if stop is not None:
                ended = ended.with_stop(stop)
                keep_lease = stop.unconfirmed
        started = self.ledger.finish(
            job=job.name,
            slot=slot,
            me=me,
            now=now,
            outcome=ended,
            retries=retries,
            keep_lease=keep_lease,
            attempt=attempt,
        )
        if keep_lease:
            metrics.add_metric(names.TASK_STOPS_UNCONFIRMED, MetricUnit.Count, 1)  # per job
            count(names.TASK_STOPS_UNCONFIRMED, self.environment)  # the environment's alarm
            logger.warning("lease kept: the run's task is not confirmed STOPPED", job=job.name)
        return ended, started

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
            self.ledger.claim_slot(
                job=job.name,
                slot=trigger.slot,
                me=me,
                now=now,
                retention=job.retention,
                lease_for=None if job.concurrency is Concurrency.ALLOW else job.lease,
                attempt=trigger.attempt,
                forced=trigger.force,
                take_over=decision.take_over,
                overwrite=decision.overwrite,
                abandon=abandon,
                replace_wait=wait,
                renamed_from=job.renamed_from,
                overrides=json.dumps(trigger.overrides) if trigger.overrides else None,
            )


def _guard(settings: GuardSettings) -> Guard:
    """Every decision reads the ledger; Step Functions and ECS are reached only for an overlap,
    a replacement or a failed run, so their clients are created on first use (a cold start
    of a normal run creates only DynamoDB's)."""
    return Guard(
        LedgerTable(client("dynamodb"), settings.ledger_table),
        Executions(on_first_use("stepfunctions")),
        RunTasks(on_first_use("ecs"), settings.cluster_arn),
        environment=settings.environment,
    )


def _on_claim(event: Any, settings: GuardSettings) -> ClaimReply:
    payload = _payload(event, ClaimRequest, WHERE)
    job = JobSettings.from_payload(payload["job"])
    me, name = str(payload["execution"]["id"]), str(payload["execution"]["name"])
    declared = frozenset(str(variable) for variable in payload.get("variables") or ())
    trigger = _checked(parse_trigger(payload["input"], name), job, me, declared)
    decision = _guard(settings).run_or_skip(job, trigger, me)
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
        "redriveCount": _count(payload.get("redriveCount")),
        "overrides": input_contract.for_state_machine(trigger.overrides),
    }


def _checked(trigger: Trigger, job: JobSettings, me: str, declared: frozenset[str]) -> Trigger:
    """The trigger with its overrides checked against the job (``InvalidInput`` otherwise:
    nothing is claimed for a run that could not start as asked)."""
    if trigger.overrides is None:
        return trigger
    try:
        overrides = input_contract.check_overrides(
            trigger.overrides,
            declared=declared,
            container=job.container,
            own=input_contract.own_variables(job.name, trigger.slot, me),
        )
    except input_contract.InvalidOverrides as problem:
        raise InvalidInput(str(problem)) from None
    return replace(trigger, overrides=overrides)


def _finish_request(event: Any) -> FinishRequest:
    if isinstance(event, dict) and event.get("outcome") == SUCCEEDED:
        return _payload(event, FinishSucceeded, WHERE)
    payload = _payload(event, FinishFailed, WHERE)
    if payload["outcome"] != FAILED:
        raise InvalidInput(
            f"{WHERE}: unknown outcome {shown(payload['outcome'])}; "
            f"expected '{SUCCEEDED}' or '{FAILED}'"
        )
    return payload


def _on_finish(event: Any, settings: GuardSettings) -> FinishReply:
    payload = _finish_request(event)
    job = JobSettings.from_payload(payload["job"])
    me, slot = str(payload["execution"]["id"]), str(payload["slot"])
    guard = _guard(settings)
    if payload["outcome"] == SUCCEEDED:
        ended = outcome.succeeded(payload["task"], container=job.container)
    else:
        ended = outcome.failed(
            payload["error"], container=job.container, essential=job.essential_sidecars
        )
    retries = _count(payload.get("retries"))
    attempt = max(1, _count(payload.get("attempt")))
    now = utc_now()
    if payload["outcome"] == FAILED and job.retry.retries(
        ended, failed_with=_error_name(payload["error"]), attempt=attempt
    ):
        return _retry(guard, job, slot, me, ended, attempt=attempt, retries=retries, now=now)
    ended, started = guard.finish(job, slot, me, ended, retries=retries, now=now, attempt=attempt)
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


def _error_name(error: Any) -> str:
    return str(error.get("Error")) if isinstance(error, dict) else ""


def _retry(
    guard: Guard,
    job: JobSettings,
    slot: str,
    me: str,
    ended: Outcome,
    *,
    attempt: int,
    retries: int,
    now: datetime,
) -> FinishReply:
    """The attempt failed in a way ``job_retries`` retries: record it, keep the run and its
    lease, and tell the state machine how long to wait before running the job again."""
    guard.ledger.record_attempt(
        job=job.name, slot=slot, me=me, now=now, outcome=ended, attempt=attempt
    )
    wait = job.retry.wait_seconds(attempt)
    metrics.add_metric(names.JOB_RETRIES, MetricUnit.Count, 1)
    logger.info(
        "attempt failed; retried",
        job=job.name,
        slot=slot,
        attempt=attempt,
        exit_code=ended.exit_code,
        stop_code=ended.stop_code,
        wait_seconds=wait,
    )
    return {
        "job": job.name,
        "slot": slot,
        "status": Status.RUNNING.value,
        "reason": f"{ended.reason}; attempt {attempt} of {job.retry.max + 1}, retried",
        "taskArn": ended.task_arn,
        "exitCode": ended.exit_code,
        "stoppedReason": ended.stopped_reason,
        "taskStop": None,
        "retries": retries,
        "retryInSeconds": wait,
    }


@log_invocation_metrics(metrics)
@logger.inject_lambda_context
def lambda_handler(event: Any, context: Any) -> ClaimReply | FinishReply:
    settings = GuardSettings.from_environ()
    metrics.add_dimension(names.ENVIRONMENT_DIMENSION, settings.environment)
    job = event.get("job") if isinstance(event, dict) else None
    metrics.add_dimension(
        names.JOB_DIMENSION, str(job.get("name")) if isinstance(job, dict) else "unknown"
    )
    expected = f"expected '{CLAIM}' or '{FINISH}'"
    if not isinstance(event, dict) or "action" not in event:
        raise InvalidInput(f"{WHERE}: 'action' is missing; {expected}")
    if event["action"] == CLAIM:
        return _on_claim(event, settings)
    if event["action"] == FINISH:
        return _on_finish(event, settings)
    raise InvalidInput(f"unknown guard action {shown(event['action'])}; {expected}")
