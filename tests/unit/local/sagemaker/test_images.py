"""Framework images as local environments: which image a request or recipe means, which Python, the overlay."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from challenger.local.sagemaker import images
from challenger.local.template import LocalTemplate

REPO = Path(__file__).resolve().parents[4]


def test_the_templates_default_image_is_one_the_local_cloud_can_run() -> None:
    # TrainingImageUri empty: the template builds the region's image from its FrameworkImage table (issue 17).
    default = next(f for f in LocalTemplate().functions() if f.logical_id == "StartTrainingFunction")
    image = images.image_for_uri(default.environment["TRAINING_IMAGE_URI"])
    assert (image.framework, image.version, image.python) == ("sklearn", "1.9-0", "3.12")


@pytest.mark.parametrize("recipe", sorted(path.parent.name for path in REPO.glob("recipes/*/recipe.json")))
def test_every_recipe_declares_the_image_the_template_deploys(recipe: str) -> None:
    declared = json.loads((REPO / "recipes" / recipe / "recipe.json").read_text(encoding="utf-8"))["framework"]
    image = images.recipe_image(REPO / "recipes" / recipe)
    assert declared == {"name": image.framework, "version": image.version, "python": image.python}
    assert image == images.get_image(images.DEFAULT_FRAMEWORK, images.DEFAULT_VERSION)


def test_a_recipe_without_recipe_json_gets_the_default_image(tmp_path: Path) -> None:
    assert images.recipe_image(tmp_path).name == "sklearn-1.9-0"


@pytest.mark.parametrize(
    "uri",
    [
        "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-scikit-learn:1.4-2-cpu-py3",
        "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-xgboost:1.7-1",
        "123456789012.dkr.ecr.us-east-1.amazonaws.com/my-image:latest",
    ],
)
def test_an_image_without_a_local_environment_is_refused_by_name(uri: str) -> None:
    with pytest.raises(images.ImageError, match=r"sklearn 1\.9-0|not a SageMaker framework image"):
        images.image_for_uri(uri)


def test_every_pin_is_exact() -> None:
    for image in images.IMAGES.values():
        lines = [line.strip() for line in image.pins.read_text(encoding="utf-8").splitlines()]
        pins = [line for line in lines if line and not line.startswith("#")]
        assert pins
        assert all(re.fullmatch(r"[A-Za-z0-9._-]+==[A-Za-z0-9.+]+", pin) for pin in pins), pins


def _fake_pythons(versions: list[str]) -> list[tuple[tuple[int, ...], Path]]:
    return [(tuple(int(p) for p in v.split(".")), Path(f"/py/{v}/bin/python3")) for v in versions]


@pytest.mark.parametrize(
    ("available", "chosen"),
    [
        (["3.10.13", "3.12.1", "3.12.9", "3.13.0"], "3.12.9"),  # the image's minor, newest patch
        (["3.10.13", "3.11.7", "3.13.0"], "3.13.0"),  # missing: the nearest, newer first
        (["3.9.18", "3.11.7"], "3.11.7"),
    ],
)
def test_the_images_python_or_the_nearest_one_is_used(
    monkeypatch: pytest.MonkeyPatch, available: list[str], chosen: str
) -> None:
    images.find_python.cache_clear()
    monkeypatch.setattr(images, "_pythons", lambda minor: _fake_pythons(available))
    try:
        assert images.find_python("3.12") == (Path(f"/py/{chosen}/bin/python3"), chosen)
    finally:
        images.find_python.cache_clear()


def test_an_overlay_chains_to_the_image_and_keeps_its_own_installs_apart(tmp_path: Path) -> None:
    image = images.get_image("sklearn", "1.9-0")
    env = images.Environment(image, tmp_path / "image", Path("/py/3.12.1/bin/python3"), "3.12.1")
    python = images.overlay(env, tmp_path / "job")
    assert python.is_symlink()
    assert python.readlink() == Path("/py/3.12.1/bin/python3")
    config = (tmp_path / "job" / "pyvenv.cfg").read_text(encoding="utf-8")
    assert config == "home = /py/3.12.1/bin\ninclude-system-site-packages = false\nversion = 3.12.1\n"
    pth = tmp_path / "job" / "lib" / "python3.12" / "site-packages" / "_framework_image.pth"
    assert pth.read_text(encoding="utf-8").strip() == str(tmp_path / "image" / "lib" / "python3.12" / "site-packages")
