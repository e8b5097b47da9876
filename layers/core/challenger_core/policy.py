"""The promotion policy: should the challenger replace the champion?

Every metric has a direction (the recipe's `metrics`: `higher` or `lower` is better). Rules, in order:
1. Floor: the challenger's `floor_metric` must reach `metric_floor` on its own hold-out (also for the first model).
2. Comparison: with a champion live, the training job must have scored both models on the same unseen rows
   (a paired comparison against *that* champion). Without one the challenger is not promoted: metrics measured
   on different rows cannot be compared.
3. Primary: on those rows the primary metric must improve by at least `min_improvement` (strictly: a tie
   never swaps), AND the paired confidence interval of the difference must lie beyond zero on the improving
   side at `confidence` — the improvement is not the luck of which rows were held out.
4. Trusted set (issue 19): when the dataset has a trusted evaluation set, both models were also scored on it, paired;
   there the challenger must not be worse: its point difference at most `guardrail_tolerance` on the harmful
   side, and the interval not entirely on the harmful side. An upload cannot vouch for itself.
5. Guardrails: on the upload's rows the interval's bound on the harmful side of each guardrail metric may not pass
   `guardrail_tolerance` (the lower bound for a `higher` metric, the upper bound for a `lower` one).
Label shift (issue 19): when the champion's own score on the upload's rows lies below its score on the trusted set
(or, without one, its recorded score) beyond both intervals and `label_shift_tolerance`, the new labels disagree
with the live model: the verdict is never PROMOTE, and it goes to a person (`requires_approval`) in any mode.
With no champion, only the floor applies. See README "How Challenger decides" and docs/decisions/0005.
Shadow rules (issue 23), applied after the offline verdict promoted, on what the challenger did on real requests
before the swap (`shadow_rules`): its error rate not above the champion's (Newcombe's interval of the difference
lies above zero: fail), its p99 latency within `shadow_p99_ratio` of the champion's on the same requests, and an
agreement floor only when the dataset's owner set one (agreement is information, not quality).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import Literal

from challenger_core.models import (
    DatasetPolicy,
    MetricComparison,
    MetricDifference,
    PairedComparison,
    RuleOutcome,
    Verdict,
)
from challenger_core.recipe import RecipeSpec
from challenger_core.settings import Settings
from challenger_core.shadow import ShadowMeasurement, newcombe

Direction = Literal["higher", "lower"]
_EPSILON = 1e-12


def _half_width(difference: MetricDifference) -> float:
    """Half the width of the champion's own interval on a set of rows (0 when the job did not report it)."""
    if difference.champion_low is None or difference.champion_high is None:
        return 0.0
    return (difference.champion_high - difference.champion_low) / 2


def _or(value: float | None, default: float) -> float:
    return default if value is None else value


