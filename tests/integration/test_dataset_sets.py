"""A dataset of many parts on the local cloud (issue 24): `data push DIR` drops 8 CSV parts and _SUCCESS; one run
validates them in a Processing job (the local SageMaker, the image's environment) and trains on the pinned copy.
The `penguins` recipe (Palmer penguins, real data)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pyarrow.csv as pa_csv
import pyarrow.parquet as pq
import pytest

from challenger.cli import push_and_follow
from challenger.local.cloud import LocalCloud
from tests.integration.conftest import push_and_wait, target_of

PENGUINS = Path(__file__).resolve().parents[2] / "recipes" / "penguins" / "data"


@pytest.fixture(scope="module")
def cloud(cloud_factory: Callable[..., LocalCloud]) -> LocalCloud:
    return cloud_factory(parameters={"Recipe": "penguins"})


def csv_parts(directory: Path, source: Path, *, count: int = 8, break_part: int | None = None) -> Path:
    directory.mkdir()
    header, *rows = source.read_text().splitlines()
    size = -(-len(rows) // count)
    for index in range(count):
        chunk = rows[index * size : (index + 1) * size]
        if index == break_part:
            chunk[2] = chunk[2].replace(",male,", ",unknown,").replace(",female,", ",unknown,")
        (directory / f"part-{index:05d}.csv").write_text("\n".join([header, *chunk]) + "\n")
    return directory


def test_a_malformed_row_in_part_7_of_8_fails_the_run_naming_part_and_line(cloud: LocalCloud, tmp_path: Path) -> None:
    parts = csv_parts(tmp_path / "bad", PENGUINS / "train_v1.csv", break_part=6)
    run = push_and_wait(target_of(cloud), parts, dataset="penguins")
    assert run["status"] == "FAILED"
    assert "unknown 'sex' 'unknown'" in str(run["error"])
    assert "at train/part-00006.csv line 4" in str(run["error"])


def test_eight_csv_parts_go_live_and_the_same_content_again_is_unchanged(cloud: LocalCloud, tmp_path: Path) -> None:
    target = target_of(cloud)
    run = push_and_wait(target, csv_parts(tmp_path / "good", PENGUINS / "train_v1.csv"), dataset="penguins")
    assert (run["status"], run["outcome"]) == ("SUCCEEDED", "DEPLOYED"), run.get("error")
    model = target.call("GET", f"/models/{run['version']}")
    assert model["status"] == "LIVE"
    assert model["train_rows"] + model["test_rows"] <= 170
    said: list[str] = []
    again = push_and_follow(
        target, csv_parts(tmp_path / "again", PENGUINS / "train_v1.csv"), "penguins", None, echo=said.append
    )
    assert again is None  # the same parts, the same ETags: the trigger starts nothing
    assert said[-1].startswith(f"no run started: same rows as v{run['version']}'s data")


def test_a_parquet_set_validates_in_a_processing_job_and_trains(cloud: LocalCloud, tmp_path: Path) -> None:
    directory = tmp_path / "parquet"
    directory.mkdir()
    table = pa_csv.read_csv(PENGUINS / "train_v2.csv")
    half = table.num_rows // 2
    pq.write_table(table.slice(0, half), directory / "part-00000.parquet", row_group_size=50)
    pq.write_table(table.slice(half), directory / "part-00001.parquet", row_group_size=50)
    run = push_and_wait(target_of(cloud), directory, dataset="penguins")
    assert run["status"] == "SUCCEEDED", run.get("error")
    assert run["version"] is not None
