"""Per-patient explanations: SHAP against the training mean, checked with the shap library, and the words."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import shap
import xgboost

from spineoutcome.explain import shap_contributions
from spineoutcome.modeling import feature_sources
from spineoutcome.scoring import load_scoring_model, parse_predictors
from spineoutcome.scoring.task import TaskScorer
from spineoutcome.scoring.words import LOWERS, RAISES, FactorWords, label, labels


@pytest.fixture(scope="module")
def models(store, versions):
    return {family: load_scoring_model(uri) for family, uri in versions.items()}


@pytest.fixture(scope="module")
def rows(models, hospital) -> pd.DataFrame:
    contract = models["logistic"].bundle.contract
    parsed = parse_predictors(hospital.export.head(200), contract)
    return parsed.frame


def background(model) -> pd.Series:
    return pd.Series(model.bundle.manifest["explanation"]["background_design_mean"])


def by_source(values: np.ndarray, pipeline, index: pd.Index, names: list[str]) -> pd.DataFrame:
    pre = pipeline.named_steps["preprocess"]
    columns = list(pre.get_feature_names_out())
    sources = feature_sources(pre)
    frame = pd.DataFrame(values, columns=columns, index=index)
    return frame.T.groupby([sources[c] for c in columns]).sum().T.reindex(columns=names, fill_value=0.0)


def test_one_row_with_the_training_background_equals_that_row_in_a_batch(models, rows) -> None:
    model = models["logistic"]
    pipeline, mean = model.bundle.pipeline, background(model)
    batch = shap_contributions(pipeline, rows, background_mean=mean)
    for i in (0, 17, 123):
        single = shap_contributions(pipeline, rows.iloc[[i]], background_mean=mean)
        np.testing.assert_allclose(single.values.to_numpy(), batch.values.iloc[[i]].to_numpy(), rtol=0, atol=1e-12)
        assert single.base == pytest.approx(batch.base, abs=1e-12)
    assert batch.additivity_error < 1e-9


def test_default_background_is_still_the_batch_mean(models, rows) -> None:
    pipeline = models["logistic"].bundle.pipeline
    design = pipeline.named_steps["preprocess"].transform(rows)
    default = shap_contributions(pipeline, rows)
    explicit = shap_contributions(pipeline, rows, background_mean=design.mean())
    np.testing.assert_allclose(default.values.to_numpy(), explicit.values.to_numpy(), atol=1e-12)
    with pytest.raises(ValueError, match="lacks design column"):
        shap_contributions(pipeline, rows, background_mean=design.mean().iloc[1:])


def test_linear_shap_equals_the_shap_library_with_the_training_mean(models, rows) -> None:
    model = models["logistic"]
    pipeline, mean = model.bundle.pipeline, background(model)
    design = pipeline.named_steps["preprocess"].transform(rows)
    lr = pipeline.named_steps["model"]
    reference_data = pd.DataFrame([mean[design.columns].to_numpy()], columns=design.columns)
    explainer = shap.LinearExplainer((lr.coef_.ravel(), lr.intercept_[0]), shap.maskers.Independent(reference_data))
    reference = by_source(explainer.shap_values(design.to_numpy()), pipeline, rows.index, model.bundle.contract.names)
    ours = shap_contributions(pipeline, rows, background_mean=mean).values.reindex(columns=reference.columns)
    np.testing.assert_allclose(ours.to_numpy(), reference.to_numpy(), atol=1e-10)


def test_tree_shap_equals_the_shap_library(models, rows) -> None:
    model = models["xgboost"]
    pipeline = model.bundle.pipeline
    design = pipeline.named_steps["preprocess"].transform(rows)
    booster = pipeline.named_steps["model"].get_booster()
    reference = shap.TreeExplainer(booster, feature_perturbation="tree_path_dependent").shap_values(
        xgboost.DMatrix(design.to_numpy(), feature_names=list(design.columns))
    )
    reference = by_source(reference, pipeline, rows.index, model.bundle.contract.names)
    ours = TaskScorer(model).contributions(rows)
    np.testing.assert_allclose(ours, reference.to_numpy(), atol=2e-5)


@pytest.mark.parametrize("family", ["logistic", "xgboost"])
def test_top_factors_are_the_largest_absolute_shap_values_in_words(models, hospital, family) -> None:
    model = models[family]
    contract = model.bundle.contract
    parsed = parse_predictors(hospital.export.head(200), contract)
    scorer = TaskScorer(model, band=False)
    scores = scorer.score(parsed.frame, parsed.missing, parsed.distinct)
    # independent reference: the shap library's values, summed per predictor, ranked by |SHAP| (stable on ties)
    pipeline = model.bundle.pipeline
    design = pipeline.named_steps["preprocess"].transform(parsed.frame)
    if family == "logistic":
        lr = pipeline.named_steps["model"]
        mean = background(model)[design.columns].to_numpy()
        raw = shap.LinearExplainer(
            (lr.coef_.ravel(), lr.intercept_[0]), shap.maskers.Independent(pd.DataFrame([mean], columns=design.columns))
        ).shap_values(design.to_numpy())
    else:
        raw = shap.TreeExplainer(pipeline.named_steps["model"].get_booster()).shap_values(
            xgboost.DMatrix(design.to_numpy(), feature_names=list(design.columns))
        )
    reference = by_source(raw, pipeline, parsed.frame.index, contract.names).to_numpy()
    names = labels(contract.predictors)
    agree = 0
    for r in range(len(reference)):
        order = sorted(range(len(names)), key=lambda j: -abs(reference[r, j]))
        for k in range(3):
            j = order[k]
            text = scores.columns[f"factor_{k + 1}"][r]
            if not text:
                assert abs(reference[r, j]) < 1e-6
                continue
            agree += text.startswith(f"{names[j]}: ")
            assert text.endswith(RAISES if reference[r, j] > 0 else LOWERS)
    assert agree >= 0.99 * 3 * len(reference)  # float32 tree values may swap near-ties


def test_sentences_name_the_patients_value(models) -> None:
    contract = models["logistic"].bundle.contract
    specs = {p.name: p for p in contract.predictors}
    frame = pd.DataFrame({name: pd.Series([None], dtype=object) for name in contract.names})
    typed = parse_predictors(frame.fillna(""), contract)
    words = FactorWords(contract.predictors)
    shap_values = np.zeros((1, len(contract.names)))
    shap_values[0, contract.names.index("bmi")] = 0.4
    shap_values[0, contract.names.index("age")] = -0.2
    first, second, third = words.sentences(shap_values, typed.distinct.codes, typed.distinct.uniques)
    assert first[0] == f"{label(specs['bmi'])}: not recorded raises the risk"
    assert second[0] == f"{label(specs['age'])}: not recorded lowers the risk"
    assert third[0] == ""  # no other predictor moves the risk
    rows = pd.DataFrame({name: [""] for name in contract.names})
    rows.loc[0, ["age", "approach", "diabetes", "deltoid_mmt_pre_left"]] = ["78", "anterior", "yes", "4"]
    typed = parse_predictors(rows, contract)
    shap_values = np.zeros((1, len(contract.names)))
    for name, value in (("age", 0.9), ("approach", -0.5), ("diabetes", 0.3)):
        shap_values[0, contract.names.index(name)] = value
    texts = [t[0] for t in words.sentences(shap_values, typed.distinct.codes, typed.distinct.uniques)]
    assert texts == [
        "Age at surgery: 78 years raises the risk",
        "Planned surgical approach: anterior lowers the risk",
        "Diabetes mellitus: yes raises the risk",
    ]
    shap_values[0, :] = 0
    shap_values[0, contract.names.index("deltoid_mmt_pre_left")] = 1.0
    text = words.sentences(shap_values, typed.distinct.codes, typed.distinct.uniques)[0][0]
    # the dictionary description is unique since the YAML quoting fix, so no variable name is needed
    assert text == "Pre-operative deltoid manual muscle test, left: MRC grade 4 raises the risk"
