"""Cleanup of executions that ended outside the state machine's own paths, and its backstop.

Paths inside the state machine release the lease on success and in its Catch; an execution
stopped by hand, timed out as a whole, or failed outside a Catch never reaches them. Two
things invoke this Lambda:

- "Step Functions Execution Status Change" (ABORTED, TIMED_OUT, FAILED): it makes sure the
  execution's ECS task is stopped, records how the run ended and releases the lease, so the
  next slot does not wait for the lease to expire;
- a schedule (the *reconciler*): those events are delivered on a best-effort basis, so it
  reads the ledger's items of runs in progress (the sparse ``running`` index) and settles
  every one whose execution has ended, as the event would have. It reports how many it fixed;
  an execution it cannot read, it names in its error (``ReconcileIncomplete``) after settling
  the others.

A run whose state machine is deleted under it (its job removed or renamed, or moved to
another job stack) is settled by both: no state of it can record anything any more, and
Step Functions ends the execution only at its next transition, leaving the ECS task running.
The reconciler finds such a run while it still runs (its state machine is ``DELETING``), the
status-change event and the reconciler once it failed that way (``ended_by_deletion``): its
task is stopped and awaited, and its slot recorded as it really ended (``of_removed_run``).

Where a run's tasks are — its job's task family, the container whose exit code is the run's,
its essential sidecars — the cleanup reads from the job's state machine definition, which
carries the job's settings (``JobLayout.of_definition``): a job may bring its own task
definition, with its own family and container names.

The lease's expiry stays the last backstop, never the first.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from botocore.exceptions import ClientError

from lambdas.cleanup.settings import CleanupSettings
from lambdas.core import errors, outcome
from lambdas.core import metrics_contract as names
from lambdas.core.clients import client
from lambdas.core.emit import count, log_invocation_metrics
from lambdas.core.execution_contract import (
    ENDED_STATUSES,
    STATE_MACHINE_DELETING,
    ExecutionStatus,
    ended_by_deletion,
    state_machine_of,
)
from lambdas.core.guard_contract import job_of_definition
from lambdas.core.ledger import LedgerTable
from lambdas.core.ledger_contract import (
    HOLDER,
    JOB,
    LEASE_SORT_KEY,
    OWNER,
    RUNNING_INDEX,
    SLOT,
    SLOT_PREFIX,
    SORT_KEY,
    Status,
)
from lambdas.core.outcome import Outcome
from lambdas.core.tasks import STOP_WAIT_SECONDS, RunTasks, TaskStop
from lambdas.core.trigger import InvalidInput, parse_trigger

logger = Logger(service=names.CLEANUP_LOG_SERVICE)
metrics = Metrics(namespace=names.NAMESPACE, service=names.SERVICE)

# An execution that ended ABORTED records its run ABORTED, and so on.
STATUS_BY_EXECUTION: dict[str, Status] = {ended: Status(ended.value) for ended in ENDED_STATUSES}
SCHEDULED_EVENT = "Scheduled Event"


def job_name(state_machine_name: str, environment: str) -> str | None:
    prefix = f"{environment}-"
    return state_machine_name[len(prefix) :] if state_machine_name.startswith(prefix) else None


@dataclass(frozen=True)
class JobLayout:
    """Where a job's runs are: its task family, its container (whose exit code is the run's)
    and its essential sidecars (whose exit stops the task)."""

    family: str
    container: str
    essential_sidecars: tuple[str, ...] = ()

    @classmethod
    def of_definition(cls, definition: str) -> JobLayout:
        job = job_of_definition(definition)
        return cls(
            family=str(job["taskFamily"]),
            container=str(job["container"]),
            essential_sidecars=tuple(str(name) for name in job.get("essentialSidecars") or ()),
        )


@dataclass(frozen=True)
class Cleanup:
    """What settling an ended execution needs: the ledger, its tasks, the jobs' layouts."""

    ledger: LedgerTable
    tasks: RunTasks | None
    sfn: Any  # reads a job's layout from its state machine
    family_prefix: str  # with ``container``: the layout of a job whose state machine is gone
    container: str
    environment: str  # the metrics' environment dimension
    # State machine ARN -> its job's layout, read once per invocation.
    layouts: dict[str, JobLayout] = field(default_factory=dict)

    @classmethod
    def from_settings(cls, settings: CleanupSettings) -> Cleanup:
        return cls(
            ledger=LedgerTable(client("dynamodb"), settings.ledger_table),
            tasks=RunTasks(client("ecs"), settings.cluster_arn),
            sfn=client("stepfunctions"),
            family_prefix=settings.task_family_prefix,
            container=settings.container,
            environment=settings.environment,
        )

    def layout(self, job: str, execution: str) -> JobLayout:
        """The layout of the job whose ``execution`` this is, from its state machine's
        definition (the job's settings are written there, and only there)."""
        machine = state_machine_of(execution)
        if machine not in self.layouts:
            try:
                described = self.sfn.describe_state_machine(stateMachineArn=machine)
            except ClientError as error:
                if error.response["Error"]["Code"] != "StateMachineDoesNotExist":
                    raise
                # Deleted (its job removed or renamed), and its settings with it: assume the
                # task definition cronguard renders. A job with its own is then not found: its
                # run is recorded without its task (which all but always ended with it).
                logger.warning(
                    "state machine gone: assuming the rendered task definition's layout",
                    job=job,
                    state_machine=machine,
                )
                self.layouts[machine] = JobLayout(f"{self.family_prefix}{job}", self.container)
            else:
                self.layouts[machine] = JobLayout.of_definition(described["definition"])
        return self.layouts[machine]

    def ended(self, status: str, error: Any, cause: Any, layout: JobLayout) -> Outcome | None:
        """How a run ended, from its execution's status, error and cause."""
        if status == ExecutionStatus.SUCCEEDED:
            # Every failure path ends the execution FAILED: it succeeded without recording.
            return Outcome(Status.SUCCEEDED, "execution succeeded; its outcome was not recorded")
        recorded = STATUS_BY_EXECUTION.get(status)
        if recorded is None:
            return None
        if status == ExecutionStatus.FAILED:
            known = outcome.of_failed_execution(
                error, cause, container=layout.container, essential=layout.essential_sidecars
            )
            if known is not None:
                return known
        if error == errors.REPLACED and isinstance(cause, str):
            return Outcome(status=recorded, reason=cause[:500])  # "replaced by <execution>"
        reason = f"execution {recorded.value.lower().replace('_', ' ')}"
        return Outcome(status=recorded, reason=f"{reason}: {error}" if error else reason)

    def settle(
        self,
        *,
        job: str,
        layout: JobLayout,
        slot: str,
        execution: str,
        ended: Outcome,
        per_job_metric: bool = True,
    ) -> bool:
        """Make sure the run's task is stopped, record the outcome, release the lease — kept
        while the task is not confirmed STOPPED (``reconcile`` releases it once it is).
        True when the slot was still the execution's RUNNING run (and is now recorded)."""
        stop = self._stop(layout, execution, f"cronguard: execution ended {ended.status.value}")
        if stop is not None and stop.task_arns:
            ended = ended.with_stop(stop)
        return self._record(job, slot, execution, ended, stop, per_job_metric=per_job_metric)

    def removed(
        self,
        *,
        job: str,
        layout: JobLayout,
        slot: str,
        execution: str,
        per_job_metric: bool = True,
    ) -> bool:
        """Settle a run whose state machine was deleted under it: stop its task (Step Functions
        does not) and wait for STOPPED, then record how the run really ended — ABORTED when
        its task had to be stopped, else its task's exit code — and release the lease (kept
        while the task is not confirmed STOPPED). True when the slot was still RUNNING."""
        stop = self._stop(layout, execution, outcome.REMOVED_STOP_REASON)
        tasks = self.tasks.of_run(layout.family, execution) if self.tasks else []
        ended = outcome.of_removed_run(tasks, stop, container=layout.container)
        return self._record(job, slot, execution, ended, stop, per_job_metric=per_job_metric)

    def _record(
        self,
        job: str,
        slot: str,
        execution: str,
        ended: Outcome,
        stop: TaskStop | None,
        *,
        per_job_metric: bool,
    ) -> bool:
        keep_lease = stop is not None and stop.unconfirmed
        started = self.ledger.finish(
            job=job,
            slot=slot,
            me=execution,
            now=datetime.now(UTC),
            outcome=ended,
            keep_lease=keep_lease,
        )
        marked = started is not None
        if marked and per_job_metric:
            metrics.add_metric(names.status_metric(ended.status), MetricUnit.Count, 1)
        if keep_lease:
            count(names.TASK_STOPS_UNCONFIRMED, self.environment, job=job)
            count(names.TASK_STOPS_UNCONFIRMED, self.environment)
        logger.info(
            "settled an ended execution",
            job=job,
            slot=slot,
            execution=execution,
            status=ended.status.value,
            reason=ended.reason,
            task_stop=ended.task_stop,
            marked=marked,
            lease_kept=keep_lease,
        )
        return marked

    def stopped(self, layout: JobLayout, execution: str) -> bool:
        """Whether every task of the run is STOPPED now: asks a stop of any that still run,
        and does not wait (the next reconcile looks again)."""
        stop = self._stop(layout, execution, "cronguard: execution ended", within=0)
        return stop is None or not stop.unconfirmed

    def _stop(
        self, layout: JobLayout, execution: str, reason: str, within: float = STOP_WAIT_SECONDS
    ) -> TaskStop | None:
        """Stop the run's tasks that still run and wait for STOPPED, at most ``within``."""
        if self.tasks is None:
            return None
        return self.tasks.stop(layout.family, execution, reason=reason, within=within)


