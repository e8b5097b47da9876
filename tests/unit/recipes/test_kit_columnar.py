"""The kit reads a channel in bounded columnar chunks (issue 24): CSV or Parquet, one file or many parts; the hash
split and the trusted filter chunk by chunk; the columnar ``fit_batches`` interface; serving stays numpy-only."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
import textwrap
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.csv as pcsv
import pyarrow.parquet as pq
import pytest

from tests.unit.recipes.conftest import DATA_DIR, KIT_DIR, RECIPE_DIR, Job
from tests.unit.recipes.test_penguins_recipe import _load_train_module

PENGUINS = RECIPE_DIR.parent / "penguins"


@pytest.fixture(scope="module")
def recipe(kit: ModuleType) -> Any:
    return kit.load_recipe(RECIPE_DIR)


@pytest.fixture(scope="module")
def penguins() -> ModuleType:
    """recipes/penguins/train.py (with its inference.py), loaded as the penguins tests load it."""
    return _load_train_module()


def sample_rows() -> tuple[list[str], list[list[str]]]:
    with (DATA_DIR / "train_v1.csv").open(newline="", encoding="utf-8") as handle:
        header, *rows = list(csv.reader(handle))
    return header, rows


def write_csv(path: Path, header: list[str], rows: list[list[str]]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def big_csv(path: Path, copies: int) -> Path:
    """The sentiment sample repeated, each copy's text suffixed with its number (distinct rows)."""
    header, rows = sample_rows()
    return write_csv(path, header, [[f"{text} {copy}", label] for copy in range(copies) for text, label in rows])


def test_a_directory_of_csv_and_parquet_parts_reads_as_the_single_file_does(
    kit: ModuleType, recipe: Any, tmp_path: Path
) -> None:
    header, rows = sample_rows()
    channel = tmp_path / "train"
    write_csv(channel / "part-0000.csv", header, rows[:100])
    write_csv(channel / "part-0001.csv", header, rows[100:200])
    table = pa.table({"review_text": [r[0] for r in rows[200:]], "sentiment": [int(r[1]) for r in rows[200:]]})
    pq.write_table(table, channel / "part-0002.parquet", row_group_size=50)
    (channel / "_SUCCESS").write_text("")
    (channel / "_manifest.json").write_text("{}")

    assert [p.name for p in kit.data_files(channel)] == ["part-0000.csv", "part-0001.csv", "part-0002.parquet"]
    assert kit.read_rows(channel, recipe) == kit.read_rows(DATA_DIR / "train_v1.csv", recipe)


def test_a_bad_row_in_a_later_part_names_the_part_and_its_line_past_multiline_values(
    kit: ModuleType, recipe: Any, tmp_path: Path
) -> None:
    header, rows = sample_rows()
    channel = tmp_path / "train"
    write_csv(channel / "part-1.csv", header, rows[:50])
    bad = [list(r) for r in rows[:300]]
    bad[3][0] = "a review\nwritten over\nthree lines"  # quoted line breaks: the csv module counts each as a line
    bad[250][1] = "pos"
    path = write_csv(channel / "part-2.csv", header, bad)
    with path.open(newline="", encoding="utf-8") as handle:
        reader = csv.reader(handle)
        expected = next(reader.line_num for fields in reader if fields[1] == "pos")
    assert expected == 254  # header + 250 rows + 2 extra lines of the multi-line review, + 1

    with pytest.raises(kit.RecipeError) as refused:
        list(kit.read_batches(channel, recipe, chunk_bytes=4096))
    assert str(refused.value).startswith(f"part-2.csv line {expected}: invalid sentiment 'pos'")


def test_a_bad_parquet_value_names_the_row_and_row_group(kit: ModuleType, recipe: Any, tmp_path: Path) -> None:
    texts = [f"review {i}" for i in range(100)]
    labels = [1] * 100
    labels[73] = 7
    pq.write_table(pa.table({"review_text": texts, "sentiment": labels}), tmp_path / "p.parquet", row_group_size=30)
    with pytest.raises(kit.RecipeError, match=r"^p.parquet row 74 \(row group 2\): invalid sentiment '7'"):
        list(kit.read_batches(tmp_path / "p.parquet", recipe))


def test_a_short_row_is_reported_with_its_line_as_read_rows_did(kit: ModuleType, recipe: Any, tmp_path: Path) -> None:
    path = tmp_path / "train.csv"
    path.write_text('review_text,sentiment\n"fine film",1\n"no label"\n', encoding="utf-8")
    with pytest.raises(kit.RecipeError, match=r"^train.csv line 3: row has too few fields$"):
        kit.read_rows(path, recipe)


