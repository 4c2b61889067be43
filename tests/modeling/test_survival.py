"""Interval-censored progression models on data simulated from a known Weibull AFT model."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from lifelines.utils import concordance_index
from sklearn.base import clone

from spineoutcome.modeling import (
    WeibullAFTModel,
    XGBoostAFTModel,
    build_preprocessor,
    harrell_c,
    kaplan_meier_by_risk_group,
    point_times,
)

# log T = 2.0 + 0.04 (age - 60) - 0.7 diabetes + 0.6 W, W minimum extreme value: Weibull, rho = 1/0.6
TRUTH = {"Intercept": 2.0, "age": 0.04, "diabetes": -0.7, "log_rho": -np.log(0.6)}


def simulate(n: int, seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    rng = np.random.default_rng(seed)
    age = rng.normal(60, 10, n)
    diabetes = rng.random(n) < 0.4
    log_t = TRUTH["Intercept"] + TRUTH["age"] * (age - 60) + TRUTH["diabetes"] * diabetes
    t = np.exp(log_t + np.log(rng.exponential(size=n)) / np.exp(TRUTH["log_rho"]))
    visits = np.arange(0.0, 31.0)  # yearly CT
    last_visit = rng.choice(visits[2:], n)
    lower, upper = last_visit.copy(), np.full(n, np.inf)
    for i in np.flatnonzero(t <= last_visit):
        upper[i] = visits[visits >= t[i]].min()
        lower[i] = upper[i] - 1.0
    X = pd.DataFrame({"age": age - 60, "diabetes": pd.array(diabetes, dtype="boolean")})
    return X, pd.DataFrame({"lower": lower, "upper": upper, "event": np.isfinite(upper).astype(int)})


@pytest.fixture(scope="module")
def progression() -> tuple[pd.DataFrame, pd.DataFrame]:
    return simulate(1000, seed=21)


def test_weibull_aft_recovers_known_parameters(dictionary, progression) -> None:
    X, labels = progression
    assert 0.3 < labels["event"].mean() < 0.9 and (labels["lower"] == 0).any()  # right- and left-censored rows
    model = WeibullAFTModel(build_preprocessor(dictionary, ["age", "diabetes"], scale=False)).fit(X, labels)
    params = model.fitter_.params_
    for name in ("Intercept", "age", "diabetes"):
        assert params[("lambda_", name)] == pytest.approx(TRUTH[name], abs=0.1), name
    assert params[("rho_", "Intercept")] == pytest.approx(TRUTH["log_rho"], abs=0.1)


def test_weibull_risk_is_the_weibull_cdf_and_monotone(dictionary, progression) -> None:
    X, labels = progression
    model = WeibullAFTModel(build_preprocessor(dictionary, ["age", "diabetes"])).fit(X, labels)
    lp = model.predict_log_time(X)
    risk = model.predict_risk(X, horizon=5.0)
    rho = np.exp(model.fitter_.params_[("rho_", "Intercept")])
    np.testing.assert_allclose(risk, 1.0 - np.exp(-((5.0 / np.exp(lp)) ** rho)), rtol=1e-8)
    order = np.argsort(lp)
    assert np.all(np.diff(risk[order]) <= 1e-12)
    assert np.all(model.predict_risk(X, 10.0) >= risk)
    assert harrell_c(labels, risk) > 0.6


@pytest.mark.parametrize("distribution", ["normal", "logistic", "extreme"])
def test_xgboost_aft_risk_is_monotone_and_discriminates(dictionary, progression, distribution) -> None:
    X, labels = progression
    model = XGBoostAFTModel(
        build_preprocessor(dictionary, ["age", "diabetes"], scale=False), distribution=distribution, n_estimators=60
    ).fit(X, labels)
    mu, risk = model.predict_log_time(X), model.predict_risk(X, horizon=5.0)
    order = np.argsort(mu)
    assert np.all(np.diff(risk[order]) <= 1e-12)
    assert harrell_c(labels, risk) > 0.6
    np.testing.assert_array_equal(risk, clone(model).fit(X, labels).predict_risk(X, 5.0))


def test_point_times_and_harrell_c_reference() -> None:
    labels = pd.DataFrame({"lower": [0.0, 2.0, 3.0, 1.0], "upper": [1.0, 4.0, np.inf, 1.0], "event": [1, 1, 0, 1]})
    np.testing.assert_array_equal(point_times(labels), [0.5, 3.0, 3.0, 1.0])
    risk = np.array([0.9, 0.2, 0.1, 0.5])
    assert harrell_c(labels, risk) == concordance_index([0.5, 3.0, 3.0, 1.0], -risk, [1, 1, 0, 1]) == 1.0


def test_kaplan_meier_by_risk_group(progression) -> None:
    _, labels = progression
    risk = -labels["lower"].to_numpy() + np.random.default_rng(0).normal(size=len(labels))
    curves = kaplan_meier_by_risk_group(labels, risk, n_groups=3)
    assert sorted(curves["group"].unique()) == [1, 2, 3]
    assert curves.groupby("group")["n"].first().sum() == len(labels)
    for _, curve in curves.groupby("group"):
        assert curve["survival"].is_monotonic_decreasing
        assert ((curve["lower_ci"] <= curve["survival"]) & (curve["survival"] <= curve["upper_ci"])).all()


def test_labels_are_checked(dictionary, progression) -> None:
    X, labels = progression
    model = WeibullAFTModel(build_preprocessor(dictionary, ["age"]))
    with pytest.raises(ValueError, match="event must be 1 exactly"):
        model.fit(X, labels.assign(event=0))
    with pytest.raises(ValueError, match="lower <= upper"):
        model.fit(X, labels.assign(lower=labels["upper"] + 1))
    with pytest.raises(ValueError, match="missing"):
        model.fit(X, labels.drop(columns="event"))
    assert clone(model).get_params()["preprocessor__scale"] is True
