from __future__ import annotations

from challenger_core import notifications
from challenger_core.models import PairedComparison, Verdict
from challenger_core.notifications import ApprovalLinks
from challenger_core.policy import PromotionPolicy

POLICY = PromotionPolicy(
    primary_metric="f1",
    floor_metric="accuracy",
    metric_floor=0.8,
    directions={"accuracy": "higher", "f1": "higher", "roc_auc": "higher", "log_loss": "lower"},
    guardrail_metrics=("accuracy", "roc_auc"),
)
CHALLENGER = {"accuracy": 0.91, "f1": 0.915, "roc_auc": 0.95, "log_loss": 0.3}


def comparison(f1_delta: float = 0.035, f1_low: float = 0.012) -> PairedComparison:
    champion = {"accuracy": 0.9, "f1": 0.915 - f1_delta, "roc_auc": 0.95, "log_loss": 0.32}
    differences = {
        "accuracy": {"delta": 0.01, "low": -0.005, "high": 0.025},
        "f1": {"delta": f1_delta, "low": f1_low, "high": f1_delta + 0.02},
        "roc_auc": {"delta": 0.0, "low": -0.01, "high": 0.01},
        "log_loss": {"delta": -0.02, "low": -0.04, "high": 0.0},
    }
    return PairedComparison.model_validate(
        {
            "champion_version": 6,
            "rows": 380,
            "fingerprint": "f" * 64,
            "champion_metrics": champion,
            "challenger_metrics": CHALLENGER,
            "differences": differences,
            "confidence": 0.95,
            "method": "paired bootstrap, 2000 resamples",
        }
    )


def verdict(paired: PairedComparison | None = None) -> Verdict:
    return POLICY.evaluate(CHALLENGER, challenger_version=7, champion_version=6, comparison=paired or comparison())


def test_comparison_email_shows_the_paired_difference_with_its_interval() -> None:
    message = notifications.comparison(
        stack="prod", run_id="r1", dataset="reviews", verdict=verdict(), approval_mode="auto"
    )
    assert message.subject == "[Challenger prod] v7 beats the champion: deploying (auto mode)"
    lines = message.body.splitlines()
    assert "Verdict:  PROMOTE (decided by the primary f1 rule)" in lines
    assert (
        "Both models scored on the same 380 unseen rows; intervals are 95% paired bootstrap confidence intervals "
        "of challenger − champion." in lines
    )
    header = next(line for line in lines if line.startswith("metric "))
    assert header.split() == ["metric", "champion", "v6", "challenger", "v7", "delta", "[interval]", "better", "rule"]
    f1_row = next(line for line in lines if line.startswith("f1 "))
    assert f1_row.split() == ["f1", "0.8800", "0.9150", "+0.0350", "[+0.0120,", "+0.0550]", "higher", "primary", "pass"]
    loss_row = next(line for line in lines if line.startswith("log_loss "))
    assert loss_row.split()[3:] == ["-0.0200", "[-0.0400,", "+0.0000]", "lower"]
    assert any(line.startswith("  - primary f1: pass — +0.0350 [+0.0120, +0.0550] at 95%") for line in lines)


def test_rejection_email_says_which_rule_decided() -> None:
    noisy = verdict(comparison(f1_delta=0.01, f1_low=-0.003))
    message = notifications.comparison(
        stack="prod", run_id="r1", dataset="reviews", verdict=noisy, approval_mode="auto"
    )
    assert message.kind == "rejected"
    assert "KEEP CHAMPION (decided by the primary f1 rule)" in message.body
    assert "the interval includes zero: the difference may be noise" in message.body


def test_no_comparison_email_says_so() -> None:
    missing = POLICY.evaluate(CHALLENGER, challenger_version=7, champion_version=6, comparison=None)
    message = notifications.comparison(stack="s", run_id="r", dataset="d", verdict=missing, approval_mode="auto")
    assert "No paired comparison with champion v6: the challenger cannot be promoted." in message.body
    assert "KEEP CHAMPION (decided by the comparison rule)" in message.body


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


def test_a_label_shift_email_asks_a_person_and_shows_both_evaluation_sets() -> None:
    from challenger_core.models import MetricComparison, RuleOutcome, Verdict

    shift = "the new labels disagree with the live model: the champion scores accuracy 0.4460 on the upload's rows"
    verdict = Verdict(
        promote=False,
        rules=[RuleOutcome(rule="label-shift", metric="accuracy", passed=False, detail="apart")],
        decided_by="label-shift accuracy",
        comparisons=[
            MetricComparison(name="accuracy", challenger=0.52, champion=0.446, delta=0.075, low=0.02, high=0.13)
        ],
        trusted_comparisons=[
            MetricComparison(name="accuracy", challenger=0.43, champion=0.625, delta=-0.2, low=-0.26, high=-0.14)
        ],
        champion_version=1,
        challenger_version=5,
        paired_rows=300,
        trusted_rows=120,
        trusted_set_version=1,
        label_shift=shift,
        requires_approval=True,
        policy_version=2,
    )

    message = notifications.comparison(stack="s", run_id="r", dataset="weather", verdict=verdict, approval_mode="auto")

    assert "needs a person: the new labels disagree with the live model" in message.subject
    assert f"WARNING: {shift}. Not promoted automatically: a person decides." in message.body
    assert "On the trusted evaluation set v1 (120 rows whose labels no upload can change):" in message.body
    assert "0.6250" in message.body  # the champion on the trusted rows
    assert "version 2 of this dataset's promotion policy" in message.body


def test_the_drift_email_links_to_the_dashboards_monitoring_view() -> None:
    # Issue 22: the drift email opens the per-feature drift history, not the overview.
    from challenger_core.drift import DriftReport, FeatureDrift

    report = DriftReport(
        version=3,
        samples=250,
        min_samples=100,
        threshold=0.2,
        drifts=[FeatureDrift(feature="review_text", statistic="length", psi=0.41, samples=250)],
    )
    message = notifications.drift_alert(
        stack="challenger", report=report, action="none", dashboard_url="https://d1.cloudfront.net/"
    )
    assert "Dashboard: https://d1.cloudfront.net/#/monitoring" in message.body
