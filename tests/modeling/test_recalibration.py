"""Recalibration against statsmodels GLM (Binomial, logit link, with and without offset)."""

from __future__ import annotations

import numpy as np
import pytest
import statsmodels.api as sm
from scipy.special import expit, logit
from sklearn.base import clone

from spineoutcome.modeling import LogisticRecalibration


@pytest.fixture(scope="module")
def new_centre() -> tuple[np.ndarray, np.ndarray]:
    """A model whose risks are too extreme and too high for the new centre: true a = -0.4, b = 0.7."""
    rng = np.random.default_rng(11)
    lp = rng.normal(-1.0, 1.5, 3000)
    y = rng.binomial(1, expit(-0.4 + 0.7 * lp))
    return expit(lp), y


def test_intercept_update_equals_glm_with_offset(new_centre) -> None:
    p, y = new_centre
    reference = sm.GLM(y, np.ones((len(y), 1)), family=sm.families.Binomial(), offset=logit(p)).fit(tol=1e-12)
    recal = LogisticRecalibration("intercept").fit(p, y)
    assert recal.intercept_ == pytest.approx(reference.params[0], abs=1e-8)
    assert recal.slope_ == 1.0
    np.testing.assert_allclose(recal.transform(p), reference.fittedvalues, atol=1e-10)
    assert recal.transform(p).mean() == pytest.approx(y.mean(), abs=1e-9)  # calibration-in-the-large


def test_logistic_recalibration_equals_glm(new_centre) -> None:
    p, y = new_centre
    reference = sm.GLM(y, sm.add_constant(logit(p)), family=sm.families.Binomial()).fit(tol=1e-12)
    recal = LogisticRecalibration("logistic").fit(p, y)
    np.testing.assert_allclose([recal.intercept_, recal.slope_], reference.params, atol=1e-8)
    np.testing.assert_allclose(recal.transform(p), reference.fittedvalues, atol=1e-10)
    assert recal.slope_ == pytest.approx(0.7, abs=0.1) and recal.intercept_ == pytest.approx(-0.4, abs=0.15)


def test_well_calibrated_model_is_left_alone() -> None:
    rng = np.random.default_rng(12)
    p = expit(rng.normal(-1, 1, 20000))
    recal = LogisticRecalibration().fit(p, rng.binomial(1, p))
    assert recal.intercept_ == pytest.approx(0.0, abs=0.06) and recal.slope_ == pytest.approx(1.0, abs=0.06)


def test_inputs_are_checked_and_params_clone(new_centre) -> None:
    p, y = new_centre
    with pytest.raises(ValueError, match="both outcomes"):
        LogisticRecalibration().fit(p, np.zeros_like(y))
    with pytest.raises(ValueError, match="probabilities"):
        LogisticRecalibration().fit(p * 2, y)
    with pytest.raises(ValueError, match="method"):
        LogisticRecalibration("isotonic").fit(p, y)
    assert clone(LogisticRecalibration("intercept", eps=1e-6)).get_params()["eps"] == 1e-6
    assert np.all(np.isfinite(LogisticRecalibration().fit(np.r_[p, 0.0, 1.0], np.r_[y, 0, 1]).transform([0.0, 1.0])))
