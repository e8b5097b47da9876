"""The shadow stage (issue 23) in TrainingPipeline under moto's ASL engine: replay the champion's captured requests on
the challenger's serverless shadow endpoint, judge, delete the endpoint — and stop the swap when a shadow rule fails."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import boto3
import pytest

from challenger_core.mirror import MirrorStore
from challenger_core.models import ModelStatus, NotificationKind, RunOutcome
from challenger_core.settings import Settings
from challenger_core.shadow import ShadowObservation, dump_observations, observations_key
from challenger_core.shadowing import shadow_endpoint_name
from tests.support.emails import email_of, sent
from tests.support.fake_sagemaker import evaluation, fake_predict
from tests.unit.statemachines.conftest import Cloud
from tests.unit.statemachines.test_training_pipeline import _approval_link, _confirm

DATA = Path(__file__).resolve().parents[3] / "recipes" / "sentiment" / "data"
TRAIN_V1 = (DATA / "train_v1.csv").read_bytes()
TRAIN_V2 = (DATA / "train_v2.csv").read_bytes()
TEST = (DATA / "test.csv").read_bytes()
UNSEEN = "zzunseen"  # a word the challenger's (fake) model fails on: inputs its training never had
SHADOW_STATES = ["StartShadow", "ShadowSkipped?", "WaitForShadow", "CheckShadow", "ShadowReady?", "ReplayShadow"]


def shadow_settings(cloud: Cloud) -> Settings:
    environment = cloud.runtime.get(cloud.template.name("ShadowStageFunction"))
    assert environment is not None
    return Settings.from_env(dict(environment.environment))


def champion_live_with_captures(cloud: Cloud, *, requests: int = 200, unseen: int = 0, deployed: bool = False) -> None:
    """v1 serves, and `requests` of its answers were captured (`unseen` of them with a word nobody trained on)."""
    if not deployed:
        cloud.sagemaker.training_results = [evaluation(0.85)]
        assert cloud.run("reviews", TRAIN_V1, TEST)["status"] == "SUCCEEDED"
    lines = []
    for i in range(requests):
        text = f"review number {i} {UNSEEN if i < unseen else 'good'}"
        instance = {"review_text": text}
        lines.append(
            json.dumps(
                {
                    "ts": f"2026-12-07T10:{i // 60:02d}:{i % 60:02d}Z",
                    "instance": instance,
                    "prediction": fake_predict(instance),
                    "latency_ms": 30.0,
                    "request_id": f"req-{i}",
                }
            )
        )
    cloud.s3.put_object(
        Bucket=cloud.template.ref("ArtifactBucket"),
        Key="captures/model=v1/date=2026-12-07/batch-1.jsonl",
        Body=("\n".join(lines) + "\n").encode(),
    )
    module = cloud.runtime.module(cloud.template.name("ShadowStageFunction"))
    module.settings.shadow_rate_per_second = 100.0  # the pace is the shadow's; the test need not wait 20 s


def shadow_gone(cloud: Cloud) -> bool:
    endpoint = cloud.sagemaker.endpoints.get(shadow_endpoint_name(shadow_settings(cloud)))
    return endpoint is None or endpoint["status"] == "Deleting"


def rule(verdict: Any, name: str) -> Any:
    return next(r for r in verdict.rules if r.rule == name)


def test_a_challenger_erring_on_five_percent_of_real_requests_is_stopped_although_offline_metrics_promote_it(
    cloud: Cloud,
) -> None:
    champion_live_with_captures(cloud, requests=200, unseen=10)
    cloud.sagemaker.shadow_fails_on = UNSEEN
    cloud.sagemaker.training_results = [evaluation(0.93)]  # offline: clearly better
    execution = cloud.run("reviews", TRAIN_V2, TEST)

    assert execution["status"] == "SUCCEEDED"
    states = cloud.states_entered(execution["executionArn"])
    assert states[states.index("StartShadow") :] == [
        *SHADOW_STATES,
        "JudgeShadow",
        "DeleteShadow",
        "ShadowPassed?",
        "NotifyRejected",
        "RecordRejected",
        "ChampionKept",
    ]
    assert "DeployModel" not in states
    assert cloud.registry.get_champion().version == 1  # type: ignore[union-attr]
    model = cloud.registry.get_model(2)
    assert model.status is ModelStatus.REJECTED
    assert model.verdict is not None
    assert not model.verdict.promote
    assert model.verdict.decided_by == "shadow-errors"
    errors = rule(model.verdict, "shadow-errors")
    assert not errors.passed
    assert "10/200" in errors.detail
    assert model.verdict.shadow is not None
    assert model.verdict.shadow.shadow_errors_by_kind == {"model_error": 10}
    assert cloud.registry.list_runs()[0].outcome is RunOutcome.REJECTED
    assert shadow_gone(cloud)
    email = email_of(sent(cloud), NotificationKind.REJECTED)
    assert "shadow-errors: FAIL" in email.body
    assert "  errors: challenger 10/200 (model_error 10), champion 0/200" in email.body


def test_a_healthy_challenger_passes_the_shadow_and_is_swapped(cloud: Cloud) -> None:
    champion_live_with_captures(cloud, requests=200)
    cloud.sagemaker.training_results = [evaluation(0.93)]
    execution = cloud.run("reviews", TRAIN_V2, TEST)

    assert execution["status"] == "SUCCEEDED"
    states = cloud.states_entered(execution["executionArn"])
    assert states[states.index("JudgeShadow") :][:4] == ["JudgeShadow", "DeleteShadow", "ShadowPassed?", "DeployModel"]
    assert cloud.registry.get_champion().version == 2  # type: ignore[union-attr]
    verdict = cloud.registry.get_model(2).verdict
    assert verdict is not None
    assert verdict.shadow is not None
    assert (verdict.shadow.requests, verdict.shadow.compared, verdict.shadow.agreed) == (200, 200, 200)
    assert all(r.passed for r in verdict.rules if r.rule.startswith("shadow-"))
    assert shadow_gone(cloud)


def test_a_shadow_endpoint_that_fails_to_start_fails_the_run_and_is_deleted(cloud: Cloud) -> None:
    champion_live_with_captures(cloud, requests=20)
    cloud.sagemaker.update_failures = ["the model container failed its ping health check"]  # the next change
    cloud.sagemaker.training_results = [evaluation(0.93)]
    execution = cloud.run("reviews", TRAIN_V2, TEST)

    assert execution["status"] == "FAILED"
    states = cloud.states_entered(execution["executionArn"])
    assert states[states.index("ShadowReady?") :] == [
        "ShadowReady?",
        "ShadowEndpointFailed",
        "DeleteShadowAfterError",
        "RecordFailure",
        "NotifyFailure",
        "PipelineFailed",
    ]
    assert cloud.registry.get_champion().version == 1  # type: ignore[union-attr]
    run = cloud.registry.list_runs()[0]
    assert run.outcome is RunOutcome.FAILED
    assert "ping health check" in (run.error or "")
    assert any(
        call.startswith("DeleteEndpointConfig") and call.endswith("-shadow-config") for call in cloud.sagemaker.calls
    )


@pytest.mark.parametrize(("mode", "captures", "why"), [("off", 20, "ShadowMode is off"), ("replay", 0, "no captured")])
def test_no_shadow_stage_is_recorded_with_its_reason(cloud_factory, mode: str, captures: int, why: str) -> None:  # type: ignore[no-untyped-def]
    cloud = cloud_factory(ShadowMode=mode)
    if captures:
        champion_live_with_captures(cloud, requests=captures)
    else:
        cloud.sagemaker.training_results = [evaluation(0.85)]
        assert cloud.run("reviews", TRAIN_V1, TEST)["status"] == "SUCCEEDED"
    cloud.sagemaker.training_results = [evaluation(0.93)]
    execution = cloud.run("reviews", TRAIN_V2, TEST)

    assert execution["status"] == "SUCCEEDED"
    assert "CheckShadow" not in cloud.states_entered(execution["executionArn"])
    assert cloud.registry.get_champion().version == 2  # type: ignore[union-attr]
    verdict = cloud.registry.get_model(2).verdict
    assert verdict is not None
    assert why in verdict.shadow_note


def test_an_approved_challenger_is_still_stopped_by_the_shadow_and_the_reason_is_the_shadows(cloud_factory) -> None:  # type: ignore[no-untyped-def]
    cloud = cloud_factory(ApprovalMode="manual")
    cloud.sagemaker.training_results = [evaluation(0.85)]
    cloud.upload("reviews", TRAIN_V1, TEST)
    first = cloud.executions()[0]["executionArn"]
    cloud.wait(first, until="RequestApproval")
    assert _confirm(cloud, _approval_link(cloud, "approve"))["statusCode"] == 200
    assert cloud.wait(first)["status"] == "SUCCEEDED"
    sent(cloud)  # the first run's remaining emails
    champion_live_with_captures(cloud, requests=200, unseen=10, deployed=True)
    cloud.sagemaker.shadow_fails_on = UNSEEN
    cloud.sagemaker.training_results = [evaluation(0.93)]

    started = cloud.upload("reviews", TRAIN_V2, TEST)
    second = next(e["executionArn"] for e in cloud.executions() if e["executionArn"] != first)
    cloud.wait(second, until="RequestApproval")
    assert _confirm(cloud, _approval_link(cloud, "approve"))["statusCode"] == 200

    assert cloud.wait(second)["status"] == "SUCCEEDED"
    assert cloud.states_entered(second)[-3:] == ["NotifyRejected", "RecordRejected", "ChampionKept"]
    assert cloud.registry.get_run(started["run_id"]).outcome is RunOutcome.REJECTED
    model = cloud.registry.get_model(2)
    assert model.status is ModelStatus.REJECTED
    assert (model.failure_reason or "").startswith("rejected by the shadow stage: shadow-errors")
    assert cloud.registry.get_champion().version == 1  # type: ignore[union-attr]
    assert shadow_gone(cloud)


def test_mirror_mode_opens_the_window_judges_what_was_mirrored_and_closes_it(cloud_factory) -> None:  # type: ignore[no-untyped-def]
    cloud = cloud_factory(ShadowMode="mirror", ShadowMinutes="1")  # the window: one minute of live traffic
    cloud.sagemaker.training_results = [evaluation(0.85)]
    assert cloud.run("reviews", TRAIN_V1, TEST)["status"] == "SUCCEEDED"
    cloud.sagemaker.training_results = [evaluation(0.93)]
    started = cloud.upload("reviews", TRAIN_V2, TEST)
    arn = f"{cloud.arn('TrainingPipeline').replace(':stateMachine:', ':execution:')}:{started['run_id']}"
    assert cloud.wait(arn, until="MirrorWindow")["status"] == "RUNNING"

    mirrors = MirrorStore(boto3.client("dynamodb"), cloud.template.ref("ModelsTable"))
    window = mirrors.active()
    assert window is not None
    assert (window.run_id, window.share) == (started["run_id"], 0.1)
    # What CaptureFunction writes for the mirrored share of live requests while the window is open.
    mirrored = [
        ShadowObservation(
            request_id=f"live-{i}",
            source="mirror",
            instance={"review_text": f"live review {i}"},
            champion_prediction=fake_predict({"review_text": f"live review {i}"}),
            champion_latency_ms=30.0,
            shadow_prediction=fake_predict({"review_text": f"live review {i}"}),
            shadow_latency_ms=35.0,
        )
        for i in range(40)
    ]
    cloud.s3.put_object(
        Bucket=cloud.template.ref("ArtifactBucket"),
        Key=observations_key(started["run_id"], "mirror"),
        Body=dump_observations(mirrored),
    )

    assert cloud.wait(arn, timeout=150)["status"] == "SUCCEEDED"
    states = cloud.states_entered(arn)
    assert states[states.index("ShadowReady?") :][:5] == [
        "ShadowReady?",
        "MirrorWindow",
        "JudgeShadow",
        "DeleteShadow",
        "ShadowPassed?",
    ]
    assert "ReplayShadow" not in states
    assert cloud.registry.get_champion().version == 2  # type: ignore[union-attr]
    verdict = cloud.registry.get_model(2).verdict
    assert verdict is not None
    assert verdict.shadow is not None
    assert (verdict.shadow.requests, verdict.shadow.sources) == (40, {"mirror": 40})
    assert mirrors.active() is None  # closed before the endpoint went
    assert shadow_gone(cloud)
