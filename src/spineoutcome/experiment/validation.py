"""Honest performance estimates for one model family under the pipeline's validation schemes.

Everything that learns (preprocessing, imputation, selection, tuning) is inside the estimator, and
the estimator is cloned and refit on each development set, so nothing is ever fit on the rows it
is tested on.

- Cross-validation: out-of-fold predictions for every patient in each repeat.
- Bootstrap optimism correction (Harrell, Regression Modeling Strategies 2nd ed., 5.3.5; Steyerberg,
  Clinical Prediction Models 2nd ed., 17.3): optimism = mean over replicates of
  perf(model_b, bootstrap sample b) - perf(model_b, original sample); corrected = apparent - optimism.
  Performance on the bootstrap sample is computed as the performance on the original rows weighted
  by how often each row was drawn, which is the same number without copying data.
- Internal-external cross-validation by centre and temporal validation: predictions for the held-out
  centre / period from a model developed on the rest.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, clone

from spineoutcome.evaluation.calibration import citl_weighted, loess_errors_weighted, slope_weighted
from spineoutcome.evaluation.discrimination import auc_weighted
from spineoutcome.evaluation.overall import overall_weighted
from spineoutcome.evaluation.results import JsonResult
from spineoutcome.modeling.resampling import Split

OPTIMISM_METRICS = ("auc", "calibration_slope", "calibration_intercept", "brier", "ici")
Progress = Callable[[str], None]


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
    """Apparent, optimism and optimism-corrected value of each metric (Harrell's bootstrap)."""

    apparent: dict[str, float]
    optimism: dict[str, float]
    corrected: dict[str, float]
    replicates: int
    replicates_failed: int
    mode: str


def predict_positive(estimator: BaseEstimator, X: pd.DataFrame) -> np.ndarray:
    """Predicted probability of the outcome (class 1)."""
    return np.asarray(estimator.predict_proba(X))[:, 1]


def out_of_fold(estimator: BaseEstimator, X: pd.DataFrame, y: np.ndarray, splits: Sequence[Split],
                progress: Progress | None = None) -> tuple[np.ndarray, list[BaseEstimator]]:
    """Out-of-fold predictions: one row per repeat (folds of a repeat partition the patients).

    Rows not covered by any split of a repeat stay NaN (internal-external folds skip small centres).
    """
    labels = [s.label.split(" fold ")[0] if s.scheme == "cv" else s.scheme for s in splits]
    repeats = list(dict.fromkeys(labels))
    oof = np.full((len(repeats), len(y)), np.nan)
    fitted = []
    for split, label in zip(splits, labels, strict=True):
        model = clone(estimator).fit(X.iloc[split.train], y[split.train])
        oof[repeats.index(label), split.test] = predict_positive(model, X.iloc[split.test])
        fitted.append(model)
        if progress:
            progress(f"{split.scheme} {split.label}")
    return oof, fitted


def bootstrap_optimism(
    make_estimator: Callable[[], BaseEstimator],
    X: pd.DataFrame,
    y: np.ndarray,
    p_apparent: np.ndarray,
    samples: Sequence[Split],
    *,
    mode: str,
    progress: Progress | None = None,
) -> OptimismCorrection:
    """Harrell's optimism-corrected performance; ``make_estimator`` gives a fresh unfitted estimator.

    A replicate whose bootstrap sample cannot be fit (e.g. too few events for an inner fold) is
    counted in ``replicates_failed`` and left out of the mean.
    """
    apparent = {k: float(v[0]) for k, v in point_metrics(y, p_apparent).items()}
    optimism_rows: list[dict[str, float]] = []
    failed = 0
    for sample in samples:
        try:
            model = make_estimator().fit(X.iloc[sample.train], y[sample.train])
        except ValueError:
            failed += 1
            continue
        p = predict_positive(model, X)
        weights = np.vstack([np.bincount(sample.train, minlength=len(y)), np.ones(len(y))])
        m = point_metrics(y, p, weights)
        optimism_rows.append({k: float(v[0] - v[1]) for k, v in m.items()})
        if progress:
            progress(f"bootstrap {sample.label}")
    optimism = {k: float(np.nanmean([r[k] for r in optimism_rows])) if optimism_rows else float("nan")
                for k in OPTIMISM_METRICS}
    corrected = {k: apparent[k] - optimism[k] for k in OPTIMISM_METRICS}
    return OptimismCorrection(apparent, optimism, corrected, len(samples), failed, mode)
