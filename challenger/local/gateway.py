"""The local API Gateway: a REST API with Lambda proxy integrations, built from template.yaml, plus static files.

What it reproduces (REST API, "v1" proxy payload)
------------------------------------------------
* Routes: every ``Api`` event of an ``AWS::Serverless::Function`` (``Path``, ``Method``, ``ANY``, ``{param}``
  and greedy ``{param+}`` segments; a literal segment wins over a parameter, as in API Gateway).
  ``Auth.ApiKeyRequired`` comes from the event, else from the referenced ``AWS::Serverless::Api``'s
  ``Auth``, else from ``Globals.Api.Auth``, else false — SAM's own precedence.
* Requests under ``/<stage>/`` become the proxy event API Gateway sends (``resource``, ``path`` without the
  stage, headers and query strings single- and multi-valued, ``pathParameters`` as the client sent them,
  query values decoded, ``requestContext`` with the stage path, identity and times, ``body`` with
  ``isBase64Encoded`` for non-text bodies) and go to ``invoke(function_logical_id, event)``.
* Cognito User Pools authorizers (``Auth.Authorizer`` on an event, e.g. the dashboard's ``/console/...`` routes)
  are played by a local token: the request needs ``Authorization: Bearer <console_token>`` (the bare token is
  accepted too, as API Gateway's authorizer does) or gets 401 ``Unauthorized``; the event then carries
  ``requestContext.authorizer.claims`` for a local user (``LOCAL_CLAIMS``).
* API Gateway's own answers: no route (or no such method) → 403 ``Missing Authentication Token``; missing or
  wrong ``x-api-key`` on a key-required route → 403 ``Forbidden``; body over 10 MB → 413; the integration
  raising, or answering something that is not a proxy response → 502 ``Internal server error``; no answer
  within 29 s → 504 ``Endpoint request timed out``.
* The proxy response is mapped back: ``statusCode``, ``headers`` merged with ``multiValueHeaders`` (which
  win for the same name, as documented), ``body`` (base64-decoded when ``isBase64Encoded``).
* CORS (optional, for a dashboard served from elsewhere): with ``cors_origin`` set, an ``OPTIONS`` preflight
  on an API route is answered without an API key (browsers never send one on a preflight) and responses
  carry ``Access-Control-Allow-Origin`` for that origin only.
* Outside the stage, two local-only endpoints for the dashboard: ``GET /config.json`` (its static configuration,
  unauthenticated, like the file the publish script uploads on AWS) and ``GET /_local/outbox`` (the local "email"
  outbox as JSON, newest first; token-protected like ``/console``).
* Everything else outside ``/<stage>/`` is a static file from ``static_dir`` (``/`` → ``index.html``) with its
  content type and ``Cache-Control: no-cache``; paths escaping the directory are refused (404).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import logging
import mimetypes
import re
import threading
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, unquote, urlsplit

if TYPE_CHECKING:
    from challenger.local.template import LocalTemplate

from challenger.local.outbox import read_messages

LOG = logging.getLogger(__name__)

Invoke = Callable[[str, dict[str, Any]], dict[str, Any]]
"""``invoke(function_logical_id, event) -> proxy response``: runs the function (the caller's Lambda runtime)."""

MAX_PAYLOAD_BYTES = 10 * 1024 * 1024  # API Gateway's request payload quota (10 MB)
INTEGRATION_TIMEOUT_SECONDS = 29.0  # API Gateway's default (and, for REST APIs, usual maximum) integration timeout
LOCAL_CLAIMS = {"email": "you@localhost", "cognito:username": "local"}
"""The claims a Cognito authorizer would pass on for the local user."""
OUTBOX_PATH = "/_local/outbox"
CONFIG_PATH = "/config.json"
_PROXY_RESPONSE_KEYS = {"statusCode", "headers", "multiValueHeaders", "body", "isBase64Encoded"}
_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")
_TEXT_TYPES = re.compile(
    r"^(text/.*|application/(json|.*\+json|xml|.*\+xml|x-www-form-urlencoded|javascript|graphql|x-ndjson))$"
)
_STATIC_TYPES = {  # what mimetypes gets wrong or may not know on a bare system
    ".js": "text/javascript",
    ".mjs": "text/javascript",
    ".css": "text/css",
    ".html": "text/html",
    ".json": "application/json",
    ".map": "application/json",
    ".svg": "image/svg+xml",
    ".ico": "image/x-icon",
    ".woff2": "font/woff2",
    ".webmanifest": "application/manifest+json",
}


# --------------------------------------------------------------------------------------------------
# Routes


@dataclass(frozen=True)
class Route:
    """One method on one resource path, integrated with one function."""

    method: str  # upper case, or "ANY"
    resource: str  # the template's path, e.g. /approvals/{approval_id}
    function: str  # logical id of the AWS::Serverless::Function
    api_key_required: bool
    authorizer: str | None = None  # the Api's Cognito authorizer the event names, if any

    def match(self, method: str, path: str) -> dict[str, str] | None:
        """The path parameters if ``method path`` (raw, as the client sent it) is this route, else None."""
        if self.method not in ("ANY", method):
            return None
        return _match_resource(self.resource, path)

    @property
    def literal_segments(self) -> int:
        return sum(1 for segment in _segments(self.resource) if not segment.startswith("{"))


def _segments(path: str) -> list[str]:
    return [segment for segment in path.split("/") if segment != ""] if path != "/" else []


def _match_resource(resource: str, path: str) -> dict[str, str] | None:
    expected = _segments(resource)
    actual = path.split("/")[1:] if path != "/" else []
    if any(part == "" for part in actual):  # "//" or a trailing "/": no resource has an empty segment
        return None
    parameters: dict[str, str] = {}
    for index, segment in enumerate(expected):
        if segment.startswith("{") and segment.endswith("+}"):  # greedy: the rest of the path, one segment or more
            if index >= len(actual):
                return None
            parameters[segment[1:-2]] = "/".join(actual[index:])
            return parameters
        if index >= len(actual):
            return None
        if segment.startswith("{"):
            parameters[segment[1:-1]] = actual[index]
        elif segment != actual[index]:
            return None
    return parameters if len(actual) == len(expected) else None


def _api_key_default(template: LocalTemplate, rest_api: Any) -> bool:
    """ApiKeyRequired of the API an event belongs to (SAM: the Api resource's Auth, else Globals.Api.Auth)."""
    globals_auth = template.template.get("Globals", {}).get("Api", {}).get("Auth", {})
    default = bool(template.resolve(globals_auth.get("ApiKeyRequired", False)))
    logical_id = rest_api.get("Ref") if isinstance(rest_api, Mapping) else None
    if logical_id and logical_id in template.resources:
        auth = template.resources[logical_id].get("Properties", {}).get("Auth", {})
        if "ApiKeyRequired" in auth:
            return bool(template.resolve(auth["ApiKeyRequired"]))
    return default


def routes_from_template(template: LocalTemplate) -> list[Route]:
    """Every ``Api`` event of every function, most specific first (literal segments beat parameters)."""
    routes = []
    for logical_id in template.of_type("AWS::Serverless::Function"):
        events = template.resources[logical_id].get("Properties", {}).get("Events", {})
        for event in events.values():
            if event.get("Type") != "Api":
                continue
            properties = event.get("Properties", {})
            auth = properties.get("Auth", {})
            if "ApiKeyRequired" in auth:
                key_required = bool(template.resolve(auth["ApiKeyRequired"]))
            else:
                key_required = _api_key_default(template, properties.get("RestApiId"))
            method = str(template.resolve(properties["Method"])).upper()
            authorizer = template.resolve(auth.get("Authorizer"))
            authorizer = None if authorizer in (None, "NONE") else str(authorizer)  # NONE: SAM's "no authorizer"
            path = str(template.resolve(properties["Path"]))
            routes.append(Route(method, path, logical_id, key_required, authorizer))
    # API Gateway picks the most specific resource: more literal segments first, then exact methods before ANY.
    return sorted(routes, key=lambda r: (-r.literal_segments, r.method == "ANY", r.resource))


# --------------------------------------------------------------------------------------------------
# The gateway


class _GatewayError(Exception):
    """An answer API Gateway gives itself (the integration never ran, or failed)."""

    def __init__(self, status: int, message: str, error_type: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.error_type = error_type


@dataclass
class _Response:
    status: int
    headers: list[tuple[str, str]]
    body: bytes


class LocalApiGateway:
    """An HTTP server on loopback that behaves like the template's REST API stage, plus the static site.

    ``url`` is the server root (static files); ``api_url`` the stage's base URL (what ``ApiUrl`` is on AWS).
    Use :meth:`start`/:meth:`stop` or ``with LocalApiGateway(...) as gateway:``. Requests are served on
    daemon threads (stdlib ``ThreadingHTTPServer``: no dependency, and enough for one developer's browser).
    """

    def __init__(
        self,
        template: LocalTemplate,
        invoke: Invoke,
        *,
        api_key: str,
        static_dir: Path | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        stage: str = "v1",
        cors_origin: str | None = None,
        api_id: str = "localapi01",
        integration_timeout: float = INTEGRATION_TIMEOUT_SECONDS,
        console_token: str | None = None,
        outbox_dir: Path | None = None,
    ) -> None:
        self.template = template
        self.routes = routes_from_template(template)
        self.invoke = invoke
        self.api_key = api_key
        self.static_dir = static_dir.resolve() if static_dir is not None else None
        self.host = host
        self.port = port
        self.stage = stage
        self.cors_origin = cors_origin.rstrip("/") if cors_origin else None
        self.api_id = api_id
        self.integration_timeout = integration_timeout
        # Without a token every authorizer route answers 401, as an authorizer with no valid token would.
        self.console_token = console_token
        self.outbox_dir = outbox_dir
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle ---------------------------------------------------------------------------------

    @property
    def url(self) -> str:
        if self._server is None:
            raise RuntimeError("the gateway is not started")
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    @property
    def api_url(self) -> str:
        return f"{self.url}/{self.stage}"

    @property
    def running(self) -> bool:
        return self._server is not None

    def start(self) -> None:
        if self._server is not None:
            raise RuntimeError("the gateway is already started")
        handler = type("Handler", (_Handler,), {"gateway": self})
        server = ThreadingHTTPServer((self.host, self.port), handler)
        server.daemon_threads = True  # a hanging client never blocks stop() or interpreter exit
        self._server = server
        # A short poll interval: shutdown() waits for the serving loop to notice, so stop() is quick.
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, name="api-gateway", daemon=True
        )
        self._thread.start()
        LOG.info("API Gateway on %s (%d routes)", self.api_url, len(self.routes))

    def stop(self) -> None:
        if self._server is None:
            return
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(5)
        self._server = None
        self._thread = None

    def __enter__(self) -> LocalApiGateway:
        self.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.stop()

    # -- request handling (called from handler threads) --------------------------------------------

    def find_route(self, method: str, path: str) -> tuple[Route, dict[str, str]] | None:
        for route in self.routes:
            parameters = route.match(method, path)
            if parameters is not None:
                return route, parameters
        return None

    def _handle_api(self, request: _Request) -> _Response:
        """One request under the stage: API Gateway's checks, the proxy event, the integration, the mapping."""
        try:
            if request.method == "OPTIONS" and self.cors_origin is not None and self._is_resource(request.path):
                response = self._preflight(request)
            else:
                response = self._call_route(request)
        except _GatewayError as error:
            response = _Response(
                error.status,
                [("Content-Type", "application/json"), ("x-amzn-ErrorType", error.error_type)],
                json.dumps({"message": error.message}).encode(),
            )
        response.headers.append(("x-amzn-RequestId", request.request_id))
        self._add_cors(request, response)
        return response

    def _call_route(self, request: _Request) -> _Response:
        if request.too_large:  # checked at the front door, before routing and keys
            raise _GatewayError(413, "Request Too Long", "RequestTooLarge")
        found = self.find_route(request.method, request.path)
        if found is None:
            raise _GatewayError(403, "Missing Authentication Token", "MissingAuthenticationTokenException")
        route, parameters = found
        given_key = request.header("x-api-key")
        if route.api_key_required and not (
            given_key and hmac.compare_digest(given_key.encode(), self.api_key.encode())
        ):
            raise _GatewayError(403, "Forbidden", "ForbiddenException")
        if route.authorizer is not None and not self._token_ok(request):
            raise _GatewayError(401, "Unauthorized", "UnauthorizedException")
        event = self._proxy_event(request, route, parameters)
        return self._integrate(route, event)

    def _token_ok(self, request: _Request) -> bool:
        """The local stand-in for the Cognito authorizer: the console token, ``Bearer``-prefixed or bare."""
        given = (request.header("authorization") or "").strip()
        if given[:7].lower() == "bearer ":
            given = given[7:].strip()
        return bool(self.console_token) and hmac.compare_digest(given.encode(), str(self.console_token).encode())

    def dashboard_config(self) -> dict[str, Any]:
        """What the dashboard reads from /config.json locally (on AWS the publish script writes this file)."""
        return {"apiBase": f"/{self.stage}/console", "auth": {"mode": "local"}, "outbox": OUTBOX_PATH, "stage": "local"}

    def _handle_local(self, request: _Request) -> _Response | None:
        """The local-only endpoints outside the stage, or None for a static file."""
        if request.path == CONFIG_PATH and self.console_token is not None:
            return _json_response(200, self.dashboard_config(), [("Cache-Control", "no-store")])
        if request.path != OUTBOX_PATH:
            return None
        if request.method not in ("GET", "HEAD"):
            return _Response(405, [("Allow", "GET, HEAD"), ("Content-Type", "text/plain")], b"method not allowed\n")
        if not self._token_ok(request):
            return _json_response(401, {"message": "Unauthorized"})
        messages = read_messages(self.outbox_dir) if self.outbox_dir is not None else []
        listing = [
            {
                "id": message.id,
                "subject": message.subject,
                "kind": message.kind,
                "date": message.date.isoformat(),
                "to": message.to,
                "body": message.body,
            }
            for message in messages
        ]
        return _json_response(200, listing, [("Cache-Control", "no-store")])

    def _is_resource(self, path: str) -> bool:
        return any(_match_resource(route.resource, path) is not None for route in self.routes)

    def _preflight(self, request: _Request) -> _Response:
        methods = {route.method for route in self.routes if _match_resource(route.resource, request.path) is not None}
        allowed = list(_METHODS) if "ANY" in methods else sorted(methods | {"OPTIONS"})
        headers = [
            ("Access-Control-Allow-Methods", ",".join(allowed)),
            ("Access-Control-Allow-Headers", "Content-Type,X-Amz-Date,Authorization,X-Api-Key,X-Amz-Security-Token"),
            ("Access-Control-Max-Age", "600"),
            ("Content-Type", "application/json"),
        ]
        return _Response(200, headers, b"{}")

    def _add_cors(self, request: _Request, response: _Response) -> None:
        origin = request.header("origin")
        if self.cors_origin is None or origin is None or origin.rstrip("/") != self.cors_origin:
            return
        names = {name.lower() for name, _ in response.headers}
        if "access-control-allow-origin" not in names:
            response.headers.append(("Access-Control-Allow-Origin", origin))
        response.headers.append(("Vary", "Origin"))

    def _proxy_event(self, request: _Request, route: Route, parameters: dict[str, str]) -> dict[str, Any]:
        """The REST API Lambda proxy event for ``request`` on ``route``."""
        headers: dict[str, str] = {}
        multi_headers: dict[str, list[str]] = {}
        for name, value in request.headers:
            headers[name] = value  # the last value wins in `headers`, as in API Gateway
            multi_headers.setdefault(name, []).append(value)
        forwarded = {
            "X-Forwarded-For": request.client_ip,
            "X-Forwarded-Port": str(request.server_port),
            "X-Forwarded-Proto": "http",
        }
        lower_names = {name.lower() for name in headers}
        for name, value in forwarded.items():
            if name.lower() not in lower_names:
                headers[name] = value
                multi_headers[name] = [value]
        query: dict[str, str] = {}
        multi_query: dict[str, list[str]] = {}
        for name, value in parse_qsl(request.query, keep_blank_values=True):
            query[name] = value
            multi_query.setdefault(name, []).append(value)
        body: str | None = None
        is_base64 = False
        if request.body:
            content_type = (request.header("content-type") or "").split(";")[0].strip().lower()
            if content_type == "" or _TEXT_TYPES.match(content_type):
                try:
                    body = request.body.decode("utf-8")
                except UnicodeDecodeError:
                    body = None
            if body is None:  # binary: API Gateway hands the integration base64 (binary media types)
                body, is_base64 = base64.b64encode(request.body).decode("ascii"), True
        now = datetime.now(UTC)
        host = request.header("host") or f"{self.host}:{request.server_port}"
        key_used = request.header("x-api-key") if route.api_key_required else None
        authorizer = {"claims": dict(LOCAL_CLAIMS)} if route.authorizer is not None else None
        return {
            "resource": route.resource,
            "path": request.path,
            "httpMethod": request.method,
            "headers": headers,
            "multiValueHeaders": multi_headers,
            "queryStringParameters": query or None,
            "multiValueQueryStringParameters": multi_query or None,
            "pathParameters": parameters or None,
            "stageVariables": None,
            "requestContext": {
                "resourceId": hashlib.sha1(route.resource.encode(), usedforsecurity=False).hexdigest()[:6],
                "resourcePath": route.resource,
                "httpMethod": request.method,
                "extendedRequestId": request.request_id[:16],
                "requestTime": now.strftime("%d/%b/%Y:%H:%M:%S +0000"),
                "path": f"/{self.stage}{request.path}",
                "accountId": self.template.account,
                "protocol": request.protocol,
                "stage": self.stage,
                "domainPrefix": host.split(".")[0].split(":")[0],
                "requestTimeEpoch": int(now.timestamp() * 1000),
                "requestId": request.request_id,
                "identity": {
                    "cognitoIdentityPoolId": None,
                    "accountId": None,
                    "cognitoIdentityId": None,
                    "caller": None,
                    "sourceIp": request.client_ip,
                    "principalOrgId": None,
                    "accessKey": None,
                    "cognitoAuthenticationType": None,
                    "cognitoAuthenticationProvider": None,
                    "userArn": None,
                    "userAgent": request.header("user-agent"),
                    "user": None,
                    "apiKey": key_used,
                    "apiKeyId": "localkey01" if key_used else None,
                },
                "domainName": host,
                "deploymentId": "local1",
                "apiId": self.api_id,
                **({"authorizer": authorizer} if authorizer is not None else {}),
            },
            "body": body,
            "isBase64Encoded": is_base64,
        }

    def _integrate(self, route: Route, event: dict[str, Any]) -> _Response:
        outcome: dict[str, Any] = {}

        def call() -> None:
            try:
                outcome["response"] = self.invoke(route.function, event)
            except Exception as error:  # the function failed: API Gateway answers 502
                outcome["error"] = error

        worker = threading.Thread(target=call, name=f"integration-{route.function}", daemon=True)
        worker.start()
        worker.join(self.integration_timeout)
        if worker.is_alive():
            LOG.error(
                "%s %s: %s did not answer within %ss",
                event["httpMethod"],
                event["path"],
                route.function,
                self.integration_timeout,
            )
            raise _GatewayError(504, "Endpoint request timed out", "IntegrationTimeout")
        if "error" in outcome:
            LOG.error("%s %s: %s failed: %r", event["httpMethod"], event["path"], route.function, outcome["error"])
            raise _GatewayError(502, "Internal server error", "InternalServerErrorException")
        try:
            return _map_proxy_response(outcome.get("response"))
        except ValueError as error:
            LOG.error("Execution failed due to configuration error: Malformed Lambda proxy response (%s)", error)
            raise _GatewayError(502, "Internal server error", "InternalServerErrorException") from error

    def _handle_static(self, request: _Request) -> _Response:
        """A file from ``static_dir`` (GET/HEAD), never one outside it."""
        if request.method not in ("GET", "HEAD"):
            return _Response(405, [("Allow", "GET, HEAD"), ("Content-Type", "text/plain")], b"method not allowed\n")
        file = self._static_file(request.path)
        if file is None:
            return _Response(404, [("Content-Type", "text/plain; charset=utf-8")], b"not found\n")
        content_type = _STATIC_TYPES.get(file.suffix.lower()) or mimetypes.guess_type(file.name)[0]
        content_type = content_type or "application/octet-stream"
        if content_type.startswith("text/") or content_type in ("application/json", "image/svg+xml"):
            content_type += "; charset=utf-8"
        headers = [("Content-Type", content_type), ("Cache-Control", "no-cache"), ("X-Content-Type-Options", "nosniff")]
        return _Response(200, headers, file.read_bytes())

    def _static_file(self, raw_path: str) -> Path | None:
        if self.static_dir is None:
            return None
        relative = unquote(raw_path)
        if "\x00" in relative or "\\" in relative:
            return None
        candidate = (self.static_dir / relative.lstrip("/")).resolve()
        # resolve() follows `..` and symlinks: whatever ends up outside the directory is refused.
        if not candidate.is_relative_to(self.static_dir):
            return None
        if candidate.is_dir():
            candidate = candidate / "index.html"
        return candidate if candidate.is_file() else None


def _json_response(status: int, body: Any, headers: list[tuple[str, str]] | None = None) -> _Response:
    return _Response(status, [("Content-Type", "application/json"), *(headers or [])], json.dumps(body).encode())


def _map_proxy_response(response: Any) -> _Response:
    """A Lambda proxy response → HTTP; ValueError when it is not one (API Gateway's "Malformed" case)."""
    if not isinstance(response, Mapping):
        raise ValueError(f"not a JSON object: {type(response).__name__}")
    unknown = set(response) - _PROXY_RESPONSE_KEYS
    if unknown:
        raise ValueError(f"unexpected field(s) {sorted(unknown)}")
    status = response.get("statusCode")
    if isinstance(status, str) and status.isdigit():
        status = int(status)
    if not isinstance(status, int) or isinstance(status, bool) or not 100 <= status <= 599:
        raise ValueError(f"statusCode must be an HTTP status, got {status!r}")
    single = response.get("headers") or {}
    multi = response.get("multiValueHeaders") or {}
    if not isinstance(single, Mapping) or not isinstance(multi, Mapping):
        raise ValueError("headers and multiValueHeaders must be objects")
    if any(not isinstance(values, list) for values in multi.values()):
        raise ValueError("multiValueHeaders values must be lists")
    multi_names = {str(name).lower() for name in multi}
    headers = [
        (str(name), _header_value(value)) for name, value in single.items() if str(name).lower() not in multi_names
    ]
    headers += [(str(name), _header_value(value)) for name, values in multi.items() for value in values]
    body = response.get("body")
    if body is not None and not isinstance(body, str):
        raise ValueError(f"body must be a string, got {type(body).__name__}")
    is_base64 = response.get("isBase64Encoded", False)
    if not isinstance(is_base64, bool):
        raise ValueError("isBase64Encoded must be a boolean")
    try:
        payload = base64.b64decode(body or "", validate=True) if is_base64 else (body or "").encode("utf-8")
    except binascii.Error as error:
        raise ValueError(f"isBase64Encoded but the body is not base64: {error}") from error
    if not any(name.lower() == "content-type" for name, _ in headers):
        headers.append(("Content-Type", "application/json"))  # API Gateway's default for proxy responses
    return _Response(status, headers, payload)


def _header_value(value: Any) -> str:
    if value is None or isinstance(value, Mapping | list):
        raise ValueError(f"header values must be strings, numbers or booleans, got {value!r}")
    text = str(value).lower() if isinstance(value, bool) else str(value)
    if "\r" in text or "\n" in text:
        raise ValueError("header values must not contain line breaks")
    return text


# --------------------------------------------------------------------------------------------------
# HTTP plumbing


@dataclass
class _Request:
    method: str
    path: str  # raw (percent-encoded as sent), without the stage for API requests
    query: str
    headers: list[tuple[str, str]]
    body: bytes
    too_large: bool
    client_ip: str
    server_port: int
    protocol: str
    request_id: str

    def header(self, name: str) -> str | None:
        wanted = name.lower()
        found = [value for key, value in self.headers if key.lower() == wanted]
        return found[-1] if found else None


class _Handler(BaseHTTPRequestHandler):
    gateway: LocalApiGateway  # set on the per-gateway subclass
    protocol_version = "HTTP/1.1"  # keep-alive for browsers; every response carries Content-Length
    timeout = 60  # idle keep-alive connections do not pin a thread forever
    server_version = "challenger-local-gateway"

    def do_GET(self) -> None:
        self._serve()

    do_HEAD = do_POST = do_PUT = do_PATCH = do_DELETE = do_OPTIONS = do_GET

    def _serve(self) -> None:
        if not self.gateway.running:  # a keep-alive connection outliving stop(): no more answers on it
            self.close_connection = True
            self._send(_Response(503, [("Content-Type", "text/plain")], b"the gateway is stopped\n"))
            return
        try:
            request = self._read_request()
        except ValueError as error:
            self._send(
                _Response(400, [("Content-Type", "application/json")], json.dumps({"message": str(error)}).encode())
            )
            return
        stage_prefix = f"/{self.gateway.stage}"
        if request.path == stage_prefix or request.path.startswith(stage_prefix + "/"):
            request.path = request.path[len(stage_prefix) :] or "/"
            response = self.gateway._handle_api(request)
        else:
            response = self.gateway._handle_local(request) or self.gateway._handle_static(request)
        if request.too_large:
            self.close_connection = True  # the unread body is still on the socket: this connection is done
        self._send(response, head=request.method == "HEAD")

    def _read_request(self) -> _Request:
        split = urlsplit(self.path)
        if not split.path.startswith("/"):
            raise ValueError("the request target must be an absolute path")
        body, too_large = self._read_body()
        return _Request(
            method=self.command.upper(),
            path=split.path,
            query=split.query,
            headers=[(name, value) for name, value in self.headers.items()],
            body=body,
            too_large=too_large,
            client_ip=str(self.client_address[0]),
            server_port=int(self.connection.getsockname()[1]),
            protocol=self.request_version,
            request_id=str(uuid.uuid4()),
        )

    def _read_body(self) -> tuple[bytes, bool]:
        """The body, or (b"", True) when it exceeds API Gateway's payload limit (not read further)."""
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            return self._read_chunked()
        length_header = self.headers.get("Content-Length")
        if length_header is None:
            return b"", False
        if not length_header.strip().isdigit():
            raise ValueError("invalid Content-Length")
        length = int(length_header)
        if length > MAX_PAYLOAD_BYTES:
            return b"", True
        return self.rfile.read(length), False

    def _read_chunked(self) -> tuple[bytes, bool]:
        chunks: list[bytes] = []
        total = 0
        while True:
            size_line = self.rfile.readline(1024).split(b";")[0].strip()
            try:
                size = int(size_line, 16)
            except ValueError as error:
                raise ValueError("invalid chunked encoding") from error
            if size == 0:
                while self.rfile.readline(1024) not in (b"\r\n", b"\n", b""):
                    pass  # trailers
                return b"".join(chunks), False
            total += size
            if total > MAX_PAYLOAD_BYTES:
                return b"", True
            chunks.append(self.rfile.read(size))
            self.rfile.readline(1024)  # the CRLF after each chunk

    def _send(self, response: _Response, *, head: bool = False) -> None:
        self.send_response(response.status)
        for name, value in response.headers:
            if name.lower() not in ("content-length", "connection", "transfer-encoding"):
                self.send_header(name, value)
        self.send_header("Content-Length", str(len(response.body)))
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        if not head:
            self.wfile.write(response.body)

    def log_message(self, format: str, *args: Any) -> None:
        LOG.debug("%s %s", self.address_string(), format % args)

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        LOG.info('"%s" %s', self.requestline, code)
