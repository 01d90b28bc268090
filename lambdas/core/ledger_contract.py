"""The ledger's layout, shared by the Lambdas, the stacks, the CLI and the tests.

Dependency-free on purpose: the CDK side imports it to build the table and its index, the
runtime to read and write items. One copy, so the two sides cannot drift apart.

- The table is ``cronguard-<env>-ledger`` (``table_name``; ``Environment.ledger_table_name``).
- ``pk = "job#<job>"``; ``sk = "slot#<slot>"`` for a slot's record, ``sk = "lease"`` for the
  job's lease.
- ``expires_at`` is a TTL for garbage collection only (TTL deletion is lazy).
- ``sk = "pause"`` is the job's pause record (``cronguard pause``/``resume``): see
  ``PAUSE_SORT_KEY``.
- Items of runs in progress (a RUNNING slot, a held lease) carry ``running_job``: the sparse
  index ``running`` holds just those, so the reconciler finds them without a table scan.
- Every other attribute a slot's record or the lease holds is named below, and a slot's
  ``status`` is a ``Status``; a test checks the guard writes no attribute not named here.
"""

from __future__ import annotations

from enum import StrEnum

PARTITION_KEY = "pk"
SORT_KEY = "sk"
TTL_ATTRIBUTE = "expires_at"
LEASE_SORT_KEY = "lease"
RUNNING_INDEX = "running"
RUNNING_ATTRIBUTE = "running_job"
JOB_PREFIX = "job#"
SLOT_PREFIX = "slot#"

PAUSE_SORT_KEY = "pause"
"""The job's pause record, in the job's own partition (so the guard's IAM reaches it).

``PAUSED`` is true while the job is paused, with ``PAUSE_REASON``, ``PAUSED_AT`` (ISO-8601
UTC) and ``PAUSED_BY``; resuming sets it false and appends the period just ended to
``PAUSE_PERIODS`` (a list of maps with ``PERIOD_FROM``, ``PERIOD_TO`` and ``PAUSE_REASON``),
so the missed-slot check can tell a slot that was paused from one that was missed.
"""
PAUSED = "paused"
PAUSE_REASON = "reason"
PAUSED_AT = "paused_at"
PAUSED_BY = "paused_by"
PAUSE_PERIODS = "periods"
PERIOD_FROM = "from"
PERIOD_TO = "to"

WATCH_SORT_KEY = "schedule"
"""The slot watch's record of the job: the schedule it last saw in config
(``WATCHED_SCHEDULE``, a fingerprint with ``:enabled``/``:disabled``) and since when
(``WATCHED_SINCE``, ISO-8601 UTC); slots before that are not checked. ``CHECKED_UNTIL`` is its
watermark: every slot due before it was checked, so a check reads the slot records from there
on only. ``LATEST_SLOT`` is the latest dated slot it saw recorded (a rate schedule's phase,
once that record is behind the watermark). ``RECENT_MISSED`` and ``RECENT_FAILURES`` list the
MISSED and failed slots (``FAILURE_STATUSES``) the watermark passed within the look-back, at
most ``MAX_RECENT`` each, newest kept: what ``cronguard status`` shows of the slots behind the
watermark, without reading them. Its key sorts between ``pause`` and ``slot#…``,
so one Query (``sk BETWEEN "lease" AND "schedule"``) reads the lease, the pause record and
this record, and a second (``sk BETWEEN "slot#<watermark>" AND "slot#<now>"``) the new slots.
No TTL.
"""
WATCHED_SCHEDULE = "schedule"
WATCHED_SINCE = "watched_since"
CHECKED_UNTIL = "checked_until"  # a slot key: every slot due before it was checked
LATEST_SLOT = "latest_slot"  # a slot key: the latest dated slot the watch saw recorded
RECENT_MISSED = "recent_missed"  # a list of slot keys
RECENT_FAILURES = "recent_failures"  # a list of maps: SLOT, STATUS, REASON
MAX_RECENT = 50
WATCH_PREFIX = "slot-watch#"
"""The slot watch's own partitions, one per shard of its jobs (``watch_partition``), beside
the jobs' (``job#…``): ``sk = "cursor"`` holds the job its next check starts with
(``NEXT_JOB``), written when a check ran out of time, so no job is left behind twice."""
CURSOR_SORT_KEY = "cursor"
NEXT_JOB = "next_job"
DETECTED_AT = "detected_at"  # a MISSED slot record: when the slot watch found it (ISO-8601 UTC)
CATCH_UP_EXECUTION = "catch_up_execution"  # a MISSED slot record: the run catch_up started


