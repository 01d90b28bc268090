"""A run's ECS tasks, found by its execution ARN, stopped and awaited (moto's ECS)."""

from __future__ import annotations

from moto.ecs.models import ecs_backends
from moto.moto_api import state_manager

from tests.aws import REGION
from tests.lambdas.conftest import CLUSTER, FAMILY, Aws

RUN = "arn:aws:states:us-east-1:123456789012:execution:test-report:run"
OTHER_RUN = "arn:aws:states:us-east-1:123456789012:execution:test-report:other"


def test_stop_stops_only_the_runs_own_tasks(aws: Aws) -> None:
    mine = aws.run_task(RUN)
    theirs = aws.run_task(OTHER_RUN)
    other_family = aws.run_task(RUN, family="cronguard-test-other")

    stop = aws.tasks().stop(FAMILY, RUN, reason="cronguard: run ended FAILED")

    assert stop.task_arns == (mine,) and stop.stop_requested == (mine,)
    assert stop.settled
    assert aws.task(mine)["lastStatus"] == "STOPPED"
    assert aws.task(mine)["stoppedReason"] == "cronguard: run ended FAILED"
    assert aws.task(theirs)["lastStatus"] == "RUNNING"
    assert aws.task(other_family)["lastStatus"] == "RUNNING"


def test_stop_waits_until_a_stopping_task_is_stopped(aws: Aws) -> None:
    task_arn = aws.run_task(RUN)
    # Step Functions already asked ECS to stop it (StopExecution): the container has its stop
    # timeout to exit. moto's StopTask jumps to STOPPED, so the task is put in that state on
    # moto's own model, and moto's state manager walks it one state per DescribeTasks.
    task = ecs_backends["123456789012"][REGION].tasks[CLUSTER][task_arn]
    task.desired_status = "STOPPED"
    task.status = "DEACTIVATING"
    state_manager.set_transition("ecs::task", {"progression": "manual", "times": 1})

    stop = aws.tasks().stop(FAMILY, RUN, reason="cronguard: replaced")

    assert stop.stop_requested == ()  # already stopping: not asked twice
    assert stop.settled
    assert len(aws.slept) >= 2  # it polled: DEACTIVATING → STOPPING → DEPROVISIONING → STOPPED
    assert aws.task(task_arn)["lastStatus"] == "STOPPED"


def test_stop_gives_up_after_its_bound_and_says_so(aws: Aws) -> None:
    task_arn = aws.run_task(RUN)
    task = ecs_backends["123456789012"][REGION].tasks[CLUSTER][task_arn]
    task.desired_status = "STOPPED"
    task.status = "DEACTIVATING"  # and moto's manager (times 10**6) never moves it on

    stop = aws.tasks().stop(FAMILY, RUN, reason="cronguard: run ended FAILED", within=0)

    assert not stop.settled
    assert "still stopping" in stop.summary


def test_a_run_without_tasks_has_nothing_to_stop(aws: Aws) -> None:
    stop = aws.tasks().stop(FAMILY, RUN, reason="cronguard: run ended FAILED")
    assert (stop.task_arns, stop.settled) == ((), True)
    assert stop.summary == "no task of the run was found"