def release(event: dict[str, Any], cleanup: Cleanup, environment: str) -> dict[str, Any]:
    """Settle the execution a status-change event is about."""
    detail = event.get("detail") or {}
    execution_arn = str(detail.get("executionArn", ""))
    machine = str(detail.get("stateMachineArn", "")).rsplit(":", 1)[-1]
    job = job_name(machine, environment)
    not_ours = {"marked": False, "why": "not an ended execution of this environment"}
    if job is None:
        return not_ours
    try:
        raw_input = json.loads(detail.get("input") or "{}")
        trigger = parse_trigger(raw_input, str(detail.get("name", "")))
    except (ValueError, InvalidInput):
        return {"marked": False, "why": "input names no slot: nothing was held"}
    layout = cleanup.layout(job, execution_arn)
    error, cause = detail.get("error"), detail.get("cause")
    ended = cleanup.ended(str(detail.get("status")), error, cause, layout)
    if ended is None:
        return not_ours
    if ended_by_deletion(error, cause):
        marked = cleanup.removed(job=job, layout=layout, slot=trigger.slot, execution=execution_arn)
        return {"job": job, "slot": trigger.slot, "marked": marked, "removed": True}
    marked = cleanup.settle(
        job=job, layout=layout, slot=trigger.slot, execution=execution_arn, ended=ended
    )
    return {"job": job, "slot": trigger.slot, "marked": marked}


