"""`challenger recipe new NAME --kind binary|multiclass|regression`: scaffold a working recipe with sample data and
tests.

The new recipe's code is the generic linear model of ``scaffold_templates/recipe/`` (``train.py``, ``inference.py``,
``requirements.txt``: standardized numbers and one-hot categories, then ridge regression or logistic regression,
served from plain arrays with numpy alone), whatever number and category features its ``recipe.json`` declares.
Its sample data is the Palmer penguins data of ``recipes/penguins`` with a target that fits the kind (body mass for
a regression, sex for a binary classifier, species for a multiclass one); its ``recipe.json`` declares that, with
the kind's metrics (``KIND_SPECS``); a README says how to make it yours (``scaffold_templates/README.md.tmpl``) and a
test module (``scaffold_templates/test_recipe.py.tmpl``) trains it and checks what it serves, so it passes its
tests before anything is edited — and still does once its data and recipe.json are the user's.
"""

from __future__ import annotations

import csv
import io
import json
import re
import shutil
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
TEMPLATES = Path(__file__).resolve().parent / "scaffold_templates"
SAMPLE_SOURCE = ROOT / "recipes" / "penguins" / "data"
CODE_FILES = ("train.py", "inference.py", "requirements.txt")
KINDS = ("binary", "multiclass", "regression")
PLACEHOLDER = "__RECIPE_NAME__"
# A recipe name is a path segment of S3 keys (recipes/<name>/...), a template parameter value and part of a Python
# test module's name: lowercase letters, digits and underscores keep it valid in all three.
NAME_PATTERN = re.compile(r"[a-z][a-z0-9_]{0,39}")
RESERVED_NAMES = {"kit"}

SPECIES, ISLANDS, SEXES = ["Adelie", "Chinstrap", "Gentoo"], ["Biscoe", "Dream", "Torgersen"], ["female", "male"]
FEATURES: dict[str, dict[str, Any]] = {
    "species": {"name": "species", "type": "category", "values": SPECIES},
    "island": {"name": "island", "type": "category", "values": ISLANDS},
    "bill_length_mm": {"name": "bill_length_mm", "type": "number", "min": 20, "max": 80},
    "bill_depth_mm": {"name": "bill_depth_mm", "type": "number", "min": 10, "max": 30},
    "flipper_length_mm": {"name": "flipper_length_mm", "type": "number", "min": 150, "max": 250},
    "sex": {"name": "sex", "type": "category", "values": SEXES},
    "body_mass_g": {"name": "body_mass_g", "type": "number", "min": 2000, "max": 7000},
}
CLASSIFIER_PREDICTION = {"label": "str", "label_name": "str", "score": "float"}
# Per kind: the sample's target, what recipe.json says about it, and the kit's metrics for the kind. The floors are
# loose on purpose (a fresh stack must go live on the sample), the primary metric is the one a user most often
# wants: ROC AUC for two classes, log loss (calibrated probabilities) for several, RMSE for a number.
KIND_SPECS: dict[str, dict[str, Any]] = {
    "regression": {
        "description": "body mass (g) of Palmer penguins from species, island, sex and measurements (ridge regression)",
        "target": {"name": "body_mass_g", "kind": "regression"},
        "prediction": {"fields": {"value": "float"}, "score": "value = the predicted target"},
        "metrics": {"rmse": "lower", "mae": "lower", "r2": "higher"},
        "primary_metric": "rmse",
        "floor": {"metric": "rmse", "value": 450},
        "guardrails": ["mae"],
        "hyperparameters": {"alpha": 1.0},
    },
    "binary": {
        "description": "sex of Palmer penguins from species, island and measurements (logistic regression)",
        "target": {"name": "sex", "kind": "binary", "labels": {"female": "female", "male": "male"}, "positive": "male"},
        "prediction": {"fields": CLASSIFIER_PREDICTION, "score": "probability of the positive class (male)"},
        "metrics": {"roc_auc": "higher", "accuracy": "higher", "f1": "higher", "log_loss": "lower"},
        "primary_metric": "roc_auc",
        "floor": {"metric": "accuracy", "value": 0.7},
        "guardrails": ["log_loss"],
        "hyperparameters": {"C": 1.0},
    },
    "multiclass": {
        "description": "species of Palmer penguins from island, sex and measurements (multinomial logistic regression)",
        "target": {
            "name": "species",
            "kind": "multiclass",
            "labels": {"Adelie": "Adélie", "Chinstrap": "Chinstrap", "Gentoo": "Gentoo"},
        },
        "prediction": {"fields": CLASSIFIER_PREDICTION, "score": "probability of the predicted class"},
        "metrics": {"log_loss": "lower", "accuracy": "higher", "f1_macro": "higher", "balanced_accuracy": "higher"},
        "primary_metric": "log_loss",
        "floor": {"metric": "accuracy", "value": 0.8},
        "guardrails": ["f1_macro"],
        "hyperparameters": {"C": 1.0},
    },
}


