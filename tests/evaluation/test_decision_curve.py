"""Decision curve analysis: hand-computed net benefit, a published net-benefit table, and the
bootstrap intervals."""

from __future__ import annotations

import json

import numpy as np
import pytest

from spineoutcome.evaluation import DEFAULT_THRESHOLDS, Bootstrap, decision_curve

from .conftest import simulate


def test_net_benefit_of_a_hand_computed_two_by_two_table():
    # 10 patients, 4 events. At pt = 0.25 the model treats 5: 3 events (TP) and 2 non-events
    # (FP). NB = 3/10 - 2/10 * (0.25 / 0.75) = 0.2333...; treat all: 0.4 - 0.6 / 3 = 0.2;
    # interventions avoided per 100 = (0.2333 - 0.2) / (1/3) * 100 = 10.
    y = np.array([1, 1, 1, 0, 0, 1, 0, 0, 0, 0])
    p = np.array([0.9, 0.6, 0.3, 0.5, 0.25, 0.1, 0.2, 0.1, 0.05, 0.15])
    dc = decision_curve(y, p, thresholds=[0.25])
    assert dc.nb_model[0] == pytest.approx(0.3 - 0.2 / 3)
    assert dc.nb_all[0] == pytest.approx(0.2)
    assert dc.nb_none[0] == 0.0
    assert dc.interventions_avoided[0] == pytest.approx(10.0)
    assert dc.snb_model[0] == pytest.approx((0.3 - 0.2 / 3) / 0.4)
    assert dc.snb_all[0] == pytest.approx(0.5)


def test_published_net_benefit_table():
    # PMC6993280, Table 4 (net benefit of diagnosing hepatocellular carcinoma in cirrhotic
    # patients with AFP < 400 ug/L): treat-all NB at each threshold (prevalence 0.30), model NB
    # 0.206 at 20% and 0.135 at 50%, and unnecessary interventions avoided per 100 patients,
    # (NB model - NB all) / (pt / (1 - pt)) * 100, of 32 and 54.
    thresholds = [0.03, 0.05, 0.08, 0.10, 0.20, 0.30, 0.40, 0.50, 0.60, 0.70, 0.80, 0.90, 0.96]
    published_all = [0.278, 0.263, 0.239, 0.222, 0.125, 0.000, -0.167, -0.400, -0.750, -1.333, -2.500, -6.000, -16.50]
    # 1,000 patients, 300 events, built so that at pt = 0.2 TP = 250, FP = 176
    # (NB = 0.25 - 0.176 / 4 = 0.206) and at pt = 0.5 TP = 200, FP = 65 (NB = 0.135).
    y = np.r_[np.ones(300), np.zeros(700)].astype(int)
    p = np.r_[
        np.full(200, 0.6), np.full(50, 0.3), np.full(50, 0.1), np.full(65, 0.6), np.full(111, 0.3), np.full(524, 0.1)
    ]
    dc = decision_curve(y, p, thresholds=thresholds)
    assert np.round(dc.nb_all, 3) == pytest.approx(published_all, abs=1e-12)
    at = {t: i for i, t in enumerate(thresholds)}
    assert dc.nb_model[at[0.20]] == pytest.approx(0.206)
    assert dc.nb_model[at[0.50]] == pytest.approx(0.135)
    # (0.206 - 0.125) / 0.25 * 100 = 32.4 and (0.135 + 0.400) / 1 * 100 = 53.5, which the table
    # reports rounded as 32 and 54.
    assert dc.interventions_avoided[at[0.20]] == pytest.approx(32.4)
    assert dc.interventions_avoided[at[0.50]] == pytest.approx(53.5)
    assert abs(dc.interventions_avoided[at[0.20]] - 32) <= 0.5
    assert abs(dc.interventions_avoided[at[0.50]] - 54) <= 0.5 + 1e-9


def test_default_grid_matches_a_per_threshold_loop(data):
    dc = decision_curve(data.y, data.p)
    assert len(dc.thresholds) == 99 and dc.thresholds[0] == 0.01 and dc.thresholds[-1] == 0.99
    assert dc.thresholds == DEFAULT_THRESHOLDS
    n = data.y.size
    for j, t in enumerate(dc.thresholds):
        treated = data.p >= t
        tp = np.sum(treated & (data.y == 1))
        fp = np.sum(treated & (data.y == 0))
        assert dc.nb_model[j] == pytest.approx(tp / n - fp / n * t / (1 - t), abs=1e-12)


def test_bootstrap_intervals_and_replicates_equal_resampled_data():
    d = simulate(300, seed=17)
    boot = Bootstrap.draw(d.y, n_boot=150, seed=2)
    dc = decision_curve(d.y, d.p, thresholds=[0.1, 0.2, 0.4], boot=boot)
    low, high = (np.array(v) for v in dc.ci["nb_model"])
    assert np.all(low <= np.array(dc.nb_model)) and np.all(np.array(dc.nb_model) <= high)
    assert set(dc.ci) == {"nb_model", "snb_model", "nb_difference_all", "interventions_avoided"}
    frame = dc.to_frame()
    assert {"nb_model_ci_low", "interventions_avoided_ci_high"} <= set(frame.columns)
    # Replicate 0 equals the decision curve of the explicitly resampled data.
    idx = np.repeat(np.arange(d.y.size), boot.weights[0].astype(int))
    one = Bootstrap(weights=boot.weights[:1].repeat(10, axis=0))
    rep = decision_curve(d.y[idx], d.p[idx], thresholds=[0.1, 0.2, 0.4])
    via_weights = decision_curve(d.y, d.p, thresholds=[0.1, 0.2, 0.4], boot=one)
    assert via_weights.ci["nb_model"][0] == pytest.approx(rep.nb_model, abs=1e-12)
    json.dumps(dc.to_dict(), allow_nan=False)


def test_invalid_thresholds():
    with pytest.raises(ValueError, match="inside \\(0, 1\\)"):
        decision_curve([0, 1], [0.2, 0.8], thresholds=[0.0, 0.5])
