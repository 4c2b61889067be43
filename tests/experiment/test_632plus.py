"""The .632+ combination (Efron & Tibshirani, JASA 1997) on hand-worked numbers."""

from __future__ import annotations

import numpy as np
import pytest

from spineoutcome.experiment.validation import _632plus


def test_auc_632plus_hand_worked():
    # e_app = 0.1, e_oob = 0.3, gamma = 0.5: R = 0.2 / 0.4 = 0.5, w = 0.632 / (1 - 0.368 * 0.5) = 0.774510,
    # e = (1 - w) 0.1 + w 0.3 = 0.254902, AUC = 0.745098
    apparent = {"auc": 0.9, "brier": 0.1, "calibration_slope": 1.0, "calibration_intercept": 0.0, "ici": 0.0}
    oob = {"auc": 0.7, "brier": 0.15, "calibration_slope": 0.8, "calibration_intercept": 0.1, "ici": 0.03}
    y = np.array([0, 1, 0, 1])
    p = np.array([0.2, 0.6, 0.3, 0.7])
    out = _632plus(apparent, oob, y, p)
    assert out["auc"] == pytest.approx(0.745098, abs=1e-6)
    # Brier no-information rate: mean over all (i, j) of (y_i - p_j)^2 = 0.5 - 2 * 0.5 * 0.45 + 0.245 = 0.295
    gamma = np.mean([(yi - pj) ** 2 for yi in y for pj in p])
    r = (0.15 - 0.1) / (gamma - 0.1)
    w = 0.632 / (1 - 0.368 * r)
    assert out["brier"] == pytest.approx((1 - w) * 0.1 + w * 0.15)
    assert out["calibration_slope"] == 0.8 and out["ici"] == 0.03


def test_pure_overfit_falls_back_to_no_information():
    apparent = {"auc": 0.99, "brier": 0.01, "calibration_slope": 3.0, "calibration_intercept": 0.0, "ici": 0.05}
    oob = {"auc": 0.48, "brier": 0.3, "calibration_slope": 0.1, "calibration_intercept": 0.0, "ici": 0.1}
    out = _632plus(apparent, oob, np.array([0, 1]), np.array([0.4, 0.6]))
    assert out["auc"] == pytest.approx(0.5)
