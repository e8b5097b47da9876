"""The local cloud's `POST /predict` through the gateway under load, beside a bare werkzeug server, and a blue/green
swap under load (issue 16, section 3).

1. A fresh local cloud (this process) gets the recipe's first sample dataset; the run deploys v1.
2. Throughput: N clients (threads of a separate load process, one keep-alive connection each) call `/predict`
   with one record for `--seconds` each, at 1, 8 and 32 clients; the same against a bare werkzeug server (another
   process) that loads the same model.tar.gz with the recipe's own `model_fn`/`input_fn`/`predict_fn`/`output_fn`
   and nothing else. Requests/s of both in the same run, and their ratio.
3. Swap: the second sample dataset is pushed while `--swap-clients` clients send at least `--swap-rate` requests/s;
   the run promotes v2 by the blue/green UpdateEndpoint; the load goes on until v2 answers and at least
   `--swap-requests` were sent. Every non-200 answer or connection error is a loss.

Pass: >= 200 requests/s at 8 clients, and no loss during the swap (>= 50 requests/s, >= 1,000 requests).

    python bench/bench_local_api.py [--seconds 5] [--json bench/results/local_api.json]
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import multiprocessing
import os
import sys
import tarfile
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import psutil  # type: ignore[import-untyped]  # noqa: E402
import requests  # noqa: E402

TARGET_RPS_AT_8 = 200.0
SWAP_MIN_RPS = 50.0
SWAP_MIN_REQUESTS = 1000


def _load(url: str, headers: dict[str, str], body: bytes, clients: int, seconds: float, queue: Any, done: Any) -> None:
    """Runs in its own process: `clients` threads, each with its own connection, for `seconds` or until `done`."""
    counts: dict[str, Any] = {"ok": 0, "failed": 0, "versions": {}, "errors": []}
    lock = threading.Lock()
    stop = time.monotonic() + seconds

    def client() -> None:
        with requests.Session() as session:
            while time.monotonic() < stop and not done.is_set():
                try:
                    response = session.post(url, data=body, headers=headers, timeout=30)
                    ok = response.status_code == 200
                    version = response.json().get("model_version") if ok else None
                    error = None if ok else f"HTTP {response.status_code}: {response.text[:200]}"
                except Exception as exc:  # every failure counts
                    ok, version, error = False, None, f"{type(exc).__name__}: {exc}"
                with lock:
                    counts["ok" if ok else "failed"] += 1
                    if version is not None:
                        counts["versions"][str(version)] = counts["versions"].get(str(version), 0) + 1
                    if error and len(counts["errors"]) < 10:
                        counts["errors"].append(error)

    started = time.monotonic()
    threads = [threading.Thread(target=client) for _ in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    counts["seconds"] = time.monotonic() - started
    queue.put(counts)


def load(
    url: str, headers: dict[str, str], body: bytes, clients: int, seconds: float, done: Any = None
) -> dict[str, Any]:
    context = multiprocessing.get_context("spawn")
    queue = context.Queue()
    done = done or context.Event()
    process = context.Process(target=_load, args=(url, headers, body, clients, seconds, queue, done))
    process.start()
    result: dict[str, Any] = queue.get(timeout=seconds + 120)
    process.join()
    result["rps"] = round((result["ok"] + result["failed"]) / result["seconds"], 1)
    result["load_average_1min"] = round(os.getloadavg()[0], 1)  # the machine is shared: say how busy it was
    return result


def _cpu_seconds() -> dict[int, float]:
    """CPU time so far of this process (the cloud: gateway, Runtime API, moto, local SageMaker) and its children
    (Lambda sandboxes, model servers): robust where req/s is not, on a machine others load too."""
    me = psutil.Process()
    seconds = {}
    for process in [me, *me.children(recursive=True)]:
        with contextlib.suppress(psutil.Error):
            seconds[process.pid] = sum(process.cpu_times()[:2])
    return seconds


def cpu_per_request(before: dict[int, float], after: dict[int, float], requests: int) -> float:
    """Milliseconds of CPU per request, all of the cloud's processes together."""
    used = sum(after[pid] - before.get(pid, 0.0) for pid in after)
    return round(used / max(requests, 1) * 1000, 2)


def _bare_server(model_dir: str, code_dir: str, port_queue: Any) -> None:
    """A bare werkzeug server with the same model: the recipe's handler functions and nothing else."""
    sys.path.insert(0, code_dir)
    import inference  # type: ignore[import-not-found]  # noqa: PLC0415 - the model's own code/
    from werkzeug.serving import WSGIRequestHandler, make_server  # noqa: PLC0415
    from werkzeug.wrappers import Request, Response  # noqa: PLC0415

    model = inference.model_fn(model_dir)

    @Request.application
    def app(request: Request) -> Response:
        records = inference.input_fn(request.get_data(), request.content_type or "application/json")
        body, content_type = inference.output_fn(inference.predict_fn(records, model), "application/json")
        payload = json.loads(body)
        payload["model_version"] = 0
        return Response(json.dumps(payload), content_type=content_type)

    class Quiet(WSGIRequestHandler):
        def log_request(self, *_: Any) -> None:
            pass

    server = make_server("127.0.0.1", 0, app, threaded=True, request_handler=Quiet)
    port_queue.put(server.server_port)
    server.serve_forever()


