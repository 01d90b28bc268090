"""The guard against moto's DynamoDB and Step Functions: the ledger is the authority."""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from lambdas.core import clients, ledger_contract, metrics_contract, outcome
from lambdas.core.guard_contract import (
    ClaimRequest,
    Concurrency,
    ExecutionPayload,
    FinishFailed,
    FinishSucceeded,
    JobPayload,
)
from lambdas.core.ledger import LedgerTable
from lambdas.core.ledger_contract import (
    DUPLICATES,
    EXIT_CODE,
    FORCED,
    HOLDER,
    LEASE_SORT_KEY,
    OWNER,
    PARTITION_KEY,
    REASON,
    RETRIES,
    RUNNING_ATTRIBUTE,
    RUNS,
    SORT_KEY,
    STATUS,
    STOPPED_REASON,
    TASK_ARN,
    TASK_STOP,
    Status,
    partition,
    slot_sort_key,
)
from lambdas.core.pause import Pause, pause_update, read_pause, resume_update
from lambdas.core.pause import key as pause_key
from lambdas.core.times import CLOCK_SKEW, slot_key
from lambdas.core.trigger import InvalidInput, parse_trigger
from lambdas.guard.decision import Verdict
from lambdas.guard.executions import Executions
from lambdas.guard.handler import Guard, JobSettings, lambda_handler
from tests.lambdas.conftest import CONTAINER, CONTEXT, FAMILY, TABLE, Aws, RecordingClient

SLOT = "2026-11-22T03:00:00Z"
NEXT_SLOT = "2026-11-22T04:00:00Z"


def job(concurrency: Concurrency = Concurrency.FORBID, lease: int = 3600) -> JobSettings:
    return JobSettings(
        name="report",
        concurrency=concurrency,
        starting_deadline=None,
        lease=timedelta(seconds=lease),
        retention=timedelta(days=7),
        container=CONTAINER,
        task_family=FAMILY,
    )


def scheduled(slot: str, **extra: Any) -> dict[str, Any]:
    return {"scheduledTime": slot, "attempt": "1", **extra}


def claim(
    aws: Aws, execution: str, slot: str, concurrency: Concurrency = Concurrency.FORBID, **extra: Any
) -> Any:
    trigger = parse_trigger(scheduled(slot, **extra), execution.rsplit(":", 1)[-1])
    return aws.guard().run_or_skip(job(concurrency), trigger, execution)


def finish_success(aws: Aws, execution: str, slot: str) -> None:
    event = {
        "action": "finish",
        "outcome": "succeeded",
        "job": payload_job(),
        "slot": slot,
        "task": {
            "TaskArn": "arn:aws:ecs:us-east-1:1:task/c/abc",
            "Containers": [{"Name": CONTAINER, "ExitCode": 0}],
        },
        "execution": {"id": execution, "name": execution.rsplit(":", 1)[-1]},
    }
    lambda_handler(event, CONTEXT)


def finish_failure(execution: str, error: dict[str, str]) -> dict[str, Any]:
    """What ``Record failure`` sends when ``Run job`` failed with ``error``."""
    event = {
        "action": "finish",
        "outcome": "failed",
        "job": payload_job(),
        "slot": SLOT,
        "error": error,
        "execution": {"id": execution, "name": execution.rsplit(":", 1)[-1]},
    }
    answer: dict[str, Any] = lambda_handler(event, CONTEXT)
    return answer


def payload_job(concurrency: Concurrency = Concurrency.FORBID) -> dict[str, Any]:
    return {
        "name": "report",
        "concurrency": concurrency.value,
        "startingDeadlineSeconds": None,
        "leaseSeconds": 3600,
        "retentionSeconds": 604800,
        "container": CONTAINER,
        "taskFamily": FAMILY,
    }


@pytest.mark.parametrize("concurrency", [Concurrency.FORBID, Concurrency.ALLOW])
def test_twenty_racing_triggers_for_one_slot_run_once(aws: Aws, concurrency: Concurrency) -> None:
    executions = [aws.start(f"race-{i}") for i in range(20)]
    verdicts: dict[str, Verdict] = {}
    barrier = threading.Barrier(len(executions))

    def trigger(execution: str) -> None:
        barrier.wait()
        verdicts[execution] = claim(aws, execution, SLOT, concurrency).verdict

    threads = [threading.Thread(target=trigger, args=(e,)) for e in executions]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    runs = [e for e, v in verdicts.items() if v is Verdict.RUN]
    assert len(runs) == 1
    assert sorted(v.value for v in verdicts.values()).count("duplicate") == 19
    item = aws.item(slot_sort_key(SLOT))
    assert item is not None
    assert item[OWNER]["S"] == runs[0]
    assert item[STATUS]["S"] == Status.RUNNING
    assert item[DUPLICATES]["N"] == "19"
    lease = aws.item(LEASE_SORT_KEY)
    if concurrency is Concurrency.ALLOW:
        assert lease is None  # allow takes no lease: the slot's condition alone decided
    else:
        assert lease is not None
        assert lease[HOLDER]["S"] == runs[0]


