from __future__ import annotations

from typing import Any

import pytest

from challenger_core.models import PairedComparison
from challenger_core.policy import PromotionPolicy
from challenger_core.recipe import RecipeSpec
from challenger_core.settings import Settings
from tests.support.stack import BASE_ENV

OWN = {"accuracy": 0.9, "f1": 0.9, "roc_auc": 0.95}


def policy(**overrides: Any) -> PromotionPolicy:
    base: dict[str, Any] = {
        "primary_metric": "f1",
        "floor_metric": "accuracy",
        "metric_floor": 0.8,
        "directions": {"accuracy": "higher", "f1": "higher", "roc_auc": "higher", "rmse": "lower", "mae": "lower"},
        "guardrail_metrics": ("accuracy", "roc_auc"),
    }
    return PromotionPolicy(**{**base, **overrides})


def paired(confidence: float = 0.95, rows: int = 400, **differences: tuple[float, float, float]) -> PairedComparison:
    """A comparison where each metric's difference is (delta, low, high); champion values are 0.5 (any)."""
    return PairedComparison.model_validate(
        {
            "champion_version": 1,
            "champion_artifact_sha256": "a" * 64,
            "rows": rows,
            "fingerprint": "f" * 64,
            "champion_metrics": dict.fromkeys(differences, 0.5),
            "challenger_metrics": {name: 0.5 + d[0] for name, d in differences.items()},
            "differences": {name: {"delta": d[0], "low": d[1], "high": d[2]} for name, d in differences.items()},
            "confidence": confidence,
            "method": "paired bootstrap, 2000 resamples",
        }
    )


def rule(verdict: Any, name: str, metric: str | None = None) -> Any:
    return next(r for r in verdict.rules if r.rule == name and (metric is None or r.metric == metric))


def test_first_model_only_needs_the_floor() -> None:
    verdict = policy().evaluate({**OWN, "accuracy": 0.81, "f1": 0.5}, challenger_version=1)
    assert verdict.promote
    assert [r.rule for r in verdict.rules] == ["floor"]
    assert verdict.decided_by == "floor accuracy"


def test_first_model_below_floor_is_rejected_with_the_numbers() -> None:
    verdict = policy().evaluate({**OWN, "accuracy": 0.79}, challenger_version=1)
    assert not verdict.promote
    assert verdict.reasons[0] == "floor accuracy: FAIL — 0.7900 on its hold-out; the floor is at least 0.8000"


def test_significant_improvement_promotes_and_the_primary_rule_decides() -> None:
    comparison = paired(f1=(0.03, 0.012, 0.05), accuracy=(0.02, 0.0, 0.04), roc_auc=(0.01, -0.01, 0.03))
    verdict = policy().evaluate(OWN, challenger_version=2, champion_version=1, comparison=comparison)
    assert verdict.promote
    assert verdict.decided_by == "primary f1"
    assert [r.rule for r in verdict.rules] == ["floor", "comparison", "primary", "guardrail", "guardrail"]
    primary = next(c for c in verdict.comparisons if c.name == "f1")
    assert (primary.role, primary.passed, primary.delta, primary.low, primary.high) == (
        "primary",
        True,
        0.03,
        0.012,
        0.05,
    )
    assert "+0.0300 [+0.0120, +0.0500] at 95%" in rule(verdict, "primary").detail
    assert (verdict.confidence, verdict.paired_rows) == (0.95, 400)


def test_improvement_whose_interval_includes_zero_is_noise() -> None:
    comparison = paired(f1=(0.01, -0.004, 0.025), accuracy=(0.0, -0.01, 0.01), roc_auc=(0.0, -0.01, 0.01))
    verdict = policy().evaluate(OWN, challenger_version=2, champion_version=1, comparison=comparison)
    assert not verdict.promote
    assert verdict.decided_by == "primary f1"
    assert "the interval includes zero" in rule(verdict, "primary").detail


def test_identical_models_never_promote() -> None:
    comparison = paired(f1=(0.0, 0.0, 0.0), accuracy=(0.0, 0.0, 0.0), roc_auc=(0.0, 0.0, 0.0))
    verdict = policy().evaluate(OWN, challenger_version=2, champion_version=1, comparison=comparison)
    assert not verdict.promote
    assert rule(verdict, "primary").detail.endswith("not better")


def test_improvement_below_min_improvement_keeps_the_champion() -> None:
    comparison = paired(f1=(0.004, 0.001, 0.007), accuracy=(0.0, 0, 0), roc_auc=(0.0, 0, 0))
    verdict = policy(min_improvement=0.01).evaluate(
        OWN, challenger_version=2, champion_version=1, comparison=comparison
    )
    assert not verdict.promote
    assert "less than MinImprovement 0.0100" in rule(verdict, "primary").detail


