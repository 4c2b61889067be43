"""The calibration hierarchy (Van Calster et al., J Clin Epidemiol 2016; 74:167-76).

Mean calibration
    calibration-in-the-large (CITL): a in logit P(y = 1) = a + offset(logit p)  (0 is ideal)
    O:E ratio: sum(y) / sum(p); interval exp(ln(O:E) +/- z SE) with
    SE(ln O:E) = sqrt((1 - O / n) / O) (binomial O, E fixed; Debray et al., BMJ 2017), which
    tends to the Poisson 1 / sqrt(O) for rare outcomes
Weak calibration
    calibration slope: b in logit P(y = 1) = a + b logit(p)  (1 is ideal)
Moderate calibration
    flexible calibration curve of y on p: loess (default) or a logistic regression on a
    restricted cubic spline of logit(p), with a bootstrap band, and the summary errors of
    Austin & Steyerberg (Stat Med 2019; 38:4051-65): with c(p) the calibration curve,
    ICI = mean |p - c(p)|, E50 = median, E90 = 90th percentile, Emax = maximum.

Intervals for CITL and slope are Wald intervals from the logistic fit (as statsmodels reports),
or bootstrap percentile intervals. Logits use probabilities clipped at PROBABILITY_CLIP.

Intervals of ICI, E50, E90 and Emax: the estimates are absolute errors of a noisy smoother, biased
upward near perfect calibration (a perfectly calibrated model has ICI 0, its estimate is always
positive), so a plain percentile interval never contains 0 even when the model is perfectly
calibrated. The interval is the bootstrap percentile interval, extended down to 0 whenever perfect
calibration is not rejected: when the estimate does not exceed the 1 - alpha/2 quantile of its
distribution under perfect calibration (outcomes drawn from the predictions themselves, a
parametric bootstrap; Davison & Hinkley 1997, 4.2), 0 is a value the data are consistent with
(the test-inversion view of a confidence interval), so it belongs in the interval. Their coverage
is measured in tests/evaluation/test_coverage.py.

Bootstrap ICI, fast and documented: loess on 1,000 replicates of n = 5,000 patients would take
minutes, so in the bootstrap the smoother is fit to quantile-bin aggregates (``n_bins`` bins;
each bin contributes its count and events at its mean prediction) and the curve is then
interpolated to each patient's own prediction. The point estimate is always computed from the
patient-level data. tests/evaluation compare the binned ICI with the patient-level one.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
from scipy.special import expit

from spineoutcome.modeling.splines import KNOT_QUANTILES, rcs_basis

from ._loess import loess_fit
from ._logistic import fit_logistic
from ._validation import (
    InsufficientDataError,
    check_level,
    check_outcome_and_probability,
    clipped_logit,
    critical_value,
    n_clipped,
)
from .bootstrap import Bootstrap, ones_weights
from .results import Estimate, JsonResult

ERROR_METRICS = ("ici", "e50", "e90", "emax")
MAX_EVAL_POINTS = 500
"""With more distinct predictions than this, a curve is evaluated at this many quantiles of p
and linearly interpolated to each patient (exact otherwise)."""

RCS_KNOT_QUANTILES = KNOT_QUANTILES
NULL_EXTENDED = "bootstrap-percentile, 0 when calibration is not rejected"
"""``ci_method`` of a calibration error whose interval was extended to 0 (see module docstring)."""


@dataclass(frozen=True)
class CalibrationMetrics(JsonResult):
    """Calibration-in-the-large, calibration slope and O:E ratio with intervals."""

    citl: Estimate
    slope: Estimate
    oe_ratio: Estimate
    n: int
    n_events: int
    n_clipped: int


@dataclass(frozen=True)
class CalibrationCurve(JsonResult):
    """A flexible calibration curve on a grid of predicted risks, with an optional bootstrap
    band (percentile, pointwise) and Austin & Steyerberg's error summaries."""

    method: str
    predicted: tuple[float, ...]
    observed: tuple[float, ...]
    observed_ci_low: tuple[float, ...] | None
    observed_ci_high: tuple[float, ...] | None
    ici: Estimate
    e50: Estimate
    e90: Estimate
    emax: Estimate
    settings: dict[str, Any]
    n: int
    n_events: int


