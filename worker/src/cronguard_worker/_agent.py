"""HTTP client for the ECS agent's task scale-in protection endpoint.

The agent answers ``{"protection": {...}}`` on success, ``{"failure": {"Reason": ...}}``
when ECS refused the task (``TASK_NOT_VALID``: not part of a service) and
``{"error": {"Code": ..., "Message": ...}}`` with a 4xx/5xx status otherwise.
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


@dataclass(frozen=True)
class Reply:
    """What the agent said, once it said something usable."""

    protection: dict[str, Any] | None
    """The agent's ``protection`` object; ``None`` when protection does not apply."""
    detail: str = ""


class _TransientError(Exception):
    """A failure that a later attempt may not see (throttling, 5xx, transport)."""


class _FinalError(Exception):
    """A failure that retrying will not fix (an answer we cannot use)."""


def backoff_delay(attempt: int, *, base: float, cap: float) -> float:
    """Exponential backoff with equal jitter: half fixed, half random."""
    ceiling = min(cap, base * 2.0 ** (attempt - 1))
    return ceiling / 2 + random.uniform(0, ceiling / 2)


def access_denied_message(action: str, agent_message: str) -> str:
    return (
        f"the task role is not allowed to call {action} (the ECS agent answered "
        f"AccessDeniedException: {agent_message or 'no message'}). Grant "
        f"{UPDATE_ACTION} and {GET_ACTION} on arn:aws:ecs:<region>:<account>:task/<cluster>/* "
        "to the task role (not the task execution role)."
    )


def _excerpt(body: bytes, limit: int = 200) -> str:
    text = body.decode("utf-8", errors="replace")
    return repr(text if len(text) <= limit else text[:limit] + "...")


def _field(obj: object, key: str) -> str:
    value = obj.get(key) if isinstance(obj, dict) else None
    return value if isinstance(value, str) else ""


def interpret(status: int, body: bytes, *, action: str) -> Reply:
    """Classify one agent answer; raise for anything that is not a usable reply."""
    try:
        doc = json.loads(body)
    except ValueError:
        doc = None
    if not isinstance(doc, dict):
        if status >= 500:
            raise _TransientError(f"HTTP {status} with body {_excerpt(body)}")
        raise _FinalError(f"unexpected answer from the ECS agent (HTTP {status}): {_excerpt(body)}")

    if "error" in doc:
        code, message = _field(doc["error"], "Code"), _field(doc["error"], "Message")
        if code == "AccessDeniedException":
            raise ProtectionAccessDenied(access_denied_message(action, message))
        code, message = code or "unnamed error", message or "no message"
        raise _TransientError(f"{code} (HTTP {status}): {message}")

    if "failure" in doc:
        reason, detail = _field(doc["failure"], "Reason"), _field(doc["failure"], "Detail")
        if reason == "TASK_NOT_VALID":
            return Reply(protection=None, detail=detail)
        raise _FinalError(f"ECS refused the task: {reason or 'no reason'} {detail}".rstrip())

    protection = doc.get("protection")
    if isinstance(protection, dict) and status < 300:
        return Reply(protection=protection)
    if status >= 500:
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
        data = None if payload is None else json.dumps(payload).encode()
        request = urllib.request.Request(self.url, data=data, method=method)
        if data is not None:
            request.add_header("Content-Type", "application/json")
        try:
            with self._opener.open(request, timeout=self._timeout) as response:
                return int(response.status), bytes(response.read())
        except urllib.error.HTTPError as err:
            with err:
                return err.code, err.read()
        except (OSError, http.client.HTTPException) as err:
            reason = err.reason if isinstance(err, urllib.error.URLError) else err
            raise _TransientError(f"cannot reach the ECS agent at {self.url}: {reason}") from None
