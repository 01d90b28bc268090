"""A real HTTP server on loopback playing the ECS agent for one task.

Rebuilt from aws/amazon-ecs-agent at commit 8dfceca6cf380a83c3007349317566f2862f0673:

- ``ecs-agent/tmds/handlers/taskprotection/v1/handlers/handlers.go``: the route
  ``/api/{endpoint container id}/task-protection/v1/state``, PUT and GET only; the order of the
  checks (decode the body with unknown fields refused, find the task, require
  ``ProtectionEnabled``, find the task role credentials, call ECS with a timeout); how an ECS
  error keeps ECS's status and adds ``requestID``; ``failure`` answered with HTTP 200.
- ``ecs-agent/tmds/handlers/taskprotection/v1/handlers/handlers_test.go``: every response body
  below that has a fixture there (``happyEnabledTaskProtectionResponse``, ``ecsErrorResponse``,
  ``noCredentialsErrorResponse``, ``requestFailureErrorResponse``, ``timeoutErrorResponse``,
  ``nonRequestAWSErrorResponse``, ``nonAWSErrorResponse``, ``multipleECSErrorResponse``,
  ``malformedRequestResponse``, ``missingTaskProtectionFieldResponse``,
  ``taskMetadataErrorResponse`` and the lookup failure's literal), byte for byte.
- ``ecs-agent/tmds/handlers/taskprotection/v1/types/types.go`` and the vendored
  ``aws-sdk-go-v2/service/ecs/types/types.go``: field order, ``omitempty`` (``Arn``,
  ``requestID``), ``null`` for an absent ``Detail`` or ``ExpirationDate``.
- ``ecs-agent/tmds/handlers/utils/helpers.go``: ``Content-Type: application/json``.
- ``ecs-agent/tmds/server.go``, ``agent/config/config.go`` (``DefaultTaskMetadataSteadyStateRate``
  40, ``DefaultTaskMetadataBurstRate`` 60) and the vendored didip/tollbooth v4.0.2
  (``tollbooth.go``, ``limiter/limiter.go``): a token bucket per (remote IP, path) in front of
  every route, answering 429 ``text/plain; charset=utf-8`` "You have reached maximum request
  limit." with its ``X-Rate-Limit-*`` headers.
- ``agent/handlers/task_server_setup.go``: the ECS call times out at 4 s (answered 504
  ``RequestCanceled``); read/write timeouts 5 s.
- the vendored gorilla/mux ``mux.go`` and Go's ``net/http``: another method on the route gets
  405 with an empty body, another path ``404 page not found`` as plain text.

Not from the agent: the ECS side (the protection state and its expiry, ECS's default of 120
minutes), the network faults a test can ask for (:class:`Delivery`), and task metadata v4
(``/v4/<container>`` and ``/v4/<container>/task``, only the fields the worker reads).
"""

from __future__ import annotations

import enum
import json
import re
import socket
import struct
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from cronguard_worker._clock import Clock, SystemClock

STATE_SUFFIX = "/task-protection/v1/state"
STATE_ROUTE = re.compile(r"/api/(?P<endpoint>[^/]*)/task-protection/v1/state")
ENDPOINT_ID = "3f1c0b7e-agent"
TASK_ARN = "arn:aws:ecs:eu-west-1:111122223333:task/batch/8f03e41243824aea923aca126495f665"
CLUSTER = "arn:aws:ecs:eu-west-1:111122223333:cluster/batch"
DOCKER_ID = "8f03e41243824aea923aca126495f665-1234567890"
CONTAINER_NAME = "worker"
ECS_REQUEST_ID = "4b2c6a1e-93f5-4a7e-9d0c-2f1e8b7a6c5d"

ECS_CALL_TIMEOUT_SECONDS = 4.0
WRITE_TIMEOUT_SECONDS = 5.0
STEADY_RATE_PER_SECOND = 40.0
BURST = 60


