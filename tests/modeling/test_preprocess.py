"""The preprocessor learns in fit only, types columns from the dictionary and traces every output."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone
from sklearn.feature_selection import SelectKBest, f_classif

from spineoutcome.dictionary import PredictorError
from spineoutcome.modeling import build_preprocessor, feature_sources

from .conftest import PREDICTORS, make_cohort


def test_imputation_statistics_come_from_the_fit_set_only(dictionary) -> None:
    train, _ = make_cohort(300, seed=2)
    test, _ = make_cohort(50, seed=3)
    test["bmi"] = np.nan
    test["asa_class"] = pd.array([pd.NA] * 50, dtype="Int64")
    pre = build_preprocessor(dictionary, PREDICTORS, scale=False).fit(train)
    out = pre.transform(test)
    assert (out["bmi"] == train["bmi"].median()).all()
    assert (out["asa_class"] == float(np.median(train["asa_class"].dropna().to_numpy(dtype=float)))).all()
    assert (out["missingindicator_bmi"] == 1.0).all()


def test_transform_is_row_wise(dictionary, cohort) -> None:
    X, _ = cohort
    for imputation in ("simple", "iterative"):
        pre = build_preprocessor(dictionary, PREDICTORS, imputation=imputation, spline_knots=4).fit(X)
        whole = pre.transform(X.iloc[:40])
        one_by_one = pd.concat([pre.transform(X.iloc[[i]]) for i in range(40)])
        pd.testing.assert_frame_equal(whole, one_by_one)


def test_standardisation_uses_training_mean_and_sd(dictionary, cohort) -> None:
    X, _ = cohort
    pre = build_preprocessor(dictionary, ["age"]).fit(X)
    shifted = X.assign(age=X["age"] + 100.0)
    expected = (shifted["age"] - X["age"].mean()) / X["age"].std(ddof=0)
    np.testing.assert_allclose(pre.transform(shifted)["age"], expected)


def test_columns_are_typed_by_the_dictionary(dictionary, cohort) -> None:
    X, _ = cohort
    out = build_preprocessor(dictionary, PREDICTORS, drop_first=True).fit_transform(X)
    assert out.dtypes.eq(np.float64).all()
    assert not out.isna().any().any()
    assert set(out["diabetes"].unique()) <= {0.0, 1.0}
    # reference = first category in the dictionary (never, anterior), dropped
    assert [c for c in out.columns if c.startswith("smoking_")] == ["smoking_former", "smoking_current"]
    assert [c for c in out.columns if c.startswith("approach_")] == [
        "approach_laminoplasty",
        "approach_posterior_fusion",
        "approach_combined",
    ]
    assert {"missingindicator_bmi", "missingindicator_asa_class", "missingindicator_diabetes"} <= set(out.columns)
    assert "missingindicator_age" not in out.columns  # age had no missing values in the fit data


def test_categorical_missing_as_a_level_and_unknown_categories(dictionary, cohort) -> None:
    X, _ = cohort
    pre = build_preprocessor(dictionary, ["smoking"], categorical_missing="level").fit(X)
    out = pre.transform(X)
    assert out.columns.tolist() == ["smoking_never", "smoking_former", "smoking_current", "smoking_missing"]
    np.testing.assert_array_equal(out["smoking_missing"], X["smoking"].isna().astype(float))
    np.testing.assert_array_equal(out.sum(axis=1), 1.0)


def test_category_absent_from_training_gives_a_zero_column(dictionary, cohort) -> None:
    X, _ = cohort
    train = X[X["approach"] != "combined"]
    pre = build_preprocessor(dictionary, ["approach"]).fit(train)
    assert (pre.transform(train)["approach_combined"] == 0).all()
    assert (pre.transform(X[X["approach"] == "combined"])["approach_combined"] == 1).all()


def test_feature_sources_sum_back_to_predictors(dictionary, cohort) -> None:
    X, _ = cohort
    pre = build_preprocessor(dictionary, PREDICTORS, spline_knots=4, categorical_missing="level").fit(X)
    sources = feature_sources(pre)
    assert list(sources) == pre.get_feature_names_out().tolist()
    assert set(sources.values()) == set(PREDICTORS)
    assert sources["age_rcs2"] == "age"
    assert sources["missingindicator_bmi"] == "bmi"
    assert sources["smoking_missing"] == "smoking"
    assert sources["approach_combined"] == "approach"


def test_iterative_imputation_is_seeded_and_keeps_indicators(dictionary, cohort) -> None:
    X, _ = cohort
    first = build_preprocessor(dictionary, PREDICTORS, imputation="iterative").fit_transform(X)
    second = build_preprocessor(dictionary, PREDICTORS, imputation="iterative").fit_transform(X)
    pd.testing.assert_frame_equal(first, second)
    assert "missingindicator_bmi" in first.columns


def test_radiomics_selection_by_transformer_or_by_name(dictionary) -> None:
    rng = np.random.default_rng(4)
    n = 200
    names = ["original_glcm_Contrast", "original_firstorder_Mean", "wavelet-LH_glszm_ZoneEntropy"]
    X = pd.DataFrame(rng.normal(size=(n, 3)), columns=names).assign(age=rng.normal(60, 10, n))
    y = (X["original_firstorder_Mean"] + 0.1 * rng.normal(size=n) > 0).astype(int)
    pre = build_preprocessor(dictionary, [*names, "age"], radiomics=SelectKBest(f_classif, k=1)).fit(X, y)
    assert pre.get_feature_names_out().tolist() == ["age", "original_firstorder_Mean"]
    assert feature_sources(pre)["original_firstorder_Mean"] == "original_firstorder_Mean"
    noise = pd.DataFrame(rng.normal(size=(n, 20)), columns=[f"original_firstorder_Noise{i:02d}" for i in range(20)])
    wide = pd.concat([X, noise], axis=1)
    y_noisy = (X["original_firstorder_Mean"] + rng.normal(size=n) > 0).astype(int)
    lasso = build_preprocessor(dictionary, [*wide.columns], radiomics={"selection": "lasso"}).fit(wide, y_noisy)
    kept = [c for c in lasso.get_feature_names_out() if c != "age"]
    assert "original_firstorder_Mean" in kept and len(kept) < 10
    with pytest.raises(ValueError, match="'none', 'lasso' or 'rad_score'"):
        build_preprocessor(dictionary, names, radiomics={"selection": "ridge"})


def test_leakage_guard_applies_again(dictionary) -> None:
    with pytest.raises(PredictorError):
        build_preprocessor(dictionary, ["age", "last_followup_day"])
    with pytest.raises(PredictorError):
        build_preprocessor(dictionary, ["centre"])


def test_sklearn_conventions(dictionary, cohort) -> None:
    X, _ = cohort
    pre = build_preprocessor(dictionary, PREDICTORS, spline_knots=3)
    params = pre.get_params()
    assert params["spline_knots"] == 3 and params["categorical"]["smoking"] == ["never", "former", "current"]
    twin = clone(pre).set_params(scale=False)
    assert not hasattr(twin, "transformer_")
    assert twin.fit(X).transform(X)["age"].equals(X["age"])
    with pytest.raises(ValueError, match="lacks predictor columns"):
        pre.fit(X.drop(columns="bmi"))