def test_duplicate_after_the_run_succeeded_is_skipped(aws: Aws) -> None:
    first = aws.start("first")
    assert claim(aws, first, SLOT).verdict is Verdict.RUN
    finish_success(aws, first, SLOT)
    assert aws.item(LEASE_SORT_KEY) is None  # released on success

    late = aws.start("late-duplicate")
    decision = claim(aws, late, SLOT)
    assert decision.verdict is Verdict.DUPLICATE
    assert "succeeded" in decision.reason
    item = aws.item(slot_sort_key(SLOT))
    assert item is not None and item[STATUS]["S"] == Status.SUCCEEDED
    assert item[EXIT_CODE]["N"] == "0"


def test_force_reruns_a_finished_slot_and_keeps_the_earlier_run(aws: Aws) -> None:
    first = aws.start("first")
    claim(aws, first, SLOT)
    finish_success(aws, first, SLOT)
    claim(aws, aws.start("dup"), SLOT)  # a duplicate trigger, counted on the first run
    again = aws.start("again")
    assert claim(aws, again, SLOT, force=True).verdict is Verdict.RUN
    item = aws.item(slot_sort_key(SLOT))
    assert item is not None and item[OWNER]["S"] == again
    assert item[FORCED]["BOOL"] is True
    assert "exit_code" not in item  # the new run has not ended
    (earlier,) = item[RUNS]["L"]
    kept = earlier["M"]
    assert kept[OWNER]["S"] == first
    assert kept[STATUS]["S"] == Status.SUCCEEDED
    assert kept[EXIT_CODE]["N"] == "0"
    assert kept[TASK_ARN]["S"] == "arn:aws:ecs:us-east-1:1:task/c/abc"
    assert kept[DUPLICATES]["N"] == "1"

    finish_success(aws, again, SLOT)
    third = aws.start("third")
    claim(aws, third, SLOT, force=True)
    item = aws.item(slot_sort_key(SLOT))
    assert item is not None
    assert [run["M"][OWNER]["S"] for run in item[RUNS]["L"]] == [first, again]


def test_next_slot_while_the_previous_run_runs_is_skipped_as_overlap(aws: Aws) -> None:
    first = aws.start("first")
    assert claim(aws, first, SLOT).verdict is Verdict.RUN
    second = aws.start("second")
    decision = claim(aws, second, NEXT_SLOT)
    assert decision.verdict is Verdict.OVERLAP
    skipped = aws.item(slot_sort_key(NEXT_SLOT))
    assert skipped is not None and skipped[STATUS]["S"] == Status.SKIPPED_OVERLAP
    # A duplicate of the skipped slot is a duplicate: the slot was consumed by the skip.
    assert claim(aws, aws.start("third"), NEXT_SLOT).verdict is Verdict.DUPLICATE


def test_lease_held_by_an_execution_that_no_longer_runs_is_taken_over(aws: Aws) -> None:
    crashed = aws.start("crashed")
    assert claim(aws, crashed, SLOT).verdict is Verdict.RUN
    aws.sfn.stop_execution(executionArn=crashed)  # ended without releasing (no cleanup ran)

    successor = aws.start("successor")
    decision = claim(aws, successor, NEXT_SLOT)
    assert decision.verdict is Verdict.RUN
    assert "no longer runs" in decision.reason
    lease = aws.item(LEASE_SORT_KEY)
    assert lease is not None and lease[HOLDER]["S"] == successor
    # The dead run's slot does not stay RUNNING until its TTL.
    dead = aws.item(slot_sort_key(SLOT))
    assert dead is not None and dead[STATUS]["S"] == Status.ABORTED
    assert dead[REASON]["S"] == (
        f"its execution ended without recording an outcome; taken over by {successor}"
    )


def test_a_taken_over_lease_whose_slot_already_ended_leaves_that_slot_as_it_is(aws: Aws) -> None:
    crashed = aws.start("crashed")
    claim(aws, crashed, SLOT)
    # It recorded its outcome but died before releasing the lease.
    aws.dynamodb.update_item(
        TableName=TABLE,
        Key={PARTITION_KEY: {"S": partition("report")}, SORT_KEY: {"S": slot_sort_key(SLOT)}},
        UpdateExpression="SET #s = :s",
        ExpressionAttributeNames={"#s": STATUS},
        ExpressionAttributeValues={":s": {"S": Status.SUCCEEDED}},
    )
    aws.sfn.stop_execution(executionArn=crashed)

    assert claim(aws, aws.start("successor"), NEXT_SLOT).verdict is Verdict.RUN
    ended = aws.item(slot_sort_key(SLOT))
    assert ended is not None and ended[STATUS]["S"] == Status.SUCCEEDED


def test_a_stale_running_entry_in_list_executions_never_causes_a_skip(aws: Aws) -> None:
    holder = aws.start("holder")
    assert claim(aws, holder, SLOT).verdict is Verdict.RUN
    aws.sfn.stop_execution(executionArn=holder)
    # ListExecutions is eventually consistent: it may still list an execution that ended.
    # moto's is consistent, so the stale page AWS documents is served in front of it.
    stale = StaleListExecutions(aws.sfn, holder)

    decision = aws.guard(sfn=stale).run_or_skip(
        job(), parse_trigger(scheduled(NEXT_SLOT), "next"), aws.start("next")
    )

    assert stale.listed, "the guard still asks ListExecutions"
    assert decision.verdict is Verdict.RUN
    assert "no longer runs" in decision.reason


