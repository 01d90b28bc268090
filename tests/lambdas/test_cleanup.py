"""Cleanup on "Step Functions Execution Status Change": releases what an ended execution held."""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

import pytest
from botocore.exceptions import ClientError
from moto.ecs.models import ecs_backends

from lambdas.cleanup.handler import ReconcileIncomplete, lambda_handler, reconcile, release
from lambdas.cleanup.handler import metrics as cleanup_metrics
from lambdas.core import errors, metrics_contract
from lambdas.core.execution_contract import (
    ENDED_STATUSES,
    STATUS_CHANGE,
    ended_by_deletion,
    state_machine_of,
)
from lambdas.core.guard_contract import Concurrency, JobPayload, job_of_definition
from lambdas.core.ledger_contract import (
    EXIT_CODE,
    HOLDER,
    LEASE_SORT_KEY,
    PARTITION_KEY,
    REASON,
    RUNNING_ATTRIBUTE,
    SORT_KEY,
    STATUS,
    TASK_ARN,
    TASK_STOP,
    Status,
    partition,
    slot_sort_key,
)
from lambdas.core.trigger import parse_trigger
from lambdas.guard.decision import Verdict
from lambdas.guard.handler import JobSettings
from tests.aws import REGION
from tests.lambdas.conftest import (
    ACCOUNT,
    CONTAINER,
    CONTEXT,
    TABLE,
    Aws,
    RecordingClient,
    definition_of,
)
from tests.lambdas.test_guard_handler import NEXT_SLOT, SLOT, claim, scheduled


def status_change(execution: str, machine: str, status: str, input_: Any) -> dict[str, Any]:
    return {
        "version": "0",
        "source": "aws.states",
        "detail-type": STATUS_CHANGE,
        "detail": {
            "executionArn": execution,
            "stateMachineArn": machine,
            "name": execution.rsplit(":", 1)[-1],
            "status": status,
            "input": json.dumps(input_),
        },
    }


# How an execution that ended outside the state machine's own paths is recorded.
SETTLED = {"ABORTED": Status.ABORTED, "TIMED_OUT": Status.TIMED_OUT, "FAILED": Status.FAILED}


@pytest.mark.parametrize(("status", "recorded"), sorted(SETTLED.items()))
def test_an_ended_execution_releases_its_lease_and_marks_its_slot(
    aws: Aws, status: str, recorded: str
) -> None:
    execution = aws.start("stopped")
    claim(aws, execution, SLOT)
    aws.sfn.stop_execution(executionArn=execution)
    answer = lambda_handler(
        status_change(execution, aws.state_machine_arn, status, {"scheduledTime": SLOT}), CONTEXT
    )
    assert answer["marked"] is True
    item = aws.item(slot_sort_key(SLOT))
    assert item is not None and item[STATUS]["S"] == recorded
    assert aws.item(LEASE_SORT_KEY) is None
    # ...so the next slot runs at once instead of waiting for the lease to expire.
    assert claim(aws, aws.start("next"), NEXT_SLOT).verdict is Verdict.RUN


def test_cleanup_never_touches_a_slot_another_execution_owns(aws: Aws) -> None:
    owner = aws.start("owner")
    claim(aws, owner, SLOT)
    duplicate = aws.start("duplicate")
    claim(aws, duplicate, SLOT)  # skipped as duplicate
    answer = lambda_handler(
        status_change(duplicate, aws.state_machine_arn, "FAILED", {"scheduledTime": SLOT}), CONTEXT
    )
    assert answer["marked"] is False
    item = aws.item(slot_sort_key(SLOT))
    assert item is not None and item[STATUS]["S"] == Status.RUNNING
    lease = aws.item(LEASE_SORT_KEY)
    assert lease is not None and lease[HOLDER]["S"] == owner


def test_a_finished_slot_is_not_rewritten(aws: Aws) -> None:
    from tests.lambdas.test_guard_handler import finish_success

    execution = aws.start("done")
    claim(aws, execution, SLOT)
    finish_success(aws, execution, SLOT)
    lambda_handler(
        status_change(execution, aws.state_machine_arn, "FAILED", {"scheduledTime": SLOT}), CONTEXT
    )
    item = aws.item(slot_sort_key(SLOT))
    assert item is not None and item[STATUS]["S"] == Status.SUCCEEDED


