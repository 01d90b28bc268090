"""cronguard-worker: the container side of cronguard.

- ``protect(name)``: ECS task scale-in protection while work runs.
- ``GracefulShutdown``: stop taking work on SIGTERM and drain.
- ``WorkHistory`` / ``protected_work``: one DynamoDB item per unit of work
  (needs the ``history`` extra: boto3).
"""

from cronguard_worker.errors import (
    ProtectionAccessDenied,
    ProtectionError,
    ProtectionUnavailable,
)
from cronguard_worker.history import (
    WorkHistory,
    WorkHistoryError,
    WorkStatus,
    WorkUnit,
    work_key,
)
from cronguard_worker.metadata import TaskMetadata
from cronguard_worker.protection import Protected, TaskProtection, default_protection, protect
from cronguard_worker.shutdown import GracefulShutdown
from cronguard_worker.work import ProtectedWork, protected_work

__all__ = [
    "GracefulShutdown",
    "Protected",
    "ProtectedWork",
    "ProtectionAccessDenied",
    "ProtectionError",
    "ProtectionUnavailable",
    "TaskMetadata",
    "TaskProtection",
    "WorkHistory",
    "WorkHistoryError",
    "WorkStatus",
    "WorkUnit",
    "default_protection",
    "protect",
    "protected_work",
    "work_key",
]