def test_lower_is_better_metric_improves_when_it_falls() -> None:
    lower = policy(primary_metric="rmse", floor_metric="rmse", metric_floor=10.0, guardrail_metrics=("mae",))
    own = {"rmse": 4.0, "mae": 3.0}
    better = paired(rmse=(-0.5, -0.8, -0.2), mae=(-0.1, -0.3, 0.01))
    verdict = lower.evaluate(own, challenger_version=2, champion_version=1, comparison=better)
    assert verdict.promote, verdict.reasons
    worse = paired(rmse=(0.5, 0.2, 0.8), mae=(0.0, 0, 0))
    verdict = lower.evaluate(own, challenger_version=2, champion_version=1, comparison=worse)
    assert not verdict.promote
    assert rule(verdict, "primary").detail.endswith("worse")


def test_lower_is_better_needs_the_upper_bound_below_zero() -> None:
    lower = policy(primary_metric="rmse", floor_metric="rmse", metric_floor=10.0, guardrail_metrics=())
    noisy = paired(rmse=(-0.5, -0.9, 0.1))
    verdict = lower.evaluate({"rmse": 4.0}, challenger_version=2, champion_version=1, comparison=noisy)
    assert not verdict.promote
    assert "the interval includes zero" in rule(verdict, "primary").detail


def test_lower_is_better_floor_is_a_maximum() -> None:
    lower = policy(primary_metric="rmse", floor_metric="rmse", metric_floor=5.0, guardrail_metrics=())
    verdict = lower.evaluate({"rmse": 5.5}, challenger_version=1)
    assert not verdict.promote
    assert "the floor is at most 5.0000" in verdict.reasons[0]


def test_guardrail_regression_beyond_tolerance_blocks_promotion() -> None:
    comparison = paired(f1=(0.05, 0.03, 0.07), accuracy=(0.0, -0.01, 0.01), roc_auc=(-0.03, -0.05, -0.01))
    verdict = policy(guardrail_tolerance=0.02).evaluate(
        OWN, challenger_version=2, champion_version=1, comparison=comparison
    )
    assert not verdict.promote
    assert verdict.decided_by == "guardrail roc_auc"
    guardrail = next(c for c in verdict.comparisons if c.name == "roc_auc")
    assert (guardrail.role, guardrail.passed) == ("guardrail", False)


def test_guardrail_on_a_lower_is_better_metric_fails_when_it_rises() -> None:
    lower = policy(primary_metric="f1", guardrail_metrics=("mae",), guardrail_tolerance=0.1)
    comparison = paired(f1=(0.05, 0.03, 0.07), mae=(0.2, 0.1, 0.3))
    verdict = lower.evaluate(OWN, challenger_version=2, champion_version=1, comparison=comparison)
    assert not verdict.promote
    assert verdict.decided_by == "guardrail mae"


def test_no_comparison_with_a_champion_present_is_not_promoted() -> None:
    verdict = policy().evaluate({**OWN, "f1": 0.99}, challenger_version=2, champion_version=1, comparison=None)
    assert not verdict.promote
    assert verdict.decided_by == "comparison"
    assert "no paired comparison with champion v1" in verdict.reasons[1]


def test_comparison_with_another_champion_is_not_a_comparison() -> None:
    comparison = paired(f1=(0.05, 0.03, 0.07), accuracy=(0, 0, 0), roc_auc=(0, 0, 0))
    verdict = policy().evaluate(OWN, challenger_version=3, champion_version=2, comparison=comparison)
    assert not verdict.promote
    assert "compared with v1, but the champion is now v2" in rule(verdict, "comparison").detail


def test_below_floor_fails_even_when_significantly_better() -> None:
    comparison = paired(f1=(0.05, 0.03, 0.07), accuracy=(0.05, 0.03, 0.07), roc_auc=(0, 0, 0))
    verdict = policy(metric_floor=0.95).evaluate(OWN, challenger_version=2, champion_version=1, comparison=comparison)
    assert not verdict.promote
    assert verdict.decided_by == "floor accuracy"


def test_missing_floor_metric_is_rejected_with_reason() -> None:
    verdict = policy().evaluate({"f1": 0.9}, challenger_version=1)
    assert not verdict.promote
    assert "did not report accuracy" in verdict.reasons[0]