def test_other_environments_and_malformed_inputs_are_ignored(aws: Aws) -> None:
    other_env = status_change(
        "arn:aws:states:us-east-1:1:execution:prod-report:x",
        "arn:aws:states:us-east-1:1:stateMachine:prod-report",
        "ABORTED",
        {"scheduledTime": SLOT},
    )
    assert lambda_handler(other_env, CONTEXT)["marked"] is False
    for scheduled_time in ("not a time", "0001-01-01T00:00:00+01:00"):
        bad = status_change(
            "arn:aws:states:us-east-1:1:execution:test-report:y",
            aws.state_machine_arn,
            "FAILED",
            {"scheduledTime": scheduled_time},
        )
        assert lambda_handler(bad, CONTEXT)["marked"] is False


def test_a_success_the_state_machine_could_not_record_is_recorded_as_success(aws: Aws) -> None:
    execution = aws.start("unrecorded")
    claim(aws, execution, SLOT)
    task = {
        "TaskArn": "arn:aws:ecs:us-east-1:1:task/jobs/ok",
        "Containers": [{"Name": "sidecar", "ExitCode": 1}, {"Name": CONTAINER, "ExitCode": 0}],
    }
    event = status_change(execution, aws.state_machine_arn, "FAILED", {"scheduledTime": SLOT})
    event["detail"]["error"] = errors.SUCCESS_NOT_RECORDED
    event["detail"]["cause"] = json.dumps(task)

    assert lambda_handler(event, CONTEXT)["marked"] is True

    item = aws.item(slot_sort_key(SLOT))
    assert item is not None
    assert (item[STATUS]["S"], item[EXIT_CODE]["N"]) == (Status.SUCCEEDED, "0")
    assert aws.item(LEASE_SORT_KEY) is None


def test_an_aborted_executions_task_is_stopped_before_its_lease_is_released(aws: Aws) -> None:
    execution = aws.start("aborted")
    claim(aws, execution, SLOT)
    task_arn = aws.run_task(execution)
    aws.sfn.stop_execution(executionArn=execution)
    lambda_handler(
        status_change(execution, aws.state_machine_arn, "ABORTED", {"scheduledTime": SLOT}),
        CONTEXT,
    )
    assert aws.task(task_arn)["lastStatus"] == "STOPPED"
    item = aws.item(slot_sort_key(SLOT))
    assert item is not None
    assert item[TASK_ARN]["S"] == task_arn
    assert "STOPPED after" in item[TASK_STOP]["S"]


def test_the_reconciler_settles_runs_whose_status_change_event_was_lost(aws: Aws) -> None:
    lost = aws.start("lost")
    claim(aws, lost, SLOT)
    aws.sfn.stop_execution(executionArn=lost)  # ...and its status-change event never came
    still_running = aws.start("still-running")
    claim(aws, still_running, "2026-11-23T03:00:00Z", Concurrency.ALLOW)

    answer = lambda_handler(SCHEDULED, CONTEXT)

    assert answer == {"checked": 3, "fixed": 1}  # lost's slot and lease, still-running's slot
    item = aws.item(slot_sort_key(SLOT))
    assert item is not None and item[STATUS]["S"] == Status.ABORTED
    assert RUNNING_ATTRIBUTE not in item
    assert aws.item(LEASE_SORT_KEY) is None
    running = aws.item(slot_sort_key("2026-11-23T03:00:00Z"))
    assert running is not None and running[STATUS]["S"] == Status.RUNNING
    # The next slot runs at once, and a second pass has nothing left to fix.
    assert claim(aws, aws.start("next"), NEXT_SLOT).verdict is Verdict.RUN
    assert lambda_handler(SCHEDULED, CONTEXT)["fixed"] == 0


