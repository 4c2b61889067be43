"""Prediction instability: how much a patient's predicted risk depends on the development sample.

Riley & Collins (Biometrical Journal 2023; 65:2200302) ask every development study to show it, from
B models developed the same way on bootstrap samples of the development data and applied to the
original patients (R's pminternal draws the same plots). With p_i the original model's prediction
for patient i and P_bi bootstrap model b's prediction for the same patient (b = 1..B):

- stability interval of patient i: the 2.5th and 97.5th percentiles of P_1i .. P_Bi;
- mean absolute prediction error, MAPE_i = mean_b |P_bi - p_i|; overall MAPE = mean_i MAPE_i;
- classification instability index at threshold t, CII_i(t) = mean_b 1[c(P_bi) != c(p_i)] with
  c(q) = 1[q >= t] (treated when the risk reaches the threshold, as in the package's decision
  curves; pminternal uses q > t, which differs only for a prediction exactly at t): the share of
  bootstrap models that put the patient on the other side of the threshold;
- "could differ by more than d" (d = 5 percentage points by default): the patient's stability
  interval reaches beyond p_i - d or p_i + d, i.e. max(p_i - P_(2.5) i, P_(97.5) i - p_i) > d;
- calibration instability: each bootstrap model's loess calibration curve (y on P_b) in the
  original patients, on a fixed grid of risks;
- decision-curve instability: each bootstrap model's net benefit in the original patients.

Per-patient numbers never leave this module: :class:`PredictionInstability` holds aggregates
only. Patients are grouped by their original risk into bins of width ``step`` merged from the left
until each holds at least ``min_cell`` patients (the small-cell rule of :mod:`spineoutcome.privacy`);
each bin reports its mean original risk, the 2.5th, 50th and 97.5th percentiles of its patients'
bootstrap predictions (pooled), the median offsets of its patients' stability intervals, its mean
MAPE and its mean CII at each threshold. The 2-D histogram of (original, bootstrap) predictions
reports a cell only when at least ``min_cell`` distinct patients contribute to it. Shares of
patients (above a CII, beyond d) describe the model's behaviour in the whole cohort, like the
confusion-matrix tallies of :mod:`spineoutcome.privacy`, and are reported as they are.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from spineoutcome.privacy import min_cell as privacy_min_cell

from ._validation import InsufficientDataError, check_outcome_and_probability
from .bootstrap import ones_weights
from .calibration import calibration_curve_weighted
from .decision_curve import DEFAULT_THRESHOLDS, net_benefit_weighted
from .results import JsonResult

STABILITY_LEVEL = 0.95
DIFFERENCE = 0.05
"""Percentage-point difference (as a proportion) behind "could differ by more than 5 points"."""
CII_CUTS = (0.1, 0.2)
"""Shares of patients whose classification instability index exceeds these values are reported."""
BIN_STEP = 0.01
CALIBRATION_GRID = 50
CURVE_BINS = 100
SAMPLE_CURVES = 40
HISTOGRAM_CELLS = 40
DIGITS = 5


@dataclass(frozen=True)
class ClassificationInstability(JsonResult):
    """The classification instability index at one threshold, summarised over patients."""

    threshold: float
    mean: float
    share_above: dict[str, float]
    """CII cut (as text, e.g. "0.1") -> share of patients whose CII exceeds it."""
    share_treated: float
    """Share of patients the original model puts at or above the threshold."""


@dataclass(frozen=True)
class CurveInstability(JsonResult):
    """The original model's curve, a sample of the bootstrap models' curves and their pointwise
    2.5-97.5 % envelope (over all usable bootstrap models), on ``x``."""

    x: tuple[float, ...]
    original: tuple[float | None, ...]
    sample: tuple[tuple[float | None, ...], ...]
    low: tuple[float | None, ...]
    high: tuple[float | None, ...]


@dataclass(frozen=True)
class PredictionInstability(JsonResult):
    """Riley & Collins' instability measures of one model (module docstring), aggregates only.

    ``bins``: one record per risk bin (``lower``, ``upper``, ``n``, ``mean_risk``, ``boot_q025``,
    ``boot_q50``, ``boot_q975``, ``offset_low``, ``offset_high``, ``mape``, ``cii`` by threshold).
    ``histogram``: ``{"edges", "share"}``, ``share[i][j]`` the share of all (patient, bootstrap
    model) pairs with original risk in x-cell i and bootstrap risk in y-cell j, None where fewer
    than ``min_cell`` patients contribute; pairs beyond the last edge are not counted.
    """

    replicates: int
    replicates_used: int
    level: float
    mape: float
    mape_quantiles: dict[str, float]
    """Quartiles and 90th centile of the per-patient MAPE (keys "q25", "q50", "q75", "q90")."""
    interval_width_median: float
    difference: float
    share_beyond_difference: float
    classification: tuple[ClassificationInstability, ...]
    bins: tuple[dict[str, Any], ...]
    histogram: dict[str, Any]
    calibration: CurveInstability | None
    decision: CurveInstability
    net_benefit_at_thresholds: tuple[dict[str, Any], ...]
    min_cell: int


def usable_replicates(P: Any, n: int) -> np.ndarray:
    """The rows of the (B, n) bootstrap prediction matrix whose predictions are all finite (a
    replicate that could not be fit is a row of NaN)."""
    P = np.asarray(P, dtype=float)
    if P.ndim != 2 or P.shape[1] != n:
        raise ValueError(f"bootstrap predictions must be a (replicates, {n}) matrix, got shape {P.shape}")
    keep = np.isfinite(P).all(axis=1)
    if not keep.any():
        raise InsufficientDataError("no bootstrap replicate has predictions")
    out = P[keep]
    if np.any((out < 0) | (out > 1)):
        raise ValueError(f"bootstrap predictions have {int(np.sum((out < 0) | (out > 1)))} value(s) outside [0, 1]")
    return out


def stability_interval(P: np.ndarray, level: float = STABILITY_LEVEL) -> tuple[np.ndarray, np.ndarray]:
    """Per-patient (alpha/2, 1 - alpha/2) percentiles of the bootstrap predictions (columns of P),
    numpy's default (linear) interpolation."""
    alpha = 1.0 - level
    low, high = np.quantile(P, [alpha / 2, 1 - alpha / 2], axis=0)
    return low, high


