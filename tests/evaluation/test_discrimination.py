"""AUC, DeLong variance and test, bootstrap AUC, threshold metrics with Wilson intervals."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats
from sklearn.metrics import confusion_matrix, roc_auc_score
from statsmodels.stats.proportion import proportion_confint

from spineoutcome.evaluation import (
    Bootstrap,
    auc_weighted,
    delong_covariance,
    delong_test,
    roc_auc,
    threshold_metrics,
    wilson_interval,
)

from .conftest import simulate

# Hanley & McNeil (Radiology 1982; 143:29-36), Table I: CT ratings 1 (definitely normal) to
# 5 (definitely abnormal) of 58 normal and 51 abnormal patients; also Stata's hanley.dta.
HM_NORMAL = [33, 6, 6, 11, 2]
HM_ABNORMAL = [3, 2, 2, 11, 33]


def _hanley_mcneil() -> tuple[np.ndarray, np.ndarray]:
    ratings = np.arange(1, 6)
    score = np.r_[np.repeat(ratings, HM_NORMAL), np.repeat(ratings, HM_ABNORMAL)]
    y = np.r_[np.zeros(58, dtype=int), np.ones(51, dtype=int)]
    return y, score / 5.0


def _placements(y: np.ndarray, s: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """DeLong's placement values by explicit pair comparison (the O(n1 n0) definition)."""
    x, z = s[y == 1], s[y == 0]
    psi = (x[:, None] > z[None, :]) + 0.5 * (x[:, None] == z[None, :])
    return psi.mean(axis=1), psi.mean(axis=0)


def test_auc_matches_sklearn_and_mann_whitney_with_ties():
    rng = np.random.default_rng(2)
    y = (rng.random(250) < 0.3).astype(int)
    p = np.round(rng.beta(2, 4, 250) + 0.15 * y, 2).clip(0, 1)
    auc = roc_auc(y, p).auc.value
    assert auc == pytest.approx(roc_auc_score(y, p), rel=1e-12)
    u = stats.mannwhitneyu(p[y == 1], p[y == 0]).statistic
    assert auc == pytest.approx(u / (y.sum() * (1 - y).sum()), rel=1e-12)


@settings(max_examples=40, deadline=None)
@given(
    st.lists(
        st.tuples(st.integers(0, 1), st.integers(0, 6), st.integers(0, 3)),
        min_size=4,
        max_size=40,
    )
)
def test_weighted_auc_equals_sklearn_on_the_repeated_rows(rows):
    y, score, weight = (np.array(col) for col in zip(*rows, strict=True))
    expanded_y, expanded_p = np.repeat(y, weight), np.repeat(score / 6.0, weight)
    got = auc_weighted(y, score / 6.0, weight[None].astype(float))[0]
    if len(set(expanded_y.tolist())) < 2:
        assert math.isnan(got)
    else:
        assert got == pytest.approx(roc_auc_score(expanded_y, expanded_p), rel=1e-12)


def test_delong_variance_of_a_tiny_case_by_hand():
    # Events X = {0.9, 0.4}, non-events Y = {0.5, 0.3, 0.4}.
    # V10: 0.9 beats all three -> 1; 0.4 beats 0.3, ties 0.4, loses to 0.5 -> 1.5 / 3 = 0.5.
    # V01: 0.5 -> (1 + 0) / 2 = 0.5; 0.3 -> 1; 0.4 -> (1 + 0.5) / 2 = 0.75.
    # AUC = 0.75; S10 = var(1, 0.5) = 0.125; S01 = var(0.5, 1, 0.75) = 0.0625;
    # Var = 0.125 / 2 + 0.0625 / 3 = 1 / 12.
    y = np.array([1, 1, 0, 0, 0])
    p = np.array([0.9, 0.4, 0.5, 0.3, 0.4])
    res = roc_auc(y, p)
    assert res.auc.value == pytest.approx(0.75)
    assert res.se_delong == pytest.approx(math.sqrt(1 / 12), rel=1e-12)


def test_midrank_delong_equals_placement_definition_for_two_correlated_scores():
    d = simulate(180, seed=21)
    rng = np.random.default_rng(3)
    s2 = np.round(d.p + rng.normal(0, 0.1, d.p.size), 2)  # correlated, with ties
    aucs, cov = delong_covariance(d.y, np.vstack([d.p, s2]))
    v10 = np.empty((2, d.y.sum()))
    v01 = np.empty((2, (1 - d.y).sum()))
    for k, s in enumerate((d.p, s2)):
        v10[k], v01[k] = _placements(d.y, s)
    expected = np.cov(v10) / d.y.sum() + np.cov(v01) / (1 - d.y).sum()
    assert aucs == pytest.approx(v10.mean(axis=1), rel=1e-12)
    assert cov == pytest.approx(expected, rel=1e-10)