@pytest.mark.parametrize(
    ("environment", "expected"),
    [
        ({}, ("f1", "accuracy", 0.8, ("accuracy", "roc_auc"), 0.95)),
        (
            {
                "PRIMARY_METRIC": "roc_auc",
                "FLOOR_METRIC": "f1",
                "METRIC_FLOOR": "0.7",
                "GUARDRAIL_METRICS": "none",
                "PROMOTION_CONFIDENCE": "0.99",
            },
            ("roc_auc", "f1", 0.7, (), 0.99),
        ),
        (
            {"PRIMARY_METRIC": "", "FLOOR_METRIC": "", "METRIC_FLOOR": "", "GUARDRAIL_METRICS": ""},
            ("f1", "accuracy", 0.8, ("accuracy", "roc_auc"), 0.95),
        ),
    ],
)
def test_template_parameters_override_the_recipe_and_empty_means_the_recipes(
    sentiment_recipe: RecipeSpec, environment: dict[str, str], expected: tuple[Any, ...]
) -> None:
    configured = PromotionPolicy.from_settings(Settings.from_env({**BASE_ENV, **environment}), sentiment_recipe)
    assert (
        configured.primary_metric,
        configured.floor_metric,
        configured.metric_floor,
        configured.guardrail_metrics,
        configured.confidence,
    ) == expected
    assert configured.direction("roc_auc") == "higher"


# Issue 19: the judge cannot be fooled by the data it judges ---------------------------------------------------------


def with_champion_intervals(comparison: PairedComparison, metric: str, low: float, high: float, point: float) -> Any:
    """The comparison with the champion's own interval and score on `metric` (what the kit reports)."""
    differences = dict(comparison.differences)
    differences[metric] = differences[metric].model_copy(update={"champion_low": low, "champion_high": high})
    return comparison.model_copy(
        update={"differences": differences, "champion_metrics": {**comparison.champion_metrics, metric: point}}
    )


def test_a_shuffled_upload_that_scores_the_champion_far_below_the_trusted_set_is_flagged_not_promoted() -> None:
    # The majority-class challenger "wins" on the shuffled rows; the champion dropped from 0.625 to 0.446 there.
    upload = with_champion_intervals(paired(accuracy=(0.075, 0.023, 0.127)), "accuracy", 0.40, 0.49, 0.446)
    trusted = with_champion_intervals(paired(rows=120, accuracy=(-0.199, -0.26, -0.14)), "accuracy", 0.56, 0.69, 0.625)
    accuracy_only = policy(primary_metric="accuracy", metric_floor=0.0, guardrail_metrics=())

    verdict = accuracy_only.evaluate(OWN, challenger_version=5, champion_version=1, comparison=upload, trusted=trusted)

    assert not verdict.promote
    assert verdict.requires_approval  # a person decides, in any approval mode
    assert verdict.decided_by == "label-shift accuracy"
    assert verdict.label_shift is not None
    assert verdict.label_shift.startswith("the new labels disagree with the live model")
    assert "0.4460" in verdict.label_shift
    assert "0.6250" in verdict.label_shift
    assert not rule(verdict, "trusted").passed  # and on the trusted rows the challenger is worse


def test_without_a_trusted_set_the_champions_recorded_score_is_the_label_shift_reference() -> None:
    upload = with_champion_intervals(paired(f1=(0.05, 0.02, 0.08)), "f1", 0.40, 0.49, 0.45)

    verdict = policy(guardrail_metrics=()).evaluate(
        OWN, challenger_version=2, champion_version=1, comparison=upload, champion_recorded={"f1": 0.88}
    )

    assert not verdict.promote
    assert verdict.decided_by == "label-shift f1"
    assert "0.8800 recorded on its own hold-out" in (verdict.label_shift or "")


def test_overlapping_intervals_raise_no_label_shift_and_a_better_model_promotes() -> None:
    upload = with_champion_intervals(paired(f1=(0.05, 0.02, 0.08)), "f1", 0.80, 0.90, 0.85)
    trusted = with_champion_intervals(paired(rows=100, f1=(0.02, -0.03, 0.07)), "f1", 0.82, 0.92, 0.87)

    verdict = policy(guardrail_metrics=()).evaluate(
        OWN, challenger_version=2, champion_version=1, comparison=upload, trusted=trusted
    )

    assert verdict.promote, verdict.reasons
    assert verdict.label_shift is None
    assert not verdict.requires_approval
    assert [r.rule for r in verdict.rules] == ["floor", "comparison", "label-shift", "primary", "trusted"]
    assert verdict.trusted_rows == 100