@dataclass(frozen=True)
class InProgress:
    """An item of the ``running`` index: a RUNNING slot's record, or a held lease."""

    job: str
    slot: str
    execution: str
    lease: bool


def in_progress(dynamodb: Any, table: str) -> Iterator[InProgress]:
    for page in dynamodb.get_paginator("scan").paginate(TableName=table, IndexName=RUNNING_INDEX):
        for item in page["Items"]:
            lease = item[SORT_KEY]["S"] == LEASE_SORT_KEY
            owner = item.get(HOLDER if lease else OWNER, {}).get("S")
            slot = item.get(SLOT, {}).get("S") or item[SORT_KEY]["S"].removeprefix(SLOT_PREFIX)
            if owner and JOB in item:
                yield InProgress(item[JOB]["S"], slot, owner, lease)


class ReconcileIncomplete(Exception):
    """Some runs' executions could not be read (their runs were left as they are); every
    other run in progress was reconciled."""


def reconcile(dynamodb: Any, table: str, cleanup: Cleanup) -> dict[str, Any]:
    """Settle every run in progress whose execution has ended (a lost status-change event),
    and every run whose state machine is deleted under it (``Cleanup.removed``)."""
    fixed, checked = 0, 0
    statuses: dict[str, Execution] = {}
    deleted: dict[str, bool] = {}  # state machine ARN -> being deleted, or gone
    # One execution that cannot be read (e.g. AccessDenied: the role reads only executions of
    # state machines tagged as this environment's, and a removed job's is deleted, tags and
    # all), nor its state machine, must not keep the others from being settled.
    unreadable: dict[str, str] = {}

    def unread(item: InProgress, failure: ClientError) -> None:
        detail = failure.response["Error"]
        unreadable[item.execution] = f"{detail.get('Code')}: {detail.get('Message')}"
        logger.error(
            "cannot read a run's execution",
            job=item.job,
            execution=item.execution,
            error=unreadable[item.execution],
        )

    # Slots before leases: settling a slot releases its lease too, and counts as one fix.
    for item in sorted(in_progress(dynamodb, table), key=lambda found: found.lease):
        checked += 1
        if item.execution in unreadable:
            continue
        if item.execution not in statuses:
            try:
                statuses[item.execution] = _execution(cleanup.sfn, item.execution, deleted)
            except ClientError as failure:
                unread(item, failure)
                continue
        execution = statuses[item.execution]
        removed = execution.removed and not item.lease
        if not removed and execution.status == ExecutionStatus.RUNNING:
            continue
        try:
            layout = cleanup.layout(item.job, item.execution)
        except ClientError as failure:
            unread(item, failure)
            continue
        if removed:
            if cleanup.removed(
                job=item.job,
                layout=layout,
                slot=item.slot,
                execution=item.execution,
                per_job_metric=False,
            ):
                fixed += 1
                logger.warning(
                    "settled a run whose state machine was deleted (job removed while running)",
                    job=item.job,
                    slot=item.slot,
                    execution=item.execution,
                )
            continue
        ended = cleanup.ended(
            execution.status, execution.error, execution.cause, layout
        ) or Outcome(Status.ABORTED, f"execution {execution.status.lower()}")
        if item.lease:
            if not cleanup.stopped(layout, item.execution):
                logger.warning(
                    "lease kept: the run's task is not confirmed STOPPED",
                    job=item.job,
                    execution=item.execution,
                )
                continue
            released = cleanup.ledger.release_lease(item.job, item.execution)
            fixed += int(released)
            if released:
                logger.warning("reconciled a lease", job=item.job, execution=item.execution)
        elif cleanup.settle(
            job=item.job,
            layout=layout,
            slot=item.slot,
            execution=item.execution,
            ended=ended,
            per_job_metric=False,  # one invocation, many jobs: RunsReconciled counts them
        ):
            fixed += 1
            logger.warning(
                "reconciled a run whose status change was lost",
                job=item.job,
                slot=item.slot,
                execution=item.execution,
                status=ended.status.value,
            )
    metrics.add_metric(names.RUNS_RECONCILED, MetricUnit.Count, fixed)
    logger.info("reconciled", checked=checked, fixed=fixed, unreadable=len(unreadable))
    if unreadable:
        raise ReconcileIncomplete(
            "executions not read, their runs left as they are: "
            + "; ".join(f"{execution} ({error})" for execution, error in unreadable.items())
        )
    return {"checked": checked, "fixed": fixed}


