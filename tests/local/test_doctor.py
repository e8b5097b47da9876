"""`challenger doctor` against the local cloud: every check reads an answer, and a quota set too low fails it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from challenger.cli import run_doctor
from challenger.doctor import SERVERLESS_TOTAL
from challenger.local.cloud import LocalCloud


def test_doctor_passes_on_the_local_cloud_and_fails_once_a_quota_is_too_low(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    state = tmp_path / ".challenger"
    cloud = LocalCloud(state_dir=state, progress=lambda _: None).start()
    try:
        healthy = run_doctor(None, None, None, state_dir=state)
        first = capsys.readouterr().out
        # Two serverless endpoints' worth of concurrency is less than the blue/green update of MaxConcurrency 5 needs;
        # a spot-less account: no training instance.
        (state / "quotas.json").write_text(
            json.dumps({"sagemaker": {SERVERLESS_TOTAL: 4, "ml.m5.large for training job usage": 0}})
        )
        starved = run_doctor(None, None, None, state_dir=state)
        second = capsys.readouterr().out
    finally:
        cloud.stop(save=False)

    assert healthy == 0, first
    # Every check got its answer from the local cloud but two. CloudFront: it serves no CloudFront (its gateway
    # serves the dashboard), and moto's CloudFront refuses the local cloud's IAM-enforced signature. The API Gateway
    # logging role: moto's GetAccount refuses it too (SignatureDoesNotMatch); tests/unit/cli/test_doctor.py covers it.
    warned = [line for line in first.splitlines() if line.strip().startswith("WARN")]
    unreadable = {"CloudFront", "API Gateway logging role"}
    assert {line.split(":")[0].split(None, 1)[1] for line in warned} <= unreadable, first
    assert starved == 1, second
    assert "FAIL  serverless concurrency: MaxConcurrency × 2 = 10" in second
    assert "FAIL  training instances: 'ml.m5.large for training job usage' is 0" in second
