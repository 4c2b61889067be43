"""Honest performance estimates for one model family under the pipeline's validation schemes.

Everything that learns (preprocessing, imputation, selection, tuning) is inside the estimator, and
the estimator is cloned and refit on each development set, so nothing is ever fit on the rows it
is tested on.

- Cross-validation: out-of-fold predictions for every patient in each repeat.
- Bootstrap optimism correction (Harrell, Regression Modeling Strategies 2nd ed., 5.3.5; Steyerberg,
  Clinical Prediction Models 2nd ed., 17.3): optimism = mean over replicates of
  perf(model_b, bootstrap sample b) - perf(model_b, original sample); corrected = apparent - optimism.
  For learners that memorise their training rows (tree ensembles), and for any family whose fits
  select among many candidate features, this understates optimism, so they get Efron & Tibshirani's
  .632+ estimator from the same replicates' out-of-bag rows (:func:`optimism_method`).
  Performance on the bootstrap sample is computed as the performance on the original rows weighted
  by how often each row was drawn, which is the same number without copying data.
- Internal-external cross-validation by centre and temporal validation: predictions for the held-out
  centre / period from a model developed on the rest.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, clone

from spineoutcome.evaluation.calibration import (
    citl_weighted,
    loess_errors_weighted,
    slope_weighted,
)
from spineoutcome.evaluation.discrimination import auc_weighted
from spineoutcome.evaluation.overall import overall_weighted
from spineoutcome.evaluation.results import JsonResult
from spineoutcome.modeling.resampling import Split

OPTIMISM_METRICS = ("auc", "calibration_slope", "calibration_intercept", "brier", "ici")
MIN_CELL = 5
"""Smallest count a histogram cell may disclose (statistical disclosure control: no cell of 1-4)."""
HISTOGRAM_STEP = 0.01


def point_metrics(y: np.ndarray, p: np.ndarray, weights: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """AUC, calibration slope and intercept (CITL), Brier score and ICI for each row of ``weights``.

    ``weights`` is (R, n) (e.g. bootstrap multiplicities); ``None`` means one row of ones. ICI uses
    the loess curve on 100 quantile bins, as in the evaluation library's bootstrap.
    """
    y = np.asarray(y, dtype=float)
    p = np.asarray(p, dtype=float)
    w = np.ones((1, y.size)) if weights is None else np.atleast_2d(np.asarray(weights, dtype=float))
    return {
        "auc": auc_weighted(y, p, w),
        "calibration_slope": slope_weighted(y, p, w),
        "calibration_intercept": citl_weighted(y, p, w),
        "brier": overall_weighted(y, p, w)["brier"],
        "ici": loess_errors_weighted(y, p, w, n_bins=100)["ici"],
    }


@dataclass(frozen=True)
class OptimismCorrection(JsonResult):
    """Apparent, bootstrap-optimism, out-of-bag and corrected value of each metric.

    ``method`` says how ``corrected`` was formed: ``harrell`` (apparent - optimism) for regression
    models, ``632plus`` for learners that can memorise their training rows (see
    :func:`optimism_correction`). Both sets of numbers are kept so either can be reported.
    """

    apparent: dict[str, float]
    optimism: dict[str, float]
    out_of_bag: dict[str, float]
    harrell: dict[str, float]
    corrected: dict[str, float]
    method: str
    replicates: int
    replicates_failed: int
    mode: str


def predict_positive(estimator: BaseEstimator, X: pd.DataFrame) -> np.ndarray:
    """Predicted probability of the outcome (class 1)."""
    return np.asarray(estimator.predict_proba(X))[:, 1]


def out_of_fold(
    estimator: BaseEstimator, X: pd.DataFrame, y: np.ndarray, splits: Sequence[Split]
) -> tuple[np.ndarray, list[BaseEstimator]]:
    """Out-of-fold predictions of fresh clones of ``estimator``, one fit per split, in this process
    (:func:`assemble_out_of_fold`); the engine runs the same fits through its executor."""
    fitted = [clone(estimator).fit(X.iloc[s.train], y[s.train]) for s in splits]
    predictions = [predict_positive(model, X.iloc[s.test]) for model, s in zip(fitted, splits, strict=True)]
    return assemble_out_of_fold(splits, predictions, len(y)), fitted


def assemble_out_of_fold(splits: Sequence[Split], predictions: Sequence[np.ndarray], n: int) -> np.ndarray:
    """Out-of-fold predictions: one row per repeat (folds of a repeat partition the patients).

    ``predictions[i]`` holds the predictions for ``splits[i].test`` of the model developed on
    ``splits[i].train``. Rows not covered by any split of a repeat stay NaN (internal-external folds
    skip small centres).
    """
    labels = [s.label.split(" fold ")[0] if s.scheme == "cv" else s.scheme for s in splits]
    repeats = list(dict.fromkeys(labels))
    oof = np.full((len(repeats), n), np.nan)
    for split, label, p in zip(splits, labels, predictions, strict=True):
        oof[repeats.index(label), split.test] = p
    return oof


def replicate_metrics(y: np.ndarray, p: np.ndarray, train: np.ndarray) -> tuple[dict[str, float], dict[str, float]]:
    """One optimism-bootstrap replicate's model scored on all patients ``p``: its optimism (performance on
    its bootstrap sample ``train``, weighted by how often each row was drawn, minus performance on the
    original sample) and its performance on the rows it did not see (out of bag)."""
    counts = np.bincount(train, minlength=len(y)).astype(float)
    m = point_metrics(y, p, np.vstack([counts, np.ones(len(y)), (counts == 0).astype(float)]))
    return {k: float(v[0] - v[1]) for k, v in m.items()}, {k: float(v[2]) for k, v in m.items()}


def optimism_method(registered: str, selects_features: bool) -> str:
    """The optimism correction of a family: its registry's method (``harrell`` for regression models,
    ``632plus`` for learners that memorise their rows), and ``632plus`` whenever its fits select among many
    candidate features (in-fold radiomics selection).

    Selection among many candidates is overfitting that the models of the bootstrap samples repeat less
    strongly than the final model does on the development data, so Harrell's optimism comes out too small;
    .632+ was made for rules that overfit (Efron & Tibshirani, JASA 1997;92:548-60). Measured by
    ``benchmarks/bench_honesty.py`` on repeated development cohorts (benchmarks/RESULTS.md): for the elastic
    net with radiomics selected in every fit, Harrell's corrected AUC was 0.031 above the truth and .632+'s
    0.013; without selection the two agreed.
    """
    return "632plus" if selects_features else registered


def optimism_correction(
    y: np.ndarray,
    p_apparent: np.ndarray,
    replicates: Sequence[tuple[dict[str, float], dict[str, float]] | None],
    *,
    mode: str,
    method: str = "harrell",
) -> OptimismCorrection:
    """Bootstrap-corrected performance from the replicates' :func:`replicate_metrics` (None: a replicate
    whose bootstrap sample could not be fit, counted in ``replicates_failed``).

    Each replicate's model was scored on its bootstrap sample, on the original sample and on the
    rows it did not see (out of bag). ``harrell``: corrected = apparent - mean(bootstrap - original)
    (Harrell, RMS 5.3.5), valid for regression models. ``632plus``: Efron & Tibshirani's .632+
    estimator (JASA 1997;92:548-60), for learners that memorise rows, where scoring on the original
    sample (63 % of which the model was trained on) understates optimism: with error e = 1 - AUC
    (or the Brier score), no-information error g (0.5 for AUC; for Brier the mean over all pairs of
    (y_i - p_j)^2), R = (e_oob - e_app) / (g - e_app) clipped to [0, 1], w = .632 / (1 - .368 R),
    e = (1 - w) e_app + w e_oob. Calibration slope, intercept and ICI take their out-of-bag means.
    """
    if method not in ("harrell", "632plus"):
        raise ValueError(f"method must be 'harrell' or '632plus', got {method!r}")
    apparent = {k: float(v[0]) for k, v in point_metrics(y, p_apparent).items()}
    scored = [r for r in replicates if r is not None]
    optimism = _mean_rows([r[0] for r in scored])
    out_of_bag = _mean_rows([r[1] for r in scored])
    harrell = {k: apparent[k] - optimism[k] for k in OPTIMISM_METRICS}
    corrected = harrell if method == "harrell" else _632plus(apparent, out_of_bag, y, p_apparent)
    failed = len(replicates) - len(scored)
    return OptimismCorrection(apparent, optimism, out_of_bag, harrell, corrected, method, len(replicates), failed, mode)


def _mean_rows(rows: list[dict[str, float]]) -> dict[str, float]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return {k: float(np.nanmean([r[k] for r in rows])) if rows else float("nan") for k in OPTIMISM_METRICS}


def _632plus(apparent: dict[str, float], oob: dict[str, float], y: np.ndarray, p: np.ndarray) -> dict[str, float]:
    """Efron & Tibshirani's .632+ estimate of AUC and Brier; out-of-bag values for the rest."""
    y, p = np.asarray(y, dtype=float), np.asarray(p, dtype=float)
    no_information = {"auc": 0.5, "brier": float(y.mean() - 2 * y.mean() * p.mean() + np.mean(p**2))}

    def combine(e_app: float, e_oob: float, gamma: float) -> float:
        e_oob = min(e_oob, gamma) if np.isfinite(e_oob) else e_oob
        r = (e_oob - e_app) / (gamma - e_app) if e_oob > e_app and gamma > e_app else 0.0
        w = 0.632 / (1 - 0.368 * float(np.clip(r, 0.0, 1.0)))
        return (1 - w) * e_app + w * e_oob

    corrected = dict(oob)
    corrected["auc"] = 1 - combine(1 - apparent["auc"], 1 - oob["auc"], 1 - no_information["auc"])
    corrected["brier"] = combine(apparent["brier"], oob["brier"], no_information["brier"])
    return corrected


