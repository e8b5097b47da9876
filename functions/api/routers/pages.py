"""The emailed approval links: GET shows a confirmation page (mail scanners follow links, so a GET never decides),
POST decides. No API key: the signed link is the credential (HMAC-SHA256 over approval id, decision and expiry,
challenger_core.approvals), and the registry's conditional write makes it single use.

The pages are `string.Template`s; `_render` escapes every value it is given, except fragments already rendered.
"""

from __future__ import annotations

import base64
import binascii
import re
from string import Template
from typing import Annotated, Any
from urllib.parse import parse_qs

from aws_lambda_powertools.event_handler import Request, Response, content_types
from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Path
from aws_lambda_powertools.event_handler.openapi.types import OpenAPIResponseContentModel, OpenAPIResponseContentSchema

from challenger_core import approvals, operations
from challenger_core.errors import ApprovalLinkError, ConflictError, DataValidationError
from challenger_core.models import ModelVersion
from challenger_core.registry import Registry
from routers.deps import ApprovalKeyDep, RegistryDep, SettingsDep, WorkflowDep
from routers.doors import LINK, LinkCaller
from routers.errors import INVALID, decoded_size, json_response, media_type

router = Router()

FORM_TYPE = "application/x-www-form-urlencoded"
FORM_ONLY = f"Content-Type must be {FORM_TYPE}"
MAX_FORM_BYTES = 4096  # an approval form is three short fields; anything bigger is not one
LINK_DECISION = re.compile(r"^(approve|reject)$")
LINK_EXPIRES = re.compile(r"^[0-9]{1,12}$")
LINK_SIG = re.compile(r"^[0-9a-f]{64}$")  # hex HMAC-SHA256 (approvals.sign)
# Approval ids are uuid4 hex (approvals.py); bounded like run ids so a fuzzed one is a 404, not a 502.
ApprovalIdPath = Annotated[str, Path(pattern=r"^[A-Za-z0-9_-]{1,64}$", description="approval id")]

HTML: dict[str, OpenAPIResponseContentSchema | OpenAPIResponseContentModel] = {
    content_types.TEXT_HTML: {"schema": {"type": "string"}}
}
LINK_PAGES: dict[int, Any] = {
    200: {"description": "A confirmation form", "content": HTML},
    400: {"description": "The form is not UTF-8", "content": HTML},
    403: {"description": "The link is incomplete, tampered with or expired", "content": HTML},
    413: {"description": "The body is not an approval form (too big, too many fields)", "content": HTML},
    415: {"description": FORM_ONLY, "content": HTML},
    404: json_response("No such approval"),
    409: {"description": "Already decided", "content": HTML},
    422: INVALID,
}

# The pages decide in one click, so no other site may frame them (clickjacking, issue 18): CSP frame-ancestors for
# current browsers, X-Frame-Options for older ones (MDN "Content-Security-Policy: frame-ancestors").
PAGE_HEADERS = {
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",
    "X-Robots-Tag": "noindex",
    "Content-Security-Policy": "frame-ancestors 'none'; default-src 'none'; style-src 'unsafe-inline'; "
    "form-action 'self'; base-uri 'none'",
    "X-Frame-Options": "DENY",
}
PAGE = Template(
    "<!doctype html><html lang=en><meta charset=utf-8><meta name=viewport content='width=device-width'>"
    "<title>$title</title><body style='font-family:system-ui;max-width:40em;margin:3em auto'>"
    "<h1>$title</h1>$body</body></html>"
)
CONFIRM = Template(
    "<p>$verb model <b>v$version</b> of run <code>$run_id</code>?</p>$comparison"
    "<p>This link expires $expires UTC. <a href='$dashboard/#/versions/$version'>Open v$version in the dashboard</a>"
    " for its full record.</p>"
    "<form method=post><input type=hidden name=decision value=$decision>"
    "<input type=hidden name=expires value=$expires_at><input type=hidden name=sig value=$sig>"
    "<p><label for=comment>Comment (optional, recorded with the decision)</label><br>"
    "<textarea id=comment name=comment rows=3 cols=60 maxlength=500></textarea></p>"
    "<button type=submit>$verb v$version</button></form>"
)
COMPARISON = Template(
    "<table><caption>v$version against $against</caption><tr><th>metric</th><th>v$version</th>"
    "<th>champion</th><th>$delta_header</th></tr>$rows</table>"
)
ROW = Template("<tr><th scope=row>$metric</th><td>$value</td><td>$other</td><td>$delta</td></tr>")
PARAGRAPH = Template("<p>$text</p>")


