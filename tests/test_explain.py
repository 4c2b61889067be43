"""SHAP per source variable, checked against the shap package's own explainers."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import shap

from spineoutcome.dictionary import DataDictionary
from spineoutcome.explain import reference_profile, shap_contributions, summarise_shap
from spineoutcome.modeling import feature_sources, make_pipeline


@pytest.fixture(scope="module")
def data() -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(4)
    n = 300
    X = pd.DataFrame(
        {
            "age": rng.normal(65, 10, n),
            "approach": pd.Categorical(
                rng.choice(["anterior", "laminoplasty", "posterior_fusion"], n),
                categories=["anterior", "laminoplasty", "posterior_fusion", "combined"],
            ),
            "diabetes": pd.array(rng.random(n) < 0.3, dtype="boolean"),
            "asa_class": pd.array(rng.integers(1, 4, n), dtype="Int64"),
        }
    )
    X.loc[::7, "age"] = np.nan
    lp = (X["age"].fillna(65) - 65) / 8 + (X["approach"] == "laminoplasty") * 0.8
    y = (rng.random(n) < 1 / (1 + np.exp(-lp.to_numpy(dtype=float)))).astype(int)
    return X, y


def _design(pipe, X):
    pre = pipe.named_steps["preprocess"]
    return pd.DataFrame(pre.transform(X), columns=pre.get_feature_names_out())


def _grouped(pipe, per_column: np.ndarray, columns) -> pd.DataFrame:
    sources = feature_sources(pipe)
    frame = pd.DataFrame(per_column, columns=columns)
    return frame.T.groupby([sources[c] for c in columns]).sum().T


@pytest.mark.parametrize("family", ["xgboost", "lightgbm"])
def test_tree_shap_matches_shap_tree_explainer_summed_per_variable(data, family):
    X, y = data
    pipe = make_pipeline(family, DataDictionary.load(), list(X.columns)).fit(X, y)
    ours = shap_contributions(pipe, X)
    design = _design(pipe, X)
    reference = shap.TreeExplainer(pipe.named_steps["model"])(design)
    expected = _grouped(pipe, np.asarray(reference.values), design.columns)
    assert ours.units == "log-odds"
    np.testing.assert_allclose(ours.values[expected.columns].to_numpy(), expected.to_numpy(), atol=1e-4)
    assert ours.additivity_error < 1e-4


@pytest.mark.parametrize("family", ["logistic", "elastic_net"])
def test_linear_shap_matches_shap_linear_explainer_and_the_coefficients(data, family):
    X, y = data
    pipe = make_pipeline(family, DataDictionary.load(), list(X.columns)).fit(X, y)
    ours = shap_contributions(pipe, X)
    design = _design(pipe, X)
    model = pipe.named_steps["model"]
    reference = shap.LinearExplainer(model, shap.maskers.Independent(design, max_samples=len(design)))(design)
    expected = _grouped(pipe, np.asarray(reference.values), design.columns)
    np.testing.assert_allclose(ours.values[expected.columns].to_numpy(), expected.to_numpy(), atol=1e-8)
    logit = np.log(pipe.predict_proba(X)[:, 1] / pipe.predict_proba(X)[:, 0])
    np.testing.assert_allclose(ours.base + ours.values.sum(axis=1).to_numpy(), logit, atol=1e-8)


def test_one_hot_levels_are_summed_back_to_their_variable(data):
    X, y = data
    pipe = make_pipeline("xgboost", DataDictionary.load(), list(X.columns)).fit(X, y)
    assert list(shap_contributions(pipe, X).values.columns) == ["age", "asa_class", "diabetes", "approach"] or set(
        shap_contributions(pipe, X).values.columns
    ) == set(X.columns)
    assert sum(v == "approach" for v in feature_sources(pipe).values()) >= 3


def test_summary_is_aggregate_only_and_example_is_a_constructed_profile(data):
    X, y = data
    pipe = make_pipeline("lightgbm", DataDictionary.load(), list(X.columns)).fit(X, y)
    summary = summarise_shap(pipe, X).to_dict()
    assert summary["importance"][0]["variable"] == "age"
    assert all(b["n"] >= 1 for bins in summary["binned"].values() for b in bins)
    assert sum(b["n"] for b in summary["binned"]["age"]) == len(X)
    profile = reference_profile(X)
    assert profile["age"].iloc[0] == pytest.approx(X["age"].median())
    assert summary["example"]["values"]["approach"] == X["approach"].mode().iloc[0]
    p = pipe.predict_proba(profile)[0, 1]
    assert summary["example"]["probability"] == pytest.approx(p, abs=1e-6)


def test_recalibrated_log_odds_scale_the_contributions_and_keep_additivity(data):
    """logit p' = a + b logit p: phi' = b phi, base' = a + b base, output' = a + b margin."""
    X, y = data
    pipe = make_pipeline("xgboost", DataDictionary.load(), list(X.columns)).fit(X, y)
    raw = shap_contributions(pipe, X)
    scaled = shap_contributions(pipe, X, calibration=(0.3, 0.6))
    np.testing.assert_allclose(scaled.values.to_numpy(), 0.6 * raw.values.to_numpy(), atol=1e-6)  # float32 SHAP
    assert scaled.base == pytest.approx(0.3 + 0.6 * raw.base)
    margin = pipe.named_steps["model"].predict(_design(pipe, X), output_margin=True)
    np.testing.assert_allclose(scaled.output, 0.3 + 0.6 * margin, atol=1e-5)
    assert scaled.additivity_error < 1e-4
    summary = summarise_shap(pipe, X, calibration=(0.3, 0.6))
    assert summary.example["probability"] == pytest.approx(1 / (1 + np.exp(-summary.example["output"])))
    forest = make_pipeline("random_forest", DataDictionary.load(), list(X.columns)).fit(X, y)
    with pytest.raises(ValueError, match="maps log-odds"):
        shap_contributions(forest, X, calibration=(0.3, 0.6))
