"""`challenger local demo`: the product end to end on the local cloud, with the bundled sample data.

1. push v1 data → watch the run state by state → v1 is deployed
2. push better data → v2 is compared, approved (auto mode) and swapped blue/green while a background
   client keeps calling POST /predict (requests sent and failed are reported: none may fail)
3. push a bad file → the run fails with the precise reason, and v2 keeps serving
4. score a file in bulk with the champion (Batch Transform) → batch-results/sample.out.csv
5. send traffic unlike the training data → the drift check alerts (email in the outbox)
6. summary table; then keep serving the dashboard until Ctrl-C (or exit with --exit)
"""

from __future__ import annotations

import csv
import itertools
import json
import random
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests

from challenger.cli import (
    STATE_DIR,
    CliError,
    Target,
    batch_score,
    data_push,
    describe_prediction,
    drift_check,
    latest_run_id,
    local_target,
    print,  # the CLI's: server text (emails, predictions) is printed with its terminal controls escaped
    print_table,
    runs_wait,
    shadow_lines,
)
from challenger.local.cloud import LocalCloud
from challenger_core.cost import usd

RECIPES = Path(__file__).resolve().parents[1] / "recipes"


@dataclass(frozen=True)
class SampleData:
    """The stack's recipe's own sample files (`recipes/<Recipe>/data/`), and a few of its rows as requests."""

    train_v1: Path
    train_v2: Path
    test: Path | None
    bad: Path
    instances: list[dict[str, str]]

    @classmethod
    def of(cls, recipe: str) -> SampleData:
        folder = RECIPES / recipe
        data = folder / "data"
        features = [f["name"] for f in json.loads((folder / "recipe.json").read_text())["schema"]["features"]]
        with (data / "train_v1.csv").open(newline="") as file:
            rows = list(itertools.islice(csv.DictReader(file), 3))
        # A missing column shows the clearest reason; any other bad sample will do.
        bad = sorted(data.glob("bad_*.csv"), key=lambda path: (path.name != "bad_missing_column.csv", path.name))
        if not bad:
            raise CliError(f"recipes/{recipe}/data has no bad_*.csv for the demo's third step")
        return cls(
            train_v1=data / "train_v1.csv",
            train_v2=data / "train_v2.csv",
            test=data / "test.csv" if (data / "test.csv").exists() else None,
            bad=bad[0],
            instances=[{name: row[name] for name in features} for row in rows],
        )


def write_batch_file(source: Path, destination: Path, *, rows: int) -> None:
    """The first `rows` rows of a sample file with an `id` column in front (extra columns are kept by scoring)."""
    with source.open(newline="") as handle:
        reader = csv.DictReader(handle)
        picked = list(itertools.islice(reader, rows))
    with destination.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["id", *(reader.fieldnames or [])])
        writer.writerows([i, *row.values()] for i, row in enumerate(picked, start=1))


def shifted_instances(recipe: dict[str, Any], instances: list[dict[str, str]], *, count: int) -> list[dict[str, Any]]:
    """Valid requests unlike the training data: another domain's words, numbers at their bound, one category."""
    words = ["quantum", "lattice", "eigenvalue", "manifold", "tensor", "spectral", "homotopy", "fibration"]
    rng = random.Random(7)  # noqa: S311 - demo data, not a secret
    shifted = []
    for i in range(count):
        record: dict[str, Any] = dict(instances[i % len(instances)])
        for feature in recipe["schema"]["features"]:
            name = feature["name"]
            if feature["type"] == "text":
                record[name] = " ".join(rng.choice(words) for _ in range(30))
            elif feature["type"] == "number":
                record[name] = feature.get("max", 1e6)
            elif feature.get("values"):
                record[name] = feature["values"][0]
        shifted.append(record)
    return shifted


def shown(instance: dict[str, str]) -> str:
    text = " ".join(instance.values())
    return text if len(text) <= 70 else text[:69] + "…"


@dataclass
class TrafficReport:
    sent: int = 0
    failed: int = 0
    versions: dict[int, int] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)


