"""The job's own state machine: is a lease holder still running, and stopping one (`replace`)."""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError


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
        """ListExecutions first (the design's cheap view), DescribeExecution to confirm.

        ListExecutions is eventually consistent: an execution that started a moment ago may
        be missing from it, so absence is confirmed on the execution itself.
        """
        paginator = self._client.get_paginator("list_executions")
        for page in paginator.paginate(
            stateMachineArn=state_machine_arn(execution_arn), statusFilter="RUNNING"
        ):
            if any(item["executionArn"] == execution_arn for item in page["executions"]):
                return True
        try:
            status = self._client.describe_execution(executionArn=execution_arn)["status"]
        except ClientError as error:
            if error.response["Error"]["Code"] == "ExecutionDoesNotExist":
                return False
            raise
        return bool(status == "RUNNING")

    def stop(self, execution_arn: str, *, replaced_by: str) -> None:
        """Stop a running execution; Step Functions stops its ECS task (SIGTERM, then SIGKILL)."""
        try:
            self._client.stop_execution(
                executionArn=execution_arn,
                error="cronguard.Replaced",
                cause=f"replaced by {replaced_by} (concurrency: replace)",
            )
        except ClientError as error:
            if error.response["Error"]["Code"] != "ExecutionDoesNotExist":
                raise
