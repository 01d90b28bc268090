"""The guard against moto's DynamoDB and Step Functions: the ledger is the authority."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from lambdas.guard.decision import Policy, Verdict
from lambdas.guard.handler import JobSettings, lambda_handler
from lambdas.guard.trigger import InvalidInput, parse_trigger
from tests.lambdas.conftest import CONTEXT, Aws

SLOT = "2026-11-22T03:00:00Z"
NEXT_SLOT = "2026-11-22T04:00:00Z"


def job(policy: Policy = Policy.FORBID, lease: int = 3600) -> JobSettings:
    return JobSettings(
        name="report",
        policy=policy,
        starting_deadline=None,
        lease=timedelta(seconds=lease),
        retention=timedelta(days=7),
    )


def scheduled(slot: str, **extra: Any) -> dict[str, Any]:
    return {"scheduledTime": slot, "attempt": "1", **extra}


def claim(aws: Aws, execution: str, slot: str, policy: Policy = Policy.FORBID, **extra: Any) -> Any:
    trigger = parse_trigger(scheduled(slot, **extra), execution.rsplit(":", 1)[-1])
    return aws.guard().claim(job(policy), trigger, execution)


def finish_success(aws: Aws, execution: str, slot: str) -> None:
    event = {
        "action": "finish",
        "outcome": "succeeded",
        "job": payload_job(),
        "slot": slot,
        "task": {"TaskArn": "arn:aws:ecs:us-east-1:1:task/c/abc", "Containers": [{"ExitCode": 0}]},
        "execution": {"id": execution, "name": execution.rsplit(":", 1)[-1]},
    }
    lambda_handler(event, CONTEXT)


def payload_job(policy: Policy = Policy.FORBID) -> dict[str, Any]:
    return {
        "name": "report",
        "concurrency": policy.value,
        "startingDeadlineSeconds": None,
        "leaseSeconds": 3600,
        "retentionSeconds": 604800,
    }


@pytest.mark.parametrize("policy", [Policy.FORBID, Policy.ALLOW])
def test_twenty_racing_triggers_for_one_slot_run_once(aws: Aws, policy: Policy) -> None:
    executions = [aws.start(f"race-{i}") for i in range(20)]
    verdicts: dict[str, Verdict] = {}
    barrier = threading.Barrier(len(executions))

    def trigger(execution: str) -> None:
        barrier.wait()
        verdicts[execution] = claim(aws, execution, SLOT, policy).verdict

    threads = [threading.Thread(target=trigger, args=(e,)) for e in executions]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    runs = [e for e, v in verdicts.items() if v is Verdict.RUN]
    assert len(runs) == 1
    assert sorted(v.value for v in verdicts.values()).count("duplicate") == 19
    item = aws.item(f"slot#{SLOT}")
    assert item is not None
    assert item["owner"]["S"] == runs[0]
    assert item["status"]["S"] == "RUNNING"
    assert item["duplicates"]["N"] == "19"
    lease = aws.item("lease")
    if policy is Policy.ALLOW:
        assert lease is None  # allow takes no lease: the slot's condition alone decided
    else:
        assert lease is not None
        assert lease["holder"]["S"] == runs[0]


def test_duplicate_after_the_run_succeeded_is_skipped(aws: Aws) -> None:
    first = aws.start("first")
    assert claim(aws, first, SLOT).verdict is Verdict.RUN
    finish_success(aws, first, SLOT)
    assert aws.item("lease") is None  # released on success

    late = aws.start("late-duplicate")
    decision = claim(aws, late, SLOT)
    assert decision.verdict is Verdict.DUPLICATE
    assert "succeeded" in decision.reason
    item = aws.item(f"slot#{SLOT}")
    assert item is not None and item["status"]["S"] == "SUCCEEDED"
    assert item["exit_code"]["N"] == "0"


def test_force_reruns_a_finished_slot(aws: Aws) -> None:
    first = aws.start("first")
    claim(aws, first, SLOT)
    finish_success(aws, first, SLOT)
    again = aws.start("again")
    assert claim(aws, again, SLOT, force=True).verdict is Verdict.RUN
    item = aws.item(f"slot#{SLOT}")
    assert item is not None and item["owner"]["S"] == again
    assert item["forced"]["BOOL"] is True


def test_next_slot_while_the_previous_run_runs_is_skipped_as_overlap(aws: Aws) -> None:
    first = aws.start("first")
    assert claim(aws, first, SLOT).verdict is Verdict.RUN
    second = aws.start("second")
    decision = claim(aws, second, NEXT_SLOT)
    assert decision.verdict is Verdict.OVERLAP
    skipped = aws.item(f"slot#{NEXT_SLOT}")
    assert skipped is not None and skipped["status"]["S"] == "SKIPPED_OVERLAP"
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
    lease = aws.item("lease")
    assert lease is not None and lease["holder"]["S"] == successor


def test_expired_lease_is_taken_over_without_asking(aws: Aws) -> None:
    holder = aws.start("holder")
    trigger = parse_trigger(scheduled(SLOT), "holder")
    aws.guard().claim(job(lease=60), trigger, holder)
    later = datetime.now(UTC) + timedelta(minutes=2)
    successor = aws.start("successor")
    decision = aws.guard(clock=lambda: later).claim(
        job(), parse_trigger(scheduled(NEXT_SLOT), "successor"), successor
    )
    assert decision.verdict is Verdict.RUN
    assert "expired" in decision.reason


def test_replace_stops_the_older_execution_and_runs(aws: Aws) -> None:
    older = aws.start("older")
    assert claim(aws, older, SLOT, Policy.REPLACE).verdict is Verdict.RUN
    newer = aws.start("newer")
    decision = claim(aws, newer, NEXT_SLOT, Policy.REPLACE)
    assert decision.verdict is Verdict.RUN
    assert aws.sfn.describe_execution(executionArn=older)["status"] == "ABORTED"
    replaced = aws.item(f"slot#{SLOT}")
    assert replaced is not None and replaced["status"]["S"] == "ABORTED"
    assert replaced["reason"]["S"] == f"replaced by {newer}"
    lease = aws.item("lease")
    assert lease is not None and lease["holder"]["S"] == newer


def test_allow_runs_both_without_a_lease(aws: Aws) -> None:
    first, second = aws.start("first"), aws.start("second")
    assert claim(aws, first, SLOT, Policy.ALLOW).verdict is Verdict.RUN
    assert claim(aws, second, NEXT_SLOT, Policy.ALLOW).verdict is Verdict.RUN
    assert aws.item("lease") is None


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
    item = aws.item(f"slot#{SLOT}")
    assert item is not None
    assert (item["status"]["S"], item["exit_code"]["N"]) == ("FAILED", "3")
    assert item["stopped_reason"]["S"] == "Essential container in task exited"
    assert item["task_arn"]["S"] == "arn:aws:ecs:us-east-1:1:task/c/xyz"
    assert aws.item("lease") is None


def test_handler_rejects_an_unknown_action(aws: Aws) -> None:
    with pytest.raises(InvalidInput, match="unknown guard action 'launch'"):
        lambda_handler({"action": "launch", "job": payload_job()}, CONTEXT)
