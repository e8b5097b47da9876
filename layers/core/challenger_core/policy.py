"""The promotion policy: should the challenger replace the champion?

Rules, in order of precedence:
1. Floor: the challenger's `floor_metric` must reach `metric_floor` (also for the very first model).
2. Primary: the challenger's `primary_metric` must beat the champion's by at least `min_improvement`
   (and strictly, so a tie never causes a pointless swap).
3. Guardrails: no guardrail metric may fall more than `guardrail_tolerance` below the champion's.
With no champion yet, only the floor applies.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from challenger_core.models import MetricComparison, Verdict
from challenger_core.settings import Settings


@dataclass(frozen=True)
class PromotionPolicy:
    primary_metric: str = "f1"
    min_improvement: float = 0.0
    floor_metric: str = "accuracy"
    metric_floor: float = 0.8
    guardrail_metrics: tuple[str, ...] = field(default=("accuracy", "roc_auc"))
    guardrail_tolerance: float = 0.02

    @classmethod
    def from_settings(cls, settings: Settings) -> PromotionPolicy:
        """The policy configured for this stack (template parameters → function environment)."""
        return cls(
            primary_metric=settings.primary_metric,
            min_improvement=settings.min_improvement,
            floor_metric=settings.floor_metric,
            metric_floor=settings.metric_floor,
            guardrail_metrics=tuple(settings.guardrail_metrics),
            guardrail_tolerance=settings.guardrail_tolerance,
        )

    def evaluate(
        self,
        challenger: dict[str, float],
        champion: dict[str, float] | None,
        *,
        challenger_version: int,
        champion_version: int | None = None,
    ) -> Verdict:
        """Compare metrics and return the verdict with one reason per rule that decided it."""
        missing = [m for m in (self.primary_metric, self.floor_metric) if m not in challenger]
        if missing:
            return Verdict(
                promote=False,
                reasons=[f"challenger did not report required metric(s): {', '.join(missing)}"],
                comparisons=[],
                challenger_version=challenger_version,
                champion_version=champion_version,
            )
        reasons: list[str] = []
        comparisons: dict[str, MetricComparison] = {
            name: MetricComparison(name=name, challenger=value, champion=(champion or {}).get(name), role="info")
            for name, value in sorted(challenger.items())
        }

        floor_value = challenger[self.floor_metric]
        floor_ok = floor_value >= self.metric_floor
        comparisons[self.floor_metric] = comparisons[self.floor_metric].model_copy(
            update={"role": "floor", "passed": floor_ok}
        )
        reasons.append(
            f"{self.floor_metric} {floor_value:.4f} {'meets' if floor_ok else 'is below'} "
            f"the floor {self.metric_floor:.4f}"
        )

        if champion is None:
            promote = floor_ok
            reasons.append("no champion yet: the floor alone decides")
        else:
            primary_ok = self._primary_ok(challenger, champion, reasons)
            comparisons[self.primary_metric] = comparisons[self.primary_metric].model_copy(
                update={"role": "primary", "passed": primary_ok}
            )
            guardrails_ok = True
            for name in self.guardrail_metrics:
                if name == self.primary_metric or name not in challenger or name not in champion:
                    continue
                ok = challenger[name] >= champion[name] - self.guardrail_tolerance
                guardrails_ok &= ok
                comparisons[name] = comparisons[name].model_copy(update={"role": "guardrail", "passed": ok})
                if not ok:
                    reasons.append(
                        f"guardrail {name} regressed {champion[name]:.4f} → {challenger[name]:.4f} "
                        f"(tolerance {self.guardrail_tolerance:.4f})"
                    )
            promote = floor_ok and primary_ok and guardrails_ok

        return Verdict(
            promote=promote,
            reasons=reasons,
            comparisons=list(comparisons.values()),
            challenger_version=challenger_version,
            champion_version=champion_version,
        )

    def _primary_ok(self, challenger: dict[str, float], champion: dict[str, float], reasons: list[str]) -> bool:
        name = self.primary_metric
        if name not in champion:
            reasons.append(f"champion has no {name}: the challenger wins the primary metric by default")
            return True
        gain = challenger[name] - champion[name]
        ok = gain > 0 and gain >= self.min_improvement - 1e-12
        reasons.append(
            f"{name} {champion[name]:.4f} → {challenger[name]:.4f} ({gain:+.4f}; "
            f"needs > 0 and ≥ {self.min_improvement:+.4f}): {'better' if ok else 'not better enough'}"
        )
        return ok