@dataclass(frozen=True)
class Execution:
    """What the reconciler knows of a run's execution."""

    status: str
    error: Any
    cause: Any
    removed: bool  # its state machine is deleted under it (see ``Cleanup.removed``)


def _execution(sfn: Any, execution_arn: str, deleted: dict[str, bool]) -> Execution:
    """The execution's status, and whether its state machine is deleted under it (read once
    per state machine and reconcile: ``deleted``)."""
    try:
        described = sfn.describe_execution(executionArn=execution_arn)
    except ClientError as unread:
        try:
            gone = _machine_deleted(sfn, execution_arn, deleted)
        except ClientError:
            raise unread from None  # the execution's own error says most
        if not gone:
            if unread.response["Error"]["Code"] != "ExecutionDoesNotExist":
                raise
            # Gone (older than Step Functions keeps them): it certainly does not run.
            return Execution(ExecutionStatus.ABORTED, "ExecutionDoesNotExist", None, False)
        return Execution(ExecutionStatus.ABORTED, "its state machine was deleted", None, True)
    status, error, cause = str(described["status"]), described.get("error"), described.get("cause")
    removed = ended_by_deletion(error, cause) or (
        status == ExecutionStatus.RUNNING and _machine_deleted(sfn, execution_arn, deleted)
    )
    return Execution(status, error, cause, removed)


def _machine_deleted(sfn: Any, execution_arn: str, deleted: dict[str, bool]) -> bool:
    machine = state_machine_of(execution_arn)
    if machine not in deleted:
        try:
            described = sfn.describe_state_machine(stateMachineArn=machine)
            deleted[machine] = described.get("status") == STATE_MACHINE_DELETING
        except ClientError as error:
            if error.response["Error"]["Code"] != "StateMachineDoesNotExist":
                raise
            deleted[machine] = True
    return deleted[machine]


@log_invocation_metrics(metrics)
@logger.inject_lambda_context
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    settings = CleanupSettings.from_environ()
    environment = settings.environment
    metrics.add_dimension(names.ENVIRONMENT_DIMENSION, environment)
    cleanup = Cleanup.from_settings(settings)
    if event.get("detail-type") == SCHEDULED_EVENT:
        return reconcile(client("dynamodb"), settings.ledger_table, cleanup)
    detail = event.get("detail") or {}
    job = job_name(str(detail.get("stateMachineArn", "")).rsplit(":", 1)[-1], environment)
    if job is not None:
        metrics.add_dimension(names.JOB_DIMENSION, job)
    return release(event, cleanup, environment)
