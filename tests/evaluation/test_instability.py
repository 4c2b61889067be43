"""Prediction instability (Riley & Collins 2023): closed-form cases, a hand-computed matrix, and the
disclosure rules of the aggregates.

Closed form: an intercept-only model predicts the event rate for everyone, so each bootstrap model
predicts its bootstrap sample's event rate: with E ~ Binomial(n, phi) events in a bootstrap sample
(phi the observed rate), P_b = E / n for every patient. Then
- MAPE = E|E/n - phi|, which tends to sqrt(2/pi) * sqrt(phi (1 - phi) / n) (mean absolute deviation
  of a normal distribution), and whose exact value is the binomial sum computed below;
- CII(t) for t above phi = P(E/n >= t) = 1 - F(ceil(t n) - 1) (binomial tail), for every patient;
- the stability interval is the binomial's 2.5 and 97.5 % quantiles divided by n.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from scipy import stats

from spineoutcome.evaluation import Bootstrap
from spineoutcome.evaluation.instability import (
    classification_instability,
    patient_mape,
    prediction_instability,
    risk_bins,
    stability_interval,
    usable_replicates,
)

from .conftest import simulate


def intercept_only(n: int, events: int, replicates: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Outcomes, the intercept-only model's predictions and its bootstrap refits' predictions."""
    y = np.r_[np.ones(events), np.zeros(n - events)].astype(int)
    weights = Bootstrap.draw(y, n_boot=replicates, seed=seed).weights
    rates = weights @ y / n
    return y, np.full(n, y.mean()), np.repeat(rates[:, None], n, axis=1)


def test_intercept_only_mape_matches_the_binomial_mean_absolute_deviation():
    n, events = 400, 80
    phi = events / n
    y, p, P = intercept_only(n, events, replicates=4000, seed=3)
    k = np.arange(n + 1)
    exact = float(np.sum(stats.binom.pmf(k, n, phi) * np.abs(k / n - phi)))
    normal = math.sqrt(2 / math.pi) * math.sqrt(phi * (1 - phi) / n)
    assert exact == pytest.approx(normal, rel=0.03)
    result = prediction_instability(y, p, P, thresholds=[0.25])
    # Monte Carlo SE of the mean over 4,000 replicates: sd(|E/n - phi|) / sqrt(4000) ~ 1.2 % of the mean.
    assert result.mape == pytest.approx(exact, rel=0.04)
    assert np.allclose(patient_mape(p, P), result.mape, atol=1e-5)


def test_intercept_only_classification_instability_is_the_binomial_tail():
    n, events, t = 400, 80, 0.23
    y, p, P = intercept_only(n, events, replicates=4000, seed=5)
    tail = 1 - stats.binom.cdf(math.ceil(t * n) - 1, n, events / n)
    cii = classification_instability(p, P, t)
    assert np.allclose(cii, cii[0])
    assert cii[0] == pytest.approx(tail, abs=3 * math.sqrt(tail * (1 - tail) / 4000))
    result = prediction_instability(y, p, P, thresholds=[t])
    assert result.classification[0].mean == pytest.approx(float(cii[0]), abs=1e-5)
    assert result.classification[0].share_treated == 0.0


def test_intercept_only_stability_interval_is_the_binomial_quantile_range():
    n, events = 300, 60
    y, p, P = intercept_only(n, events, replicates=4000, seed=7)
    low, high = stability_interval(P)
    q_low, q_high = stats.binom.ppf([0.025, 0.975], n, events / n) / n
    assert low[0] == pytest.approx(q_low, abs=1.5 / n)
    assert high[0] == pytest.approx(q_high, abs=1.5 / n)
    # Every patient's interval is the same, so either everyone or no one could differ by > d.
    for d in (0.03, 0.06):
        expected = float(max(p[0] - low[0], high[0] - p[0]) > d)
        assert prediction_instability(y, p, P, difference=d).share_beyond_difference == expected


def test_hand_computed_matrix():
    # Three patients, four bootstrap replicates; the third failed (NaN row).
    p = np.array([0.10, 0.30, 0.50, 0.05, 0.20])
    P = np.array(
        [
            [0.12, 0.25, 0.55, 0.05, 0.20],
            [0.08, 0.35, 0.40, 0.06, 0.30],
            [np.nan] * 5,
            [0.10, 0.33, 0.52, 0.04, 0.12],
        ]
    )
    y = np.array([0, 1, 1, 0, 0])
    used = usable_replicates(P, 5)
    assert used.shape == (3, 5)
    # |P - p|: patient 1: .02 .02 0 -> .013333; patient 2: .05 .05 .03 -> .043333;
    # patient 3: .05 .10 .02 -> .056667; patient 4: 0 .01 .01 -> .006667; patient 5: 0 .1 .08 -> .06
    expected_mape = np.array([0.04 / 3, 0.13 / 3, 0.17 / 3, 0.02 / 3, 0.18 / 3])
    assert np.allclose(patient_mape(p, used), expected_mape)
    # t = 0.3: original classes (p >= .3): 0 1 1 0 0; bootstrap: [0 0 1 0 0], [0 1 1 0 1], [0 1 1 0 0]
    # -> patient 2 differs once, patient 5 once: CII = 0, 1/3, 0, 0, 1/3.
    assert np.allclose(classification_instability(p, used, 0.3), [0, 1 / 3, 0, 0, 1 / 3])
    result = prediction_instability(y, p, P, thresholds=[0.3], min_cell=1, dca_thresholds=[0.1, 0.3])
    assert result.replicates == 4 and result.replicates_used == 3
    assert result.mape == pytest.approx(expected_mape.mean(), abs=1e-5)
    assert result.classification[0].mean == pytest.approx(2 / 15, abs=1e-5)
    assert result.classification[0].share_above == {"0.1": pytest.approx(0.4), "0.2": pytest.approx(0.4)}
    assert result.classification[0].share_treated == pytest.approx(0.4)
    # Net benefit at t = 0.3 (treat if risk >= 0.3; odds 3/7), in the 5 original patients:
    # original: treats 2 and 3, both events: NB = 2/5. Replicate 2 also treats patient 5 (no event):
    # 2/5 - 1/5 * 3/7; replicates 1 and 3 treat patient 3 only / patients 2 and 3: 1/5, 2/5.
    nb = np.array([1 / 5, 2 / 5 - 3 / 35, 2 / 5])
    row = result.net_benefit_at_thresholds[0]
    assert row["original"] == pytest.approx(0.4, abs=1e-5)
    assert row["low"] == pytest.approx(np.quantile(nb, 0.025), abs=1e-5)
    assert row["high"] == pytest.approx(np.quantile(nb, 0.975), abs=1e-5)
    assert result.decision.original[1] == pytest.approx(0.4, abs=1e-5)
    assert len(result.decision.sample) == 3


