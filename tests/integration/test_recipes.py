"""Any recipe on the same pipeline: a stack whose `Recipe` parameter selects the tabular regression recipe
(`penguins`: number and category features, rmse lower-is-better) goes from a drop to LIVE and answers `/predict`
with that recipe's records; clearly better data is promoted on the paired rmse, the same rows reordered train nothing
(issue 19); a bad file fails its run while the champion keeps serving."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from challenger.cli import CliError
from challenger.local.cloud import LocalCloud
from tests.integration.conftest import push_and_wait, target_of

PENGUINS = Path(__file__).resolve().parents[2] / "recipes" / "penguins" / "data"
GENTOO = {
    "species": "Gentoo",
    "island": "Biscoe",
    "bill_length_mm": 47.5,
    "bill_depth_mm": 15.0,
    "flipper_length_mm": 217,
    "sex": "male",
}
ADELIE = {
    "species": "Adelie",
    "island": "Torgersen",
    "bill_length_mm": 38.9,
    "bill_depth_mm": 17.8,
    "flipper_length_mm": 181,
    "sex": "female",
}


@pytest.fixture(scope="module")
def cloud(cloud_factory: Callable[..., LocalCloud]) -> LocalCloud:
    return cloud_factory(parameters={"Recipe": "penguins"})


def predict(cloud: LocalCloud, *instances: dict[str, Any]) -> dict[str, Any]:
    answer: dict[str, Any] = target_of(cloud).call("POST", "/predict", {"instances": list(instances)})
    return answer


def test_a_penguins_drop_goes_live_and_predict_answers_with_the_recipes_records(cloud: LocalCloud) -> None:
    run = push_and_wait(target_of(cloud), PENGUINS / "train_v1.csv", dataset="penguins")
    assert (run["status"], run["outcome"], run["version"]) == ("SUCCEEDED", "DEPLOYED", 1), run.get("error")
    model = target_of(cloud).call("GET", "/models/1")
    assert model["status"] == "LIVE"
    assert model["metrics"]["rmse"] <= 450  # the recipe's floor, lower is better

    answer = predict(cloud, GENTOO, ADELIE)
    assert answer["model_version"] == 1
    heavier, lighter = (p["value"] for p in answer["predictions"])
    assert isinstance(heavier, float)
    assert 2000 < lighter < 6000
    with pytest.raises(CliError, match="HTTP 4"):
        predict(cloud, {**GENTOO, "species": "Emperor"})


def test_clearly_better_data_is_promoted_on_the_paired_rmse(cloud: LocalCloud) -> None:
    run = push_and_wait(target_of(cloud), PENGUINS / "train_v2.csv", dataset="penguins")
    assert (run["status"], run["outcome"], run["version"]) == ("SUCCEEDED", "DEPLOYED", 2), run.get("error")
    model = target_of(cloud).call("GET", "/models/2")
    assert model["status"] == "LIVE"
    assert model["verdict"]["promote"] is True
    # rmse is lower-is-better: the challenger wins when the whole interval of (challenger - champion) is below 0.
    rmse = model["comparison"]["differences"]["rmse"]
    assert rmse["low"] <= rmse["delta"] <= rmse["high"] < 0
    assert model["comparison"]["excluded_champion_training_rows"] == 0
    assert predict(cloud, GENTOO)["model_version"] == 2


def test_the_same_rows_in_another_order_are_not_promoted(cloud: LocalCloud, tmp_path: Path) -> None:
    lines = (PENGUINS / "train_v2.csv").read_text(encoding="utf-8").splitlines(keepends=True)
    reordered = tmp_path / "train.csv"
    reordered.write_text(lines[0] + "".join(reversed(lines[1:])), encoding="utf-8")
    run = push_and_wait(target_of(cloud), reordered, dataset="penguins")
    assert run["status"] == "SUCCEEDED", run.get("error")
    # Issue 19: identical content, not identical bytes — v2's very rows train nothing, and the run names v2.
    assert (run["outcome"], run["same_as_version"]) == ("UNCHANGED", 2)
    assert predict(cloud, GENTOO)["model_version"] == 2


def test_a_bad_file_fails_its_run_and_the_champion_keeps_serving(cloud: LocalCloud) -> None:
    run = push_and_wait(target_of(cloud), PENGUINS / "bad_missing_values.csv", dataset="penguins")
    assert run["status"] == "FAILED"
    assert "line 5" in str(run["error"])
    assert "bill_length_mm" in str(run["error"])
    assert predict(cloud, GENTOO)["model_version"] == 2
