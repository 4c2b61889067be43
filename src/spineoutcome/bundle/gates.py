"""Promotion gates: the minimum a run's selected model must show before it becomes ``@champion``.

A registered model version is always kept (it is evidence of what was tried); the ``champion``
alias, which scoring resolves by default, moves only to a version that passes every gate on its
cross-validated (out-of-fold, tuning nested) predictions:

- calibration slope within ``calibration_slope`` (default [0.8, 1.2]): risks neither too extreme
  nor too modest (Van Calster et al., J Clin Epidemiol 2016);
- integrated calibration index <= ``max_ici`` (default 0.05; Austin & Steyerberg, Stat Med 2019);
- net benefit at the decision threshold > max(treat all, treat none = 0): the model is useful for
  the decision it is meant for (Vickers & Elkin, Med Decis Making 2006). The threshold is the
  first configured one unless ``threshold`` names another configured threshold;
- when the pipeline names clinical comparators (rules surgeons use today), net benefit at that
  threshold above every comparator's by more than ``min_gain_over_rules`` (default 0): a model that
  does not beat the rule should not be deployed (``None`` switches this check off).

Uncertainty (``basis="interval"``, the default): the slope and the ICI are estimates from a few
hundred events, with the 95 % intervals of the Evidence (ordinary bootstrap of patients; for the
ICI the bias-aware interval, extended to 0 when perfect calibration is not rejected; see
:mod:`spineoutcome.evaluation.calibration`). A gate on the point value alone withholds a
well-calibrated model whose estimate strayed by chance and passes one that is only lucky. A gate
fails when its interval shows the rule is broken: the slope's interval lies wholly outside the
accepted range, or the ICI's lower limit exceeds ``max_ici``; a value without an interval is judged
on its point value. The net benefit gate stays on the point estimate: the expected net benefit is
what the decision rests on, not its significance (Vickers, Van Calster & Steyerberg, BMJ
2016;352:i6). ``basis="point"`` judges every gate on its point value.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from spineoutcome.evaluation.comparators import not_beaten
from spineoutcome.evaluation.results import JsonResult
from spineoutcome.evidence import Evidence


@dataclass(frozen=True)
class Gates(JsonResult):
    """Thresholds of the promotion gates (see module docstring)."""

    calibration_slope: tuple[float, float] = (0.8, 1.2)
    max_ici: float = 0.05
    threshold: float | None = None
    min_gain_over_rules: float | None = 0.0
    basis: Literal["interval", "point"] = "interval"


@dataclass(frozen=True)
class GateCheck(JsonResult):
    """One gate: the measured value (and its 95 % interval when the gate used it), the rule it had
    to meet, and whether it did."""

    name: str
    value: float | None
    rule: str
    passed: bool
    ci_low: float | None = None
    ci_high: float | None = None


@dataclass(frozen=True)
class GateDecision(JsonResult):
    """All gates for the selected family of a run; ``passed`` only when every check passed."""

    family: str
    gates: Gates
    checks: list[GateCheck] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return all(c.passed for c in self.checks)

    def summary(self) -> str:
        failed = [f"{c.name} {_show(c.value)}{_interval(c)} (rule: {c.rule})" for c in self.checks if not c.passed]
        return "passed every gate" if not failed else "failed: " + "; ".join(failed)

    def to_dict(self) -> dict[str, Any]:
        return {**super().to_dict(), "passed": self.passed, "summary": self.summary()}


def net_benefit_at(cross_validation: dict[str, Any], threshold: float) -> tuple[float, float]:
    """Net benefit of the model and of treating everyone at a configured threshold t.

    From the classification counts at t: NB = TP/n - FP/n * t/(1 - t); treat all:
    prevalence - (1 - prevalence) * t/(1 - t). These are the decision curve's values at t.
    """
    rows = cross_validation["classification"]["rows"]
    row = next((r for r in rows if np.isclose(r["threshold"], threshold)), None)
    if row is None:
        configured = ", ".join(f"{r['threshold']:g}" for r in rows)
        raise ValueError(f"threshold {threshold:g} is not a configured decision threshold ({configured})")
    n = row["tp"] + row["fp"] + row["tn"] + row["fn"]
    odds = threshold / (1.0 - threshold)
    prevalence = (row["tp"] + row["fn"]) / n
    return (row["tp"] - row["fp"] * odds) / n, prevalence - (1.0 - prevalence) * odds


def check_gates(evidence: Evidence, gates: Gates | None = None) -> GateDecision:
    """Apply ``gates`` (default :class:`Gates`) to the selected family's cross-validated results."""
    gates = gates or Gates()
    family = evidence.best_family
    cv = evidence.families[family].cross_validation
    slope, slope_low, slope_high = _estimate(cv["calibration"]["slope"], gates.basis)
    ici, ici_low, ici_high = _estimate(cv["calibration_curve"]["ici"], gates.basis)
    threshold = gates.threshold if gates.threshold is not None else evidence.pipeline["thresholds"][0]
    nb_model, nb_all = net_benefit_at(cv, threshold)
    lo, hi = gates.calibration_slope
    by_interval = " (95 % interval overlaps)" if slope_low is not None else ""
    return GateDecision(
        family,
        gates,
        [
            GateCheck(
                "calibration_slope",
                slope,
                f"within [{lo:g}, {hi:g}]{by_interval}",
                slope is not None and _lower(slope, slope_low) <= hi and _upper(slope, slope_high) >= lo,
                slope_low,
                slope_high,
            ),
            GateCheck(
                "ici",
                ici,
                f"<= {gates.max_ici:g}" + (" (95 % interval's lower limit)" if ici_low is not None else ""),
                ici is not None and _lower(ici, ici_low) <= gates.max_ici,
                ici_low,
                ici_high,
            ),
            GateCheck(
                f"net_benefit_t{threshold:g}",
                nb_model,
                f"> max(treat all {nb_all:.4f}, treat none 0) at threshold {threshold:g}",
                nb_model > max(nb_all, 0.0),
            ),
            *comparator_checks(evidence.comparators, threshold, gates.min_gain_over_rules),
        ],
    )