def test_the_stability_interval_uses_the_linear_percentile():
    # 2.5 % of 41 ordered values 0..40 (linear interpolation): position 0.025 * 40 = 1 -> value 1.
    P = np.arange(41, dtype=float)[:, None] / 100
    low, high = stability_interval(P)
    assert low[0] == pytest.approx(0.01) and high[0] == pytest.approx(0.39)


def test_risk_bins_hold_at_least_min_cell_patients():
    rng = np.random.default_rng(0)
    p = rng.beta(0.7, 9, 300)
    edges, bin_of = risk_bins(p, 0.01, 7)
    counts = np.bincount(bin_of)
    assert edges[0] == 0.0 and edges[-1] == 1.0 and counts.size == edges.size - 1
    assert counts.min() >= 7 and counts.sum() == 300
    # Each risk lies in its bin (edges are multiples of 0.01; a risk may sit on its lower edge).
    assert np.all(p >= edges[bin_of] - 1e-12) and np.all(p <= edges[bin_of + 1] + 1e-12)


def test_a_risk_on_an_edge_stays_in_the_bin_that_counted_it():
    # 0.29 * 100 = 28.999... in floating point: the merge counts 0.29 in the fine bin [0.28, 0.29).
    # Assigning it by comparison with the edge 0.29 instead would leave 3 patients in the first bin.
    p = np.array([0.28] * 3 + [0.29] * 2 + [0.5] * 5)
    edges, bin_of = risk_bins(p, 0.01, 5)
    assert np.bincount(bin_of).tolist() == [5, 5]
    assert edges.tolist() == [0.0, 0.29, 1.0]


def test_aggregates_only_no_patient_level_arrays_and_small_cells_suppressed():
    data = simulate(600, seed=2)
    rng = np.random.default_rng(4)
    noise = rng.normal(0, 0.3, (60, 1)) + rng.normal(0, 0.3, (60, 1)) * data.lp[None, :]
    P = 1 / (1 + np.exp(-(data.lp[None, :] + noise)))
    result = prediction_instability(data.y, data.p, P, thresholds=[0.1, 0.3], min_cell=5)
    record = result.to_dict()
    json.dumps(record, allow_nan=False)

    def longest(value: object) -> int:
        if isinstance(value, dict):
            return max([0, *(longest(v) for v in value.values())])
        if isinstance(value, list):
            return max([len(value), *(longest(v) for v in value)])
        return 0

    assert longest(record) < 600  # nothing with one entry per patient
    assert all(b["n"] >= 5 for b in record["bins"])
    assert sum(b["n"] for b in record["bins"]) == 600
    # Recount the histogram's distinct patients per cell independently: a cell with 1-4 patients is None.
    edges = np.asarray(record["histogram"]["edges"])
    cells = edges.size - 1
    upper = edges[-1]
    ix = np.minimum((data.p / upper * cells).astype(int), cells)
    shares = record["histogram"]["share"]
    checked = 0
    for i in range(cells):
        for j in range(cells):
            in_cell = (ix == i)[None, :] & ((P / upper * cells).astype(int) == j)
            patients = int(in_cell.any(axis=0).sum())
            if 0 < patients < 5:
                assert shares[i][j] is None
                checked += 1
            elif patients >= 5:
                assert shares[i][j] == pytest.approx(in_cell.sum() / P.size, abs=1e-5)
    assert checked > 0


def test_identical_bootstrap_models_are_perfectly_stable():
    data = simulate(500, seed=8)
    P = np.repeat(data.p[None, :], 20, axis=0)
    result = prediction_instability(data.y, data.p, P, thresholds=[0.2])
    assert result.mape == 0.0 and result.share_beyond_difference == 0.0
    assert result.classification[0].mean == 0.0
    assert result.calibration is not None
    assert result.calibration.low == result.calibration.original == result.calibration.high
    assert result.decision.low == result.decision.original


def test_bad_input_is_refused():
    with pytest.raises(ValueError, match="matrix"):
        usable_replicates(np.zeros((3, 4)), 5)
    with pytest.raises(ValueError, match="no bootstrap replicate"):
        usable_replicates(np.full((3, 5), np.nan), 5)
    with pytest.raises(ValueError, match="outside"):
        usable_replicates(np.full((3, 5), 1.5), 5)
