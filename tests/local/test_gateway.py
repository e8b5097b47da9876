"""The local API Gateway: routes from template.yaml, the REST proxy event, API Gateway's own answers, static files."""

from __future__ import annotations

import base64
import http.client
import json
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import requests
from aws_lambda_powertools.utilities.parser.models import APIGatewayProxyEventModel

from challenger.local.gateway import MAX_PAYLOAD_BYTES, LocalApiGateway, Route, Routes, routes_from_template
from challenger.local.lambda_runtime import TooManyRequests
from challenger.local.template import LocalTemplate
from tests.support.events import load_event

KEY = "local-dev-key"


class Recorder:
    """A fake `invoke`: records (function, event) and answers what the test set (or calls a function)."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.answer: dict[str, Any] | Callable[[dict[str, Any]], Any] = {
            "statusCode": 200,
            "headers": {"Content-Type": "application/json"},
            "body": json.dumps({"ok": True}),
        }

    def __call__(self, function: str, event: dict[str, Any]) -> dict[str, Any]:
        self.calls.append((function, event))
        answer = self.answer(event) if callable(self.answer) else self.answer
        return answer  # type: ignore[no-any-return]

    @property
    def event(self) -> dict[str, Any]:
        return self.calls[-1][1]


@pytest.fixture
def static_dir(tmp_path: Path) -> Path:
    site = tmp_path / "site"
    (site / "assets").mkdir(parents=True)
    (site / "index.html").write_text("<!doctype html><title>Challenger</title>")
    (site / "assets" / "app.js").write_text("console.log('hi')")
    (site / "assets" / "style.css").write_text("body{}")
    (site / "assets" / "logo.png").write_bytes(b"\x89PNG\r\n\x1a\n")
    (tmp_path / "secret.txt").write_text("not for the browser")
    (site / "escape").symlink_to(tmp_path / "secret.txt")
    return site


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()


@pytest.fixture
def gateway(template: LocalTemplate, recorder: Recorder, static_dir: Path) -> Iterator[LocalApiGateway]:
    with LocalApiGateway(
        template, recorder, api_key=KEY, static_dir=static_dir, cors_origin="http://127.0.0.1:5173"
    ) as running:
        yield running


def raw_request(gateway: LocalApiGateway, method: str, target: str, headers: dict[str, str] | None = None) -> Any:
    """An exact request line (requests would normalise `..` away)."""
    host, port = gateway.url.removeprefix("http://").split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=5)
    try:
        connection.request(method, target, headers=headers or {})
        response = connection.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    finally:
        connection.close()


# --------------------------------------------------------------------------------------------------
# Routes from the template


def test_routes_come_from_the_template_with_sams_api_key_precedence(template: LocalTemplate) -> None:
    routes = {(r.method, r.resource): r for r in routes_from_template(template)}
    approvals = {("GET", "/approvals/{approval_id}"), ("POST", "/approvals/{approval_id}")}
    assert set(routes) >= {("GET", "/health"), ("POST", "/predict"), ("GET", "/models"), ("GET", "/runs"), *approvals}
    assert {r.function for r in routes.values()} == {"ApiFunction"}
    # The Api resource's Auth.ApiKeyRequired: true is the default; the approval links opt out, and so do the
    # operators' doors, where the Cognito authorizer (dashboard) or IAM (CLI) stands in for the key.
    console = {key for key, route in routes.items() if key[1].startswith("/console/")}
    operator = {key for key, route in routes.items() if key[1].startswith("/operator/")}
    assert {key for key, route in routes.items() if not route.api_key_required} == approvals | console | operator
    assert {routes[key].authorizer for key in console} == {"ConsoleAuthorizer"}
    assert {routes[key].authorizer for key in operator} == {"AWS_IAM"}
    keyed = set(routes) - approvals - console - operator
    decisions = {("POST", "/runs"), ("POST", "/runs/{run_id}/approval"), ("POST", "/rollback"), ("GET", "/audit")}
    # Issue 19 (5e2eb51) added operator-only decisions: deploy against the verdict, a new trusted-set version,
    # a new policy version. Like the others they exist behind the console and operator doors only, never the key.
    decisions |= {
        ("POST", "/deploy"),
        ("POST", "/datasets/{dataset}/trusted-set"),
        ("POST", "/datasets/{dataset}/policy"),
    }
    # Issue 22: scoring a batch file from the dashboard, and its scored data, are operators' too.
    decisions |= {("POST", "/batch"), ("GET", "/batch/{batch_id}/result")}
    assert {(method, path.removeprefix("/console")) for method, path in console} == keyed | decisions
    assert {(method, path.removeprefix("/operator")) for method, path in operator} == keyed | decisions


@pytest.mark.parametrize(
    ("resource", "path", "expected"),
    [
        ("/health", "/health", {}),
        ("/health", "/health/", None),
        ("/approvals/{approval_id}", "/approvals/abc", {"approval_id": "abc"}),
        ("/approvals/{approval_id}", "/approvals/a%2Fb", {"approval_id": "a%2Fb"}),  # as sent, like API GW
        ("/approvals/{approval_id}", "/approvals/", None),
        ("/approvals/{approval_id}", "/approvals/a/b", None),
        ("/files/{path+}", "/files/a/b/c", {"path": "a/b/c"}),
        ("/files/{path+}", "/files", None),
        ("/", "/", {}),
    ],
)
def test_route_matching(resource: str, path: str, expected: dict[str, str] | None) -> None:
    found = Routes([Route("GET", resource, "Fn", True)]).find("GET", path)
    assert (found[1] if found else None) == expected


def test_literal_segments_win_over_parameters() -> None:
    routes = Routes([Route("GET", "/runs/{run_id}", "Param", True), Route("GET", "/runs/latest", "Literal", True)])
    found = routes.find("GET", "/runs/latest")
    assert found is not None
    assert found[0].function == "Literal"


def test_head_is_not_get() -> None:
    assert Routes([Route("GET", "/health", "Fn", True)]).find("HEAD", "/health") is None


# --------------------------------------------------------------------------------------------------
# The proxy event


def test_get_builds_the_rest_proxy_event(gateway: LocalApiGateway, recorder: Recorder) -> None:
    response = requests.get(f"{gateway.api_url}/health", headers={"x-api-key": KEY}, timeout=5)

    assert response.status_code == 200
    assert response.json() == {"ok": True}
    function, event = recorder.calls[-1]
    assert function == "ApiFunction"
    sample = load_event("api", "health")
    assert set(event) == set(sample)
    assert set(event["requestContext"]) >= set(sample["requestContext"])
    assert set(event["requestContext"]["identity"]) >= set(sample["requestContext"]["identity"])
    assert event["resource"] == "/health"
    assert event["path"] == "/health"
    assert event["httpMethod"] == "GET"
    assert event["headers"]["x-api-key"] == KEY
    assert event["multiValueHeaders"]["x-api-key"] == [KEY]
    assert event["queryStringParameters"] is None
    assert event["multiValueQueryStringParameters"] is None
    assert event["pathParameters"] is None
    assert event["stageVariables"] is None
    assert event["body"] is None
    assert event["isBase64Encoded"] is False
    context = event["requestContext"]
    assert context["resourcePath"] == "/health"
    assert context["httpMethod"] == "GET"
    assert context["path"] == "/v1/health"
    assert context["stage"] == "v1"
    assert context["accountId"] == "123456789012"
    assert context["protocol"] == "HTTP/1.1"
    assert context["identity"]["sourceIp"] == "127.0.0.1"
    assert context["identity"]["apiKey"] == KEY
    assert abs(context["requestTimeEpoch"] / 1000 - time.time()) < 60
    assert response.headers["x-amzn-RequestId"] == context["requestId"]
    APIGatewayProxyEventModel.model_validate(event)  # Powertools' schema of the REST proxy event


def test_post_event_passes_powertools_validation(gateway: LocalApiGateway, recorder: Recorder) -> None:
    requests.post(
        f"{gateway.api_url}/predict?explain=1", json={"instances": ["great"]}, headers={"x-api-key": KEY}, timeout=5
    )

    parsed = APIGatewayProxyEventModel.model_validate(recorder.event)
    assert parsed.requestContext.identity.apiKey == KEY
    assert parsed.queryStringParameters == {"explain": "1"}


def test_post_with_path_parameters_and_query_strings(gateway: LocalApiGateway, recorder: Recorder) -> None:
    response = requests.post(
        f"{gateway.api_url}/approvals/0123abcd?decision=approve&expires=1795515300&sig=a%2Bb&x=1&x=2&empty=",
        data="decision=approve",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
        timeout=5,
    )

    assert response.status_code == 200
    event = recorder.event
    assert event["resource"] == "/approvals/{approval_id}"
    assert event["path"] == "/approvals/0123abcd"
    assert event["httpMethod"] == "POST"
    assert event["pathParameters"] == {"approval_id": "0123abcd"}
    assert event["queryStringParameters"] == {
        "decision": "approve",
        "expires": "1795515300",
        "sig": "a+b",  # decoded, as API Gateway does for query strings
        "x": "2",
        "empty": "",
    }
    assert event["multiValueQueryStringParameters"]["x"] == ["1", "2"]
    assert event["body"] == "decision=approve"
    assert event["isBase64Encoded"] is False
    assert event["requestContext"]["path"] == "/v1/approvals/0123abcd"
    assert event["requestContext"]["identity"]["apiKey"] is None  # key-free route


def test_binary_body_is_base64_encoded(gateway: LocalApiGateway, recorder: Recorder) -> None:
    payload = bytes(range(256))
    response = requests.post(
        f"{gateway.api_url}/predict",
        data=payload,
        headers={"x-api-key": KEY, "Content-Type": "application/octet-stream"},
        timeout=5,
    )

    assert response.status_code == 200
    assert recorder.event["isBase64Encoded"] is True
    assert base64.b64decode(recorder.event["body"]) == payload


def test_chunked_body(gateway: LocalApiGateway, recorder: Recorder) -> None:
    chunks = (part for part in [b'{"instances": ', b'["great"]}'])
    response = requests.post(
        f"{gateway.api_url}/predict",
        data=chunks,
        headers={"x-api-key": KEY, "Content-Type": "application/json"},
        timeout=5,
    )

    assert response.status_code == 200
    assert json.loads(recorder.event["body"]) == {"instances": ["great"]}


# --------------------------------------------------------------------------------------------------
# API Gateway's own answers


@pytest.mark.parametrize("headers", [{}, {"x-api-key": "wrong"}, {"X-API-KEY": ""}])
def test_key_required_route_without_the_key_is_forbidden(
    gateway: LocalApiGateway, recorder: Recorder, headers: dict[str, str]
) -> None:
    response = requests.get(f"{gateway.api_url}/models", headers=headers, timeout=5)

    assert response.status_code == 403
    assert response.json() == {"message": "Forbidden"}
    assert recorder.calls == []


def test_header_names_are_case_insensitive_for_the_key(gateway: LocalApiGateway, recorder: Recorder) -> None:
    assert requests.get(f"{gateway.api_url}/models", headers={"X-Api-Key": KEY}, timeout=5).status_code == 200


def test_approval_page_needs_no_key(gateway: LocalApiGateway, recorder: Recorder) -> None:
    response = requests.get(f"{gateway.api_url}/approvals/abc?decision=reject", timeout=5)

    assert response.status_code == 200
    assert recorder.event["queryStringParameters"] == {"decision": "reject"}


@pytest.mark.parametrize(
    ("method", "path"),
    [("GET", "/nope"), ("DELETE", "/health"), ("GET", "/"), ("GET", ""), ("GET", "/health/extra")],
)
def test_unknown_route_is_missing_authentication_token(
    gateway: LocalApiGateway, recorder: Recorder, method: str, path: str
) -> None:
    response = requests.request(method, f"{gateway.api_url}{path}", headers={"x-api-key": KEY}, timeout=5)

    assert response.status_code == 403
    assert response.json() == {"message": "Missing Authentication Token"}
    assert recorder.calls == []


def test_payload_over_10_mb_is_413(gateway: LocalApiGateway, recorder: Recorder) -> None:
    host, port = gateway.url.removeprefix("http://").split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=5)
    try:
        connection.putrequest("POST", "/v1/predict")
        connection.putheader("x-api-key", KEY)
        connection.putheader("Content-Type", "application/json")
        connection.putheader("Content-Length", str(MAX_PAYLOAD_BYTES + 1))
        connection.endheaders()  # the body never needs to be sent: the gateway answers from the header
        response = connection.getresponse()
        assert response.status == 413
        assert json.loads(response.read()) == {"message": "Request Too Long"}
    finally:
        connection.close()
    assert recorder.calls == []


def test_payload_at_the_limit_passes(gateway: LocalApiGateway, recorder: Recorder) -> None:
    body = b"x" * MAX_PAYLOAD_BYTES
    response = requests.post(
        f"{gateway.api_url}/predict", data=body, headers={"x-api-key": KEY, "Content-Type": "text/plain"}, timeout=10
    )

    assert response.status_code == 200
    assert len(recorder.event["body"]) == MAX_PAYLOAD_BYTES


def test_proxy_response_is_mapped_back(gateway: LocalApiGateway, recorder: Recorder) -> None:
    recorder.answer = {
        "statusCode": 201,
        "headers": {"X-Single": "one", "Set-Cookie": "dropped=1", "X-Flag": True},
        "multiValueHeaders": {"Set-Cookie": ["a=1", "b=2"]},
        "body": base64.b64encode(b"\x00\x01binary").decode(),
        "isBase64Encoded": True,
    }

    status, headers, body = raw_request(gateway, "GET", "/v1/health", {"x-api-key": KEY})

    assert status == 201
    assert body == b"\x00\x01binary"
    assert headers["X-Single"] == "one"
    assert headers["X-Flag"] == "true"
    assert headers["Content-Type"] == "application/json"  # API Gateway's default
    response = requests.get(f"{gateway.api_url}/health", headers={"x-api-key": KEY}, timeout=5)
    assert response.raw.headers.getlist("Set-Cookie") == ["a=1", "b=2"]  # multiValueHeaders win


@pytest.mark.parametrize(
    "answer",
    [
        None,
        "a string",
        {"body": "no status"},
        {"statusCode": 200, "body": {"not": "a string"}},
        {"statusCode": 200, "headers": {"X": ["list"]}},
        {"statusCode": 200, "unexpected": 1},
        {"errorMessage": "boom", "errorType": "ValueError"},  # a function error's payload
        {"statusCode": 200, "body": "!!", "isBase64Encoded": True},
    ],
)
def test_malformed_proxy_response_is_502(gateway: LocalApiGateway, recorder: Recorder, answer: Any) -> None:
    recorder.answer = lambda _event: answer

    response = requests.get(f"{gateway.api_url}/health", headers={"x-api-key": KEY}, timeout=5)

    assert response.status_code == 502
    assert response.json() == {"message": "Internal server error"}


def test_failing_integration_is_502(gateway: LocalApiGateway, recorder: Recorder) -> None:
    def fail(_event: dict[str, Any]) -> Any:
        raise RuntimeError("handler crashed")

    recorder.answer = fail

    response = requests.get(f"{gateway.api_url}/health", headers={"x-api-key": KEY}, timeout=5)

    assert response.status_code == 502
    assert response.json() == {"message": "Internal server error"}


def test_a_throttled_function_is_500_as_api_gateway_answers_it(gateway: LocalApiGateway, recorder: Recorder) -> None:
    # A Lambda throttle (429 TooManyRequestsException) behind the integration is API Gateway's 500 "Internal server
    # error" (https://repost.aws/knowledge-center/api-gateway-internal-server-error), not a function error's 502.
    def throttled(_event: dict[str, Any]) -> Any:
        raise TooManyRequests("Rate Exceeded.")

    recorder.answer = throttled

    response = requests.get(f"{gateway.api_url}/health", headers={"x-api-key": KEY}, timeout=5)

    assert response.status_code == 500
    assert response.json() == {"message": "Internal server error"}


def test_slow_integration_times_out_with_504(template: LocalTemplate, recorder: Recorder) -> None:
    release = threading.Event()
    recorder.answer = lambda _event: release.wait(5) and {"statusCode": 200}
    with LocalApiGateway(template, recorder, api_key=KEY, integration_timeout=0.2) as gateway:
        response = requests.get(f"{gateway.api_url}/health", headers={"x-api-key": KEY}, timeout=5)
        release.set()

    assert response.status_code == 504
    assert response.json() == {"message": "Endpoint request timed out"}


# --------------------------------------------------------------------------------------------------
# CORS


def test_cors_preflight_for_the_configured_origin(gateway: LocalApiGateway, recorder: Recorder) -> None:
    response = requests.options(
        f"{gateway.api_url}/predict",
        headers={
            "Origin": "http://127.0.0.1:5173",
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "content-type,x-api-key",
        },
        timeout=5,
    )

    assert response.status_code == 200
    assert response.headers["Access-Control-Allow-Origin"] == "http://127.0.0.1:5173"
    assert "POST" in response.headers["Access-Control-Allow-Methods"]
    assert "X-Api-Key" in response.headers["Access-Control-Allow-Headers"]
    assert recorder.calls == []  # answered by the gateway, without an API key


def test_cors_header_only_for_the_configured_origin(gateway: LocalApiGateway) -> None:
    allowed = requests.get(
        f"{gateway.api_url}/health", headers={"x-api-key": KEY, "Origin": "http://127.0.0.1:5173"}, timeout=5
    )
    other = requests.get(
        f"{gateway.api_url}/health", headers={"x-api-key": KEY, "Origin": "http://evil.test"}, timeout=5
    )
    preflight_other = requests.options(f"{gateway.api_url}/health", headers={"Origin": "http://evil.test"}, timeout=5)

    assert allowed.headers["Access-Control-Allow-Origin"] == "http://127.0.0.1:5173"
    assert "Access-Control-Allow-Origin" not in other.headers
    assert "Access-Control-Allow-Origin" not in preflight_other.headers


def test_without_cors_origin_options_is_an_unknown_route(template: LocalTemplate, recorder: Recorder) -> None:
    with LocalApiGateway(template, recorder, api_key=KEY) as gateway:
        response = requests.options(f"{gateway.api_url}/predict", headers={"Origin": "http://x.test"}, timeout=5)

    assert response.status_code == 403
    assert "Access-Control-Allow-Origin" not in response.headers


# --------------------------------------------------------------------------------------------------
# Static files


@pytest.mark.parametrize(
    ("path", "content_type", "body"),
    [
        ("/", "text/html; charset=utf-8", b"<!doctype html><title>Challenger</title>"),
        ("/index.html", "text/html; charset=utf-8", b"<!doctype html><title>Challenger</title>"),
        ("/assets/app.js", "text/javascript; charset=utf-8", b"console.log('hi')"),
        ("/assets/style.css", "text/css; charset=utf-8", b"body{}"),
        ("/assets/logo.png", "image/png", b"\x89PNG\r\n\x1a\n"),
    ],
)
def test_static_files(gateway: LocalApiGateway, path: str, content_type: str, body: bytes) -> None:
    response = requests.get(f"{gateway.url}{path}", timeout=5)

    assert response.status_code == 200
    assert response.headers["Content-Type"] == content_type
    assert response.headers["Cache-Control"] == "no-cache"
    assert response.content == body


@pytest.mark.parametrize(
    "target",
    [
        "/../secret.txt",
        "/assets/../../secret.txt",
        "/%2e%2e/secret.txt",
        "/assets/..%2f..%2fsecret.txt",
        "/..%5csecret.txt",
        "/escape",  # a symlink pointing outside the directory
        "/missing.html",
        "/index.html%00.png",
    ],
)
def test_static_traversal_and_missing_files_are_404(gateway: LocalApiGateway, target: str) -> None:
    status, _, body = raw_request(gateway, "GET", target)

    assert status == 404
    assert b"not for the browser" not in body


def test_static_head_and_post(gateway: LocalApiGateway) -> None:
    status, headers, body = raw_request(gateway, "HEAD", "/assets/app.js")
    assert (status, headers["Content-Length"], body) == (200, str(len("console.log('hi')")), b"")
    assert raw_request(gateway, "POST", "/index.html")[0] == 405


def test_without_static_dir_everything_outside_the_stage_is_503(template: LocalTemplate, recorder: Recorder) -> None:
    with LocalApiGateway(template, recorder, api_key=KEY) as gateway:
        assert gateway.url.startswith("http://127.0.0.1:")
        assert gateway.api_url == f"{gateway.url}/v1"
        assert requests.get(f"{gateway.url}/", timeout=5).status_code == 503  # the dashboard is not built


def test_nothing_is_served_after_stop(template: LocalTemplate, recorder: Recorder) -> None:
    session = requests.Session()
    with LocalApiGateway(template, recorder, api_key=KEY) as gateway:
        url = f"{gateway.api_url}/health"
        assert session.get(url, headers={"x-api-key": KEY}, timeout=5).status_code == 200
    assert not gateway.running

    try:  # the kept-alive connection is answered 503, a new one is refused
        status = session.get(url, headers={"x-api-key": KEY}, timeout=5).status_code
    except requests.ConnectionError:
        status = None
    assert status in (503, None)
    assert len(recorder.calls) == 1


# --------------------------------------------------------------------------------------------------
# Load


def test_200_concurrent_requests_are_all_answered(template: LocalTemplate, recorder: Recorder) -> None:
    clients = 200
    barrier = threading.Barrier(clients)

    def one_client(_: int) -> int:
        with requests.Session() as session:  # a connection of its own, like 200 browser tabs
            barrier.wait(10)
            return session.get(f"{gateway.api_url}/health", headers={"x-api-key": KEY}, timeout=30).status_code

    with (
        LocalApiGateway(template, recorder, api_key=KEY) as gateway,
        ThreadPoolExecutor(max_workers=clients) as pool,
    ):
        statuses = list(pool.map(one_client, range(clients)))  # a reset connection raises here

    assert statuses == [200] * clients
    assert len(recorder.calls) == clients
