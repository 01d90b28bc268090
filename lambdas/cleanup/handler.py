"""Cleanup on "Step Functions Execution Status Change" (ABORTED, TIMED_OUT, FAILED).

Paths inside the state machine release the lease on success and in its Catch; an execution
stopped by hand, timed out as a whole, or failed outside a Catch never reaches them. This
handler releases what such an execution still holds and marks its slot, so the next slot
does not wait for the lease to expire (the last backstop, never the first).
"""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit

from lambdas.clients import client
from lambdas.guard.decision import Status
from lambdas.guard.handler import status_metric
from lambdas.guard.ledger import LedgerTable, Outcome
from lambdas.guard.trigger import InvalidInput, parse_trigger

logger = Logger(service="cronguard-cleanup")
metrics = Metrics(namespace="cronguard", service="cronguard")

STATUS_BY_EXECUTION = {
    "ABORTED": Status.ABORTED,
    "TIMED_OUT": Status.TIMED_OUT,
    "FAILED": Status.FAILED,
}


def job_name(state_machine_name: str, environment: str) -> str | None:
    prefix = f"{environment}-"
    return state_machine_name[len(prefix) :] if state_machine_name.startswith(prefix) else None


def release(event: dict[str, Any], ledger: LedgerTable, environment: str) -> dict[str, Any]:
    detail = event.get("detail") or {}
    execution_arn = str(detail.get("executionArn", ""))
    status = STATUS_BY_EXECUTION.get(str(detail.get("status")))
    machine = str(detail.get("stateMachineArn", "")).rsplit(":", 1)[-1]
    job = job_name(machine, environment)
    if status is None or job is None:
        return {"marked": False, "why": "not an ended execution of this environment"}
    try:
        raw_input = json.loads(detail.get("input") or "{}")
        trigger = parse_trigger(raw_input, str(detail.get("name", "")))
    except (ValueError, InvalidInput):
        return {"marked": False, "why": "input names no slot: nothing was held"}
    reason = f"execution {status.value.lower().replace('_', ' ')}"
    error = detail.get("error")
    if error:
        reason += f": {error}"
    started = ledger.finish(
        job=job,
        slot=trigger.slot,
        me=execution_arn,
        now=datetime.now(UTC),
        outcome=Outcome(status=status, reason=reason),
    )
    marked = started is not None
    if marked:
        metrics.add_dimension("job", job)
        metrics.add_metric(status_metric(status), MetricUnit.Count, 1)
    logger.info("cleanup", job=job, slot=trigger.slot, status=status.value, marked=marked)
    return {"job": job, "slot": trigger.slot, "marked": marked}


@metrics.log_metrics
@logger.inject_lambda_context
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    environment = os.environ["CRONGUARD_ENV"]
    metrics.add_dimension("environment", environment)
    ledger = LedgerTable(client("dynamodb"), os.environ["LEDGER_TABLE"])
    return release(event, ledger, environment)
