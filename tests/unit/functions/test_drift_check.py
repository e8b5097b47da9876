"""DriftCheckFunction against moto: captures written by the API's buffer, the champion's real baseline."""

from __future__ import annotations

import json
import random
import uuid
from datetime import UTC, datetime
from typing import Any

import challenger_kit
import pytest

from challenger_core.adapters.storage import Storage
from challenger_core.adapters.workflow import Workflow
from challenger_core.capture import CaptureBuffer, CaptureLine, capture_objects
from challenger_core.models import (
    Champion,
    ModelStatus,
    ModelVersion,
    NotificationKind,
    Run,
    RunStatus,
    TriggerSource,
)
from challenger_core.monitoring import MonitoringStore
from challenger_core.registry import Registry
from tests.support.emails import email_of, sent
from tests.support.events import ROOT, load_event
from tests.support.fake_sagemaker import tar_gz
from tests.support.lambda_context import context
from tests.support.stack import Stack

TODAY = datetime.now(UTC)


@pytest.fixture
def live(stack: Stack) -> dict[str, Any]:
    """v4 is live, with the baseline its training job wrote inside model.tar.gz; some data was uploaded."""
    recipe = challenger_kit.load_recipe(ROOT / "recipes" / "sentiment" / "recipe.json")
    rows = challenger_kit.read_rows(ROOT / "recipes" / "sentiment" / "data" / "train_v2.csv", recipe)
    predictions = [{"label": r["sentiment"], "score": 0.9 if r["sentiment"] else 0.1} for r in rows]
    baseline = challenger_kit.build_baseline(recipe, rows, predictions)
    artifacts = stack.env["ARTIFACT_BUCKET"]
    stack.s3.put_object(
        Bucket=artifacts,
        Key="training/v4/output/model.tar.gz",
        Body=tar_gz({"baseline.json": json.dumps(baseline).encode()}),
    )
    registry = Registry(stack.ddb, stack.env["MODELS_TABLE"])
    registry.put_model(
        ModelVersion(
            version=4,
            status=ModelStatus.LIVE,
            run_id="r4",
            dataset="reviews",
            data_fingerprint="f",
            training_job_name="job-4",
            model_data_url=f"s3://{artifacts}/training/v4/output/model.tar.gz",
        )
    )
    registry.set_champion(Champion(version=4, model_name="m4", endpoint_config_name="c4"), expected_version=None)
    stack.put_data("incoming/reviews/train.csv", b"review_text,sentiment\ngood,1\n")
    return {"rows": rows, "predictions": predictions, "registry": registry}


def capture(stack: Stack, instances: list[dict[str, Any]], predictions: list[dict[str, Any]]) -> None:
    """What the API function does per request, flushed as its background thread would."""
    store = MonitoringStore(stack.ddb, stack.env["MODELS_TABLE"])
    storage = Storage(stack.s3)
    lines: list[CaptureLine] = []
    buffer = CaptureBuffer(
        lambda line: lines.append(CaptureLine.model_validate(line)), store.add_stats, sample_rate=1.0
    )
    for instance, prediction in zip(instances, predictions, strict=True):
        buffer.record(4, [instance], [prediction], latency_ms=12.0, now=TODAY)
    buffer.flush()
    # ... and what CaptureFunction writes of the log lines the subscription delivers to it
    for key, body in capture_objects(lines, uuid.uuid4().hex).items():
        storage.write(stack.env["ARTIFACT_BUCKET"], key, body)


def shifted(n: int) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    words = ["kubernetes", "terraform", "helm", "ingress", "daemonset", "sidecar"]
    rng = random.Random(1)
    return (
        [{"review_text": " ".join(rng.choice(words) for _ in range(50))} for _ in range(n)],
        [{"label": 1, "score": 0.51}] * n,
    )


def run_check(stack: Stack) -> dict[str, Any]:
    return stack.handler("drift_check").lambda_handler(
        load_event("drift_check", "scheduled"), context("DriftCheckFunction")
    )


