"""End to end: the synthesized ASL, the real guard and cleanup, scripted ECS tasks, no AWS."""

from __future__ import annotations

import itertools
import json
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from botocore.exceptions import ClientError

from cronguard_simulation.engine import StopCause, TaskScript
from cronguard_simulation.engine.ecs import SPOT_INTERRUPTION
from cronguard_simulation.engine.lambdas import Handler, LambdaRuntimeCrash
from lambdas.core import errors
from lambdas.core.ledger import LedgerTable
from lambdas.core.outcome import of_failed_execution
from tests.e2e.conftest import Engine, Slot


@pytest.fixture
def reads_meet(monkeypatch: pytest.MonkeyPatch) -> Callable[[int], None]:
    """Make the worst interleaving certain: hold the first ``count`` ledger reads until all of
    them are done, so every guard sees the slot free and only the conditional write can stop
    a second run. (Left to the scheduler, fast guards often run one after another.)"""

    def arm(count: int) -> None:
        meet = threading.Barrier(count, timeout=30)
        taken = itertools.count()
        read = LedgerTable.read

        def read_then_meet(self: LedgerTable, job: str, slot: str, *renamed_from: Any) -> Any:
            snapshot = read(self, job, slot, *renamed_from)
            if next(taken) < count:  # later reads (a guard deciding again) pass straight on
                meet.wait()
            return snapshot

        monkeypatch.setattr(LedgerTable, "read", read_then_meet)

    return arm