def test_the_reconciler_releases_a_lease_whose_run_recorded_its_end(aws: Aws) -> None:
    crashed = aws.start("crashed")
    claim(aws, crashed, SLOT)
    aws.dynamodb.update_item(  # recorded its outcome, then died before releasing the lease
        TableName=TABLE,
        Key={PARTITION_KEY: {"S": partition("report")}, SORT_KEY: {"S": slot_sort_key(SLOT)}},
        UpdateExpression=f"SET #s = :s REMOVE {RUNNING_ATTRIBUTE}",
        ExpressionAttributeNames={"#s": STATUS},
        ExpressionAttributeValues={":s": {"S": Status.SUCCEEDED}},
    )
    aws.sfn.stop_execution(executionArn=crashed)

    assert lambda_handler(SCHEDULED, CONTEXT) == {"checked": 1, "fixed": 1}
    assert aws.item(LEASE_SORT_KEY) is None


def deny_describe_execution_of(aws: Aws, execution: str) -> None:
    """What Step Functions answers when the execution's state machine is not (or no longer)
    tagged as this environment's: the cleanup's role reads only those (a removed job's state
    machine is deleted, and with it its tags)."""

    def deny(params: dict[str, Any], **_: Any) -> None:
        if params["executionArn"] == execution:
            raise ClientError(
                {
                    "Error": {
                        "Code": "AccessDeniedException",
                        "Message": f"not authorized to perform: states:DescribeExecution on "
                        f"resource: {execution}",
                    }
                },
                "DescribeExecution",
            )

    aws.hook(aws.sfn, "provide-client-params.sfn.DescribeExecution", deny)


def test_an_execution_the_reconciler_may_not_read_does_not_stop_it_settling_the_others(
    aws: Aws, monkeypatch: pytest.MonkeyPatch
) -> None:
    unreadable = aws.start("unreadable")
    claim(aws, unreadable, SLOT, Concurrency.ALLOW)
    lost = aws.start("lost")
    claim(aws, lost, NEXT_SLOT, Concurrency.ALLOW)
    aws.sfn.stop_execution(executionArn=lost)
    deny_describe_execution_of(aws, unreadable)
    clients = {"dynamodb": aws.dynamodb, "stepfunctions": aws.sfn, "ecs": aws.ecs}
    monkeypatch.setattr("lambdas.cleanup.handler.client", clients.get)

    with pytest.raises(ReconcileIncomplete, match=rf"{unreadable}.*AccessDeniedException"):
        lambda_handler(SCHEDULED, CONTEXT)

    settled = aws.item(slot_sort_key(NEXT_SLOT))
    assert settled is not None and settled[STATUS]["S"] == Status.ABORTED
    kept = aws.item(slot_sort_key(SLOT))
    assert kept is not None and kept[STATUS]["S"] == Status.RUNNING


SCHEDULED = {
    "version": "0",
    "source": "aws.events",
    "detail-type": "Scheduled Event",
    "resources": ["arn:aws:events:us-east-1:123456789012:rule/reconcile"],
    "detail": {},
}


def test_every_status_the_cleanup_subscribes_to_is_one_it_settles() -> None:
    assert set(ENDED_STATUSES) == set(SETTLED)


def test_cleanup_keeps_the_lease_of_a_still_stopping_task_until_the_reconciler_sees_it_stopped(
    aws: Aws,
) -> None:
    execution = aws.start("aborted")
    claim(aws, execution, SLOT)
    task_arn = aws.run_task(execution)
    aws.stuck_stopping(task_arn)
    aws.sfn.stop_execution(executionArn=execution)
    cleanup = aws.cleanup()
    event = status_change(execution, aws.state_machine_arn, "ABORTED", {"scheduledTime": SLOT})

    assert release(event, cleanup, "test")["marked"]

    item = aws.item(slot_sort_key(SLOT))
    assert item is not None and item[STATUS]["S"] == Status.ABORTED
    assert "not confirmed STOPPED" in item[TASK_STOP]["S"]
    assert aws.item(LEASE_SORT_KEY) is not None
    assert reconcile(aws.dynamodb, TABLE, cleanup) == {"checked": 1, "fixed": 0}
    assert aws.item(LEASE_SORT_KEY) is not None  # still stopping: still held

    aws.stopped_at_last(task_arn)
    assert reconcile(aws.dynamodb, TABLE, cleanup) == {"checked": 1, "fixed": 1}
    assert aws.item(LEASE_SORT_KEY) is None
    assert claim(aws, aws.start("next"), NEXT_SLOT).verdict is Verdict.RUN