class BackgroundTraffic:
    """A client calling POST /predict in a loop during the swap, counting every answer and failure."""

    def __init__(self, target: Target, instances: list[dict[str, str]]) -> None:
        self.target = target
        self.instances = instances
        self.report = TrafficReport()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="demo-traffic", daemon=True)

    def __enter__(self) -> TrafficReport:
        self._thread.start()
        return self.report

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join(timeout=30)

    def _loop(self) -> None:
        session = requests.Session()
        session.headers["x-api-key"] = self.target.api_key
        index = 0
        while not self._stop.is_set():
            index += 1
            self.report.sent += 1
            try:
                response = session.post(
                    f"{self.target.api_url}/predict",
                    json={"instances": [self.instances[index % len(self.instances)]]},
                    timeout=10,
                )
                if response.status_code != 200:
                    raise RuntimeError(f"HTTP {response.status_code}: {response.text[:200]}")
                version = int(response.json()["model_version"])
                self.report.versions[version] = self.report.versions.get(version, 0) + 1
            except Exception as exc:  # every failure counts, whatever it is
                self.report.failed += 1
                self.report.errors.append(str(exc))
            time.sleep(0.02)


def step(title: str) -> None:
    print(f"\n━━ {title}")


def show_comparison(target: Target, version: int) -> None:
    """The challenger against the champion on the same unseen rows: each difference with its interval."""
    verdict = target.call("GET", f"/models/{version}").get("verdict")
    if not verdict:
        print(f"  v{version} has no verdict")
        return
    rows = verdict.get("paired_rows")
    confidence = verdict.get("confidence")
    if rows is not None and confidence is not None:
        print(
            f"  v{version} vs champion v{verdict['champion_version']} on the same {rows} unseen rows "
            f"({confidence:.0%} paired bootstrap intervals of challenger − champion):"
        )
    print_table(
        ("metric", "champion", "challenger", "delta [low, high]", "rule"),
        [
            (
                c["name"],
                "—" if c.get("champion") is None else f"{c['champion']:.4f}",
                f"{c['challenger']:.4f}",
                "—"
                if c.get("delta") is None
                else f"{c['delta']:+.4f} [{c.get('low', 0):+.4f}, {c.get('high', 0):+.4f}]",
                "" if c["role"] == "info" else f"{c['role']} {'pass' if c.get('passed') else 'FAIL'}",
            )
            for c in verdict["comparisons"]
        ],
    )
    outcome = "PROMOTE" if verdict["promote"] else "KEEP CHAMPION"
    print(f"  verdict: {outcome}, decided by the {verdict['decided_by']} rule")
    for line in shadow_lines(verdict):  # the shadow stage before the swap (issue 23)
        print(f"  {line}")


def push_and_wait(target: Target, train: Path, *, test: Path | None = None) -> dict[str, object]:
    newest = target.call("GET", "/runs")
    before = str(newest[0]["run_id"]) if newest else ""
    data_push(target, train, "reviews", test)
    return runs_wait(target, latest_run_id(target, newer_than=before))


def run_demo(*, exit_after: bool, fast_clock: float | None = None, parameters: dict[str, str] | None = None) -> int:
    """The scripted scenario on a fresh local cloud; returns the process exit status."""
    cloud = LocalCloud(
        fresh=True,
        fast_clock=fast_clock,
        parameters=parameters or {},
        state_dir=STATE_DIR,
        progress=lambda line: print(f"  {line}"),
    )
    step("Starting the local cloud (template.yaml, ASL, handlers and recipe, on loopback)")
    cloud.start()
    try:
        return _scenario(cloud, exit_after)
    except CliError as exc:
        print(f"\ndemo failed: {exc}")
        return 1
    finally:
        cloud.stop()


def _after_deployment(
    cloud: LocalCloud, target: Target, sample: SampleData, recipe: str
) -> tuple[list[list[str]], dict[str, Any]]:
    """Steps 4 and 5: batch scoring with the champion, then drifted traffic and the drift check's alert."""
    step("4. Score a file in bulk: batch/sample.csv → a Batch Transform job with the champion → batch-results/")
    batch_file = cloud.state_dir / "sample.csv"
    write_batch_file(sample.train_v2, batch_file, rows=20)
    scored = batch_score(target, batch_file, "sample", cloud.state_dir / "sample.out.csv", timeout=300)
    with scored.open(newline="") as handle:
        scored_rows = list(csv.reader(handle))
    for line in scored_rows[:4]:
        print("  " + ",".join(cell if len(cell) <= 30 else cell[:29] + "…" for cell in line))

    step("5. Traffic that no longer looks like the training data: the drift check alerts")
    recipe_spec = json.loads((RECIPES / recipe / "recipe.json").read_text())
    shifted = shifted_instances(recipe_spec, sample.instances, count=150)
    for start in range(0, len(shifted), 50):
        target.call("POST", "/predict", {"instances": shifted[start : start + 50]})
    time.sleep(2.5)  # the API's capture thread writes every second locally (30 s on AWS)
    drift = drift_check(target)
    from challenger.local.outbox import read_messages  # noqa: PLC0415 - local-only module

    deadline = time.monotonic() + 10  # SNS delivers to the outbox asynchronously
    while time.monotonic() < deadline:
        alerts = [m.subject for m in read_messages(cloud.state_dir / "outbox") if "drift on v" in m.subject]
        if alerts:
            print(f"  email: {alerts[0]}")
            break
        time.sleep(0.5)
    return scored_rows, drift


