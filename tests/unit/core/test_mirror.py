"""`mirror` shadow mode: the window in ModelsTable, which requests are mirrored, what is recorded."""

from __future__ import annotations

import json
from datetime import timedelta
from types import SimpleNamespace
from typing import Any

import pytest

from challenger_core import mirror
from challenger_core.capture import CaptureLine
from challenger_core.errors import ServiceError, TransientServiceError
from challenger_core.models import utcnow
from challenger_core.shadow import load_observations
from tests.support.events import load_event
from tests.support.lambda_context import context
from tests.support.stack import Stack


def line(request_id: str, *texts: str, error: str | None = None) -> CaptureLine:
    rows = [
        {"i": i, "instance": {"review_text": t}, "prediction": None if error else {"label": 1, "score": 0.9}}
        for i, t in enumerate(texts)
    ]
    return CaptureLine.model_validate(
        {
            "v": 3,
            "request_id": request_id,
            "ts": "2026-12-01T18:30:00+00:00",
            "latency_ms": 40.0,
            "error": error,
            "rows": rows,
        }
    )


def window(share: float = 1.0) -> mirror.MirrorWindow:
    return mirror.MirrorWindow(
        run_id="run-9", endpoint_name="challenger-abcd1234-shadow", share=share, until=utcnow() + timedelta(minutes=5)
    )


def test_the_window_is_open_until_its_end_and_closed_only_by_its_run(stack: Stack) -> None:
    store = mirror.MirrorStore(stack.ddb, stack.env["MODELS_TABLE"])
    assert store.active() is None
    store.open(window(0.25))
    active = store.active()
    assert active is not None
    assert (active.run_id, active.share) == ("run-9", 0.25)
    assert store.active(now=active.until + timedelta(seconds=1)) is None  # past its end: not mirrored
    store.close("another-run")  # a stale close of an earlier run leaves this one alone
    assert store.active() is not None
    store.close("run-9")
    store.close("run-9")  # safe to repeat
    assert store.active() is None


def test_the_share_is_decided_by_the_request_id_the_same_on_every_delivery() -> None:
    ids = [f"req-{n}" for n in range(4000)]
    chosen = [i for i in ids if mirror.is_mirrored(i, 0.1)]
    assert 300 < len(chosen) < 500  # about 10 %
    assert chosen == [i for i in ids if mirror.is_mirrored(i, 0.1)]
    assert not any(mirror.is_mirrored(i, 0.0) for i in ids)
    assert all(mirror.is_mirrored(i, 1.0) for i in ids)


def test_each_row_is_recorded_beside_the_champions_answer() -> None:
    sent: list[tuple[str, Any]] = []

    def invoke(endpoint: str, body: bytes) -> tuple[bytes, str | None]:
        sent.append((endpoint, json.loads(body)))
        return json.dumps({"predictions": [{"label": 0, "score": 0.2}, {"label": 1, "score": 0.7}]}).encode(), None

    observations, left_out = mirror.mirror([line("r1", "good", "bad")], window(), invoke)
    assert sent == [("challenger-abcd1234-shadow", {"instances": [{"review_text": "good"}, {"review_text": "bad"}]})]
    assert left_out == 0
    assert [(o.request_id, o.source, o.instance["review_text"]) for o in observations] == [
        ("r1/0", "mirror", "good"),
        ("r1/1", "mirror", "bad"),
    ]
    first = observations[0]
    assert (first.champion_prediction, first.champion_latency_ms, first.champion_error) == (
        {"label": 1, "score": 0.9},
        40.0,
        None,
    )
    assert first.shadow_prediction == {"label": 0, "score": 0.2}
    assert first.shadow_latency_ms is not None
    assert first.shadow_error is None


def test_shadow_failures_are_recorded_by_kind_never_raised() -> None:
    def failing(exc: Exception) -> Any:
        def invoke(endpoint: str, body: bytes) -> tuple[bytes, str | None]:
            raise exc

        return invoke

    def answers(raw: bytes) -> Any:
        return lambda endpoint, body: (raw, None)

    cases = {
        "model_error": failing(ServiceError("ModelError: 500")),
        "throttled": failing(TransientServiceError("ThrottlingException")),
        "invalid_output": answers(b"<html>"),
    }
    for kind, invoke in cases.items():
        [observation], _ = mirror.mirror([line("r", "x")], window(), invoke)
        assert (observation.shadow_error, observation.shadow_prediction) == (kind, None)
        assert observation.champion_prediction == {"label": 1, "score": 0.9}


def test_a_request_the_champion_failed_on_is_mirrored_with_its_error() -> None:
    [observation], _ = mirror.mirror(
        [line("r", "x", error="model_error")],
        window(),
        lambda endpoint, body: (json.dumps({"predictions": [{"label": 1, "score": 0.6}]}).encode(), None),
    )
    assert (observation.champion_error, observation.champion_prediction) == ("model_error", None)
    assert observation.shadow_prediction == {"label": 1, "score": 0.6}


def test_a_burst_is_bounded_per_delivery() -> None:
    ok = json.dumps({"predictions": [{"label": 1, "score": 0.6}]}).encode()
    lines = [line(f"r{n}", "x") for n in range(mirror.MAX_MIRRORED_PER_DELIVERY + 7)]
    observations, left_out = mirror.mirror(lines, window(), lambda endpoint, body: (ok, None))
    assert (len(observations), left_out) == (mirror.MAX_MIRRORED_PER_DELIVERY, 7)


def test_capture_function_writes_mirrored_observations_while_the_window_is_open(
    stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = mirror.MirrorStore(stack.ddb, stack.env["MODELS_TABLE"])
    store.open(window())
    capture_fn = stack.handler("capture")
    calls: list[str] = []

    def invoke(endpoint: str, body: bytes) -> tuple[bytes, str | None]:
        calls.append(endpoint)
        n = len(json.loads(body)["instances"])
        return json.dumps({"predictions": [{"label": 0, "score": 0.1}] * n}).encode(), None

    monkeypatch.setattr(capture_fn, "_sagemaker", lambda: SimpleNamespace(invoke_with_variant=invoke))
    event = load_event("capture", "subscription")
    result = capture_fn.lambda_handler(event, context("CaptureFunction"))
    assert (result["captured"], result["mirrored"], result["run_id"]) == (3, 3, "run-9")
    assert calls == ["challenger-abcd1234-shadow"] * 2  # one call per request, as the champion got it
    bucket = stack.env["ARTIFACT_BUCKET"]
    [key] = [o["Key"] for o in stack.s3.list_objects_v2(Bucket=bucket, Prefix="shadow/run-9/")["Contents"]]
    assert key.startswith("shadow/run-9/observations/mirror-")
    observations = list(load_observations(stack.s3.get_object(Bucket=bucket, Key=key)["Body"].read()))
    assert [(o.champion_error, o.shadow_prediction["label"]) for o in observations] == [
        (None, 0),
        (None, 0),
        ("model_error", 0),
    ]
    capture_fn.lambda_handler(event, context("CaptureFunction"))  # Lambda's retry of the same delivery
    assert len(stack.s3.list_objects_v2(Bucket=bucket, Prefix="shadow/run-9/")["Contents"]) == 1
    store.close("run-9")
    assert "mirrored" not in capture_fn.lambda_handler(event, context("CaptureFunction"))
