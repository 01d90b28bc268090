"""The metrics cronguard's Lambdas emit, named once for the Lambdas, the alarms and the tests.

Dependency-free: the Lambdas emit these with Powertools; the stacks alarm and graph on them.
A metric renamed on one side only would leave an alarm that never fires, so both import this.
"""

from __future__ import annotations

from lambdas.core.ledger_contract import Status

NAMESPACE = "cronguard"
SERVICE = "cronguard"  # one Powertools service for every Lambda: alarms and dashboards match it

# Each Lambda's Powertools Logger service: the ``service`` key of its log lines, one per
# function, so a Logs Insights query can pick one Lambda's lines.
GUARD_LOG_SERVICE = "cronguard-guard"
CLEANUP_LOG_SERVICE = "cronguard-cleanup"
SWEEPER_LOG_SERVICE = "cronguard-sweeper"
SLOT_WATCH_LOG_SERVICE = "cronguard-slot-watch"

# Dimensions: every metric has environment and service; the guard's and cleanup's also job.
ENVIRONMENT_DIMENSION = "environment"
JOB_DIMENSION = "job"
SERVICE_DIMENSION = "service"

RUNS_STARTED = "RunsStarted"
SKIPPED_DUPLICATE = "SkippedDuplicate"
SKIPPED_OVERLAP = "SkippedOverlap"
SKIPPED_LATE = "SkippedLate"
SKIPPED_PAUSED = "SkippedPaused"  # the guard skipped a paused job's slot
RUN_DURATION = "RunDuration"
LAUNCH_RETRIES = "LaunchRetries"
JOB_RETRIES = "JobRetries"  # the guard: a failed attempt job_retries runs again (per job)
RUNS_RECONCILED = "RunsReconciled"
ORPHANED_WORK = "OrphanedWork"
SWEEP_ERRORS = "SweepErrors"
MISSED_SLOTS = "MissedSlots"  # the slot watch: per check (environment), and per job
CATCH_UPS_STARTED = "CatchUpsStarted"  # the slot watch started a missed slot (catch_up)
SLOT_WATCH_ERRORS = "SlotWatchErrors"  # jobs the slot watch could not check
SLOT_WATCH_DEFERRED = "SlotWatchDeferred"  # jobs a check left for the next (out of time)
# The slot watch: a run still running past its job's alert_after, once per run (per job: the
# job's running-long alarm watches it, to the job's owner).
RUNNING_LONG = "RunningLong"
# A failed or ended run's task was not confirmed STOPPED within the wait: its lease is kept
# until the reconciler sees the task STOPPED. Per environment (its alarm) and per job.
TASK_STOPS_UNCONFIRMED = "TaskStopsUnconfirmed"


def status_metric(status: Status) -> str:
    """How a run ended, counted: ``RunsSucceeded``, ``RunsFailed``, ``RunsTimedOut``,
    ``RunsAborted``."""
    return "Runs" + status.value.title().replace("_", "")


SKIP_METRICS = (SKIPPED_DUPLICATE, SKIPPED_OVERLAP, SKIPPED_LATE, SKIPPED_PAUSED)
FAILURE_METRICS = tuple(status_metric(s) for s in (Status.FAILED, Status.TIMED_OUT, Status.ABORTED))
