"""The bootstrap engine: sampling design, reproducibility, percentile intervals, and the
weighted metric cores against the same metrics computed on explicitly resampled data."""

from __future__ import annotations

import math

import numpy as np
import pytest
import statsmodels.api as sm
from sklearn.metrics import brier_score_loss, roc_auc_score

from spineoutcome.evaluation import Bootstrap, overall_performance, percentile_interval
from spineoutcome.evaluation.calibration import (
    citl_weighted,
    oe_weighted,
    slope_weighted,
)
from spineoutcome.evaluation.discrimination import auc_weighted
from spineoutcome.evaluation.overall import overall_weighted

from .conftest import simulate


def test_stratified_replicates_keep_the_number_of_events_and_non_events(data):
    boot = Bootstrap.draw(data.y, n_boot=50, seed=1, stratify=True)
    w = boot.weights
    assert w.shape == (50, data.y.size)
    assert np.all(w @ data.y == data.y.sum())
    assert np.all(w @ (1 - data.y) == (1 - data.y).sum())
    assert np.all(w == np.round(w)) and np.all(w >= 0)


def test_unstratified_replicates_keep_n_but_not_the_event_count(data):
    boot = Bootstrap.draw(data.y, n_boot=50, seed=1)
    w = boot.weights
    assert not boot.stratified and not boot.clustered
    assert np.all(w.sum(axis=1) == data.y.size)
    assert np.unique(w @ data.y).size > 1


def test_seeded_draws_are_reproducible_and_seeds_matter(data):
    a = Bootstrap.draw(data.y, n_boot=20, seed=7).weights
    b = Bootstrap.draw(data.y, n_boot=20, seed=7).weights
    c = Bootstrap.draw(data.y, n_boot=20, seed=8).weights
    assert np.array_equal(a, b)
    assert not np.array_equal(a, c)


def test_multiplicities_have_multinomial_moments():
    # Each of n patients drawn n times with probability 1/n: mean 1, variance 1 - 1/n.
    y = np.zeros(200, dtype=int)
    w = Bootstrap.draw(y, n_boot=2000, seed=3).weights
    assert w.mean() == pytest.approx(1.0, abs=1e-12)
    assert w.var() == pytest.approx(1 - 1 / 200, rel=0.02)


def test_cluster_bootstrap_draws_whole_clusters():
    rng = np.random.default_rng(5)
    clusters = rng.integers(0, 8, 120)
    y = (rng.random(120) < 0.3).astype(int)
    boot = Bootstrap.draw(y, n_boot=30, seed=2, clusters=clusters)
    assert boot.clustered and not boot.stratified
    for c in range(8):
        cols = boot.weights[:, clusters == c]
        assert np.all(cols == cols[:, :1])
    # 8 clusters drawn per replicate: the cluster multiplicities add up to 8.
    first_rows = np.array([boot.weights[:, np.flatnonzero(clusters == c)[0]] for c in range(8)])
    assert np.all(first_rows.sum(axis=0) == 8)


def test_percentile_interval_matches_numpy_quantiles_and_skips_nan():
    rng = np.random.default_rng(9)
    reps = rng.normal(size=(400, 3))
    reps[:40, 1] = np.nan
    low, high, n_valid = percentile_interval(reps, 0.9)
    assert n_valid.tolist() == [400, 360, 400]
    assert low[0] == pytest.approx(np.quantile(reps[:, 0], 0.05))
    assert high[1] == pytest.approx(np.quantile(reps[40:, 1], 0.95))
    low, high, n_valid = percentile_interval(np.full(5, np.nan), 0.95)
    assert math.isnan(low) and math.isnan(high) and n_valid == 0


def test_weighted_cores_equal_metrics_on_explicitly_resampled_data():
    d = simulate(300, seed=4, intercept=-0.2, slope=1.2)
    boot = Bootstrap.draw(d.y, n_boot=3, seed=10)
    auc = auc_weighted(d.y, d.p, boot.weights)
    overall = overall_weighted(d.y, d.p, boot.weights)
    citl = citl_weighted(d.y, d.p, boot.weights)
    slope = slope_weighted(d.y, d.p, boot.weights)
    oe = oe_weighted(d.y, d.p, boot.weights)
    for r in range(3):
        idx = np.repeat(np.arange(d.y.size), boot.weights[r].astype(int))
        yr, pr = d.y[idx], d.p[idx]
        lp = np.log(pr / (1 - pr))
        assert auc[r] == pytest.approx(roc_auc_score(yr, pr), rel=1e-12)
        assert overall["brier"][r] == pytest.approx(brier_score_loss(yr, pr), rel=1e-12)
        glm_citl = sm.GLM(yr, np.ones((idx.size, 1)), family=sm.families.Binomial(), offset=lp).fit()
        assert citl[r] == pytest.approx(glm_citl.params[0], abs=1e-8)
        glm_slope = sm.GLM(yr, sm.add_constant(lp), family=sm.families.Binomial()).fit()
        assert slope[r] == pytest.approx(glm_slope.params[1], abs=1e-8)
        assert oe[r] == pytest.approx(yr.sum() / pr.sum(), rel=1e-12)


def test_bootstrap_se_of_the_brier_score_matches_its_closed_form():
    # The Brier score is a mean of squared errors: SE = sd((p - y)^2) / sqrt(n).
    d = simulate(600, seed=12)
    boot = Bootstrap.draw(d.y, n_boot=2000, seed=1, stratify=False)
    res = overall_performance(d.y, d.p, boot=boot)
    closed = np.std((d.p - d.y) ** 2, ddof=1) / np.sqrt(d.y.size)
    assert res.brier.se == pytest.approx(closed, rel=0.08)
    assert res.brier.ci_low < res.brier.value < res.brier.ci_high
    assert res.brier.ci_method == "bootstrap-percentile" and res.brier.n_boot_valid == 2000