class Delivery(enum.Enum):
    """How the bytes of an answer reach the client (the network, not the agent)."""

    WHOLE = "whole"
    STALL = "stall"
    """Status, headers and half the body, then nothing until the client gives up."""
    TRUNCATE = "truncate"
    """Headers promise the whole body; half of it arrives, then the connection closes."""
    RESET = "reset"
    """Status, headers and half the body, then a TCP reset."""
    SILENCE = "silence"
    """No answer at all; the connection closes at the agent's write timeout."""


@dataclass(frozen=True)
class Response:
    status: int
    body: bytes
    content_type: str | None = "application/json"
    headers: tuple[tuple[str, str], ...] = ()
    delivery: Delivery = Delivery.WHOLE

    @classmethod
    def json(cls, status: int, doc: object) -> Response:
        """Go's ``json.Marshal``: no whitespace, keys in the order given."""
        return cls(status, json.dumps(doc, separators=(",", ":")).encode())

    def delivered(self, delivery: Delivery) -> Response:
        return replace(self, delivery=delivery)


# The agent's answers, built as its handler builds them.


def protection(enabled: bool, expiration: datetime | None = None, arn: str = TASK_ARN) -> Response:
    """Success, HTTP 200: ``types.NewTaskProtectionResponseProtection``."""
    expires = None if expiration is None else expiration.strftime("%Y-%m-%dT%H:%M:%SZ")
    return Response.json(
        200,
        {"protection": {"ExpirationDate": expires, "ProtectionEnabled": enabled, "TaskArn": arn}},
    )


def ecs_failure(reason: str, detail: str | None = None) -> Response:
    """ECS refused the task (``Failures`` in its answer), still HTTP 200."""
    return Response.json(200, {"failure": {"Arn": TASK_ARN, "Detail": detail, "Reason": reason}})


def task_not_valid() -> Response:
    """What ECS says for a task that is not part of a service."""
    return ecs_failure("TASK_NOT_VALID")


def ecs_error(code: str, message: str, status: int = 400) -> Response:
    """ECS answered with an error: its status and request id are passed on."""
    return Response.json(
        status,
        {
            "requestID": ECS_REQUEST_ID,
            "error": {"Arn": TASK_ARN, "Code": code, "Message": message},
        },
    )


def agent_error(code: str, message: str, status: int, *, arn: str = TASK_ARN) -> Response:
    """An error the agent makes up itself: no ``requestID``; no ``Arn`` before the task is known."""
    error = {"Arn": arn} if arn else {}
    return Response.json(status, {"error": {**error, "Code": code, "Message": message}})


def no_task_role() -> Response:
    """The task definition has no task role: the agent holds no credentials for it."""
    return agent_error(
        "AccessDeniedException",
        "Invalid Request: no task IAM role credentials available for task",
        403,
    )


def ecs_call_timed_out() -> Response:
    return agent_error("RequestCanceled", "Timed out calling ECS Task Protection API", 504)


def non_aws_error(message: str) -> Response:
    """The SDK failed without an AWS answer (e.g. a DNS failure): 500 ``ServerException``."""
    return agent_error("ServerException", message, 500)


def unexpected_ecs_answer() -> Response:
    """ECS answered more than one task or failure."""
    return agent_error("ServerException", "Unexpected error occurred", 500)


def task_lookup_failed() -> Response:
    """No task behind this endpoint container id."""
    return agent_error(
        "ResourceNotFoundException", "Failed to find a task for the request", 404, arn=""
    )


def task_metadata_fetch_failed() -> Response:
    return agent_error("ServerException", "Failed to find a task for the request", 500, arn="")


def decode_failed() -> Response:
    """A PUT body that is not ``{"ProtectionEnabled": bool, "ExpiresInMinutes": int}``."""
    return agent_error(
        "InvalidParameterException", "UpdateTaskProtection: failed to decode request", 400, arn=""
    )


def missing_protection_enabled() -> Response:
    return agent_error(
        "InvalidParameterException",
        "Invalid request: does not contain 'ProtectionEnabled' field",
        400,
    )