def test_a_challenger_worse_on_the_trusted_set_is_kept_out_even_when_it_wins_on_the_upload() -> None:
    upload = paired(f1=(0.05, 0.02, 0.08))
    trusted = paired(rows=100, f1=(-0.06, -0.11, -0.01))

    verdict = policy(guardrail_metrics=()).evaluate(
        OWN, challenger_version=2, champion_version=1, comparison=upload, trusted=trusted
    )

    assert not verdict.promote
    assert verdict.decided_by == "trusted f1"
    assert "whole interval is on the harmful side" in rule(verdict, "trusted").detail


def test_a_guardrail_is_judged_on_its_harmful_bound_and_says_which_bound_decided() -> None:
    # The point estimate (-0.01) is within the 0.02 tolerance; the lower bound (-0.05) is not.
    comparison = paired(f1=(0.05, 0.03, 0.07), accuracy=(-0.01, -0.05, 0.03), roc_auc=(0.0, -0.01, 0.01))

    verdict = policy(guardrail_tolerance=0.02).evaluate(
        OWN, challenger_version=2, champion_version=1, comparison=comparison
    )

    assert not verdict.promote
    assert verdict.decided_by == "guardrail accuracy"
    assert "decided by the lower bound -0.0500" in rule(verdict, "guardrail", "accuracy").detail


def test_a_real_gain_that_is_not_significant_says_how_many_rows_would_make_it_so() -> None:
    comparison = paired(rows=100, f1=(0.02, -0.02, 0.06), accuracy=(0.0, -0.01, 0.01), roc_auc=(0.0, -0.01, 0.01))

    verdict = policy().evaluate(
        OWN,
        challenger_version=2,
        champion_version=1,
        comparison=comparison,
        class_counts={"negative": 48, "positive": 52},
    )

    assert not verdict.promote
    # half-width 0.04 for a gain of 0.02: (0.04 / 0.02)^2 = 4 times the rows.
    assert "about 400 evaluation rows (300 more)" in verdict.note
    assert "interval is 0.0800 wide on 100 rows (per class: negative 48, positive 52)" in verdict.note


def test_a_datasets_policy_version_overrides_the_stack_and_the_verdict_names_it() -> None:
    from challenger_core.models import DatasetPolicy

    chosen = DatasetPolicy(dataset="reviews", version=3, primary_metric="accuracy", guardrail_metrics=[])

    verdict = (
        policy()
        .for_dataset(chosen)
        .evaluate(OWN, challenger_version=2, champion_version=1, comparison=paired(accuracy=(0.05, 0.02, 0.08)))
    )

    assert verdict.promote, verdict.reasons
    assert (verdict.policy_version, verdict.decided_by) == (3, "primary accuracy")


def test_new_ground_that_the_challenger_learns_is_not_a_label_shift_and_promotes() -> None:
    """Penguins v1 knew two islands; v2 adds Biscoe's Gentoos (measured: the champion's rmse 910 on v2's rows,
    320 on the trusted rows). The challenger learns the new rows and is not surely worse on the trusted ones."""
    penguins = policy(
        primary_metric="rmse", floor_metric="rmse", metric_floor=450.0, guardrail_metrics=(), label_shift_tolerance=0.0
    )
    upload = with_champion_intervals(paired(rows=63, rmse=(-590.6, -715.3, -446.7)), "rmse", 760.0, 1046.5, 910.0)
    trusted = with_champion_intervals(paired(rows=32, rmse=(6.8, -8.7, 21.2)), "rmse", 264.5, 371.8, 319.8)

    verdict = penguins.evaluate(
        {"rmse": 319.4}, challenger_version=2, champion_version=1, comparison=upload, trusted=trusted
    )

    assert verdict.promote, verdict.reasons
    assert verdict.label_shift is None
    assert "new ground, not contradicting labels" in rule(verdict, "label-shift").detail


def test_labels_that_look_like_noise_are_flagged_even_when_the_challenger_is_not_surely_worse_on_the_trusted_set() -> (
    None
):
    # Measured on UCI breast cancer with shuffled labels: nobody learns them.
    upload = with_champion_intervals(paired(accuracy=(-0.034, -0.144, 0.085)), "accuracy", 0.441, 0.619, 0.525)
    trusted = with_champion_intervals(paired(rows=29, accuracy=(-0.172, -0.379, 0.034)), "accuracy", 0.69, 0.966, 0.828)

    verdict = policy(primary_metric="accuracy", guardrail_metrics=()).evaluate(
        OWN, challenger_version=2, champion_version=1, comparison=upload, trusted=trusted
    )

    assert verdict.decided_by == "label-shift accuracy"
    assert "their labels look like noise" in (verdict.label_shift or "")
