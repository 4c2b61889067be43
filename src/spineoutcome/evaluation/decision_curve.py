"""Decision curve analysis (Vickers & Elkin, Med Decis Making 2006; 26:565-74).

At a risk threshold pt, treating patients with p >= pt has net benefit

    NB_model = TP / n - FP / n * pt / (1 - pt)
    NB_all   = prevalence - (1 - prevalence) * pt / (1 - pt)       (treat everyone)
    NB_none  = 0                                                    (treat no one)

Also reported: standardized net benefit sNB = NB / prevalence (Kerr et al., Med Decis Making
2016), and net interventions avoided per 100 patients,
(NB_model - NB_all) / (pt / (1 - pt)) * 100 (Vickers et al., BMJ 2016; 352:i6).
Bootstrap intervals are percentile intervals.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from ._validation import check_outcome_and_probability
from .bootstrap import Bootstrap, ones_weights
from .results import JsonResult

DEFAULT_THRESHOLDS = tuple(round(k / 100, 2) for k in range(1, 100))
"""99 thresholds 0.01, 0.02, ..., 0.99."""

INTERVAL_CURVES = ("nb_model", "snb_model", "nb_difference_all", "interventions_avoided")
"""Curves that get bootstrap intervals."""


@dataclass(frozen=True)
class DecisionCurve(JsonResult):
    """Net benefit of the model, treat-all and treat-none over a threshold grid.

    ``ci`` maps a curve name to (low, high) tuples (bootstrap percentile, pointwise) and is
    empty without a Bootstrap.
    """

    thresholds: tuple[float, ...]
    nb_model: tuple[float, ...]
    nb_all: tuple[float, ...]
    nb_none: tuple[float, ...]
    snb_model: tuple[float, ...]
    snb_all: tuple[float, ...]
    interventions_avoided: tuple[float, ...]
    ci: dict[str, tuple[tuple[float, ...], tuple[float, ...]]]
    prevalence: float
    n: int
    n_events: int
    level: float

    def to_frame(self) -> pd.DataFrame:
        """One row per threshold, with interval columns when available."""
        frame = pd.DataFrame(
            {
                "threshold": self.thresholds,
                "nb_model": self.nb_model,
                "nb_all": self.nb_all,
                "nb_none": self.nb_none,
                "snb_model": self.snb_model,
                "snb_all": self.snb_all,
                "interventions_avoided": self.interventions_avoided,
            }
        )
        for name, (low, high) in self.ci.items():
            frame[f"{name}_ci_low"] = low
            frame[f"{name}_ci_high"] = high
        return frame


def net_benefit_weighted(
    y: np.ndarray, p: np.ndarray, weights: np.ndarray, thresholds: np.ndarray
) -> dict[str, np.ndarray]:
    """Decision-curve quantities for every weight row: each value is (R, T).

    One sort of p; weighted true and false positives at every threshold come from reverse
    cumulative sums, so the cost is O(R n + R T) after the sort.
    """
    order = np.argsort(p, kind="mergesort")
    ps = p[order]
    ws = weights[:, order]
    tp_cum = np.cumsum((ws * y[order])[:, ::-1], axis=1)[:, ::-1]
    pos_cum = np.cumsum(ws[:, ::-1], axis=1)[:, ::-1]
    first = np.searchsorted(ps, thresholds, side="left")
    padded_tp = np.hstack([tp_cum, np.zeros((weights.shape[0], 1))])
    padded_pos = np.hstack([pos_cum, np.zeros((weights.shape[0], 1))])
    tp = padded_tp[:, first]
    fp = padded_pos[:, first] - tp
    n = weights.sum(axis=1)[:, None]
    prevalence = (weights @ y)[:, None] / n
    odds = thresholds / (1.0 - thresholds)
    nb_model = tp / n - fp / n * odds
    nb_all = prevalence - (1.0 - prevalence) * odds
    with np.errstate(divide="ignore", invalid="ignore"):
        snb_model = np.where(prevalence > 0, nb_model / prevalence, np.nan)
    return {
        "nb_model": nb_model,
        "nb_all": np.broadcast_to(nb_all, nb_model.shape),
        "snb_model": snb_model,
        "nb_difference_all": nb_model - nb_all,
        "interventions_avoided": (nb_model - nb_all) / odds * 100.0,
    }


def decision_curve(
    y: Any,
    p: Any,
    *,
    thresholds: Any = DEFAULT_THRESHOLDS,
    boot: Bootstrap | None = None,
) -> DecisionCurve:
    """Net benefit of the model versus treat-all and treat-none over ``thresholds``
    (default 0.01 to 0.99 by 0.01), with bootstrap percentile intervals when ``boot`` is given
    (for NB, sNB, NB minus treat-all, and interventions avoided)."""
    y_arr, p_arr = check_outcome_and_probability(y, p, min_events=0, min_non_events=0)
    t = np.asarray(thresholds, dtype=float)
    if t.ndim != 1 or t.size == 0 or np.any((t <= 0) | (t >= 1)):
        raise ValueError("thresholds must be a non-empty 1-D sequence inside (0, 1)")
    point = {
        name: values[0] for name, values in net_benefit_weighted(y_arr, p_arr, ones_weights(y_arr.size), t).items()
    }
    prevalence = float(y_arr.mean())
    ci: dict[str, tuple[tuple[float, ...], tuple[float, ...]]] = {}
    level = 0.95
    if boot is not None:
        level = boot.level
        reps = net_benefit_weighted(y_arr, p_arr, boot.weights, t)
        for name in INTERVAL_CURVES:
            low, high, _ = boot.interval(reps[name])
            ci[name] = (tuple(map(float, low)), tuple(map(float, high)))
    snb_all = point["nb_all"] / prevalence if prevalence > 0 else np.full(t.size, np.nan)
    return DecisionCurve(
        thresholds=tuple(map(float, t)),
        nb_model=tuple(map(float, point["nb_model"])),
        nb_all=tuple(map(float, point["nb_all"])),
        nb_none=tuple(0.0 for _ in t),
        snb_model=tuple(map(float, point["snb_model"])),
        snb_all=tuple(map(float, snb_all)),
        interventions_avoided=tuple(map(float, point["interventions_avoided"])),
        ci=ci,
        prevalence=prevalence,
        n=int(y_arr.size),
        n_events=int(y_arr.sum()),
        level=level,
    )
