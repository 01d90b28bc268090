"""Each job's EventBridge Scheduler schedule: it starts the job's state machine with the
slot's scheduled time, and sends what it cannot deliver to the environment's queue."""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from typing import Any

from cronguard.config import Environment
from stacks.job.cloudformation import get_att, ref
from stacks.job.shapes import SHARED, Fragment, NamedJob


def schedules(environment: Environment, jobs: Sequence[NamedJob]) -> Iterator[Fragment]:
    for named in jobs:
        job = named.job
        window: dict[str, Any] = {"Mode": "OFF"}
        if job.flexible_window:
            window = {
                "Mode": "FLEXIBLE",
                "MaximumWindowInMinutes": int(job.flexible_window.total_seconds() // 60),
            }
        yield Fragment(
            named.ids.schedule,
            {
                "Type": "AWS::Scheduler::Schedule",
                "Properties": {
                    "Description": f"cronguard {environment.name}/{job.name}: {job.description}"[
                        :512
                    ],
                    "ScheduleExpression": job.schedule,
                    "ScheduleExpressionTimezone": job.timezone,
                    "State": "ENABLED" if job.enabled else "DISABLED",
                    "FlexibleTimeWindow": window,
                    "Target": {
                        "Arn": ref(named.ids.state_machine),
                        "RoleArn": get_att(SHARED.scheduler_role),
                        "Input": json.dumps(
                            {
                                "scheduledTime": "<aws.scheduler.scheduled-time>",
                                "attempt": "<aws.scheduler.attempt-number>",
                            },
                            separators=(",", ":"),
                        ),
                        "RetryPolicy": {
                            "MaximumRetryAttempts": job.delivery.max_retries,
                            "MaximumEventAgeInSeconds": int(
                                job.delivery.max_event_age.total_seconds()
                            ),
                        },
                        "DeadLetterConfig": {"Arn": ref("DeadLetterQueueArn")},
                    },
                },
            },
        )
