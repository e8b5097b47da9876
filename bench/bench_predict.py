"""The /predict handler's own time per request: the champion pointer cached vs. read strongly consistently each time.

`functions/api/app.py`'s `lambda_handler` runs in this process against moto (the unit tests' stack: template
tables and buckets, tests/support/stack.py) with the fake SageMaker, so what is timed is the handler alone:
event parsing, validation, the registry, the (fake) endpoint, the response, metrics, the capture's append.

- after (issue 20): the pointer is read eventually consistently and kept 5 s per container
  (`Registry.champion_cache`); the variant that answered names the version.
- before: the code as it was, one strongly consistent GetItem of the pointer on every request (the bench swaps
  `Registry.champion_cache` for an object whose `get()` is `registry.get_champion()`).

The two run in alternating blocks (before, after, before, ...) so both see the same machine load. Every DynamoDB
call the handler's thread makes is counted (botocore's `before-parameter-build`), by operation and
ConsistentRead; the capture writer's calls (its own thread, off the response path) are counted apart. moto
answers a GetItem in about a millisecond in process; on AWS it is a network round trip, so the difference here is
a floor of the saving.

    python bench/bench_predict.py [--blocks 10] [--requests 50] [--json bench/results/predict.json]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import statistics
import sys
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # tests.support: the in-process stack (a script's path starts at bench/)

import boto3  # noqa: E402 — after the path above
from moto import mock_aws  # noqa: E402

from challenger_core.models import Champion, ModelStatus, ModelVersion  # noqa: E402
from challenger_core.registry import Registry  # noqa: E402
from tests.support.events import load_event  # noqa: E402
from tests.support.lambda_context import context  # noqa: E402
from tests.support.stack import BASE_ENV, REGION, Stack, provision  # noqa: E402

VERSION = 1


class EveryRequest:
    """The pointer as /predict read it before issue 20: strongly consistent, on every request."""

    def __init__(self, registry: Registry) -> None:
        self._registry = registry

    def get(self) -> Champion | None:
        return self._registry.get_champion()


class DynamoCalls:
    """DynamoDB calls made through the default boto3 session's clients (the handler's), by thread."""

    def __init__(self, session: boto3.session.Session) -> None:
        self.request_path: Counter[str] = Counter()
        self.off_path: Counter[str] = Counter()
        self._main = threading.get_ident()
        session.events.register("before-parameter-build.dynamodb", self._count)

    def _count(self, params: dict[str, Any], model: Any, **_kwargs: Any) -> None:
        name = model.name + (" (strongly consistent)" if params.get("ConsistentRead") else "")
        (self.request_path if threading.get_ident() == self._main else self.off_path)[name] += 1

    def take(self) -> tuple[Counter[str], Counter[str]]:
        taken = self.request_path.copy(), self.off_path.copy()
        self.request_path.clear()
        self.off_path.clear()
        return taken


def live(stack: Stack) -> None:
    """v1 LIVE and champion, its config serving on the endpoint with its variant `v1` (deployment.variant_name)."""
    registry = Registry(stack.ddb, stack.env["MODELS_TABLE"])
    registry.put_model(
        ModelVersion(
            version=VERSION,
            status=ModelStatus.LIVE,
            run_id="r1",
            dataset="reviews",
            data_fingerprint="f",
            training_job_name="j1",
            model_data_url="s3://a/m.tar.gz",
            was_live=True,
        )
    )
    config = f"challenger-v{VERSION}-config"
    registry.set_champion(
        Champion(version=VERSION, model_name=f"challenger-v{VERSION}", endpoint_config_name=config),
        expected_version=None,
    )
    stack.sagemaker.models[f"challenger-v{VERSION}"] = "s3://a/m.tar.gz"
    stack.sagemaker.configs[config] = f"challenger-v{VERSION}"
    stack.sagemaker.variants[config] = f"v{VERSION}"
    stack.sagemaker.endpoints["challenger"] = {"status": "InService", "config": config}


def block(handler: Any, event: dict[str, Any], requests: int) -> list[float]:
    times = []
    with open(os.devnull, "w", encoding="utf-8") as sink, contextlib.redirect_stdout(sink):  # the EMF metrics lines
        for _ in range(requests):
            started = time.perf_counter()
            response = handler(event, context("ApiFunction"))
            times.append((time.perf_counter() - started) * 1000)
            if response["statusCode"] != 200 or json.loads(response["body"])["model_version"] != VERSION:
                raise SystemExit(f"/predict answered {response['statusCode']}: {response['body'][:300]}")
    return times


def summary(times: list[float], request_path: Counter[str], off_path: Counter[str]) -> dict[str, Any]:
    n = len(times)
    ordered = sorted(times)
    return {
        "requests": n,
        "p50_ms": round(statistics.median(times), 3),
        "p90_ms": round(ordered[int(0.9 * n)], 3),
        "mean_ms": round(statistics.fmean(times), 3),
        "dynamodb_calls_per_request": round(sum(request_path.values()) / n, 4),
        "strongly_consistent_reads_per_request": round(
            sum(c for name, c in request_path.items() if "strongly" in name) / n, 4
        ),
        "dynamodb_calls": dict(request_path),
        "off_path_dynamodb_calls": dict(off_path),
    }


def measure(blocks: int, requests: int) -> dict[str, Any]:
    os.environ.update(BASE_ENV)
    os.environ.pop("AWS_PROFILE", None)
    with mock_aws():
        stack = provision(dict(BASE_ENV))
        os.environ.update(stack.env)
        live(stack)
        boto3.setup_default_session(region_name=REGION)  # the handler's clients come from this session
        calls = DynamoCalls(boto3.DEFAULT_SESSION)
        handler = stack.handler("api").lambda_handler
        event = load_event("api", "predict")
        block(handler, event, 20)  # warm: imports, recipe from S3, request models, the capture thread
        warm_up = calls.take()[0]  # the cached pointer's first read is here; the next comes 5 s later
        cached = Registry.__dict__["champion_cache"]
        modes: dict[str, dict[str, Any]] = {
            mode: {"times": [], "request_path": Counter(), "off_path": Counter()} for mode in ("before", "after")
        }
        for _ in range(blocks):
            for mode in ("before", "after"):
                Registry.champion_cache = (  # type: ignore[method-assign, assignment]
                    property(EveryRequest) if mode == "before" else cached
                )
                modes[mode]["times"] += block(handler, event, requests)
                request_path, off_path = calls.take()
                modes[mode]["request_path"] += request_path
                modes[mode]["off_path"] += off_path
        Registry.champion_cache = cached  # type: ignore[method-assign]
    results = {mode: summary(m["times"], m["request_path"], m["off_path"]) for mode, m in modes.items()}
    results["warm_up"] = {"requests": 20, "dynamodb_calls": dict(warm_up)}
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--blocks", type=int, default=10)
    parser.add_argument("--requests", type=int, default=50, help="per block")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    results = measure(args.blocks, args.requests)
    before, after = results["before"], results["after"]
    results["saved_p50_ms"] = round(before["p50_ms"] - after["p50_ms"], 3)
    results["ok"] = after["strongly_consistent_reads_per_request"] == 0 and after["p50_ms"] < before["p50_ms"]
    for mode in ("before", "after"):
        r = results[mode]
        print(
            f"/predict handler, {mode:6}: p50 {r['p50_ms']:.2f} ms, p90 {r['p90_ms']:.2f} ms over {r['requests']} "
            f"requests; DynamoDB calls/request {r['dynamodb_calls_per_request']:g} "
            f"(strongly consistent {r['strongly_consistent_reads_per_request']:g}) {r['dynamodb_calls']}; "
            f"off the response path {r['off_path_dynamodb_calls']}"
        )
    print(f"warm-up (20 requests, the cached pointer's first read): {results['warm_up']['dynamodb_calls']}")
    print(f"saved per request: {results['saved_p50_ms']:.2f} ms p50 — {'ok' if results['ok'] else 'NOT BETTER'}")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    return 0 if results["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