def rate_limited(
    limit: float = STEADY_RATE_PER_SECOND, remote_addr: str = "127.0.0.1:0"
) -> Response:
    """tollbooth's answer once the bucket for (remote IP, path) is empty."""
    return Response(
        429,
        b"You have reached maximum request limit.",
        content_type="text/plain; charset=utf-8",
        headers=(
            ("X-Rate-Limit-Limit", f"{limit:.2f}"),
            ("X-Rate-Limit-Duration", "1"),
            ("X-Rate-Limit-Request-Forwarded-For", ""),
            ("X-Rate-Limit-Request-Remote-Addr", remote_addr),
        ),
    )


PAGE_NOT_FOUND = Response(
    404,
    b"404 page not found\n",
    content_type="text/plain; charset=utf-8",
    headers=(("X-Content-Type-Options", "nosniff"),),
)
METHOD_NOT_ALLOWED = Response(405, b"", content_type=None)


@dataclass
class TokenBucket:
    """golang.org/x/time/rate's ``Allow``: starts full, refills continuously.

    Always on wall time (``time.monotonic``), never on the agent's ``clock``: it limits how
    fast requests really arrive, and the client's backoff between attempts is wall time
    too (``time.sleep``), so only wall time refills what a retry needs. On a manual clock
    that never advances, the bucket would never refill at all.
    """

    rate: float
    burst: int
    tokens: float = field(init=False)
    last: float = field(default_factory=time.monotonic)

    def __post_init__(self) -> None:
        self.tokens = float(self.burst)

    def allow(self, now: float) -> bool:
        self.tokens = min(float(self.burst), self.tokens + (now - self.last) * self.rate)
        self.last = now
        if self.tokens >= 1:
            self.tokens -= 1
            return True
        return False


@dataclass(frozen=True)
class Request:
    at: float
    method: str
    path: str
    body: dict[str, Any] | None
    status: int

    @property
    def enables(self) -> bool:
        return bool(self.body and self.body.get("ProtectionEnabled"))


class _DecodeError(Exception):
    pass