def patient_mape(p: np.ndarray, P: np.ndarray) -> np.ndarray:
    """MAPE_i = mean_b |P_bi - p_i| for every patient (Riley & Collins 2023)."""
    return np.mean(np.abs(P - p[None, :]), axis=0)


def classification_instability(p: np.ndarray, P: np.ndarray, threshold: float) -> np.ndarray:
    """CII_i(t): the share of bootstrap models whose classification (risk >= t) of patient i differs
    from the original model's."""
    return np.mean((P >= threshold) != (p >= threshold)[None, :], axis=0)


def prediction_instability(
    y: Any,
    p: Any,
    P: Any,
    *,
    thresholds: Sequence[float] = (),
    replicates: int | None = None,
    level: float = STABILITY_LEVEL,
    difference: float = DIFFERENCE,
    min_cell: int | None = None,
    step: float = BIN_STEP,
    dca_thresholds: Sequence[float] = DEFAULT_THRESHOLDS,
    sample_curves: int = SAMPLE_CURVES,
) -> PredictionInstability:
    """Instability of a model from its predictions p (n) and its bootstrap refits' predictions on the
    same patients P (B x n; failed replicates are rows of NaN), with outcomes y (module docstring).

    ``thresholds``: the decision thresholds (CII, net benefit); ``replicates``: how many were drawn
    (default B); ``min_cell``: the small-cell threshold (default :func:`spineoutcome.privacy.min_cell`);
    the first ``sample_curves`` usable replicates are kept as the sample of curves (deterministic).
    """
    y_arr, p_arr = check_outcome_and_probability(y, p, min_events=0, min_non_events=0)
    boot = usable_replicates(P, p_arr.size)
    k = privacy_min_cell(min_cell)
    if p_arr.size < k:
        raise InsufficientDataError(f"{p_arr.size} patients: fewer than the small-cell threshold {k}")
    low, high = stability_interval(boot, level)
    mape = patient_mape(p_arr, boot)
    beyond = np.maximum(p_arr - low, high - p_arr) > difference
    cii = {float(t): classification_instability(p_arr, boot, float(t)) for t in thresholds}
    edges, bin_of = risk_bins(p_arr, step, k)
    bins = []
    for j in range(edges.size - 1):
        members = bin_of == j
        pooled = boot[:, members]
        q025, q50, q975 = np.quantile(pooled, [0.025, 0.5, 0.975])
        bins.append(
            {
                "lower": _r(edges[j]),
                "upper": _r(edges[j + 1]),
                "n": int(members.sum()),
                "mean_risk": _r(p_arr[members].mean()),
                "boot_q025": _r(q025),
                "boot_q50": _r(q50),
                "boot_q975": _r(q975),
                "offset_low": _r(np.median(low[members] - p_arr[members])),
                "offset_high": _r(np.median(high[members] - p_arr[members])),
                "mape": _r(mape[members].mean()),
                "cii": {f"{t:g}": _r(v[members].mean()) for t, v in cii.items()},
            }
        )
    classification = tuple(
        ClassificationInstability(
            threshold=t,
            mean=_r(v.mean()),
            share_above={f"{c:g}": _r(np.mean(v > c)) for c in CII_CUTS},
            share_treated=_r(np.mean(p_arr >= t)),
        )
        for t, v in cii.items()
    )
    decision, at_thresholds = _decision_instability(y_arr, p_arr, boot, dca_thresholds, thresholds, sample_curves)
    return PredictionInstability(
        replicates=int(np.asarray(P).shape[0] if replicates is None else replicates),
        replicates_used=int(boot.shape[0]),
        level=level,
        mape=_r(mape.mean()),
        mape_quantiles={f"q{round(100 * q)}": _r(np.quantile(mape, q)) for q in (0.25, 0.5, 0.75, 0.9)},
        interval_width_median=_r(np.median(high - low)),
        difference=difference,
        share_beyond_difference=_r(beyond.mean()),
        classification=classification,
        bins=tuple(bins),
        histogram=instability_histogram(p_arr, boot, k),
        calibration=_calibration_instability(y_arr, p_arr, boot, sample_curves, level),
        decision=decision,
        net_benefit_at_thresholds=at_thresholds,
        min_cell=k,
    )


