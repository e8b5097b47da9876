"""The shadow stage's measurement and rules (issue 23): errors by kind, paired latency, agreement by slice."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from challenger_core import operations
from challenger_core.errors import ServiceError, TransientServiceError
from challenger_core.models import DatasetPolicy
from challenger_core.policy import PromotionPolicy
from challenger_core.recipe import RecipeSpec
from challenger_core.shadow import (
    ShadowObservation,
    dump_observations,
    load_observations,
    measure,
    newcombe,
    parse_capture_lines,
    percentile,
    wilson,
)
from challenger_core.shadowing import error_kind

ROOT = Path(__file__).resolve().parents[3]


def obs(i: int, *, label: Any = 1, shadow: Any = 1, **fields: Any) -> ShadowObservation:
    values: dict[str, Any] = {
        "request_id": f"r{i}",
        "source": "replay",
        "instance": {"review_text": f"text {i}", "island": "Biscoe" if i % 2 else "Dream"},
        "champion_prediction": {"label": label, "score": 0.9},
        "champion_latency_ms": 20.0,
        "shadow_prediction": None if shadow is None else {"label": shadow, "score": 0.8},
        "shadow_latency_ms": 25.0,
    }
    values.update(fields)
    return ShadowObservation.model_validate(values)


def policy(**overrides: Any) -> PromotionPolicy:
    return PromotionPolicy(primary_metric="f1", floor_metric="accuracy", metric_floor=0.5, **overrides)


def rule(rules: list[Any], name: str) -> Any:
    return next(r for r in rules if r.rule == name)


def test_observations_round_trip_as_json_lines() -> None:
    written = [obs(1), obs(2, shadow=None, shadow_error="model_error")]
    assert list(load_observations(dump_observations(written))) == written


def test_capture_lines_old_and_new_are_read_and_garbage_is_skipped() -> None:
    body = (
        b'{"ts": "2026-12-01T10:00:00Z", "instance": {"a": 1}, "prediction": {"label": 1}}\n'
        b"not json\n"
        b'{"ts": "2026-12-01T10:00:01Z", "instance": {"a": 2}, "prediction": null, "request_id": "x", '
        b'"latency_ms": 12.5, "error": "model_error", "new_field": 3}\n'
    )
    old, new = parse_capture_lines(body)
    assert old.latency_ms is None
    assert old.request_id is None
    assert new.latency_ms == 12.5
    assert new.error == "model_error"
    assert new.request_id == "x"


def test_errors_are_counted_by_kind_and_excluded_from_agreement() -> None:
    observations = [obs(i) for i in range(95)] + [
        obs(100 + i, shadow=None, shadow_error="model_error", shadow_latency_ms=None) for i in range(4)
    ]
    observations.append(obs(200, shadow=None, shadow_error="timeout", shadow_latency_ms=None))
    measured = measure(observations, kind="binary")
    assert measured.requests == 100
    assert measured.shadow_errors == 5
    assert measured.shadow_errors_by_kind == {"model_error": 4, "timeout": 1}
    assert measured.champion_errors == 0
    assert (measured.compared, measured.agreed) == (95, 95)


def test_a_request_replayed_twice_is_counted_once() -> None:
    measured = measure([obs(1), obs(1, shadow=0), obs(2)], kind="binary")
    assert (measured.requests, measured.compared, measured.agreed) == (2, 2, 2)


def test_disagreement_is_broken_down_by_champion_label_and_recipe_slices() -> None:
    observations = [obs(i, label=1, shadow=0 if i < 3 else 1) for i in range(10)]
    observations += [obs(10 + i, label=0, shadow=0) for i in range(10)]
    measured = measure(observations, kind="binary", slices=["island"], sample_size=2)
    by = {(s.slice, s.value): (s.requests, s.disagreed) for s in measured.disagreement}
    assert by[("champion label", "1")] == (10, 3)
    assert by[("champion label", "0")] == (10, 0)
    assert by[("island", "Dream")] == (10, 2)  # r0, r2 are even
    assert by[("island", "Biscoe")] == (10, 1)
    assert measured.agreement == pytest.approx(17 / 20)
    assert [o.request_id for o in measured.disagreeing_sample] == ["r0", "r1"]


def test_regression_agrees_within_the_recipe_tolerance_only() -> None:
    def reg(i: int, champion: float, shadow: float) -> ShadowObservation:
        return obs(i, champion_prediction={"value": champion}, shadow_prediction={"value": shadow})

    measured = measure([reg(1, 4000.0, 4040.0), reg(2, 4000.0, 4100.0)], kind="regression", tolerance=50.0)
    assert (measured.compared, measured.agreed) == (2, 1)
    assert all(s.slice != "champion label" for s in measured.disagreement)


def test_latency_percentiles_use_only_requests_with_both_latencies() -> None:
    observations = [obs(i, champion_latency_ms=float(i + 1), shadow_latency_ms=float(2 * (i + 1))) for i in range(100)]
    observations.append(obs(500, champion_latency_ms=None, shadow_latency_ms=10_000.0))  # an old capture
    measured = measure(observations, kind="binary")
    assert measured.latency_pairs == 100
    assert (measured.champion_p50_ms, measured.champion_p99_ms) == (50.0, 99.0)
    assert (measured.shadow_p50_ms, measured.shadow_p99_ms) == (100.0, 198.0)
    assert percentile([], 0.5) is None


def test_wilson_and_newcombe_match_published_values() -> None:
    # Newcombe (1998), Statistics in Medicine 17:857, table II example (e): 56/70 vs 48/80 → [0.0524, 0.3339].
    # Wilson for 56/70 by hand: centre 0.8274/1.0549 = 0.7844, half 1.96 × 0.04982 / 1.0549 = 0.0926.
    low, high = wilson(56, 70, 0.95)
    assert (round(low, 4), round(high, 4)) == (0.6918, 0.8770)
    difference, low, high = newcombe(56, 70, 48, 80, 0.95)
    assert round(difference, 4) == 0.2
    assert (round(low, 4), round(high, 4)) == (0.0524, 0.3339)


def test_a_challenger_erring_on_five_percent_of_requests_fails_the_error_rule() -> None:
    observations = [obs(i) for i in range(190)]
    observations += [obs(1000 + i, shadow=None, shadow_error="model_error") for i in range(10)]
    rules = policy().shadow_rules(measure(observations, kind="binary"))
    errors = rule(rules, "shadow-errors")
    assert not errors.passed
    assert "10/200" in errors.detail
    assert "model_error 10" in errors.detail


def test_one_error_in_two_hundred_is_within_the_interval() -> None:
    observations = [obs(i) for i in range(199)] + [obs(999, shadow=None, shadow_error="timeout")]
    assert rule(policy().shadow_rules(measure(observations, kind="binary")), "shadow-errors").passed


def test_the_champion_erring_as_often_passes_the_error_rule() -> None:
    observations = [obs(i) for i in range(180)]
    observations += [
        obs(1000 + i, label=None, shadow=None, champion_error="model_error", shadow_error="model_error")
        for i in range(20)
    ]
    assert rule(policy().shadow_rules(measure(observations, kind="binary")), "shadow-errors").passed


@pytest.mark.parametrize(("shadow_ms", "passes"), [(300.0, True), (450.0, False)])
def test_p99_latency_must_stay_within_the_declared_ratio(shadow_ms: float, passes: bool) -> None:
    observations = [obs(i, champion_latency_ms=200.0, shadow_latency_ms=shadow_ms) for i in range(50)]
    latency = rule(policy(shadow_p99_ratio=2.0).shadow_rules(measure(observations, kind="binary")), "shadow-latency")
    assert latency.passed is passes


def test_small_latencies_are_judged_with_the_slack_not_the_ratio() -> None:
    observations = [obs(i, champion_latency_ms=3.0, shadow_latency_ms=20.0) for i in range(50)]
    assert rule(policy().shadow_rules(measure(observations, kind="binary")), "shadow-latency").passed


def test_latency_is_not_judged_without_champion_latencies() -> None:
    observations = [obs(i, champion_latency_ms=None) for i in range(50)]
    latency = rule(policy().shadow_rules(measure(observations, kind="binary")), "shadow-latency")
    assert latency.passed
    assert "not judged" in latency.detail


def test_agreement_is_a_rule_only_when_the_owner_sets_a_floor() -> None:
    observations = [obs(i, label=1, shadow=0 if i < 20 else 1) for i in range(100)]
    measured = measure(observations, kind="binary")
    assert [r.rule for r in policy().shadow_rules(measured)] == ["shadow-errors", "shadow-latency"]
    assert not rule(policy(shadow_agreement_floor=0.9).shadow_rules(measured), "shadow-agreement").passed
    assert rule(policy(shadow_agreement_floor=0.8).shadow_rules(measured), "shadow-agreement").passed


def test_a_dataset_policy_sets_the_shadow_thresholds() -> None:
    chosen = DatasetPolicy(dataset="d", version=2, shadow_p99_ratio=1.2, shadow_agreement_floor=0.95)
    judged = policy().for_dataset(chosen)
    assert (judged.shadow_p99_ratio, judged.shadow_agreement_floor) == (1.2, 0.95)


def test_recipe_shadow_slices_must_name_features() -> None:
    raw = json.loads((Path(__file__).parents[3] / "recipes" / "penguins" / "recipe.json").read_text())
    spec = RecipeSpec.model_validate({**raw, "shadow": {"tolerance": 100, "slices": ["island"]}})
    assert spec.shadow.slices == ["island"]
    with pytest.raises(ValueError, match="not features"):
        RecipeSpec.model_validate({**raw, "shadow": {"slices": ["wingspan"]}})


@pytest.mark.parametrize(
    ("error", "kind"),
    [
        (ServiceError("sagemaker-runtime InvokeEndpoint x: ModelError: Received server error (500)"), "model_error"),
        (TransientServiceError("sagemaker-runtime InvokeEndpoint x: ThrottlingException: Rate exceeded"), "throttled"),
        (TransientServiceError("sagemaker-runtime InvokeEndpoint x: ModelNotReadyException: cold"), "throttled"),
        (TransientServiceError("sagemaker-runtime InvokeEndpoint x: Read timeout on endpoint URL"), "timeout"),
        (ServiceError("sagemaker-runtime InvokeEndpoint x: ValidationError: Endpoint x not found"), "client_error"),
        (TransientServiceError("sagemaker-runtime InvokeEndpoint x: InternalFailure: boom"), "model_error"),
    ],
)
def test_invoke_failures_are_sorted_into_error_kinds(error: Exception, kind: str) -> None:
    assert error_kind(error) == kind


@pytest.mark.parametrize(
    ("mode", "stage"),
    [
        ("off", ["StartShadow", "ShadowSkipped?"]),
        ("replay", ["StartShadow", "ShadowSkipped?", "WaitForShadow", "CheckShadow", "ShadowReady?", "ReplayShadow"]),
        ("mirror", ["StartShadow", "ShadowSkipped?", "WaitForShadow", "CheckShadow", "ShadowReady?", "MirrorWindow"]),
    ],
)
def test_a_running_runs_plan_follows_the_stacks_shadow_mode(mode: str, stage: list[str]) -> None:
    definition = json.loads((ROOT / "statemachine" / "training_pipeline.asl.json").read_text(encoding="utf-8"))
    plan = operations._ahead(definition, "NotifyComparison", operations.unreachable_states("auto", mode))
    judged = ["JudgeShadow", "DeleteShadow", "ShadowPassed?"] if mode != "off" else []
    assert plan == [*stage, *judged, "DeployModel", "RecordDeployed", "Deployed"]
