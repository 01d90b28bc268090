"""AWS clients for the Lambda handlers: created once per container, reused by every
invocation (creating a boto3 client costs milliseconds on each call otherwise).

Keyed by service and the region the environment names at call time, so a process that
runs handlers for several regions (the local engine, tests) gets the right one. Creation
holds a lock: boto3's default session is not safe to create clients from several threads
at once, and the local engine runs executions in threads. In tests, moto intercepts every
client created after it is imported, so a client cached in one test reaches the next
test's mock too.

``on_first_use`` stands in for a client a handler may not need at all (the guard reaches Step
Functions and ECS only for an overlap, a replacement or a failed run): creating a client costs
tens of milliseconds of a cold start, so it is created at the first call made on it.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Literal, overload

import boto3

if TYPE_CHECKING:  # type stubs (requirements-dev.txt): nothing is imported at run time
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_ecs import ECSClient
    from mypy_boto3_stepfunctions import SFNClient

_clients: dict[tuple[str, str | None], Any] = {}
_lock = threading.Lock()
# boto3.client's typed overloads take a literal service name; this module takes any.
_new_client: Callable[..., Any] = boto3.client


@overload
def client(service: Literal["dynamodb"]) -> DynamoDBClient: ...
@overload
def client(service: Literal["ecs"]) -> ECSClient: ...
@overload
def client(service: Literal["stepfunctions"]) -> SFNClient: ...
def client(service: str) -> Any:
    region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")
    key = (service, region)
    found = _clients.get(key)
    if found is None:
        with _lock:
            found = _clients.get(key)
            if found is None:
                found = _clients[key] = _new_client(service, region_name=region)
    return found


class _OnFirstUse:
    """``client(service)``, created when the first attribute (an API call) is asked of it."""

    def __init__(self, service: str) -> None:
        self._service = service

    def __getattr__(self, name: str) -> Any:
        return getattr(_any_client(self._service), name)

    def __repr__(self) -> str:
        return f"on_first_use({self._service!r})"


_any_client: Callable[..., Any] = client  # any service name, as `client` takes


@overload
def on_first_use(service: Literal["dynamodb"]) -> DynamoDBClient: ...
@overload
def on_first_use(service: Literal["ecs"]) -> ECSClient: ...
@overload
def on_first_use(service: Literal["stepfunctions"]) -> SFNClient: ...
def on_first_use(service: str) -> Any:
    """The service's client (``client``), created only once a call is made on it."""
    return _OnFirstUse(service)
