"""Step Functions execution statuses, and which ended ones the cleanup settles.

Dependency-free: the cleanup Lambda reads these from DescribeExecution and the status-change
events, the guard from DescribeExecution, ``stacks/cleanup.py`` subscribes its rule to
``ENDED_STATUSES``, and the local engine delivers the same statuses to the cleanup.
"""

from __future__ import annotations

from enum import StrEnum

STATUS_CHANGE = "Step Functions Execution Status Change"
"""The detail-type of the EventBridge event Step Functions sends when an execution's status
changes."""


class ExecutionStatus(StrEnum):
    """An execution's status, as DescribeExecution and the status-change event spell it."""

    RUNNING = "RUNNING"
    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"
    TIMED_OUT = "TIMED_OUT"
    ABORTED = "ABORTED"
    PENDING_REDRIVE = "PENDING_REDRIVE"


ENDED_STATUSES = (ExecutionStatus.ABORTED, ExecutionStatus.TIMED_OUT, ExecutionStatus.FAILED)
"""How an execution ends when it may hold a lease it did not release: stopped by hand, timed
out as a whole, or failed outside a Catch. The cleanup settles these; a SUCCEEDED execution
recorded its run in ``Record success`` (the reconciler catches the rare one that did not)."""
