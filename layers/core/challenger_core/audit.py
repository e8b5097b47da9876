"""Who decided what: the caller of a decision as API Gateway authenticated them, and the audit log entry.

Every decision that changes (or asks to change) what serves — approve, reject, rollback, retrain — is recorded
with the caller's identity, the time, the source address and user agent API Gateway saw, and the comment.
The caller is never taken from the request body: only from what the authorizer put in the request context
(docs/decisions/0007-operator-identity.md).
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Literal

from pydantic import Field

from challenger_core.models import AuditAction, AuditEntry, Model
from challenger_core.registry import Registry

Door = Literal["console", "operator", "email-link"]


class Caller(Model):
    """An authenticated operator (or a signed email link), with where the request came from."""

    actor: str = Field(min_length=1, max_length=2048)
    actor_id: str | None = None
    via: Door
    source_ip: str | None = None
    user_agent: str | None = Field(default=None, max_length=512)


def record(
    registry: Registry,
    caller: Caller,
    action: AuditAction,
    *,
    run_id: str | None = None,
    version: int | None = None,
    comment: str = "",
    detail: str = "",
) -> AuditEntry:
    """Append one decision to the audit log and return it."""
    entry = AuditEntry(
        audit_id=uuid.uuid4().hex,
        at=datetime.now(UTC),  # microseconds: decisions within a second keep their order
        action=action,
        actor=caller.actor,
        actor_id=caller.actor_id,
        via=caller.via,
        source_ip=caller.source_ip,
        user_agent=caller.user_agent,
        comment=comment,
        run_id=run_id,
        version=version,
        detail=detail,
    )
    registry.put_audit(entry)
    return entry
