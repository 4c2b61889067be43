"""Overall performance: Brier score, scaled Brier, log-loss, Cox-Snell and Nagelkerke R-squared.

For predictions p of outcomes y (n patients, prevalence ybar):

    Brier         = mean (p - y)^2
    scaled Brier  = 1 - Brier / (ybar (1 - ybar))           (Steyerberg et al., Epidemiology 2010)
    log-loss      = -mean(y ln p + (1 - y) ln(1 - p))
    LR            = 2 (lnL(p) - lnL_null),  lnL_null = n (ybar ln ybar + (1 - ybar) ln(1 - ybar))
    R2_CoxSnell   = 1 - exp(-LR / n)                        (Cox & Snell 1989)
    R2_Nagelkerke = R2_CoxSnell / (1 - exp(2 lnL_null / n)) (Nagelkerke, Biometrika 1991)

The R-squared values are those of the predictions as given (no refitting) against the
intercept-only model, so a badly miscalibrated model can have LR < 0 and negative R-squared; that
is reported, not truncated. Logarithms use probabilities clipped at PROBABILITY_CLIP.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ._validation import PROBABILITY_CLIP, check_outcome_and_probability, n_clipped
from .bootstrap import Bootstrap, ones_weights
from .results import Estimate, JsonResult

OVERALL_METRICS = ("brier", "scaled_brier", "log_loss", "r2_cox_snell", "r2_nagelkerke")


@dataclass(frozen=True)
class OverallPerformance(JsonResult):
    """Overall performance measures; intervals are bootstrap percentile intervals when a
    Bootstrap was given, otherwise absent."""

    brier: Estimate
    scaled_brier: Estimate
    log_loss: Estimate
    r2_cox_snell: Estimate
    r2_nagelkerke: Estimate
    n: int
    n_events: int
    n_clipped: int


def overall_weighted(y: np.ndarray, p: np.ndarray, weights: np.ndarray) -> dict[str, np.ndarray]:
    """All overall measures for every weight row (R, n); each value is an (R,) array.

    Scaled Brier and the R-squared values are NaN for rows with a single outcome class.
    """
    total = weights.sum(axis=1)
    events = weights @ y
    prevalence = events / total
    q = np.clip(p, PROBABILITY_CLIP, 1.0 - PROBABILITY_CLIP)
    loglik_terms = y * np.log(q) + (1 - y) * np.log1p(-q)
    brier = weights @ (p - y) ** 2 / total
    loglik = weights @ loglik_terms
    with np.errstate(divide="ignore", invalid="ignore"):
        null = events * np.log(prevalence) + (total - events) * np.log1p(-prevalence)
        both = (prevalence > 0) & (prevalence < 1)
        null = np.where(both, null, np.nan)
        r2_cs = 1.0 - np.exp(-2.0 * (loglik - null) / total)
        r2_max = 1.0 - np.exp(2.0 * null / total)
        scaled = 1.0 - brier / (prevalence * (1.0 - prevalence))
    return {
        "brier": brier,
        "scaled_brier": np.where(both, scaled, np.nan),
        "log_loss": -loglik / total,
        "r2_cox_snell": r2_cs,
        "r2_nagelkerke": r2_cs / r2_max,
    }


def overall_performance(y: Any, p: Any, *, boot: Bootstrap | None = None) -> OverallPerformance:
    """Brier, scaled Brier, log-loss, Cox-Snell and Nagelkerke R-squared of predictions p.

    With ``boot`` each measure gets a bootstrap percentile interval (no analytic intervals are
    offered). Needs at least one event and one non-event.
    """
    y_arr, p_arr = check_outcome_and_probability(y, p)
    point = overall_weighted(y_arr, p_arr, ones_weights(y_arr.size))
    reps = overall_weighted(y_arr, p_arr, boot.weights) if boot is not None else None
    ests = {
        name: boot.estimate(point[name][0], reps[name])
        if boot is not None and reps is not None
        else Estimate(float(point[name][0]))
        for name in OVERALL_METRICS
    }
    return OverallPerformance(**ests, n=int(y_arr.size), n_events=int(y_arr.sum()), n_clipped=n_clipped(p_arr))
