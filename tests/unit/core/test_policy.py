from __future__ import annotations

import pytest

from challenger_core.policy import PromotionPolicy

CHAMPION = {"accuracy": 0.88, "precision": 0.87, "recall": 0.89, "f1": 0.88, "roc_auc": 0.94}


def metrics(**overrides: float) -> dict[str, float]:
    return {**CHAMPION, **overrides}


def test_first_model_only_needs_the_floor() -> None:
    verdict = PromotionPolicy().evaluate(metrics(accuracy=0.81, f1=0.5), None, challenger_version=1)
    assert verdict.promote
    assert any("no champion yet" in reason for reason in verdict.reasons)


def test_first_model_below_floor_is_rejected() -> None:
    verdict = PromotionPolicy(metric_floor=0.8).evaluate(metrics(accuracy=0.79), None, challenger_version=1)
    assert not verdict.promote
    assert "is below the floor 0.8000" in verdict.reasons[0]


def test_better_primary_metric_promotes() -> None:
    verdict = PromotionPolicy().evaluate(metrics(f1=0.90), CHAMPION, challenger_version=2, champion_version=1)
    assert verdict.promote
    primary = next(c for c in verdict.comparisons if c.name == "f1")
    assert primary.role == "primary"
    assert primary.passed is True
    assert primary.delta == pytest.approx(0.02)


def test_tie_on_primary_metric_keeps_champion() -> None:
    verdict = PromotionPolicy(min_improvement=0.0).evaluate(
        CHAMPION, CHAMPION, challenger_version=2, champion_version=1
    )
    assert not verdict.promote


def test_improvement_below_minimum_keeps_champion() -> None:
    policy = PromotionPolicy(min_improvement=0.01)
    verdict = policy.evaluate(metrics(f1=0.885), CHAMPION, challenger_version=2, champion_version=1)
    assert not verdict.promote
    assert "not better enough" in " ".join(verdict.reasons)


def test_guardrail_regression_beyond_tolerance_blocks_promotion() -> None:
    policy = PromotionPolicy(guardrail_tolerance=0.01)
    verdict = policy.evaluate(metrics(f1=0.95, roc_auc=0.90), CHAMPION, challenger_version=2, champion_version=1)
    assert not verdict.promote
    guardrail = next(c for c in verdict.comparisons if c.name == "roc_auc")
    assert (guardrail.role, guardrail.passed) == ("guardrail", False)
    assert any("guardrail roc_auc regressed" in reason for reason in verdict.reasons)


def test_guardrail_regression_within_tolerance_is_allowed() -> None:
    policy = PromotionPolicy(guardrail_tolerance=0.02)
    verdict = policy.evaluate(metrics(f1=0.95, roc_auc=0.93), CHAMPION, challenger_version=2, champion_version=1)
    assert verdict.promote


def test_better_challenger_below_floor_is_rejected() -> None:
    policy = PromotionPolicy(metric_floor=0.9)
    verdict = policy.evaluate(metrics(f1=0.95, accuracy=0.89), CHAMPION, challenger_version=2, champion_version=1)
    assert not verdict.promote


def test_missing_required_metric_is_rejected_with_reason() -> None:
    verdict = PromotionPolicy().evaluate({"accuracy": 0.9}, CHAMPION, challenger_version=2, champion_version=1)
    assert not verdict.promote
    assert "did not report required metric(s): f1" in verdict.reasons[0]
