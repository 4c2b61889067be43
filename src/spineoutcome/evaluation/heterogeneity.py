"""Between-centre heterogeneity of performance (TRIPOD+AI items 12d and 23b).

Per-centre AUC (pooled on the logit scale, SE by the delta method), calibration-in-the-large,
calibration slope and ln(O:E), each pooled by random-effects meta-analysis:

    y_i ~ N(mu, v_i + tau^2),   w_i = 1 / (v_i + tau^2),   mu = sum w y / sum w,
    SE(mu) = 1 / sqrt(sum w).

tau^2 by REML (maximising the restricted likelihood; Viechtbauer, J Educ Behav Stat 2005) or
DerSimonian-Laird (Control Clin Trials 1986): tau^2 = max(0, (Q - (k - 1)) / (S1 - S2 / S1)) with
fixed-effect weights, S1 = sum w, S2 = sum w^2. Cochran's Q uses fixed-effect weights;
I^2 = tau^2 / (tau^2 + s^2) with the typical within-study variance
s^2 = (k - 1) S1 / (S1^2 - S2) (Higgins & Thompson, Stat Med 2002; as metafor reports it).
The 95% prediction interval for a new centre is mu +/- t_{k-2} sqrt(tau^2 + SE(mu)^2)
(Riley, Higgins & Deeks, BMJ 2011; 342:d549), defined for k >= 3.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
from scipy import optimize, stats
from scipy.special import expit

from ._validation import (
    check_groups,
    check_level,
    check_outcome_and_probability,
    critical_value,
)
from .calibration import calibration_metrics
from .discrimination import logit_auc, roc_auc
from .results import Estimate, JsonResult

POOLED_MEASURES = ("logit_auc", "citl", "slope", "log_oe")


@dataclass(frozen=True)
class MetaAnalysis(JsonResult):
    """Random-effects pooled estimate with heterogeneity statistics and prediction interval.

    ``i2`` is a proportion in [0, 1]; the prediction interval is NaN when k < 3.
    """

    estimate: Estimate
    tau2: float
    tau: float
    i2: float
    q: float
    q_df: int
    q_p_value: float
    prediction_interval: tuple[float, float]
    method: str
    k: int
    labels: tuple[str, ...]
    estimates: tuple[float, ...]
    variances: tuple[float, ...]
    weights: tuple[float, ...]


@dataclass(frozen=True)
class CentrePerformance(JsonResult):
    """One centre's measures; ``status`` is "ok" or "too_few_events" (then measures are None)."""

    centre: str
    n: int
    n_events: int
    status: str
    auc: Estimate | None
    citl: Estimate | None
    slope: Estimate | None
    oe_ratio: Estimate | None


@dataclass(frozen=True)
class CentreHeterogeneity(JsonResult):
    """Per-centre performance and random-effects pooling of each measure.

    ``pooled`` holds the meta-analyses on the analysis scale (logit AUC, CITL, slope, ln O:E);
    ``pooled_auc`` / ``pooled_oe_ratio`` and their prediction intervals are back-transformed.
    A measure is not pooled (absent from ``pooled``) with fewer than two usable centres.
    """

    centres: tuple[CentrePerformance, ...]
    pooled: dict[str, MetaAnalysis]
    pooled_auc: Estimate | None
    pooled_auc_prediction_interval: tuple[float, float] | None
    pooled_oe_ratio: Estimate | None
    pooled_oe_prediction_interval: tuple[float, float] | None
    min_events: int
    min_non_events: int


def random_effects_meta(
    estimates: Sequence[float],
    variances: Sequence[float],
    *,
    method: Literal["REML", "DL"] = "REML",
    level: float = 0.95,
    labels: Sequence[str] | None = None,
) -> MetaAnalysis:
    """Random-effects meta-analysis of k >= 2 estimates with known within-study variances.

    REML by bounded maximisation of the restricted log-likelihood
    -1/2 [sum ln(v_i + tau^2) + ln sum w_i + sum w_i (y_i - mu)^2]; DL in closed form.
    Wald (normal) interval for mu; t_{k-2} prediction interval (Riley et al. 2011).
    """
    y = np.asarray(estimates, dtype=float)
    v = np.asarray(variances, dtype=float)
    check_level(level)
    if y.ndim != 1 or y.shape != v.shape:
        raise ValueError("estimates and variances must be 1-D and of equal length")
    if y.size < 2:
        raise ValueError(f"random-effects pooling needs at least 2 estimates (got {y.size})")
    if not (np.all(np.isfinite(y)) and np.all(np.isfinite(v)) and np.all(v > 0)):
        raise ValueError("estimates must be finite and variances finite and positive")
    k = y.size
    w_fe = 1.0 / v
    s1, s2 = w_fe.sum(), (w_fe**2).sum()
    mu_fe = np.sum(w_fe * y) / s1
    q = float(np.sum(w_fe * (y - mu_fe) ** 2))
    if method == "DL":
        tau2 = max(0.0, (q - (k - 1)) / (s1 - s2 / s1))
    elif method == "REML":
        tau2 = _reml_tau2(y, v)
    else:
        raise ValueError("method must be 'REML' or 'DL'")
    w = 1.0 / (v + tau2)
    mu = float(np.sum(w * y) / w.sum())
    se = float(1.0 / math.sqrt(w.sum()))
    z = critical_value(level)
    typical = (k - 1) * s1 / (s1**2 - s2)
    i2 = tau2 / (tau2 + typical)
    if k >= 3:
        half = float(stats.t.ppf(0.5 + level / 2, k - 2)) * math.sqrt(tau2 + se**2)
        prediction = (mu - half, mu + half)
    else:
        prediction = (math.nan, math.nan)
    return MetaAnalysis(
        estimate=Estimate(mu, mu - z * se, mu + z * se, se, "wald", level),
        tau2=float(tau2),
        tau=float(math.sqrt(tau2)),
        i2=float(i2),
        q=q,
        q_df=k - 1,
        q_p_value=float(stats.chi2.sf(q, k - 1)),
        prediction_interval=(float(prediction[0]), float(prediction[1])),
        method=method,
        k=k,
        labels=tuple(str(s) for s in labels) if labels is not None else tuple(map(str, range(k))),
        estimates=tuple(map(float, y)),
        variances=tuple(map(float, v)),
        weights=tuple(map(float, w / w.sum())),
    )