class ScaffoldError(ValueError):
    """The recipe cannot be scaffolded (bad name or kind, or it would overwrite something)."""


def render(template: str, name: str) -> str:
    """A template's text with the recipe name filled in."""
    return (TEMPLATES / template).read_text(encoding="utf-8").replace(PLACEHOLDER, name)


def test_module_path(root: Path, name: str) -> Path:
    """Where the recipe's generated tests go (with the other recipe tests, so `make test` runs them)."""
    return root / "tests" / "unit" / "recipes" / f"test_{name}_recipe.py"


def recipe_spec(name: str, kind: str) -> dict[str, Any]:
    """The scaffold's recipe.json for a kind: every feature of the sample but the target, the kind's metrics."""
    spec = KIND_SPECS[kind]
    target = spec["target"]["name"]
    return {
        "name": name,
        "description": f"{name}: {spec['description']}. Scaffolded by `challenger recipe new`; edit for your task.",
        "framework": {"name": "sklearn", "version": "1.9-0", "python": "3.12"},
        "schema": {
            "features": [feature for column, feature in FEATURES.items() if column != target],
            "target": spec["target"],
            "min_rows": 50,
            "min_test_rows": 10,
        },
        "prediction": spec["prediction"],
        "metrics": spec["metrics"],
        "primary_metric": spec["primary_metric"],
        "floor": spec["floor"],
        "guardrails": spec["guardrails"],
        "golden": {"rows": 20, "score_tolerance": 1e-6},
        "hyperparameters": spec["hyperparameters"],
    }


def _sample(rows: list[dict[str, str]], target: str) -> str:
    """Rows as CSV text, the target last (a file reads like its recipe: features, then the target)."""
    columns = [c for c in FEATURES if c != target] + [target]
    text = io.StringIO()
    writer = csv.DictWriter(text, fieldnames=columns, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return text.getvalue()


def sample_files(kind: str) -> dict[str, str]:
    """The sample data for a kind: train_v2.csv (every complete penguin), train_v1.csv (every other one of those:
    all classes, and a subset of v2, so v1's hold-out rows stay hold-out) and a file training must refuse."""
    with (SAMPLE_SOURCE / "train_v2.csv").open(newline="", encoding="utf-8") as handle:
        complete = list(csv.DictReader(handle))
    target = KIND_SPECS[kind]["target"]["name"]
    return {
        "train_v1.csv": _sample(complete[::2], target),
        "train_v2.csv": _sample(complete, target),
        "bad_missing_values.csv": (SAMPLE_SOURCE / "bad_missing_values.csv").read_text(encoding="utf-8"),
    }


def new_recipe(name: str, root: Path = ROOT, kind: str = "regression") -> list[Path]:
    """Create ``recipes/<name>/`` and its test module under ``root``; returns the files written.

    Refuses an invalid or reserved name or an unknown kind, and never overwrites an existing recipe or test module.
    """
    if not NAME_PATTERN.fullmatch(name) or name in RESERVED_NAMES:
        raise ScaffoldError(
            f"invalid recipe name {name!r}: use 1-40 lowercase letters, digits or underscores, starting with a "
            f"letter (not {', '.join(sorted(RESERVED_NAMES))})"
        )
    if kind not in KINDS:
        raise ScaffoldError(f"unknown kind {kind!r}: one of {', '.join(KINDS)}")
    recipe_dir = root / "recipes" / name
    tests = test_module_path(root, name)
    for path in (recipe_dir, tests):
        if path.exists():
            raise ScaffoldError(f"{path} already exists; pick another name or remove it first")

    outputs = {recipe_dir / file: render(f"recipe/{file}.tmpl", name) for file in CODE_FILES}
    outputs |= {recipe_dir / "data" / file: text for file, text in sample_files(kind).items()}
    outputs |= {
        recipe_dir / "recipe.json": json.dumps(recipe_spec(name, kind), indent=2, ensure_ascii=False) + "\n",
        recipe_dir / "README.md": render("README.md.tmpl", name).replace("__KIND__", kind),
        tests: render("test_recipe.py.tmpl", name),
    }
    written: list[Path] = []
    try:
        for path, text in outputs.items():
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
            written.append(path)
    except OSError:
        shutil.rmtree(recipe_dir, ignore_errors=True)  # no half recipe left behind
        tests.unlink(missing_ok=True)
        raise
    return written
