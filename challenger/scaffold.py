"""`challenger recipe new NAME`: scaffold a working recipe with sample data and tests.

The new recipe starts as a copy of the `penguins` recipe's generic code (`train.py`, `inference.py`,
`requirements.txt`: a ridge regression over whatever number and category features `recipe.json` declares) and its
sample data, with its own `recipe.json`, a README saying how to make it yours (`scaffold_templates/README.md.tmpl`)
and a test module (`scaffold_templates/test_recipe.py.tmpl`, the template `tests/unit/recipes/test_penguins_recipe.py`
is rendered from), so it trains and passes its tests before anything is edited.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TEMPLATES = Path(__file__).resolve().parent / "scaffold_templates"
SOURCE_RECIPE = ROOT / "recipes" / "penguins"
CODE_FILES = ("train.py", "inference.py", "requirements.txt")
SAMPLE_FILES = ("train_v1.csv", "train_v2.csv", "bad_missing_values.csv")
PLACEHOLDER = "__RECIPE_NAME__"
# A recipe name is a path segment of S3 keys (recipes/<name>/...), a template parameter value and part of a Python
# test module's name: lowercase letters, digits and underscores keep it valid in all three.
NAME_PATTERN = re.compile(r"[a-z][a-z0-9_]{0,39}")
RESERVED_NAMES = {"kit"}


class ScaffoldError(ValueError):
    """The recipe cannot be scaffolded (bad name, or it would overwrite something)."""


def render(template: str, name: str) -> str:
    """A template's text with the recipe name filled in."""
    return (TEMPLATES / template).read_text(encoding="utf-8").replace(PLACEHOLDER, name)


def test_module_path(root: Path, name: str) -> Path:
    """Where the recipe's generated tests go (with the other recipe tests, so `make test` runs them)."""
    return root / "tests" / "unit" / "recipes" / f"test_{name}_recipe.py"


def new_recipe(name: str, root: Path = ROOT, source: Path = SOURCE_RECIPE) -> list[Path]:
    """Create ``recipes/<name>/`` and its test module under ``root``; returns the files written.

    Refuses an invalid or reserved name and never overwrites an existing recipe or test module.
    """
    if not NAME_PATTERN.fullmatch(name) or name in RESERVED_NAMES:
        raise ScaffoldError(
            f"invalid recipe name {name!r}: use 1-40 lowercase letters, digits or underscores, starting with a "
            f"letter (not {', '.join(sorted(RESERVED_NAMES))})"
        )
    recipe_dir = root / "recipes" / name
    tests = test_module_path(root, name)
    for path in (recipe_dir, tests):
        if path.exists():
            raise ScaffoldError(f"{path} already exists; pick another name or remove it first")

    spec = json.loads((source / "recipe.json").read_text(encoding="utf-8"))
    spec["name"] = name
    spec["description"] = f"{name}: {spec['description']} Scaffolded from {source.name}; edit for your task."

    written: list[Path] = []
    (recipe_dir / "data").mkdir(parents=True)
    for file in CODE_FILES:
        written.append(Path(shutil.copy2(source / file, recipe_dir / file)))
    for file in SAMPLE_FILES:
        written.append(Path(shutil.copy2(source / "data" / file, recipe_dir / "data" / file)))
    outputs = {
        recipe_dir / "recipe.json": json.dumps(spec, indent=2) + "\n",
        recipe_dir / "README.md": render("README.md.tmpl", name),
        tests: render("test_recipe.py.tmpl", name),
    }
    for path, text in outputs.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        written.append(path)
    return written