# Under forbid the job's lease would also stop a second run; under allow (no lease) the slot's
# conditional write is the only authority: both must hold.
@pytest.mark.parametrize("job", ["forbid-job", "allow-job"])
def test_1_twenty_five_concurrent_starts_for_one_slot_run_one_task(
    engine: Engine, slot: Slot, job: str, reads_meet: Callable[[int], None]
) -> None:
    the_slot = slot()
    reads_meet(25)
    engine.aws.script_tasks(engine.task_definition(job), TaskScript(duration_seconds=2))
    arns: list[str] = []
    lock = threading.Lock()

    def trigger(index: int) -> None:
        arn = engine.start(job, f"burst-{index}", {"scheduledTime": the_slot, "attempt": "0"})
        with lock:
            arns.append(arn)

    threads = [threading.Thread(target=trigger, args=(i,)) for i in range(25)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    finals = {arn: engine.final_state(arn) for arn in arns if engine.aws.wait(arn, 60)}

    assert len(engine.aws.tasks_started(engine.task_definition(job))) == 1
    assert sorted(finals.values()).count("Succeeded") == 1
    skipped = [arn for arn, state in finals.items() if state == "Skipped: duplicate"]
    assert len(skipped) == 24
    assert all(engine.output(arn)["reason"] == "duplicate" for arn in skipped)
    item = engine.slot(job, the_slot)
    assert item is not None
    assert (item["status"]["S"], item["duplicates"]["N"]) == ("SUCCEEDED", "24")
    assert engine.lease(job) is None


def test_2_a_finished_slot_is_skipped_and_force_runs_it_again(engine: Engine, slot: Slot) -> None:
    succeeded, failed = slot(-1), slot(0)
    engine.aws.script_tasks(
        engine.task_definition("forbid-job"), TaskScript(), TaskScript(exit_code=1)
    )
    assert engine.run("forbid-job", "ok", {"scheduledTime": succeeded})["status"] == "SUCCEEDED"
    assert engine.run("forbid-job", "bad", {"scheduledTime": failed})["status"] == "FAILED"

    for name, the_slot in (("again-ok", succeeded), ("again-bad", failed)):
        arn = engine.start("forbid-job", name, {"scheduledTime": the_slot})
        engine.aws.wait(arn)
        assert engine.final_state(arn) == "Skipped: duplicate"
    assert len(engine.aws.tasks_started(engine.task_definition("forbid-job"))) == 2

    for name, the_slot in (("force-ok", succeeded), ("force-bad", failed)):
        forced = engine.run("forbid-job", name, {"scheduledTime": the_slot, "force": True})
        assert forced["status"] == "SUCCEEDED"
        item = engine.slot("forbid-job", the_slot)
        assert item is not None
        assert (item["status"]["S"], item["forced"]["BOOL"]) == ("SUCCEEDED", True)
        assert item["owner"]["S"].endswith(f":{name}")
    assert len(engine.aws.tasks_started(engine.task_definition("forbid-job"))) == 4


def test_3a_forbid_skips_the_next_slot_while_the_previous_run_runs(
    engine: Engine, slot: Slot
) -> None:
    release = threading.Event()  # the first run runs until the second is decided
    engine.aws.script_tasks(engine.task_definition("forbid-job"), TaskScript(held_by=release))
    first = engine.start("forbid-job", "first", {"scheduledTime": slot(-1)})
    engine.wait_for_tasks("forbid-job", 1)
    second = engine.start("forbid-job", "second", {"scheduledTime": slot(0)})
    engine.aws.wait(second)
    release.set()
    assert engine.final_state(second) == "Skipped: overlap"
    assert engine.aws.wait(first)["status"] == "SUCCEEDED"
    item = engine.slot("forbid-job", slot(0))
    assert item is not None
    assert item["status"]["S"] == "SKIPPED_OVERLAP"
    assert len(engine.aws.tasks_started(engine.task_definition("forbid-job"))) == 1


def test_3b_replace_stops_the_older_execution_and_its_task(engine: Engine, slot: Slot) -> None:
    engine.aws.script_tasks(
        engine.task_definition("replace-job"),
        TaskScript(held_by=threading.Event()),  # runs until it is stopped
        TaskScript(duration_seconds=0.5),
    )
    older = engine.start("replace-job", "older", {"scheduledTime": slot(-1)})
    engine.wait_for_tasks("replace-job", 1)
    newer = engine.run("replace-job", "newer", {"scheduledTime": slot(0)})
    assert newer["status"] == "SUCCEEDED"
    assert engine.aws.wait(older)["status"] == "ABORTED"
    old_task, new_task = engine.aws.tasks_started(engine.task_definition("replace-job"))
    assert old_task.execution_arn == older
    # The guard stops the old task and waits for it; Step Functions' own stop may come first.
    assert old_task.stop_cause in {StopCause.STOP_TASK, StopCause.EXECUTION_STOPPED}
    assert old_task.stopped_at is not None
    assert new_task.exit_code == 0
    replaced = engine.slot("replace-job", slot(-1))
    assert replaced is not None
    assert replaced["status"]["S"] == "ABORTED"
    assert replaced["reason"]["S"].startswith("replaced by")
    assert engine.lease("replace-job") is None


def test_3c_allow_runs_both(engine: Engine, slot: Slot) -> None:
    # Both runs are held until the second has started, whatever the machine's load.
    release = threading.Event()
    engine.aws.script_tasks(
        engine.task_definition("allow-job"),
        TaskScript(held_by=release),
        TaskScript(held_by=release),
    )
    first = engine.start("allow-job", "first", {"scheduledTime": slot(-1)})
    engine.wait_for_tasks("allow-job", 1)
    second = engine.start("allow-job", "second", {"scheduledTime": slot(0)})
    engine.wait_for_tasks("allow-job", 2)
    release.set()
    assert engine.aws.wait(first)["status"] == engine.aws.wait(second)["status"] == "SUCCEEDED"
    first_task, second_task = engine.aws.tasks_started(engine.task_definition("allow-job"))
    assert first_task.stopped_at is not None
    assert second_task.started_at < first_task.stopped_at  # they ran at the same time


def test_4_a_non_zero_exit_fails_the_execution_and_is_recorded(engine: Engine, slot: Slot) -> None:
    engine.aws.script_tasks(engine.task_definition("forbid-job"), TaskScript(exit_code=3))
    described = engine.run("forbid-job", "exit-3", {"scheduledTime": slot()})
    assert (described["status"], described["error"]) == ("FAILED", errors.JOB_FAILED)
    assert json.loads(described["cause"])["Error"] == "States.TaskFailed"
    item = engine.slot("forbid-job", slot())
    assert item is not None
    assert (item["status"]["S"], item["exit_code"]["N"]) == ("FAILED", "3")
    assert item["reason"]["S"] == "job exited 3"
    assert item["task_arn"]["S"] == engine.aws.tasks_started()[0].task_arn
    assert engine.lease("forbid-job") is None


def test_5_two_launch_failures_then_success_run_the_job_once(engine: Engine, slot: Slot) -> None:
    engine.aws.script_tasks(
        engine.task_definition("forbid-job"),
        TaskScript(launch_failure="RESOURCE:FARGATE"),
        TaskScript(launch_failure="RESOURCE:FARGATE"),
        TaskScript(),
    )
    arn = engine.start("forbid-job", "capacity", {"scheduledTime": slot()})
    assert engine.aws.wait(arn)["status"] == "SUCCEEDED"
    assert engine.output(arn)["retries"] == 2  # what the LaunchRetries metric reports
    assert len(engine.aws.tasks_started(engine.task_definition("forbid-job"))) == 1
    attempts = [
        event
        for event in engine.aws.history(arn)
        if event["type"] == "TaskScheduled"
        and event["taskScheduledEventDetails"]["resourceType"] == "ecs"
    ]
    assert len(attempts) == 3
    item = engine.slot("forbid-job", slot())
    assert item is not None
    assert item["status"]["S"] == "SUCCEEDED"


def test_6_a_job_past_its_timeout_is_stopped_and_recorded(engine: Engine, slot: Slot) -> None:
    engine.aws.script_tasks(engine.task_definition("timeout-job"), TaskScript(duration_seconds=30))
    described = engine.run("timeout-job", "slow", {"scheduledTime": slot()})
    assert (described["status"], described["error"]) == ("FAILED", errors.JOB_TIMED_OUT)
    assert json.loads(described["cause"])["Error"] == "States.Timeout"
    (task,) = engine.aws.tasks_started(engine.task_definition("timeout-job"))
    # Stopped before the lease is released: by the guard, or first by Step Functions.
    assert task.stop_cause in {StopCause.STOP_TASK, StopCause.STATE_TIMED_OUT}
    item = engine.slot("timeout-job", slot())
    assert item is not None
    assert (item["status"]["S"], item["reason"]["S"]) == ("TIMED_OUT", "job exceeded its timeout")
    assert engine.lease("timeout-job") is None


def test_7_stop_execution_mid_run_is_cleaned_up_and_the_next_slot_runs(
    engine: Engine, slot: Slot
) -> None:
    engine.aws.script_tasks(
        engine.task_definition("forbid-job"),
        TaskScript(held_by=threading.Event()),  # runs until it is stopped
        TaskScript(),
    )
    stopped = engine.start("forbid-job", "stopped", {"scheduledTime": slot(-1)})
    engine.wait_for_tasks("forbid-job", 1)
    assert engine.lease("forbid-job") is not None
    engine.aws.sfn.stop_execution(executionArn=stopped, error="Operator", cause="by hand")
    assert engine.aws.wait(stopped)["status"] == "ABORTED"  # waits for the cleanup event too
    item = engine.slot("forbid-job", slot(-1))
    assert item is not None
    assert item["status"]["S"] == "ABORTED"
    assert engine.lease("forbid-job") is None
    assert engine.run("forbid-job", "next", {"scheduledTime": slot(0)})["status"] == "SUCCEEDED"
    assert len(engine.aws.tasks_started(engine.task_definition("forbid-job"))) == 2


def test_8a_an_input_without_scheduled_time_is_a_manual_run(engine: Engine) -> None:
    described = engine.run("forbid-job", "by-hand", {})
    assert described["status"] == "SUCCEEDED"
    (task,) = engine.aws.tasks_started(engine.task_definition("forbid-job"))
    assert task.environment["CRONGUARD_SLOT"] == "manual:by-hand"
    assert task.environment["CRONGUARD_JOB"] == "forbid-job"
    assert task.environment["CRONGUARD_EXECUTION_ARN"] == described["executionArn"]
    assert task.group == "cronguard:forbid-job"
    item = engine.slot("forbid-job", "manual:by-hand")
    assert item is not None
    assert item["status"]["S"] == "SUCCEEDED"


def test_8b_malformed_inputs_fail_clearly_and_hold_nothing(engine: Engine) -> None:
    bad_inputs: list[dict[str, Any]] = [
        {"scheduledTime": "yesterday"},
        {"scheduledTime": 1763780400},
        {"scheduledTime": "2026-11-22T03:00:00Z", "force": "yes"},
        {"scheduled_time": "2026-11-22T03:00:00Z"},
    ]
    for index, bad in enumerate(bad_inputs):
        arn = engine.start("forbid-job", f"bad-{index}", bad)
        described = engine.aws.wait(arn)
        assert (described["status"], described["error"]) == ("FAILED", "cronguard.InvalidInput")
        assert engine.final_state(arn) == "Invalid input"
    assert engine.aws.tasks_started() == []
    assert engine.lease("forbid-job") is None
    scanned = engine.aws.dynamodb.scan(TableName=engine.local.ledger_table)["Items"]
    assert scanned == []


def test_8c_a_trigger_for_a_slot_days_ahead_fails_as_invalid_input_and_claims_nothing(
    engine: Engine,
) -> None:
    """A typo'd --slot, a backfill past now, a fast operator clock: the run does not start early,
    and the slot stays free for Scheduler's delivery at its time."""
    ahead = (datetime.now(UTC) + timedelta(days=2)).strftime("%Y-%m-%dT%H:%M:%SZ")
    for name, run_input in (
        ("ahead", {"scheduledTime": ahead, "attempt": "1"}),
        ("ahead-forced", {"scheduledTime": ahead, "force": True}),
    ):
        arn = engine.start("forbid-job", name, run_input)
        described = engine.aws.wait(arn)  # the cleanup handled its status change without error
        assert (described["status"], described["error"]) == ("FAILED", errors.INVALID_INPUT)
        assert f"slot {ahead} is in the future" in described["cause"]
        assert engine.final_state(arn) == "Invalid input"
    assert engine.aws.tasks_started() == []
    assert engine.lease("forbid-job") is None
    assert engine.slot("forbid-job", ahead) is None
    assert len(engine.aws.status_change_events) == 2


def _transaction_conflict() -> Exception:
    conflict: Exception = ClientError(
        {"Error": {"Code": "TransactionConflictException", "Message": "conflict"}},
        "TransactWriteItems",
    )
    return conflict


@pytest.mark.parametrize(
    "failure",
    [_transaction_conflict, lambda: LambdaRuntimeCrash("Runtime exited")],
    ids=["dynamodb-transaction-conflict", "lambda-unknown"],
)
def test_9_a_guard_that_fails_once_with_a_transient_error_still_runs_the_slot(
    engine: Engine, slot: Slot, failure: Callable[[], Exception]
) -> None:
    claims = itertools.count()

    def fails_first_claim(guard: Handler) -> Handler:
        def handler(event: Any, context: Any) -> Any:
            if event["action"] == "claim" and next(claims) == 0:
                raise failure()
            return guard(event, context)

        return handler

    engine.wrap_guard("forbid-job", fails_first_claim)
    described = engine.run("forbid-job", "transient", {"scheduledTime": slot()})
    assert described["status"] == "SUCCEEDED"
    assert len(engine.aws.tasks_started(engine.task_definition("forbid-job"))) == 1
    item = engine.slot("forbid-job", slot())
    assert item is not None
    assert item["status"]["S"] == "SUCCEEDED"


def test_10_a_malformed_input_is_not_retried(engine: Engine) -> None:
    arn = engine.start("forbid-job", "bad", {"scheduledTime": "yesterday"})
    assert engine.aws.wait(arn)["error"] == errors.INVALID_INPUT
    guard_attempts = [
        event
        for event in engine.aws.history(arn)
        if event["type"] == "TaskScheduled"
        and event["taskScheduledEventDetails"]["resourceType"] == "lambda"
    ]
    assert len(guard_attempts) == 1


def test_11_a_success_that_cannot_be_recorded_fails_as_such_never_as_a_failed_job(
    engine: Engine, slot: Slot
) -> None:
    def one_attempt(definition: dict[str, Any]) -> None:
        definition["States"]["Record success"]["Retry"][0]["MaxAttempts"] = 1

    def ledger_down_at_finish(guard: Handler) -> Handler:
        def handler(event: Any, context: Any) -> Any:
            if event["action"] == "finish":
                raise _transaction_conflict()
            return guard(event, context)

        return handler

    engine.update_definition("forbid-job", one_attempt)
    engine.wrap_guard("forbid-job", ledger_down_at_finish)
    arn = engine.start("forbid-job", "unrecorded", {"scheduledTime": slot()})
    described = engine.aws.wait(arn, timeout=60)
    assert (described["status"], described["error"]) == ("FAILED", errors.SUCCESS_NOT_RECORDED)
    assert engine.final_state(arn) == "Success not recorded"
    (task,) = engine.aws.tasks_started(engine.task_definition("forbid-job"))
    ended = of_failed_execution(described["error"], described["cause"], container="job")
    assert ended is not None
    assert (ended.status.value, ended.exit_code, ended.task_arn) == ("SUCCEEDED", 0, task.task_arn)


def test_12_exhausted_launch_failures_fail_as_launch_failed_with_the_original_error(
    engine: Engine, slot: Slot
) -> None:
    engine.aws.script_tasks(
        engine.task_definition("forbid-job"), default=TaskScript(launch_failure="RESOURCE:FARGATE")
    )
    described = engine.run("forbid-job", "no-capacity", {"scheduledTime": slot()})
    assert (described["status"], described["error"]) == ("FAILED", errors.LAUNCH_FAILED)
    original = json.loads(described["cause"])
    assert original["Error"] == "AmazonECS.Unknown"
    assert "RESOURCE:FARGATE" in original["Cause"]
    assert engine.final_state(described["executionArn"]) == "Failed"


def test_13_a_job_that_fails_once_is_retried_and_its_second_attempt_succeeds(
    engine: Engine, slot: Slot
) -> None:
    engine.aws.script_tasks(
        engine.task_definition("retry-job"), TaskScript(exit_code=3), TaskScript(exit_code=0)
    )
    described = engine.run("retry-job", "flaky", {"scheduledTime": slot()})
    assert described["status"] == "SUCCEEDED", described.get("cause")
    first, second = engine.aws.tasks_started(engine.task_definition("retry-job"))
    assert (first.exit_code, second.exit_code) == (3, 0)
    assert first.stopped_at is not None and first.stopped_at <= second.started_at
    item = engine.slot("retry-job", slot())
    assert item is not None
    assert (item["status"]["S"], item["exit_code"]["N"]) == ("SUCCEEDED", "0")
    assert item["task_arn"]["S"] == second.task_arn
    assert item["retries"]["N"] == "1"  # the failed first attempt
    assert engine.lease("retry-job") is None


def test_14_job_retries_retry_a_non_zero_exit_but_not_a_run_ecs_refuses(
    engine: Engine, slot: Slot
) -> None:
    """A missing cluster (RunTask raises ECS.ClusterNotFoundException) is a failure retrying
    cannot fix: under job_retries it fails at once, where a non-zero exit is retried."""

    def attempts(execution_arn: str) -> int:
        return sum(
            1
            for event in engine.aws.history(execution_arn)
            if event["type"] == "TaskScheduled"
            and event["taskScheduledEventDetails"]["resource"] == "runTask.sync"
        )

    engine.aws.script_tasks(engine.task_definition("retry-job"), default=TaskScript(exit_code=3))
    exited = engine.run("retry-job", "exits-3", {"scheduledTime": slot(-1)})
    assert (exited["status"], exited["error"]) == ("FAILED", errors.JOB_FAILED)
    assert attempts(exited["executionArn"]) == 2  # the run and its one job retry

    def without_its_cluster(definition: dict[str, Any]) -> None:
        arguments = definition["States"]["Run job"]["Arguments"]
        arguments["Cluster"] = arguments["Cluster"].rsplit("/", 1)[0] + "/no-such-cluster"

    engine.update_definition("retry-job", without_its_cluster)
    refused = engine.run("retry-job", "no-cluster", {"scheduledTime": slot(0)})
    assert (refused["status"], refused["error"]) == ("FAILED", errors.RUN_FAILED)
    assert json.loads(refused["cause"])["Error"] == "ECS.ClusterNotFoundException"
    assert attempts(refused["executionArn"]) == 1  # not retried
    item = engine.slot("retry-job", slot(0))
    assert item is not None
    assert item["status"]["S"] == "FAILED"
    assert "retries" not in item


def test_15_job_retries_by_exit_code_retry_only_the_listed_codes_and_a_spot_interruption(
    engine: Engine, slot: Slot
) -> None:
    """retry-codes-job retries exit 75 and 137 (an OOM kill) up to twice, a Spot interruption
    whatever its exit code, and nothing else; the ledger keeps every attempt's exit code."""
    job = "retry-codes-job"
    engine.aws.script_tasks(
        engine.task_definition(job),
        TaskScript(exit_code=75),
        TaskScript(exit_code=137),
        TaskScript(exit_code=0),
    )
    recovered = engine.run(job, "tempfail-then-oom", {"scheduledTime": slot(-3)})
    assert recovered["status"] == "SUCCEEDED", recovered.get("cause")
    item = engine.slot(job, slot(-3))
    assert item is not None
    assert (item["status"]["S"], item["exit_code"]["N"], item["retries"]["N"]) == (
        "SUCCEEDED",
        "0",
        "2",
    )
    attempts = [entry["M"] for entry in item["attempts"]["L"]]
    assert [entry["exit_code"]["N"] for entry in attempts] == ["75", "137", "0"]
    tasks = engine.aws.tasks_started(engine.task_definition(job))
    assert [entry["task_arn"]["S"] for entry in attempts] == [task.task_arn for task in tasks]
    assert engine.lease(job) is None

    engine.aws.script_tasks(engine.task_definition(job), TaskScript(exit_code=2))
    refused = engine.run(job, "exits-2", {"scheduledTime": slot(-2)})
    assert (refused["status"], refused["error"]) == ("FAILED", errors.JOB_FAILED)
    assert len(engine.aws.tasks_started(engine.task_definition(job))) == 4  # not retried
    item = engine.slot(job, slot(-2))
    assert item is not None
    assert (item["status"]["S"], item["exit_code"]["N"]) == ("FAILED", "2")
    assert "attempts" not in item and "retries" not in item

    engine.aws.script_tasks(
        engine.task_definition(job),
        TaskScript(exit_code=143, stop_code=SPOT_INTERRUPTION),
        TaskScript(exit_code=75),
        TaskScript(exit_code=75),
    )
    exhausted = engine.run(job, "spot-then-tempfail", {"scheduledTime": slot(-1)})
    assert (exhausted["status"], exhausted["error"]) == ("FAILED", errors.JOB_FAILED)
    assert len(engine.aws.tasks_started(engine.task_definition(job))) == 7  # 1 run + 2 retries
    item = engine.slot(job, slot(-1))
    assert item is not None
    assert item["status"]["S"] == "FAILED"
    attempts = [entry["M"] for entry in item["attempts"]["L"]]
    assert [(entry["exit_code"]["N"], entry["stop_code"]["S"]) for entry in attempts] == [
        ("143", SPOT_INTERRUPTION),
        ("75", "EssentialContainerExited"),
        ("75", "EssentialContainerExited"),
    ]
    assert engine.lease(job) is None


def test_16_a_persons_overrides_reach_the_jobs_container_and_the_slot_and_nothing_else(
    engine: Engine, slot: Slot
) -> None:
    job = "retry-codes-job"
    overrides = {
        "environment": {"MODE": "dry", "RUN_REASON": "re-run after the fix"},
        "command": ["report", "--dry-run"],
    }
    described = engine.run(job, "overridden", {"scheduledTime": slot(-1), "overrides": overrides})
    assert described["status"] == "SUCCEEDED", described.get("cause")
    (task,) = engine.aws.tasks_started(engine.task_definition(job))
    assert task.environment == {
        "CRONGUARD_JOB": job,
        "CRONGUARD_SLOT": slot(-1),
        "CRONGUARD_EXECUTION_ARN": described["executionArn"],
        "MODE": "dry",
        "RUN_REASON": "re-run after the fix",
    }
    (container,) = task.overrides["containerOverrides"]
    assert (container["name"], container["command"]) == ("job", ["report", "--dry-run"])
    item = engine.slot(job, slot(-1))
    assert item is not None
    assert json.loads(item["overrides"]["S"]) == overrides

    # Nothing is claimed or started for overrides the guard refuses.
    for name, run_input in (
        ("scheduled", {"scheduledTime": slot(0), "attempt": "1", "overrides": overrides}),
        ("undeclared", {"scheduledTime": slot(0), "overrides": {"environment": {"PATH": "/"}}}),
        (
            "reserved",
            {"scheduledTime": slot(0), "overrides": {"environment": {"CRONGUARD_SLOT": "x"}}},
        ),
    ):
        refused = engine.run(job, name, run_input)
        assert (refused["status"], refused["error"]) == ("FAILED", errors.INVALID_INPUT), name
    assert engine.slot(job, slot(0)) is None
    assert len(engine.aws.tasks_started(engine.task_definition(job))) == 1

    # A run without overrides gets cronguard's variables only, and its task definition's command.
    plain = engine.run(job, "plain", {"scheduledTime": slot(-2)})
    assert plain["status"] == "SUCCEEDED", plain.get("cause")
    latest = engine.aws.tasks_started(engine.task_definition(job))[-1]
    assert set(latest.environment) == {"CRONGUARD_JOB", "CRONGUARD_SLOT", "CRONGUARD_EXECUTION_ARN"}
    assert "command" not in latest.overrides["containerOverrides"][0]
    assert "overrides" not in (engine.slot(job, slot(-2)) or {})
