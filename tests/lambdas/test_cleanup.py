"""Cleanup on "Step Functions Execution Status Change": releases what an ended execution held."""

from __future__ import annotations

import json
from typing import Any

import pytest

from lambdas.cleanup.handler import lambda_handler
from lambdas.guard.decision import Verdict
from tests.lambdas.conftest import CONTEXT, Aws
from tests.lambdas.test_guard_handler import NEXT_SLOT, SLOT, claim


def status_change(execution: str, machine: str, status: str, input_: Any) -> dict[str, Any]:
    return {
        "version": "0",
        "source": "aws.states",
        "detail-type": "Step Functions Execution Status Change",
        "detail": {
            "executionArn": execution,
            "stateMachineArn": machine,
            "name": execution.rsplit(":", 1)[-1],
            "status": status,
            "input": json.dumps(input_),
        },
    }


@pytest.mark.parametrize(
    ("status", "recorded"), [("ABORTED", "ABORTED"), ("TIMED_OUT", "TIMED_OUT")]
)
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
    item = aws.item(f"slot#{SLOT}")
    assert item is not None and item["status"]["S"] == recorded
    assert aws.item("lease") is None
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
    item = aws.item(f"slot#{SLOT}")
    assert item is not None and item["status"]["S"] == "RUNNING"
    lease = aws.item("lease")
    assert lease is not None and lease["holder"]["S"] == owner


def test_a_finished_slot_is_not_rewritten(aws: Aws) -> None:
    from tests.lambdas.test_guard_handler import finish_success

    execution = aws.start("done")
    claim(aws, execution, SLOT)
    finish_success(aws, execution, SLOT)
    lambda_handler(
        status_change(execution, aws.state_machine_arn, "FAILED", {"scheduledTime": SLOT}), CONTEXT
    )
    item = aws.item(f"slot#{SLOT}")
    assert item is not None and item["status"]["S"] == "SUCCEEDED"


def test_other_environments_and_malformed_inputs_are_ignored(aws: Aws) -> None:
    other_env = status_change(
        "arn:aws:states:us-east-1:1:execution:prod-report:x",
        "arn:aws:states:us-east-1:1:stateMachine:prod-report",
        "ABORTED",
        {"scheduledTime": SLOT},
    )
    assert lambda_handler(other_env, CONTEXT)["marked"] is False
    bad = status_change(
        "arn:aws:states:us-east-1:1:execution:test-report:y",
        aws.state_machine_arn,
        "FAILED",
        {"scheduledTime": "not a time"},
    )
    assert lambda_handler(bad, CONTEXT)["marked"] is False