def test_the_chunked_split_equals_the_in_memory_split_with_test_and_trusted_rows(
    kit: ModuleType, recipe: Any, tmp_path: Path
) -> None:
    path = big_csv(tmp_path / "train.csv", copies=8)  # ~460 KB: many 64 KB chunks
    rows = kit.read_rows(path, recipe)
    test, trusted = rows[:20], rows[40:70]
    chunks = list(kit.read_batches(path, recipe, chunk_bytes=64 * 1024))
    assert len(chunks) > 4
    expected = kit.split_rows(rows, test, recipe, 0.2, trusted)

    split = kit.split_channel(path, recipe, 0.2, tmp_path, test, trusted, chunk_bytes=64 * 1024)

    train_rows, train_hashes = split.train_rows()
    assert (train_rows, train_hashes) == (expected.train, expected.train_hashes)
    assert (split.holdout, split.holdout_hashes) == (expected.holdout, expected.holdout_hashes)
    assert (split.dropped_as_test_rows, split.dropped_as_trusted_rows) == (
        expected.dropped_as_test_rows,
        expected.dropped_as_trusted_rows,
    )
    assert split.dropped_as_test_rows >= 20
    assert split.dropped_as_trusted_rows > 0
    assert split.train_ids() == sorted({h[: kit.ROW_ID_CHARS] for h in expected.train_hashes})
    split.write_train_ids(tmp_path / "streamed.json")
    kit._write_json(tmp_path / "dumped.json", split.train_ids())
    assert (tmp_path / "streamed.json").read_bytes() == (tmp_path / "dumped.json").read_bytes()
    assert sum(b.num_rows for b in split.train_batches()) == split.n_train == len(expected.train)


def test_reading_many_megabytes_holds_about_a_chunk_not_the_file(tmp_path: Path) -> None:
    """Peak memory of reading a 12 MB channel through the kit: Arrow's pool and Python's heap (tracemalloc) stay
    within 16 chunks of 512 KB (8 MB), in a fresh process; reading the same file as rows (the old read_rows) holds
    all of it."""
    path = big_csv(tmp_path / "train.csv", copies=210)
    size = path.stat().st_size
    assert size > 12_000_000
    script = textwrap.dedent(
        f"""
        import json, sys, tracemalloc
        sys.path.insert(0, {str(KIT_DIR)!r})
        import pyarrow as pa
        import challenger_kit as kit
        recipe = kit.load_recipe({str(RECIPE_DIR)!r})
        list(kit.read_batches({str(DATA_DIR / "train_v1.csv")!r}, recipe))  # imports first: not the data's memory
        tracemalloc.start()
        if sys.argv[1] == "chunks":
            rows = sum(batch.num_rows for batch in kit.read_batches({str(path)!r}, recipe, chunk_bytes=1 << 19))
        else:
            rows = len(kit.read_rows({str(path)!r}, recipe))
        print(json.dumps({{"rows": rows, "python": tracemalloc.get_traced_memory()[1],
                           "arrow": pa.default_memory_pool().max_memory()}}))
        """
    )

    def peak(mode: str) -> dict[str, int]:
        done = subprocess.run([sys.executable, "-c", script, mode], capture_output=True, text=True, check=True)
        result: dict[str, int] = json.loads(done.stdout)
        return result

    chunked, whole = peak("chunks"), peak("rows")
    assert chunked["rows"] == whole["rows"] > 100_000
    assert chunked["arrow"] + chunked["python"] < 8 * (1 << 20), chunked
    assert whole["arrow"] + whole["python"] > size, whole


def test_the_penguins_batch_fit_equals_its_row_fit(kit: ModuleType, penguins: ModuleType, tmp_path: Path) -> None:
    train = penguins
    recipe = kit.load_recipe(PENGUINS)
    split = kit.split_channel(PENGUINS / "data" / "train_v1.csv", recipe, 0.2, tmp_path, chunk_bytes=64 * 1024)
    by_rows = train.fit(split.train_rows()[0], {"alpha": 1.0})
    by_batches = train.fit_batches(split.train_batches, {"alpha": 1.0})
    assert by_batches.model.categories == by_rows.model.categories
    np.testing.assert_allclose(
        by_batches.model.predict_values(split.holdout), by_rows.model.predict_values(split.holdout), rtol=1e-9
    )