def _model_archive(cloud: Any, version: int) -> bytes:
    registry_item = cloud.clients["dynamodb"].scan(TableName=cloud.template.ref("ModelsTable"))["Items"]
    for item in registry_item:
        if item.get("version", {}).get("N") == str(version) and "model_data_url" in item:
            bucket, _, key = item["model_data_url"]["S"].removeprefix("s3://").partition("/")
            body: bytes = cloud.clients["s3"].get_object(Bucket=bucket, Key=key)["Body"].read()
            return body
    raise RuntimeError(f"v{version}'s artifact not found in the models table")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--clients", type=int, nargs="*", default=[1, 8, 32])
    parser.add_argument("--swap-clients", type=int, default=4)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args(argv)

    from challenger.cli import local_target  # noqa: PLC0415
    from challenger.demo import SampleData, push_and_wait  # noqa: PLC0415
    from challenger.local.cloud import LocalCloud  # noqa: PLC0415

    results: dict[str, Any] = {"clients": {}, "bare": {}}
    with tempfile.TemporaryDirectory() as tmp:
        cloud = LocalCloud(state_dir=Path(tmp) / ".challenger", fresh=True, progress=lambda _: None)
        started = time.monotonic()
        cloud.start()
        results["cloud_start_seconds"] = round(time.monotonic() - started, 2)
        bare = None
        try:
            target = local_target(cloud.state_dir)
            sample = SampleData.of(cloud.template.values["Recipe"])
            push_and_wait(target, sample.train_v1, test=sample.test)
            url = f"{cloud.gateway.api_url}/predict"
            headers = {"x-api-key": cloud.api_key, "content-type": "application/json"}
            body = json.dumps({"instances": sample.instances[:1]}).encode()
            check = requests.post(url, data=body, headers=headers, timeout=30)
            check.raise_for_status()

            model_dir = Path(tmp) / "model"
            with tarfile.open(fileobj=io.BytesIO(_model_archive(cloud, 1))) as archive:
                archive.extractall(model_dir, filter="data")
            context = multiprocessing.get_context("spawn")
            port_queue = context.Queue()
            bare = context.Process(
                target=_bare_server, args=(str(model_dir), str(model_dir / "code"), port_queue), daemon=True
            )
            bare.start()
            bare_url = f"http://127.0.0.1:{port_queue.get(timeout=60)}/invocations"
            requests.post(bare_url, data=body, headers=headers, timeout=30).raise_for_status()

            for clients in args.clients:
                load(url, headers, body, clients, 2.0)  # warm-up: the sandboxes this load needs start (cold)
                cpu_before = _cpu_seconds()
                measured = load(url, headers, body, clients, args.seconds)
                measured["cpu_ms_per_request"] = cpu_per_request(
                    cpu_before, _cpu_seconds(), measured["ok"] + measured["failed"]
                )
                results["clients"][str(clients)] = measured
                results["bare"][str(clients)] = load(bare_url, headers, body, clients, args.seconds)
                local, reference = results["clients"][str(clients)]["rps"], results["bare"][str(clients)]["rps"]
                print(
                    f"{clients:>3} clients: gateway {local:7.1f} req/s  bare werkzeug {reference:7.1f} req/s  "
                    f"(load average {os.getloadavg()[0]:.1f}; the cloud's CPU "
                    f"{results['clients'][str(clients)]['cpu_ms_per_request']} ms/request)"
                )

            results["cold_starts"] = cloud.runtime.cold_starts()
            # The swap: v2 is pushed while the load runs; the load outlasts the run.
            swap: dict[str, Any] = {}

            def push_v2() -> None:
                swap["run"] = push_and_wait(target, sample.train_v2, test=sample.test)

            done = multiprocessing.get_context("spawn").Event()

            def push_v2_then_stop() -> None:
                try:
                    push_v2()
                finally:
                    time.sleep(3)  # v2 answers a while
                    done.set()

            pusher = threading.Thread(target=push_v2_then_stop)
            swap_started = time.monotonic()
            pusher.start()
            swap_load = load(url, headers, body, args.swap_clients, 300.0, done)
            pusher.join(timeout=30)
            swap_load["run_status"] = swap.get("run", {}).get("status")
            swap_load["run_seconds"] = round(time.monotonic() - swap_started, 1)
            results["swap"] = swap_load
            print(
                f"swap: {swap_load['ok'] + swap_load['failed']} requests at {swap_load['rps']} req/s, "
                f"{swap_load['failed']} lost, versions {swap_load['versions']}, run {swap_load['run_status']}"
            )
        finally:
            if bare is not None:
                bare.terminate()
            cloud.stop(save=False)

    at_8 = results["clients"].get("8", {}).get("rps", 0.0)
    swap = results.get("swap", {})
    sent = swap.get("ok", 0) + swap.get("failed", 0)
    results["pass"] = {
        "rps_at_8": at_8 >= TARGET_RPS_AT_8,
        "swap": swap.get("failed", 1) == 0
        and sent >= SWAP_MIN_REQUESTS
        and swap.get("rps", 0) >= SWAP_MIN_RPS
        and "2" in swap.get("versions", {}),
    }
    results["ratio"] = {
        n: round(results["clients"][n]["rps"] / results["bare"][n]["rps"], 3) for n in results["clients"]
    }
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps({"ratio": results["ratio"], "pass": results["pass"]}))
    return 0 if all(results["pass"].values()) else 1


if __name__ == "__main__":
    sys.exit(main())
