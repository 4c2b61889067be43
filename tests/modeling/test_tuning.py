"""Tuning is a meta-estimator: it only ever sees the rows it is fit on, and it is reproducible."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone
from sklearn.model_selection import StratifiedKFold
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer

from spineoutcome.modeling import TunedClassifier, disclosure, tuning
from spineoutcome.modeling.search_spaces import FloatRange, IntRange

from .conftest import PREDICTORS, make_cohort

SHALLOW_TREES = {"max_depth": IntRange(2, 6), "learning_rate": FloatRange(0.01, 0.3, log=True)}


@pytest.fixture(scope="module")
def small() -> tuple[pd.DataFrame, np.ndarray]:
    return make_cohort(240, seed=5)


def test_nested_cv_never_shows_outer_test_rows_to_fit(dictionary, small, monkeypatch) -> None:
    X, y = small
    seen: list[set[str]] = []
    build = tuning.make_pipeline

    def spying_pipeline(*args, **kwargs) -> Pipeline:
        def record(frame: pd.DataFrame) -> pd.DataFrame:
            seen.append(set(frame["patient_id"]))
            return frame

        pipeline = build(*args, **kwargs)
        return Pipeline([("spy", FunctionTransformer(record)), *pipeline.steps])

    monkeypatch.setattr(tuning, "make_pipeline", spying_pipeline)
    tuned = TunedClassifier("elastic_net", dictionary, PREDICTORS, n_trials=3, inner_cv=3)
    for train, test in StratifiedKFold(3, shuffle=True, random_state=0).split(X, y):
        seen.clear()
        model = clone(tuned).fit(X.iloc[train], y[train])
        outer_train, outer_test = set(X["patient_id"].iloc[train]), set(X["patient_id"].iloc[test])
        assert len(seen) > 3 and all(rows <= outer_train for rows in seen)
        seen.clear()
        model.predict_proba(X.iloc[test])
        assert seen == [outer_test]


def test_same_seed_same_best_params_in_memory_and_sqlite(dictionary, small, tmp_path) -> None:
    X, y = small
    continuous = {"C": FloatRange(1e-3, 1e2, log=True), "l1_ratio": FloatRange(0.0, 1.0)}  # searched by Optuna
    kwargs = {"n_trials": 6, "inner_cv": 3, "random_state": 3, "search_space": continuous}
    memory = TunedClassifier("elastic_net", dictionary, PREDICTORS, **kwargs).fit(X, y)
    again = TunedClassifier("elastic_net", dictionary, PREDICTORS, **kwargs).fit(X, y)
    storage = f"sqlite:///{tmp_path / 'optuna.db'}"
    sqlite = TunedClassifier("elastic_net", dictionary, PREDICTORS, storage=storage, **kwargs).fit(X, y)
    assert memory.best_params_ == again.best_params_ == sqlite.best_params_
    assert memory.best_score_ == sqlite.best_score_
    np.testing.assert_array_equal(memory.predict_proba(X), sqlite.predict_proba(X))
    assert sqlite.study_summary_["storage"] == storage


def test_sqlite_study_resumes_instead_of_rerunning(dictionary, small, tmp_path) -> None:
    X, y = small
    storage = f"sqlite:///{tmp_path / 'resume.db'}"
    tuned = TunedClassifier(
        "xgboost",
        dictionary,
        PREDICTORS,
        n_trials=3,
        inner_cv=2,
        storage=storage,
        study_name="c5",
        search_space=SHALLOW_TREES,
        preprocess={"imputation": "iterative"},
    )
    first = clone(tuned).fit(X, y).study_summary_
    second = clone(tuned).fit(X, y).study_summary_
    assert first["study_name"] == second["study_name"] and first["study_name"].startswith("c5-")
    assert second["n_trials"] == 3 and second["best_params"] == first["best_params"]
    other_rows = clone(tuned).fit(X.iloc[:200], y[:200]).study_summary_
    assert other_rows["study_name"] != first["study_name"]


def test_summary_is_json_and_counts_trials(dictionary, small) -> None:
    X, y = small
    tuned = TunedClassifier(
        "elastic_net",
        dictionary,
        PREDICTORS,
        n_trials=8,
        inner_cv=3,
        metric="roc_auc",
        search_space={"C": FloatRange(1e-3, 1e2, log=True)},
    ).fit(X, y)
    summary = json.loads(json.dumps(tuned.study_summary_, allow_nan=False))
    assert summary["n_trials"] == 8 == summary["n_complete"] + summary["n_pruned"]
    assert summary["metric"] == "roc_auc" and set(summary["best_params"]) == {"C"}
    assert summary["best_value"] == pytest.approx(tuned.best_score_)
    assert tuned.best_estimator_.get_params()["model__C"] == tuned.best_params_["C"]
    assert disclosure(tuned)["tuning"] == tuned.study_summary_


def test_logistic_has_nothing_to_tune(dictionary, small) -> None:
    X, y = small
    tuned = TunedClassifier("logistic", dictionary, PREDICTORS, n_trials=20).fit(X, y)
    assert tuned.best_params_ == {} and tuned.study_summary_["n_trials"] == 0
    plain = tuning.make_pipeline("logistic", dictionary, PREDICTORS).fit(X, y)
    np.testing.assert_array_equal(tuned.predict_proba(X), plain.predict_proba(X))
    np.testing.assert_array_equal(tuned.classes_, [0, 1])


def test_sklearn_conventions(dictionary) -> None:
    tuned = TunedClassifier("xgboost", dictionary, PREDICTORS, n_trials=5)
    twin = clone(tuned).set_params(n_trials=2, metric="roc_auc")
    assert twin.get_params()["n_trials"] == 2 and tuned.n_trials == 5
    assert not hasattr(twin, "best_estimator_")
    with pytest.raises(ValueError, match="metric"):
        TunedClassifier("xgboost", dictionary, PREDICTORS, metric="accuracy").fit(*make_cohort(60, seed=1))
    with pytest.raises(ValueError, match="unknown model family"):
        TunedClassifier("svm", dictionary, PREDICTORS).fit(*make_cohort(60, seed=1))


def test_inner_folds_keep_bootstrap_copies_of_a_patient_together(dictionary, small, monkeypatch) -> None:
    """On a bootstrap replicate no patient is in an inner training fold and its test fold at once."""
    X, y = small
    replicate = np.random.default_rng(3).integers(0, len(y), len(y))
    boot_X, boot_y = X.set_index("patient_id", drop=False).iloc[replicate], y[replicate]
    folds_seen: list[list[tuple[np.ndarray, np.ndarray]]] = []
    split = tuning.inner_folds

    def spying_folds(*args, **kwargs):
        folds = split(*args, **kwargs)
        folds_seen.append(folds)
        return folds

    monkeypatch.setattr(tuning, "inner_folds", spying_folds)
    TunedClassifier("elastic_net", dictionary, PREDICTORS, n_trials=2, inner_cv=3).fit(boot_X, boot_y)
    (folds,) = folds_seen
    patients = boot_X.index.to_numpy()
    assert len(folds) == 3
    for train, test in folds:
        assert not set(patients[train]) & set(patients[test])
        assert abs(boot_y[test].mean() - boot_y.mean()) < 0.1  # still stratified


def test_logistic_calibration_is_fitted_on_the_best_parameters_inner_out_of_fold_risks(dictionary, small) -> None:
    """Reference: the out-of-fold risks recomputed by hand on sklearn's folds, a statsmodels logit fit,
    and the likelihood-ratio statistic from statsmodels' log-likelihood."""
    import statsmodels.api as sm
    from scipy.special import expit, logit

    from spineoutcome.modeling import make_pipeline

    X, y = small
    tuned = TunedClassifier(
        "xgboost",
        dictionary,
        PREDICTORS,
        n_trials=3,
        inner_cv=3,
        random_state=2,
        search_space=SHALLOW_TREES,
        calibration="logistic",
    ).fit(X, y)
    oof = np.empty(len(y))
    for train, test in StratifiedKFold(3, shuffle=True, random_state=2).split(X, y):
        model = make_pipeline("xgboost", dictionary, PREDICTORS, tuned.best_params_, random_state=2)
        oof[test] = model.fit(X.iloc[train], y[train]).predict_proba(X.iloc[test])[:, 1].astype(np.float64)
    fit = sm.GLM(y, sm.add_constant(logit(oof)), family=sm.families.Binomial()).fit()
    record = tuned.study_summary_["calibration"]
    assert record["intercept"] == pytest.approx(fit.params[0], abs=1e-5)
    assert record["slope"] == pytest.approx(fit.params[1], abs=1e-5)
    unchanged = float(np.sum(y * np.log(oof) + (1 - y) * np.log1p(-oof)))
    assert record["lr_statistic"] == pytest.approx(2 * (fit.llf - unchanged), abs=1e-4)
    assert record["applied"] == (record["p_value"] < tuning.CALIBRATION_ALPHA)
    raw = tuned.best_estimator_.predict_proba(X)[:, 1].astype(np.float64)
    a, b = tuned.calibration_params() or (0.0, 1.0)
    assert (a, b) == ((record["intercept"], record["slope"]) if record["applied"] else (0.0, 1.0))
    np.testing.assert_allclose(tuned.predict_proba(X)[:, 1], expit(a + b * logit(raw)), atol=1e-6)
    plain = clone(tuned).set_params(calibration="none").fit(X, y)
    assert plain.calibration_params() is None and plain.study_summary_["calibration"] is None
    np.testing.assert_allclose(plain.predict_proba(X)[:, 1], raw, atol=1e-6)  # XGBoost computes in float32


