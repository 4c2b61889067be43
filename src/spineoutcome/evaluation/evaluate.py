"""The full validation of one set of predictions, sharing one set of bootstrap replicates."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from ._validation import check_outcome_and_probability
from .bootstrap import Bootstrap
from .calibration import (
    CalibrationCurve,
    CalibrationMetrics,
    calibration_curve,
    calibration_metrics,
)
from .decision_curve import DEFAULT_THRESHOLDS, DecisionCurve, decision_curve
from .discrimination import AUCResult, ClassificationTable, roc_auc, threshold_metrics
from .overall import OverallPerformance, overall_performance
from .results import JsonResult


@dataclass(frozen=True)
class Evaluation(JsonResult):
    """Discrimination, classification at prespecified thresholds, overall performance, the
    calibration hierarchy and the decision curve of one model on one data set."""

    discrimination: AUCResult
    classification: ClassificationTable
    overall: OverallPerformance
    calibration: CalibrationMetrics
    calibration_curve: CalibrationCurve
    decision_curve: DecisionCurve
    n_boot: int
    seed: int | None
    stratified: bool
    clustered: bool


def evaluate_predictions(
    y: Any,
    p: Any,
    *,
    thresholds: Sequence[float] = (0.1, 0.2, 0.3),
    nb_thresholds: Sequence[float] = DEFAULT_THRESHOLDS,
    n_boot: int = 1000,
    seed: int | None = None,
    clusters: Any = None,
    stratify: bool = False,
    ci_method: Literal["bootstrap", "analytic"] = "bootstrap",
    curve_method: Literal["loess", "rcs"] = "loess",
    n_bins: int = 100,
    level: float = 0.95,
) -> Evaluation:
    """Evaluate predictions p of outcomes y with one Bootstrap shared by every metric.

    ``ci_method="bootstrap"`` (default): percentile intervals for everything except the
    threshold table (Wilson); the DeLong SE of the AUC is reported alongside.
    ``"analytic"``: DeLong (AUC), Wald (CITL, slope) and log-normal (O:E) intervals; the
    Brier-type measures, loess errors and net benefit keep bootstrap intervals.
    ``thresholds`` are the prespecified classification thresholds, ``nb_thresholds`` the
    decision-curve grid. The bootstrap is the ordinary bootstrap of patients; ``clusters``
    switches to a cluster bootstrap, ``stratify=True`` to outcome-stratified resampling (only for
    designs that fixed the event count, e.g. case-control sampling: see :mod:`.bootstrap`).
    """
    y_arr, p_arr = check_outcome_and_probability(y, p)
    boot = Bootstrap.draw(y_arr, n_boot=n_boot, seed=seed, clusters=clusters, stratify=stratify, level=level)
    auc_method: Literal["delong", "bootstrap"] = "bootstrap" if ci_method == "bootstrap" else "delong"
    return Evaluation(
        discrimination=roc_auc(y_arr, p_arr, level=level, ci_method=auc_method, boot=boot),
        classification=threshold_metrics(y_arr, p_arr, thresholds, level=level),
        overall=overall_performance(y_arr, p_arr, boot=boot),
        calibration=calibration_metrics(y_arr, p_arr, level=level, ci_method=ci_method, boot=boot),
        calibration_curve=calibration_curve(y_arr, p_arr, method=curve_method, boot=boot, n_bins=n_bins),
        decision_curve=decision_curve(y_arr, p_arr, thresholds=nb_thresholds, boot=boot),
        n_boot=boot.n_boot,
        seed=seed,
        stratified=boot.stratified,
        clustered=boot.clustered,
    )
