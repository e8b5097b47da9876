"""`challenger runs show` prints the shadow stage (issue 23): its rules as the verdict states them, and the numbers."""

from __future__ import annotations

from challenger.cli import shadow_lines
from challenger_core.models import Verdict
from challenger_core.policy import PromotionPolicy
from challenger_core.shadow import ShadowObservation, measure


def observation(i: int, *, fails: bool) -> ShadowObservation:
    return ShadowObservation(
        request_id=f"r{i}",
        source="replay",
        instance={"island": "Dream" if i % 2 else "Biscoe"},
        champion_prediction={"label": 1},
        champion_latency_ms=20.0,
        shadow_prediction=None if fails else {"label": 1 if i % 10 else 0},
        shadow_latency_ms=None if fails else 30.0,
        shadow_error="model_error" if fails else None,
    )


def test_runs_show_lists_the_failed_shadow_rule_and_the_measurement() -> None:
    measured = measure([observation(i, fails=i >= 190) for i in range(200)], kind="binary", slices=["island"])
    rules = PromotionPolicy(primary_metric="f1", floor_metric="f1", metric_floor=0.5).shadow_rules(measured)
    verdict = Verdict(
        promote=False,
        rules=rules,
        comparisons=[],
        challenger_version=2,
        shadow=measured,
        shadow_note="shadow (replay) on 200 requests: rejected by shadow-errors",
    )

    lines = shadow_lines(verdict.model_dump(mode="json"))

    assert lines[0] == "shadow: shadow (replay) on 200 requests: rejected by shadow-errors"
    assert any(line.startswith("  shadow-errors: FAIL — shadow 10/200 errors (model_error 10)") for line in lines)
    assert "  requests 200: shadow errors 10 (model_error 10), champion errors 0" in lines
    assert "  agreement 171/190 (90.0%)" in lines
    assert "    disagreed 19/190 where champion label = 1" in lines


def test_runs_show_says_why_there_was_no_shadow_stage() -> None:
    verdict = Verdict(
        promote=True, comparisons=[], challenger_version=2, shadow_note="no shadow stage: ShadowMode is off"
    )
    assert shadow_lines(verdict.model_dump(mode="json")) == ["shadow: no shadow stage: ShadowMode is off"]