def test_recalibration_is_applied_to_an_under_dispersed_model_and_not_to_a_calibrated_one(dictionary) -> None:
    """The likelihood-ratio test applies the recalibration when the out-of-fold risks are clearly too
    timid (a few shallow trees with a tiny learning rate: slope well above 1), not when they are fine."""
    X, y = make_cohort(1500, seed=12)
    timid = TunedClassifier(
        "xgboost",
        dictionary,
        PREDICTORS,
        inner_cv=3,
        calibration="logistic",
        params={"max_depth": 2, "n_estimators": 50, "learning_rate": 0.01},
    ).fit(X, y)
    record = timid.study_summary_["calibration"]
    assert record["applied"] and record["slope"] > 2 and record["p_value"] < 1e-3
    moderate = {"max_depth": 2, "n_estimators": 100, "learning_rate": 0.05}
    reference = TunedClassifier(
        "xgboost", dictionary, PREDICTORS, inner_cv=3, calibration="logistic", params=moderate
    ).fit(X, y)
    record = reference.study_summary_["calibration"]
    assert not record["applied"] and 0.7 < record["slope"] < 1.3 and record["p_value"] > 0.2
    assert reference.calibration_params() is None


def test_fixed_params_skip_the_search(dictionary, small) -> None:
    X, y = small
    params = {"max_depth": 2, "learning_rate": 0.1}
    tuned = TunedClassifier("xgboost", dictionary, PREDICTORS, n_trials=5, params=params).fit(X, y)
    assert tuned.best_params_ == params and tuned.study_summary_["n_trials"] == 0
    assert tuned.best_estimator_.named_steps["model"].get_params()["max_depth"] == 2