def risk_bins(p: np.ndarray, step: float, min_cell: int) -> tuple[np.ndarray, np.ndarray]:
    """Bins of width ``step`` on [0, 1], merged from the left until every bin holds at least
    ``min_cell`` of the risks ``p`` (a remainder joins the last bin; ``p`` holds at least ``min_cell``).

    Returns the edges and each risk's bin. Membership is decided on the fine-bin index floor(p / step),
    the same index the merging counted, so a risk on an edge (0.29 * 100 = 28.999...) cannot move
    to a neighbouring bin and leave one with fewer than ``min_cell``.
    """
    n_fine = round(1.0 / step)
    fine = np.clip(np.floor(p * n_fine).astype(int), 0, n_fine - 1)
    counts = np.bincount(fine, minlength=n_fine)
    edges, pending = [0], 0
    for i, c in enumerate(counts):
        pending += int(c)
        if pending >= min_cell:
            edges.append(i + 1)
            pending = 0
    edges[-1] = n_fine
    bin_of = np.searchsorted(np.asarray(edges), fine, side="right") - 1
    return np.asarray(edges, dtype=float) / n_fine, bin_of


def instability_histogram(p: np.ndarray, P: np.ndarray, min_cell: int, cells: int = HISTOGRAM_CELLS) -> dict[str, Any]:
    """2-D histogram of (original risk, bootstrap risk) pairs on a square grid from 0 to a round risk
    (a multiple of 5 %) above 1.1 times the 99th centile of the predictions. ``share[i][j]``: the
    share of all pairs in x-cell i and y-cell j; None where 1 to ``min_cell - 1`` distinct patients
    contribute to the cell."""
    top = max(float(np.quantile(P, 0.99)), float(np.quantile(p, 0.99)))
    upper = min(1.0, math.ceil(top * 1.1 / 0.05) * 0.05)
    ix = np.broadcast_to(np.floor(p / upper * cells).astype(np.int64)[None, :], P.shape)
    iy = np.floor(P / upper * cells).astype(np.int64)
    inside = (ix < cells) & (iy < cells)
    cell = (ix * cells + iy)[inside]
    patient = np.broadcast_to(np.arange(p.size, dtype=np.int64)[None, :], P.shape)[inside]
    pairs = np.bincount(cell, minlength=cells * cells) / P.size
    distinct = np.bincount(np.unique(patient * cells * cells + cell) % (cells * cells), minlength=cells * cells)
    shown = [None if 0 < d < min_cell else _r(v) for v, d in zip(pairs, distinct, strict=True)]
    return {
        "edges": [_r(e) for e in np.linspace(0.0, upper, cells + 1)],
        "share": [shown[i * cells : (i + 1) * cells] for i in range(cells)],
    }


