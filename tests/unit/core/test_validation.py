from __future__ import annotations

import tracemalloc

import pytest

from challenger_core.errors import DataValidationError
from challenger_core.recipe import RecipeSpec
from challenger_core.validation import MAX_BYTES, validate_bytes, validate_stream
from tests.support.recipes import RECIPES

SOURCE = "train file incoming/x/train.csv"


def csv_of(rows: list[tuple[str, str]], header: str = "review_text,sentiment") -> bytes:
    return ("\n".join([header, *(f'"{text}",{label}' for text, label in rows)]) + "\n").encode()


GOOD = [(f"review number {i} was {'great' if i % 2 else 'bad'}", str(i % 2)) for i in range(40)]


def problems(data: bytes, recipe: RecipeSpec, role: str = "train") -> str:
    with pytest.raises(DataValidationError) as caught:
        validate_bytes(data, recipe.data_schema, source=SOURCE, role=role)
    return str(caught.value)


# The bundled recipe, through the generic checks -----------------------------------------------------
def test_valid_file_is_summarised(sentiment_recipe: RecipeSpec) -> None:
    summary = validate_bytes(csv_of(GOOD), sentiment_recipe.data_schema, source="train")
    assert summary.rows == 40
    assert summary.class_counts == {"negative": 20, "positive": 20}
    assert len(summary.sha256) == 64


def test_missing_column_is_named(sentiment_recipe: RecipeSpec) -> None:
    message = problems(csv_of(GOOD, header="review_text,label"), sentiment_recipe)
    assert "missing column(s) 'sentiment'; found 'review_text', 'label'" in message
    assert message.startswith(f"{SOURCE}: ")


def test_unknown_labels_are_listed_with_lines(sentiment_recipe: RecipeSpec) -> None:
    message = problems(csv_of([*GOOD, ("fine", "pos"), ("meh", "2")]), sentiment_recipe)
    assert (
        "2 row(s) have unknown labels 'pos', '2' in column 'sentiment' "
        "(expected 0 for negative, 1 for positive; lines 42, 43)" in message
    )


def test_too_few_rows(sentiment_recipe: RecipeSpec) -> None:
    assert "too few rows: 4 data row(s), at least 20 required" in problems(csv_of(GOOD[:4]), sentiment_recipe)


def test_a_test_file_needs_the_recipes_test_minimum_only(sentiment_recipe: RecipeSpec) -> None:
    summary = validate_bytes(csv_of(GOOD[:6]), sentiment_recipe.data_schema, source="test", role="test")
    assert summary.rows == 6
    assert "at least 5 required" in problems(csv_of(GOOD[:3]), sentiment_recipe, role="test")


def test_one_class_only(sentiment_recipe: RecipeSpec) -> None:
    rows = [(f"lovely {i}", "1") for i in range(30)]
    assert "only one class present: every row is positive (1)" in problems(csv_of(rows), sentiment_recipe)


def test_unreadable_csv_is_reported(sentiment_recipe: RecipeSpec) -> None:
    assert "unreadable CSV" in problems(b'review_text,sentiment\n"unterminated,1\x00\n', sentiment_recipe)


def test_binary_file_is_not_utf8(sentiment_recipe: RecipeSpec) -> None:
    assert "not UTF-8 text (byte 0" in problems(b"\xff\xfe\x00\x81garbage", sentiment_recipe)


def test_empty_file(sentiment_recipe: RecipeSpec) -> None:
    assert "file is empty: expected a header row 'review_text,sentiment'" in problems(b"", sentiment_recipe)


def test_several_problems_reported_together(sentiment_recipe: RecipeSpec) -> None:
    message = problems(csv_of([("", "1"), ("x", "yes")]), sentiment_recipe)
    assert "unknown labels 'yes'" in message
    assert "1 row(s) have an empty 'review_text' (line 2)" in message
    assert "too few rows" in message


def test_text_longer_than_the_recipe_allows(sentiment_recipe: RecipeSpec) -> None:
    rows = [*GOOD, ("x" * 20_001, "1")]
    assert "1 row(s) have a 'review_text' longer than 20,000 characters (line 42)" in problems(
        csv_of(rows), sentiment_recipe
    )


