"""The drift check against baselines written by the recipe kit itself (the contract between kit and core)."""

from __future__ import annotations

import csv
import random
from pathlib import Path
from typing import Any

import challenger_kit
import pytest

from challenger_core import drift
from tests.support.events import ROOT


def _rows(recipe_name: str, file: str) -> tuple[Any, list[dict[str, Any]]]:
    recipe = challenger_kit.load_recipe(ROOT / "recipes" / recipe_name / "recipe.json")
    rows = challenger_kit.read_rows(ROOT / "recipes" / recipe_name / "data" / file, recipe)
    return recipe, rows


def _captures(recipe: Any, rows: list[dict[str, Any]], predictions: list[dict[str, Any]]) -> list[dict[str, Any]]:
    names = [f["name"] for f in recipe.features]
    return [
        {"instance": {n: row[n] for n in names}, "prediction": prediction}
        for row, prediction in zip(rows, predictions, strict=True)
    ]


@pytest.fixture(scope="module")
def sentiment() -> tuple[Any, dict[str, Any], list[dict[str, Any]]]:
    recipe, rows = _rows("sentiment", "train_v2.csv")
    predictions = [{"label": row["sentiment"], "score": 0.9 if row["sentiment"] == 1 else 0.1} for row in rows]
    baseline = challenger_kit.build_baseline(recipe, rows, predictions)
    return recipe, baseline, _captures(recipe, rows, predictions)


def test_identical_distributions_have_zero_psi() -> None:
    assert drift.psi([0.2, 0.3, 0.5], [0.2, 0.3, 0.5]) == 0.0
    assert drift.psi([0.5, 0.5], [0.9, 0.1]) > 0.25


def test_in_distribution_text_traffic_raises_no_alert(sentiment: tuple[Any, dict[str, Any], list[Any]]) -> None:
    _, baseline, captures = sentiment
    sample = random.Random(7).sample(captures, 300)
    report = drift.check(baseline, sample, version=3, threshold=0.2, min_samples=100)
    assert report.skipped is None
    assert not report.alert, report.worst
    assert {d.statistic for d in report.drifts} >= {"length", "tokens", "oov_rate", "labels", "score"}


def test_shifted_text_traffic_raises_an_alert_naming_the_feature(
    sentiment: tuple[Any, dict[str, Any], list[Any]],
) -> None:
    _, baseline, _ = sentiment
    # Another domain: long texts in a vocabulary the model never saw, all scored positive.
    words = ["quantum", "lattice", "eigenvalue", "manifold", "tensor", "spectral", "homotopy", "fibration"]
    rng = random.Random(3)
    shifted = [
        {
            "instance": {"review_text": " ".join(rng.choice(words) for _ in range(60))},
            "prediction": {"label": 1, "score": 0.55},
        }
        for _ in range(200)
    ]
    report = drift.check(baseline, shifted, version=3, threshold=0.2, min_samples=100)
    assert report.alert
    assert report.worst[0].psi > 0.2
    assert {d.feature for d in report.worst} >= {"review_text", "prediction"}
    assert {d.statistic for d in report.worst if d.feature == "review_text"} >= {"oov_rate", "length"}


def test_too_few_captures_give_no_verdict(sentiment: tuple[Any, dict[str, Any], list[Any]]) -> None:
    _, baseline, captures = sentiment
    report = drift.check(baseline, captures[:20], version=3, threshold=0.2, min_samples=100)
    assert report.skipped == "20 captured prediction(s) of v3, at least 100 needed"
    assert not report.alert
    assert report.drifts == []


def test_tabular_drift_on_numbers_and_categories() -> None:
    recipe, rows = _rows("penguins", "train_v2.csv")
    predictions = [{"value": float(row["body_mass_g"])} for row in rows]
    baseline = challenger_kit.build_baseline(recipe, rows, predictions)
    same = drift.check(baseline, _captures(recipe, rows, predictions), version=1, threshold=0.2, min_samples=50)
    assert not same.alert, same.worst

    # Only one island and heavier birds: a category shift and a numeric shift.
    shifted_rows = [{**row, "island": "Biscoe", "flipper_length_mm": row["flipper_length_mm"] + 25} for row in rows]
    shifted = drift.check(
        baseline, _captures(recipe, shifted_rows, predictions), version=1, threshold=0.2, min_samples=50
    )
    drifted = {d.feature for d in shifted.worst}
    assert drifted == {"island", "flipper_length_mm"}


def test_unseen_category_values_count_as_drift() -> None:
    baseline = {"features": {"colour": {"type": "category", "frequencies": {"red": 0.5, "blue": 0.5}}}}
    captures = [{"instance": {"colour": "green"}, "prediction": {}}] * 100
    report = drift.check(baseline, captures, version=1, threshold=0.2, min_samples=10)
    assert report.alert
    assert report.worst[0].feature == "colour"


def test_sample_data_files_exist_for_the_contract_tests() -> None:
    # The drift tests read the recipes' own sample data; fail loudly if a recipe renames it.
    for recipe, file in (("sentiment", "train_v2.csv"), ("penguins", "train_v2.csv")):
        path: Path = ROOT / "recipes" / recipe / "data" / file
        with path.open() as handle:
            assert next(csv.reader(handle))


def test_unseen_in_distribution_text_raises_no_alert() -> None:
    # The baseline's vocabulary comes from the training rows, so their own OOV rate is 0 by construction; live
    # traffic is unseen text. The kit measures the OOV histogram on the hold-out, so unseen rows of the same
    # distribution do not read as drift (a baseline measured on the training rows alone gave PSI ~4.4 here).
    recipe, train = _rows("sentiment", "train_v1.csv")
    _, test = _rows("sentiment", "test.csv")
    split = challenger_kit.split_rows(train, test, recipe, 0.2)
    predictions = [{"label": row["sentiment"], "score": 0.9 if row["sentiment"] else 0.1} for row in split.holdout]
    baseline = challenger_kit.build_baseline(recipe, split.train, predictions, split.holdout)
    live = [{"label": row["sentiment"], "score": 0.9 if row["sentiment"] else 0.1} for row in test[:300]]
    report = drift.check(baseline, _captures(recipe, test[:300], live), version=1, threshold=0.2, min_samples=100)
    assert not report.alert, report.worst


def test_capture_lines_that_are_not_records_are_counted_not_raised() -> None:
    captures = drift.Captures()
    captures.add_object(b'{"instance": {"x": 1}, "prediction": {"value": 2}}\n\n{oops\n\xff\n{"instance": []}\n')
    captures.add_object(b"not json at all")
    assert len(captures.rows) == 1
    assert (captures.skipped_lines, captures.skipped_objects) == (4, 1)
