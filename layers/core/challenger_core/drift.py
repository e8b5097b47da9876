"""Label-free drift: recent captured requests and predictions against the champion's training baseline.

Serverless endpoints have neither data capture nor Model Monitor, so the product brings both. The baseline is
the `baseline.json` the recipe kit writes next to the model (recipes/kit/README.md, "Baseline"): per feature a
histogram over fixed bin edges (`(-inf, e1), [e1, e2), ..., [ek, inf)`), category frequencies, and the
prediction distribution on the hold-out. Here the same statistics are computed on the captured rows, binned on
the baseline's own edges, and compared with the Population Stability Index:

    PSI = Σ (actual − expected) · ln(actual / expected)      (proportions floored at PSI_FLOOR)

PSI is symmetric-ish, label-free and scale-free; the usual reading is < 0.1 stable, 0.1–0.25 moderate shift,
> 0.25 major shift (DriftThreshold defaults to 0.2). Pure Python: the drift function must not import numpy.
"""

from __future__ import annotations

import json
import math
import re
from bisect import bisect_right
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from pydantic import Field

from challenger_core.models import Model, utcnow
from challenger_core.temporal import parse_temporal

PSI_FLOOR = 1e-4
OTHER = "__other__"


class FeatureDrift(Model):
    """One compared statistic: `feature` (or `prediction`), which statistic, its PSI."""

    feature: str
    statistic: str
    psi: float
    samples: int


class DriftReport(Model):
    """The result of one drift check of one champion version."""

    version: int
    checked_at: str = Field(default_factory=lambda: utcnow().isoformat())
    samples: int
    min_samples: int
    threshold: float
    drifts: list[FeatureDrift] = Field(default_factory=list)
    skipped: str | None = None  # why no verdict (too few captures, no baseline)
    # Capture lines that are not a record and objects that gave none (unreadable, gone): left out, never fatal.
    skipped_lines: int = 0
    skipped_objects: int = 0

    @property
    def score(self) -> float:
        """The largest PSI of any statistic (0 when nothing was compared)."""
        return max((d.psi for d in self.drifts), default=0.0)

    @property
    def alert(self) -> bool:
        return self.skipped is None and self.score > self.threshold

    @property
    def worst(self) -> list[FeatureDrift]:
        """The statistics above the threshold, worst first."""
        return sorted((d for d in self.drifts if d.psi > self.threshold), key=lambda d: -d.psi)


@dataclass
class Captures:
    """Capture records read for one check, and what was left out of them."""

    rows: list[dict[str, Any]] = field(default_factory=list)
    skipped_lines: int = 0
    skipped_objects: int = 0

    def add_object(self, data: bytes) -> None:
        """Add one `.jsonl` capture object's records; a line that is not a record is counted and skipped.

        One malformed object (a truncated write, binary garbage, a line that is not an object) used to fail every
        drift check until the capture expired, so drift alerts stopped (issue 18, #89–91).
        """
        found = 0
        for raw in data.split(b"\n"):
            if not raw.strip():
                continue
            record = _record(raw)
            if record is None:
                self.skipped_lines += 1
                continue
            found += 1
            if record:  # {}: a request the endpoint failed on (captured for shadow replay): no prediction to profile
                self.rows.append(record)
        if not found:
            self.skipped_objects += 1

    def skip_object(self) -> None:
        """Count an object that could not be read (expired between the listing and the read)."""
        self.skipped_objects += 1


def _record(raw: bytes) -> dict[str, Any] | None:
    """A capture line `{"instance": {...}, "prediction": {...}}`, {} for a captured error (`"error": kind`, no
    prediction), or None when it is anything else."""
    try:
        record = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        return None
    if isinstance(record, dict) and record.get("error") and record.get("prediction") is None:
        return {}
    if (
        not isinstance(record, dict)
        or not isinstance(record.get("instance"), dict)
        or not isinstance(record.get("prediction"), dict)
    ):
        return None
    return record


def psi(expected: Sequence[float], actual: Sequence[float]) -> float:
    """Population Stability Index of two distributions over the same bins."""
    total = 0.0
    for e_raw, a_raw in zip(expected, actual, strict=True):
        e, a = max(e_raw, PSI_FLOOR), max(a_raw, PSI_FLOOR)
        total += (a - e) * math.log(a / e)
    return round(total, 6)


def _binned(values: Iterable[float], edges: Sequence[float]) -> list[float]:
    counts = [0] * (len(edges) + 1)
    n = 0
    for value in values:
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
            continue
        counts[bisect_right(edges, value)] += 1
        n += 1
    return [c / n for c in counts] if n else []


def _histogram_psi(feature: str, statistic: str, baseline: Mapping[str, Any], values: list[float]) -> FeatureDrift:
    actual = _binned(values, baseline["edges"])
    score = psi(baseline["proportions"], actual) if actual else 0.0
    return FeatureDrift(feature=feature, statistic=statistic, psi=score, samples=len(values))