class FakeEcsAgent:
    """The agent's task protection endpoint (and task metadata v4) for one task.

    ``respond_next`` replaces the agent's answer for the next requests to the state route
    (after the rate limiter, before the handler), optionally delivered with a network fault.
    ``clock`` (default: the system's monotonic clock) is ECS's time: when protection expires
    (``ExpiresInMinutes`` of its minutes), and the ``at`` of each recorded request; pass the
    client's manual clock to test expiry in virtual time. The ``ExpirationDate`` it answers,
    latencies and timeouts are wall time.
    """

    def __init__(
        self,
        *,
        steady_rate: float = STEADY_RATE_PER_SECOND,
        burst: int = BURST,
        clock: Clock | None = None,
    ) -> None:
        self.clock: Clock = SystemClock() if clock is None else clock
        self.steady_rate = steady_rate
        self.burst = burst
        self.latency_seconds = 0.0
        """Time before the agent looks at a request (a slow network or a busy agent)."""
        self.ecs_latency_seconds = 0.0
        """How long ECS takes; beyond ``ecs_call_timeout_seconds`` the agent answers 504."""
        self.ecs_call_timeout_seconds = ECS_CALL_TIMEOUT_SECONDS
        self.write_timeout_seconds = WRITE_TIMEOUT_SECONDS
        self.task_role = True
        self.requests: list[Request] = []
        self.expirations = 0
        self._lock = threading.Lock()
        self._recorded_request = threading.Condition(self._lock)
        self._released = threading.Event()
        self._gate: tuple[threading.Event, threading.Event, float] | None = None
        self._buckets: dict[tuple[str, str], TokenBucket] = {}
        self._scripted: dict[str, deque[Response]] = {"GET": deque(), "PUT": deque()}
        self._enabled = False
        self._expires_at = 0.0
        self._expiration: datetime | None = None
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    @property
    def uri(self) -> str:
        """What ECS puts in ECS_AGENT_URI."""
        return f"{self.base}/api/{ENDPOINT_ID}"

    @property
    def metadata_uri(self) -> str:
        """What ECS puts in ECS_CONTAINER_METADATA_URI_V4."""
        return f"{self.base}/v4/{DOCKER_ID}"

    def start(self) -> FakeEcsAgent:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._released.set()
        self._server.shutdown()
        self._server.server_close()

    def respond_next(self, method: str, response: Response, *, times: int = 1) -> None:
        with self._lock:
            self._scripted[method].extend([response] * times)

    @property
    def protection_enabled(self) -> bool:
        with self._lock:
            return self._current(self.clock.monotonic())

    def puts(self) -> list[Request]:
        with self._lock:
            return [r for r in self.requests if r.method == "PUT"]

    def protection_requests(self) -> list[Request]:
        with self._lock:
            return [r for r in self.requests if r.path.endswith(STATE_SUFFIX)]

    def metadata_requests(self) -> list[Request]:
        with self._lock:
            return [r for r in self.requests if r.path.startswith("/v4/")]

    def wait_for(
        self, predicate: Callable[[list[Request]], bool], timeout: float = 60.0
    ) -> list[Request]:
        """Block until the recorded requests satisfy ``predicate``; returns them.

        Woken by each request recorded; ``timeout`` (wall time) is only a hang guard.
        """
        with self._recorded_request:
            if not self._recorded_request.wait_for(lambda: predicate(self.requests), timeout):
                raise AssertionError(
                    f"no such requests within {timeout} s; recorded: {self.requests}"
                )
            return list(self.requests)

    @contextmanager
    def held(self, timeout: float = 60.0) -> Iterator[threading.Event]:
        """Requests that arrive inside the block wait, before the agent looks at them, until
        it ends: a test acts while a call is in flight for as long as it needs, not for a
        latency it hopes is long enough. Yields an Event set when the first one arrives;
        ``timeout`` (wall time) is only a hang guard on a held request."""
        release, arrived = threading.Event(), threading.Event()
        with self._lock:
            self._gate = (release, arrived, timeout)
        try:
            yield arrived
        finally:
            with self._lock:
                self._gate = None
            release.set()

    def wait_released(self, timeout: float) -> None:
        """Hold a faulty delivery until the test ends, at most ``timeout`` seconds."""
        self._released.wait(timeout)

    def handle(self, method: str, path: str, raw: bytes, remote: tuple[str, int]) -> Response:
        with self._lock:
            gate = self._gate
        if gate is not None:
            release, arrived, guard = gate
            arrived.set()
            release.wait(guard)
        if self.latency_seconds:
            time.sleep(self.latency_seconds)
        with self._lock:
            now = self.clock.monotonic()
            bucket = self._buckets.setdefault(
                (remote[0], path), TokenBucket(self.steady_rate, self.burst)
            )
            if not bucket.allow(time.monotonic()):
                limited = rate_limited(self.steady_rate, f"{remote[0]}:{remote[1]}")
                return self._recorded(now, method, path, raw, limited)
            route = STATE_ROUTE.fullmatch(path)
            if route and method in self._scripted and self._scripted[method]:
                return self._recorded(now, method, path, raw, self._scripted[method].popleft())
        if route is None:
            response = self._metadata(method, path)
        elif method not in ("GET", "PUT"):
            response = METHOD_NOT_ALLOWED
        else:
            response = self._task_protection(method, route["endpoint"], raw)
        with self._lock:
            return self._recorded(self.clock.monotonic(), method, path, raw, response)

    def _recorded(
        self, now: float, method: str, path: str, raw: bytes, response: Response
    ) -> Response:
        self.requests.append(Request(now, method, path, _parse(raw), response.status))
        self._recorded_request.notify_all()
        return response

    def _metadata(self, method: str, path: str) -> Response:
        if method == "GET" and path == f"/v4/{DOCKER_ID}":
            return Response.json(200, {"DockerId": DOCKER_ID, "Name": CONTAINER_NAME})
        if method == "GET" and path == f"/v4/{DOCKER_ID}/task":
            return Response.json(200, {"TaskARN": TASK_ARN, "Cluster": CLUSTER, "Family": "w"})
        return PAGE_NOT_FOUND

    def _task_protection(self, method: str, endpoint: str, raw: bytes) -> Response:
        request: dict[str, Any] = {}
        if method == "PUT":
            try:
                request = _decode_update(raw)
            except _DecodeError:
                return decode_failed()
        if endpoint != ENDPOINT_ID:
            return task_lookup_failed()
        if method == "PUT" and request.get("ProtectionEnabled") is None:
            return missing_protection_enabled()
        if not self.task_role:
            return no_task_role()
        if self.ecs_latency_seconds > self.ecs_call_timeout_seconds:
            time.sleep(self.ecs_call_timeout_seconds)
            return ecs_call_timed_out()
        time.sleep(self.ecs_latency_seconds)
        with self._lock:
            now = self.clock.monotonic()
            if method == "PUT":
                self._update(request["ProtectionEnabled"], request.get("ExpiresInMinutes"), now)
            enabled = self._current(now)
            return protection(enabled, self._expiration if enabled else None)

    def _update(self, enabled: bool, minutes: int | None, now: float) -> None:
        """ECS: ``ExpiresInMinutes`` defaults to 120; disabling clears the expiry."""
        self._current(now)
        self._enabled = enabled
        minutes = 120 if minutes is None else minutes
        self._expires_at = now + minutes * 60
        self._expiration = datetime.now(UTC).replace(microsecond=0) + timedelta(minutes=minutes)

    def _current(self, now: float) -> bool:
        """The protection state at ``now``; counts protection that ran out."""
        if self._enabled and now >= self._expires_at:
            self._enabled = False
            self.expirations += 1
        return self._enabled


