"""Issue 21, "your own model live": `challenger recipe new --kind multiclass`, real data and recipe.json fields only
(no code), then the local cloud takes it from a drop to LIVE and the CLI shows its classes by name.

Real public data, offline: the UCI Wine set scikit-learn ships (3 cultivars), repeated so rows recur and the file
holds more rows than one request carries. The recipe lives in a scratch repository, published the way the stack
publishes any recipe (the local cloud's publisher reads that repository's recipes/).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from challenger.cli import main, models_list, predict, runs_show
from challenger.local import provision
from challenger.local.cloud import LocalCloud
from tests.integration.conftest import push_and_wait, target_of
from tests.support.recipes import repository_with_the_kit
from tests.support.scaffold_data import real_dataset


@pytest.fixture(scope="module")
def wine_repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    repo = repository_with_the_kit(tmp_path_factory.mktemp("repo"))
    assert main(["recipe", "new", "wine", "--kind", "multiclass", "--root", str(repo)]) == 0
    recipe_dir = repo / "recipes" / "wine"
    real = real_dataset("multiclass")
    for stale in (recipe_dir / "data").iterdir():
        stale.unlink()
    real.write(recipe_dir)
    spec = json.loads((recipe_dir / "recipe.json").read_text(encoding="utf-8"))
    spec["schema"]["features"] = [{"name": name, "type": "number"} for name in real.features]
    spec["schema"]["target"] = real.target
    spec["prediction"]["fields"]["label"] = "int"
    (recipe_dir / "recipe.json").write_text(json.dumps(spec, indent=2), encoding="utf-8")
    return repo


@pytest.fixture(scope="module")
def cloud(cloud_factory: Callable[..., LocalCloud], wine_repo: Path) -> LocalCloud:
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(provision, "RECIPES", wine_repo / "recipes")
        return cloud_factory(parameters={"Recipe": "wine"})


def test_a_scaffolded_multiclass_recipe_on_real_data_goes_live_and_names_its_classes(
    cloud: LocalCloud, wine_repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    train = wine_repo / "recipes" / "wine" / "data" / "train_v2.csv"
    run = push_and_wait(target_of(cloud), train, dataset="wine")
    assert (run["status"], run["outcome"], run["version"]) == ("SUCCEEDED", "DEPLOYED", 1), run.get("error")
    target = target_of(cloud)
    model = target.call("GET", "/models/1")
    assert model["status"] == "LIVE"
    assert model["metrics"]["log_loss"] < 0.5  # the primary metric: multiclass log loss

    capsys.readouterr()
    models_list(target)
    assert capsys.readouterr().out.splitlines()[0].split()[:3] == ["model", "status", "log_loss"]
    runs_show(target, str(run["run_id"]))
    shown = capsys.readouterr().out
    assert "class_0" in shown
    assert "class_2" in shown
    header = next(line for line in shown.splitlines() if "predicted" in line)
    assert header.split()[-3:] == ["class_0", "class_1", "class_2"]

    first = train.read_text(encoding="utf-8").splitlines()[1].split(",")
    instance = dict(zip(real_dataset("multiclass").features, map(float, first[:-1]), strict=True))
    answer = predict(target, [json.dumps(instance)])
    [prediction] = answer["predictions"]
    assert prediction["label_name"] == f"class_{prediction['label']}"
    assert abs(sum(prediction["probabilities"].values()) - 1) < 1e-9