def _frequency_psi(feature: str, statistic: str, expected: Mapping[str, float], values: list[str]) -> FeatureDrift:
    counts = Counter(v if v in expected else OTHER for v in values)
    keys = [*expected, OTHER]
    n = max(len(values), 1)
    score = psi([expected.get(k, 0.0) for k in keys], [counts.get(k, 0) / n for k in keys]) if values else 0.0
    return FeatureDrift(feature=feature, statistic=statistic, psi=score, samples=len(values))


def _text_drifts(name: str, profile: Mapping[str, Any], texts: list[str]) -> list[FeatureDrift]:
    tokenizer = profile.get("tokenizer", {})
    pattern = re.compile(tokenizer.get("pattern", r"(?u)\b\w\w+\b"))
    lowercase = bool(tokenizer.get("lowercase", True))
    vocabulary = set(profile.get("vocabulary", []))
    tokenized = [pattern.findall(t.lower() if lowercase else t) for t in texts]
    oov = [sum(t not in vocabulary for t in tokens) / len(tokens) if tokens else 0.0 for tokens in tokenized]
    return [
        _histogram_psi(name, "length", profile["length"], [float(len(t)) for t in texts]),
        _histogram_psi(name, "tokens", profile["tokens"], [float(len(tokens)) for tokens in tokenized]),
        _histogram_psi(name, "oov_rate", profile["oov_rate"], oov),
    ]


def _feature_drifts(name: str, profile: Mapping[str, Any], values: list[Any]) -> list[FeatureDrift]:
    present = [v for v in values if v is not None]
    kind = profile.get("type")
    if kind == "text":
        return _text_drifts(name, profile, [str(v) for v in present])
    if kind == "number":
        return [_histogram_psi(name, "distribution", profile, [float(v) for v in present if _is_number(v)])]
    if kind == "category":
        return [_frequency_psi(name, "frequencies", profile.get("frequencies", {}), [str(v) for v in present])]
    if kind in ("date", "datetime"):
        return _temporal_drifts(name, kind, profile, present)
    return []


WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")


def _temporal_drifts(name: str, kind: str, profile: Mapping[str, Any], values: list[Any]) -> list[FeatureDrift]:
    """A date/date-time is compared by its recurring parts (weekday; hour of day, UTC), never by its instants: live
    traffic is always later than the training rows (the kit's `temporal_profile` says why). A value that is not a
    date is left out, as a number that is not a number is."""
    weekdays: list[str] = []
    hours: list[str] = []
    for value in values:
        try:
            canonical = parse_temporal(kind, str(value))
        except ValueError:
            continue
        moment = datetime.fromisoformat(canonical.removesuffix("Z"))
        weekdays.append(WEEKDAYS[moment.weekday()])
        hours.append(f"{moment.hour:02d}")
    drifts = []
    if "weekday" in profile:
        drifts.append(_frequency_psi(name, "weekday", profile["weekday"], weekdays))
    if "hour" in profile:
        drifts.append(_frequency_psi(name, "hour", profile["hour"], hours))
    return drifts


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _prediction_drifts(profile: Mapping[str, Any], predictions: list[Mapping[str, Any]]) -> list[FeatureDrift]:
    drifts: list[FeatureDrift] = []
    if "labels" in profile:
        labels = [str(p.get("label")) for p in predictions if "label" in p]
        drifts.append(_frequency_psi("prediction", "labels", profile["labels"], labels))
    if "score" in profile:
        scores = [float(p["score"]) for p in predictions if _is_number(p.get("score"))]
        drifts.append(_histogram_psi("prediction", "score", profile["score"], scores))
    if "value" in profile:
        values = [float(p["value"]) for p in predictions if _is_number(p.get("value"))]
        drifts.append(_histogram_psi("prediction", "value", profile["value"], values))
    return drifts


def check(
    baseline: Mapping[str, Any],
    captures: Sequence[Mapping[str, Any]],
    *,
    version: int,
    threshold: float,
    min_samples: int,
    skipped_lines: int = 0,
    skipped_objects: int = 0,
) -> DriftReport:
    """Compare captured `{"instance": {...}, "prediction": {...}}` records with the baseline profile."""
    report = DriftReport(
        version=version,
        samples=len(captures),
        min_samples=min_samples,
        threshold=threshold,
        skipped_lines=skipped_lines,
        skipped_objects=skipped_objects,
    )
    if len(captures) < min_samples:
        return report.model_copy(
            update={
                "skipped": f"{len(captures)} captured prediction(s) of v{version}, at least {min_samples} needed"
                + (f" ({skipped_lines} malformed capture line(s) skipped)" if skipped_lines else "")
            }
        )
    drifts: list[FeatureDrift] = []
    for name, profile in baseline.get("features", {}).items():
        values = [c.get("instance", {}).get(name) for c in captures]
        drifts.extend(_feature_drifts(name, profile, values))
    drifts.extend(_prediction_drifts(baseline.get("prediction", {}), [c.get("prediction", {}) for c in captures]))
    return report.model_copy(update={"drifts": drifts})
