"""Deterministic generator for the sentiment recipe's bundled sample data.

The reviews are synthetic and written for this project: short product reviews assembled from
sentence templates with positive/negative vocabulary, negations ("the kettle is not noisy"),
mixed reviews (a contrasting remark of the opposite polarity), vague one-liners, neutral filler
and a little label noise, so that a TF-IDF + logistic regression model lands at a realistic
0.85-0.95 accuracy rather than 1.0.

Two training sets exist to demonstrate "challenger beats champion":

* ``train_v1.csv`` (~800 rows) only sees a *core* ~80% of every word list and has more label
  noise, so a model trained on it is decent (F1 and accuracy ~0.84 on ``test.csv``, over the default
  0.8 floor) but misses reviews that
  use words it never saw.
* ``train_v2.csv`` (~1500 rows) sees the full vocabulary with little noise and scores a clearly
  higher F1 (~0.9) on the same ``test.csv``.

Run ``python recipes/sentiment/data/generate.py`` to rewrite the CSVs next to this file (or pass
``--out DIR``). Output is byte-for-byte reproducible: one seeded ``random.Random`` per file and no
dependence on hash ordering, locale or time.
"""

from __future__ import annotations

import argparse
import csv
import io
import random
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

HEADER = ("review_text", "sentiment")

PRODUCTS = (
    "headphones", "blender", "phone case", "coffee maker", "backpack", "desk lamp", "keyboard",
    "running shoes", "water bottle", "vacuum cleaner", "air fryer", "smart watch", "tent",
    "office chair", "toaster", "bluetooth speaker", "electric kettle", "yoga mat", "monitor",
    "hair dryer", "rice cooker", "webcam", "suitcase", "gaming mouse",
)  # fmt: skip

ASPECTS = (
    "sound quality", "battery life", "build quality", "price", "design", "customer service",
    "packaging", "screen", "material", "instructions", "delivery", "fit", "size", "color",
    "charging cable", "warranty",
)  # fmt: skip

CORE_FRACTION = 0.8
# The first ~80% of every word list is the "core" vocabulary that train_v1 is limited to.
POS_ADJ = (
    "great", "good", "excellent", "nice", "solid", "perfect", "amazing", "sturdy",
    "fantastic", "superb", "reliable", "impressive", "outstanding", "wonderful", "durable",
    "comfortable", "flawless", "brilliant", "terrific", "handy",
)  # fmt: skip
NEG_ADJ = (
    "bad", "terrible", "awful", "poor", "cheap", "broken", "useless", "flimsy",
    "disappointing", "horrible", "defective", "noisy", "faulty", "mediocre", "unreliable",
    "uncomfortable", "overpriced", "shoddy", "dreadful", "frustrating",
)  # fmt: skip
POS_VERB = ("love", "like", "recommend", "enjoy", "adore", "appreciate", "treasure", "praise")
NEG_VERB = ("hate", "dislike", "regret buying", "returned", "despise", "resent", "loathe", "abandoned")
POS_PHRASE = (
    "Would buy again.", "Five stars.", "Worth every penny.", "Highly recommended.",
    "Exceeded my expectations.", "Best purchase this year.", "My family loves it.",
    "A real bargain.", "Pleasantly surprised.", "Does exactly what it promises.",
)  # fmt: skip
NEG_PHRASE = (
    "Would not buy again.", "One star.", "Waste of money.", "Avoid this one.",
    "Asked for a refund.", "Worst purchase this year.", "Save your money.",
    "Sent it straight back.", "Fell apart quickly.", "Nothing like the pictures.",
)  # fmt: skip
POS_ADV = ("perfectly", "flawlessly", "smoothly", "reliably", "beautifully", "effortlessly")
NEG_ADV = ("poorly", "badly", "erratically", "sluggishly", "intermittently", "loudly")
AMBIGUOUS = (
    "It is okay.", "Does the job I guess.", "Average at best.", "Not sure how I feel about it.",
    "It is fine for the price.", "Nothing special.", "Mixed feelings overall.",
)  # fmt: skip
NEUTRAL = (
    "I bought it for my {who}.", "It arrived on {day}.", "The box was {color}.",
    "I have used it for {n} weeks.", "Ordered it during a sale.", "Picked the {color} version.",
    "My {who} uses it every day.", "It came with a manual.",
)  # fmt: skip
WHO = ("sister", "brother", "dad", "mom", "roommate", "partner", "son", "daughter", "office")
DAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
COLORS = ("black", "white", "blue", "red", "grey", "green")


def _core(words: Sequence[str]) -> tuple[str, ...]:
    """The first ~80% of a word list: the only vocabulary train_v1 gets to see."""
    return tuple(words[: max(1, round(len(words) * CORE_FRACTION))])


@dataclass(frozen=True)
class Profile:
    """Knobs describing how one CSV is sampled."""

    rows: int
    seed: int
    core_vocab_only: bool  # restrict to the core ~80% of each word list (train_v1)
    negations: bool  # use "not <adj>" templates
    label_noise: float  # probability of flipping the label (annotator mistakes)
    mixed: float  # probability of adding a contrasting sentence of the opposite sentiment
    ambiguous: float  # probability the review is a vague one-liner with a coin-flip label


PROFILES: dict[str, Profile] = {
    "train_v1.csv": Profile(
        rows=800, seed=101, core_vocab_only=True, negations=True, label_noise=0.05, mixed=0.25, ambiguous=0.05
    ),
    "train_v2.csv": Profile(
        rows=1500,
        seed=202,
        core_vocab_only=False,
        negations=True,
        label_noise=0.03,
        mixed=0.25,
        ambiguous=0.04,
    ),
    "test.csv": Profile(
        rows=400,
        seed=303,
        core_vocab_only=False,
        negations=True,
        label_noise=0.04,
        mixed=0.25,
        ambiguous=0.04,
    ),
}


