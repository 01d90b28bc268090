"""What the CLI does against a deployed environment: read the ledger, start a run.

Kept apart from the command line so it can be tested against moto and reused; every AWS
error becomes an ``OperationError`` with one line a person can act on.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import boto3
from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError, ProfileNotFound

from cronguard.config import Environment, Job
from lambdas.core import times
from lambdas.core.execution_contract import EXECUTION_NAME_LIMIT
from lambdas.core.input_contract import Overrides, RunInput
from lambdas.core.ledger_contract import (
    DUPLICATES,
    ENDED_AT,
    EXIT_CODE,
    OWNER,
    PARTITION_KEY,
    REASON,
    RUNS,
    SLOT,
    SLOT_PREFIX,
    SORT_KEY,
    STARTED_AT,
    STATUS,
    TASK_ARN,
    partition,
)

_NAME_UNSAFE = re.compile(r"[^A-Za-z0-9_-]")


class OperationError(Exception):
    """One line saying what went wrong and what to do."""


def resolve_region(
    environment: Environment, environ: Mapping[str, str], profile_region: str | None
) -> str:
    """The region to call: the environment's own, then ``AWS_REGION``, ``AWS_DEFAULT_REGION``
    and the profile's. boto3 itself reads only the last two, so ``AWS_REGION`` (what the AWS
    CLI v2 and the Lambda runtime set) would be ignored without this."""
    for candidate in (
        environment.region,
        environ.get("AWS_REGION"),
        environ.get("AWS_DEFAULT_REGION"),
        profile_region,
    ):
        if candidate:
            return candidate
    raise OperationError(
        f"no AWS region for environment '{environment.name}': set the environment's region in "
        "its config, AWS_REGION, AWS_DEFAULT_REGION, or your AWS profile's region "
        "(aws configure set region <region>)"
    )


def session_for(environment: Environment) -> Any:
    """A boto3 session in the region ``resolve_region`` picks (credentials as boto3 finds them)."""
    try:
        profile = boto3.Session()
    except ProfileNotFound as error:
        raise OperationError(f"{error}: check AWS_PROFILE") from None
    region = resolve_region(environment, os.environ, profile.region_name)
    return boto3.Session(region_name=region)


def parse_time(text: str) -> datetime:
    """A time given on the command line, as the guard would read it (ISO-8601, in UTC)."""
    try:
        return times.parse_time(text)
    except ValueError as problem:
        raise OperationError(f"{text!r} {problem}") from None


def execution_name(slot: datetime | None, now: datetime) -> str:
    """A valid, unique execution name (1-80 characters, no ':' or spaces)."""
    stamp = now.strftime("%Y%m%dT%H%M%S%fZ")
    base = (
        f"backfill-{slot.astimezone(UTC).strftime('%Y%m%dT%H%MZ')}-{stamp}"
        if slot
        else f"manual-{stamp}"
    )
    return _NAME_UNSAFE.sub("-", base)[:EXECUTION_NAME_LIMIT]


@dataclass(frozen=True)
class RunRecord:
    """One run of a slot, as ``cronguard history`` shows it (the guard's own view of a slot's
    record is ``lambdas.guard.decision.SlotRecord``)."""

    slot: str
    status: str
    reason: str
    execution: str
    task: str
    exit_code: int | None
    started_at: datetime | None
    ended_at: datetime | None
    duplicates: int
    earlier: bool = False  # an earlier run of the slot, kept when a forced run took it

    @property
    def duration_seconds(self) -> float | None:
        if self.started_at and self.ended_at:
            return (self.ended_at - self.started_at).total_seconds()
        return None


def _when(item: dict[str, Any], key: str) -> datetime | None:
    value = item.get(key, {}).get("S")
    return times.parse_iso(value) if value else None


def _records(item: dict[str, Any]) -> list[RunRecord]:
    """The slot's run, then its earlier runs (forced re-runs keep them), newest first."""
    slot = item[SLOT]["S"]
    earlier = [_record(run["M"], slot, earlier=True) for run in item.get(RUNS, {}).get("L", [])]
    return [_record(item, slot), *reversed(earlier)]


