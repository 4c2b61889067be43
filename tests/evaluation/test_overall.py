"""Brier, scaled Brier, log-loss, Cox-Snell and Nagelkerke R-squared."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import statsmodels.api as sm
from sklearn.metrics import brier_score_loss, log_loss

from spineoutcome.evaluation import Bootstrap, overall_performance

from .conftest import simulate


def test_brier_and_log_loss_match_sklearn(data):
    res = overall_performance(data.y, data.p)
    assert res.brier.value == pytest.approx(brier_score_loss(data.y, data.p), rel=1e-12)
    assert res.log_loss.value == pytest.approx(log_loss(data.y, data.p), rel=1e-12)
    prevalence = data.y.mean()
    expected_scaled = 1 - res.brier.value / (prevalence * (1 - prevalence))
    assert res.scaled_brier.value == pytest.approx(expected_scaled, rel=1e-12)


def test_r_squared_of_fitted_logistic_predictions_match_statsmodels_likelihoods():
    d = simulate(500, seed=14)
    X = sm.add_constant(np.column_stack([d.lp, d.lp**2]))
    fit = sm.GLM(d.y, X, family=sm.families.Binomial()).fit()
    res = overall_performance(d.y, fit.fittedvalues)
    n = d.y.size
    lr = 2 * (fit.llf - fit.llnull)
    r2_cs = 1 - math.exp(-lr / n)
    r2_max = 1 - math.exp(2 * fit.llnull / n)
    assert res.r2_cox_snell.value == pytest.approx(r2_cs, rel=1e-8)
    assert res.r2_nagelkerke.value == pytest.approx(r2_cs / r2_max, rel=1e-8)


def test_r_squared_is_negative_for_predictions_worse_than_the_null_model():
    d = simulate(400, seed=15)
    res = overall_performance(d.y, 1 - d.p)  # reversed risks
    assert res.r2_cox_snell.value < 0 and res.r2_nagelkerke.value < 0
    assert res.scaled_brier.value < 0


def test_bootstrap_intervals_only_with_a_bootstrap(data):
    plain = overall_performance(data.y, data.p)
    assert plain.brier.ci_low is None
    boot = Bootstrap.draw(data.y, n_boot=200, seed=3)
    res = overall_performance(data.y, data.p, boot=boot)
    for est in (res.brier, res.scaled_brier, res.log_loss, res.r2_cox_snell, res.r2_nagelkerke):
        assert est.ci_low < est.value < est.ci_high
    json.dumps(res.to_dict(), allow_nan=False)
