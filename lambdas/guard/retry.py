"""Whether a failed attempt of a run is run again (``job_retries``), decided by exit code.

Only the guard knows the exit code of the attempt that failed (the state machine hands it
the error ``Run job`` caught), so the decision is made here and the state machine follows
it: ``Record failure`` answers ``retryInSeconds``, and ``Retry?`` waits and runs the job
again. Launch failures are retried by ``Run job`` itself (``launch_retries``) and never
reach this; a timeout is never retried.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from lambdas.core.guard_contract import JobRetriesPayload
from lambdas.core.ledger_contract import Status
from lambdas.core.outcome import Outcome
from lambdas.core.trigger import InvalidInput, shown

# ECS stop codes that say the task's capacity went away, not that the job failed (ECS API
# reference, Task.stopCode; "Stopped tasks error codes" in the ECS Developer Guide): such an
# attempt is retried under every form of job_retries, whatever its container's exit code.
CAPACITY_LOST = frozenset({"SpotInterruption", "TerminationNotice"})

RETRIES_WHERE = "job settings in the state machine definition: 'jobRetries'"


@dataclass(frozen=True)
class RetryPolicy:
    """``job_retries`` as the state machine carries it."""

    max: int = 0
    interval_seconds: int = 0
    on_exit_codes: frozenset[int] | None = None  # retry only these
    except_exit_codes: frozenset[int] = frozenset()  # retry all but these

    @classmethod
    def from_payload(cls, raw: JobRetriesPayload | None) -> RetryPolicy:
        if raw is None:
            return cls()
        if not isinstance(raw, dict):
            raise InvalidInput(f"{RETRIES_WHERE} must be a JSON object, got {shown(raw)}")
        return cls(
            max=_whole(raw.get("max"), "max"),
            interval_seconds=_whole(raw.get("intervalSeconds"), "intervalSeconds"),
            on_exit_codes=(
                frozenset(_codes(raw["onExitCodes"], "onExitCodes"))
                if "onExitCodes" in raw
                else None
            ),
            except_exit_codes=frozenset(_codes(raw.get("exceptExitCodes", []), "exceptExitCodes")),
        )

    def retries(self, ended: Outcome, *, failed_with: str, attempt: int) -> bool:
        """Run the job again after attempt ``attempt`` ended ``ended``? Only a task that ran
        and stopped (``States.TaskFailed``, a non-zero exit or a lost task) is a candidate."""
        if attempt > self.max or failed_with != "States.TaskFailed":
            return False
        if ended.status is not Status.FAILED or ended.task_arn is None:
            return False
        if ended.stop_code in CAPACITY_LOST:
            return True
        return self.retries_exit_code(ended.exit_code)

    def retries_exit_code(self, exit_code: int | None) -> bool:
        """Is a failed attempt whose container exited ``exit_code`` a candidate for a
        retry (its task not lost with its capacity; ``max`` not counted)?"""
        if self.on_exit_codes is not None:
            return exit_code in self.on_exit_codes
        return exit_code not in self.except_exit_codes

    def wait_seconds(self, attempt: int) -> int:
        """The wait before attempt ``attempt + 1``: the interval, doubling per retry (the
        config's time budget counts the same waits)."""
        return int(self.interval_seconds * 2 ** (attempt - 1))


def _whole(value: Any, key: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise InvalidInput(f"{RETRIES_WHERE}: '{key}' must be a whole number, got {shown(value)}")
    return value


def _codes(value: Any, key: str) -> list[int]:
    if not isinstance(value, list):
        raise InvalidInput(f"{RETRIES_WHERE}: '{key}' must be a list, got {shown(value)}")
    return [_whole(code, key) for code in value]
