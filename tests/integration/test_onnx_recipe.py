"""Issue 21: a recipe with ``"model": {"format": "onnx"}`` — train.py only fits a LightGBM classifier in a scikit-learn
pipeline — goes from a drop to LIVE on the local cloud: the kit converts and golden-checks it in the training job,
the strict model container (read-only, unprivileged, no network) serves model.onnx with the onnxruntime vendored in
the model's runtime/, and the next drop is judged against that ONNX champion through its own serving code.

Real public data: the Palmer penguins rows of recipes/penguins (species as the target). The recipe lives in a scratch
repository, published the way the stack publishes any recipe.
"""

from __future__ import annotations

import csv
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from challenger.local import provision
from challenger.local.cloud import LocalCloud
from tests.integration.conftest import push_and_wait, target_of
from tests.support.recipes import repository_with_the_kit

ROOT = Path(__file__).resolve().parents[2]
FIXTURE = ROOT / "tests" / "fixtures" / "recipes" / "penguins_species_onnx"
PENGUINS = ROOT / "recipes" / "penguins" / "data"
COLUMNS = ["island", "bill_length_mm", "bill_depth_mm", "flipper_length_mm", "body_mass_g", "sex", "species"]
GENTOO = {
    "island": "Biscoe",
    "bill_length_mm": 47.5,
    "bill_depth_mm": 15.0,
    "flipper_length_mm": 217,
    "body_mass_g": 5200,
    "sex": "male",
}
ADELIE = {
    "island": "Torgersen",
    "bill_length_mm": 38.9,
    "bill_depth_mm": 17.8,
    "flipper_length_mm": 181,
    "body_mass_g": 3625,
    "sex": "female",
}


def species_file(destination: Path, every: int = 1) -> Path:
    """recipes/penguins' complete rows (every ``every``-th one) in this recipe's columns."""
    with (PENGUINS / "train_v2.csv").open(encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))[::every]
    with destination.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(COLUMNS)
        writer.writerows([row[c] for c in COLUMNS] for row in rows)
    return destination


@pytest.fixture(scope="module")
def onnx_repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    repo = repository_with_the_kit(tmp_path_factory.mktemp("repo"))
    recipe_dir = repo / "recipes" / FIXTURE.name
    shutil.copytree(FIXTURE, recipe_dir)
    (recipe_dir / "data").mkdir()
    species_file(recipe_dir / "data" / "train_v1.csv", every=2)
    species_file(recipe_dir / "data" / "train_v2.csv")
    return repo


@pytest.fixture(scope="module")
def cloud(cloud_factory: Callable[..., LocalCloud], onnx_repo: Path) -> LocalCloud:
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(provision, "RECIPES", onnx_repo / "recipes")
        return cloud_factory(parameters={"Recipe": FIXTURE.name})


def predict(cloud: LocalCloud, *instances: dict[str, Any]) -> dict[str, Any]:
    answer: dict[str, Any] = target_of(cloud).call("POST", "/predict", {"instances": list(instances)})
    return answer


def test_an_onnx_recipe_goes_live_and_its_endpoint_serves_model_onnx(cloud: LocalCloud, onnx_repo: Path) -> None:
    data = onnx_repo / "recipes" / FIXTURE.name / "data"
    run = push_and_wait(target_of(cloud), data / "train_v1.csv", dataset="penguins")
    assert (run["status"], run["outcome"], run["version"]) == ("SUCCEEDED", "DEPLOYED", 1), run.get("error")
    model = target_of(cloud).call("GET", "/models/1")
    assert model["status"] == "LIVE"
    assert model["metrics"]["accuracy"] >= 0.8  # the recipe's floor

    answer = predict(cloud, GENTOO, ADELIE)
    assert answer["model_version"] == 1
    gentoo, adelie = answer["predictions"]
    assert (gentoo["label"], adelie["label"]) == ("Gentoo", "Adelie")
    assert abs(sum(gentoo["probabilities"].values()) - 1) < 1e-5
    assert gentoo["score"] == gentoo["probabilities"]["Gentoo"]


def test_the_next_drop_is_compared_with_the_onnx_champion_through_its_own_serving_code(
    cloud: LocalCloud, onnx_repo: Path
) -> None:
    data = onnx_repo / "recipes" / FIXTURE.name / "data"
    run = push_and_wait(target_of(cloud), data / "train_v2.csv", dataset="penguins")
    assert run["status"] == "SUCCEEDED", run.get("error")
    model = target_of(cloud).call("GET", "/models/2")
    comparison = model["comparison"]
    assert comparison is not None, model.get("comparison_error")
    assert comparison["rows"] >= 10
    assert set(comparison["champion_metrics"]) >= {"log_loss", "accuracy"}
