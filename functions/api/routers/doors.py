"""The API's three doors and who may use each route (docs/decisions/0003-api-auth.md, 0007-operator-identity.md).

One function serves three doors. The API key of the usage plan reaches `POST /predict` and the reads; decisions
that change what serves (retrain, approve or reject, roll back) and the audit log need an operator identity, under
``/console`` (Cognito ID token: the dashboard) or ``/operator`` (IAM, SigV4: the CLI and automation). The resolver
strips the prefix, so each route is written once.

A route's `security` (its OpenAPI requirement) is **the** declaration of which doors it has: `DECISION` routes are
only under the operator doors, `LINK` routes (the emailed approval links) only at the root without a key, routes
without one under all three. `scripts/api_routes.py` generates the template's API events from it, and tests check
README, docs/security.md and the frontend against it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Literal, cast

from aws_lambda_powertools.event_handler import Request
from aws_lambda_powertools.event_handler.depends import Depends

from challenger_core import audit

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.data_classes.api_gateway_proxy_event import APIGatewayProxyEvent

Door = Literal["api-key", "console", "operator"]
PREFIXES: dict[Door, str] = {"console": "/console", "operator": "/operator"}
MAX_USER_AGENT = 512

# OpenAPI security requirements, one per door (the schemes are in routers/openapi.py).
DOOR_SECURITY: dict[Door, list[dict[str, list[str]]]] = {
    "api-key": [{"apiKey": []}],
    "console": [{"cognito": []}],
    "operator": [{"sigv4": []}],
}
DECISION = DOOR_SECURITY["console"] + DOOR_SECURITY["operator"]  # operators only: no API-key route exists
LINK: list[dict[str, list[str]]] = [{}]  # the approval links: the signed link is the credential


class ForbiddenError(Exception):
    """A decision asked for through a door that carries no operator identity."""


def door_of(path: str) -> Door:
    """Which door a request came through: API Gateway routes /console and /operator only after their authorizer."""
    for door, prefix in PREFIXES.items():
        if path == prefix or path.startswith(prefix + "/"):
            return door
    return "api-key"


def doors_of(security: list[dict[str, list[str]]] | None) -> list[Door]:
    """The doors an operation has, from its declared `security`: the approval links live at the root, like the
    key's door, but need no key (`security == LINK`)."""
    if security is None:
        return list(DOOR_SECURITY)
    if security == LINK:
        return ["api-key"]
    return [door for door, requirement in DOOR_SECURITY.items() if requirement[0] in security]


def rest_event(request: Request) -> APIGatewayProxyEvent:
    """The request as API Gateway's REST proxy event (this API's only event source)."""
    return cast("APIGatewayProxyEvent", request.resolved_event)


def door(request: Request) -> Door:
    """The door of this request (a dependency)."""
    return door_of(request.resolved_event.path)


def operator(request: Request) -> audit.Caller:
    """The operator making this request, as API Gateway authenticated them; 403 through the API key's door.

    Only the request context counts (filled by API Gateway after its authorizer), never a header or the body.
    """
    event = rest_event(request)
    context = event.request_context
    identity = context.identity
    through = door_of(event.path)
    actor: str | None = None
    actor_id: str | None = None
    if through == "console":
        claims = (context.authorizer.claims or {}) if context.authorizer else {}
        actor = claims.get("email") or claims.get("cognito:username")
        actor_id = claims.get("sub")
    elif through == "operator":
        actor, actor_id = identity.user_arn, identity.user
    if through == "api-key" or not actor:
        raise ForbiddenError(
            "this decision needs an operator identity: call it under /operator (IAM, SigV4) or /console (Cognito); "
            "the API key is for inference and reads"
        )
    return audit.Caller(
        actor=str(actor),
        actor_id=str(actor_id) if actor_id else None,
        via=through,
        source_ip=identity.source_ip,
        user_agent=(identity.user_agent or "")[:MAX_USER_AGENT] or None,
    )


def link_caller(request: Request) -> audit.Caller:
    """Who decides through an emailed link: the link, from where it was opened."""
    identity = rest_event(request).request_context.identity
    return audit.Caller(
        actor="email link",
        via="email-link",
        source_ip=identity.source_ip,
        user_agent=(identity.user_agent or "")[:MAX_USER_AGENT] or None,
    )


RequestDoor = Annotated[Door, Depends(door)]
Operator = Annotated[audit.Caller, Depends(operator)]
LinkCaller = Annotated[audit.Caller, Depends(link_caller)]