# A removed (or renamed) job's state machine is deleted; a run of it still in ``Run job`` goes
# on until its next transition and then fails with this (DeleteStateMachine's documented
# behaviour; the cause as Step Functions words it).
DELETED = ("States.Runtime", "State machine test-report has been deleted.")


def being_deleted(aws: Aws, machine: str) -> None:
    """DescribeStateMachine says DELETING, as Step Functions does between DeleteStateMachine
    and the end of the machine's last execution (moto deletes at once)."""

    def deleting(parsed: dict[str, Any], model: Any, **_: Any) -> None:
        if parsed.get("stateMachineArn") == machine:
            parsed["status"] = "DELETING"

    aws.hook(aws.sfn, "after-call.states.DescribeStateMachine", deleting)


def exited(task_arn: str, code: int) -> None:
    """The task ended by itself with ``code`` (moto's containers always say 0)."""
    task = ecs_backends[ACCOUNT][REGION].tasks["jobs"][task_arn]
    task.containers[0].exitCode = code
    task.last_status = task.desired_status = "STOPPED"


def test_a_run_whose_state_machine_is_being_deleted_has_its_task_stopped_and_is_recorded_removed(
    aws: Aws,
) -> None:
    execution = aws.start("removed")
    claim(aws, execution, SLOT)
    task_arn = aws.run_task(execution)
    being_deleted(aws, aws.state_machine_arn)

    assert reconcile(aws.dynamodb, TABLE, aws.cleanup()) == {"checked": 2, "fixed": 1}

    assert aws.task(task_arn)["lastStatus"] == "STOPPED"
    assert aws.task(task_arn)["stoppedReason"] == "cronguard: job removed while running"
    item = aws.item(slot_sort_key(SLOT))
    assert item is not None
    assert (item[STATUS]["S"], item[REASON]["S"]) == (
        Status.ABORTED,
        "job removed while running: its task was stopped",
    )
    assert item[TASK_ARN]["S"] == task_arn
    assert "STOPPED after" in item[TASK_STOP]["S"]
    assert aws.item(LEASE_SORT_KEY) is None  # a renamed job's first slot may run now


def test_a_still_running_run_of_a_live_state_machine_is_left_alone(aws: Aws) -> None:
    execution = aws.start("running")
    claim(aws, execution, SLOT)
    task_arn = aws.run_task(execution)

    assert reconcile(aws.dynamodb, TABLE, aws.cleanup()) == {"checked": 2, "fixed": 0}

    assert aws.task(task_arn)["lastStatus"] == "RUNNING"
    item = aws.item(slot_sort_key(SLOT))
    assert item is not None and item[STATUS]["S"] == Status.RUNNING


@pytest.mark.parametrize(
    ("code", "recorded", "reason"),
    [
        (0, Status.SUCCEEDED, "job exited 0 (job removed while running, recorded by the cleanup)"),
        (3, Status.FAILED, "job exited 3 (job removed while running, recorded by the cleanup)"),
    ],
)
def test_a_run_ended_by_its_state_machines_deletion_is_recorded_with_its_tasks_exit_code(
    aws: Aws, code: int, recorded: Status, reason: str
) -> None:
    execution = aws.start("removed")
    claim(aws, execution, SLOT)
    task_arn = aws.run_task(execution)
    exited(task_arn, code)  # ...and at that transition Step Functions failed the execution
    event = status_change(execution, aws.state_machine_arn, "FAILED", {"scheduledTime": SLOT})
    event["detail"]["error"], event["detail"]["cause"] = DELETED

    answer = lambda_handler(event, CONTEXT)

    assert answer == {"job": "report", "slot": SLOT, "marked": True, "removed": True}
    item = aws.item(slot_sort_key(SLOT))
    assert item is not None
    assert (item[STATUS]["S"], item[REASON]["S"], item[EXIT_CODE]["N"]) == (
        recorded,
        reason,
        str(code),
    )
    assert aws.item(LEASE_SORT_KEY) is None


