"""Random-effects meta-analysis (BCG vaccine data, metafor) and per-centre heterogeneity."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from scipy import stats
from scipy.special import expit, logit

from spineoutcome.evaluation import (
    calibration_metrics,
    centre_heterogeneity,
    random_effects_meta,
    roc_auc,
)

# metafor's dat.bcg (Colditz et al., JAMA 1994): tpos, tneg, cpos, cneg of 13 BCG trials.
BCG = np.array(
    [
        [4, 119, 11, 128],
        [6, 300, 29, 274],
        [3, 228, 11, 209],
        [62, 13536, 248, 12619],
        [33, 5036, 47, 5761],
        [180, 1361, 372, 1079],
        [8, 2537, 10, 619],
        [505, 87886, 499, 87892],
        [29, 7470, 45, 7232],
        [17, 1699, 65, 1600],
        [186, 50448, 141, 27197],
        [5, 2493, 3, 2338],
        [27, 16886, 29, 17825],
    ],
    dtype=float,
)


def _log_risk_ratios() -> tuple[np.ndarray, np.ndarray]:
    """metafor::escalc(measure = "RR"): yi = log risk ratio, vi = 1/a - 1/n1 + 1/c - 1/n2."""
    a, b, c, d = BCG.T
    yi = np.log((a / (a + b)) / (c / (c + d)))
    vi = 1 / a - 1 / (a + b) + 1 / c - 1 / (c + d)
    return yi, vi


def test_reml_reproduces_metafor_on_the_bcg_data():
    # metafor::rma(yi, vi, data = dat) output: tau^2 = 0.3132, I^2 = 92.22%,
    # Q(df = 12) = 152.2330, estimate -0.7145, se 0.1798, ci -1.0669 to -0.3622.
    yi, vi = _log_risk_ratios()
    res = random_effects_meta(yi, vi, method="REML")
    assert res.tau2 == pytest.approx(0.3132, abs=5e-5)
    assert res.i2 == pytest.approx(0.9222, abs=5e-5)
    assert res.q == pytest.approx(152.2330, abs=5e-5)
    assert res.q_df == 12
    assert res.estimate.value == pytest.approx(-0.7145, abs=5e-5)
    assert res.estimate.se == pytest.approx(0.1798, abs=5e-5)
    assert res.estimate.ci_low == pytest.approx(-1.0669, abs=5e-5)
    assert res.estimate.ci_high == pytest.approx(-0.3622, abs=5e-5)


def test_reml_solves_the_restricted_likelihood_estimating_equation():
    # Fixed point of REML (Viechtbauer 2005): tau^2 = sum w^2 ((y - mu)^2 - v) / sum w^2
    # + 1 / sum w, with w = 1 / (v + tau^2).
    yi, vi = _log_risk_ratios()
    tau2 = random_effects_meta(yi, vi, method="REML").tau2
    w = 1 / (vi + tau2)
    mu = np.sum(w * yi) / w.sum()
    fixed_point = np.sum(w**2 * ((yi - mu) ** 2 - vi)) / np.sum(w**2) + 1 / w.sum()
    assert tau2 == pytest.approx(fixed_point, rel=1e-6)


def test_dersimonian_laird_by_hand_and_metafor_value():
    yi, vi = _log_risk_ratios()
    res = random_effects_meta(yi, vi, method="DL")
    w = 1 / vi
    mu_fe = np.sum(w * yi) / w.sum()
    q = np.sum(w * (yi - mu_fe) ** 2)
    tau2 = (q - 12) / (w.sum() - np.sum(w**2) / w.sum())
    assert res.tau2 == pytest.approx(tau2, rel=1e-12)
    assert res.tau2 == pytest.approx(0.3088, abs=5e-5)  # metafor, method = "DL"
    assert res.i2 == pytest.approx((q - 12) / q, rel=1e-10)  # I^2 = (Q - df) / Q under DL
    w_re = 1 / (vi + tau2)
    mu = np.sum(w_re * yi) / w_re.sum()
    se = 1 / math.sqrt(w_re.sum())
    assert res.estimate.value == pytest.approx(mu, rel=1e-12)
    # Riley, Higgins & Deeks (BMJ 2011): mu +/- t(k - 2) sqrt(tau^2 + se^2).
    half = stats.t.ppf(0.975, 11) * math.sqrt(tau2 + se**2)
    assert res.prediction_interval == pytest.approx((mu - half, mu + half), rel=1e-10)
    json.dumps(res.to_dict(), allow_nan=False)


def test_homogeneous_estimates_give_zero_tau2_and_two_studies_no_prediction_interval():
    res = random_effects_meta([0.1, 0.1, 0.1], [0.01, 0.02, 0.03])
    assert res.tau2 == 0.0 and res.i2 == 0.0
    two = random_effects_meta([0.1, 0.5], [0.01, 0.02], method="DL")
    assert all(math.isnan(v) for v in two.prediction_interval)
    with pytest.raises(ValueError, match="at least 2"):
        random_effects_meta([0.1], [0.01])


def test_centre_heterogeneity_pools_per_centre_measures():
    rng = np.random.default_rng(12)
    centres, ys, ps = [], [], []
    for c, shift in enumerate([-0.6, -0.2, 0.0, 0.3, 0.7]):
        lp = rng.normal(-1.0, 1.2, 250)
        ys.append((rng.random(250) < expit(lp + shift)).astype(int))
        ps.append(expit(lp))
        centres += [f"centre {c}"] * 250
    lp_small = rng.normal(-3.0, 0.5, 40)
    ys.append(np.r_[np.ones(2), np.zeros(38)].astype(int))
    ps.append(expit(lp_small))
    centres += ["small"] * 40
    y, p, centres_arr = np.concatenate(ys), np.concatenate(ps), np.array(centres)
    res = centre_heterogeneity(y, p, centres_arr, method="REML", min_events=5)
    small = [c for c in res.centres if c.centre == "small"][0]
    assert small.status == "too_few_events" and small.auc is None
    ok = [c for c in res.centres if c.status == "ok"]
    assert len(ok) == 5
    logits, variances, citl = [], [], []
    for c in ok:
        mask = centres_arr == c.centre
        auc = roc_auc(y[mask], p[mask])
        assert c.auc.value == pytest.approx(auc.auc.value)
        logits.append(logit(auc.auc.value))
        variances.append((auc.se_delong / (auc.auc.value * (1 - auc.auc.value))) ** 2)
        citl.append(calibration_metrics(y[mask], p[mask]).citl.value)
    pooled = random_effects_meta(logits, variances, method="REML")
    assert res.pooled["logit_auc"].estimate.value == pytest.approx(pooled.estimate.value)
    assert res.pooled_auc.value == pytest.approx(expit(pooled.estimate.value))
    assert res.pooled_auc_prediction_interval == pytest.approx(tuple(expit(np.array(pooled.prediction_interval))))
    # The centres' baseline risks differ (shifts -0.6 to 0.7): CITL is heterogeneous.
    assert res.pooled["citl"].tau2 > 0.05
    assert res.pooled["citl"].estimate.value == pytest.approx(
        random_effects_meta(citl, [c.citl.se**2 for c in ok]).estimate.value
    )
    assert res.pooled["citl"].k == 5 and res.pooled["log_oe"].k == 5
    json.dumps(res.to_dict(), allow_nan=False)
