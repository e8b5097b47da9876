from __future__ import annotations

from challenger_core import notifications
from challenger_core.notifications import ApprovalLinks
from challenger_core.policy import PromotionPolicy

CHAMPION = {"accuracy": 0.88, "f1": 0.88, "roc_auc": 0.94, "precision": 0.87, "recall": 0.89}
CHALLENGER = {"accuracy": 0.91, "f1": 0.915, "roc_auc": 0.95, "precision": 0.9, "recall": 0.93}


def verdict(challenger: dict[str, float] = CHALLENGER):  # type: ignore[no-untyped-def]
    return PromotionPolicy().evaluate(challenger, CHAMPION, challenger_version=7, champion_version=6)


def test_comparison_email_shows_both_models_per_metric() -> None:
    message = notifications.comparison(
        stack="prod", run_id="r1", dataset="reviews", verdict=verdict(), approval_mode="auto"
    )
    assert message.subject == "[Challenger prod] v7 beats the champion: deploying (auto mode)"
    header, rule = message.body.splitlines()[6:8]
    assert header.split() == ["metric", "champion", "v6", "challenger", "v7", "delta", "rule"]
    assert set(rule.replace(" ", "")) == {"-"}
    f1_row = next(line for line in message.body.splitlines() if line.startswith("f1 "))
    assert f1_row.split() == ["f1", "0.8800", "0.9150", "+0.0350", "primary", "pass"]
    assert "Verdict:  PROMOTE" in message.body


def test_rejection_email_says_why() -> None:
    message = notifications.comparison(
        stack="prod", run_id="r1", dataset="reviews", verdict=verdict({**CHAMPION, "f1": 0.87}), approval_mode="auto"
    )
    assert message.kind == "rejected"
    assert "KEEP CHAMPION" in message.body
    assert "not better enough" in message.body


def test_manual_mode_email_carries_links_and_expiry() -> None:
    links = ApprovalLinks("https://a/approve", "https://a/reject", "2026-11-24T10:00:00+00:00")
    message = notifications.comparison(
        stack="s", run_id="r", dataset="d", verdict=verdict(), approval_mode="manual", links=links
    )
    assert message.kind == "approval_request"
    assert "Approve: https://a/approve" in message.body
    assert "Reject:  https://a/reject" in message.body
    assert "works once, and expires at 2026-11-24T10:00:00+00:00" in message.body


def test_subject_stays_under_the_sns_limit() -> None:
    # SNS Publish refuses subjects of 100 characters or more (https://docs.aws.amazon.com/sns/latest/api/API_Publish.html)
    message = notifications.failed(stack="x" * 120, run_id="r", dataset="d", cause="c", serving_version=None)
    assert len(message.subject) == 99
    assert message.subject.endswith("...")


def test_subject_is_ascii_without_line_breaks() -> None:
    # Same page: ASCII text, no line breaks or control characters.
    message = notifications.deployed(
        stack="prod\nüber\x07", version=2, endpoint="ep", reason="approved", previous_version=None
    )
    assert message.subject == "[Challenger prod ?ber ] v2 is live on ep"


def test_failure_email_names_cause_and_who_serves() -> None:
    message = notifications.failed(stack="s", run_id="r9", dataset="reviews", cause="missing column", serving_version=3)
    assert "Cause:    missing column" in message.body
    assert "v3 keeps serving" in message.body