def _scenario(cloud: LocalCloud, exit_after: bool) -> int:
    target = local_target(cloud.state_dir)
    recipe = cloud.template.values["Recipe"]
    sample = SampleData.of(recipe)

    step(f"1. Drop the first dataset of the {recipe} recipe: incoming/reviews/train.csv (+ test.csv)")
    first = push_and_wait(target, sample.train_v1, test=sample.test)
    answer = target.call("POST", "/predict", {"instances": sample.instances})
    for instance, prediction in zip(sample.instances, answer["predictions"], strict=True):
        print(f"  v{answer['model_version']} {describe_prediction(prediction)}  {shown(instance)}")

    step("2. Drop better data: challenger vs champion on the same rows, then a blue/green swap under live traffic")
    with BackgroundTraffic(target, sample.instances) as traffic:
        second = push_and_wait(target, sample.train_v2)
        time.sleep(1.0)  # keep the client running a moment past the swap
    print(
        f"  background client: {traffic.sent} requests sent, {traffic.failed} failed, "
        f"answered by {', '.join(f'v{v}: {n}' for v, n in sorted(traffic.versions.items()))}"
    )
    for error in traffic.errors[:3]:
        print(f"  ! {error}")
    show_comparison(target, int(str(second.get("version") or 2)))

    step("3. Drop a bad file: the run must fail with the precise reason, and the champion keeps serving")
    bad = push_and_wait(target, sample.bad)
    still = target.call("POST", "/predict", {"instances": sample.instances[:1]})
    print(f"  still serving: v{still['model_version']} ({describe_prediction(still['predictions'][0])})")

    scored_rows, drift = _after_deployment(cloud, target, sample, recipe)

    step("Summary")
    models = target.call("GET", "/models")
    metrics = sorted({name for m in models for name in m["metrics"]})[:5]
    print_table(
        ("model", "status", *metrics),
        [(f"v{m['version']}", m["status"], *(f"{m['metrics'].get(k, 0):.4f}" for k in metrics)) for m in models],
    )
    print()
    runs = target.call("GET", "/runs")
    print_table(
        ("run", "status", "outcome", "cost on AWS", "cause"),
        [
            (
                r["run_id"],
                r["status"],
                r.get("outcome") or "",
                usd((r.get("cost") or {}).get("total_usd")),
                (r.get("error") or "")[:80],
            )
            for r in runs
        ],
    )
    print(
        "  (cost: us-east-1 list prices of each training job's billable seconds, Lambda, Step Functions: docs/cost.md)"
    )
    emails = sorted((cloud.state_dir / "outbox").glob("*.eml"))
    print(f"\n  emails in the outbox: {len(emails)} ({cloud.state_dir / 'outbox'})")
    print(f"  requests during the swap: {traffic.sent} sent, {traffic.failed} failed")

    ok = (
        first.get("outcome") == "DEPLOYED"
        and second.get("outcome") == "DEPLOYED"
        and bad.get("status") == "FAILED"
        and traffic.failed == 0
        and traffic.sent > 0
        and still["model_version"] == 2
        and len(scored_rows) == 21
        and bool(drift.get("alert"))
        and all(r.get("cost") for r in runs)  # each run says what it cost (issue 17)
    )
    print(
        f"\n{'DEMO PASSED' if ok else 'DEMO FAILED'}: v1 deployed, v2 swapped in with "
        f"{traffic.failed} failed requests, bad file rejected, v{still['model_version']} serving, "
        f"{len(scored_rows) - 1} rows batch-scored, drift {'detected' if drift.get('alert') else 'NOT detected'}"
    )
    if not exit_after:
        # The key and the token stay off stdout (issue 18): `challenger local token` prints them when asked.
        print(f"\nDashboard: {cloud.gateway.url}   (the link with its token: `challenger local token`)")
        print(f"API:       {cloud.gateway.api_url}   (x-api-key: `challenger local token`)")
        print("Serving until Ctrl-C.")
        try:
            while True:
                time.sleep(1)
        except KeyboardInterrupt:
            print("\nstopping…")
    return 0 if ok else 1
