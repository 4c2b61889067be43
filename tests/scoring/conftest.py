"""One tiny experiment, logged to a temporary MLflow store as two model versions, and a hospital export.

- The experiment: C5 palsy from clinical and imaging predictors (one wide hospital export holds
  them all), families logistic and XGBoost, test-sized budgets, on a 600-patient synthetic cohort.
- The store: version 1 = the run's selected family with lenient gates (so it becomes
  ``@champion``), version 2 = the XGBoost family of the same run. Both with 5 bootstrap refits.
- The export: the synthetic clinical and imaging exports joined on the patient key, as text.
"""

from __future__ import annotations

import contextlib
import dataclasses
from dataclasses import dataclass
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import pytest
import yaml

from spineoutcome.api import load_cohort, run_pipeline
from spineoutcome.bundle import Gates
from spineoutcome.data.synth import generate_cohort
from spineoutcome.experiment import ExperimentResult
from spineoutcome.tracking import log_run

ENSEMBLE_SIZE = 5
LENIENT = Gates(calibration_slope=(0.0, 10.0), max_ici=1.0)
PREDICTORS = [
    "age",
    "sex",
    "bmi",
    "diabetes",
    "diagnosis",
    "approach",
    "planned_levels",
    "deltoid_mmt_pre_left",
    "deltoid_mmt_pre_right",
    "c1_c3_involvement",
    "c45_foraminal_stenosis",
    "occupying_ratio",
    "k_line",
    "t2_high_signal",
]
PIPELINE = {
    "name": "c5_palsy",
    "description": "Risk of C5 palsy within 21 days after surgery for OPLL or degenerative cervical myelopathy.",
    "outcome": "c5_palsy",
    "predictors": {"include": PREDICTORS},
    "spline_knots": 3,
    "families": ["logistic", "xgboost"],
    "tuning": {"n_trials": 2, "inner_folds": 2, "metric": "neg_log_loss"},
    "validation": {"folds": 3, "repeats": 1, "bootstrap": None, "internal_external": False},
    "thresholds": [0.05, 0.10, 0.20],
    "subgroups": {"variables": ["sex", "age_group", "centre", "approach"], "min_events": 5},
    "seed": 2026,
}


@dataclass(frozen=True)
class Store:
    """The tracking store and what is in it."""

    directory: Path
    uri: str
    selected_family: str
    result: ExperimentResult


@dataclass(frozen=True)
class Hospital:
    """The synthetic exports and the joined one-row-per-patient export (text)."""

    data: Path
    export: pd.DataFrame
    csv: Path


@pytest.fixture(scope="session")
def hospital(tmp_path_factory: pytest.TempPathFactory) -> Hospital:
    data = tmp_path_factory.mktemp("exports")
    generate_cohort(
        data, n=600, seed=21, tables=["clinical", "imaging", "proms", "neuro_exam", "complications", "ct_followup"]
    )
    clinical = pd.read_csv(data / "clinical.csv", dtype=str, keep_default_na=False)
    imaging = pd.read_csv(data / "imaging.csv", dtype=str, keep_default_na=False)
    export = clinical.merge(imaging, on="patient_id", how="left").fillna("")
    path = tmp_path_factory.mktemp("hospital") / "preop.csv"
    export.to_csv(path, index=False)
    return Hospital(data, export, path)


@pytest.fixture(scope="session")
def store(hospital: Hospital, tmp_path_factory: pytest.TempPathFactory) -> Store:
    pipeline = tmp_path_factory.mktemp("pipelines") / "c5_palsy_scoring.yaml"
    pipeline.write_text(yaml.safe_dump(PIPELINE, sort_keys=False), encoding="utf-8")
    result = run_pipeline(pipeline, load_cohort(hospital.data))
    directory = tmp_path_factory.mktemp("store")
    uri = f"sqlite:///{directory / 'mlruns.db'}"
    other = "xgboost" if result.evidence.best_family != "xgboost" else "logistic"
    second = ExperimentResult(dataclasses.replace(result.evidence, best_family=other), result.models, result.task)
    with contextlib.chdir(directory):
        log_run(result, tracking_uri=uri, gates=LENIENT, ensemble_size=ENSEMBLE_SIZE)
        log_run(
            second,
            tracking_uri=uri,
            gates=Gates(calibration_slope=(0.99, 1.01), max_ici=1e-6, basis="point"),
            ensemble_size=ENSEMBLE_SIZE,
        )
    mlflow.set_tracking_uri(uri)
    return Store(directory, uri, result.evidence.best_family, result)


@pytest.fixture(scope="session")
def versions(store: Store) -> dict[str, str]:
    """Family -> model URI."""
    other = "xgboost" if store.selected_family != "xgboost" else "logistic"
    return {store.selected_family: "models:/c5_palsy/1", other: "models:/c5_palsy/2"}


def write_csv(frame: pd.DataFrame, path: Path, **kwargs: object) -> Path:
    frame.to_csv(path, index=False, **kwargs)
    return path


NUMBERS = ("probability", "band_low", "band_high", "mahalanobis")


def assert_scores_equal(left: pd.DataFrame, right: pd.DataFrame) -> None:
    """Scores files (read as text) equal: text exactly, numbers to 1e-13 (a BLAS product may round the
    last bit differently for another batch size)."""
    numbers = [c for c in left.columns if c.endswith(NUMBERS)]
    for column in numbers:
        a = pd.to_numeric(left[column].replace("", "nan")).to_numpy()
        b = pd.to_numeric(right[column].replace("", "nan")).to_numpy()
        np.testing.assert_allclose(a, b, rtol=1e-13, atol=0, equal_nan=True, err_msg=column)
    pd.testing.assert_frame_equal(left.drop(columns=numbers), right.drop(columns=numbers))
