"""The ECS tasks of one run: found by the execution ARN in their overrides, stopped, awaited.

Step Functions documents a best-effort StopTask only when an *execution* is stopped, and
then ECS gives the container its stop timeout (SIGTERM, SIGKILL after 30 s by default)
before the task is STOPPED. So before a lease is released on a failure path, or a replacing
run launches, the guard stops the run's tasks itself and waits until ECS says STOPPED —
otherwise two copies of a job could write the same data at once.

A run's tasks carry ``CRONGUARD_EXECUTION_ARN`` in their container overrides (the state
machine's ``Run job`` sets it), which is how they are told apart from other runs' tasks of
the same task definition family.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from lambdas.core import input_contract

EXECUTION_VARIABLE = input_contract.EXECUTION_VARIABLE
DESCRIBE_LIMIT = 100  # DescribeTasks takes at most 100 tasks a call
# ECS's default stop timeout (SIGTERM → SIGKILL) plus time for ECS to report STOPPED.
STOP_TIMEOUT_SECONDS = 30
STOP_WAIT_SECONDS = STOP_TIMEOUT_SECONDS + 30
POLL_SECONDS = 2.0


@dataclass(frozen=True)
class TaskStop:
    """What stopping a run's tasks found and did."""

    task_arns: tuple[str, ...]  # the run's tasks, stopped or not
    stop_requested: tuple[str, ...]  # the ones that were still meant to run
    waited_seconds: float
    settled: bool  # every task reached STOPPED within the wait

    @property
    def unconfirmed(self) -> bool:
        """A task of the run may still run: its lease must not be released (nor taken)."""
        return not self.settled

    @property
    def summary(self) -> str:
        if not self.task_arns:
            return "no task of the run was found"
        ids = ", ".join(arn.rsplit("/", 1)[-1] for arn in self.task_arns)
        asked = f"stopped {len(self.stop_requested)}" if self.stop_requested else "none running"
        state = "STOPPED" if self.settled else "not confirmed STOPPED (still stopping)"
        return f"task {ids}: {asked}; {state} after {self.waited_seconds:.0f}s"


def _execution_of(task: dict[str, Any]) -> str | None:
    for override in (task.get("overrides") or {}).get("containerOverrides") or []:
        for variable in override.get("environment") or []:
            if variable.get("name") == EXECUTION_VARIABLE:
                return str(variable.get("value"))
    return None


class RunTasks:
    """The tasks of a job's runs in one cluster (the job's task definition family)."""

    def __init__(
        self,
        client: Any,
        cluster: str,
        *,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._client = client
        self._cluster = cluster
        self._sleep = sleep
        self._clock = clock

    def _listed(self, family: str) -> Iterator[str]:
        # A stopping task's desired status is already STOPPED: list both to see it.
        paginator = self._client.get_paginator("list_tasks")
        for desired in ("RUNNING", "STOPPED"):
            for page in paginator.paginate(
                cluster=self._cluster, family=family, desiredStatus=desired
            ):
                yield from page.get("taskArns", [])

    def _describe(self, task_arns: list[str]) -> list[dict[str, Any]]:
        tasks: list[dict[str, Any]] = []
        for start in range(0, len(task_arns), DESCRIBE_LIMIT):
            response = self._client.describe_tasks(
                cluster=self._cluster, tasks=task_arns[start : start + DESCRIBE_LIMIT]
            )
            tasks.extend(response.get("tasks", []))
        return tasks

    def of_run(self, family: str, execution_arn: str) -> list[dict[str, Any]]:
        """The tasks the execution started (as DescribeTasks returns them)."""
        arns = sorted(set(self._listed(family)))
        return [task for task in self._describe(arns) if _execution_of(task) == execution_arn]

    def stop(
        self,
        family: str,
        execution_arn: str,
        *,
        reason: str,
        within: float = STOP_WAIT_SECONDS,
    ) -> TaskStop:
        """Stop the execution's tasks that still run and wait, at most ``within`` seconds,
        until all of them are STOPPED."""
        started = self._clock()
        tasks = self.of_run(family, execution_arn)
        arns = [task["taskArn"] for task in tasks]
        requested = [task["taskArn"] for task in tasks if task.get("desiredStatus") != "STOPPED"]
        for arn in requested:
            self._client.stop_task(cluster=self._cluster, task=arn, reason=reason[:255])
        pending = [task["taskArn"] for task in tasks if task.get("lastStatus") != "STOPPED"]
        while pending and self._clock() - started < within:
            self._sleep(POLL_SECONDS)
            pending = [
                task["taskArn"]
                for task in self._describe(pending)
                if task.get("lastStatus") != "STOPPED"
            ]
        return TaskStop(
            task_arns=tuple(arns),
            stop_requested=tuple(requested),
            waited_seconds=round(self._clock() - started, 1),
            settled=not pending,
        )
