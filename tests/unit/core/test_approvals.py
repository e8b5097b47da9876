from __future__ import annotations

from datetime import timedelta
from urllib.parse import parse_qs, urlparse

import pytest

from challenger_core import approvals
from challenger_core.errors import ApprovalLinkError
from challenger_core.models import utcnow

KEY = b"k" * 64


def link_fields(url: str) -> tuple[str, str, int, str]:
    parsed = urlparse(url)
    query = {name: values[0] for name, values in parse_qs(parsed.query).items()}
    return parsed.path.rsplit("/", 1)[1], query["decision"], int(query["expires"]), query["sig"]


def test_links_verify_and_carry_their_decision() -> None:
    links = approvals.make_links(KEY, "https://api.example/v1", "abc", utcnow() + timedelta(hours=1))
    assert links.approve_url.startswith("https://api.example/v1/approvals/abc?")
    for url, decision in ((links.approve_url, "approve"), (links.reject_url, "reject")):
        approval_id, carried, expires, sig = link_fields(url)
        assert approvals.verify(KEY, approval_id, carried, expires, sig) == decision


def test_switching_the_decision_breaks_the_signature() -> None:
    links = approvals.make_links(KEY, "https://api", "abc", utcnow() + timedelta(hours=1))
    approval_id, _, expires, sig = link_fields(links.reject_url)
    with pytest.raises(ApprovalLinkError, match="signature does not match"):
        approvals.verify(KEY, approval_id, "approve", expires, sig)


def test_extending_the_expiry_breaks_the_signature() -> None:
    links = approvals.make_links(KEY, "https://api", "abc", utcnow() + timedelta(hours=1))
    approval_id, decision, expires, sig = link_fields(links.approve_url)
    with pytest.raises(ApprovalLinkError, match="signature"):
        approvals.verify(KEY, approval_id, decision, expires + 86400, sig)


def test_another_key_is_refused() -> None:
    links = approvals.make_links(KEY, "https://api", "abc", utcnow() + timedelta(hours=1))
    with pytest.raises(ApprovalLinkError):
        approvals.verify(b"other", *link_fields(links.approve_url))


def test_expired_link_is_refused() -> None:
    links = approvals.make_links(KEY, "https://api", "abc", utcnow() - timedelta(seconds=1))
    with pytest.raises(ApprovalLinkError, match="expired"):
        approvals.verify(KEY, *link_fields(links.approve_url))


def test_unknown_decision_is_refused() -> None:
    with pytest.raises(ApprovalLinkError, match="unknown decision"):
        approvals.verify(KEY, "abc", "maybe", 9999999999, "00")
