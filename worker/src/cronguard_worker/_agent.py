"""HTTP client for the ECS agent's task scale-in protection endpoint.

The agent answers ``{"protection": {...}}`` on success and ``{"failure": {"Reason": ...}}``
when ECS refused the task (``TASK_NOT_VALID``: not part of a service), both with HTTP 200;
``{"error": {"Code": ..., "Message": ...}}`` with a 4xx/5xx status otherwise (ECS's own
status for ECS errors). Its rate limiter answers 429 in plain text, its router a plain-text
``404 page not found``. Checked against aws/amazon-ecs-agent's
``ecs-agent/tmds/handlers/taskprotection/v1/handlers/handlers.go``.
"""

from __future__ import annotations

import http.client
import json
import random
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Any

from cronguard_worker.errors import ProtectionAccessDenied, ProtectionUnavailable

STATE_PATH = "/task-protection/v1/state"
UPDATE_ACTION = "ecs:UpdateTaskProtection"
GET_ACTION = "ecs:GetTaskProtection"

# The agent's rate limit (429) and a request timeout (408) pass, whatever the body says.
RETRYABLE_STATUSES = frozenset({408, 429})
# Codes the AWS SDKs' standard retry mode retries (throttling and transient), plus the
# agent's own RequestCanceled (its 4 s call to ECS timed out).
RETRYABLE_CODES = frozenset(
    {
        "ThrottlingException",
        "Throttling",
        "ThrottledException",
        "RequestThrottledException",
        "TooManyRequestsException",
        "RequestLimitExceeded",
        "RequestThrottled",
        "SlowDown",
        "RequestTimeout",
        "RequestTimeoutException",
        "RequestCanceled",
        "PriorRequestNotComplete",
    }
)
# Errors about the request, the task or the deployment: the next attempt gets the same answer.
FINAL_CODES = frozenset(
    {
        "InvalidParameterException",
        "ClientException",
        "ResourceNotFoundException",
        "ClusterNotFoundException",
        "UnsupportedFeatureException",
    }
)
NO_TASK_ROLE = "no task IAM role credentials"


@dataclass(frozen=True)
class Reply:
    """What the agent said, once it said something usable."""

    protection: dict[str, Any] | None
    """The agent's ``protection`` object; ``None`` when protection does not apply."""
    detail: str = ""


class _TransientError(Exception):
    """A failure that a later attempt may not see (throttling, 5xx, transport)."""


class _FinalError(Exception):
    """A failure that retrying will not fix (an answer we cannot use, a request ECS refuses)."""


def backoff_delay(attempt: int, *, base: float, cap: float) -> float:
    """Exponential backoff with equal jitter: half fixed, half random."""
    ceiling = min(cap, base * 2.0 ** (attempt - 1))
    return ceiling / 2 + random.uniform(0, ceiling / 2)


def access_denied_message(action: str, agent_message: str, status: int) -> str:
    answered = f"the ECS agent answered AccessDeniedException: {agent_message or 'no message'}"
    if status == 403 or NO_TASK_ROLE in agent_message:
        # The agent found no credentials to call ECS with: a deployment without a task role.
        return (
            f"the task has no task role, so the ECS agent cannot call {action} for it "
            f"({answered}). Set taskRoleArn in the task definition to a role that allows "
            f"{UPDATE_ACTION} and {GET_ACTION} on "
            "arn:aws:ecs:<region>:<account>:task/<cluster>/* (the task execution role does "
            "not count)."
        )
    return (
        f"the task role is not allowed to call {action} ({answered}). Grant "
        f"{UPDATE_ACTION} and {GET_ACTION} on arn:aws:ecs:<region>:<account>:task/<cluster>/* "
        "to the task role (not the task execution role)."
    )


def _excerpt(body: bytes, limit: int = 200) -> str:
    text = body.decode("utf-8", errors="replace")
    return repr(text if len(text) <= limit else text[:limit] + "...")


def _field(obj: object, key: str) -> str:
    value = obj.get(key) if isinstance(obj, dict) else None
    return value if isinstance(value, str) else ""


def _retryable_status(status: int) -> bool:
    return status in RETRYABLE_STATUSES or status >= 500


