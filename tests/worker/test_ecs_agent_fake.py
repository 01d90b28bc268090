"""The fake ECS agent answers as the real one does (see its docstring for the sources).

The expected bodies are the fixtures of aws/amazon-ecs-agent's
``ecs-agent/tmds/handlers/taskprotection/v1/handlers/handlers_test.go`` (commit
8dfceca6cf380a83c3007349317566f2862f0673), copied verbatim with the task ARN and
request id filled in.
"""

from __future__ import annotations

import contextlib
import http.client
import json
from collections.abc import Iterator
from dataclasses import dataclass
from urllib.parse import urlsplit

import pytest

from tests.worker.clock import ManualClock
from tests.worker.ecs_agent_fake import (
    BURST,
    ECS_REQUEST_ID,
    STEADY_RATE_PER_SECOND,
    TASK_ARN,
    Delivery,
    FakeEcsAgent,
    Response,
    TokenBucket,
    agent_error,
    ecs_error,
    ecs_failure,
    non_aws_error,
    protection,
    task_metadata_fetch_failed,
    unexpected_ecs_answer,
)

# handlers_test.go, verbatim.
TASK_METADATA_ERROR = (
    '{"error":{"Code":"ServerException","Message":"Failed to find a task for the request"}}'
)
NO_CREDENTIALS = '{"error":{"Arn":"%s","Code":"AccessDeniedException","Message":"Invalid Request: no task IAM role credentials available for task"}}'  # noqa: E501
REQUEST_FAILURE = (
    '{"requestID":"%s","error":{"Arn":"%s","Code":"AccessDeniedException","Message":"%s"}}'
)
TIMEOUT = '{"error":{"Arn":"%s","Code":"RequestCanceled","Message":"Timed out calling ECS Task Protection API"}}'  # noqa: E501
NON_REQUEST_AWS_ERROR = '{"error":{"Arn":"%s","Code":"InvalidParameterException","Message":"%s"}}'
NON_AWS_ERROR = '{"error":{"Arn":"%s","Code":"ServerException","Message":"%s"}}'
ECS_FAILURE = '{"failure":{"Arn":"%s","Detail":null,"Reason":"ecs failure 1"}}'
MULTIPLE_ECS_ERRORS = (
    '{"error":{"Arn":"%s","Code":"ServerException","Message":"Unexpected error occurred"}}'
)
HAPPY_ENABLED = '{"protection":{"ExpirationDate":null,"ProtectionEnabled":true,"TaskArn":"%s"}}'
MALFORMED_REQUEST = '{"error":{"Code":"InvalidParameterException","Message":"%s"}}'
MISSING_PROTECTION_ENABLED = '{"error":{"Arn":"%s","Code":"InvalidParameterException","Message":"Invalid request: does not contain \'ProtectionEnabled\' field"}}'  # noqa: E501
LOOKUP_FAILURE = '{"error":{"Code":"ResourceNotFoundException","Message":"Failed to find a task for the request"}}'  # noqa: E501
DECODE_ERROR = "UpdateTaskProtection: failed to decode request"


@pytest.fixture
def agent() -> Iterator[FakeEcsAgent]:
    fake = FakeEcsAgent().start()
    yield fake
    fake.stop()


@contextlib.contextmanager
def sent(
    agent: FakeEcsAgent,
    method: str,
    path: str | None = None,
    body: object = None,
    *,
    timeout: float = 2.0,
) -> Iterator[http.client.HTTPResponse]:
    """One request over a new connection; the response is left unread."""
    url = urlsplit(agent.base)
    connection = http.client.HTTPConnection(url.hostname or "", url.port, timeout=timeout)
    data = None if body is None else json.dumps(body).encode()
    path = path if path is not None else urlsplit(agent.uri).path + "/task-protection/v1/state"
    try:
        connection.request(method, path, body=data)
        yield connection.getresponse()
    finally:
        connection.close()