@dataclass(frozen=True)
class PromotionPolicy:
    primary_metric: str
    floor_metric: str
    metric_floor: float
    directions: dict[str, Direction] = field(default_factory=dict)
    guardrail_metrics: tuple[str, ...] = ()
    min_improvement: float = 0.0
    guardrail_tolerance: float = 0.02
    confidence: float = 0.95
    label_shift_tolerance: float = 0.0
    version: int = 0  # the dataset's policy version (0: the stack's parameters and the recipe's choices)
    # Shadow stage (issue 23): the p99 ratio allowed, a slack under which latency is not judged (a 3 ms and a 7 ms
    # p99 differ by a ratio, not in any way a caller notices), and the agreement floor (None: not a rule).
    shadow_p99_ratio: float = 2.0
    shadow_latency_slack_ms: float = 50.0
    shadow_agreement_floor: float | None = None

    @classmethod
    def from_settings(cls, settings: Settings, recipe: RecipeSpec) -> PromotionPolicy:
        """The stack's policy: template parameters where set, else the recipe's own choices."""
        guardrails = settings.guardrail_metrics if settings.guardrail_metrics is not None else recipe.guardrails
        return cls(
            primary_metric=settings.primary_metric or recipe.primary_metric,
            floor_metric=settings.floor_metric or recipe.floor.metric,
            metric_floor=settings.metric_floor if settings.metric_floor is not None else recipe.floor.value,
            directions=dict(recipe.metrics),
            guardrail_metrics=tuple(guardrails),
            min_improvement=settings.min_improvement,
            guardrail_tolerance=settings.guardrail_tolerance,
            confidence=settings.promotion_confidence,
        )

    def for_dataset(self, chosen: DatasetPolicy | None) -> PromotionPolicy:
        """This policy with a dataset's operator-set version over it (fields it leaves empty stay as they are)."""
        if chosen is None:
            return self
        guardrails = chosen.guardrail_metrics
        return replace(
            self,
            version=chosen.version,
            primary_metric=chosen.primary_metric or self.primary_metric,
            min_improvement=_or(chosen.min_improvement, self.min_improvement),
            confidence=_or(chosen.confidence, self.confidence),
            floor_metric=chosen.floor_metric or self.floor_metric,
            metric_floor=_or(chosen.metric_floor, self.metric_floor),
            guardrail_metrics=tuple(guardrails) if guardrails is not None else self.guardrail_metrics,
            guardrail_tolerance=_or(chosen.guardrail_tolerance, self.guardrail_tolerance),
            label_shift_tolerance=_or(chosen.label_shift_tolerance, self.label_shift_tolerance),
            shadow_p99_ratio=_or(chosen.shadow_p99_ratio, self.shadow_p99_ratio),
            shadow_agreement_floor=chosen.shadow_agreement_floor
            if chosen.shadow_agreement_floor is not None
            else self.shadow_agreement_floor,
        )

    def direction(self, metric: str) -> Direction:
        return self.directions.get(metric, "higher")

    def gain(self, metric: str, delta: float) -> float:
        """How much better the challenger is (positive = better), whatever the metric's direction."""
        return delta if self.direction(metric) == "higher" else -delta

    def evaluate(
        self,
        challenger: dict[str, float],
        *,
        challenger_version: int,
        champion_version: int | None = None,
        comparison: PairedComparison | None = None,
        trusted: PairedComparison | None = None,
        champion_recorded: dict[str, float] | None = None,
        class_counts: dict[str, int] | None = None,
        trusted_missing: str | None = None,
    ) -> Verdict:
        """Apply the rules; the verdict lists each one with pass/fail and its numbers.

        ``trusted``: both models on the dataset's trusted set; ``champion_recorded``: the champion's own recorded
        metrics (the label-shift reference without a trusted set); ``class_counts``: rows per class of the upload's
        hold-out (said when a real gain is not significant); ``trusted_missing``: why the dataset's trusted set
        has no paired comparison (then the trusted rule fails: both evaluation sets are needed)."""
        rules: list[RuleOutcome] = []
        table = self._table(challenger, comparison if champion_version is not None else None)
        shift: RuleOutcome | None = None

        floor = self._floor(challenger)
        rules.append(floor)
        if floor.metric in table:
            table[floor.metric] = table[floor.metric].model_copy(update={"role": "floor", "passed": floor.passed})

        if champion_version is not None:
            paired = self._paired(comparison, champion_version)
            rules.append(paired)
            if paired.passed:
                assert comparison is not None
                shift = self._label_shift(comparison, trusted, champion_recorded)
                if shift is not None:
                    rules.append(shift)
                primary = self._primary(comparison)
                rules.append(primary)
                table = self._mark(table, self.primary_metric, "primary", primary.passed)
                if trusted is not None:
                    rules.append(self._trusted(trusted))
                elif trusted_missing:
                    rules.append(RuleOutcome(rule="trusted", passed=False, detail=trusted_missing))
                for name in self.guardrail_metrics:
                    if name == self.primary_metric:
                        continue
                    guardrail = self._guardrail(comparison, name)
                    rules.append(guardrail)
                    table = self._mark(table, name, "guardrail", guardrail.passed)

        failed = next((rule for rule in rules if not rule.passed), None)
        decisive = failed or next((rule for rule in rules if rule.rule == "primary"), rules[0])
        compared = comparison is not None and champion_version is not None
        shifted = shift is not None and not shift.passed
        return Verdict(
            promote=failed is None,
            rules=rules,
            decided_by=f"{decisive.rule}{' ' + decisive.metric if decisive.metric else ''}",
            comparisons=list(table.values()),
            challenger_version=challenger_version,
            champion_version=champion_version,
            confidence=comparison.confidence if compared and comparison else None,
            paired_rows=comparison.rows if compared and comparison else None,
            trusted_rows=trusted.rows if compared and trusted else None,
            trusted_comparisons=list(self._table(trusted.challenger_metrics, trusted).values())
            if compared and trusted
            else [],
            label_shift=f"the new labels disagree with the live model: {shift.detail}" if shift and shifted else None,
            requires_approval=shifted,
            policy_version=self.version,
            note=self._why_not_significant(comparison, class_counts) if compared and comparison else "",
        )

    def shadow_rules(self, measured: ShadowMeasurement) -> list[RuleOutcome]:
        """The shadow stage's rules, in the verdict's form: errors, p99 latency, agreement (only with a floor)."""
        rules = [self._shadow_errors(measured), self._shadow_latency(measured)]
        if self.shadow_agreement_floor is not None:
            rules.append(self._shadow_agreement(measured, self.shadow_agreement_floor))
        return rules

    def _shadow_errors(self, measured: ShadowMeasurement) -> RuleOutcome:
        n = measured.requests
        diff, low, high = newcombe(measured.shadow_errors, n, measured.champion_errors, n, self.confidence)
        kinds = ", ".join(f"{kind} {count}" for kind, count in sorted(measured.shadow_errors_by_kind.items()))
        detail = (
            f"shadow {measured.shadow_errors}/{n} errors{f' ({kinds})' if kinds else ''}, champion "
            f"{measured.champion_errors}/{n}: difference {diff:+.2%} [{low:+.2%}, {high:+.2%}] at {self.confidence:.0%}"
        )
        worse = n > 0 and low > 0
        why = "the challenger fails more often than the champion" if worse else "not more than the champion's"
        return RuleOutcome(rule="shadow-errors", passed=not worse, detail=f"{detail}: {why}")

    def _shadow_latency(self, measured: ShadowMeasurement) -> RuleOutcome:
        champion, shadow = measured.champion_p99_ms, measured.shadow_p99_ms
        if champion is None or shadow is None:
            return RuleOutcome(
                rule="shadow-latency",
                passed=True,
                detail="not judged: no request has both models' latency (captures before issue 23 have none)",
            )
        allowed = max(champion * self.shadow_p99_ratio, champion + self.shadow_latency_slack_ms)
        ok = shadow <= allowed
        return RuleOutcome(
            rule="shadow-latency",
            passed=ok,
            detail=f"p99 {shadow:.0f} ms vs the champion's {champion:.0f} ms on the same {measured.latency_pairs} "
            f"requests (p50 {_ms(measured.shadow_p50_ms)} vs {_ms(measured.champion_p50_ms)}); allowed "
            f"{allowed:.0f} ms (×{self.shadow_p99_ratio:g}, or +{self.shadow_latency_slack_ms:g} ms)",
        )

    @staticmethod
    def _shadow_agreement(measured: ShadowMeasurement, floor: float) -> RuleOutcome:
        agreement = measured.agreement
        if agreement is None:
            return RuleOutcome(rule="shadow-agreement", passed=False, detail="no request both models answered")
        return RuleOutcome(
            rule="shadow-agreement",
            passed=agreement >= floor,
            detail=f"agreed on {measured.agreed}/{measured.compared} ({agreement:.1%}); the owner's floor is "
            f"{floor:.1%}",
        )

    # Rules ----------------------------------------------------------------------------------------
    def _floor(self, challenger: dict[str, float]) -> RuleOutcome:
        name = self.floor_metric
        if name not in challenger:
            return RuleOutcome(rule="floor", metric=name, passed=False, detail=f"the challenger did not report {name}")
        value = challenger[name]
        higher = self.direction(name) == "higher"
        ok = value >= self.metric_floor if higher else value <= self.metric_floor
        bound = "at least" if higher else "at most"
        return RuleOutcome(
            rule="floor",
            metric=name,
            passed=ok,
            detail=f"{value:.4f} on its hold-out; the floor is {bound} {self.metric_floor:.4f}",
        )

    def _paired(self, comparison: PairedComparison | None, champion_version: int) -> RuleOutcome:
        if comparison is None:
            return RuleOutcome(
                rule="comparison",
                passed=False,
                detail=f"no paired comparison with champion v{champion_version}: the training job did not score "
                "the champion (its artifact missing or unreadable?); metrics from different rows are not compared",
            )
        if comparison.champion_version is not None and comparison.champion_version != champion_version:
            return RuleOutcome(
                rule="comparison",
                passed=False,
                detail=f"compared with v{comparison.champion_version}, but the champion is now v{champion_version}; "
                "retrain to compare with the current champion",
            )
        if comparison.rows == 0 or self.primary_metric not in comparison.differences:
            return RuleOutcome(
                rule="comparison",
                passed=False,
                detail=f"the paired comparison has no {self.primary_metric} difference "
                f"({comparison.rows} shared unseen rows)",
            )
        return RuleOutcome(
            rule="comparison",
            passed=True,
            detail=f"both scored on the same {comparison.rows} unseen rows ({comparison.method or 'paired'}, "
            f"eval set {comparison.fingerprint[:12]})",
        )

    def _primary(self, comparison: PairedComparison) -> RuleOutcome:
        name = self.primary_metric
        diff = comparison.differences[name]
        higher = self.direction(name) == "higher"
        gain = self.gain(name, diff.delta)
        # The interval's bound on the improving side: for `higher` the lower end must be above zero.
        bound_ok = diff.low > 0 if higher else diff.high < 0
        ok = gain > _EPSILON and gain >= self.min_improvement - _EPSILON and bound_ok
        interval = f"{diff.delta:+.4f} [{diff.low:+.4f}, {diff.high:+.4f}] at {comparison.confidence:.0%}"
        if ok:
            why = f"better by {gain:.4f} and the interval excludes zero"
        elif gain <= _EPSILON:
            why = "not better" if gain > -_EPSILON else "worse"
        elif gain < self.min_improvement - _EPSILON:
            why = f"better by {gain:.4f}, less than MinImprovement {self.min_improvement:.4f}"
        else:
            why = "the interval includes zero: the difference may be noise"
        return RuleOutcome(
            rule="primary", metric=name, passed=ok, detail=f"{interval} ({self.direction(name)} is better): {why}"
        )

    def _guardrail(self, comparison: PairedComparison, name: str) -> RuleOutcome:
        """Judged on the interval's bound on the harmful side, as the primary metric is on the improving side."""
        diff = comparison.differences.get(name)
        if diff is None:
            return RuleOutcome(rule="guardrail", metric=name, passed=False, detail="not in the paired comparison")
        higher = self.direction(name) == "higher"
        bound, side = (diff.low, "lower") if higher else (diff.high, "upper")
        ok = self.gain(name, bound) >= -self.guardrail_tolerance - _EPSILON
        return RuleOutcome(
            rule="guardrail",
            metric=name,
            passed=ok,
            detail=f"{diff.delta:+.4f} [{diff.low:+.4f}, {diff.high:+.4f}] ({self.direction(name)} is better); "
            f"decided by the {side} bound {bound:+.4f}: may get worse by at most {self.guardrail_tolerance:.4f}",
        )

    def _trusted(self, trusted: PairedComparison) -> RuleOutcome:
        """On the trusted set the challenger must not be surely worse: its interval may not lie wholly on the
        harmful side. (A small trusted set has a wide interval: asking more would block every real gain.)"""
        name = self.primary_metric
        diff = trusted.differences.get(name)
        if diff is None or trusted.rows == 0:
            return RuleOutcome(
                rule="trusted", metric=name, passed=False, detail=f"no {name} difference on the trusted set"
            )
        ok = not self._surely_worse(name, diff)
        interval = f"{diff.delta:+.4f} [{diff.low:+.4f}, {diff.high:+.4f}] on {trusted.rows} trusted rows"
        why = (
            "not worse on the rows whose labels are trusted"
            if ok
            else "worse on the trusted rows: the whole interval is on the harmful side"
        )
        return RuleOutcome(rule="trusted", metric=name, passed=ok, detail=f"{interval}: {why}")

    def _surely_worse(self, name: str, diff: MetricDifference) -> bool:
        """The challenger's interval lies wholly on the harmful side (its improving-side bound is below zero)."""
        return self.gain(name, diff.high if self.direction(name) == "higher" else diff.low) < -_EPSILON

    def _surely_better(self, name: str, diff: MetricDifference) -> bool:
        """The challenger's interval lies wholly on the improving side."""
        return self.gain(name, diff.low if self.direction(name) == "higher" else diff.high) > _EPSILON

    def _label_shift(
        self,
        comparison: PairedComparison,
        trusted: PairedComparison | None,
        recorded: dict[str, float] | None,
    ) -> RuleOutcome | None:
        """The new labels disagree with the live model: the champion scores far below its usual self on the
        upload's rows, and the challenger does not show that the rows are merely new ground.

        The gap is the champion's score on the trusted set (without one: its recorded score on its own hold-out)
        minus its score on the upload's rows, as a loss. Each score has its bootstrap interval at the policy's
        confidence; two independent estimates' difference has about the root of the sum of the squared
        half-widths as its own half-width. The gap is beyond the intervals when it exceeds that half-width by more
        than `label_shift_tolerance`. New ground (covariate shift: rows unlike the champion's, correctly
        labelled) also opens such a gap; it is told apart by the challenger: trained on the new rows, it learns
        them (surely better than the champion there) and stays not surely worse on the trusted rows. Labels that
        are noise (shuffled) cannot be learnt; labels that contradict the old ones (flipped) make the challenger
        surely worse on the trusted rows. Without a trusted set the gap alone flags."""
        name = self.primary_metric
        here = comparison.differences.get(name)
        upload = comparison.champion_metrics.get(name)
        if here is None or upload is None:
            return None
        spreads = [_half_width(here)]
        reference: float | None = None
        where = ""
        there: MetricDifference | None = None
        if trusted is not None and name in trusted.champion_metrics:
            reference = trusted.champion_metrics[name]
            there = trusted.differences.get(name)
            spreads.append(_half_width(there) if there is not None else 0.0)
            where = f"{reference:.4f} on the {trusted.rows} trusted rows"
        elif recorded and name in recorded:
            reference = recorded[name]
            where = f"{reference:.4f} recorded on its own hold-out"
        if reference is None:
            return None
        gap = self.gain(name, reference - upload)  # positive: the upload's rows score the champion worse
        noise = math.sqrt(sum(spread**2 for spread in spreads))
        beyond = gap - noise > self.label_shift_tolerance + _EPSILON
        detail = (
            f"the champion scores {name} {upload:.4f} on the upload's {comparison.rows} rows and {where}: "
            f"{gap:+.4f} worse, the intervals explain ±{noise:.4f}"
        )
        if not beyond:
            return RuleOutcome(rule="label-shift", metric=name, passed=True, detail=detail)
        learnt = self._surely_better(name, here)
        contradicted = there is not None and self._surely_worse(name, there)
        if there is not None and learnt and not contradicted:
            return RuleOutcome(
                rule="label-shift",
                metric=name,
                passed=True,
                detail=f"{detail}; the challenger learns the new rows and is not worse on the trusted ones: new "
                "ground, not contradicting labels",
            )
        why = (
            "the challenger is surely worse on the trusted rows: the new labels contradict them"
            if contradicted
            else "the challenger cannot learn the new rows either: their labels look like noise"
            if not learnt
            else "no trusted set to tell new ground from wrong labels"
        )
        return RuleOutcome(
            rule="label-shift",
            metric=name,
            passed=False,
            detail=f"{detail}, beyond what the intervals explain; {why}: a person decides",
        )

    def _why_not_significant(self, comparison: PairedComparison, class_counts: dict[str, int] | None) -> str:
        """A real gain that did not promote: the interval's width, rows per class, roughly how many rows would do.

        The interval's half-width shrinks as 1/sqrt(rows): a difference of this size needs about
        rows × (half-width / gain)² rows for the interval to exclude zero."""
        name = self.primary_metric
        diff = comparison.differences.get(name)
        if diff is None or comparison.rows == 0:
            return ""
        gain = self.gain(name, diff.delta)
        higher = self.direction(name) == "higher"
        excluded = diff.low > 0 if higher else diff.high < 0
        if gain <= _EPSILON or excluded:
            return ""
        half = (diff.high - diff.low) / 2
        needed = math.ceil(comparison.rows * (half / gain) ** 2)
        per_class = ", ".join(f"{label} {count}" for label, count in sorted((class_counts or {}).items()))
        return (
            f"a gain of {gain:.4f} in {name} is not significant at {comparison.confidence:.0%}: the interval is "
            f"{diff.high - diff.low:.4f} wide on {comparison.rows} rows"
            + (f" (per class: {per_class})" if per_class else "")
            + f"; about {needed} evaluation rows ({max(needed - comparison.rows, 0)} more) would make a difference "
            "of this size significant"
        )

    # The metric table -----------------------------------------------------------------------------
    def _table(self, challenger: dict[str, float], comparison: PairedComparison | None) -> dict[str, MetricComparison]:
        """One row per metric: the paired numbers when there is a comparison, else the challenger's own."""
        table: dict[str, MetricComparison] = {}
        for name in sorted(challenger):
            row = MetricComparison(name=name, challenger=challenger[name], direction=self.direction(name))
            if comparison is not None and name in comparison.differences:
                diff = comparison.differences[name]
                row = row.model_copy(
                    update={
                        "challenger": comparison.challenger_metrics.get(name, challenger[name]),
                        "champion": comparison.champion_metrics.get(name),
                        "delta": diff.delta,
                        "low": diff.low,
                        "high": diff.high,
                    }
                )
            table[name] = row
        return table

    @staticmethod
    def _mark(
        table: dict[str, MetricComparison], name: str, role: Literal["primary", "guardrail"], passed: bool
    ) -> dict[str, MetricComparison]:
        if name in table and table[name].role in ("info", role):
            table[name] = table[name].model_copy(update={"role": role, "passed": passed})
        return table


def _ms(value: float | None) -> str:
    return "–" if value is None else f"{value:.0f} ms"
