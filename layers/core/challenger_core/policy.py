"""The promotion policy: should the challenger replace the champion?

Every metric has a direction (the recipe's `metrics`: `higher` or `lower` is better). Rules, in order:
1. Floor: the challenger's `floor_metric` must reach `metric_floor` on its own hold-out (also for the first model).
2. Comparison: with a champion live, the training job must have scored both models on the same unseen rows
   (a paired comparison against *that* champion). Without one the challenger is not promoted: metrics measured
   on different rows cannot be compared.
3. Primary: on those rows the primary metric must improve by at least `min_improvement` (strictly: a tie
   never swaps), AND the paired confidence interval of the difference must lie beyond zero on the improving
   side at `confidence` — the improvement is not the luck of which rows were held out.
4. Guardrails: on the same rows no guardrail metric may get worse by more than `guardrail_tolerance`.
With no champion, only the floor applies.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from challenger_core.models import MetricComparison, PairedComparison, RuleOutcome, Verdict
from challenger_core.recipe import RecipeSpec
from challenger_core.settings import Settings

Direction = Literal["higher", "lower"]
_EPSILON = 1e-12


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
    ) -> Verdict:
        """Apply the rules; the verdict lists each one with pass/fail and its numbers."""
        rules: list[RuleOutcome] = []
        table = self._table(challenger, comparison if champion_version is not None else None)

        floor = self._floor(challenger)
        rules.append(floor)
        if floor.metric in table:
            table[floor.metric] = table[floor.metric].model_copy(update={"role": "floor", "passed": floor.passed})

        if champion_version is not None:
            paired = self._paired(comparison, champion_version)
            rules.append(paired)
            if paired.passed:
                assert comparison is not None
                primary = self._primary(comparison)
                rules.append(primary)
                table = self._mark(table, self.primary_metric, "primary", primary.passed)
                for name in self.guardrail_metrics:
                    if name == self.primary_metric:
                        continue
                    guardrail = self._guardrail(comparison, name)
                    rules.append(guardrail)
                    table = self._mark(table, name, "guardrail", guardrail.passed)

        failed = next((rule for rule in rules if not rule.passed), None)
        decisive = failed or (rules[2] if len(rules) > 2 else rules[0])
        return Verdict(
            promote=failed is None,
            rules=rules,
            decided_by=f"{decisive.rule}{' ' + decisive.metric if decisive.metric else ''}",
            comparisons=list(table.values()),
            challenger_version=challenger_version,
            champion_version=champion_version,
            confidence=comparison.confidence if comparison and champion_version is not None else None,
            paired_rows=comparison.rows if comparison and champion_version is not None else None,
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
        diff = comparison.differences.get(name)
        if diff is None:
            return RuleOutcome(rule="guardrail", metric=name, passed=False, detail="not in the paired comparison")
        gain = self.gain(name, diff.delta)
        ok = gain >= -self.guardrail_tolerance - _EPSILON
        return RuleOutcome(
            rule="guardrail",
            metric=name,
            passed=ok,
            detail=f"{diff.delta:+.4f} [{diff.low:+.4f}, {diff.high:+.4f}] ({self.direction(name)} is better); "
            f"may get worse by at most {self.guardrail_tolerance:.4f}",
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
