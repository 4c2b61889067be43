"""Sample size for development (Riley et al. 2019/2020) and external validation (Riley et al.
2021): published worked examples, closed forms, and simulation checks of the target SEs."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from scipy import integrate, stats
from scipy.special import expit

from spineoutcome.evaluation import (
    development_adequacy,
    development_sample_size,
    expected_shrinkage,
    r2_cs_from_c_statistic,
    r2_cs_max,
    validation_sample_size,
)
from spineoutcome.evaluation._logistic import fit_logistic


def test_riley_bmj_2020_worked_example():
    # Riley et al., BMJ 2020;368:m441 (and the pmsampsize documentation): Cox-Snell R^2 0.288,
    # 24 candidate parameters, prevalence 0.174 -> 623, 662 and 221 patients, so 662.
    res = development_sample_size(n_parameters=24, prevalence=0.174, r2_cox_snell=0.288)
    assert (res.n_criterion_1, res.n_criterion_2, res.n_criterion_3) == (623, 662, 221)
    assert res.n == 662
    assert res.events == pytest.approx(662 * 0.174)
    assert round(res.epp, 2) == 4.80
    assert res.r2_cox_snell_max == pytest.approx(0.6032, abs=5e-5)


def test_pmsampsize_cases_where_its_rounding_does_not_matter():
    # pmsampsize tests/testthat/test_bin.R, "Test 4.2": R^2 0.55, 24 parameters,
    # prevalence 0.174 -> 255, 532, 221 (EPP 1.85, 3.86, 1.6).
    res = development_sample_size(n_parameters=24, prevalence=0.174, r2_cox_snell=0.55)
    assert (res.n_criterion_1, res.n_criterion_2, res.n_criterion_3) == (255, 532, 221)
    assert round(res.epp, 2) == 3.86
    # "Test 4.4": prevalence 0.25 -> criteria 1 and 3 are 623 and 289 (criterion 2 is 583 in
    # pmsampsize because it rounds max R^2 to 0.69 and S to 3 decimals; unrounded: 590).
    res = development_sample_size(n_parameters=24, prevalence=0.25, r2_cox_snell=0.288)
    assert (res.n_criterion_1, res.n_criterion_3, res.n) == (623, 289, 623)
    max_r2 = r2_cs_max(0.25)
    s2 = 0.288 / (0.288 + 0.05 * max_r2)
    assert res.n_criterion_2 == math.ceil(24 / ((s2 - 1) * math.log(1 - 0.288 / s2)))


def test_r2_inputs_are_interchangeable():
    base = development_sample_size(n_parameters=10, prevalence=0.1, r2_cox_snell=0.1)
    via_nagelkerke = development_sample_size(n_parameters=10, prevalence=0.1, r2_nagelkerke=0.1 / r2_cs_max(0.1))
    assert via_nagelkerke.n == base.n and via_nagelkerke.r2_source == "nagelkerke"
    with pytest.raises(ValueError, match="exactly one"):
        development_sample_size(n_parameters=10, prevalence=0.1, r2_cox_snell=0.1, c_statistic=0.8)


def test_r2_from_c_statistic_quadrature_agrees_with_pmsampsize_style_simulation():
    quad = r2_cs_from_c_statistic(0.8, 0.174)
    sim = r2_cs_from_c_statistic(0.8, 0.174, method="simulation", n_sim=1_000_000, seed=1)
    assert quad == pytest.approx(sim, abs=2e-3)
    assert r2_cs_from_c_statistic(0.9, 0.174) > quad > r2_cs_from_c_statistic(0.7, 0.174)
    res = development_sample_size(n_parameters=24, prevalence=0.174, c_statistic=0.8)
    assert res.r2_source == "c_statistic" and res.r2_cox_snell == pytest.approx(quad)


def test_expected_shrinkage_inverts_criterion_one_and_adequacy_of_a_given_n():
    # Criterion 1 needs 622.3 patients for S = 0.9, so 623 reaches it and 622 does not.
    assert expected_shrinkage(623, n_parameters=24, r2_cox_snell=0.288) >= 0.9
    assert expected_shrinkage(622, n_parameters=24, r2_cox_snell=0.288) < 0.9
    s = expected_shrinkage(1000, n_parameters=24, r2_cox_snell=0.288)
    assert (s - 1) * math.log(1 - 0.288 / s) == pytest.approx(24 / 1000, rel=1e-10)
    enough = development_adequacy(662, n_parameters=24, prevalence=0.174, r2_cox_snell=0.288)
    assert enough.meets_criteria
    assert enough.nagelkerke_optimism <= 0.05 and enough.epp == pytest.approx(662 * 0.174 / 24)
    assert enough.overall_risk_margin == pytest.approx(1.959964 * math.sqrt(0.174 * 0.826 / 662), rel=1e-6)
    short = development_adequacy(400, n_parameters=24, prevalence=0.174, r2_cox_snell=0.288)
    assert not short.meets_criteria and short.expected_shrinkage < 0.9
    json.dumps(short.to_dict(), allow_nan=False)


def test_validation_worked_example_c_statistic_and_oe():
    # Riley et al., Stat Med 2021 (mechanical heart valve failure): prevalence 0.018, C 0.8,
    # LP ~ N(-5, 2.5), O:E CI width 1. pmvalsampsize (tests/testthat/test_bin.R) gives 4252 for
    # the C-statistic (CI width 0.1) and 905 for O:E; 905 comes from its 0.0001 search grid for
    # SE(ln O:E) (0.2456), the exact SE 0.245521 gives 906.
    res = validation_sample_size(prevalence=0.018, c_statistic=0.8, lp_mean=-5, lp_sd=2.5, oe_ci_width=1.0)
    assert res.n_c_statistic == 4252
    se = math.asinh(0.5) / 1.959963984540054
    assert res.se_ln_oe == pytest.approx(se, rel=1e-12)
    assert math.exp(1.959963984540054 * se) - math.exp(-1.959963984540054 * se) == (pytest.approx(1.0))
    assert res.n_oe == 906 == math.ceil(0.982 / (0.018 * se**2))
    assert res.n_net_benefit is None
    assert res.n == max(res.n_oe, res.n_slope, res.n_c_statistic)


def test_validation_slope_criterion_gives_the_target_se_in_simulation():
    res = validation_sample_size(prevalence=0.05, c_statistic=0.8, lp_mean=-3.5, lp_sd=1.5)
    rng = np.random.default_rng(0)
    slopes = []
    for _ in range(250):
        lp = rng.normal(-3.5, 1.5, res.n_slope)
        y = (rng.random(res.n_slope) < expit(lp)).astype(float)
        X = np.column_stack([np.ones_like(lp), lp])
        slopes.append(fit_logistic(X, y, np.ones((1, lp.size))).beta[0, 1])
    assert np.std(slopes, ddof=1) == pytest.approx(res.se_slope, rel=0.15)
    # An empirical LP sample gives the same criterion as the normal it was drawn from.
    sample = np.random.default_rng(1).normal(-3.5, 1.5, 400_000)
    from_sample = validation_sample_size(prevalence=0.05, c_statistic=0.8, lp_sample=sample)
    assert from_sample.n_slope == pytest.approx(res.n_slope, rel=0.02)


def test_validation_oe_and_net_benefit_criteria_give_the_target_se_in_simulation():
    # Prevalence consistent with the LP distribution: E[expit(LP)], LP ~ N(-3, 1.2).
    mean_risk = integrate.quad(lambda x: expit(x) * stats.norm.pdf(x, -3, 1.2), -20, 14)[0]
    res = validation_sample_size(prevalence=mean_risk, c_statistic=0.75, lp_mean=-3, lp_sd=1.2, threshold=0.1)
    rng = np.random.default_rng(2)
    log_oe, snb = [], []
    for _ in range(400):
        lp = rng.normal(-3, 1.2, res.n_net_benefit)
        risk = expit(lp)
        y = rng.random(lp.size) < risk
        treat = risk >= 0.1
        n, prevalence = lp.size, y.mean()
        nb = np.sum(treat & y) / n - np.sum(treat & ~y) / n * (0.1 / 0.9)
        snb.append(nb / prevalence)
        observed = rng.binomial(res.n_oe, mean_risk)
        log_oe.append(math.log(observed / (res.n_oe * mean_risk)))
    assert np.std(snb, ddof=1) == pytest.approx(res.se_standardized_nb, rel=0.15)
    assert np.std(log_oe, ddof=1) == pytest.approx(res.se_ln_oe, rel=0.15)
    assert 0 < res.specificity < 1 and 0 < res.sensitivity < 1
    json.dumps(res.to_dict(), allow_nan=False)
