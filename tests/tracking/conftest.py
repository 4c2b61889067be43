"""One tiny experiment, logged twice to a temporary SQLite tracking store, shared by the session.

The experiment: the shipped C5 palsy pipeline with two families (logistic, XGBoost) and tiny
budgets (2 Optuna trials, 3 folds, 10 bootstrap replicates) on a 500-patient synthetic cohort.

The store gets two runs of it: the first with lenient gates (its model version becomes
``@champion``), the second with strict gates (registered, not promoted; the alias stays on the
first version). The store lives in its own folder, apart from the exports, so a scan of that
folder sees MLflow's files only.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pytest
import yaml

from spineoutcome.api import load_cohort, run_pipeline
from spineoutcome.bundle import Gates
from spineoutcome.data.synth import generate_cohort
from spineoutcome.dictionary import builtin_pipelines_dir
from spineoutcome.experiment import ExperimentResult
from spineoutcome.tracking import log_run

ENSEMBLE_SIZE = 5
LENIENT = Gates(calibration_slope=(0.0, 10.0), max_ici=1.0, min_gain_over_rules=None)
STRICT = Gates(calibration_slope=(0.99, 1.01), max_ici=1e-4, basis="point")


def tiny_pipeline(directory: Path) -> Path:
    """The shipped c5_palsy pipeline with test-sized budgets, written into ``directory``."""
    spec = yaml.safe_load((builtin_pipelines_dir() / "c5_palsy.yaml").read_text(encoding="utf-8"))
    spec.update(families=["logistic", "xgboost"], tuning={"n_trials": 2, "inner_folds": 3})
    spec["validation"].update(
        folds=3, bootstrap={"replicates": 10, "mode": "fixed_hyperparameters"}, min_centre_events=5
    )
    path = directory / "c5_palsy_tiny.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False), encoding="utf-8")
    return path


@dataclass(frozen=True)
class Experiment:
    data: Path
    pipeline: Path
    result: ExperimentResult
    patient_keys: list[str]


@dataclass(frozen=True)
class Store:
    """A tracking store holding the champion run and the strict-gates run of :class:`Experiment`."""

    directory: Path
    uri: str
    champion_run: str
    rejected_run: str


@pytest.fixture(scope="session")
def experiment(tmp_path_factory: pytest.TempPathFactory) -> Experiment:
    data = tmp_path_factory.mktemp("exports")
    generate_cohort(data, n=500, seed=3)
    pipeline = tiny_pipeline(tmp_path_factory.mktemp("pipelines"))
    result = run_pipeline(pipeline, load_cohort(data))
    keys = pd.read_csv(data / "clinical.csv", dtype=str)["patient_id"].tolist()
    return Experiment(data, pipeline, result, keys)


@pytest.fixture(scope="session")
def store(experiment: Experiment, tmp_path_factory: pytest.TempPathFactory) -> Store:
    directory = tmp_path_factory.mktemp("store")
    uri = f"sqlite:///{directory / 'mlruns.db'}"
    run_dir = tmp_path_factory.mktemp("run_dir")
    (run_dir / "figures").mkdir()
    (run_dir / "figures" / "calibration.png").write_bytes(b"\x89PNG\r\n\x1a\n")
    (run_dir / "report.pdf").write_bytes(b"%PDF-1.7\n")
    (run_dir / "predictions.csv").write_text("patient_id,p\nP00000001,0.1\n", encoding="utf-8")
    # MLflow puts a SQLite store's artifacts in ./mlruns of the working directory.
    with contextlib.chdir(directory):
        champion = log_run(
            experiment.result, tracking_uri=uri, gates=LENIENT, artifacts_dir=run_dir, ensemble_size=ENSEMBLE_SIZE
        )
        rejected = log_run(experiment.result, tracking_uri=uri, gates=STRICT, ensemble_size=ENSEMBLE_SIZE)
    return Store(directory, uri, champion, rejected)


def raw_export_rows(result: ExperimentResult, data: Path) -> pd.DataFrame:
    """The analysed patients' predictors as export text, with their key: clinical and imaging columns
    exactly as in the CSV files, the derived PROM total written as text."""
    X = result.task.X
    text = [
        pd.read_csv(data / f"{table}.csv", dtype=str, keep_default_na=False).set_index("patient_id")
        for table in ("clinical", "imaging")
    ]
    wide = pd.concat(text, axis=1)
    exported = [c for c in X.columns if c in wide.columns]
    rows = wide.loc[X.index, exported].copy()
    for column in X.columns.difference(exported):
        rows[column] = X[column].map(lambda v: "" if pd.isna(v) else repr(float(v)))
    rows = rows[list(X.columns)]
    rows.index.name = "patient_id"
    return rows