def test_no_positive_association_out_of_fold_gives_the_prevalence(dictionary) -> None:
    """Pure noise: the out-of-fold risks do not rank the outcome, so b = 0 and every risk is the prevalence."""
    X, _ = make_cohort(200, seed=9)
    y = np.random.default_rng(9).binomial(1, 0.3, 200)  # on 8 of 12 seeds tried the out-of-fold slope was <= 0
    tuned = TunedClassifier(
        "xgboost",
        dictionary,
        PREDICTORS,
        params={"max_depth": 6, "n_estimators": 300},
        inner_cv=3,
        calibration="logistic",
    ).fit(X, y)
    a, b = tuned.calibration_params()
    assert tuned.study_summary_["calibration"]["applied"]
    assert b == 0.0 and a == pytest.approx(np.log(y.mean() / (1 - y.mean())))
    np.testing.assert_allclose(tuned.predict_proba(X)[:, 1], y.mean(), atol=1e-12)


def test_a_given_recalibration_is_applied_without_a_test(dictionary, small) -> None:
    from scipy.special import expit, logit

    X, y = small
    fixed = TunedClassifier("xgboost", dictionary, PREDICTORS, params={"max_depth": 2}, calibration=(0.4, 0.5)).fit(
        X, y
    )
    assert fixed.calibration_params() == (0.4, 0.5) and fixed.study_summary_["calibration"]["method"] == "fixed (given)"
    raw = fixed.best_estimator_.predict_proba(X)[:, 1].astype(np.float64)
    np.testing.assert_allclose(fixed.predict_proba(X)[:, 1], expit(0.4 + 0.5 * logit(raw)), atol=1e-9)


def test_a_given_prevalence_model_takes_the_prevalence_of_its_own_rows(dictionary, small) -> None:
    X, y = small
    refit = TunedClassifier("xgboost", dictionary, PREDICTORS, params={"max_depth": 2}, calibration=(-3.0, 0.0))
    rows = np.flatnonzero(y == 1)[:30].tolist() + np.flatnonzero(y == 0)[:90].tolist()
    fitted = refit.fit(X.iloc[rows], y[rows])
    np.testing.assert_allclose(fitted.predict_proba(X)[:, 1], 0.25, atol=1e-12)
