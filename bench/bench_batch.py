"""A 100,000-row batch file through the local cloud, compared with /predict on the same rows (issue 16).

Brings the local cloud up in a throw-away state directory, trains and deploys the sentiment recipe on its bundled
sample, then scores one file of ``--rows`` reviews (the bundled reviews made distinct, with quotes, commas,
non-ASCII text and a formula-like id among them) with ``challenger batch score`` (BatchPipeline: StartBatch, a Batch
Transform job of MultiRecord mini-batches up to 6 MB, FinishBatch) and the same rows with ``POST /predict`` in
requests of 1,000 instances (the API's limit). Every row's label and score must be identical. Prints a line, writes
JSON; exit status 1 on any difference or failure. Not part of ``make test``: the 100,000-row transform job itself
has a test (``tests/local/sagemaker/test_transform.py``); this is the whole product path.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from challenger.cli import batch_score, data_push, latest_run_id, local_target, runs_wait
from challenger.local.cloud import LocalCloud

DATA = Path(__file__).resolve().parents[1] / "recipes" / "sentiment" / "data"
EXTRA = ['She said "great", then "awful".', "Crème brûlée maker, très bien, 10/10", "=1+1, works", "ok"]


def reviews(rows: int) -> list[str]:
    bundled: list[str] = []
    for name in ("train_v2.csv", "test.csv"):
        with (DATA / name).open(encoding="utf-8", newline="") as file:
            bundled.extend(row["review_text"] for row in csv.DictReader(file))
    bundled.extend(EXTRA)
    return [f"{bundled[n % len(bundled)]} (order {n})" for n in range(rows)]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--json", type=Path, default=Path(__file__).parent / "results" / "batch.json")
    args = parser.parse_args()
    texts = reviews(args.rows)
    with tempfile.TemporaryDirectory(prefix="bench-batch-") as tmp:
        state = Path(tmp) / "challenger"
        cloud = LocalCloud(state_dir=state, progress=lambda _: None).start()
        try:
            target = local_target(state)
            data_push(target, DATA / "train_v1.csv", "reviews", DATA / "test.csv")
            run = runs_wait(target, latest_run_id(target), timeout=600, echo=lambda _: None)
            if run["outcome"] != "DEPLOYED":
                print(f"the sample did not deploy: {run}", file=sys.stderr)
                return 1
            source = Path(tmp) / "big.csv"
            with source.open("w", encoding="utf-8", newline="") as file:
                writer = csv.writer(file, lineterminator="\n")
                writer.writerow(["id", "review_text"])
                writer.writerows([f"=id{n}" if n == 7 else n, text] for n, text in enumerate(texts))
            file_bytes = source.stat().st_size
            started = time.monotonic()
            result = batch_score(target, source, "big", Path(tmp) / "big.out.csv", timeout=1800)
            batch_seconds = time.monotonic() - started
            with result.open(encoding="utf-8", newline="") as file:
                scored = list(csv.DictReader(file))
            started = time.monotonic()
            live: list[dict[str, Any]] = []
            for at in range(0, len(texts), 1_000):
                live += target.call("POST", "/predict", {"instances": texts[at : at + 1_000]})["predictions"]
            predict_seconds = time.monotonic() - started
        finally:
            cloud.stop()
    differ = sum(
        1
        for row, p in zip(scored, live, strict=False)
        if (int(row["label"]), float(row["score"])) != (p["label"], p["score"])
    )
    report = {
        "rows": len(texts),
        "file_bytes": file_bytes,
        "scored_rows": len(scored),
        "differing_rows": differ + abs(len(scored) - len(live)),
        "formula_id_neutralised": scored[7]["id"] == "'=id7",
        "batch_seconds": round(batch_seconds, 1),
        "predict_seconds": round(predict_seconds, 1),
    }
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(report))
    ok = report["differing_rows"] == 0 and report["scored_rows"] == len(texts) and report["formula_id_neutralised"]
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