def centre_heterogeneity(
    y: Any,
    p: Any,
    centres: Any,
    *,
    method: Literal["REML", "DL"] = "REML",
    min_events: int = 10,
    min_non_events: int = 10,
    level: float = 0.95,
) -> CentreHeterogeneity:
    """Per-centre AUC, CITL, slope and O:E, pooled by random-effects meta-analysis.

    Centres with fewer than ``min_events`` events or ``min_non_events`` non-events are reported
    with status "too_few_events" and left out of the pooling; a centre is also left out of one
    measure's pooling when that measure has no finite SE there (an AUC of 1, a slope whose fit
    did not converge). Per-centre intervals are DeLong (AUC), Wald (CITL, slope) and log-normal
    (O:E).
    """
    y_arr, p_arr = check_outcome_and_probability(y, p)
    labels = check_groups(centres, y_arr.size, name="centres").astype(str)
    rows = []
    pooled_inputs: dict[str, tuple[list[float], list[float], list[str]]] = {m: ([], [], []) for m in POOLED_MEASURES}
    for centre in sorted(np.unique(labels)):
        mask = labels == centre
        yc, pc = y_arr[mask], p_arr[mask]
        n_events = int(yc.sum())
        if n_events < min_events or yc.size - n_events < min_non_events:
            rows.append(CentrePerformance(centre, int(yc.size), n_events, "too_few_events", None, None, None, None))
            continue
        auc = roc_auc(yc, pc, level=level).auc
        cal = calibration_metrics(yc, pc, level=level)
        rows.append(CentrePerformance(centre, int(yc.size), n_events, "ok", auc, cal.citl, cal.slope, cal.oe_ratio))
        values = {
            "citl": (cal.citl.value, cal.citl.se),
            "slope": (cal.slope.value, cal.slope.se),
            "log_oe": (math.log(cal.oe_ratio.value), cal.oe_ratio.se),
        }
        if 0.0 < auc.value < 1.0 and auc.se is not None and math.isfinite(auc.se):
            values["logit_auc"] = logit_auc(auc.value, auc.se)
        for name, (value, se) in values.items():
            if se is not None and math.isfinite(value) and math.isfinite(se) and se > 0:
                pooled_inputs[name][0].append(value)
                pooled_inputs[name][1].append(se**2)
                pooled_inputs[name][2].append(centre)
    pooled = {
        name: random_effects_meta(vals, variances, method=method, level=level, labels=names)
        for name, (vals, variances, names) in pooled_inputs.items()
        if len(vals) >= 2
    }
    pooled_auc, auc_pi = _back_transform(pooled.get("logit_auc"), expit)
    pooled_oe, oe_pi = _back_transform(pooled.get("log_oe"), np.exp)
    return CentreHeterogeneity(
        centres=tuple(rows),
        pooled=pooled,
        pooled_auc=pooled_auc,
        pooled_auc_prediction_interval=auc_pi,
        pooled_oe_ratio=pooled_oe,
        pooled_oe_prediction_interval=oe_pi,
        min_events=min_events,
        min_non_events=min_non_events,
    )


def _back_transform(meta: MetaAnalysis | None, inverse: Any) -> tuple[Estimate | None, tuple[float, float] | None]:
    if meta is None:
        return None, None
    est = meta.estimate
    back = Estimate(
        float(inverse(est.value)),
        float(inverse(est.ci_low)),
        float(inverse(est.ci_high)),
        None,
        "wald-back-transformed",
        est.level,
    )
    low, high = meta.prediction_interval
    return back, (float(inverse(low)), float(inverse(high)))


def _reml_tau2(y: np.ndarray, v: np.ndarray) -> float:
    def neg_restricted_loglik(tau2: float) -> float:
        w = 1.0 / (v + tau2)
        mu = np.sum(w * y) / w.sum()
        return 0.5 * (np.sum(np.log(v + tau2)) + math.log(w.sum()) + np.sum(w * (y - mu) ** 2))

    upper = 10.0 * (float(np.var(y)) + float(v.max())) + 1.0
    res = optimize.minimize_scalar(
        neg_restricted_loglik,
        bounds=(0.0, upper),
        method="bounded",
        options={"xatol": 1e-12, "maxiter": 1000},
    )
    tau2 = float(res.x)
    if neg_restricted_loglik(0.0) <= neg_restricted_loglik(tau2):
        return 0.0
    return tau2
