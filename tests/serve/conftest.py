"""Two tiny models in a temporary MLflow store, served by the app: C5 palsy and any complication.

- C5 palsy and any complication: logistic regression (restricted cubic splines), both on one
  500-patient synthetic cohort, test-sized budgets, 5 bootstrap refits, each registered as version 1.
- ``URIS``: the two registered versions, as the server is given them.
- ``patients``: the cohort's clinical and imaging exports joined on the patient key, as text.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import mlflow
import pandas as pd
import pytest
import uvicorn
import yaml

from spineoutcome.api import load_cohort, run_pipeline
from spineoutcome.bundle import Gates
from spineoutcome.data.synth import generate_cohort
from spineoutcome.tracking import log_run

ENSEMBLE_SIZE = 5
LENIENT = Gates(calibration_slope=(0.0, 10.0), max_ici=1.0)
C5_PREDICTORS = [
    "age",
    "sex",
    "diabetes",
    "diagnosis",
    "approach",
    "planned_levels",
    "deltoid_mmt_pre_left",
    "deltoid_mmt_pre_right",
    "c1_c3_involvement",
    "c45_foraminal_stenosis",
    "occupying_ratio",
]
COMPLICATION_PREDICTORS = [
    "age",
    "sex",
    "bmi",
    "smoking",
    "diabetes",
    "asa_class",
    "approach",
    "planned_levels",
    "k_line",
    "occupying_ratio",
]
COMMON = {
    "spline_knots": 3,
    "tuning": {"n_trials": 2, "inner_folds": 2, "metric": "neg_log_loss"},
    "validation": {"folds": 3, "repeats": 1, "bootstrap": None, "internal_external": False},
    "subgroups": {"variables": ["sex", "age_group", "approach"], "min_events": 5},
    "seed": 2026,
}
PIPELINES = {
    "c5_palsy": {
        "name": "c5_palsy",
        "description": "Risk of C5 palsy within 21 days after surgery.",
        "outcome": "c5_palsy",
        "predictors": {"include": C5_PREDICTORS},
        "families": ["logistic"],
        "thresholds": [0.05, 0.10, 0.20],
        **COMMON,
    },
    "complication_any": {
        "name": "complication_any",
        "description": "Risk of any complication within 90 days.",
        "outcome": "complication_any",
        "predictors": {"include": COMPLICATION_PREDICTORS},
        "families": ["logistic"],
        "thresholds": [0.10, 0.20, 0.30],
        **COMMON,
    },
}
URIS = ["models:/c5_palsy/1", "models:/complication_any/1"]


@dataclass(frozen=True)
class Store:
    """The tracking store, the exports and the patients (export text, one row per patient)."""

    directory: Path
    uri: str
    data: Path
    patients: pd.DataFrame


def build_store(root: Path) -> Store:
    """Generate the cohort, train both models and log them to a SQLite store under ``root``."""
    data, directory, pipelines = root / "exports", root / "store", root / "pipelines"
    for folder in (data, directory, pipelines):
        folder.mkdir(parents=True, exist_ok=True)
    generate_cohort(
        data, n=500, seed=19, tables=["clinical", "imaging", "proms", "neuro_exam", "complications", "ct_followup"]
    )
    cohort = load_cohort(data)
    uri = f"sqlite:///{directory / 'mlruns.db'}"
    for name, spec in PIPELINES.items():
        path = pipelines / f"{name}.yaml"
        path.write_text(yaml.safe_dump(spec, sort_keys=False), encoding="utf-8")
        result = run_pipeline(path, cohort)
        with contextlib.chdir(directory):  # a SQLite store keeps its artifacts in ./mlruns
            log_run(result, tracking_uri=uri, gates=LENIENT, ensemble_size=ENSEMBLE_SIZE)
    mlflow.set_tracking_uri(uri)
    clinical = pd.read_csv(data / "clinical.csv", dtype=str, keep_default_na=False)
    imaging = pd.read_csv(data / "imaging.csv", dtype=str, keep_default_na=False)
    patients = clinical.merge(imaging, on="patient_id", how="left").fillna("")
    return Store(directory, uri, data, patients)


@pytest.fixture(scope="session")
def store(tmp_path_factory: pytest.TempPathFactory) -> Store:
    return build_store(tmp_path_factory.mktemp("serve"))


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextlib.contextmanager
def running(app: object) -> Iterator[str]:
    """``app`` served by uvicorn on a free loopback port in a thread; yields its base URL."""
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=free_port(), access_log=False, log_config=None, lifespan="off")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{server.config.port}"
    finally:
        server.should_exit = True
        thread.join(30)