def prediction_distribution(
    y: np.ndarray, p: np.ndarray, *, step: float = HISTOGRAM_STEP, min_cell: int = MIN_CELL
) -> dict[str, Any]:
    """Histogram of predicted risks by outcome, for the spike histogram under a calibration curve.

    Bins of width ``step`` on [0, 1] are merged from the left until every cell (the events and the
    non-events of a bin) holds at least ``min_cell`` patients, so that no small count is disclosed;
    a remainder joins the last bin. With too few events for two bins, one bin is left, whose counts
    are the totals the Evidence reports anyway. The 1st, 50th and 99th centiles let the report trim
    its risk axis. Returns ``{"edges", "events", "non_events", "q01", "q50", "q99"}``.
    """
    y = np.asarray(y, dtype=int)
    p = np.asarray(p, dtype=float)
    n_bins = round(1.0 / step)
    fine = np.clip(np.floor(p * n_bins).astype(int), 0, n_bins - 1)
    events = np.bincount(fine[y == 1], minlength=n_bins)
    non_events = np.bincount(fine[y == 0], minlength=n_bins)
    edges, counts = _merge_small_bins(events, non_events, min_cell)
    q01, q50, q99 = np.quantile(p, [0.01, 0.5, 0.99])
    return {
        "edges": [round(e / n_bins, 6) for e in edges],
        "events": [e for e, _ in counts],
        "non_events": [ne for _, ne in counts],
        "q01": round(float(q01), 4),
        "q50": round(float(q50), 4),
        "q99": round(float(q99), 4),
    }


def _merge_small_bins(
    events: np.ndarray, non_events: np.ndarray, min_cell: int
) -> tuple[list[int], list[tuple[int, int]]]:
    """Greedy left-to-right merge of fine bins; edges are fine-bin indices (0 .. len(events))."""
    edges, counts = [0], []
    pending = np.zeros(2, dtype=int)
    for i, cell in enumerate(zip(events, non_events, strict=True)):
        pending += cell
        if pending.min() >= min_cell:
            edges.append(i + 1)
            counts.append((int(pending[0]), int(pending[1])))
            pending[:] = 0
    if not counts:
        return [0, len(events)], [(int(pending[0]), int(pending[1]))]
    counts[-1] = (counts[-1][0] + int(pending[0]), counts[-1][1] + int(pending[1]))
    edges[-1] = len(events)
    return edges, counts