def test_a_recipe_with_fit_batches_gets_batches_once_the_rows_outgrow_memory(
    kit: ModuleType, penguins: ModuleType, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[str] = []

    def fit_rows(rows: Any, hyperparameters: Any) -> Any:
        calls.append("rows")
        return penguins.fit(rows, hyperparameters)

    def fit_batches(batches: Any, hyperparameters: Any) -> Any:
        calls.append("batches")
        assert all(isinstance(b, pa.RecordBatch) for b in batches())
        return penguins.fit_batches(batches, hyperparameters)

    def job(name: str) -> dict[str, Any]:
        root = tmp_path / name
        argv = ["--train", str(PENGUINS / "data" / "train_v1.csv"), "--model-dir", str(root / "model")]
        argv += ["--output-data-dir", str(root / "data")]
        monkeypatch.setenv("SM_OUTPUT_DIR", str(root))
        for channel in ("TRAIN", "TEST", "TRUSTED", "CHAMPION"):
            monkeypatch.delenv(f"SM_CHANNEL_{channel}", raising=False)
        code = penguins.challenger_kit.main(
            fit=fit_rows,
            fit_batches=fit_batches,
            save=penguins.save,
            predict=penguins.predict,
            recipe_dir=PENGUINS,
            argv=argv,
        )
        assert code == 0
        report: dict[str, Any] = json.loads((root / "data" / "evaluation.json").read_text())
        return report

    as_rows = job("rows")  # 138 rows: far below ROWS_IN_MEMORY_BYTES
    monkeypatch.setattr(penguins.challenger_kit, "ROWS_IN_MEMORY_BYTES", 0)
    in_batches = job("batches")

    assert calls == ["rows", "batches"]
    assert in_batches["n_train"] == as_rows["n_train"]
    assert in_batches["metrics"]["rmse"] == pytest.approx(as_rows["metrics"]["rmse"], rel=1e-9)


def test_serving_never_imports_pyarrow_or_pandas(v1_job: Job) -> None:
    """A model server loads the model's own code/ (inference.py and its copy of the kit) and answers: no pyarrow,
    no pandas in the process (the serving side is numpy-only; pyarrow is the training side's)."""
    code = v1_job.model / "code"
    script = textwrap.dedent(
        f"""
        import json, sys
        sys.path.insert(0, {str(code)!r})
        import inference
        model = inference.model_fn({str(v1_job.model)!r})
        data = inference.input_fn(json.dumps({{"instances": ["a lovely film"]}}), "application/json")
        print(inference.output_fn(inference.predict_fn(data, model), "application/json")[0])
        print(sorted(name for name in ("pyarrow", "pandas") if name in sys.modules))
        """
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    answer, loaded = done.stdout.strip().splitlines()
    assert json.loads(answer)["predictions"][0]["label"] in (0, 1)
    assert loaded == "[]"


def test_a_job_trains_on_parquet_parts_as_on_the_csv_they_hold(
    kit: ModuleType, penguins: ModuleType, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = PENGUINS / "data" / "train_v1.csv"
    table = pcsv.read_csv(source, convert_options=pcsv.ConvertOptions(strings_can_be_null=False))
    channel = tmp_path / "parquet"
    channel.mkdir()
    half = table.num_rows // 2
    pq.write_table(table.slice(0, half), channel / "part-00000.parquet")
    pq.write_table(table.slice(half), channel / "part-00001.parquet")
    (channel / "_SUCCESS").write_text("")

    def job(name: str, train: Path) -> dict[str, Any]:
        root = tmp_path / name
        monkeypatch.setenv("SM_OUTPUT_DIR", str(root))
        for variable in ("TRAIN", "TEST", "TRUSTED", "CHAMPION"):
            monkeypatch.delenv(f"SM_CHANNEL_{variable}", raising=False)
        argv = ["--train", str(train), "--model-dir", str(root / "model"), "--output-data-dir", str(root / "data")]
        code = penguins.challenger_kit.main(
            fit=penguins.fit,
            fit_batches=penguins.fit_batches,
            save=penguins.save,
            predict=penguins.predict,
            recipe_dir=PENGUINS,
            argv=argv,
        )
        assert code == 0
        report: dict[str, Any] = json.loads((root / "data" / "evaluation.json").read_text())
        return report

    from_parquet, from_csv = job("parquet", channel), job("csv", source)
    # Parquet's numbers arrive as int64/double, the CSV's as text: the kit types both to the same float64 rows.
    assert from_parquet["eval_set"] == from_csv["eval_set"]
    assert from_parquet["metrics"] == from_csv["metrics"]
