"""Two synthetic worlds: a small C5 palsy model developed on one (seed 1), a new site from another (seed 2).

The model (logistic regression, test-sized budgets, 5 bootstrap refits) is logged to a temporary
MLflow store as version 1 of ``c5_palsy``.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from pathlib import Path

import mlflow
import pytest
import yaml

from spineoutcome.api import load_cohort, run_pipeline
from spineoutcome.bundle import Gates
from spineoutcome.data.synth import generate_cohort
from spineoutcome.experiment import ExperimentResult
from spineoutcome.tracking import log_run

PIPELINE = {
    "name": "c5_palsy",
    "description": "Risk of C5 palsy within 21 days after surgery.",
    "outcome": "c5_palsy",
    "predictors": {
        "include": [
            "age",
            "sex",
            "diabetes",
            "approach",
            "planned_levels",
            "deltoid_mmt_pre_left",
            "c1_c3_involvement",
            "c45_foraminal_stenosis",
            "occupying_ratio",
        ]
    },
    "spline_knots": 3,
    "families": ["logistic"],
    "tuning": {"n_trials": 1, "inner_folds": 2, "metric": "neg_log_loss"},
    "validation": {"folds": 3, "repeats": 1, "bootstrap": None, "internal_external": False},
    "thresholds": [0.05, 0.10],
    "subgroups": {"variables": ["sex", "age_group"], "min_events": 5},
    "seed": 2026,
}
TABLES = ["clinical", "imaging", "neuro_exam"]


@dataclass(frozen=True)
class World:
    development: Path
    site: Path
    uri: str
    model: str
    result: ExperimentResult


@pytest.fixture(scope="session")
def world(tmp_path_factory: pytest.TempPathFactory) -> World:
    root = tmp_path_factory.mktemp("lifecycle")
    development, site = root / "development", root / "site"
    generate_cohort(development, n=900, seed=1, tables=TABLES)
    generate_cohort(site, n=900, seed=2, tables=TABLES)
    pipeline = root / "c5_palsy.yaml"
    pipeline.write_text(yaml.safe_dump(PIPELINE, sort_keys=False), encoding="utf-8")
    result = run_pipeline(pipeline, load_cohort(development))
    uri = f"sqlite:///{root / 'mlruns.db'}"
    with contextlib.chdir(root):
        log_run(result, tracking_uri=uri, gates=Gates(calibration_slope=(0.0, 10.0), max_ici=1.0), ensemble_size=5)
    mlflow.set_tracking_uri(uri)
    return World(development, site, uri, "models:/c5_palsy/1", result)
