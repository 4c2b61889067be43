"""Discrimination: AUC (C-statistic) with DeLong variance, the paired DeLong test, bootstrap
intervals, and sensitivity / specificity / PPV / NPV at prespecified thresholds.

AUC and its DeLong (1988) variance use the midrank algorithm of Sun & Xu (IEEE Signal Process
Lett 2014; 21:1389-93), which needs three sorts instead of the n1 x n0 comparisons of the
original placement-value definition: with midranks T_Z over all patients, T_X over events only
and T_Y over non-events only,

    AUC = (sum_events T_Z - n1 (n1 + 1) / 2) / (n1 n0)
    V10_i = (T_Z,i - T_X,i) / n0          (event placements)
    V01_j = 1 - (T_Z,j - T_Y,j) / n1      (non-event placements)
    Var(AUC) = S10 / n1 + S01 / n0,       S = sample covariances (divisor n - 1) of V10, V01.

Ties count one half, as in the Mann-Whitney statistic.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd
from scipy import stats
from scipy.special import expit, logit

from ._validation import (
    InsufficientDataError,
    as_probability,
    check_level,
    check_outcome_and_probability,
    critical_value,
)
from .bootstrap import Bootstrap
from .results import Estimate, JsonResult


@dataclass(frozen=True)
class AUCResult(JsonResult):
    """AUC with its interval; ``se_delong`` is always reported (NaN with a single event or
    non-event)."""

    auc: Estimate
    se_delong: float
    n: int
    n_events: int


@dataclass(frozen=True)
class DeLongTestResult(JsonResult):
    """Paired DeLong comparison of two models' AUCs on the same patients (difference = a - b)."""

    auc_a: Estimate
    auc_b: Estimate
    difference: Estimate
    z: float
    p_value: float
    correlation: float
    n: int
    n_events: int


@dataclass(frozen=True)
class ThresholdMetrics(JsonResult):
    """Counts and Wilson-interval proportions at one risk threshold (positive if p >= threshold).

    A proportion whose denominator is zero (for example PPV with no predicted positives) is NaN.
    """

    threshold: float
    tp: int
    fp: int
    tn: int
    fn: int
    sensitivity: Estimate
    specificity: Estimate
    ppv: Estimate
    npv: Estimate


@dataclass(frozen=True)
class ClassificationTable(JsonResult):
    """Threshold metrics for every prespecified threshold."""

    rows: tuple[ThresholdMetrics, ...]

    def to_frame(self) -> pd.DataFrame:
        """One row per threshold and metric: value and interval."""
        records = []
        for row in self.rows:
            for name in ("sensitivity", "specificity", "ppv", "npv"):
                est: Estimate = getattr(row, name)
                records.append(
                    {
                        "threshold": row.threshold,
                        "metric": name,
                        "value": est.value,
                        "ci_low": est.ci_low,
                        "ci_high": est.ci_high,
                        "tp": row.tp,
                        "fp": row.fp,
                        "tn": row.tn,
                        "fn": row.fn,
                    }
                )
        return pd.DataFrame.from_records(records)


