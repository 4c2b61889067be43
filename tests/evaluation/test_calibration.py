"""Calibration hierarchy: CITL, slope and O:E against statsmodels and closed forms; loess
against statsmodels lowess and a brute-force local quadratic; ICI / E50 / E90 / Emax; the
restricted cubic spline basis against a natural cubic spline; the binned bootstrap ICI."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import statsmodels.api as sm
from scipy.interpolate import CubicSpline
from statsmodels.nonparametric.smoothers_lowess import lowess

from spineoutcome.evaluation import Bootstrap, calibration_curve, calibration_metrics
from spineoutcome.evaluation._loess import loess_fit
from spineoutcome.evaluation.calibration import (
    calibration_errors,
    loess_errors_weighted,
    weighted_quantiles,
)
from spineoutcome.modeling.splines import rcs_basis

from .conftest import simulate


def _logit(p: np.ndarray) -> np.ndarray:
    return np.log(p / (1 - p))


def test_citl_matches_statsmodels_glm_with_offset(data):
    res = calibration_metrics(data.y, data.p)
    glm = sm.GLM(data.y, np.ones((data.y.size, 1)), family=sm.families.Binomial(), offset=_logit(data.p)).fit()
    assert res.citl.value == pytest.approx(glm.params[0], abs=1e-9)
    assert res.citl.se == pytest.approx(glm.bse[0], rel=1e-7)
    assert (res.citl.ci_low, res.citl.ci_high) == pytest.approx(tuple(glm.conf_int()[0]), rel=1e-7)


def test_slope_matches_statsmodels_glm(data):
    res = calibration_metrics(data.y, data.p)
    glm = sm.GLM(data.y, sm.add_constant(_logit(data.p)), family=sm.families.Binomial()).fit()
    assert res.slope.value == pytest.approx(glm.params[1], abs=1e-9)
    assert res.slope.se == pytest.approx(glm.bse[1], rel=1e-7)
    assert (res.slope.ci_low, res.slope.ci_high) == pytest.approx(tuple(glm.conf_int()[1]), rel=1e-7)
    # The simulated predictions have slope 0.8 on the true logit: slope near 1 / 0.8.
    assert res.slope.ci_low < 1.25 < res.slope.ci_high


def test_oe_ratio_and_its_log_normal_interval(data):
    res = calibration_metrics(data.y, data.p)
    observed, expected = data.y.sum(), data.p.sum()
    se = math.sqrt((1 - observed / data.y.size) / observed)
    assert res.oe_ratio.value == pytest.approx(observed / expected, rel=1e-12)
    assert res.oe_ratio.ci_low == pytest.approx(observed / expected * math.exp(-1.959964 * se), rel=1e-6)
    assert res.oe_ratio.ci_high == pytest.approx(observed / expected * math.exp(1.959964 * se), rel=1e-6)


def test_well_calibrated_predictions_have_citl_zero_and_slope_one():
    d = simulate(4000, seed=40)
    res = calibration_metrics(d.y, d.p)
    assert res.citl.ci_low < 0 < res.citl.ci_high
    assert res.slope.ci_low < 1 < res.slope.ci_high
    assert res.oe_ratio.ci_low < 1 < res.oe_ratio.ci_high


def test_bootstrap_calibration_intervals(data):
    boot = Bootstrap.draw(data.y, n_boot=200, seed=5)
    res = calibration_metrics(data.y, data.p, ci_method="bootstrap", boot=boot)
    wald = calibration_metrics(data.y, data.p)
    assert res.slope.value == wald.slope.value
    assert res.slope.se == pytest.approx(wald.slope.se, rel=0.25)
    assert res.citl.ci_method == "bootstrap-percentile"
    json.dumps(res.to_dict(), allow_nan=False)


@pytest.mark.parametrize("frac", [0.3, 0.75])
def test_degree_one_loess_equals_statsmodels_lowess_without_robustness(frac):
    rng = np.random.default_rng(1)
    x = np.round(rng.beta(2, 5, 300), 2)  # ties
    y = (rng.random(300) < x).astype(float)
    ref = lowess(y, x, frac=frac, it=0, delta=0.0, return_sorted=False)
    nodes, inverse = np.unique(x, return_inverse=True)
    counts = np.bincount(inverse).astype(float)[None]
    events = np.bincount(inverse, weights=y)[None]
    fit = loess_fit(nodes, counts, events, x, frac=frac, degree=1)[0]
    assert fit == pytest.approx(ref, abs=1e-12)


def test_degree_two_loess_equals_brute_force_local_quadratic():
    rng = np.random.default_rng(2)
    x = rng.uniform(0, 1, 120)
    y = (rng.random(120) < x**2).astype(float)
    frac, k = 0.5, int(0.5 * 120)
    grid = np.linspace(0.05, 0.95, 7)
    expected = []
    for x0 in grid:
        d = x - x0
        h = np.sort(np.abs(d))[k - 1]
        w = np.clip(1 - (np.abs(d) / h) ** 3, 0, None) ** 3
        design = np.column_stack([np.ones_like(d), d, d**2]) * np.sqrt(w)[:, None]
        expected.append(np.linalg.lstsq(design, y * np.sqrt(w), rcond=None)[0][0])
    fit = loess_fit(x, np.ones((1, 120)), y[None], grid, frac=frac, degree=2)[0]
    assert fit == pytest.approx(np.array(expected), abs=1e-10)


def test_ici_e50_e90_emax_from_the_lowess_curve():
    d = simulate(300, seed=3, intercept=0.4, slope=0.7)
    curve = calibration_curve(d.y, d.p, degree=1, frac=0.75)
    fitted = lowess(d.y, d.p, frac=0.75, it=0, delta=0.0, return_sorted=False)
    err = np.abs(d.p - fitted)
    assert curve.ici.value == pytest.approx(err.mean(), rel=1e-10)
    assert curve.e50.value == pytest.approx(np.median(err), rel=1e-10)
    assert curve.e90.value == pytest.approx(np.quantile(err, 0.9), rel=1e-10)
    assert curve.emax.value == pytest.approx(err.max(), rel=1e-10)


def test_curve_interpolation_above_500_distinct_predictions_is_accurate():
    d = simulate(3000, seed=4, intercept=0.3, slope=0.8)
    one = np.ones((1, d.y.size))
    approx = loess_errors_weighted(d.y, d.p, one)
    nodes, inverse = np.unique(d.p, return_inverse=True)
    full = loess_fit(
        nodes,
        np.bincount(inverse)[None].astype(float),
        np.bincount(inverse, weights=d.y)[None],
        nodes,
        frac=0.75,
        degree=2,
    )
    exact = calibration_errors(d.p, nodes, full, one)
    for name in ("ici", "e50", "e90", "emax"):
        assert approx[name][0] == pytest.approx(exact[name][0], abs=1e-4)


def test_binned_bootstrap_ici_approximates_the_patient_level_ici():
    d = simulate(2000, seed=5, intercept=0.3, slope=0.8)
    one = np.ones((1, d.y.size))
    exact = loess_errors_weighted(d.y, d.p, one)
    binned = loess_errors_weighted(d.y, d.p, one, n_bins=100)
    assert binned["ici"][0] == pytest.approx(exact["ici"][0], abs=1e-3)
    for name in ("e50", "e90", "emax"):
        assert binned[name][0] == pytest.approx(exact[name][0], abs=2e-3)


def test_weighted_quantiles_equal_quantiles_of_repeated_values():
    rng = np.random.default_rng(6)
    values = rng.normal(size=(4, 30))
    weights = rng.integers(0, 4, size=(4, 30)).astype(float)
    got = weighted_quantiles(values, weights, (0.5, 0.9, 0.0, 1.0))
    for r in range(4):
        expanded = np.repeat(values[r], weights[r].astype(int))
        for q, res in zip((0.5, 0.9, 0.0, 1.0), got, strict=True):
            assert res[r] == pytest.approx(np.quantile(expanded, q), rel=1e-12)


def test_rcs_basis_spans_the_natural_cubic_splines_with_the_same_knots():
    knots = np.array([-3.0, -1.5, -0.2, 1.0, 2.5])
    rng = np.random.default_rng(7)
    spline = CubicSpline(knots, rng.normal(size=5), bc_type="natural")
    x = np.linspace(knots[0], knots[-1], 200)
    design = np.column_stack([np.ones_like(x), rcs_basis(x, knots)])
    coef, *_ = np.linalg.lstsq(design, spline(x), rcond=None)
    assert design @ coef == pytest.approx(spline(x), abs=1e-10)
    # Linear beyond the outer knots: second differences vanish.
    left = rcs_basis(np.array([-6.0, -5.0, -4.0]), knots)
    right = rcs_basis(np.array([4.0, 5.0, 6.0]), knots)
    assert left[2] - 2 * left[1] + left[0] == pytest.approx(np.zeros(4), abs=1e-10)
    assert right[2] - 2 * right[1] + right[0] == pytest.approx(np.zeros(4), abs=1e-10)


def test_rcs_calibration_curve_matches_statsmodels_on_the_spline_design():
    d = simulate(500, seed=8, intercept=0.2, slope=0.7)
    curve = calibration_curve(d.y, d.p, method="rcs", knots=4)
    knots = np.array(curve.settings["knot_logits"])
    assert knots == pytest.approx(np.quantile(_logit(d.p), [0.05, 0.35, 0.65, 0.95]))
    design = sm.add_constant(rcs_basis(_logit(d.p), knots))
    glm = sm.GLM(d.y, design, family=sm.families.Binomial()).fit()
    grid = np.array(curve.predicted)
    ref = glm.predict(sm.add_constant(rcs_basis(_logit(grid), knots), has_constant="add"))
    assert np.array(curve.observed) == pytest.approx(ref, abs=1e-8)
    assert curve.ici.value == pytest.approx(np.mean(np.abs(d.p - glm.fittedvalues)), abs=1e-8)


def test_calibration_curve_bootstrap_band_and_error_intervals(data):
    boot = Bootstrap.draw(data.y, n_boot=100, seed=9)
    for method in ("loess", "rcs"):
        curve = calibration_curve(data.y, data.p, method=method, boot=boot)
        low, high = np.array(curve.observed_ci_low), np.array(curve.observed_ci_high)
        observed = np.array(curve.observed)
        assert np.mean((low <= observed) & (observed <= high)) > 0.95
        assert curve.ici.ci_low < curve.ici.value < curve.ici.ci_high
        assert curve.ici.n_boot_valid == 100
        json.dumps(curve.to_dict(), allow_nan=False)
