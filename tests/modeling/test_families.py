"""The model-family registry: every entry is complete and consistent, and a family added by its
entry alone (histogram gradient boosting) works end to end: tuning, recalibration, SHAP, the
experiment, the model bundle and the report."""

from __future__ import annotations

import subprocess
from dataclasses import replace
from pathlib import Path

import numpy as np
import optuna
import pytest
import yaml
from sklearn.ensemble import HistGradientBoostingClassifier

from spineoutcome.api import load_cohort, run_pipeline
from spineoutcome.bundle import build_bundle
from spineoutcome.config import PipelineConfig
from spineoutcome.data.synth import generate_cohort
from spineoutcome.explain import SHAP_METHODS, shap_contributions, summarise_shap
from spineoutcome.modeling import FAMILIES, REGISTRY, TunedClassifier, family_of, make_pipeline
from spineoutcome.modeling.families import colour, display_name, family_names, get_family, is_flexible, is_reference

from .conftest import PREDICTORS

HGB = "hist_gradient_boosting"


def test_every_entry_builds_what_it_declares(dictionary) -> None:
    for name, spec in REGISTRY.items():
        assert spec.name == name and spec.display_name and spec.colour.startswith("#")
        if spec.task == "binary":
            model = make_pipeline(name, dictionary, PREDICTORS).named_steps["model"]
            assert family_of(model) == name
            assert spec.shap.name in SHAP_METHODS and spec.shap.units in ("log-odds", "probability")
            assert not spec.recalibrated or spec.shap.units == "log-odds"  # recalibration maps log-odds
            study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
            trial = study.ask()
            params = {p: d.suggest(trial, p) for p, d in spec.search_space.items()}
            assert set(params) <= set(model.get_params())  # every tuned name is a parameter of the estimator
        else:
            assert spec.survival_estimator is not None and spec.estimator is None
    binary = [s.colour for s in REGISTRY.values() if s.task == "binary"]
    assert len(set(binary)) == len(binary)
    assert [n for n in REGISTRY if is_reference(n)] == ["logistic", "weibull_aft"]
    assert sorted(FAMILIES) == family_names("binary")


def test_lookups_fall_back_for_unknown_families() -> None:
    assert display_name(HGB) == "HistGradientBoosting" and display_name("old_family") == "old family"
    assert colour("old_family", 1) == "#E69F00"
    assert is_flexible(HGB) and not is_flexible("elastic_net") and not is_flexible("old_family")
    with pytest.raises(ValueError, match="unknown model family 'weibull_aft'"):
        get_family("weibull_aft", "binary")


def test_config_accepts_registered_families_only() -> None:
    base = {"name": "t", "outcome": "c5_palsy", "predictors": {"include": ["age"]}}
    assert PipelineConfig.model_validate({**base, "families": [HGB]}).families == [HGB]
    with pytest.raises(ValueError, match="'gradient_boosting' \\(did you mean 'hist_gradient_boosting'\\?\\)"):
        PipelineConfig.model_validate({**base, "families": ["gradient_boosting"]})
    with pytest.raises(ValueError, match="unknown model family 'svm'"):
        PipelineConfig.model_validate({**base, "families": ["svm"]})
    with pytest.raises(ValueError, match="unknown model family 'logistic'"):
        PipelineConfig.model_validate({**base, "survival_families": ["logistic"]})


def test_hist_gradient_boosting_handles_missing_values_and_is_seeded(dictionary, cohort) -> None:
    X, y = cohort
    pipe = make_pipeline(HGB, dictionary, PREDICTORS, random_state=3)
    assert isinstance(pipe.named_steps["model"], HistGradientBoostingClassifier)
    assert pipe.named_steps["model"].early_stopping is False
    design = pipe.named_steps["preprocess"].fit_transform(X, y).to_numpy(dtype=float)
    design[::5, 0] = np.nan  # native missing-value support: no imputation needed by the estimator
    model = pipe.named_steps["model"].fit(design, y)
    assert np.all(np.isfinite(model.predict_proba(design)))


def test_hist_gradient_boosting_shap_is_additive_in_log_odds(dictionary, cohort) -> None:
    X, y = cohort
    pipe = make_pipeline(HGB, dictionary, PREDICTORS, random_state=0).fit(X, y)
    contrib = shap_contributions(pipe, X)
    assert contrib.units == "log-odds"
    # The independent reference: the estimator's own log-odds output.
    np.testing.assert_allclose(contrib.base + contrib.values.sum(axis=1), pipe.decision_function(X), atol=1e-8)
    assert set(contrib.values.columns) == set(PREDICTORS)
    calibrated = shap_contributions(pipe, X, calibration=(0.2, 0.5))
    np.testing.assert_allclose(
        calibrated.base + calibrated.values.sum(axis=1), 0.2 + 0.5 * pipe.decision_function(X), atol=1e-8
    )
    summary = summarise_shap(pipe, X)
    assert summary.units == "log-odds" and summary.additivity_max_error < 1e-6


def test_hist_gradient_boosting_is_tuned_and_recalibrated(dictionary, cohort) -> None:
    X, y = cohort
    tuned = TunedClassifier(
        HGB, dictionary, PREDICTORS, n_trials=2, inner_cv=2, random_state=0, calibration="logistic"
    ).fit(X, y)
    assert set(tuned.best_params_) == set(REGISTRY[HGB].search_space)
    assert tuned.study_summary_["calibration"]["method"].startswith("logistic recalibration")


@pytest.fixture(scope="module")
def hgb_result(tmp_path_factory: pytest.TempPathFactory):
    data = tmp_path_factory.mktemp("hgb-cohort")
    generate_cohort(data, n=400, seed=9)
    spec = {
        "name": "hgb_tiny",
        "outcome": "c5_palsy",
        "predictors": {"include": ["age", "sex", "diabetes", "approach", "planned_levels", "occupying_ratio"]},
        "spline_knots": 3,
        "families": ["logistic", HGB],
        "tuning": {"n_trials": 2, "inner_folds": 2},
        "validation": {"folds": 3, "bootstrap": {"replicates": 4}, "internal_external": False},
        "thresholds": [0.05, 0.1],
        "seed": 5,
    }
    path = data / "hgb_tiny.yaml"
    path.write_text(yaml.safe_dump(spec), encoding="utf-8")
    return run_pipeline(path, load_cohort(data))


def test_hist_gradient_boosting_in_the_experiment_bundle_and_report(hgb_result, tmp_path: Path) -> None:
    from spineoutcome.report import render_report

    record = hgb_result.evidence.families[HGB]
    assert record.shap["units"] == "log-odds" and record.optimism["method"] == "632plus"
    assert record.comparison_to_logistic is not None
    result = hgb_result
    result.evidence = replace(result.evidence, best_family=HGB)  # the bundle is built from the selected family
    bundle = build_bundle(result, ensemble_size=2)
    assert bundle.manifest["family"] == HGB
    assert isinstance(bundle.pipeline.named_steps["model"], HistGradientBoostingClassifier)
    assert bundle.manifest["explanation"]["method"] == REGISTRY[HGB].shap.description
    probability = bundle.predict(result.task.X.head(5))["probability"]
    assert probability.between(0, 1).all()
    pdf = render_report(result.evidence.to_dict(), tmp_path / "report.pdf", figures_dir=tmp_path / "figures")
    text = subprocess.run(["pdftotext", str(pdf), "-"], check=True, capture_output=True, text=True).stdout
    assert "HistGradientBoosting" in text
