"""What a job's execution is started with: the state machine input, and a person's overrides.

Dependency-free: the schedule's target sends ``{"scheduledTime", "attempt"}`` (Scheduler's
placeholders); ``cronguard run``/``backfill`` send ``scheduledTime`` and optionally ``force``
and ``overrides``; the guard parses them (``lambdas/core/trigger.py``) and checks the
overrides (``check_overrides``) before it claims anything; the CLI checks them with the same
function before it starts an execution; the tests build inputs from these names.

Overrides change the job's own container for one run, never anything else: environment
variables the job declares in config (``environment:``) or named with ``OVERRIDE_PREFIX``,
never ``RESERVED_PREFIX``, and the command. A scheduled trigger never carries them.
"""

from __future__ import annotations

import json
import re
from collections.abc import Collection, Mapping
from typing import Any, TypedDict

JOB_CONTAINER = "job"
"""The job's container in its task definition: the one overrides apply to."""

SCHEDULED_TIME = "scheduledTime"
ATTEMPT = "attempt"  # only Scheduler sends it: a trigger with it is a scheduled delivery
FORCE = "force"
OVERRIDES = "overrides"
KNOWN_KEYS = (SCHEDULED_TIME, ATTEMPT, FORCE, OVERRIDES)

ENVIRONMENT = "environment"
COMMAND = "command"
OVERRIDE_KEYS = (ENVIRONMENT, COMMAND)

RESERVED_PREFIX = "CRONGUARD_"
"""cronguard's own variables (job, slot, execution): never overridden."""
JOB_VARIABLE = "CRONGUARD_JOB"
SLOT_VARIABLE = "CRONGUARD_SLOT"
EXECUTION_VARIABLE = "CRONGUARD_EXECUTION_ARN"
OVERRIDE_PREFIX = "RUN_"
"""A variable a person may set on one run without the job declaring it in config."""
OVERRIDES_LIMIT = 8192
"""ECS RunTask: "A total of 8192 characters are allowed for overrides. This limit includes
the JSON formatting characters of the override structure" (ECS API reference, RunTask
``overrides``). Counted with cronguard's own variables, which the same structure carries."""
VARIABLE_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
EXECUTION_ARN_LIMIT = 256
"""Step Functions: an execution ARN is at most 256 characters (StartExecution's
``executionArn``); what a check made before the execution exists counts it as."""


class Overrides(TypedDict, total=False):
    """A person's overrides of the job's container for one run (the input's ``overrides``)."""

    environment: dict[str, str]
    command: list[str]


class RunInput(TypedDict, total=False):
    """The state machine input."""

    scheduledTime: str  # the slot (ISO-8601); absent: a manual run with a slot of its own
    attempt: str  # Scheduler's attempt number
    force: bool
    overrides: Overrides


class InvalidOverrides(ValueError):
    """Overrides the job's container cannot take; nothing was claimed or started."""


def check_overrides(
    raw: Any, *, declared: Collection[str], container: str, own: Mapping[str, str]
) -> Overrides:
    """``raw`` as ``Overrides`` once it has a known shape, names only variables the job
    declares or ``OVERRIDE_PREFIX`` ones (never ``RESERVED_PREFIX``), and fits ECS's limit
    together with ``own`` (cronguard's variables for the run) in ``container``'s override."""
    if not isinstance(raw, dict):
        raise InvalidOverrides(f"overrides must be a JSON object, got {type(raw).__name__}")
    unknown = sorted(str(key) for key in raw if key not in OVERRIDE_KEYS)
    if unknown:
        raise InvalidOverrides(
            f"unknown override(s) {', '.join(unknown)}; allowed: {', '.join(OVERRIDE_KEYS)}"
        )
    overrides: Overrides = {}
    if ENVIRONMENT in raw:
        overrides["environment"] = _environment(raw[ENVIRONMENT], declared)
    if COMMAND in raw:
        command = raw[COMMAND]
        if (
            not isinstance(command, list)
            or not command
            or not all(isinstance(part, str) for part in command)
        ):
            raise InvalidOverrides("overrides.command must be a non-empty list of strings")
        overrides["command"] = list(command)
    size = len(json.dumps(container_overrides(container, own, overrides), separators=(",", ":")))
    if size > OVERRIDES_LIMIT:
        raise InvalidOverrides(
            f"overrides are {size} characters with cronguard's own variables; "
            f"ECS allows {OVERRIDES_LIMIT}"
        )
    return overrides


def _environment(raw: Any, declared: Collection[str]) -> dict[str, str]:
    if not isinstance(raw, dict) or not all(isinstance(v, str) for v in raw.values()):
        raise InvalidOverrides("overrides.environment must map variable names to strings")
    for name in raw:
        if not VARIABLE_NAME.fullmatch(str(name)):
            raise InvalidOverrides(f"overrides.environment: {name!r} is not a variable name")
        if str(name).upper().startswith(RESERVED_PREFIX):
            raise InvalidOverrides(
                f"overrides.environment: {name} is cronguard's own ({RESERVED_PREFIX}*)"
            )
        if name not in declared and not str(name).startswith(OVERRIDE_PREFIX):
            raise InvalidOverrides(
                f"overrides.environment: {name} is not a variable the job declares "
                f"(environment: in config) nor named {OVERRIDE_PREFIX}*"
            )
    return {str(name): value for name, value in raw.items()}


def container_overrides(
    container: str, own: Mapping[str, str], overrides: Overrides
) -> dict[str, Any]:
    """RunTask's ``overrides`` for the run, as ECS counts them against its limit."""
    variables = {**own, **overrides.get("environment", {})}
    override: dict[str, Any] = {
        "name": container,
        "environment": [{"name": name, "value": value} for name, value in variables.items()],
    }
    if "command" in overrides:
        override["command"] = overrides["command"]
    return {"containerOverrides": [override]}


def own_variables(job: str, slot: str, execution: str) -> dict[str, str]:
    """cronguard's variables in the run's container (the state machine sets the same)."""
    return {JOB_VARIABLE: job, SLOT_VARIABLE: slot, EXECUTION_VARIABLE: execution}


def for_state_machine(overrides: Overrides | None) -> dict[str, Any]:
    """The overrides as ``Run job`` applies them (the guard's claim reply carries this):
    variables appended to cronguard's own, and the command when one is given."""
    overrides = overrides or {}
    applied: dict[str, Any] = {
        "environment": [
            {"Name": name, "Value": value}
            for name, value in overrides.get("environment", {}).items()
        ]
    }
    if "command" in overrides:
        applied["command"] = overrides["command"]
    return applied