def test_the_reconciler_settles_a_run_whose_state_machine_is_gone(aws: Aws) -> None:
    execution = aws.start("removed")
    claim(aws, execution, SLOT)
    task_arn = aws.run_task(execution)
    exited(task_arn, 0)
    aws.sfn.delete_state_machine(stateMachineArn=aws.state_machine_arn)

    assert reconcile(aws.dynamodb, TABLE, aws.cleanup()) == {"checked": 2, "fixed": 1}

    item = aws.item(slot_sort_key(SLOT))
    assert item is not None and (item[STATUS]["S"], item[EXIT_CODE]["N"]) == ("SUCCEEDED", "0")
    assert aws.item(LEASE_SORT_KEY) is None


def test_only_a_deleted_state_machines_runtime_error_counts_as_its_removal() -> None:
    assert ended_by_deletion(*DELETED)
    assert not ended_by_deletion("States.Runtime", "An error occurred while executing the state")
    assert not ended_by_deletion(errors.JOB_FAILED, "State machine x has been deleted.")
    machine = state_machine_of("arn:aws:states:us-east-1:123456789012:execution:dev-job:20261122")
    assert machine == "arn:aws:states:us-east-1:123456789012:stateMachine:dev-job"


# A job with its own task definition (``task_definition_arn`` + ``container``) and an essential
# sidecar: nothing of it is named after cronguard's rendered task definition.
CATALOGUE = JobPayload(
    name="catalogue",
    concurrency="forbid",
    startingDeadlineSeconds=None,
    leaseSeconds=3600,
    retentionSeconds=86400,
    container="importer",
    taskFamily="catalogue",
    essentialSidecars=["agent"],
)


def catalogue_run(aws: Aws, name: str) -> tuple[str, str]:
    """A claimed run of the catalogue job and its task: (execution, task ARN)."""
    aws.task_definition(CATALOGUE["taskFamily"], CATALOGUE["container"], "agent")
    execution = aws.start(name, aws.state_machine(CATALOGUE))
    trigger = parse_trigger(scheduled(SLOT), name)
    aws.guard().run_or_skip(JobSettings.from_payload(CATALOGUE), trigger, execution)
    return execution, aws.run_task(execution, CATALOGUE["taskFamily"], CATALOGUE["container"])


def run_job_failed(task_arn: str, **exit_codes: int) -> tuple[str, str]:
    """The error and cause an execution fails with when ``Run job`` failed: the stopped task."""
    containers = [{"Name": name, "ExitCode": code} for name, code in exit_codes.items()]
    task = {"TaskArn": task_arn, "Containers": containers}
    return errors.JOB_FAILED, json.dumps({"Error": "States.TaskFailed", "Cause": json.dumps(task)})


def test_a_job_with_its_own_task_definition_has_its_task_stopped_when_stopped_by_hand(
    aws: Aws,
) -> None:
    execution, task_arn = catalogue_run(aws, "by-hand")
    aws.sfn.stop_execution(executionArn=execution)
    machine = state_machine_of(execution)

    answer = lambda_handler(
        status_change(execution, machine, "ABORTED", {"scheduledTime": SLOT}), CONTEXT
    )

    assert answer == {"job": "catalogue", "slot": SLOT, "marked": True}
    assert aws.task(task_arn)["lastStatus"] == "STOPPED"
    item = aws.item(slot_sort_key(SLOT), job="catalogue")
    assert item is not None
    assert (item[STATUS]["S"], item[TASK_ARN]["S"]) == (Status.ABORTED, task_arn)
    assert "STOPPED after" in item[TASK_STOP]["S"]
    assert aws.item(LEASE_SORT_KEY, job="catalogue") is None


def test_a_job_with_its_own_container_has_its_exit_code_recorded(aws: Aws) -> None:
    execution, task_arn = catalogue_run(aws, "failed")
    event = status_change(execution, state_machine_of(execution), "FAILED", {"scheduledTime": SLOT})
    event["detail"]["error"], event["detail"]["cause"] = run_job_failed(
        task_arn, agent=0, importer=3
    )

    assert lambda_handler(event, CONTEXT)["marked"] is True

    item = aws.item(slot_sort_key(SLOT), job="catalogue")
    assert item is not None
    assert (item[STATUS]["S"], item[REASON]["S"], item[EXIT_CODE]["N"]) == (
        Status.FAILED,
        "job exited 3",
        "3",
    )