class StaleListExecutions:
    """moto's Step Functions client, with ListExecutions still listing ``stale`` as RUNNING."""

    def __init__(self, client: Any, stale: str) -> None:
        self._client, self._stale, self.listed = client, stale, False

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)

    def get_paginator(self, operation: str) -> Any:
        assert operation == "list_executions"
        outer = self

        class Paginator:
            def paginate(self, **kwargs: Any) -> Any:
                outer.listed = True
                yield {"executions": [{"executionArn": outer._stale, "status": "RUNNING"}]}

        return Paginator()


def test_expired_lease_taken_over_ends_the_dead_runs_slot(aws: Aws) -> None:
    holder = aws.start("holder")
    aws.guard().run_or_skip(job(lease=60), parse_trigger(scheduled(SLOT), "holder"), holder)
    later = datetime.now(UTC) + timedelta(minutes=2)
    successor = aws.start("successor")
    aws.guard(clock=lambda: later).run_or_skip(
        job(), parse_trigger(scheduled(NEXT_SLOT), "successor"), successor
    )
    dead = aws.item(slot_sort_key(SLOT))
    assert dead is not None and dead[STATUS]["S"] == Status.ABORTED
    assert dead[REASON]["S"] == f"its lease expired; taken over by {successor}"


def test_force_reruns_a_running_slot_whose_execution_died_and_keeps_that_run(aws: Aws) -> None:
    dead = aws.start("dead")
    claim(aws, dead, SLOT)
    aws.sfn.stop_execution(executionArn=dead)  # no cleanup ran: the slot still says RUNNING

    again = aws.start("again")
    assert claim(aws, again, SLOT, force=True).verdict is Verdict.RUN

    item = aws.item(slot_sort_key(SLOT))
    assert item is not None and item[OWNER]["S"] == again
    (earlier,) = item[RUNS]["L"]
    assert earlier["M"][OWNER]["S"] == dead
    assert earlier["M"][STATUS]["S"] == Status.ABORTED


def test_force_while_another_slot_runs_under_forbid_is_a_clean_overlap_skip(aws: Aws) -> None:
    first = aws.start("first")
    claim(aws, first, SLOT)
    finish_success(aws, first, SLOT)
    running = aws.start("running")
    claim(aws, running, NEXT_SLOT)

    forced = aws.start("forced")
    decision = claim(aws, forced, SLOT, force=True)

    assert decision.verdict is Verdict.OVERLAP
    item = aws.item(slot_sort_key(SLOT))
    assert item is not None  # the finished run's record is untouched
    assert (item[OWNER]["S"], item[STATUS]["S"]) == (first, Status.SUCCEEDED)


def test_expired_lease_is_taken_over_without_asking(aws: Aws) -> None:
    holder = aws.start("holder")
    trigger = parse_trigger(scheduled(SLOT), "holder")
    aws.guard().run_or_skip(job(lease=60), trigger, holder)
    later = datetime.now(UTC) + timedelta(minutes=2)
    successor = aws.start("successor")
    decision = aws.guard(clock=lambda: later).run_or_skip(
        job(), parse_trigger(scheduled(NEXT_SLOT), "successor"), successor
    )
    assert decision.verdict is Verdict.RUN
    assert "expired" in decision.reason


def test_replace_stops_the_older_execution_and_launches_only_once_its_task_stopped(
    aws: Aws,
) -> None:
    older = aws.start("older")
    assert claim(aws, older, SLOT, Concurrency.REPLACE).verdict is Verdict.RUN
    older_task = aws.run_task(older)
    newer = aws.start("newer")

    decision = claim(aws, newer, NEXT_SLOT, Concurrency.REPLACE)

    assert decision.verdict is Verdict.RUN
    assert aws.sfn.describe_execution(executionArn=older)["status"] == "ABORTED"
    assert aws.task(older_task)["lastStatus"] == "STOPPED"
    replaced = aws.item(slot_sort_key(SLOT))
    assert replaced is not None and replaced[STATUS]["S"] == Status.ABORTED
    assert replaced[REASON]["S"].startswith(f"replaced by {newer}; task ")
    assert "STOPPED after" in replaced[REASON]["S"]
    assert RUNNING_ATTRIBUTE not in replaced  # out of the reconciler's index
    claimed = aws.item(slot_sort_key(NEXT_SLOT))
    assert claimed is not None and "replace_wait_seconds" in claimed
    lease = aws.item(LEASE_SORT_KEY)
    assert lease is not None and lease[HOLDER]["S"] == newer


def test_replace_never_stops_a_newer_run_for_an_earlier_slot(aws: Aws) -> None:
    current = aws.start("current")
    assert claim(aws, current, NEXT_SLOT, Concurrency.REPLACE).verdict is Verdict.RUN
    # A Scheduler retry of the earlier slot (or a backfill of it) arrives while 04:00 runs.
    retry = aws.start("retry-of-earlier-slot")
    decision = claim(aws, retry, SLOT, Concurrency.REPLACE)
    assert decision.verdict is Verdict.OVERLAP
    assert SLOT in decision.reason and NEXT_SLOT in decision.reason
    assert aws.sfn.describe_execution(executionArn=current)["status"] == "RUNNING"
    lease = aws.item(LEASE_SORT_KEY)
    assert lease is not None and lease[HOLDER]["S"] == current


def test_allow_runs_both_without_a_lease(aws: Aws) -> None:
    first, second = aws.start("first"), aws.start("second")
    assert claim(aws, first, SLOT, Concurrency.ALLOW).verdict is Verdict.RUN
    assert claim(aws, second, NEXT_SLOT, Concurrency.ALLOW).verdict is Verdict.RUN
    assert aws.item(LEASE_SORT_KEY) is None


