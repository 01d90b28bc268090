"""In-process Lambda functions: the real handlers, called in the invoking thread.

A handler's return value becomes the Invoke payload. A raised exception becomes a Lambda
function error exactly as the Python runtime reports it (`FunctionError: Unhandled`, payload
`{errorMessage, errorType, requestId, stackTrace}`), so a state's Retry/Catch on the exception's
class name works as in AWS. Two exceptions simulate failures outside the handler's code:
`LambdaServiceError` (the Invoke API call itself fails: `Lambda.<code>`) and `LambdaRuntimeCrash`
(the runtime dies without an error type, e.g. out of memory: `Lambda.Unknown`).
"""

from __future__ import annotations

import json
import logging
import time
import traceback
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

Handler = Callable[[Any, Any], Any]

LOG = logging.getLogger("cronguard_simulation.engine")


class LambdaServiceError(Exception):
    """Raise from a handler to make the Invoke call fail: the state sees `Lambda.<code>`.

    E.g. `LambdaServiceError("TooManyRequestsException", status_code=429)` or
    `LambdaServiceError("ServiceException")`.
    """

    def __init__(self, code: str, message: str = "", status_code: int = 500) -> None:
        super().__init__(message or code)
        self.code = code
        self.message = message or code
        self.status_code = status_code


class LambdaRuntimeCrash(Exception):
    """Raise from a handler to simulate a runtime crash (no error type): the state sees
    `Lambda.Unknown`."""


@dataclass
class LambdaContext:
    """The attributes of the Lambda context object that handlers and Powertools read."""

    function_name: str
    invoked_function_arn: str
    memory_limit_in_mb: int = 128
    timeout_seconds: float = 30.0
    function_version: str = "$LATEST"
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    _deadline: float = field(default=0.0, repr=False)

    def __post_init__(self) -> None:
        self.log_group_name = f"/aws/lambda/{self.function_name}"
        self.log_stream_name = f"local/{self.aws_request_id}"
        self._deadline = time.monotonic() + self.timeout_seconds

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


@dataclass(frozen=True)
class Invocation:
    """The outcome of one invocation, in the shape of the Invoke API."""

    payload: bytes
    function_error: str | None = None


@dataclass(frozen=True)
class _Function:
    arn: str
    handler: Handler


class LambdaRegistry:
    """Handlers by function name; runs them like the Lambda service would."""

    def __init__(self) -> None:
        self._functions: dict[str, _Function] = {}

    def register(self, name: str, arn: str, handler: Handler) -> None:
        self._functions[name] = _Function(arn=arn, handler=handler)

    def wrap(self, name: str, wrap: Callable[[Handler], Handler]) -> None:
        function = self._functions[function_name_of(name)]
        self._functions[function_name_of(name)] = _Function(function.arn, wrap(function.handler))

    def __contains__(self, function_name: str) -> bool:
        return function_name_of(function_name) in self._functions

    def invoke(self, function_name: str, body: bytes | None) -> Invocation:
        """Run the handler; `LambdaServiceError` propagates for the caller to turn into an
        API error."""
        name = function_name_of(function_name)
        function = self._functions[name]
        context = LambdaContext(function_name=name, invoked_function_arn=function.arn)
        event = json.loads(body) if body else {}
        try:
            result = function.handler(event, context)
        except LambdaServiceError:
            raise
        except LambdaRuntimeCrash as crash:
            LOG.warning("Lambda %s crashed: %s", name, crash)
            return Invocation(
                payload=json.dumps({"errorMessage": str(crash)}).encode(),
                function_error="Unhandled",
            )
        except Exception as error:
            LOG.warning("Lambda %s raised %s", name, type(error).__name__, exc_info=True)
            return Invocation(
                payload=json.dumps(
                    {
                        "errorMessage": str(error),
                        "errorType": type(error).__name__,
                        "requestId": context.aws_request_id,
                        "stackTrace": traceback.format_tb(error.__traceback__),
                    }
                ).encode(),
                function_error="Unhandled",
            )
        return Invocation(payload=json.dumps(result).encode())


def function_name_of(function_name: str) -> str:
    """The bare function name from a name, partial or full ARN, with or without qualifier."""
    if ":function:" in function_name:
        function_name = function_name.split(":function:", 1)[1]
    return function_name.split(":", 1)[0]