def _calibration_instability(
    y: np.ndarray, p: np.ndarray, P: np.ndarray, n_sample: int, level: float
) -> CurveInstability | None:
    """Loess calibration curves of the original and of every bootstrap model in the original
    patients, on 50 risks from the 1st to the 99th centile of the original predictions. Each curve
    is fit to 100 quantile-bin aggregates of its predictions (the fast fit of
    :mod:`.calibration`'s bootstrap, about 20 times faster than the patient-level fit), the
    original curve too, so that it compares like with like."""
    if y.min() == y.max() or np.ptp(p) == 0:
        return None
    lo, hi = np.quantile(p, [0.01, 0.99])
    grid = np.linspace(lo, hi, CALIBRATION_GRID)
    one = ones_weights(p.size)
    original = calibration_curve_weighted(y, p, one, grid=grid, n_bins=CURVE_BINS)[0]
    curves = np.vstack([calibration_curve_weighted(y, row, one, grid=grid, n_bins=CURVE_BINS)[0] for row in P])
    return _curves(grid, original[0], curves, n_sample, level)


def _decision_instability(
    y: np.ndarray,
    p: np.ndarray,
    P: np.ndarray,
    grid: Sequence[float],
    thresholds: Sequence[float],
    n_sample: int,
) -> tuple[CurveInstability, tuple[dict[str, Any], ...]]:
    """Net benefit of the original and of every bootstrap model in the original patients, on
    ``grid``, and at each decision threshold with the bootstrap models' 2.5-97.5 % range."""
    t = np.asarray(grid, dtype=float)
    at = np.asarray(list(thresholds), dtype=float)
    both = np.concatenate([t, at])
    one = ones_weights(p.size)
    original = net_benefit_weighted(y, p, one, both)["nb_model"][0]
    curves = np.vstack([net_benefit_weighted(y, row, one, both)["nb_model"][0] for row in P])
    rows = tuple(
        {
            "threshold": float(th),
            "original": _r(original[t.size + i]),
            "low": _r(np.quantile(curves[:, t.size + i], 0.025)),
            "high": _r(np.quantile(curves[:, t.size + i], 0.975)),
            "share_below_zero": _r(np.mean(curves[:, t.size + i] < 0)),
        }
        for i, th in enumerate(at)
    )
    return _curves(t, original[: t.size], curves[:, : t.size], n_sample, STABILITY_LEVEL), rows


def _curves(x: np.ndarray, original: np.ndarray, curves: np.ndarray, n_sample: int, level: float) -> CurveInstability:
    """The original curve, the first ``n_sample`` bootstrap curves and the pointwise percentile
    envelope of all of them (points where no curve is defined stay undefined)."""
    alpha = 1.0 - level
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        low, high = np.nanquantile(curves, [alpha / 2, 1 - alpha / 2], axis=0)
    return CurveInstability(
        x=tuple(_r(v) for v in x),
        original=tuple(_r(v) for v in original),
        sample=tuple(tuple(_r(v) for v in row) for row in curves[:n_sample]),
        low=tuple(_r(v) for v in low),
        high=tuple(_r(v) for v in high),
    )


def _r(value: Any) -> Any:
    """A finite number rounded to ``DIGITS`` decimals (Evidence size), else None."""
    v = float(value)
    return round(v, DIGITS) if math.isfinite(v) else None