class Markup(str):
    """A fragment `_render` already escaped: inserted as it is."""


def _render(template: Template, **values: object) -> Markup:
    import html  # noqa: PLC0415  # its entity table is ~1 ms of import: the approval pages pay it, not the API's init

    return Markup(
        template.substitute(
            {name: value if isinstance(value, Markup) else html.escape(str(value)) for name, value in values.items()}
        )
    )


def _page(status: int, title: str, body: str | Markup) -> Response[str]:
    content = body if isinstance(body, Markup) else _render(PARAGRAPH, text=body)
    return Response(
        status_code=status,
        content_type=content_types.TEXT_HTML,
        body=_render(PAGE, title=title, body=content),
        headers=PAGE_HEADERS,
    )


class FormError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def _link_fields(values: dict[str, str]) -> tuple[str, int, str]:
    """The link's fields, checked for shape before any cryptography sees them (a non-ASCII `sig` is a 403)."""
    decision, expires, sig = (values.get(name, "") for name in ("decision", "expires", "sig"))
    if not (decision and expires and sig):
        raise ApprovalLinkError("the link is incomplete: it needs decision, expires and sig")
    if not (LINK_DECISION.match(decision) and LINK_EXPIRES.match(expires) and LINK_SIG.match(sig)):
        raise ApprovalLinkError("the link is malformed: it was altered or cut short")
    return decision, int(expires), sig


def _form_fields(request: Request) -> dict[str, str]:
    """The approval form's fields: form-encoded only, small, UTF-8, a handful of fields (else FormError)."""
    event = request.resolved_event
    raw = event.body or ""
    if decoded_size(raw, base64_encoded=bool(event.is_base64_encoded)) > MAX_FORM_BYTES:
        raise FormError(413, f"the form is over {MAX_FORM_BYTES} bytes: it is not an approval form")
    if raw and media_type(event.headers) != FORM_TYPE:
        raise FormError(415, FORM_ONLY)
    try:
        text = base64.b64decode(raw, validate=True).decode("utf-8") if event.is_base64_encoded else raw
        parsed = parse_qs(text, max_num_fields=10, errors="strict")
    except (UnicodeDecodeError, binascii.Error) as exc:
        raise FormError(400, "the form is not UTF-8") from exc
    except ValueError as exc:  # over max_num_fields
        raise FormError(413, "the form has too many fields: it is not an approval form") from exc
    return {name: values[0] for name, values in parsed.items()}


@router.get(
    "/approvals/<approval_id>",
    summary="Approval link: confirmation page",
    description="Opened from the approval email; shows a form and decides nothing (mail scanners follow links).",
    security=LINK,
    responses=LINK_PAGES,
)
def approval_page(
    approval_id: ApprovalIdPath,
    request: Request,
    *,
    key: ApprovalKeyDep,
    registry: RegistryDep,
    settings: SettingsDep,
) -> Response[str]:
    try:
        decision, expires, sig = _link_fields(request.query_parameters or {})
        approvals.verify(key, approval_id, decision, expires, sig)
        approval = registry.get_approval(approval_id)
    except ApprovalLinkError as exc:
        return _page(403, "This link cannot be used", str(exc))
    if approval.status.value != "PENDING":
        return _page(409, "Already decided", f"v{approval.version} was already {approval.status.value.lower()}.")
    verb = "Approve" if decision == "approve" else "Reject"
    form = _render(
        CONFIRM,
        verb=verb,
        version=approval.version,
        run_id=approval.run_id,
        comparison=_comparison(approval.version, registry),
        expires=f"{approval.expires_at:%Y-%m-%d %H:%M}",
        dashboard=settings.dashboard_origin,
        decision=decision,
        expires_at=expires,
        sig=sig,
    )
    return _page(200, f"{verb} v{approval.version}?", form)


