"""A clinical rule or score next to a model, on the same patients and the same out-of-fold predictions.

A **rule** flags patients (K-line (-), occupying ratio >= 60 %). It learns nothing, so its
out-of-fold value is the rule itself. Reported: sensitivity, specificity, PPV and NPV with Wilson
intervals and the share flagged; the AUC of the binary rule, which is (sensitivity + specificity)
/ 2, compared with the model's by the paired DeLong test (DeLong et al., Biometrics 1988); and the
net benefit of the rule as a treatment policy, "treat whom the rule flags", at each decision
threshold t (Vickers & Elkin, Med Decis Making 2006):

    NB_rule(t) = TP / n - FP / n * t / (1 - t).

A **score** (a number, higher = higher risk) is compared by its AUC as written (complete cases;
only its ranks matter) and, for calibration and net benefit, by out-of-fold risks of a
one-variable logistic model fitted inside the same cross-validation folds as the models.

Model minus comparator net benefit at each threshold gets a paired bootstrap percentile interval
(the same replicates for both, :class:`~.bootstrap.Bootstrap`), and a plain verdict: the model is
better (interval above 0), the comparator is better (interval below 0), or no clear difference.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
from scipy import stats

from ._validation import InsufficientDataError, check_outcome_and_probability
from .bootstrap import Bootstrap, ones_weights
from .calibration import citl_weighted, slope_weighted
from .decision_curve import DEFAULT_THRESHOLDS, net_benefit_weighted
from .discrimination import delong_test, threshold_metrics, wilson_interval
from .results import Estimate, JsonResult

Verdict = Literal["model_better", "comparator_better", "no_clear_difference", "not_estimable"]


@dataclass(frozen=True)
class NetBenefitComparison(JsonResult):
    """Net benefit at one threshold: model, comparator, treat all, and model minus comparator (paired)."""

    threshold: float
    model: float
    comparator: float
    treat_all: float
    difference: Estimate
    verdict: Verdict


@dataclass(frozen=True)
class ComparatorResult(JsonResult):
    """One comparator against the model (see module docstring).

    ``auc`` is the paired DeLong test with the model as ``a`` and the comparator as ``b`` (None with
    ``auc_note`` when it cannot be estimated); ``classification`` has one row for a rule (the rule's
    own positives) and one per threshold for a score's risks; ``decision_curve`` is the comparator's
    net benefit on the grid of :data:`~.decision_curve.DEFAULT_THRESHOLDS`.
    """

    kind: Literal["rule", "score"]
    n: int
    n_events: int
    n_missing: int
    auc: dict[str, Any] | None
    auc_note: str | None
    share_flagged: Estimate | None
    classification: list[dict[str, Any]]
    calibration: dict[str, float] | None
    net_benefit: list[NetBenefitComparison]
    decision_curve: dict[str, list[float]]


def net_benefit_verdict(difference: Estimate) -> Verdict:
    """Model better when the interval of model minus comparator lies above 0, comparator better when
    below, otherwise no clear difference."""
    low, high = difference.ci_low, difference.ci_high
    if low is None or high is None or not (math.isfinite(low) and math.isfinite(high)):
        return "not_estimable"
    if low > 0:
        return "model_better"
    if high < 0:
        return "comparator_better"
    return "no_clear_difference"


def compare_rule(
    y: Any, flagged: Any, known: Any, p_model: Any, thresholds: Sequence[float], *, boot: Bootstrap
) -> ComparatorResult:
    """A rule (``flagged``: bool per patient; ``known``: whether it could be applied) against the model's
    out-of-fold risks ``p_model`` on the same patients. A patient the rule cannot be applied to counts
    as not flagged (counted in ``n_missing``)."""
    y_arr, p_arr = check_outcome_and_probability(y, p_model, min_events=0, min_non_events=0)
    rule = np.asarray(flagged, dtype=bool) & np.asarray(known, dtype=bool)
    _same_length(y_arr, rule)
    row = threshold_metrics(y_arr, rule.astype(float), [1.0]).rows[0].to_dict()
    row.pop("threshold")
    n_flagged = int(rule.sum())
    flagged_ci = wilson_interval(n_flagged, int(y_arr.size), boot.level)
    auc, note = _delong(y_arr, p_arr, rule.astype(float))
    return ComparatorResult(
        kind="rule",
        n=int(y_arr.size),
        n_events=int(y_arr.sum()),
        n_missing=int((~np.asarray(known, dtype=bool)).sum()),
        auc=auc,
        auc_note=note,
        share_flagged=Estimate(n_flagged / y_arr.size, *flagged_ci, None, "wilson", boot.level),
        classification=[row],
        calibration=None,
        net_benefit=_net_benefit(y_arr, p_arr, rule.astype(float), thresholds, boot),
        decision_curve=_curve(y_arr, rule.astype(float)),
    )


def compare_score(
    y: Any, score: Any, p_score: Any, p_model: Any, thresholds: Sequence[float], *, boot: Bootstrap
) -> ComparatorResult:
    """A score (NaN where it could not be computed) and its out-of-fold risks ``p_score`` against the
    model's out-of-fold risks ``p_model``. AUC and DeLong use the patients with a score; calibration,
    classification and net benefit use ``p_score`` for everyone."""
    y_arr, p_arr = check_outcome_and_probability(y, p_model, min_events=0, min_non_events=0)
    _, risk = check_outcome_and_probability(y_arr, p_score, min_events=0, min_non_events=0)
    values = np.asarray(score, dtype=float)
    _same_length(y_arr, values)
    scored = np.isfinite(values)
    ranks = stats.rankdata(values[scored]) / max(int(scored.sum()), 1)
    auc, note = _delong(y_arr[scored], p_arr[scored], ranks)
    ones = ones_weights(y_arr.size)
    rows = [r.to_dict() for r in threshold_metrics(y_arr, risk, thresholds).rows]
    return ComparatorResult(
        kind="score",
        n=int(y_arr.size),
        n_events=int(y_arr.sum()),
        n_missing=int((~scored).sum()),
        auc=auc,
        auc_note=note,
        share_flagged=None,
        classification=rows,
        calibration={
            "slope": float(slope_weighted(y_arr, risk, ones)[0]),
            "intercept": float(citl_weighted(y_arr, risk, ones)[0]),
        },
        net_benefit=_net_benefit(y_arr, p_arr, risk, thresholds, boot),
        decision_curve=_curve(y_arr, risk),
    )


def _same_length(y: np.ndarray, values: np.ndarray) -> None:
    if values.shape != y.shape:
        raise ValueError(f"the comparator has {values.size} values for {y.size} patients")


def _delong(y: np.ndarray, p_model: np.ndarray, p_comparator: np.ndarray) -> tuple[dict[str, Any] | None, str | None]:
    try:
        return delong_test(y, p_model, p_comparator).to_dict(), None
    except InsufficientDataError as exc:
        return None, str(exc)


def _net_benefit(
    y: np.ndarray, p_model: np.ndarray, p_comparator: np.ndarray, thresholds: Sequence[float], boot: Bootstrap
) -> list[NetBenefitComparison]:
    t = np.asarray(thresholds, dtype=float)
    weights = np.vstack([ones_weights(y.size), boot.weights])
    model = net_benefit_weighted(y, p_model, weights, t)
    comparator = net_benefit_weighted(y, p_comparator, weights, t)["nb_model"]
    difference = model["nb_model"] - comparator
    out = []
    for i, threshold in enumerate(t):
        estimate = boot.estimate(difference[0, i], difference[1:, i])
        out.append(
            NetBenefitComparison(
                threshold=float(threshold),
                model=float(model["nb_model"][0, i]),
                comparator=float(comparator[0, i]),
                treat_all=float(model["nb_all"][0, i]),
                difference=estimate,
                verdict=net_benefit_verdict(estimate),
            )
        )
    return out


def _curve(y: np.ndarray, p: np.ndarray) -> dict[str, list[float]]:
    grid = np.asarray(DEFAULT_THRESHOLDS, dtype=float)
    nb = net_benefit_weighted(y, p, ones_weights(y.size), grid)["nb_model"][0]
    return {"thresholds": grid.tolist(), "nb": nb.tolist()}


def not_beaten(
    record: dict[str, Any] | None, threshold: float, min_gain: float = 0.0
) -> tuple[list[str], float | None]:
    """From an Evidence ``comparators`` record: the comparators the model's net benefit at ``threshold``
    does not exceed by more than ``min_gain`` (point estimates), and the smallest model-minus-comparator
    difference there.

    The deployment rule "a model that does not beat the rule on net benefit should not be deployed"
    reads this; ``([], None)`` when no comparator was evaluated at that threshold.
    """
    names: list[str] = []
    smallest: float | None = None
    for comparator in (record or {}).get("comparators") or []:
        rows = ((comparator.get("result") or {}).get("net_benefit")) or []
        row = next((r for r in rows if _same(r.get("threshold"), threshold)), None)
        value = None if row is None else (row.get("difference") or {}).get("value")
        if not isinstance(value, int | float) or not math.isfinite(value):
            continue
        smallest = value if smallest is None else min(smallest, value)
        if value <= min_gain:
            names.append(comparator["name"])
    return names, smallest


def _same(a: Any, b: Any) -> bool:
    return isinstance(a, int | float) and isinstance(b, int | float) and math.isclose(a, b, abs_tol=1e-9)
