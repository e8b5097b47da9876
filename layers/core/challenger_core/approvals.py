"""Signed, expiring, single-use approval links.

A link carries `decision`, `expires` and an HMAC-SHA256 signature over (approval id, decision, expires)
with a key from Secrets Manager. The signature proves the link came from us; the registry's conditional
write (PENDING → decided) makes it single use; `expires` bounds its life.
"""

from __future__ import annotations

import hashlib
import hmac
import uuid
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Literal
from urllib.parse import urlencode

from challenger_core.errors import ApprovalLinkError, ConflictError, TaskClosedError
from challenger_core.models import Approval, ApprovalDecision, TrainingState, utcnow

if TYPE_CHECKING:  # the API verifies and decides links; only the email side needs notifications and SNS
    from challenger_core.adapters.notifier import Notifier
    from challenger_core.adapters.workflow import Workflow
    from challenger_core.cost import RunCost
    from challenger_core.notifications import ApprovalLinks
    from challenger_core.registry import Registry
    from challenger_core.settings import Settings

Decision = Literal["approve", "reject"]


def sign(key: bytes, approval_id: str, decision: Decision, expires: int) -> str:
    """HMAC-SHA256 over the fields a link carries, hex encoded."""
    message = f"{approval_id}\n{decision}\n{expires}".encode()
    return hmac.new(key, message, hashlib.sha256).hexdigest()


def make_links(key: bytes, api_url: str, approval_id: str, expires_at: datetime) -> ApprovalLinks:
    """The approve and reject URLs for an email; each opens a confirmation page (GET never decides)."""
    from challenger_core.notifications import ApprovalLinks  # noqa: PLC0415  # the email side only (see above)

    expires = int(expires_at.timestamp())

    def url(decision: Decision) -> str:
        query = urlencode({"decision": decision, "expires": expires, "sig": sign(key, approval_id, decision, expires)})
        return f"{api_url.rstrip('/')}/approvals/{approval_id}?{query}"

    return ApprovalLinks(approve_url=url("approve"), reject_url=url("reject"), expires_at=expires_at.isoformat())


def verify(
    key: bytes, approval_id: str, decision: str, expires: int, signature: str, *, now: datetime | None = None
) -> Decision:
    """Check a link's signature and expiry; return the decision it carries or raise ApprovalLinkError."""
    if decision not in ("approve", "reject"):
        raise ApprovalLinkError(f"unknown decision {decision!r}")
    expected = sign(key, approval_id, decision, expires)  # type: ignore[arg-type]
    if not hmac.compare_digest(expected, signature):
        raise ApprovalLinkError("the link's signature does not match: it was altered or is not ours")
    if (now or utcnow()).timestamp() > expires:
        raise ApprovalLinkError("the link has expired")
    return decision  # type: ignore[return-value]


# --------------------------------------------------------------------------------------------------
# The human-in-the-loop flow around the links


def request_approval(
    state: TrainingState,
    task_token: str,
    *,
    registry: Registry,
    notifier: Notifier,
    key: bytes,
    settings: Settings,
    cost: RunCost | None = None,
) -> Approval:
    """Store a pending approval holding the task token, and email the comparison (and the run's cost so far) with
    signed links."""
    from challenger_core import notifications  # noqa: PLC0415  # the email side only (see the imports)

    assert state.verdict is not None and state.candidate is not None, "CompareWithChampion must run first"
    approval = Approval(
        approval_id=uuid.uuid4().hex,
        run_id=state.run.run_id,
        version=state.candidate.version,
        task_token=task_token,
        expires_at=utcnow() + timedelta(seconds=settings.approval_ttl_seconds),
    )
    registry.put_approval(approval)
    links = make_links(key, settings.api_url, approval.approval_id, approval.expires_at)
    notifier.send(
        notifications.comparison(
            stack=settings.stack_name,
            run_id=state.run.run_id,
            dataset=state.run.dataset,
            verdict=state.verdict,
            approval_mode=settings.approval_mode,
            links=links,
            cost=cost,
        )
    )
    return approval


def decide(
    approval_id: str, *, approved: bool, actor: str, comment: str, registry: Registry, workflow: Workflow
) -> Approval:
    """Resume the waiting pipeline with the decision, then record it; ConflictError on a replay.

    Order matters for retries (a Lambda retried after a fault at any call): first a conditional claim names
    the decision (so two people clicking approve and reject cannot both send one), then the task result goes
    to Step Functions, and only then is the approval marked decided. A retry of the same decision finds its
    own claim and finishes; a crash after sending never leaves the pipeline waiting on a "decided" approval.
    """
    decision: Decision = "approve" if approved else "reject"
    claimed = registry.claim_approval(approval_id, decision=decision, actor=actor)
    try:
        workflow.succeed_task(
            claimed.approval.task_token,
            ApprovalDecision(approved=approved, actor=actor, comment=comment).model_dump(),
        )
    except TaskClosedError:
        # The task no longer waits. On a retry of our own claim it was our earlier send that closed it;
        # on a first attempt the pipeline moved on (timed out) and nothing was decided.
        if claimed.fresh:
            registry.release_claim(approval_id, decision=decision)
            raise ConflictError(f"approval {approval_id}: the pipeline no longer waits for it (timed out)") from None
    return registry.decide_approval(approval_id, approved=approved, actor=actor)