def test_the_bundled_bad_samples_fail_with_their_reason(sentiment_recipe: RecipeSpec) -> None:
    data = RECIPES / "sentiment" / "data"
    assert "missing column(s)" in problems((data / "bad_missing_column.csv").read_bytes(), sentiment_recipe)
    assert "unknown labels" in problems((data / "bad_labels.csv").read_bytes(), sentiment_recipe)
    validate_bytes((data / "train_v1.csv").read_bytes(), sentiment_recipe.data_schema, source="v1")


# A tabular recipe: numbers, categories, multiclass -----------------------------------------------------
TABLE = "height,soil,note,species\n" + "".join(
    f"{10 + i},{('clay', 'sand', 'loam')[i % 3]},row {i},{'abc'[i % 3]}\n" for i in range(9)
)


def test_tabular_file_is_checked_by_feature_type(tabular_recipe: RecipeSpec) -> None:
    summary = validate_bytes(TABLE.encode(), tabular_recipe.data_schema, source="plants")
    assert summary.class_counts == {"alpha": 3, "beta": 3, "gamma": 3}
    bad = TABLE + "abc,clay,x,a\n150,clay,x,a\ninf,sand,x,b\n5,gravel,x,b\n5,sand,,c\n5,sand,x,z\n"
    message = problems(bad.encode(), tabular_recipe)
    assert "2 row(s) have a 'height' that is not a finite number: 'abc', 'inf' (lines 11, 13)" in message
    assert "1 row(s) have a 'height' outside [0.0, 100.0]: '150' (line 12)" in message
    assert "1 row(s) have an unknown 'soil' 'gravel' (expected one of 'clay', 'sand', 'loam'; line 14)" in message
    assert "1 row(s) have an empty 'note' (line 15)" in message
    assert (
        "1 row(s) have unknown labels 'z' in column 'species' (expected a for alpha, b for beta, c for gamma; line 16)"
        in message
    )


def test_columns_may_come_in_any_order_with_extras(tabular_recipe: RecipeSpec) -> None:
    reordered = "species,extra,note,soil,height\n" + "".join(
        f"{'abc'[i % 3]},x,row {i},{('clay', 'sand', 'loam')[i % 3]},{i}\n" for i in range(9)
    )
    assert validate_bytes(reordered.encode(), tabular_recipe.data_schema, source="plants").rows == 9


def test_too_few_of_a_class(tabular_recipe: RecipeSpec) -> None:
    rows = TABLE + "".join(f"{i},clay,x,a\n" for i in range(5))
    scarce = rows.replace(",c\n", ",a\n", 2)
    assert "too few examples of gamma (1): at least 2 per class required" in problems(scarce.encode(), tabular_recipe)


def test_regression_target_must_be_a_number(tabular_recipe: RecipeSpec) -> None:
    schema = tabular_recipe.data_schema.model_copy(
        update={"target": tabular_recipe.data_schema.target.model_copy(update={"kind": "regression", "labels": {}})}
    )
    data = TABLE.replace(",a\n", ",1.5\n").replace(",b\n", ",2\n").replace(",c\n", ",nan\n")
    with pytest.raises(
        DataValidationError, match=r"3 row\(s\) have a target 'species' that is not a finite number: 'nan'"
    ):
        validate_bytes(data.encode(), schema, source="x")


# Bounded: memory, size, and the message ----------------------------------------------------------------
class Repeated:
    """A stream of `header + rows * times`, produced as it is read (the file is never in memory)."""

    def __init__(self, sample: bytes, times: int) -> None:
        self.header, self.rows = sample.split(b"\n", 1)
        self.left = times
        self.pending = self.header + b"\n"
        self.size = len(self.pending) + len(self.rows) * times

    def read(self, size: int = -1) -> bytes:
        while len(self.pending) < size and self.left:
            self.pending += self.rows
            self.left -= 1
        chunk, self.pending = self.pending[:size], self.pending[size:]
        return chunk