_UPDATE_FIELDS = {"protectionenabled": "ProtectionEnabled", "expiresinminutes": "ExpiresInMinutes"}


def _decode_update(raw: bytes) -> dict[str, Any]:
    """Go's ``json.Decoder`` with ``DisallowUnknownFields`` into ``TaskProtectionRequest``.

    Field names match case-insensitively, as in Go; ``null`` leaves a field unset; the
    first JSON value is decoded and anything after it is ignored.
    """
    try:
        doc, _ = json.JSONDecoder().raw_decode(raw.decode().lstrip())
    except (UnicodeDecodeError, ValueError) as err:
        raise _DecodeError from err
    if doc is None:
        return {}
    if not isinstance(doc, dict):
        raise _DecodeError
    request: dict[str, Any] = {}
    for key, value in doc.items():
        name = _UPDATE_FIELDS.get(key.lower())
        if name is None:
            raise _DecodeError
        if value is None:
            continue
        if name == "ProtectionEnabled" and not isinstance(value, bool):
            raise _DecodeError
        if name == "ExpiresInMinutes" and (isinstance(value, bool) or not isinstance(value, int)):
            raise _DecodeError
        request[name] = value
    return request


def _parse(raw: bytes) -> dict[str, Any] | None:
    try:
        doc = json.loads(raw) if raw else None
    except ValueError:
        return None
    return doc if isinstance(doc, dict) else None


def _handler_for(agent: FakeEcsAgent) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:
            self._serve("GET")

        def do_PUT(self) -> None:
            self._serve("PUT")

        def do_POST(self) -> None:
            self._serve("POST")

        def do_DELETE(self) -> None:
            self._serve("DELETE")

        def _serve(self, method: str) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length)
            response = agent.handle(method, self.path, raw, self.client_address)
            if response.delivery is Delivery.SILENCE:
                agent.wait_released(agent.write_timeout_seconds)
                self.close_connection = True
                return
            self.send_response(response.status)
            if response.content_type is not None:
                self.send_header("Content-Type", response.content_type)
            for name, value in response.headers:
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(response.body)))
            self.end_headers()
            if response.delivery is Delivery.WHOLE:
                self.wfile.write(response.body)
                return
            self.wfile.write(response.body[: len(response.body) // 2])
            self.wfile.flush()
            self.close_connection = True
            if response.delivery is Delivery.STALL:
                agent.wait_released(60.0)
            elif response.delivery is Delivery.RESET:
                # SO_LINGER 0: closing sends RST instead of FIN.
                self.connection.setsockopt(
                    socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0)
                )
                self.connection.close()

        def log_message(self, format: str, *args: Any) -> None:
            """Quiet: the test asserts on recorded requests instead."""

    return Handler
