"""Removing or renaming a job while it runs, on the local engine: the deploy deletes the old
state machine (DeleteStateMachine, as Step Functions does it: the machine is DELETING, its run
goes on until its next state transition and then fails, and nothing stops its ECS task)."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest
from botocore.exceptions import ClientError

from cronguard_simulation.engine import StopCause, TaskScript
from lambdas.core.ledger_contract import (
    ACQUIRED_AT,
    HOLDER,
    JOB,
    LEASE_SORT_KEY,
    LEASE_UNTIL,
    OWNER,
    PARTITION_KEY,
    SLOT,
    SORT_KEY,
    STATUS,
    Status,
    partition,
    slot_sort_key,
)
from tests.e2e.conftest import Engine, Slot

JOB_NAME = "forbid-job"


def remove(engine: Engine, job: str) -> None:
    """What the deploy without the job does to its state machine."""
    engine.aws.sfn.delete_state_machine(stateMachineArn=engine.arn(job))


def test_a_job_removed_while_running_has_its_task_stopped_and_its_slot_recorded_so(
    engine: Engine, slot: Slot
) -> None:
    engine.aws.script_tasks(engine.task_definition(JOB_NAME), TaskScript(duration_seconds=300))
    run = engine.start(JOB_NAME, "running", {"scheduledTime": slot(-1)})
    engine.wait_for_tasks(JOB_NAME, 1)
    remove(engine, JOB_NAME)
    described = engine.aws.sfn.describe_state_machine(stateMachineArn=engine.arn(JOB_NAME))
    assert described["status"] == "DELETING"

    assert engine.reconcile()["checked"] == 2

    # The reconciler stopped its task; the run made its next transition, and Step Functions
    # ended it (the engine delivers that at once, so the cleanup may record it first: the
    # same record, since the task says who stopped it).
    ended = engine.aws.wait(run)
    assert (ended["status"], ended["error"], ended["cause"]) == (
        "FAILED",
        "States.Runtime",
        f"State machine e2e-{JOB_NAME} has been deleted.",
    )
    (task,) = engine.aws.tasks_started(engine.task_definition(JOB_NAME))
    assert (task.stop_cause, task.stopped_reason) == (
        StopCause.STOP_TASK,
        "cronguard: job removed while running",
    )
    item = engine.slot(JOB_NAME, slot(-1))
    assert item is not None
    assert (item["status"]["S"], item["reason"]["S"]) == (
        "ABORTED",
        "job removed while running: its task was stopped",
    )
    assert item["exit_code"]["N"] == "143"  # SIGTERM, as ECS stopped it
    assert engine.lease(JOB_NAME) is None
    with pytest.raises(ClientError, match="StateMachineDoesNotExist"):
        engine.aws.sfn.describe_state_machine(stateMachineArn=engine.arn(JOB_NAME))


def test_a_run_that_exits_0_after_its_job_was_removed_is_recorded_succeeded(
    engine: Engine, slot: Slot
) -> None:
    finish = threading.Event()
    engine.aws.script_tasks(engine.task_definition(JOB_NAME), TaskScript(held_by=finish))
    run = engine.start(JOB_NAME, "finishing", {"scheduledTime": slot(-1)})
    engine.wait_for_tasks(JOB_NAME, 1)
    remove(engine, JOB_NAME)

    finish.set()  # the job finishes its work; Record success is never entered
    ended = engine.aws.wait(run)

    assert (ended["status"], ended["error"]) == ("FAILED", "States.Runtime")
    item = engine.slot(JOB_NAME, slot(-1))
    assert item is not None
    assert (item["status"]["S"], item["exit_code"]["N"], item["reason"]["S"]) == (
        "SUCCEEDED",
        "0",
        "job exited 0 (job removed while running, recorded by the cleanup)",
    )
    assert engine.lease(JOB_NAME) is None


def hold_old_lease(engine: Engine, old_slot: str) -> str:
    """The lease as the old name's run holds it (its state machine is gone with the rename)."""
    holder = f"arn:aws:states:us-east-1:123456789012:execution:e2e-old-job:{old_slot[:13]}"
    now = datetime.now(UTC)
    engine.aws.dynamodb.put_item(
        TableName=engine.local.ledger_table,
        Item={
            PARTITION_KEY: {"S": partition("old-job")},
            SORT_KEY: {"S": LEASE_SORT_KEY},
            JOB: {"S": "old-job"},
            HOLDER: {"S": holder},
            SLOT: {"S": old_slot},
            ACQUIRED_AT: {"S": now.isoformat()},
            LEASE_UNTIL: {"N": str(int((now + timedelta(hours=2)).timestamp()))},
        },
    )
    return holder


def test_a_renamed_jobs_slot_waits_while_its_old_names_run_holds_the_lease(
    engine: Engine, slot: Slot
) -> None:
    holder = hold_old_lease(engine, slot(-2))

    skipped = engine.run("renamed-job", "first", {"scheduledTime": slot(-1)})

    assert engine.final_state(skipped["executionArn"]) == "Skipped: overlap"
    item = engine.slot("renamed-job", slot(-1))
    assert item is not None and item["status"]["S"] == "SKIPPED_OVERLAP"
    assert holder in item["reason"]["S"] and "old-job" in item["reason"]["S"]
    assert engine.aws.tasks_started(engine.task_definition("renamed-job")) == []

    # The cleanup settles the old run and releases its lease: the next slot runs.
    engine.aws.dynamodb.delete_item(
        TableName=engine.local.ledger_table,
        Key={PARTITION_KEY: {"S": partition("old-job")}, SORT_KEY: {"S": LEASE_SORT_KEY}},
    )
    ran = engine.run("renamed-job", "second", {"scheduledTime": slot(0)})
    assert ran["status"] == "SUCCEEDED"


def test_a_slot_the_old_name_ran_is_a_duplicate_for_the_renamed_job(
    engine: Engine, slot: Slot
) -> None:
    engine.aws.dynamodb.put_item(
        TableName=engine.local.ledger_table,
        Item={
            PARTITION_KEY: {"S": partition("old-job")},
            SORT_KEY: {"S": slot_sort_key(slot(-1))},
            JOB: {"S": "old-job"},
            SLOT: {"S": slot(-1)},
            STATUS: {"S": Status.SUCCEEDED},
            OWNER: {"S": "arn:aws:states:us-east-1:123456789012:execution:e2e-old-job:x"},
        },
    )

    late = engine.run("renamed-job", "late", {"scheduledTime": slot(-1)})

    assert engine.final_state(late["executionArn"]) == "Skipped: duplicate"
    assert engine.aws.tasks_started(engine.task_definition("renamed-job")) == []