def citl_weighted(y: np.ndarray, p: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Calibration-in-the-large for every weight row: (R,).

    Newton starts at the unweighted estimate, near which bootstrap replicates lie.
    """
    X, lp = np.ones((y.size, 1)), clipped_logit(p)
    start = fit_logistic(X, y, ones_weights(y.size), offset=lp).beta[0]
    return fit_logistic(X, y, weights, offset=lp, start=np.nan_to_num(start)).beta[:, 0]


def slope_weighted(y: np.ndarray, p: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Calibration slope for every weight row: (R,); NaN if predictions are constant."""
    lp = clipped_logit(p)
    if np.ptp(lp) == 0:
        return np.full(weights.shape[0], np.nan)
    X = np.column_stack([np.ones_like(lp), lp])
    start = fit_logistic(X, y, ones_weights(y.size), start=np.array([0.0, 1.0])).beta[0]
    start = start if np.all(np.isfinite(start)) else np.array([0.0, 1.0])
    return fit_logistic(X, y, weights, start=start).beta[:, 1]


def oe_weighted(y: np.ndarray, p: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Observed / expected events for every weight row: (R,)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return (weights @ y) / (weights @ p)


def calibration_metrics(
    y: Any,
    p: Any,
    *,
    level: float = 0.95,
    ci_method: Literal["analytic", "bootstrap"] = "analytic",
    boot: Bootstrap | None = None,
) -> CalibrationMetrics:
    """Calibration-in-the-large, calibration slope and O:E ratio (mean and weak calibration).

    ``ci_method="analytic"``: Wald intervals for CITL and slope (inverse Fisher information of
    the logistic fit), log-normal interval for O:E. ``"bootstrap"``: percentile intervals over
    the replicates of ``boot``. The slope is NaN when all predictions are equal; CITL and slope
    are NaN when the logistic fit does not converge (complete separation).
    """
    y_arr, p_arr = check_outcome_and_probability(y, p)
    check_level(level)
    lp = clipped_logit(p_arr)
    one = ones_weights(y_arr.size)
    citl_fit = fit_logistic(np.ones((y_arr.size, 1)), y_arr, one, offset=lp)
    citl = float(citl_fit.beta[0, 0])
    oe = float(oe_weighted(y_arr, p_arr, one)[0])
    if np.ptp(lp) == 0:
        slope, slope_se = math.nan, math.nan
    else:
        X = np.column_stack([np.ones_like(lp), lp])
        slope_fit = fit_logistic(X, y_arr, one, start=np.array([0.0, 1.0]))
        slope = float(slope_fit.beta[0, 1])
        slope_se = float(math.sqrt(slope_fit.cov[0, 1, 1]))
    if ci_method == "bootstrap":
        if boot is None:
            raise ValueError("ci_method='bootstrap' needs a Bootstrap (boot=...)")
        w = boot.weights
        citl_est = boot.estimate(citl, citl_weighted(y_arr, p_arr, w))
        slope_est = boot.estimate(slope, slope_weighted(y_arr, p_arr, w))
        oe_est = boot.estimate(oe, oe_weighted(y_arr, p_arr, w))
    elif ci_method == "analytic":
        z = critical_value(level)
        citl_se = float(math.sqrt(citl_fit.cov[0, 0, 0]))
        citl_est = Estimate(citl, citl - z * citl_se, citl + z * citl_se, citl_se, "wald", level)
        slope_est = Estimate(slope, slope - z * slope_se, slope + z * slope_se, slope_se, "wald", level)
        observed = float(y_arr.sum())
        log_se = math.sqrt((1.0 - observed / y_arr.size) / observed)
        oe_est = Estimate(oe, oe * math.exp(-z * log_se), oe * math.exp(z * log_se), log_se, "log-normal", level)
    else:
        raise ValueError("ci_method must be 'analytic' or 'bootstrap'")
    return CalibrationMetrics(
        citl=citl_est,
        slope=slope_est,
        oe_ratio=oe_est,
        n=int(y_arr.size),
        n_events=int(y_arr.sum()),
        n_clipped=n_clipped(p_arr),
    )


def calibration_curve_weighted(
    y: np.ndarray,
    p: np.ndarray,
    weights: np.ndarray,
    *,
    method: Literal["loess", "rcs"] = "loess",
    frac: float = 0.75,
    degree: int = 2,
    knots: int = 4,
    n_bins: int | None = None,
    grid: np.ndarray | None = None,
) -> tuple[np.ndarray | None, dict[str, np.ndarray]]:
    """Calibration curve at ``grid`` (R, G) (None without a grid) and its ICI, E50, E90 and
    Emax (each (R,)) for every weight row.

    For loess, ``n_bins=None`` fits the smoother to the patient-level data and an integer fits
    it to that many quantile-bin aggregates (the fast bootstrap approximation). The spline
    knots are placed on the unweighted predictions, so all replicates share them.
    """
    if method == "loess":
        nodes, counts, events = _aggregate(y, p, weights, n_bins)
        x_eval = _eval_points(nodes)

        def curve_at(x: np.ndarray) -> np.ndarray:
            return loess_fit(nodes, counts, events, x, frac=frac, degree=degree)

    elif method == "rcs":
        if knots not in RCS_KNOT_QUANTILES:
            raise ValueError(f"knots must be one of {sorted(RCS_KNOT_QUANTILES)}")
        knot_values = rcs_knots(clipped_logit(p), knots)
        beta = _rcs_fit(y, p, weights, knot_values)
        x_eval = _eval_points(np.unique(p))

        def curve_at(x: np.ndarray) -> np.ndarray:
            return expit(_rcs_design(x, knot_values) @ beta.T).T

    else:
        raise ValueError("method must be 'loess' or 'rcs'")
    errors = calibration_errors(p, x_eval, curve_at(x_eval), weights)
    return (None if grid is None else curve_at(grid)), errors


def loess_errors_weighted(
    y: np.ndarray,
    p: np.ndarray,
    weights: np.ndarray,
    *,
    frac: float = 0.75,
    degree: int = 2,
    n_bins: int | None = None,
) -> dict[str, np.ndarray]:
    """ICI, E50, E90 and Emax of the loess calibration curve for every weight row: the metric
    core used for subgroups and for bootstrap ICIs (``n_bins`` as in
    :func:`calibration_curve_weighted`)."""
    return calibration_curve_weighted(y, p, weights, frac=frac, degree=degree, n_bins=n_bins)[1]


def calibration_curve(
    y: Any,
    p: Any,
    *,
    method: Literal["loess", "rcs"] = "loess",
    frac: float = 0.75,
    degree: int = 2,
    knots: int = 4,
    grid: Any = None,
    boot: Bootstrap | None = None,
    n_bins: int = 100,
) -> CalibrationCurve:
    """Flexible calibration curve with ICI, E50, E90 and Emax (Austin & Steyerberg 2019).

    ``method="loess"``: local regression of y on p (tricube weights, span ``frac``, local
    polynomial ``degree``; defaults 0.75 and 2 follow R's loess as used by Austin & Steyerberg).
    ``method="rcs"``: logistic regression of y on a restricted cubic spline of logit(p) with
    ``knots`` knots at Harrell's default quantiles. ``grid`` (default: 100 points spanning the
    predictions) is where the curve is reported. With ``boot``: a pointwise percentile band and
    percentile intervals for the error summaries, extended to 0 when perfect calibration is not
    rejected (see the module docstring and :func:`perfect_calibration_errors`); for loess the
    replicates use ``n_bins`` quantile bins (see module docstring).
    """
    y_arr, p_arr = check_outcome_and_probability(y, p)
    grid_arr = np.linspace(p_arr.min(), p_arr.max(), 100) if grid is None else np.asarray(grid, dtype=float)
    options: dict[str, Any] = {"method": method, "frac": frac, "degree": degree, "knots": knots}
    observed, point = calibration_curve_weighted(y_arr, p_arr, ones_weights(y_arr.size), grid=grid_arr, **options)
    if method == "loess":
        settings: dict[str, Any] = {"frac": frac, "degree": degree, "n_bins_bootstrap": n_bins}
    else:
        knot_values = rcs_knots(clipped_logit(p_arr), knots)
        settings = {"knots": knots, "knot_logits": [float(k) for k in knot_values]}
    band_low = band_high = None
    if boot is not None:
        curves, reps = calibration_curve_weighted(y_arr, p_arr, boot.weights, grid=grid_arr, n_bins=n_bins, **options)
        low, high, _ = boot.interval(curves)
        band_low, band_high = tuple(map(float, low)), tuple(map(float, high))
        null = perfect_calibration_errors(p_arr, boot.n_boot, boot.seed, n_bins=n_bins, **options)
        errors = {name: error_estimate(boot, point[name][0], reps[name], null[name]) for name in ERROR_METRICS}
    else:
        errors = {name: Estimate(float(point[name][0])) for name in ERROR_METRICS}
    return CalibrationCurve(
        method=method,
        predicted=tuple(map(float, grid_arr)),
        observed=tuple(map(float, observed[0])),
        observed_ci_low=band_low,
        observed_ci_high=band_high,
        settings=settings,
        n=int(y_arr.size),
        n_events=int(y_arr.sum()),
        **errors,
    )


def perfect_calibration_errors(
    p: np.ndarray, n_rep: int, seed: int | None, *, n_bins: int | None = 100, **options: Any
) -> dict[str, np.ndarray]:
    """ICI, E50, E90 and Emax (each (n_rep,)) of outcomes drawn from the predictions themselves:
    their distribution when the model is perfectly calibrated (a parametric bootstrap), from a
    random stream separate from the bootstrap's (``SeedSequence([seed, 1])``)."""
    rng = np.random.default_rng(None if seed is None else np.random.SeedSequence([seed, 1]))
    y = (rng.random((n_rep, p.size)) < p).astype(float)
    return calibration_curve_weighted(y, p, np.ones_like(y), n_bins=n_bins, **options)[1]


def error_estimate(boot: Bootstrap, value: float, replicates: np.ndarray, null: np.ndarray) -> Estimate:
    """A calibration error with its percentile interval, whose lower limit is 0 when ``value`` does
    not exceed the 1 - alpha/2 quantile of ``null`` (its replicates under perfect calibration)."""
    est = boot.estimate(value, replicates)
    if value <= float(np.quantile(null, 1.0 - (1.0 - boot.level) / 2.0)):
        return dataclasses.replace(est, ci_low=0.0, ci_method=NULL_EXTENDED)
    return est


def calibration_errors(
    p: np.ndarray, x_eval: np.ndarray, curve: np.ndarray, weights: np.ndarray
) -> dict[str, np.ndarray]:
    """ICI, E50, E90, Emax per replicate from a curve (R, G) evaluated at sorted ``x_eval``,
    linearly interpolated to each patient's prediction p and weighted by ``weights`` (R, n)."""
    if x_eval.size == 1:
        fitted = np.repeat(curve[:, :1], p.size, axis=1)
    else:
        idx = np.clip(np.searchsorted(x_eval, p, side="right") - 1, 0, x_eval.size - 2)
        frac = np.clip((p - x_eval[idx]) / (x_eval[idx + 1] - x_eval[idx]), 0.0, 1.0)
        fitted = curve[:, idx] * (1.0 - frac) + curve[:, idx + 1] * frac
    err = np.abs(p - fitted)
    total = weights.sum(axis=1)
    e50, e90 = weighted_quantiles(err, weights, (0.5, 0.9))
    return {
        "ici": np.sum(weights * err, axis=1) / total,
        "e50": e50,
        "e90": e90,
        "emax": np.max(np.where(weights > 0, err, -np.inf), axis=1),
    }


def weighted_quantiles(values: np.ndarray, weights: np.ndarray, qs: tuple[float, ...]) -> list[np.ndarray]:
    """Row-wise quantiles of ``values`` (R, n) repeated ``weights`` (integer counts) times:
    equal to ``np.quantile(np.repeat(values[r], weights[r]), q)`` (linear interpolation)."""
    n_rep = values.shape[0]
    order = np.argsort(values, axis=1)
    v = np.take_along_axis(values, order, axis=1)
    w = np.take_along_axis(weights, order, axis=1)
    totals = w.sum(axis=1)
    flat_cum = np.cumsum(w.ravel())
    row_start = np.r_[0.0, np.cumsum(totals)[:-1]]
    out = []
    for q in qs:
        h = (totals - 1.0) * q
        lo = np.floor(h)
        hi = np.minimum(lo + 1.0, totals - 1.0)
        v_lo = v.ravel()[np.searchsorted(flat_cum, row_start + lo, side="right")]
        v_hi = v.ravel()[np.searchsorted(flat_cum, row_start + hi, side="right")]
        res = v_lo + (h - lo) * (v_hi - v_lo)
        out.append(np.where(totals > 0, res, np.nan).reshape(n_rep))
    return out


def rcs_knots(x: np.ndarray, knots: int) -> np.ndarray:
    """Knots at Harrell's default quantiles of x; fewer distinct values is an error."""
    values = np.quantile(x, RCS_KNOT_QUANTILES[knots])
    if np.unique(values).size < knots:
        raise InsufficientDataError(f"too few distinct predictions for a {knots}-knot restricted cubic spline")
    return values


def _rcs_design(p: np.ndarray, knots: np.ndarray) -> np.ndarray:
    lp = clipped_logit(p)
    return np.column_stack([np.ones_like(lp), rcs_basis(lp, knots)])


def _rcs_fit(y: np.ndarray, p: np.ndarray, weights: np.ndarray, knots: np.ndarray) -> np.ndarray:
    X = _rcs_design(p, knots)
    start = np.zeros(X.shape[1])
    start[1] = 1.0
    return fit_logistic(X, y, weights, start=start).beta


def _aggregate(
    y: np.ndarray, p: np.ndarray, weights: np.ndarray, n_bins: int | None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Nodes (J,) with per-replicate counts and events (R, J): distinct predictions, or the
    means of ``n_bins`` quantile bins when there are more distinct values than that."""
    unique, node_of_row = np.unique(p, return_inverse=True)
    if n_bins is not None and unique.size > n_bins:
        edges = np.quantile(p, np.linspace(0.0, 1.0, n_bins + 1))
        bins = np.clip(np.searchsorted(edges, p, side="right") - 1, 0, n_bins - 1)
        _, node_of_row = np.unique(bins, return_inverse=True)
        unique = np.bincount(node_of_row, weights=p) / np.bincount(node_of_row)
    order = np.argsort(node_of_row, kind="stable")
    starts = np.flatnonzero(np.r_[True, np.diff(node_of_row[order]) != 0])
    counts = np.add.reduceat(weights[:, order], starts, axis=1)
    events = np.add.reduceat((weights * y)[:, order], starts, axis=1)
    return unique, counts, events


def _eval_points(nodes: np.ndarray) -> np.ndarray:
    if nodes.size <= MAX_EVAL_POINTS:
        return nodes
    return np.unique(np.quantile(nodes, np.linspace(0.0, 1.0, MAX_EVAL_POINTS)))
