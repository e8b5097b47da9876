"""GET /runs/{id} and GET /models/{version} show what the run cost on AWS (issue 17)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from challenger_core.capture import LATENCY_BUCKETS_MS, latency_bucket
from challenger_core.cost import RunCost, serving_usd
from challenger_core.models import ModelStatus, Run, RunStatus, TriggerSource
from challenger_core.monitoring import MonitoringStore
from tests.support.events import load_event
from tests.support.stack import Stack
from tests.unit.functions.api_support import call, put_model, registry_of, workflow_with

RUN_ID = "20261123T101500Z-reviews-3f9a1c2e"
T0 = datetime(2026, 11, 23, 10, 15, tzinfo=UTC)


def _record_run(stack: Stack, run_id: str, recorded: RunCost | None) -> None:
    registry_of(stack).put_run(
        Run(
            run_id=run_id,
            status=RunStatus.SUCCEEDED,
            dataset="reviews",
            trigger=TriggerSource.UPLOAD,
            source_fingerprint="f",
            execution_arn="arn:exec",
            version=1,
            cost=recorded,
        )
    )


def test_the_run_page_costs_the_whole_history_with_the_recorded_training(stack: Stack) -> None:
    # Recorded with the comparison email: training, and the pipeline up to then.
    recorded = RunCost(total_usd=0.0192, training_usd=0.0192, instance_type="ml.m5.large", billable_seconds=600)
    _record_run(stack, RUN_ID, recorded)
    function = json.dumps({"FunctionName": "arn:aws:lambda:us-east-1:123456789012:function:s-RecordOutcomeFunction"})
    history = [
        {"type": "TaskStateEntered", "timestamp": T0, "stateEnteredEventDetails": {"name": "RecordDeployed"}},
        {
            "type": "TaskScheduled",
            "timestamp": T0,
            "taskScheduledEventDetails": {"resourceType": "lambda", "parameters": function},
        },
        {"type": "TaskStarted", "timestamp": T0},
        {"type": "TaskSucceeded", "timestamp": T0 + timedelta(seconds=4)},
        {"type": "TaskStateExited", "timestamp": T0, "stateExitedEventDetails": {"name": "RecordDeployed"}},
    ]
    workflow_with(stack, history=lambda arn: history)

    status, body = call(stack, load_event("api", "run"))

    assert status == 200
    assert body["cost"]["billable_seconds"] == 600
    assert body["cost"]["lambda_invocations"] == 1
    assert body["cost"]["lambda_gb_seconds"] == 1.0  # 4 s at 256 MB
    assert body["cost"]["state_transitions"] == 1
    assert body["cost"]["total_usd"] > recorded.total_usd


def test_the_version_page_shows_what_its_run_cost(stack: Stack) -> None:
    put_model(stack, 1, ModelStatus.STAGED)  # trained by run r1
    _record_run(stack, "r1", RunCost(total_usd=0.02, training_usd=0.0192, instance_type="ml.m5.large"))

    status, body = call(stack, load_event("api", "model"))

    assert status == 200
    assert body["run_cost"]["total_usd"] == 0.02


def test_monitoring_prices_each_versions_requests_and_endpoint_seconds(stack: Stack) -> None:
    store = MonitoringStore(stack.ddb, stack.env["MODELS_TABLE"])
    hour = datetime.now(UTC).strftime("%Y-%m-%dT%H")
    buckets = [0] * (len(LATENCY_BUCKETS_MS) + 1)
    buckets[latency_bucket(20)] = 1000
    store.add_stats(3, hour, [1000, 0, *buckets])

    status, body = call(stack, load_event("api", "monitoring"))

    assert status == 200
    row = next(row for row in body["versions"] if row["version"] == 3)
    expected = serving_usd(predictions=1000, mean_latency_ms=row["p50_ms"], memory_mb=2048)  # the stack's memory
    assert row["cost_usd"] == pytest.approx(expected)
    assert 0.003 < row["cost_usd"] < 0.02  # a thousand predictions: cents, not dollars
