"""A real HTTP server on loopback playing the ECS agent for one task.

It serves ``<agent uri>/task-protection/v1/state`` (GET/PUT) with the agent's
response shapes, keeps the protection state with its expiry, records every
request, and can be told to answer the next requests with failures. It also
serves task metadata v4 (``/v4/<container>`` and ``/v4/<container>/task``).
"""

from __future__ import annotations

import json
import threading
import time
from collections import deque
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

STATE_SUFFIX = "/task-protection/v1/state"
TASK_ARN = "arn:aws:ecs:eu-west-1:111122223333:task/batch/8f03e41243824aea923aca126495f665"
CLUSTER = "arn:aws:ecs:eu-west-1:111122223333:cluster/batch"
DOCKER_ID = "8f03e41243824aea923aca126495f665-1234567890"
CONTAINER_NAME = "worker"


@dataclass(frozen=True)
class Response:
    status: int
    body: bytes

    @classmethod
    def json(cls, status: int, doc: object) -> Response:
        return cls(status, json.dumps(doc).encode())


def task_not_valid() -> Response:
    return Response.json(
        200,
        {"failure": {"Arn": TASK_ARN, "Reason": "TASK_NOT_VALID", "Detail": "not in a service"}},
    )


def agent_error(code: str, status: int, message: str = "simulated") -> Response:
    return Response.json(status, {"error": {"Arn": TASK_ARN, "Code": code, "Message": message}})


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


class FakeEcsAgent:
    def __init__(self, *, minute_seconds: float = 60.0) -> None:
        self.minute_seconds = minute_seconds
        self.latency_seconds = 0.0
        self.requests: list[Request] = []
        self.expirations = 0
        self._lock = threading.Lock()
        self._scripted: dict[str, deque[Response]] = {"GET": deque(), "PUT": deque()}
        self._enabled = False
        self._expires_at = 0.0
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
        return f"{self.base}/api/3f1c0b7e-agent"

    @property
    def metadata_uri(self) -> str:
        """What ECS puts in ECS_CONTAINER_METADATA_URI_V4."""
        return f"{self.base}/v4/{DOCKER_ID}"

    def start(self) -> FakeEcsAgent:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def respond_next(self, method: str, response: Response, *, times: int = 1) -> None:
        with self._lock:
            self._scripted[method].extend([response] * times)

    @property
    def protection_enabled(self) -> bool:
        with self._lock:
            return self._current(time.monotonic())

    def puts(self) -> list[Request]:
        with self._lock:
            return [r for r in self.requests if r.method == "PUT"]

    def protection_requests(self) -> list[Request]:
        with self._lock:
            return [r for r in self.requests if r.path.endswith(STATE_SUFFIX)]

    def metadata_requests(self) -> list[Request]:
        with self._lock:
            return [r for r in self.requests if r.path.startswith("/v4/")]

    def handle(self, method: str, path: str, raw: bytes) -> Response:
        if self.latency_seconds:
            time.sleep(self.latency_seconds)
        body = _parse(raw)
        with self._lock:
            now = time.monotonic()
            response = self._respond(method, path, body, now)
            self.requests.append(Request(now, method, path, body, response.status))
            return response

    def _respond(self, method: str, path: str, body: dict[str, Any] | None, now: float) -> Response:
        if method == "GET" and path == f"/v4/{DOCKER_ID}":
            return Response.json(200, {"DockerId": DOCKER_ID, "Name": CONTAINER_NAME})
        if method == "GET" and path == f"/v4/{DOCKER_ID}/task":
            return Response.json(200, {"TaskARN": TASK_ARN, "Cluster": CLUSTER, "Family": "w"})
        if not path.endswith(STATE_SUFFIX) or method not in self._scripted:
            return Response.json(404, {"error": {"Code": "NotFound", "Message": path}})
        if self._scripted[method]:
            return self._scripted[method].popleft()
        if method == "PUT":
            if body is None or not isinstance(body.get("ProtectionEnabled"), bool):
                return agent_error("InvalidParameterException", 400)
            self._current(now)
            self._enabled = body["ProtectionEnabled"]
            minutes = body.get("ExpiresInMinutes", 120)
            self._expires_at = now + minutes * self.minute_seconds
        enabled = self._current(now)
        protection: dict[str, Any] = {"ProtectionEnabled": enabled, "TaskArn": TASK_ARN}
        if enabled:
            protection["ExpirationDate"] = "2026-11-22T03:00:00Z"
        return Response.json(200, {"requestID": "r-1", "protection": protection})

    def _current(self, now: float) -> bool:
        """The protection state at ``now``; counts protection that ran out."""
        if self._enabled and now >= self._expires_at:
            self._enabled = False
            self.expirations += 1
        return self._enabled


def _parse(raw: bytes) -> dict[str, Any] | None:
    try:
        doc = json.loads(raw) if raw else None
    except ValueError:
        return None
    return doc if isinstance(doc, dict) else None


def _handler_for(agent: FakeEcsAgent) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self._serve("GET")

        def do_PUT(self) -> None:
            self._serve("PUT")

        def _serve(self, method: str) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            response = agent.handle(method, self.path, self.rfile.read(length))
            self.send_response(response.status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(response.body)))
            self.end_headers()
            self.wfile.write(response.body)

        def log_message(self, format: str, *args: Any) -> None:
            """Quiet: the test asserts on recorded requests instead."""

    return Handler