def _record(item: dict[str, Any], slot: str, *, earlier: bool = False) -> RunRecord:
    exit_code = item.get(EXIT_CODE, {}).get("N")
    return RunRecord(
        slot=slot,
        status=item[STATUS]["S"],
        reason=item.get(REASON, {}).get("S", ""),
        execution=item.get(OWNER, {}).get("S", "").rsplit(":", 1)[-1],
        task=item.get(TASK_ARN, {}).get("S", "").rsplit("/", 1)[-1],
        exit_code=int(exit_code) if exit_code is not None else None,
        started_at=_when(item, STARTED_AT),
        ended_at=_when(item, ENDED_AT),
        duplicates=int(item.get(DUPLICATES, {}).get("N", "0")),
        earlier=earlier,
    )


class Operations:
    def __init__(self, environment: Environment, session: Any = None) -> None:
        self.environment = environment
        self._session = session or session_for(environment)

    def _client(self, service: str) -> Any:
        return self._session.client(service)

    def _call(self, what: str, call: Any, **kwargs: Any) -> Any:
        try:
            return call(**kwargs)
        except NoCredentialsError:
            raise OperationError(
                f"no AWS credentials to {what}: configure them (aws configure, AWS_PROFILE)"
            ) from None
        except ClientError as error:
            info = error.response["Error"]
            raise OperationError(f"could not {what}: {info['Code']}: {info['Message']}") from None
        except BotoCoreError as error:
            raise OperationError(f"could not {what}: {error}") from None

    def history(self, job: Job, limit: int) -> list[RunRecord]:
        """The job's last ``limit`` slots in the ledger, the most recently started first;
        each slot's earlier runs follow it."""
        client = self._client("dynamodb")
        table = self.environment.ledger_table_name
        what = f"read the ledger {table}"
        kwargs: dict[str, Any] = {
            "TableName": table,
            "KeyConditionExpression": f"{PARTITION_KEY} = :job AND begins_with({SORT_KEY}, :slot)",
            "ExpressionAttributeValues": {
                ":job": {"S": partition(job.name)},
                ":slot": {"S": SLOT_PREFIX},
            },
        }
        slots: list[list[RunRecord]] = []
        while True:
            page = self._call(what, client.query, **kwargs)
            slots += [_records(item) for item in page["Items"]]
            if "LastEvaluatedKey" not in page:
                break
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]
        oldest = datetime.min.replace(tzinfo=UTC)
        slots.sort(key=lambda runs: runs[0].started_at or oldest, reverse=True)
        return [record for runs in slots[:limit] for record in runs]

    def state_machine_arn(self, job: Job) -> str:
        identity = self._call("identify the AWS account", self._client("sts").get_caller_identity)
        region = self._session.region_name
        name = self.environment.state_machine_name(job)
        return f"arn:aws:states:{region}:{identity['Account']}:stateMachine:{name}"

    def start_run(
        self,
        job: Job,
        slot: datetime | None,
        force: bool,
        now: datetime | None = None,
        overrides: Overrides | None = None,
    ) -> tuple[str, str]:
        """Start a manual run (no slot) or a backfill of ``slot``, with a person's
        ``overrides`` of the job's container; returns ARN and console URL."""
        run_input: RunInput = {}
        if slot is not None:
            run_input["scheduledTime"] = times.slot_key(slot)
        if force:
            run_input["force"] = True
        if overrides:
            run_input["overrides"] = overrides
        machine = self.state_machine_arn(job)
        started = self._call(
            f"start {machine.rsplit(':', 1)[-1]}",
            self._client("stepfunctions").start_execution,
            stateMachineArn=machine,
            name=execution_name(slot, now or datetime.now(UTC)),
            input=json.dumps(run_input),
        )
        arn = str(started["executionArn"])
        region = self._session.region_name
        console = (
            f"https://{region}.console.aws.amazon.com/states/home?region={region}"
            f"#/v2/executions/details/{arn}"
        )
        return arn, console
