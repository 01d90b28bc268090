"""The job's own state machine: is a lease holder still running, and stopping one (`replace`)."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger
from botocore.exceptions import ClientError

from lambdas.core import errors
from lambdas.core.execution_contract import ExecutionStatus
from lambdas.core.metrics_contract import GUARD_LOG_SERVICE

logger = Logger(service=GUARD_LOG_SERVICE, child=True)


def state_machine_arn(execution_arn: str) -> str:
    """``arn:…:execution:<machine>:<name>`` → ``arn:…:stateMachine:<machine>``."""
    parts = execution_arn.split(":")
    if len(parts) < 8 or parts[5] != "execution":
        raise ValueError(f"not a Step Functions execution ARN: {execution_arn!r}")
    return ":".join([*parts[:5], "stateMachine", parts[6]])


class Executions:
    def __init__(self, client: Any) -> None:
        self._client = client

    def is_running(self, execution_arn: str) -> bool:
        """Whether the execution still runs, as DescribeExecution says.

        ListExecutions is asked first, as the design's cheap view of what runs, but it is
        eventually consistent both ways: an execution that started a moment ago may be
        missing, and one that just ended may still be listed. A skip or a stop must not rest
        on a stale entry, so the answer is always that one execution's own status.
        """
        listed = any(
            item["executionArn"] == execution_arn
            for page in self._client.get_paginator("list_executions").paginate(
                stateMachineArn=state_machine_arn(execution_arn),
                statusFilter=ExecutionStatus.RUNNING,
            )
            for item in page["executions"]
        )
        try:
            status = self._client.describe_execution(executionArn=execution_arn)["status"]
        except ClientError as error:
            if error.response["Error"]["Code"] == "ExecutionDoesNotExist":
                return False
            raise
        running = bool(status == ExecutionStatus.RUNNING)
        if listed != running:
            logger.info(
                "ListExecutions disagreed with DescribeExecution",
                execution=execution_arn,
                listed_running=listed,
                status=status,
            )
        return running

    def stop(self, execution_arn: str, *, replaced_by: str) -> None:
        """Stop a running execution; Step Functions stops its ECS task (SIGTERM, then SIGKILL)."""
        try:
            self._client.stop_execution(
                executionArn=execution_arn,
                error=errors.REPLACED,
                cause=f"replaced by {replaced_by} (concurrency: replace)",
            )
        except ClientError as error:
            if error.response["Error"]["Code"] != "ExecutionDoesNotExist":
                raise
