"""Every predictor of the logistic model gets its odds ratio (TRIPOD+AI item 22), also one that most
patients share a single value of (a muscle grade of 5: interquartile range of zero). The odds ratio is
checked against an independent statsmodels fit on the raw predictors."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline

from spineoutcome.dictionary import DataDictionary
from spineoutcome.experiment.specification import specification
from spineoutcome.modeling import build_preprocessor

PREDICTORS = ["age", "deltoid_mmt_pre_left"]


@pytest.fixture(scope="module")
def fitted() -> tuple[dict, pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(3)
    n = 3000
    grade = np.where(rng.random(n) < 0.88, 5, rng.integers(2, 5, n))
    age = rng.normal(62, 10, n).round(1)
    logit = -2.0 + 0.03 * (age - 62) - 0.5 * (grade - 5)
    y = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int)
    X = pd.DataFrame({"age": age, "deltoid_mmt_pre_left": pd.array(grade, dtype="Int64")})
    dictionary = DataDictionary.load()
    pipeline = Pipeline(
        [
            ("preprocess", build_preprocessor(dictionary, PREDICTORS, spline_knots=None, drop_first=True)),
            ("model", LogisticRegression(C=np.inf, max_iter=5000)),
        ]
    ).fit(X, y)
    return specification(pipeline, X, y, dictionary), X, y


def test_a_predictor_with_an_iqr_of_zero_keeps_its_odds_ratio(fitted) -> None:
    spec, X, _ = fitted
    assert X["deltoid_mmt_pre_left"].quantile(0.25) == X["deltoid_mmt_pre_left"].quantile(0.75) == 5
    variables = [r["variable"] for r in spec["odds_ratios"]]
    assert set(PREDICTORS) <= set(variables)


def test_the_fallback_contrast_equals_an_independent_fit(fitted) -> None:
    spec, X, y = fitted
    row = next(r for r in spec["odds_ratios"] if r["variable"] == "deltoid_mmt_pre_left")
    reference = sm.Logit(y, sm.add_constant(X.astype(float).to_numpy())).fit(disp=0)
    beta = reference.params[2]
    high, low = (float(v) for v in row["contrast"].split(" (")[0].split(" vs "))
    assert high != low
    assert row["odds_ratio"] == pytest.approx(np.exp(beta * (high - low)), rel=1e-4)
    se = np.sqrt(reference.cov_params()[2, 2]) * abs(high - low)
    assert np.log(row["ci_high"] / row["odds_ratio"]) == pytest.approx(1.959964 * se, rel=1e-3)