@dataclass(frozen=True)
class Answer:
    status: int
    content_type: str | None
    body: str
    headers: dict[str, str]


def call(agent: FakeEcsAgent, method: str, path: str | None = None, body: object = None) -> Answer:
    with sent(agent, method, path, body) as response:
        text = response.read().decode()
        return Answer(
            response.status, response.getheader("Content-Type"), text, dict(response.headers)
        )


def answer(reply: Answer) -> tuple[int, str | None, str]:
    return reply.status, reply.content_type, reply.body


@pytest.mark.parametrize(
    ("built", "fixture"),
    [
        (protection(True), HAPPY_ENABLED % TASK_ARN),
        (ecs_failure("ecs failure 1"), ECS_FAILURE % TASK_ARN),
        (ecs_error("AccessDeniedException", "ecs error"), REQUEST_FAILURE % (ECS_REQUEST_ID, TASK_ARN, "ecs error")),  # noqa: E501
        (agent_error("InvalidParameterException", "ecs error", 500), NON_REQUEST_AWS_ERROR % (TASK_ARN, "ecs error")),  # noqa: E501
        (non_aws_error("some error"), NON_AWS_ERROR % (TASK_ARN, "some error")),
        (unexpected_ecs_answer(), MULTIPLE_ECS_ERRORS % TASK_ARN),
        (task_metadata_fetch_failed(), TASK_METADATA_ERROR),
    ],
)  # fmt: skip
def test_answers_that_need_ecs_are_the_agent_fixtures(built: Response, fixture: str) -> None:
    assert built.body.decode() == fixture
    assert built.content_type == "application/json"


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ({"ProtectionEnabled": True, "ExpiresInMinutes": 5, "Unknown": 2}, (400, MALFORMED_REQUEST % DECODE_ERROR)),  # noqa: E501
        ({"ProtectionEnabled": "bad"}, (400, MALFORMED_REQUEST % DECODE_ERROR)),
        ({"ProtectionEnabled": True, "ExpiresInMinutes": 5.5}, (400, MALFORMED_REQUEST % DECODE_ERROR)),  # noqa: E501
        ({"ExpiresInMinutes": 5}, (400, MISSING_PROTECTION_ENABLED % TASK_ARN)),
        (None, (400, MALFORMED_REQUEST % DECODE_ERROR)),
    ],
)  # fmt: skip
def test_update_requests_are_validated_as_the_agent_does(
    agent: FakeEcsAgent, body: object, expected: tuple[int, str]
) -> None:
    status, content_type, text = answer(call(agent, "PUT", body=body))

    assert (status, text) == expected
    assert content_type == "application/json"
    assert not agent.protection_enabled


def test_field_names_match_case_insensitively_as_in_go(agent: FakeEcsAgent) -> None:
    status, _, text = answer(call(agent, "PUT", body={"protectionenabled": True}))

    assert status == 200
    assert json.loads(text)["protection"]["ProtectionEnabled"] is True


def test_success_carries_no_request_id_and_a_null_expiry_when_disabled(agent: FakeEcsAgent) -> None:
    status, _, enabled = answer(
        call(agent, "PUT", body={"ProtectionEnabled": True, "ExpiresInMinutes": 30})
    )
    _, _, disabled = answer(call(agent, "PUT", body={"ProtectionEnabled": False}))
    _, _, read = answer(call(agent, "GET"))

    assert status == 200
    assert list(json.loads(enabled)) == ["protection"]
    assert json.loads(enabled)["protection"]["ExpirationDate"].endswith("Z")
    assert disabled == read == protection(False).body.decode()
    assert '"ExpirationDate":null' in disabled


def test_an_unknown_endpoint_container_is_not_found(agent: FakeEcsAgent) -> None:
    path = "/api/someone-else/task-protection/v1/state"

    assert answer(call(agent, "GET", path)) == (404, "application/json", LOOKUP_FAILURE)