class _Vocab:
    """Word lists available to one profile."""

    def __init__(self, core_only: bool) -> None:
        pick = _core if core_only else tuple
        self.pos_adj = pick(POS_ADJ)
        self.neg_adj = pick(NEG_ADJ)
        self.pos_verb = pick(POS_VERB)
        self.neg_verb = pick(NEG_VERB)
        self.pos_phrase = pick(POS_PHRASE)
        self.neg_phrase = pick(NEG_PHRASE)
        self.pos_adv = pick(POS_ADV)
        self.neg_adv = pick(NEG_ADV)
        self.products = pick(PRODUCTS)
        self.aspects = pick(ASPECTS)


def _sentence(rng: random.Random, vocab: _Vocab, positive: bool, negations: bool) -> str:
    """One sentiment-bearing sentence of the requested polarity."""
    adj, other_adj = (vocab.pos_adj, vocab.neg_adj) if positive else (vocab.neg_adj, vocab.pos_adj)
    verb = vocab.pos_verb if positive else vocab.neg_verb
    phrase = vocab.pos_phrase if positive else vocab.neg_phrase
    adv = vocab.pos_adv if positive else vocab.neg_adv
    product = rng.choice(vocab.products)
    aspect = rng.choice(vocab.aspects)
    kinds = ["is", "verb", "aspect", "phrase", "works", "really"]
    if negations:
        # Negated opposite vocabulary ("not bad" -> positive) is what bigrams are for.
        kinds += ["negated", "negated_aspect"]
    kind = rng.choice(kinds)
    if kind == "is":
        return f"The {product} is {rng.choice(adj)}."
    if kind == "verb":
        return f"I {rng.choice(verb)} this {product}."
    if kind == "aspect":
        return f"{rng.choice(adj).capitalize()} {aspect}."
    if kind == "phrase":
        return rng.choice(phrase)
    if kind == "works":
        return f"It works {rng.choice(adv)}."
    if kind == "really":
        return f"Really {rng.choice(adj)} {product}, the {aspect} was {rng.choice(adj)}."
    if kind == "negated":
        return f"The {product} is not {rng.choice(other_adj)}."
    return f"The {aspect} was not {rng.choice(other_adj)} at all."


def _neutral(rng: random.Random) -> str:
    return rng.choice(NEUTRAL).format(
        who=rng.choice(WHO), day=rng.choice(DAYS), color=rng.choice(COLORS), n=rng.randint(2, 12)
    )


def _review(rng: random.Random, vocab: _Vocab, profile: Profile) -> tuple[str, int]:
    """One (review_text, sentiment) row."""
    if rng.random() < profile.ambiguous:
        # Vague reviews carry no signal; their label is a coin flip, like real data.
        parts = [rng.choice(AMBIGUOUS)]
        if rng.random() < 0.5:
            parts.append(_neutral(rng))
        return " ".join(parts), rng.randint(0, 1)
    label = rng.randint(0, 1)
    parts = [_sentence(rng, vocab, bool(label), profile.negations) for _ in range(rng.randint(1, 2))]
    if rng.random() < profile.mixed:
        # A contrasting remark; the dominant sentiment still wins, but not always by a margin.
        parts.append(_sentence(rng, vocab, bool(label), profile.negations))
        contrast = _sentence(rng, vocab, not label, profile.negations)
        parts.insert(rng.randint(0, len(parts)), contrast)
    if rng.random() < 0.5:
        parts.insert(rng.randint(0, len(parts)), _neutral(rng))
    if rng.random() < profile.label_noise:
        label = 1 - label
    return " ".join(parts), label


def generate_rows(profile: Profile) -> list[tuple[str, int]]:
    """All rows of one profile, deterministically."""
    rng = random.Random(profile.seed)  # noqa: S311 - reproducible sample data, not security
    vocab = _Vocab(profile.core_vocab_only)
    return [_review(rng, vocab, profile) for _ in range(profile.rows)]


def _to_csv(rows: Sequence[Sequence[object]], header: Sequence[str] = HEADER) -> str:
    buf = io.StringIO()
    # "\n" line endings keep the files identical on every OS (csv defaults to "\r\n").
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return buf.getvalue()


def render_all() -> dict[str, str]:
    """Map of file name -> CSV text for every bundled file, good and bad."""
    files = {name: _to_csv(generate_rows(profile)) for name, profile in PROFILES.items()}
    small = generate_rows(Profile(40, 404, False, True, 0.0, 0.2, 0.0))
    # Intentionally broken inputs used by tests and demos of the failure path.
    files["bad_missing_column.csv"] = _to_csv(small, header=("review_text", "label"))
    files["bad_labels.csv"] = _to_csv(
        [(text, ("pos", "neg", "2", "1", "0")[i % 5]) for i, (text, _) in enumerate(small)]
    )
    files["bad_one_class.csv"] = _to_csv([(text, 1) for text, _ in small])
    files["bad_too_few_rows.csv"] = _to_csv([*small[:3], (small[3][0], 0), (small[4][0], 1)])
    return files


def main(argv: Sequence[str] | None = None) -> int:
    """Write every CSV into ``--out`` (default: this file's directory)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent)
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    for name, text in render_all().items():
        (args.out / name).write_text(text, encoding="utf-8", newline="")
        print(f"wrote {args.out / name} ({len(text.splitlines()) - 1} rows, {len(text.encode())} bytes)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