def interpret(status: int, body: bytes, *, action: str) -> Reply:
    """Classify one agent answer; raise for anything that is not a usable reply."""
    if status in RETRYABLE_STATUSES:
        raise _TransientError(f"HTTP {status} with body {_excerpt(body)}")
    try:
        doc = json.loads(body)
    except ValueError:
        doc = None
    if not isinstance(doc, dict):
        if _retryable_status(status):
            raise _TransientError(f"HTTP {status} with body {_excerpt(body)}")
        if status == 404:
            raise _FinalError(
                f"nothing answers task protection here (HTTP 404: {_excerpt(body)}); "
                "ECS_AGENT_URI must be the URI ECS set in the container"
            )
        raise _FinalError(f"unexpected answer from the ECS agent (HTTP {status}): {_excerpt(body)}")

    if "error" in doc:
        code, message = _field(doc["error"], "Code"), _field(doc["error"], "Message")
        if code == "AccessDeniedException":
            raise ProtectionAccessDenied(access_denied_message(action, message, status))
        described = f"{code or 'unnamed error'} (HTTP {status}): {message or 'no message'}"
        if code not in FINAL_CODES and (_retryable_status(status) or code in RETRYABLE_CODES):
            raise _TransientError(described)
        raise _FinalError(described)

    if "failure" in doc:
        reason, detail = _field(doc["failure"], "Reason"), _field(doc["failure"], "Detail")
        if reason == "TASK_NOT_VALID":
            return Reply(protection=None, detail=detail)
        raise _FinalError(f"ECS refused the task: {reason or 'no reason'} {detail}".rstrip())

    protection = doc.get("protection")
    if isinstance(protection, dict) and status < 300:
        return Reply(protection=protection)
    if _retryable_status(status):
        raise _TransientError(f"HTTP {status} with body {_excerpt(body)}")
    raise _FinalError(f"unexpected answer from the ECS agent (HTTP {status}): {_excerpt(body)}")


class AgentClient:
    """PUT/GET ``$ECS_AGENT_URI/task-protection/v1/state`` with bounded retries."""

    def __init__(
        self,
        agent_uri: str,
        *,
        timeout_seconds: float,
        max_attempts: int,
        backoff_base_seconds: float,
        backoff_max_seconds: float,
    ) -> None:
        self.url = agent_uri.rstrip("/") + STATE_PATH
        self._timeout = timeout_seconds
        self.max_attempts = max_attempts
        self._backoff_base = backoff_base_seconds
        self._backoff_max = backoff_max_seconds
        # The agent is link-local: an HTTP(S)_PROXY set for the app must never see it.
        self._opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))

    def backoff(self, attempt: int) -> float:
        return backoff_delay(attempt, base=self._backoff_base, cap=self._backoff_max)

    def put(self, enabled: bool, expires_in_minutes: int, *, attempts: int | None = None) -> Reply:
        payload: dict[str, Any] = {"ProtectionEnabled": enabled}
        if enabled:
            payload["ExpiresInMinutes"] = expires_in_minutes
        return self._call("PUT", payload, UPDATE_ACTION, attempts or self.max_attempts)

    def get(self, *, attempts: int | None = None) -> Reply:
        return self._call("GET", None, GET_ACTION, attempts or self.max_attempts)

    def _call(
        self, method: str, payload: dict[str, Any] | None, action: str, attempts: int
    ) -> Reply:
        last_reason = ""
        for attempt in range(1, attempts + 1):
            try:
                status, body = self._send(method, payload)
                return interpret(status, body, action=action)
            except _TransientError as err:
                last_reason = str(err)
            except _FinalError as err:
                raise ProtectionUnavailable(str(err), attempts=attempt) from None
            if attempt < attempts:
                time.sleep(self.backoff(attempt))
        raise ProtectionUnavailable(last_reason, attempts=attempts)

    def _send(self, method: str, payload: dict[str, Any] | None) -> tuple[int, bytes]:
        """One exchange; every transport or read failure, headers or body, is transient."""
        data = None if payload is None else json.dumps(payload).encode()
        request = urllib.request.Request(self.url, data=data, method=method)
        if data is not None:
            request.add_header("Content-Type", "application/json")
        try:
            return self._exchange(request)
        except (OSError, http.client.HTTPException) as err:
            reason = err.reason if isinstance(err, urllib.error.URLError) else err
            raise _TransientError(
                f"cannot reach the ECS agent at {self.url}: {type(reason).__name__}: {reason}"
            ) from None

    def _exchange(self, request: urllib.request.Request) -> tuple[int, bytes]:
        try:
            response = self._opener.open(request, timeout=self._timeout)
        except urllib.error.HTTPError as err:
            # A 4xx/5xx is an answer too; its body is read below, under the same handling.
            response = err
        with response:
            status = int(response.status or 0)
            try:
                return status, bytes(response.read())
            except (OSError, http.client.HTTPException) as err:
                raise _TransientError(
                    f"HTTP {status} from the ECS agent, but its body did not arrive whole: "
                    f"{type(err).__name__}: {err}"
                ) from None