class Status(StrEnum):
    """A slot record's ``STATUS``. Append new statuses here; every side reads them from this."""

    RUNNING = "RUNNING"
    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"
    TIMED_OUT = "TIMED_OUT"
    ABORTED = "ABORTED"
    SKIPPED_OVERLAP = "SKIPPED_OVERLAP"
    SKIPPED_LATE = "SKIPPED_LATE"
    MISSED = "MISSED"  # no trigger reached the guard (the slot watch); the guard may still claim it
    SKIPPED_PAUSED = "SKIPPED_PAUSED"  # the job was paused (``PAUSE_SORT_KEY``); REASON says why


FAILURE_STATUSES = frozenset({Status.FAILED, Status.TIMED_OUT, Status.ABORTED})
"""A run that failed: what ``cronguard status`` counts as failures."""


# A slot's record (``sk = "slot#<slot>"``).
JOB = "job"
SLOT = "slot"
STATUS = "status"
OWNER = "owner"  # the execution ARN that claimed the slot
REASON = "reason"
STARTED_AT = "started_at"  # ISO-8601 UTC
ENDED_AT = "ended_at"
TASK_ARN = "task_arn"
EXIT_CODE = "exit_code"
STOPPED_REASON = "stopped_reason"
TASK_STOP = "task_stop"  # what the guard or the cleanup did to make sure the run's task stopped
DUPLICATES = "duplicates"  # how many duplicate triggers of the slot were counted
ATTEMPT = "attempt"  # Scheduler's attempt number
RETRIES = "retries"  # how often Run job was retried before the outcome
FORCED = "forced"
REPLACE_WAIT_SECONDS = "replace_wait_seconds"  # how long a replacing run waited for the stop
RUNS = "runs"  # a list of maps: the slot's earlier runs, kept when a forced run took it
ATTEMPTS = "attempts"
"""A run the job retried (``job_retries``): a list of maps, one per attempt in order, each
with ``EXIT_CODE``, ``STOP_CODE``, ``REASON``, ``TASK_ARN`` and ``ENDED_AT`` (what it has)."""
STOP_CODE = "stop_code"  # in ATTEMPTS: ECS's stopCode of the attempt's task
OVERRIDES = "overrides"  # a person's run: the container overrides it ran with (JSON)
RUN_ATTRIBUTES = (
    OWNER,
    STATUS,
    REASON,
    STARTED_AT,
    ENDED_AT,
    TASK_ARN,
    EXIT_CODE,
    STOPPED_REASON,
    TASK_STOP,
    DUPLICATES,
    ATTEMPT,
    RETRIES,
    FORCED,
    ATTEMPTS,
    OVERRIDES,
)
"""What an earlier run of a slot keeps in ``RUNS``."""

# The job's lease (``sk = "lease"``), besides ``JOB`` and ``SLOT``.
HOLDER = "holder"  # the execution ARN running the job
ACQUIRED_AT = "acquired_at"  # ISO-8601 UTC
LEASE_UNTIL = "lease_until"  # epoch seconds: after this the lease is void
# When the slot watch found the run still running past the job's alert_after (ISO-8601 UTC):
# set once per run (each claim puts a new lease), so the job's owner is alerted once.
RUNNING_LONG_AT = "running_long_at"


def table_name(environment: str) -> str:
    """The environment's ledger table: fixed, so config changes never replace it."""
    return f"cronguard-{environment}-ledger"


def partition(job: str) -> str:
    """A job's partition: its slots and its lease. The guard's IAM ``dynamodb:LeadingKeys``
    condition names it too, so a different key here is a denied call in AWS."""
    return f"{JOB_PREFIX}{job}"


def slot_sort_key(slot: str) -> str:
    return f"{SLOT_PREFIX}{slot}"


def watch_partition(shard: int) -> str:
    """The slot watch's partition for one shard of its jobs."""
    return f"{WATCH_PREFIX}{shard}"
