"""The RecipesLayer (template.yaml) as `sam build` makes it: the root Makefile's build-RecipesLayer target, run the
way SAM's makefile builder runs it (`make -f Makefile build-RecipesLayer` in a copy of recipes/, ARTIFACTS_DIR set).
What the deployed publisher reads at /opt/recipes must publish the same bytes the local cloud publishes from the
repository's recipes/."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from challenger.local import provision

ROOT = Path(__file__).resolve().parents[2]


class RecordingS3:
    """Just the S3 call the publisher makes."""

    def __init__(self) -> None:
        self.objects: dict[str, bytes] = {}

    def put_object(self, *, Bucket: str, Key: str, Body: bytes, ContentType: str, **checksum: str) -> dict[str, Any]:
        self.objects[f"{Bucket}/{Key}"] = Body
        return {"VersionId": "1"}


@pytest.fixture(scope="module")
def layer(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The built layer's root (what Lambda extracts into /opt)."""
    scratch = tmp_path_factory.mktemp("scratch") / "recipes"
    shutil.copytree(ROOT / "recipes", scratch)  # SAM copies ContentUri to a scratch directory first
    artifacts = tmp_path_factory.mktemp("RecipesLayer")
    command = ["make", "--no-print-directory", "-f", str(ROOT / "Makefile"), "build-RecipesLayer"]
    completed = subprocess.run(
        [*command, f"PYTHON={sys.executable}"],
        cwd=scratch,
        env={"PATH": "/usr/bin:/bin", "ARTIFACTS_DIR": str(artifacts)},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr
    return artifacts


def recipe_names() -> list[str]:
    return sorted(path.parent.name for path in (ROOT / "recipes").glob("*/recipe.json"))


def test_the_layer_holds_every_recipe_and_the_kit_under_recipes_and_nothing_a_bundle_leaves_out(layer: Path) -> None:
    assert [path.name for path in layer.iterdir()] == ["recipes"]
    recipes = layer / "recipes"
    assert {"challenger_kit.py", "bundle.py"} <= {path.name for path in (recipes / "kit").iterdir()}
    for name in recipe_names():
        assert (recipes / name / "recipe.json").read_bytes() == (ROOT / "recipes" / name / "recipe.json").read_bytes()
    left_out = {"data", "tests", "__pycache__", "pyproject.toml"}
    assert not [path for path in recipes.rglob("*") if path.name in left_out or path.suffix == ".pyc"]


@pytest.mark.parametrize("name", recipe_names())
def test_the_publisher_publishes_the_same_bundle_from_the_layer_as_from_the_repository(layer: Path, name: str) -> None:
    publisher = provision._publisher()
    deployed, local = RecordingS3(), RecordingS3()
    assert publisher.publish(deployed, "artifacts", name, layer / "recipes") == publisher.publish(
        local, "artifacts", name, provision.RECIPES
    )
    assert deployed.objects == local.objects