def comparator_checks(
    comparators: dict[str, Any] | None, threshold: float, min_gain: float | None = 0.0
) -> list[GateCheck]:
    """Net benefit above every clinical comparator's at ``threshold``: the smallest model-minus-comparator
    difference must exceed ``min_gain`` (point estimates, as the net-benefit gate); none when no comparator
    was evaluated or ``min_gain`` is None."""
    if min_gain is None:
        return []
    behind, smallest = not_beaten(comparators, threshold, min_gain)
    if smallest is None:
        return []
    rule = f"model minus every clinical rule > {min_gain:g} at threshold {threshold:g}"
    return [
        GateCheck(
            f"beats_clinical_rules_t{threshold:g}",
            smallest,
            rule + (f" (not beaten: {', '.join(behind)})" if behind else ""),
            not behind,
        )
    ]


def _estimate(estimate: dict[str, Any], basis: str) -> tuple[float | None, float | None, float | None]:
    """Value and, on the interval basis, the 95 % limits of an Evidence estimate (None where absent)."""
    if basis not in ("interval", "point"):
        raise ValueError(f"the gates' basis must be 'interval' or 'point', got {basis!r}")
    value, low, high = estimate.get("value"), estimate.get("ci_low"), estimate.get("ci_high")
    if basis == "point" or low is None or high is None:
        return value, None, None
    return value, low, high


def _lower(value: float, low: float | None) -> float:
    return value if low is None else low


def _upper(value: float, high: float | None) -> float:
    return value if high is None else high


def _show(value: float | None) -> str:
    return "undefined" if value is None else f"{value:.3g}"


def _interval(check: GateCheck) -> str:
    if check.ci_low is None or check.ci_high is None:
        return ""
    return f" (95 % CI {check.ci_low:.3g} to {check.ci_high:.3g})"
