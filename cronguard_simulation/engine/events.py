"""The EventBridge event Step Functions sends when an execution changes status.

Shape from the Step Functions developer guide ("Step Functions Execution Status Change" events):
the envelope (`version`, `id`, `detail-type`, `source`, `account`, `time`, `region`,
`resources`) and a `detail` that "provides the same information as the DescribeExecution API":
`executionArn`, `stateMachineArn`, `name`, `status`, `startDate`/`stopDate` in epoch
milliseconds, `input`/`output` as JSON strings (`output` null unless SUCCEEDED), plus
`inputDetails`/`outputDetails`, and `error`/`cause` when DescribeExecution has them.
"""

from __future__ import annotations

import json
import uuid
from datetime import datetime
from typing import Any

from lambdas.core.execution_contract import STATUS_CHANGE

DETAIL_TYPE = STATUS_CHANGE
SOURCE = "aws.states"


def _epoch_millis(moment: datetime | None) -> int | None:
    return None if moment is None else int(moment.timestamp() * 1000)


def execution_status_change_event(execution: Any) -> dict[str, Any]:
    """Build the event for a finished moto execution (`moto...backend.execution.Execution`)."""
    status = execution.status
    succeeded = status == "SUCCEEDED"
    detail: dict[str, Any] = {
        "executionArn": execution.exec_arn,
        "stateMachineArn": execution.state_machine.arn,
        "name": execution.name,
        "status": status,
        "startDate": _epoch_millis(execution.start_date),
        "stopDate": _epoch_millis(execution.stop_date),
        "input": json.dumps(execution.input_data, separators=(",", ":")),
        "inputDetails": {"included": True},
        "output": json.dumps(execution.output, separators=(",", ":")) if succeeded else None,
        "outputDetails": {"included": True} if succeeded else None,
    }
    if execution.error is not None:
        detail["error"] = execution.error
    if execution.cause is not None:
        detail["cause"] = execution.cause
    stop_date = execution.stop_date or execution.start_date
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": DETAIL_TYPE,
        "source": SOURCE,
        "account": execution.account_id,
        "time": stop_date.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "region": execution.region_name,
        "resources": [execution.exec_arn],
        "detail": detail,
    }