def test_a_task_without_a_task_role_is_refused_with_403(agent: FakeEcsAgent) -> None:
    agent.task_role = False

    assert answer(call(agent, "GET")) == (403, "application/json", NO_CREDENTIALS % TASK_ARN)


def test_a_slow_ecs_call_is_cut_at_the_agent_timeout(agent: FakeEcsAgent) -> None:
    agent.ecs_call_timeout_seconds = 0.05
    agent.ecs_latency_seconds = 10.0

    assert answer(call(agent, "GET")) == (504, "application/json", TIMEOUT % TASK_ARN)


def test_other_methods_and_paths_get_the_routers_answers(agent: FakeEcsAgent) -> None:
    assert answer(call(agent, "POST", body={"ProtectionEnabled": True})) == (405, None, "")
    not_found = call(agent, "GET", "/api/x/task-protection/v2/state")
    assert answer(not_found) == (404, "text/plain; charset=utf-8", "404 page not found\n")


def test_the_rate_limiter_answers_429_in_plain_text_per_path() -> None:
    agent = FakeEcsAgent(steady_rate=0.01, burst=2).start()
    try:
        statuses = [call(agent, "GET").status for _ in range(3)]
        limited = call(agent, "GET")
        other_path = call(agent, "GET", "/v4/nothing-here").status
    finally:
        agent.stop()

    assert statuses == [200, 200, 429]
    assert answer(limited) == (
        429,
        "text/plain; charset=utf-8",
        "You have reached maximum request limit.",
    )
    assert limited.headers["X-Rate-Limit-Limit"] == "0.01"
    assert other_path == 404  # a bucket per (remote IP, path)


def test_the_limiters_bucket_holds_60_and_refills_40_per_second(agent: FakeEcsAgent) -> None:
    bucket = TokenBucket(STEADY_RATE_PER_SECOND, BURST)
    start = bucket.last

    assert [bucket.allow(start) for _ in range(61)] == [True] * 60 + [False]
    assert bucket.allow(start + 0.026)  # one token back after 1/40 s
    assert not bucket.allow(start + 0.026)
    assert (agent.steady_rate, agent.burst) == (40.0, 60)  # the agent's defaults, by default


def test_protection_expires_on_the_agents_clock_and_each_request_is_timed_by_it() -> None:
    clock = ManualClock()
    agent = FakeEcsAgent(clock=clock).start()
    try:
        call(agent, "PUT", body={"ProtectionEnabled": True, "ExpiresInMinutes": 1})
        clock.advance(59.5)
        still = agent.protection_enabled
        clock.advance(0.5)
        lapsed = agent.protection_enabled
        call(agent, "GET")
        recorded = agent.wait_for(lambda requests: len(requests) == 2)
    finally:
        agent.stop()

    assert (still, lapsed, agent.expirations) == (True, False, 1)
    assert [(request.at, request.method) for request in recorded] == [(0, "PUT"), (60, "GET")]


@pytest.mark.parametrize(
    ("delivery", "raised"),
    [
        (Delivery.STALL, TimeoutError),
        (Delivery.TRUNCATE, http.client.IncompleteRead),
        (Delivery.RESET, ConnectionResetError),
    ],
)
def test_faulty_deliveries_break_the_body(
    agent: FakeEcsAgent, delivery: Delivery, raised: type[Exception]
) -> None:
    agent.respond_next("GET", non_aws_error("boom").delivered(delivery))

    with sent(agent, "GET", timeout=0.3) as response:
        assert response.status == 500
        with pytest.raises(raised):
            response.read()


def test_silence_ends_with_a_closed_connection_at_the_write_timeout(agent: FakeEcsAgent) -> None:
    agent.write_timeout_seconds = 0.05
    agent.respond_next("GET", protection(True).delivered(Delivery.SILENCE))

    with pytest.raises(http.client.RemoteDisconnected), sent(agent, "GET"):
        pass
