"""The local API Gateway: a REST API with Lambda proxy integrations, built from template.yaml, plus static files.

Routes from the template's `Api` events (SAM's ApiKeyRequired precedence), the REST "v1" proxy event, the local
token standing in for the Cognito and AWS_IAM authorizers, API Gateway's own answers (403/413/502/504), the proxy
response mapping, optional CORS, `/config.json`, `/_local/outbox` and the static dashboard. What each reproduces,
in detail: docs/decisions/0008-local-cloud-strictness.md, "The local API Gateway".
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
import uuid
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, urlsplit

from werkzeug.exceptions import HTTPException, RequestEntityTooLarge
from werkzeug.routing import Map, Rule
from werkzeug.security import safe_join
from werkzeug.serving import WSGIRequestHandler
from werkzeug.wrappers import Request, Response

from challenger.local.lambda_runtime import TooManyRequests
from challenger.local.outbox import read_messages
from challenger.local.serving import WsgiServer, is_loopback_host

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIEnvironment

    from challenger.local.template import LocalTemplate

LOG = logging.getLogger(__name__)

Invoke = Callable[[str, dict[str, Any]], dict[str, Any]]
"""``invoke(function_logical_id, event) -> proxy response``: runs the function (the caller's Lambda runtime)."""

MAX_PAYLOAD_BYTES = 10 * 1024 * 1024  # API Gateway's request payload quota (10 MB)
MAX_INTEGRATIONS = 256  # integration calls in flight (threads started as needed, then reused)
INTEGRATION_TIMEOUT_SECONDS = 29.0  # API Gateway's default (and, for REST APIs, usual maximum) integration timeout
DASHBOARD_NOT_BUILT = "the dashboard is not built: run `make frontend` (Node.js >= 20.19 with npm), then reload"
LOCAL_CLAIMS = {"email": "you@localhost", "cognito:username": "local"}
"""The claims a Cognito authorizer would pass on for the local user."""
IAM_AUTHORIZER = "AWS_IAM"  # SAM's name for IAM authorization on an Api event
LOCAL_OPERATOR = "local-operator"
LOCAL_OPERATOR_ID = "AIDALOCALOPERATOR"  # the IAM user id that API Gateway reports as identity.user/caller
OUTBOX_PATH = "/_local/outbox"
CONFIG_PATH = "/config.json"
RAW_HEADERS = "challenger.raw_headers"  # environ key: the request's headers as (name, value) pairs, as sent
_PROXY_RESPONSE_KEYS = {"statusCode", "headers", "multiValueHeaders", "body", "isBase64Encoded"}
_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")
_TEXT_TYPES = re.compile(
    r"^(text/.*|application/(json|.*\+json|xml|.*\+xml|x-www-form-urlencoded|javascript|graphql|x-ndjson))$"
)
# Python's own table, not the system's /etc/mime.types (which differs between machines), plus what it lacks.
_STATIC_TYPES = mimetypes.MimeTypes()
_STATIC_TYPES.add_type("application/json", ".map")
_STATIC_TYPES.add_type("font/woff2", ".woff2")


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

    def rule(self) -> Rule:
        """The werkzeug rule: ``{name}`` is one segment, ``{name+}`` the rest of the path (one segment or more)."""
        path = re.sub(r"\{(\w+)\+\}", r"<path:\1>", self.resource)
        path = re.sub(r"\{(\w+)\}", r"<\1>", path)
        return Rule(path, endpoint=self, methods=None if self.method == "ANY" else [self.method])


class Routes:
    """The resource tree; werkzeug ranks literal segments over parameters, as API Gateway does."""

    def __init__(self, routes: list[Route]) -> None:
        self.routes = routes
        # merge_slashes off: "//" is no resource on API Gateway, not a redirect.
        self._adapter = Map([route.rule() for route in routes], merge_slashes=False).bind("localhost")

    def find(self, method: str, path: str) -> tuple[Route, dict[str, str]] | None:
        """The route and path parameters (as sent: still percent-encoded) of ``method path``, else None."""
        try:
            route, parameters = self._adapter.match(path, method=method)
        except HTTPException:  # NotFound, MethodNotAllowed
            return None
        if method == "HEAD" and route.method == "GET":
            return None  # werkzeug answers HEAD for GET rules; API Gateway has no such resource method
        return route, dict(parameters)

    def methods(self, path: str) -> set[str]:
        """The methods a resource path has (empty: no such resource)."""
        return {route.method for route in self.routes if self.find(route.method, path) is not None}


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
    return routes


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
    Use :meth:`start`/:meth:`stop` or ``with LocalApiGateway(...) as gateway:``. werkzeug serves it (threads,
    keep-alive, chunked bodies); this class is the WSGI application.
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
        self.routes = Routes(routes_from_template(template))
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
        self._server: WsgiServer | None = None
        self._integrations = ThreadPoolExecutor(max_workers=MAX_INTEGRATIONS, thread_name_prefix="integration")

    # -- lifecycle ---------------------------------------------------------------------------------

    @property
    def url(self) -> str:
        if self._server is None:
            raise RuntimeError("the gateway is not started")
        return self._server.url

    @property
    def api_url(self) -> str:
        return f"{self.url}/{self.stage}"

    @property
    def running(self) -> bool:
        return self._server is not None

    def start(self) -> None:
        if self._server is not None:
            raise RuntimeError("the gateway is already started")
        self._integrations = ThreadPoolExecutor(max_workers=MAX_INTEGRATIONS, thread_name_prefix="integration")
        self._server = WsgiServer(self, host=self.host, port=self.port, handler=_Handler, name="api-gateway")
        LOG.info("API Gateway on %s (%d routes)", self.api_url, len(self.routes.routes))

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            server.stop()
            self._integrations.shutdown(wait=False, cancel_futures=True)

    def __enter__(self) -> LocalApiGateway:
        self.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.stop()

    # -- the WSGI application (called on werkzeug's request threads) -------------------------------

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        request = Request(environ)
        request.max_content_length = MAX_PAYLOAD_BYTES
        if not self.running:  # a keep-alive connection outliving stop(): no more answers on it
            response = _Response(503, [("Content-Type", "text/plain"), ("Connection", "close")], b"stopped\n")
        elif not is_loopback_host(str(environ.get("HTTP_HOST", ""))):
            # DNS rebinding (issue 18 F5): a page of another name resolved to 127.0.0.1 would read the dashboard's
            # origin as its own. The dashboard itself is opened at 127.0.0.1, so its Origin header is welcome here.
            host = str(environ.get("HTTP_HOST", ""))[:100]
            response = _json_response(403, {"message": f"the local cloud refuses Host {host!r}: not a loopback name"})
        else:
            response = self._dispatch(request)
        wsgi_response = Response(response.body, response.status)
        wsgi_response.headers.clear()
        for name, value in response.headers:
            wsgi_response.headers.add(name, value)
        return wsgi_response(environ, start_response)

    def _dispatch(self, request: Request) -> _Response:
        raw_path = urlsplit(request.environ.get("RAW_URI") or request.path).path
        stage_prefix = f"/{self.stage}"
        if raw_path == stage_prefix or raw_path.startswith(stage_prefix + "/"):
            return self._handle_api(request, raw_path[len(stage_prefix) :] or "/")
        return self._handle_local(request) or self._handle_static(request)

    def _handle_api(self, request: Request, path: str) -> _Response:
        """One request under the stage: API Gateway's checks, the proxy event, the integration, the mapping."""
        request_id = str(uuid.uuid4())
        try:
            if request.method == "OPTIONS" and self.cors_origin is not None and self.routes.methods(path):
                response = self._preflight(path)
            else:
                response = self._call_route(request, path, request_id)
        except _GatewayError as error:
            response = _Response(
                error.status,
                [("Content-Type", "application/json"), ("x-amzn-ErrorType", error.error_type)],
                json.dumps({"message": error.message}).encode(),
            )
            if error.status == 413:  # the unread body is still on the socket: this connection is done
                response.headers.append(("Connection", "close"))
        response.headers.append(("x-amzn-RequestId", request_id))
        self._add_cors(request, response)
        return response

    def _call_route(self, request: Request, path: str, request_id: str) -> _Response:
        try:
            body = request.get_data(cache=False)  # checked at the front door, before routing and keys
        except RequestEntityTooLarge as error:
            raise _GatewayError(413, "Request Too Long", "RequestTooLarge") from error
        found = self.routes.find(request.method, path)
        if found is None:
            raise _GatewayError(403, "Missing Authentication Token", "MissingAuthenticationTokenException")
        route, parameters = found
        given_key = request.headers.get("x-api-key")
        if route.api_key_required and not (
            given_key and hmac.compare_digest(given_key.encode(), self.api_key.encode())
        ):
            raise _GatewayError(403, "Forbidden", "ForbiddenException")
        if route.authorizer == IAM_AUTHORIZER and not self._token_ok(request):
            raise _GatewayError(403, "Missing Authentication Token", "MissingAuthenticationTokenException")
        if route.authorizer is not None and not self._token_ok(request):
            raise _GatewayError(401, "Unauthorized", "UnauthorizedException")
        event = self._proxy_event(request, path, body, route, parameters, request_id)
        return self._integrate(route, event)

    def _token_ok(self, request: Request) -> bool:
        """The local stand-in for the Cognito authorizer: the console token, ``Bearer``-prefixed or bare."""
        given = (request.headers.get("authorization") or "").strip()
        if given[:7].lower() == "bearer ":
            given = given[7:].strip()
        return bool(self.console_token) and hmac.compare_digest(given.encode(), str(self.console_token).encode())

    def dashboard_config(self) -> dict[str, Any]:
        """What the dashboard reads from /config.json locally (on AWS the publish script writes this file)."""
        return {"apiBase": f"/{self.stage}/console", "auth": {"mode": "local"}, "outbox": OUTBOX_PATH, "stage": "local"}

    def _handle_local(self, request: Request) -> _Response | None:
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
        fields = ("id", "subject", "kind", "to", "body")
        listing = [{**{f: getattr(m, f) for f in fields}, "date": m.date.isoformat()} for m in messages]
        return _json_response(200, listing, [("Cache-Control", "no-store")])

    def _preflight(self, path: str) -> _Response:
        methods = self.routes.methods(path)
        allowed = list(_METHODS) if "ANY" in methods else sorted(methods | {"OPTIONS"})
        headers = [
            ("Access-Control-Allow-Methods", ",".join(allowed)),
            ("Access-Control-Allow-Headers", "Content-Type,X-Amz-Date,Authorization,X-Api-Key,X-Amz-Security-Token"),
            ("Access-Control-Max-Age", "600"),
            ("Content-Type", "application/json"),
        ]
        return _Response(200, headers, b"{}")

    def _add_cors(self, request: Request, response: _Response) -> None:
        origin = request.headers.get("origin")
        if self.cors_origin is None or origin is None or origin.rstrip("/") != self.cors_origin:
            return
        names = {name.lower() for name, _ in response.headers}
        if "access-control-allow-origin" not in names:
            response.headers.append(("Access-Control-Allow-Origin", origin))
        response.headers.append(("Vary", "Origin"))

    def _proxy_event(  # noqa: PLR0917 — one request's parts
        self,
        request: Request,
        path: str,
        raw_body: bytes,
        route: Route,
        parameters: dict[str, str],
        request_id: str,
    ) -> dict[str, Any]:
        """The REST API Lambda proxy event for ``request`` (``path``: raw, without the stage) on ``route``."""
        headers: dict[str, str] = {}
        multi_headers: dict[str, list[str]] = {}
        client_ip = request.remote_addr or "127.0.0.1"
        server_port = request.environ["SERVER_PORT"]
        for name, value in request.environ.get(RAW_HEADERS, request.headers.items()):
            headers[name] = value  # the last value wins in `headers`, as in API Gateway
            multi_headers.setdefault(name, []).append(value)
        forwarded = {"X-Forwarded-For": client_ip, "X-Forwarded-Port": server_port, "X-Forwarded-Proto": "http"}
        lower_names = {name.lower() for name in headers}
        for name, value in forwarded.items():
            if name.lower() not in lower_names:
                headers[name] = value
                multi_headers[name] = [value]
        query: dict[str, str] = {}
        multi_query: dict[str, list[str]] = {}
        for name, value in parse_qsl(request.query_string.decode("latin-1"), keep_blank_values=True):
            query[name] = value
            multi_query.setdefault(name, []).append(value)
        body: str | None = None
        is_base64 = False
        if raw_body:
            content_type = (request.headers.get("content-type") or "").split(";")[0].strip().lower()
            if content_type == "" or _TEXT_TYPES.match(content_type):
                try:
                    body = raw_body.decode("utf-8")
                except UnicodeDecodeError:
                    body = None
            if body is None:  # binary: API Gateway hands the integration base64 (binary media types)
                body, is_base64 = base64.b64encode(raw_body).decode("ascii"), True
        now = datetime.now(UTC)
        host = request.headers.get("host") or f"{self.host}:{server_port}"
        key_used = request.headers.get("x-api-key") if route.api_key_required else None
        iam = route.authorizer == IAM_AUTHORIZER
        authorizer = {"claims": dict(LOCAL_CLAIMS)} if route.authorizer is not None and not iam else None
        operator_arn = f"arn:aws:iam::{self.template.account}:user/{LOCAL_OPERATOR}" if iam else None
        return {
            "resource": route.resource,
            "path": path,
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
                "extendedRequestId": request_id[:16],
                "requestTime": now.strftime("%d/%b/%Y:%H:%M:%S +0000"),
                "path": f"/{self.stage}{path}",
                "accountId": self.template.account,
                "protocol": request.environ["SERVER_PROTOCOL"],
                "stage": self.stage,
                "domainPrefix": host.split(".")[0].split(":")[0],
                "requestTimeEpoch": int(now.timestamp() * 1000),
                "requestId": request_id,
                "identity": {
                    "cognitoIdentityPoolId": None,
                    "accountId": self.template.account if iam else None,
                    "cognitoIdentityId": None,
                    "caller": LOCAL_OPERATOR_ID if iam else None,
                    "sourceIp": client_ip,
                    "principalOrgId": None,
                    "accessKey": "AKIALOCALOPERATOR" if iam else None,
                    "cognitoAuthenticationType": None,
                    "cognitoAuthenticationProvider": None,
                    "userArn": operator_arn,
                    "userAgent": request.headers.get("user-agent"),
                    "user": LOCAL_OPERATOR_ID if iam else None,
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
        # On a pool: a thread started per request cost an eighth of this process's CPU under load (py-spy --gil).
        call = self._integrations.submit(self.invoke, route.function, event)
        try:
            response = call.result(self.integration_timeout)
        except TimeoutError:
            LOG.error(
                "%s %s: %s did not answer within %ss",
                *(event["httpMethod"], event["path"], route.function, self.integration_timeout),
            )
            raise _GatewayError(504, "Endpoint request timed out", "IntegrationTimeout") from None
        # A throttled function is a 500 (https://repost.aws/knowledge-center/api-gateway-internal-server-error).
        except TooManyRequests as error:
            LOG.error("%s %s: %s throttled (reserved concurrency)", event["httpMethod"], event["path"], route.function)
            raise _GatewayError(500, "Internal server error", "InternalServerErrorException") from error
        except Exception as error:  # the function failed: API Gateway answers 502
            LOG.error("%s %s: %s failed: %r", event["httpMethod"], event["path"], route.function, error)
            raise _GatewayError(502, "Internal server error", "InternalServerErrorException") from error
        try:
            return _map_proxy_response(response)
        except ValueError as error:
            LOG.error("Execution failed due to configuration error: Malformed Lambda proxy response (%s)", error)
            raise _GatewayError(502, "Internal server error", "InternalServerErrorException") from error

    def _handle_static(self, request: Request) -> _Response:
        """A file from ``static_dir`` (GET/HEAD), never one outside it."""
        if request.method not in ("GET", "HEAD"):
            return _Response(405, [("Allow", "GET, HEAD"), ("Content-Type", "text/plain")], b"method not allowed\n")
        if self.static_dir is None:  # loud, not a blank page
            return _Response(
                503, [("Content-Type", "text/plain; charset=utf-8")], (DASHBOARD_NOT_BUILT + "\n").encode()
            )
        file = self._static_file(request.path)
        if file is None:
            return _Response(404, [("Content-Type", "text/plain; charset=utf-8")], b"not found\n")
        content_type = _STATIC_TYPES.guess_type(file.name.lower())[0] or "application/octet-stream"
        if content_type.startswith("text/") or content_type in ("application/json", "image/svg+xml"):
            content_type += "; charset=utf-8"
        headers = [("Content-Type", content_type), ("Cache-Control", "no-cache"), ("X-Content-Type-Options", "nosniff")]
        return _Response(200, headers, file.read_bytes())

    def _static_file(self, path: str) -> Path | None:
        assert self.static_dir is not None  # _handle_static answers 503 without one
        relative = safe_join(str(self.static_dir), path.lstrip("/"))  # refuses "..", absolute and odd paths
        if relative is None or "\x00" in relative:
            return None
        candidate = Path(relative).resolve()
        # resolve() follows symlinks: whatever ends up outside the directory is refused.
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


class _Handler(WSGIRequestHandler):
    """werkzeug's handler, keeping what WSGI drops: the header names as the client spelled them."""

    timeout = 60  # idle keep-alive connections do not pin a thread forever

    def make_environ(self) -> WSGIEnvironment:
        environ = super().make_environ()
        environ[RAW_HEADERS] = list(self.headers.items())  # API Gateway passes names through as sent
        return environ

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        LOG.info('"%s" %s', self.requestline, code)