def _comparison(version: int, registry: Registry) -> Markup:
    """The challenger against the champion, as the email shows it: paired numbers with their interval if recorded."""
    challenger = registry.get_model(version)
    champion = registry.get_champion()
    theirs = registry.get_model(champion.version).metrics if champion and champion.version != version else {}
    paired = getattr(challenger, "comparison", None)  # recorded by the training job's paired evaluation
    rows = []
    for name, value in challenger.metrics.items():
        difference = paired.differences.get(name) if paired else None
        other = paired.champion_metrics.get(name) if paired else theirs.get(name)
        delta = (
            f"{difference.delta:+.3f} [{difference.low:+.3f}, {difference.high:+.3f}]"
            if difference
            else (f"{value - other:+.3f}" if other is not None else "")
        )
        other_text = "" if other is None else f"{other:.3f}"
        rows.append(_render(ROW, metric=name, value=f"{value:.3f}", other=other_text, delta=delta))
    against = f"champion v{champion.version}" if champion and champion.version != version else "no champion yet"
    table = _render(
        COMPARISON,
        version=version,
        against=against,
        delta_header="Δ [interval]" if paired else "Δ",
        rows=Markup("".join(rows)),
    )
    return Markup(_label_shift(challenger) + table + _on_trusted_set(challenger, against))


def _label_shift(challenger: ModelVersion) -> str:
    """The verdict's label-shift warning (issue 19): the person deciding reads it before the numbers."""
    shift = challenger.verdict.label_shift if challenger.verdict else None
    return _render(PARAGRAPH, text=f"Warning: {shift}. Approving overrules the policy.") if shift else ""


def _on_trusted_set(challenger: ModelVersion, against: str) -> str:
    """Both models on the dataset's trusted evaluation set, paired (issue 19), when the job scored them there."""
    trusted = challenger.trusted
    paired = trusted.comparison if trusted else None
    if trusted is None or paired is None:
        return ""
    rows = [
        _render(
            ROW,
            metric=name,
            value=f"{paired.challenger_metrics.get(name, 0.0):.3f}",
            other=f"{paired.champion_metrics.get(name, 0.0):.3f}",
            delta=f"{difference.delta:+.3f} [{difference.low:+.3f}, {difference.high:+.3f}]",
        )
        for name, difference in paired.differences.items()
    ]
    return _render(
        COMPARISON,
        version=challenger.version,
        against=f"{against}, on the trusted evaluation set v{trusted.set_version} ({paired.rows} rows)",
        delta_header="Δ [interval]",
        rows=Markup("".join(rows)),
    )


@router.post(
    "/approvals/<approval_id>",
    summary="Approval link: decide",
    description="The confirmation form's POST (form-encoded decision, expires, sig); single use.",
    security=LINK,
    responses=LINK_PAGES,
)
def approval_decision(
    approval_id: ApprovalIdPath,
    request: Request,
    *,
    caller: LinkCaller,
    key: ApprovalKeyDep,
    registry: RegistryDep,
    workflow: WorkflowDep,
) -> Response[str]:
    try:
        fields = _form_fields(request)
        decision, expires, sig = _link_fields(fields)
        approvals.verify(key, approval_id, decision, expires, sig)
        approval = operations.decide_approval(
            approval_id,
            approved=decision == "approve",
            caller=caller,
            comment=fields.get("comment", "").strip()[:500],  # the confirmation page's comment field (issue 22)
            registry=registry,
            workflow=workflow,
        )
    except FormError as exc:
        return _page(exc.status, "This is not an approval form", str(exc))
    except ApprovalLinkError as exc:
        return _page(403, "This link cannot be used", str(exc))
    except ConflictError:
        return _page(409, "Already decided", "This approval was already decided or has expired.")
    except DataValidationError as exc:  # approving a KEEP verdict (a label shift) needs a comment (issue 19)
        return _page(422, "A comment is needed", f"{exc} Go back, say why in the comment field, and submit again.")
    verdict, outcome = (
        ("approved", "deploying now") if decision == "approve" else ("rejected", "the champion keeps serving")
    )
    return _page(200, f"v{approval.version} {verdict}", f"v{approval.version} {verdict}: {outcome}.")
