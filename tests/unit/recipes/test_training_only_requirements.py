"""A requirements.txt line marked `# training only` (issue 21): the training toolkit installs it, the model's
code/lib never gets it, and the serving container is told to install nothing."""

from __future__ import annotations

from pathlib import Path

import challenger_kit


def test_serving_lines_leave_out_the_training_only_ones(tmp_path: Path) -> None:
    requirements = tmp_path / "requirements.txt"
    requirements.write_text(
        "# a comment line\n"
        "lightgbm==4.7.0  # training only: fits the trees\n"
        "tinyhelper==1.0  # serves too\n"
        "other==2.0  # Training Only\n"
        "\n",
        encoding="utf-8",
    )
    assert challenger_kit.requirement_lines(requirements) == ["lightgbm==4.7.0", "tinyhelper==1.0", "other==2.0"]
    assert challenger_kit.requirement_lines(requirements, serving=True) == ["tinyhelper==1.0"]


def test_a_recipe_with_training_only_requirements_vendors_nothing(tmp_path: Path) -> None:
    recipe_dir = tmp_path / "recipe"
    recipe_dir.mkdir()
    (recipe_dir / "inference.py").write_text("def model_fn(model_dir):\n    return None\n", encoding="utf-8")
    (recipe_dir / "recipe.json").write_text("{}", encoding="utf-8")
    (recipe_dir / "requirements.txt").write_text("lightgbm==4.7.0  # training only\n", encoding="utf-8")
    model_dir = tmp_path / "model"
    challenger_kit.install_serving_code(recipe_dir, model_dir, ["inference.py"])
    code = model_dir / "code"
    assert not (code / "lib").exists()
    listed = (code / "requirements.txt").read_text(encoding="utf-8").splitlines()
    assert listed[0].startswith("# Training only")
    assert challenger_kit.requirement_lines(code / "requirements.txt") == []  # the container installs nothing
    assert "lightgbm==4.7.0" in listed[1]