def delong_covariance(y: np.ndarray, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """AUCs (k,) and DeLong covariance matrix (k, k) of k score rows (k, n), Sun & Xu midranks.

    Needs at least one event and one non-event; with a single event or non-event the
    covariance is NaN (the sample covariance of one placement value is undefined).
    """
    scores = np.atleast_2d(scores)
    events = y == 1
    n1 = int(events.sum())
    n0 = int(y.size - n1)
    x = scores[:, events]
    z = scores[:, ~events]
    t_x = stats.rankdata(x, axis=1)
    t_y = stats.rankdata(z, axis=1)
    t_z = stats.rankdata(np.hstack([x, z]), axis=1)
    aucs = (t_z[:, :n1].sum(axis=1) - n1 * (n1 + 1) / 2.0) / (n1 * n0)
    if n1 < 2 or n0 < 2:
        return aucs, np.full((scores.shape[0], scores.shape[0]), np.nan)
    v10 = (t_z[:, :n1] - t_x) / n0
    v01 = 1.0 - (t_z[:, n1:] - t_y) / n1
    cov = np.atleast_2d(np.cov(v10)) / n1 + np.atleast_2d(np.cov(v01)) / n0
    return aucs, cov


def roc_auc(
    y: Any,
    p: Any,
    *,
    level: float = 0.95,
    ci_method: Literal["delong", "bootstrap"] = "delong",
    ci_transform: Literal["identity", "logit"] = "identity",
    boot: Bootstrap | None = None,
) -> AUCResult:
    """AUC (C-statistic) with a DeLong or bootstrap interval.

    ``ci_method="delong"``: AUC +/- z * SE_DeLong, clipped to [0, 1] (as in Stata's roctab
    and pROC), or with ``ci_transform="logit"`` computed on the logit scale
    (SE_logit = SE / (AUC (1 - AUC)), delta method) and back-transformed, which keeps the
    interval inside (0, 1) for small samples. ``ci_method="bootstrap"``: percentile interval
    over the replicates of ``boot``. Needs at least one event and one non-event.
    """
    y_arr, p_arr = check_outcome_and_probability(y, p)
    check_level(level)
    aucs, cov = delong_covariance(y_arr, p_arr[None, :])
    auc = float(aucs[0])
    se = float(math.sqrt(cov[0, 0])) if np.isfinite(cov[0, 0]) else math.nan
    if ci_method == "bootstrap":
        if boot is None:
            raise ValueError("ci_method='bootstrap' needs a Bootstrap (boot=...)")
        estimate = boot.estimate(auc, auc_weighted(y_arr, p_arr, boot.weights))
    elif ci_method == "delong":
        low, high = _normal_interval(auc, se, level, ci_transform)
        estimate = Estimate(auc, low, high, se, "delong", level)
    else:
        raise ValueError("ci_method must be 'delong' or 'bootstrap'")
    return AUCResult(auc=estimate, se_delong=se, n=int(y_arr.size), n_events=int(y_arr.sum()))


def delong_test(y: Any, p_a: Any, p_b: Any, *, level: float = 0.95) -> DeLongTestResult:
    """Paired DeLong test of AUC(a) = AUC(b) for two models scored on the same patients.

    z = (AUC_a - AUC_b) / sqrt(V_aa + V_bb - 2 V_ab) with the DeLong covariance V; two-sided
    normal p-value; Wald interval for the difference. Used to compare, for example, gradient
    boosting with logistic regression on the same validation patients. Needs at least two
    events and two non-events.
    """
    y_arr, pa = check_outcome_and_probability(y, p_a, min_events=2, min_non_events=2)
    pb = as_probability(p_b, name="p_b")
    if pb.size != pa.size:
        raise ValueError(f"p_a and p_b have different lengths ({pa.size} and {pb.size})")
    check_level(level)
    aucs, cov = delong_covariance(y_arr, np.vstack([pa, pb]))
    z_crit = critical_value(level)
    var_diff = cov[0, 0] + cov[1, 1] - 2.0 * cov[0, 1]
    diff = float(aucs[0] - aucs[1])
    se_diff = math.sqrt(var_diff) if var_diff > 0 else 0.0
    if se_diff > 0:
        z = diff / se_diff
        p_value = float(2.0 * stats.norm.sf(abs(z)))
    else:
        z = 0.0 if diff == 0 else math.copysign(math.inf, diff)
        p_value = 1.0 if diff == 0 else 0.0
    denom = math.sqrt(cov[0, 0] * cov[1, 1])
    correlation = float(cov[0, 1] / denom) if denom > 0 else math.nan
    ests = []
    for i in range(2):
        se_i = math.sqrt(cov[i, i])
        low, high = _normal_interval(float(aucs[i]), se_i, level, "identity")
        ests.append(Estimate(float(aucs[i]), low, high, se_i, "delong", level))
    difference = Estimate(diff, diff - z_crit * se_diff, diff + z_crit * se_diff, se_diff, "delong", level)
    return DeLongTestResult(
        auc_a=ests[0],
        auc_b=ests[1],
        difference=difference,
        z=float(z),
        p_value=p_value,
        correlation=correlation,
        n=int(y_arr.size),
        n_events=int(y_arr.sum()),
    )


def auc_weighted(y: np.ndarray, p: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """AUC for every weight row (R, n) -> (R,): weighted Mann-Whitney with ties counting 1/2.

    One sort of p; per distinct value the weighted events e and non-events f, then
    AUC = sum(e * (F_below + f / 2)) / (E * F). NaN for rows without both classes.
    """
    order = np.argsort(p, kind="mergesort")
    ps = p[order]
    ys = y[order].astype(float)
    ws = weights[:, order]
    starts = np.flatnonzero(np.r_[True, ps[1:] != ps[:-1]])
    ev = np.add.reduceat(ws * ys, starts, axis=1)
    ne = np.add.reduceat(ws, starts, axis=1) - ev
    below = np.cumsum(ne, axis=1) - ne
    n1 = ev.sum(axis=1)
    n0 = ne.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        out = np.sum(ev * (below + 0.5 * ne), axis=1) / (n1 * n0)
    return np.where((n1 > 0) & (n0 > 0), out, np.nan)


def wilson_interval(successes: int, total: int, level: float = 0.95) -> tuple[float, float]:
    """Wilson score interval for a binomial proportion (Wilson, JASA 1927).

    centre = (p + z^2 / 2n) / (1 + z^2 / n),
    half-width = z / (1 + z^2 / n) * sqrt(p (1 - p) / n + z^2 / 4n^2).
    NaN for total = 0.
    """
    if total == 0:
        return math.nan, math.nan
    z = critical_value(level)
    phat = successes / total
    denom = 1.0 + z * z / total
    centre = (phat + z * z / (2 * total)) / denom
    half = z / denom * math.sqrt(phat * (1 - phat) / total + z * z / (4 * total * total))
    return max(0.0, centre - half), min(1.0, centre + half)


def threshold_metrics(y: Any, p: Any, thresholds: Sequence[float], *, level: float = 0.95) -> ClassificationTable:
    """Sensitivity, specificity, PPV and NPV with Wilson intervals at prespecified thresholds.

    A patient is test-positive when p >= threshold. Thresholds should be fixed before looking at
    the validation data (TRIPOD+AI item 12e); this function does not search for one.
    """
    y_arr, p_arr = check_outcome_and_probability(y, p, min_events=0, min_non_events=0)
    check_level(level)
    rows = []
    for t in thresholds:
        if not 0.0 <= t <= 1.0:
            raise ValueError("thresholds must lie in [0, 1]")
        positive = p_arr >= t
        tp = int(np.sum(positive & (y_arr == 1)))
        fp = int(np.sum(positive & (y_arr == 0)))
        fn = int(np.sum(~positive & (y_arr == 1)))
        tn = int(np.sum(~positive & (y_arr == 0)))
        rows.append(
            ThresholdMetrics(
                threshold=float(t),
                tp=tp,
                fp=fp,
                tn=tn,
                fn=fn,
                sensitivity=_proportion(tp, tp + fn, level),
                specificity=_proportion(tn, tn + fp, level),
                ppv=_proportion(tp, tp + fp, level),
                npv=_proportion(tn, tn + fn, level),
            )
        )
    return ClassificationTable(rows=tuple(rows))


def logit_auc(auc: float, se: float) -> tuple[float, float]:
    """logit(AUC) and its delta-method SE, SE / (AUC (1 - AUC)): the usual scale for pooling
    AUCs across centres (Debray et al., BMJ 2017; Snell et al., J Clin Epidemiol 2018)."""
    if not 0.0 < auc < 1.0:
        raise InsufficientDataError("AUC of 0 or 1 has no finite logit")
    return float(logit(auc)), float(se / (auc * (1.0 - auc)))


def _proportion(successes: int, total: int, level: float) -> Estimate:
    value = successes / total if total else math.nan
    low, high = wilson_interval(successes, total, level)
    return Estimate(value, low, high, None, "wilson", level)


def _normal_interval(
    value: float, se: float, level: float, transform: Literal["identity", "logit"]
) -> tuple[float, float]:
    if not math.isfinite(se):
        return math.nan, math.nan
    z = critical_value(level)
    if transform == "identity":
        return max(0.0, value - z * se), min(1.0, value + z * se)
    if transform == "logit":
        if not 0.0 < value < 1.0:
            return value, value
        centre, se_logit = logit_auc(value, se)
        return float(expit(centre - z * se_logit)), float(expit(centre + z * se_logit))
    raise ValueError("ci_transform must be 'identity' or 'logit'")