def test_an_essential_sidecar_that_stopped_the_task_is_named(aws: Aws) -> None:
    execution, task_arn = catalogue_run(aws, "sidecar")
    event = status_change(execution, state_machine_of(execution), "FAILED", {"scheduledTime": SLOT})
    event["detail"]["error"], event["detail"]["cause"] = run_job_failed(
        task_arn, agent=1, importer=143
    )

    lambda_handler(event, CONTEXT)

    item = aws.item(slot_sort_key(SLOT), job="catalogue")
    assert item is not None
    assert (item[STATUS]["S"], item[REASON]["S"], item[EXIT_CODE]["N"]) == (
        Status.FAILED,
        "essential container agent exited 1",
        "143",
    )


def test_the_reconciler_reads_each_jobs_layout_once(aws: Aws) -> None:
    for name in ("lost", "also-lost"):
        execution, task_arn = catalogue_run(aws, name)
        aws.sfn.stop_execution(executionArn=execution)
        exited(task_arn, 0)
    sfn = RecordingClient(aws.sfn)
    cleanup = replace(aws.cleanup(), sfn=sfn)

    reconcile(aws.dynamodb, TABLE, cleanup)

    assert sfn.calls.count("DescribeStateMachine") == 1


def test_a_run_whose_state_machine_is_gone_is_looked_for_in_the_rendered_task_definition(
    aws: Aws,
) -> None:
    # Its job's settings went with its definition: the family and container cronguard renders
    # are what is left to look for.
    execution = aws.start("removed")
    claim(aws, execution, SLOT)
    task_arn = aws.run_task(execution)
    aws.sfn.delete_state_machine(stateMachineArn=aws.state_machine_arn)
    event = status_change(execution, aws.state_machine_arn, "FAILED", {"scheduledTime": SLOT})
    event["detail"]["error"], event["detail"]["cause"] = DELETED

    assert lambda_handler(event, CONTEXT)["removed"] is True

    assert aws.task(task_arn)["lastStatus"] == "STOPPED"
    item = aws.item(slot_sort_key(SLOT))
    assert item is not None
    assert (item[STATUS]["S"], item[TASK_ARN]["S"]) == (Status.ABORTED, task_arn)
    assert aws.item(LEASE_SORT_KEY) is None


def test_the_guard_states_payload_is_the_jobs_settings() -> None:
    assert job_of_definition(definition_of(CATALOGUE)) == CATALOGUE
    with pytest.raises(ValueError, match="carries no job settings"):
        job_of_definition(json.dumps({"StartAt": "Wait", "States": {"Wait": {"Type": "Wait"}}}))


def test_a_reconcile_after_an_event_that_published_nothing_counts_for_the_environment(
    aws: Aws,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    recwarn: pytest.WarningsRecorder,
) -> None:
    # One warm execution environment: a status change for a run its state machine already
    # recorded (nothing to settle, no metric), then the 5-minute reconcile.
    execution = aws.start("done")
    claim(aws, execution, SLOT)
    from tests.lambdas.test_guard_handler import finish_success

    finish_success(aws, execution, SLOT)
    # The guard ran in this process; in AWS it runs in its own execution environment.
    cleanup_metrics.clear_metrics()
    monkeypatch.setenv("POWERTOOLS_METRICS_DISABLED", "false")
    capsys.readouterr()

    late = status_change(execution, aws.state_machine_arn, "FAILED", {"scheduledTime": SLOT})
    assert lambda_handler(late, CONTEXT)["marked"] is False
    lambda_handler(SCHEDULED, CONTEXT)

    (blob,) = [
        json.loads(line)
        for line in capsys.readouterr().out.splitlines()
        if metrics_contract.RUNS_RECONCILED in line
    ]
    assert blob["_aws"]["CloudWatchMetrics"][0]["Dimensions"] == [
        [metrics_contract.ENVIRONMENT_DIMENSION, metrics_contract.SERVICE_DIMENSION]
    ]
    assert metrics_contract.JOB_DIMENSION not in blob  # the earlier event's job
    overwritten = [w for w in recwarn if "has already been added" in str(w.message)]
    assert overwritten == []