def test_simultaneous_starts_of_different_slots_never_all_abort_nor_both_run(aws: Aws) -> None:
    for round_ in range(5):
        a, b = aws.start(f"a{round_}"), aws.start(f"b{round_}")
        slots = (f"2026-11-2{round_}T03:00:00Z", f"2026-11-2{round_}T04:00:00Z")
        verdicts: dict[str, Verdict] = {}
        barrier = threading.Barrier(2)

        def go(
            execution: str,
            slot: str,
            into: dict[str, Verdict] = verdicts,
            start: threading.Barrier = barrier,
        ) -> None:
            start.wait()
            into[execution] = claim(aws, execution, slot).verdict

        threads = [
            threading.Thread(target=go, args=pair) for pair in zip((a, b), slots, strict=True)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert sorted(v.value for v in verdicts.values()) == ["overlap", "run"]
        winner = next(e for e, v in verdicts.items() if v is Verdict.RUN)
        finish_success(aws, winner, slots[0] if winner == a else slots[1])


def test_a_retried_guard_invocation_gets_the_same_answer(aws: Aws) -> None:
    execution = aws.start("retried")
    assert claim(aws, execution, SLOT).verdict is Verdict.RUN
    again = claim(aws, execution, SLOT)
    assert (again.verdict, again.resume) == (Verdict.RUN, True)


def test_handler_claim_answers_run_or_skip_with_the_slot(aws: Aws) -> None:
    execution = aws.start("handler")
    event = {
        "action": "claim",
        "job": payload_job(),
        "input": scheduled("2026-11-22T12:00:00+09:00"),
        "execution": {"id": execution, "name": "handler"},
    }
    answer = lambda_handler(event, CONTEXT)
    assert answer["action"] == "run"
    assert answer["slot"] == SLOT  # 12:00 in Tokyo is 03:00 UTC: one slot, one spelling
    duplicate = lambda_handler(
        {**event, "execution": {"id": aws.start("dup"), "name": "dup"}}, CONTEXT
    )
    assert (duplicate["action"], duplicate["reason"]) == ("skip", "duplicate")


def test_a_normal_run_creates_only_the_dynamodb_client_and_a_failed_one_ecs_too(
    aws: Aws, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A cold start pays for the clients it creates: a run that claims and finishes reaches
    only DynamoDB; ECS's client comes with the first failed run (its tasks are stopped)."""
    monkeypatch.setattr(clients, "_clients", {})
    execution = aws.start("normal")
    answer = lambda_handler(
        {
            "action": "claim",
            "job": payload_job(),
            "input": scheduled(SLOT),
            "execution": {"id": execution, "name": "normal"},
        },
        CONTEXT,
    )
    assert answer["action"] == "run"
    finish_success(aws, execution, SLOT)
    assert [service for service, _ in clients._clients] == ["dynamodb"]

    failed = aws.start("failed")
    assert claim(aws, failed, NEXT_SLOT).verdict is Verdict.RUN
    event = {
        "action": "finish",
        "outcome": "failed",
        "job": payload_job(),
        "slot": NEXT_SLOT,
        "error": {"Error": "States.TaskFailed", "Cause": "{}"},
        "execution": {"id": failed, "name": "failed"},
    }
    lambda_handler(event, CONTEXT)
    assert sorted(service for service, _ in clients._clients) == ["dynamodb", "ecs"]


def test_handler_records_a_failed_run_with_exit_code_and_releases_the_lease(aws: Aws) -> None:
    execution = aws.start("failing")
    claim(aws, execution, SLOT)
    cause = (
        '{"TaskArn": "arn:aws:ecs:us-east-1:1:task/c/xyz", "StoppedReason": "Essential container '
        'in task exited", "Containers": [{"ExitCode": 3, "Name": "job"}]}'
    )
    answer = lambda_handler(
        {
            "action": "finish",
            "outcome": "failed",
            "job": payload_job(),
            "slot": SLOT,
            "error": {"Error": "States.TaskFailed", "Cause": cause},
            "execution": {"id": execution, "name": "failing"},
        },
        CONTEXT,
    )
    assert (answer["status"], answer["exitCode"]) == ("FAILED", 3)
    item = aws.item(slot_sort_key(SLOT))
    assert item is not None
    assert (item[STATUS]["S"], item[EXIT_CODE]["N"]) == (Status.FAILED, "3")
    assert item[STOPPED_REASON]["S"] == "Essential container in task exited"
    assert item[TASK_ARN]["S"] == "arn:aws:ecs:us-east-1:1:task/c/xyz"
    assert aws.item(LEASE_SORT_KEY) is None


def test_handler_rejects_an_unknown_action(aws: Aws) -> None:
    with pytest.raises(InvalidInput, match="unknown guard action 'launch'"):
        lambda_handler({"action": "launch", "job": payload_job()}, CONTEXT)


def test_handler_failure_stops_the_runs_task_before_releasing_the_lease(aws: Aws) -> None:
    execution = aws.start("timed-out")
    claim(aws, execution, SLOT)
    task_arn = aws.run_task(execution)  # Run job timed out; the task itself still runs
    answer = finish_failure(execution, {"Error": "States.Timeout", "Cause": "Task timed out."})
    assert aws.task(task_arn)["lastStatus"] == "STOPPED"
    assert answer["status"] == "TIMED_OUT"
    item = aws.item(slot_sort_key(SLOT))
    assert item is not None
    assert item[TASK_ARN]["S"] == task_arn
    assert "stopped 1; STOPPED after" in item[TASK_STOP]["S"]
    assert aws.item(LEASE_SORT_KEY) is None


def test_handler_claim_echoes_the_redrive_count(aws: Aws) -> None:
    execution = aws.start("redriven")
    event = {
        "action": "claim",
        "job": payload_job(),
        "input": scheduled(SLOT),
        "redriveCount": 1,
        "execution": {"id": execution, "name": "redriven"},
    }
    assert lambda_handler(event, CONTEXT)["redriveCount"] == 1
    without = {key: value for key, value in event.items() if key != "redriveCount"}
    assert lambda_handler(without, CONTEXT)["redriveCount"] == 0


def test_a_redriven_execution_whose_run_ended_is_skipped_not_run_again(aws: Aws) -> None:
    execution = aws.start("aborted")
    claim(aws, execution, SLOT)
    # The run ended and was recorded; then someone redrives the execution.
    finish_failure(execution, {"Error": "States.TaskFailed", "Cause": "{}"})
    again = claim(aws, execution, SLOT)
    assert again.verdict is Verdict.DUPLICATE
    assert "redrive" in again.reason


def requests(execution: str) -> dict[str, dict[str, Any]]:
    """A valid request of each type, as the state machine sends it."""
    sent = {"job": payload_job(), "execution": {"id": execution, "name": "x"}}
    return {
        "claim": {"action": "claim", "input": scheduled(SLOT), "redriveCount": 0, **sent},
        "succeeded": {
            **{"action": "finish", "outcome": "succeeded", "slot": SLOT, "retries": 0, **sent},
            "task": {"TaskArn": "arn:aws:ecs:us-east-1:1:task/c/abc", "Containers": []},
        },
        "failed": {
            **{"action": "finish", "outcome": "failed", "slot": SLOT, "retries": 0, **sent},
            "error": {"Error": "States.TaskFailed", "Cause": "{}"},
        },
    }


REQUIRED = [
    (request, path)
    for request, shape in (
        ("claim", ClaimRequest),
        ("succeeded", FinishSucceeded),
        ("failed", FinishFailed),
    )
    for path in [
        *((key,) for key in shape.__required_keys__ - {"action"}),
        *(("job", key) for key in JobPayload.__required_keys__),
        *(("execution", key) for key in ExecutionPayload.__required_keys__),
    ]
]


@pytest.mark.parametrize(("request_type", "path"), sorted(REQUIRED))
def test_a_request_without_a_key_the_contract_requires_is_invalid_input_naming_it(
    aws: Aws, request_type: str, path: tuple[str, ...]
) -> None:
    execution = aws.start("x")
    if request_type != "claim":
        claim(aws, execution, SLOT)
    event = requests(execution)[request_type]
    *parents, key = path
    holder = event
    for parent in parents:
        holder = holder[parent]
    del holder[key]

    with pytest.raises(InvalidInput, match=f"'{key}' is missing"):
        lambda_handler(event, CONTEXT)
    record = aws.item(slot_sort_key(SLOT))
    if request_type == "claim":
        assert record is None  # nothing was claimed
    else:
        assert record is not None and record[STATUS]["S"] == Status.RUNNING  # nor recorded
        assert aws.item(LEASE_SORT_KEY) is not None


@pytest.mark.parametrize("request_type", ["claim", "succeeded", "failed"])
def test_every_request_the_state_machine_sends_is_accepted(aws: Aws, request_type: str) -> None:
    execution = aws.start("x")
    if request_type != "claim":
        claim(aws, execution, SLOT)
    answer = lambda_handler(requests(execution)[request_type], CONTEXT)
    assert answer["slot"] == SLOT


def test_a_request_without_an_action_is_invalid_input_naming_it(aws: Aws) -> None:
    event = requests(aws.start("x"))["claim"]
    del event["action"]
    with pytest.raises(InvalidInput, match="'action' is missing; expected 'claim' or 'finish'"):
        lambda_handler(event, CONTEXT)


def test_a_finish_with_an_unknown_outcome_is_invalid_input(aws: Aws) -> None:
    execution = aws.start("x")
    claim(aws, execution, SLOT)
    event = {**requests(execution)["failed"], "outcome": "exploded"}
    with pytest.raises(InvalidInput, match="unknown outcome 'exploded'"):
        lambda_handler(event, CONTEXT)


@pytest.mark.parametrize(
    "scheduled_time",
    ["0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00", "1900-01-01T00:00:00Z"],
)
def test_an_out_of_range_time_is_invalid_input(aws: Aws, scheduled_time: str) -> None:
    execution = aws.start("odd")
    event = {
        "action": "claim",
        "job": payload_job(),
        "input": {"scheduledTime": scheduled_time},
        "execution": {"id": execution, "name": "odd"},
    }
    with pytest.raises(InvalidInput, match=r"scheduledTime .* is out of range"):
        lambda_handler(event, CONTEXT)
    assert aws.item(slot_sort_key(SLOT)) is None


def test_an_invalid_input_message_is_bounded(aws: Aws) -> None:
    execution = aws.start("huge")
    event = {
        "action": "claim",
        "job": payload_job(),
        "input": {"scheduledTime": "x" * 100_000, **{f"k{i}" * 50: 1 for i in range(200)}},
        "execution": {"id": execution, "name": "huge"},
    }
    with pytest.raises(InvalidInput) as raised:
        lambda_handler(event, CONTEXT)
    assert len(str(raised.value)) <= 1024
    assert "unknown input key(s)" in str(raised.value)


def test_a_replaced_run_the_cleanup_settles_first_still_says_who_replaced_it(aws: Aws) -> None:
    from lambdas.cleanup.handler import lambda_handler as cleanup
    from tests.lambdas.test_cleanup import status_change

    older = aws.start("older")
    claim(aws, older, SLOT, Concurrency.REPLACE)

    class StoppedAndSettledAtOnce(Executions):
        """The ABORTED event reaches the cleanup before the replacing guard claims."""

        def stop(self, execution_arn: str, *, replaced_by: str) -> None:
            super().stop(execution_arn, replaced_by=replaced_by)
            event = status_change(
                execution_arn, aws.state_machine_arn, "ABORTED", {"scheduledTime": SLOT}
            )
            cleanup(event, CONTEXT)

    newer = aws.start("newer")
    guard = Guard(LedgerTable(aws.dynamodb, TABLE), StoppedAndSettledAtOnce(aws.sfn), aws.tasks())
    decision = guard.run_or_skip(
        job(Concurrency.REPLACE), parse_trigger(scheduled(NEXT_SLOT), "newer"), newer
    )

    assert decision.verdict is Verdict.RUN
    replaced = aws.item(slot_sort_key(SLOT))
    assert replaced is not None and replaced[STATUS]["S"] == Status.ABORTED
    assert replaced[REASON]["S"].startswith(f"replaced by {newer}")
    lease = aws.item(LEASE_SORT_KEY)
    assert lease is not None and lease[HOLDER]["S"] == newer


def test_a_finished_run_records_how_often_run_job_was_retried(aws: Aws) -> None:
    execution = aws.start("retried-twice")
    claim(aws, execution, SLOT)
    event = {
        "action": "finish",
        "outcome": "succeeded",
        "job": payload_job(),
        "slot": SLOT,
        "retries": 2,
        "task": {"TaskArn": "arn:aws:ecs:us-east-1:1:task/c/abc", "Containers": []},
        "execution": {"id": execution, "name": "retried-twice"},
    }
    assert lambda_handler(event, CONTEXT)["retries"] == 2
    item = aws.item(slot_sort_key(SLOT))
    assert item is not None and item[RETRIES]["N"] == "2"


def test_a_lease_taken_over_from_an_ended_run_first_stops_that_runs_task(aws: Aws) -> None:
    ended = aws.start("ended")
    claim(aws, ended, SLOT)
    task_arn = aws.run_task(ended)
    # Stopped by hand, and Step Functions' best-effort StopTask never came (or no cleanup ran).
    aws.sfn.stop_execution(executionArn=ended)

    successor = aws.start("successor")
    decision = claim(aws, successor, NEXT_SLOT)

    assert decision.verdict is Verdict.RUN
    assert aws.task(task_arn)["lastStatus"] == "STOPPED"
    dead = aws.item(f"slot#{SLOT}")
    assert dead is not None
    assert "taken over by" in dead[REASON]["S"]
    assert "stopped 1; STOPPED after" in dead[REASON]["S"]


def test_every_attribute_the_guard_writes_is_named_in_the_ledger_contract(aws: Aws) -> None:
    first = aws.start("first")
    claim(aws, first, SLOT)
    assert claim(aws, aws.start("duplicate"), SLOT).verdict is Verdict.DUPLICATE
    assert claim(aws, aws.start("overlapping"), NEXT_SLOT).verdict is Verdict.OVERLAP
    aws.run_task(first)
    finish_failure(first, {"Error": "States.Timeout", "Cause": "Task timed out."})
    assert claim(aws, aws.start("again"), SLOT, force=True).verdict is Verdict.RUN

    written: set[str] = set()
    for item in aws.dynamodb.scan(TableName=TABLE)["Items"]:
        written |= set(item)
        for run in item.get(RUNS, {}).get("L", []):
            written |= set(run["M"])
    named = {
        value
        for name, value in vars(ledger_contract).items()
        if name.isupper() and isinstance(value, str)
    }
    assert written - named == set()
    assert {HOLDER, RUNS, DUPLICATES, TASK_STOP, FORCED} <= written  # the paths above ran


PAUSE_REASON = "warehouse migration"


def pause_job(aws: Aws, at: datetime = datetime(2026, 11, 22, 2, tzinfo=UTC)) -> None:
    """What ``cronguard pause`` writes (the same UpdateItem, ``lambdas.core.pause``)."""
    aws.dynamodb.update_item(**pause_update(TABLE, "report", reason=PAUSE_REASON, by="ops", now=at))


def resume_job(aws: Aws) -> None:
    """What ``cronguard resume`` writes."""
    current = read_pause(aws.dynamodb.get_item(TableName=TABLE, Key=pause_key("report"))["Item"])
    aws.dynamodb.update_item(
        **resume_update(TABLE, "report", current, now=datetime(2026, 11, 22, 5, tzinfo=UTC))
    )


def test_the_guard_reads_the_pause_record_with_the_slot_and_the_lease(aws: Aws) -> None:
    ledger = LedgerTable(aws.dynamodb, TABLE)
    assert ledger.read("report", SLOT).pause == Pause()
    pause_job(aws)
    read = ledger.read("report", SLOT).pause
    assert (read.paused, read.reason, read.by) == (True, PAUSE_REASON, "ops")


def test_a_paused_job_skips_its_slot_as_paused_and_records_why_until_resumed(aws: Aws) -> None:
    pause_job(aws)
    skipped = aws.start("paused")
    decision = claim(aws, skipped, SLOT)
    assert decision.verdict is Verdict.PAUSED
    item = aws.item(slot_sort_key(SLOT))
    assert item is not None
    assert (item[STATUS]["S"], item[OWNER]["S"]) == (Status.SKIPPED_PAUSED, skipped)
    assert PAUSE_REASON in item[REASON]["S"]
    assert aws.item(LEASE_SORT_KEY) is None  # nothing ran, nothing is held
    assert not aws.ecs.list_tasks(cluster="jobs")["taskArns"]

    resume_job(aws)
    # The skipped slot stays skipped (a late delivery of it is a duplicate)...
    assert claim(aws, aws.start("late"), SLOT).verdict is Verdict.DUPLICATE
    # ...and the next slot runs.
    assert claim(aws, aws.start("next"), NEXT_SLOT).verdict is Verdict.RUN


@pytest.mark.parametrize("returns_items", [True, False], ids=["items-returned", "no-items"])
def test_a_pause_written_after_the_guard_read_the_ledger_fails_its_claim(
    aws: Aws, returns_items: bool
) -> None:
    """The claim's transaction checks the pause record: a pause landing between the read and
    the claim makes the guard decide again, and skip — on the pause record the failed claim
    returned, or on a fresh read when it came back without it."""
    client = RecordingClient(
        aws.dynamodb, returns_items=returns_items, before_write=lambda: pause_job(aws)
    )
    guard = Guard(LedgerTable(client, TABLE), Executions(aws.sfn), aws.tasks())
    execution = aws.start("raced")
    trigger = parse_trigger(scheduled(SLOT), "raced")
    decision = guard.run_or_skip(job(), trigger, execution)
    assert decision.verdict is Verdict.PAUSED
    assert PAUSE_REASON in decision.reason  # the pause as it is now, not the snapshot's
    reads = 1 if returns_items else 2
    assert client.calls == ["BatchGetItem"] + ["TransactWriteItems"] + ["BatchGetItem"] * (
        reads - 1
    ) + ["PutItem"]
    item = aws.item(slot_sort_key(SLOT))
    assert item is not None and item[STATUS]["S"] == Status.SKIPPED_PAUSED
    assert aws.item(LEASE_SORT_KEY) is None


@pytest.mark.parametrize(
    ("returns_items", "calls"),
    [
        (True, ["BatchGetItem", "TransactWriteItems", "UpdateItem"]),
        (False, ["BatchGetItem", "TransactWriteItems", "BatchGetItem", "UpdateItem"]),
    ],
    ids=["items-returned", "no-items"],
)
def test_the_loser_of_a_burst_is_a_duplicate_in_3_calls_or_4_without_the_items(
    aws: Aws, returns_items: bool, calls: list[str]
) -> None:
    """Two triggers of one slot read the ledger together; the other claims first. The loser's
    claim fails on the slot and the lease, and it decides again on the items the transaction
    returned — reading the ledger again only when they did not come back."""
    winner, loser = aws.start("winner"), aws.start("loser")
    client = RecordingClient(
        aws.dynamodb,
        returns_items=returns_items,
        before_write=lambda: claim(aws, winner, SLOT),
    )
    guard = Guard(LedgerTable(client, TABLE), Executions(aws.sfn), aws.tasks())
    decision = guard.run_or_skip(job(), parse_trigger(scheduled(SLOT), "loser"), loser)
    assert decision.verdict is Verdict.DUPLICATE
    assert winner in decision.reason
    assert client.calls == calls
    item = aws.item(slot_sort_key(SLOT))
    assert item is not None
    assert (item[OWNER]["S"], item[STATUS]["S"], item[DUPLICATES]["N"]) == (
        winner,
        Status.RUNNING,
        "1",
    )
    lease = aws.item(LEASE_SORT_KEY)
    assert lease is not None and lease[HOLDER]["S"] == winner


@pytest.mark.parametrize("returns_items", [True, False], ids=["items-returned", "no-items"])
def test_a_claim_that_loses_the_lease_to_another_slot_decides_on_the_lease_it_returned(
    aws: Aws, returns_items: bool
) -> None:
    """The slot's condition held (it is still free), the lease's failed: the guard decides
    again with the returned lease and the slot as it read it — an overlap, since the other
    slot's execution runs — and only the slot's skip record is written."""
    other, late = aws.start("other"), aws.start("late")
    client = RecordingClient(
        aws.dynamodb,
        returns_items=returns_items,
        before_write=lambda: claim(aws, other, NEXT_SLOT),
    )
    guard = Guard(LedgerTable(client, TABLE), Executions(aws.sfn), aws.tasks())
    decision = guard.run_or_skip(job(), parse_trigger(scheduled(SLOT), "late"), late)
    assert decision.verdict is Verdict.OVERLAP
    assert other in decision.reason
    reads = client.calls.count("BatchGetItem")
    assert reads == (1 if returns_items else 2)
    assert client.calls[-1] == "PutItem"
    item = aws.item(slot_sort_key(SLOT))
    assert item is not None
    assert (item[OWNER]["S"], item[STATUS]["S"]) == (late, Status.SKIPPED_OVERLAP)
    lease = aws.item(LEASE_SORT_KEY)
    assert lease is not None and lease[HOLDER]["S"] == other


def test_a_forced_run_of_a_paused_job_runs(aws: Aws) -> None:
    pause_job(aws)
    assert claim(aws, aws.start("paused"), SLOT).verdict is Verdict.PAUSED
    forced = aws.start("forced")
    assert claim(aws, forced, SLOT, force=True).verdict is Verdict.RUN
    item = aws.item(slot_sort_key(SLOT))
    assert item is not None and (item[STATUS]["S"], item[FORCED]["BOOL"]) == (
        Status.RUNNING,
        True,
    )
    assert item[RUNS]["L"][0]["M"][STATUS]["S"] == Status.SKIPPED_PAUSED


def test_handler_claim_of_a_paused_job_answers_skip_paused_with_the_reason(aws: Aws) -> None:
    pause_job(aws)
    execution = aws.start("handler")
    answer = lambda_handler(
        {
            "action": "claim",
            "job": payload_job(),
            "input": scheduled(SLOT),
            "execution": {"id": execution, "name": "handler"},
        },
        CONTEXT,
    )
    assert (answer["action"], answer["reason"]) == ("skip", "paused")
    assert PAUSE_REASON in answer["detail"]


def test_a_failed_runs_task_not_confirmed_stopped_keeps_the_lease_so_the_next_slot_waits(
    aws: Aws, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    execution = aws.start("timed-out")
    claim(aws, execution, SLOT)
    task_arn = aws.run_task(execution)  # Run job timed out; the task ignores its stop
    aws.stuck_stopping(task_arn)
    monkeypatch.setenv("POWERTOOLS_METRICS_DISABLED", "false")
    capsys.readouterr()

    timed_out = outcome.failed({"Error": "States.Timeout", "Cause": "..."}, container=CONTAINER)
    ended, started = aws.guard().finish(
        job(), SLOT, execution, timed_out, retries=0, now=datetime.now(UTC)
    )

    assert (ended.status, started is not None) == (Status.TIMED_OUT, True)
    item = aws.item(slot_sort_key(SLOT))
    assert item is not None and "not confirmed STOPPED" in item[TASK_STOP]["S"]
    lease = aws.item(LEASE_SORT_KEY)
    assert lease is not None and lease[HOLDER]["S"] == execution  # kept
    (blob,) = [
        json.loads(line)
        for line in capsys.readouterr().out.splitlines()
        if metrics_contract.TASK_STOPS_UNCONFIRMED in line
    ]
    assert blob[metrics_contract.TASK_STOPS_UNCONFIRMED] == [1.0]
    assert blob["_aws"]["CloudWatchMetrics"][0]["Dimensions"] == [
        [metrics_contract.ENVIRONMENT_DIMENSION, metrics_contract.SERVICE_DIMENSION]
    ]

    # Its execution has ended, but its task may still run: the next slot does not launch.
    aws.sfn.stop_execution(executionArn=execution)
    decision = claim(aws, aws.start("next"), NEXT_SLOT)
    assert decision.verdict is Verdict.OVERLAP
    assert f"the run of {SLOT} ({execution}) may still run" in decision.reason
    skipped = aws.item(slot_sort_key(NEXT_SLOT))
    assert skipped is not None and skipped[STATUS]["S"] == Status.SKIPPED_OVERLAP


NOW = datetime(2026, 11, 22, 3, 0, tzinfo=UTC)


@pytest.mark.parametrize("force", [False, True])
def test_a_slot_further_ahead_than_the_clock_skew_is_invalid_input_and_claims_nothing(
    aws: Aws, force: bool
) -> None:
    ahead = NOW + CLOCK_SKEW + timedelta(seconds=1)
    execution = aws.start("ahead")
    trigger = parse_trigger(scheduled(ahead.strftime("%Y-%m-%dT%H:%M:%SZ"), force=force), "ahead")
    with pytest.raises(InvalidInput, match=r"is in the future \(now 2026-11-22T03:00:00Z\)"):
        aws.guard(clock=lambda: NOW).run_or_skip(job(), trigger, execution)
    assert aws.item(slot_sort_key(slot_key(ahead))) is None
    assert aws.item(LEASE_SORT_KEY) is None


def test_a_slot_within_the_clock_skew_ahead_is_claimed(aws: Aws) -> None:
    at_the_edge = slot_key(NOW + CLOCK_SKEW)
    execution = aws.start("early")
    trigger = parse_trigger(scheduled(at_the_edge), "early")
    decision = aws.guard(clock=lambda: NOW).run_or_skip(job(), trigger, execution)
    assert decision.verdict is Verdict.RUN


def test_the_handler_refuses_a_trigger_two_days_ahead_of_its_clock(aws: Aws) -> None:
    execution = aws.start("typo")
    two_days = slot_key(datetime.now(UTC) + timedelta(days=2))
    event = {
        "action": "claim",
        "job": payload_job(),
        "input": {"scheduledTime": two_days, "attempt": "1"},
        "execution": {"id": execution, "name": "typo"},
    }
    with pytest.raises(InvalidInput, match=f"slot {two_days} is in the future"):
        lambda_handler(event, CONTEXT)
    assert aws.item(slot_sort_key(two_days)) is None
