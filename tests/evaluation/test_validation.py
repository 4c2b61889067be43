"""Degenerate inputs: clear errors with counts, never row-level values; documented results."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest

from spineoutcome.evaluation import (
    PROBABILITY_CLIP,
    InsufficientDataError,
    calibration_curve,
    calibration_metrics,
    decision_curve,
    overall_performance,
    roc_auc,
)

SENTINEL = 0.123456789


def _message(exc: pytest.ExceptionInfo[BaseException]) -> str:
    return str(exc.value)


def test_nan_is_rejected_with_a_count_and_without_values():
    y = np.array([0, 1, 0, 1, 1])
    p = np.array([SENTINEL, np.nan, 0.2, np.nan, 0.9])
    with pytest.raises(ValueError) as exc:
        roc_auc(y, p)
    assert "2 missing" in _message(exc)
    assert "0.123" not in _message(exc)


def test_out_of_range_probabilities_and_non_binary_outcomes_are_counted_not_echoed():
    with pytest.raises(ValueError) as exc:
        roc_auc([0, 1, 1], [1.5, SENTINEL, 0.4])
    assert "1 value(s) outside [0, 1]" in _message(exc)
    assert "1.5" not in _message(exc)
    with pytest.raises(ValueError) as exc:
        roc_auc([0, 7, 1, 2], [0.1, 0.2, 0.3, 0.4])
    assert "2 value(s) other than 0 and 1" in _message(exc)
    assert "7" not in _message(exc)


def test_pandas_nullable_columns_are_accepted_and_missing_values_counted():
    y = pd.Series([0, 1, 1, 0, 1, 0], dtype="Int64")
    p = pd.Series([0.1, 0.8, 0.35, 0.2, 0.6, 0.4])
    assert roc_auc(y, p).auc.value == pytest.approx(8 / 9)
    with pytest.raises(ValueError, match="1 missing"):
        roc_auc(pd.Series([0, 1, pd.NA, 0], dtype="Int64"), [0.1, 0.2, 0.3, 0.4])


def test_mismatched_lengths():
    with pytest.raises(ValueError, match="different lengths"):
        overall_performance([0, 1, 1], [0.2, 0.3])


def test_one_class_only_is_an_insufficient_data_error_for_class_based_metrics():
    y = np.ones(20, dtype=int)
    p = np.linspace(0.1, 0.9, 20)
    for fn in (roc_auc, overall_performance, calibration_metrics, calibration_curve):
        with pytest.raises(InsufficientDataError, match="0 non-event"):
            fn(y, p)


def test_decision_curve_is_defined_with_one_class():
    # Net benefit needs no second class: with no events NB_model = -FP/n * odds.
    y = np.zeros(10, dtype=int)
    p = np.r_[np.full(4, 0.6), np.full(6, 0.05)]
    dc = decision_curve(y, p, thresholds=[0.5])
    assert dc.nb_model[0] == pytest.approx(-0.4)
    assert math.isnan(dc.snb_model[0])


def test_probabilities_of_exactly_zero_and_one_are_clipped_for_logits_only():
    rng = np.random.default_rng(3)
    p = rng.uniform(0.05, 0.95, 200)
    y = (rng.random(200) < p).astype(int)
    p[:3] = 0.0
    p[3:6] = 1.0
    cal = calibration_metrics(y, p)
    assert cal.n_clipped == 6
    assert math.isfinite(cal.citl.value) and math.isfinite(cal.slope.value)
    overall = overall_performance(y, p)
    assert overall.n_clipped == 6
    q = np.clip(p, PROBABILITY_CLIP, 1 - PROBABILITY_CLIP)
    expected = -np.mean(y * np.log(q) + (1 - y) * np.log(1 - q))
    assert overall.log_loss.value == pytest.approx(expected, rel=1e-12)
    # Brier uses the unclipped probabilities.
    assert overall.brier.value == pytest.approx(np.mean((p - y) ** 2), rel=1e-12)


def test_constant_predictions_give_documented_results():
    y = np.r_[np.ones(30), np.zeros(70)].astype(int)
    p = np.full(100, 0.25)
    auc = roc_auc(y, p)
    assert auc.auc.value == 0.5 and auc.se_delong == 0.0
    cal = calibration_metrics(y, p)
    assert math.isnan(cal.slope.value)  # undefined: logit(p) has no spread
    # CITL: logit(0.30) - logit(0.25)
    assert cal.citl.value == pytest.approx(math.log(0.3 / 0.7) - math.log(0.25 / 0.75), abs=1e-8)
    curve = calibration_curve(y, p)
    assert curve.ici.value == pytest.approx(0.05, abs=1e-12)  # |0.25 - 0.30|
    json.dumps(cal.to_dict(), allow_nan=False)
