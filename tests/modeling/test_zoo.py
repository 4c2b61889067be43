"""Model families: the unpenalised logistic model is the textbook MLE; seeds make fits reproducible."""

from __future__ import annotations

import json

import numpy as np
import pytest
import statsmodels.api as sm
from sklearn.base import clone
from xgboost import XGBClassifier

from spineoutcome.modeling import FAMILIES, ClassWeightedXGBClassifier, disclosure, make_pipeline

from .conftest import PREDICTORS


def test_logistic_equals_statsmodels_on_the_same_design(dictionary, cohort) -> None:
    X, y = cohort
    model = make_pipeline("logistic", dictionary, PREDICTORS).fit(X, y)
    design = model.named_steps["preprocess"].transform(X)
    assert "age_rcs2" in design.columns and "smoking_never" not in design.columns
    reference = sm.Logit(y, sm.add_constant(design)).fit(disp=0, method="newton", tol=1e-12, maxiter=100)
    fitted = model.named_steps["model"]
    np.testing.assert_allclose(fitted.intercept_[0], reference.params["const"], rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(fitted.coef_[0], reference.params[design.columns].to_numpy(), rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(model.predict_proba(X)[:, 1], reference.predict(sm.add_constant(design)), atol=1e-9)


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_same_seed_same_predictions(dictionary, cohort, family) -> None:
    X, y = cohort
    first = make_pipeline(family, dictionary, PREDICTORS, random_state=7).fit(X, y).predict_proba(X)
    second = make_pipeline(family, dictionary, PREDICTORS, random_state=7).fit(X, y).predict_proba(X)
    np.testing.assert_array_equal(first, second)
    assert np.all((first > 0) & (first < 1))


def test_seed_reaches_random_components(dictionary, cohort) -> None:
    X, y = cohort
    a, b = (
        make_pipeline("random_forest", dictionary, PREDICTORS, random_state=s).fit(X, y).predict_proba(X)
        for s in (1, 2)
    )
    assert not np.array_equal(a, b)


def test_balanced_class_weights_for_xgboost_equal_sample_weights(cohort) -> None:
    X, y = cohort
    design = X[["age"]]
    weighted = ClassWeightedXGBClassifier(class_weight="balanced", n_estimators=20, random_state=0).fit(design, y)
    n, events = len(y), y.sum()
    weights = np.where(y == 1, n / (2 * events), n / (2 * (n - events)))
    plain = XGBClassifier(n_estimators=20, random_state=0).fit(design, y, sample_weight=weights)
    np.testing.assert_allclose(weighted.predict_proba(design), plain.predict_proba(design), rtol=1e-6)
    assert clone(weighted).get_params()["class_weight"] == "balanced"
    assert "class_weight" not in weighted.get_xgb_params()


def test_disclosure_records_class_weights_and_is_json(dictionary) -> None:
    for family in FAMILIES:
        record = disclosure(make_pipeline(family, dictionary, PREDICTORS, class_weight="balanced"))
        assert record["family"] == family
        assert record["class_weight"] == "balanced"
        assert "none" in record["resampling_of_training_data"]
        json.dumps(record, allow_nan=False)
    plain = disclosure(make_pipeline("logistic", dictionary, PREDICTORS))
    assert plain["imbalance_handling"] == "none"
    assert plain["preprocessing"]["spline_knots"] == 4 and plain["preprocessing"]["drop_first"] is True


def test_params_and_preprocess_overrides(dictionary) -> None:
    pipe = make_pipeline(
        "elastic_net", dictionary, PREDICTORS, {"C": 0.1, "l1_ratio": 1.0}, preprocess={"imputation": "iterative"}
    )
    assert pipe.get_params()["model__C"] == 0.1
    assert pipe.get_params()["preprocess__imputation"] == "iterative"
    assert clone(pipe).set_params(model__C=3.0).get_params()["model__C"] == 3.0
    with pytest.raises(ValueError, match="unknown model family"):
        make_pipeline("svm", dictionary, PREDICTORS)
    with pytest.raises(ValueError, match="class_weight"):
        make_pipeline("logistic", dictionary, PREDICTORS, class_weight="balanced_subsample")