@pytest.fixture
def started(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    names: list[str] = []
    monkeypatch.setattr(Workflow, "start", lambda self, arn, name, payload: names.append(name) or f"arn:{name}")
    return names


def test_in_distribution_traffic_is_stored_and_raises_no_alert(stack: Stack, live: dict[str, Any]) -> None:
    rows = live["rows"][:150]
    capture(stack, [{"review_text": r["review_text"]} for r in rows], live["predictions"][:150])
    result = run_check(stack)
    assert result["checked"]
    assert not result["alert"]
    assert result["score"] < 0.2
    assert sent(stack) == []
    history = MonitoringStore(stack.ddb, stack.env["MODELS_TABLE"]).drift_history()
    assert [(h.version, h.samples) for h in history] == [(4, 150)]


def test_shifted_traffic_alerts_by_email(stack: Stack, live: dict[str, Any], started: list[str]) -> None:
    capture(stack, *shifted(150))
    result = run_check(stack)
    assert result["alert"]
    assert result["action"] == "retraining disabled (RetrainOnDrift=false)"
    email = email_of(sent(stack), NotificationKind.DRIFT)
    assert "v4" in email.subject
    assert "review_text" in email.body
    assert started == []


def test_retrain_on_drift_starts_exactly_one_run(
    stack: Stack, live: dict[str, Any], started: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    module = stack.handler("drift_check")
    monkeypatch.setattr(module.policy, "retrain", True)
    capture(stack, *shifted(150))
    first = run_check(stack)
    second = run_check(stack)  # the drift persists: the next check must not start another run
    assert first["action"].startswith("retraining on dataset 'reviews': run ")
    assert second["action"].startswith("no retrain: run ")
    assert len(started) == 1
    [run] = [r for r in live["registry"].list_runs() if r.trigger is TriggerSource.DRIFT]
    assert run.status is RunStatus.RUNNING


def test_no_retrain_while_a_run_is_in_flight(
    stack: Stack, live: dict[str, Any], started: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(stack.handler("drift_check").policy, "retrain", True)
    live["registry"].put_run(
        Run(
            run_id="busy",
            status=RunStatus.RUNNING,
            dataset="reviews",
            trigger=TriggerSource.UPLOAD,
            source_fingerprint="x",
        )
    )
    capture(stack, *shifted(150))
    assert run_check(stack)["action"] == "no retrain: run busy is in flight"
    assert started == []


def test_too_few_captures_give_no_verdict(stack: Stack, live: dict[str, Any]) -> None:
    capture(stack, *shifted(10))
    result = run_check(stack)
    assert (result["alert"], result["skipped"]) == (False, "10 captured prediction(s) of v4, at least 100 needed")


def test_no_champion_no_check(stack: Stack) -> None:
    assert run_check(stack) == {"checked": False, "reason": "no model is live yet"}


def test_serving_counters_add_up_per_version_and_hour(stack: Stack, live: dict[str, Any]) -> None:
    capture(stack, *shifted(30))
    capture(stack, *shifted(20))
    [stats] = MonitoringStore(stack.ddb, stack.env["MODELS_TABLE"]).stats(since_hour="2000-01-01T00")
    assert (stats.version, stats.invocations, stats.errors) == (4, 50, 0)
    assert stats.percentile(0.5) == 25.0


def test_a_malformed_capture_object_is_skipped_and_counted_not_fatal(stack: Stack, live: dict[str, Any]) -> None:
    # Issue 18 #89–91: one bad object failed every drift check until it expired, so drift alerts stopped.
    capture(stack, *shifted(150))
    prefix = f"captures/model=v4/date={TODAY.date().isoformat()}/"
    bad_lines = b'{"instance": {"review_text": "ok"}, "prediction"\n[1, 2]\n"text"\n{"instance": 3, "prediction": {}}\n'
    stack.s3.put_object(Bucket=stack.env["ARTIFACT_BUCKET"], Key=prefix + "0-truncated.jsonl", Body=bad_lines)
    stack.s3.put_object(Bucket=stack.env["ARTIFACT_BUCKET"], Key=prefix + "1-binary.jsonl", Body=b"\x1f\x8b\xff\xfe")
    result = run_check(stack)
    assert result["alert"]
    assert (result["skipped_lines"], result["skipped_objects"]) == (5, 2)
    assert (
        "Skipped:   5 malformed capture line(s), 2 capture object(s)"
        in email_of(sent(stack), NotificationKind.DRIFT).body
    )
    [history] = MonitoringStore(stack.ddb, stack.env["MODELS_TABLE"]).drift_history()
    assert (history.samples, history.skipped_lines) == (150, 5)