def peak_bytes(sample: bytes, times: int, recipe: RecipeSpec) -> tuple[int, int]:
    stream = Repeated(sample, times)
    tracemalloc.start()
    try:
        summary = validate_stream(stream, recipe.data_schema, source="big", size=stream.size)
        return tracemalloc.get_traced_memory()[1], summary.rows
    finally:
        tracemalloc.stop()


def test_peak_memory_does_not_grow_with_the_file(sentiment_recipe: RecipeSpec) -> None:
    sample = (RECIPES / "sentiment" / "data" / "train_v2.csv").read_bytes()  # ~110 KB, 1,500 rows
    peak_10, rows_10 = peak_bytes(sample, 10, sentiment_recipe)
    peak_100, rows_100 = peak_bytes(sample, 100, sentiment_recipe)  # ~11 MB
    assert (rows_10, rows_100) == (15_000, 150_000)
    assert peak_100 < 4 * 1024 * 1024
    assert peak_100 < peak_10 * 1.5


def test_size_is_refused_before_anything_is_read(sentiment_recipe: RecipeSpec) -> None:
    class Unreadable:
        def read(self, size: int = -1) -> bytes:
            raise AssertionError("read before the size check")

    with pytest.raises(DataValidationError, match="over the 536,870,912 byte limit"):
        validate_stream(Unreadable(), sentiment_recipe.data_schema, source="big", size=MAX_BYTES + 1)


def test_a_file_without_line_breaks_fails_with_a_short_message(sentiment_recipe: RecipeSpec) -> None:
    message = problems(b"review_text,sentiment\n" + b"x" * 3_000_000, sentiment_recipe)
    assert "line 2 is longer than 1,048,576 characters" in message
    assert len(message) < 300


def test_huge_labels_give_a_short_clear_message(sentiment_recipe: RecipeSpec) -> None:
    rows = [*GOOD, *((f"text {i}", f"{i}" + "L" * 100_000) for i in range(50))]
    message = problems(csv_of(rows), sentiment_recipe)
    assert "50 row(s) have unknown labels '0LLLL" in message
    assert "lines 42, 43, 44, 45, 46, …" in message
    assert len(message) < 1000


def test_a_header_wider_than_the_limit_is_refused_by_its_width(sentiment_recipe: RecipeSpec) -> None:
    # Issue 18: a 100,001-column header (200 KB) ran a quadratic duplicate check for 92 s–5 min.
    header = ",".join(["review_text", "sentiment", *(f"c{i}" for i in range(99_999))])
    message = problems(csv_of(GOOD, header=header), sentiment_recipe)
    assert "header has 100,001 columns, over the 10,000 column limit of ValidateData" in message
    assert len(message) < 300


def test_duplicates_in_a_header_at_the_width_limit_are_named(sentiment_recipe: RecipeSpec) -> None:
    extra = [f"c{i}" for i in range(9_996)]
    header = ",".join(["review_text", "sentiment", *extra, "c7", "Sentiment"])
    message = problems(csv_of(GOOD, header=header), sentiment_recipe)
    assert "column(s) named twice in the header: 'c7', 'sentiment'" in message


def test_the_same_rows_in_another_order_and_spelling_have_the_same_content(sentiment_recipe: RecipeSpec) -> None:
    """Issue 19: identical content, not identical bytes — row order, column order and quoting do not matter."""
    schema = sentiment_recipe.data_schema
    original = validate_bytes(csv_of(GOOD), schema, source="train")
    reordered = validate_bytes(csv_of(list(reversed(GOOD))), schema, source="train")
    swapped = ("sentiment,review_text\n" + "".join(f"{label},{text}\n" for text, label in GOOD)).encode()
    relabelled = validate_bytes(
        csv_of([(GOOD[0][0], "1" if GOOD[0][1] == "0" else "0"), *GOOD[1:]]), schema, source="t"
    )

    assert original.sha256 != reordered.sha256
    assert original.content == reordered.content == validate_bytes(swapped, schema, source="train").content
    assert len(original.content) == 64
    assert relabelled.content != original.content  # one label changed: other data
