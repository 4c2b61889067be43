"""Comparators in a run: evaluated on the analysed patients and the models' folds, against the selected
model's out-of-fold predictions; a score's risks refit by hand (statsmodels) in the same folds; a bad
comparator stops ``train`` and ``validate --pipeline`` before the first fit with exit code 3."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
from sklearn.metrics import roc_auc_score
from typer.testing import CliRunner

from spineoutcome.cli import EXIT_FILE_ERROR, app
from spineoutcome.config import PipelineConfig
from spineoutcome.experiment.plan import ExperimentPlan

from .conftest import write_pipeline

SPEC = {
    "name": "with_comparators",
    "outcome": "complication_any",
    "predictors": {"include": ["age", "planned_levels", "approach", "asa_class", "occupying_ratio"]},
    "families": ["logistic"],
    "tuning": {"n_trials": 0},
    "validation": {"folds": 3, "bootstrap": None, "internal_external": False},
    "thresholds": [0.1, 0.2],
    "comparators": [
        {
            "name": "age > 65 with multilevel surgery",
            "rule": "age > 65 and planned_levels >= 4",
            "source": "Kaye ID, et al. Eur Spine J 2015;24(12):2910-2917.",
        },
        {
            "name": "K-line (-)",
            "rule": "k_line == 'negative'",
            "source": "Fujiyoshi T, et al. Spine 2008;33:E990-E993.",
        },
        {"name": "BMI", "score": "bmi", "source": "no published anchor; a test score with missing values"},
    ],
}


@pytest.fixture(scope="module")
def result(run):
    return run(SPEC)


def test_comparators_use_the_analysed_patients_and_the_selected_models_predictions(result, cohort) -> None:
    record = result.evidence.comparators
    assert record["family"] == result.evidence.best_family == "logistic"
    rows = cohort.wide.loc[result.task.X.index]
    y = result.task.y
    by_name = {c["name"]: c for c in record["comparators"]}
    rule = by_name["age > 65 with multilevel surgery"]["result"]
    flagged = ((rows["age"] > 65) & (rows["planned_levels"] >= 4)).fillna(False).to_numpy(dtype=bool)
    assert rule["n"] == result.task.n and rule["n_events"] == result.task.events
    assert rule["share_flagged"]["value"] == pytest.approx(flagged.mean())
    assert rule["classification"][0]["tp"] == int(np.sum(flagged & (y == 1)))
    assert rule["auc"]["auc_b"]["value"] == pytest.approx(roc_auc_score(y, flagged))
    model_auc = result.evidence.families["logistic"].cross_validation["discrimination"]["auc"]["value"]
    assert rule["auc"]["auc_a"]["value"] == pytest.approx(model_auc)  # the same out-of-fold predictions
    k_line = by_name["K-line (-)"]  # k_line is not a predictor of this pipeline: read from the cohort
    assert k_line["result"]["share_flagged"]["value"] == pytest.approx((rows["k_line"] == "negative").mean())


def test_a_score_gets_out_of_fold_risks_from_a_one_variable_logistic_model_in_the_same_folds(result, cohort) -> None:
    rows = cohort.wide.loc[result.task.X.index]
    y = result.task.y
    bmi = rows["bmi"].astype(float).to_numpy()
    assert np.isnan(bmi).any()  # the synthetic cohort leaves BMI unrecorded for some patients
    plan = ExperimentPlan.build(PipelineConfig.model_validate(SPEC), result.task)
    risks = np.full(y.size, np.nan)
    for split in plan.cv:
        train = bmi[split.train]
        median = np.nanmedian(train)
        design = lambda v, m=median: np.column_stack(  # noqa: E731 - the design of the reference fit
            [np.ones(v.size), np.where(np.isnan(v), m, v), np.isnan(v).astype(float)]
        )
        fit = sm.Logit(y[split.train], design(train)).fit(disp=0)
        risks[split.test] = fit.predict(design(bmi[split.test]))
    score = next(c for c in result.evidence.comparators["comparators"] if c["name"] == "BMI")["result"]
    assert score["n_missing"] == int(np.isnan(bmi).sum())
    for row in score["net_benefit"]:
        t = row["threshold"]
        treated = risks >= t
        expected = (np.sum(treated & (y == 1)) - np.sum(treated & (y == 0)) * t / (1 - t)) / y.size
        assert row["comparator"] == pytest.approx(expected, abs=1e-9)
    assert score["auc"]["auc_b"]["value"] == pytest.approx(roc_auc_score(y[~np.isnan(bmi)], bmi[~np.isnan(bmi)]))


BAD = {
    **SPEC,
    "name": "bad_comparator",
    "comparators": [{"name": "K-line (-)", "rule": "k_line == 'neg'", "source": "Fujiyoshi T, et al. Spine 2008."}],
}


def _flat(text: str) -> str:
    return "".join(text.split())


def test_a_bad_comparator_stops_train_and_validate_with_exit_3(tmp_path: Path, synth) -> None:
    path = write_pipeline(tmp_path, BAD)
    expected = _flat("comparators: 'K-line (-)' (rule): \"'neg'\": not a category of k_line")
    trained = CliRunner().invoke(
        app, ["train", str(path), "--data", str(synth.path), "--out", str(tmp_path / "runs"), "--no-mlflow"]
    )
    assert trained.exit_code == EXIT_FILE_ERROR
    assert expected in _flat(trained.output) and path.name in _flat(trained.output)
    assert "Traceback" not in trained.output
    assert not (tmp_path / "runs").exists()  # stopped before the first fit
    validated = CliRunner().invoke(
        app, ["validate", str(synth.path), "--pipeline", str(path), "--out", str(tmp_path / "validated")]
    )
    assert validated.exit_code == EXIT_FILE_ERROR
    assert expected in _flat(validated.output)


def test_a_comparator_whose_variable_has_no_values_is_reported_as_not_evaluated(result, cohort) -> None:
    from types import SimpleNamespace

    from spineoutcome.experiment.comparators import evaluate_comparators

    config = PipelineConfig.model_validate(SPEC)
    without = SimpleNamespace(wide=cohort.wide.assign(k_line=pd.NA), dictionary=cohort.dictionary)
    plan = ExperimentPlan.build(config, result.task)
    p_model = np.full(result.task.n, result.task.events / result.task.n)
    record = evaluate_comparators(config, without, result.task, plan.cv, p_model, "logistic")
    by_name = {c["name"]: c for c in record["comparators"]}
    assert by_name["K-line (-)"]["not_evaluated"] == "no values of k_line in the analysed data"
    assert "result" not in by_name["K-line (-)"] and "result" in by_name["BMI"]