def test_hanley_mcneil_data_reproduces_published_auc_and_stata_delong_se():
    y, score = _hanley_mcneil()
    res = roc_auc(y, score)
    # Hanley & McNeil 1982: area 0.893.
    assert round(res.auc.value, 3) == 0.893
    # Stata [R] roctab, example with hanley.dta (DeLong SE by default):
    # ROC area 0.8932, Std. err. 0.0307, asymptotic normal 95% CI 0.83295 to 0.95339.
    assert res.auc.value == pytest.approx(0.8932, abs=5e-5)
    assert res.se_delong == pytest.approx(0.0307, abs=5e-5)
    assert res.auc.ci_low == pytest.approx(0.83295, abs=1e-5)
    assert res.auc.ci_high == pytest.approx(0.95339, abs=1e-5)


def test_logit_interval_is_the_delta_method_back_transform():
    y, score = _hanley_mcneil()
    res = roc_auc(y, score, ci_transform="logit")
    a, se = res.auc.value, res.se_delong
    centre, half = math.log(a / (1 - a)), 1.959963984540054 * se / (a * (1 - a))
    assert res.auc.ci_low == pytest.approx(1 / (1 + math.exp(-(centre - half))), rel=1e-9)
    assert res.auc.ci_high == pytest.approx(1 / (1 + math.exp(-(centre + half))), rel=1e-9)
    assert res.auc.ci_high < 1.0


def test_bootstrap_auc_interval_is_close_to_delong():
    d = simulate(500, seed=8)
    boot = Bootstrap.draw(d.y, n_boot=400, seed=1)
    res = roc_auc(d.y, d.p, ci_method="bootstrap", boot=boot)
    delong = roc_auc(d.y, d.p)
    assert res.auc.ci_method == "bootstrap-percentile"
    assert res.auc.se == pytest.approx(delong.se_delong, rel=0.15)
    assert res.auc.ci_low == pytest.approx(delong.auc.ci_low, abs=0.02)
    assert res.auc.ci_high == pytest.approx(delong.auc.ci_high, abs=0.02)
    with pytest.raises(ValueError, match="needs a Bootstrap"):
        roc_auc(d.y, d.p, ci_method="bootstrap")


def test_paired_delong_test_against_placement_covariance():
    d = simulate(220, seed=31)
    rng = np.random.default_rng(4)
    p_b = 1 / (1 + np.exp(-(d.lp * 0.5 + rng.normal(0, 0.8, d.lp.size))))
    res = delong_test(d.y, d.p, p_b)
    v10 = np.array([_placements(d.y, s)[0] for s in (d.p, p_b)])
    v01 = np.array([_placements(d.y, s)[1] for s in (d.p, p_b)])
    cov = np.cov(v10) / d.y.sum() + np.cov(v01) / (1 - d.y).sum()
    diff = v10[0].mean() - v10[1].mean()
    se = math.sqrt(cov[0, 0] + cov[1, 1] - 2 * cov[0, 1])
    assert res.difference.value == pytest.approx(diff, rel=1e-12)
    assert res.z == pytest.approx(diff / se, rel=1e-10)
    assert res.p_value == pytest.approx(2 * stats.norm.sf(abs(diff / se)), rel=1e-9)
    assert res.correlation == pytest.approx(cov[0, 1] / math.sqrt(cov[0, 0] * cov[1, 1]))
    assert res.difference.ci_low == pytest.approx(diff - 1.959963984540054 * se, rel=1e-9)
    swapped = delong_test(d.y, p_b, d.p)
    assert swapped.z == pytest.approx(-res.z) and swapped.p_value == pytest.approx(res.p_value)
    same = delong_test(d.y, d.p, d.p)
    assert same.z == 0.0 and same.p_value == 1.0
    json.dumps(res.to_dict(), allow_nan=False)


@pytest.mark.parametrize("successes,total", [(0, 10), (3, 10), (10, 10), (47, 312), (1, 1)])
def test_wilson_interval_matches_statsmodels(successes, total):
    low, high = wilson_interval(successes, total, 0.95)
    ref = proportion_confint(successes, total, alpha=0.05, method="wilson")
    assert (low, high) == pytest.approx(ref, abs=1e-12)


def test_threshold_metrics_match_confusion_matrix_and_wilson():
    d = simulate(300, seed=6)
    table = threshold_metrics(d.y, d.p, [0.1, 0.3, 0.999])
    for row in table.rows:
        tn, fp, fn, tp = confusion_matrix(d.y, (d.p >= row.threshold).astype(int), labels=[0, 1]).ravel()
        assert (row.tp, row.fp, row.tn, row.fn) == (tp, fp, tn, fn)
        if tp + fn:
            assert row.sensitivity.value == pytest.approx(tp / (tp + fn))
            ref = proportion_confint(tp, tp + fn, method="wilson")
            assert (row.sensitivity.ci_low, row.sensitivity.ci_high) == pytest.approx(ref)
        assert row.specificity.value == pytest.approx(tn / (tn + fp))
    top = table.rows[-1]
    assert top.tp + top.fp == 0 and math.isnan(top.ppv.value)  # no predicted positives
    frame = table.to_frame()
    assert len(frame) == 12 and set(frame.metric) == {"sensitivity", "specificity", "ppv", "npv"}
    json.dumps(table.to_dict(), allow_nan=False)
