"""One small synthetic cohort for the experiment-engine tests, generated and loaded once per session.

The generator's exports are edited before loading, so that the tests can see what they need:

- ``radiomics.csv`` keeps its patients but its features are replaced by ``N_NOISE`` columns of pure
  Gaussian noise, named like PyRadiomics features (``original_firstorder_NoiseNN``, matched by the
  dictionary's radiomics pattern). A pipeline with ``groups: [radiomics]`` therefore has predictors
  that carry no information about any outcome.
- ``clinical.csv`` gets one extra patient whose age is out of range: it must be rejected at
  validation and still be accounted for in the participant flow (and never appear in Evidence).

Pipelines are written into a temporary folder with :func:`write_pipeline`; budgets are tiny (2-3
Optuna trials, 3 folds, 5-40 bootstrap replicates) so the whole suite stays fast.
"""

from __future__ import annotations

import csv
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import yaml

from spineoutcome.api import load_cohort, run_pipeline
from spineoutcome.data.cohort import Cohort
from spineoutcome.data.synth import generate_cohort
from spineoutcome.experiment import ExperimentResult

N_PATIENTS = 800
SEED = 3
N_NOISE = 40
NOISE_COLUMNS = [f"original_firstorder_Noise{i:02d}" for i in range(1, N_NOISE + 1)]
REJECTED_KEY = "P09999999"
TABLES = ["clinical", "proms", "imaging", "radiomics", "complications", "neuro_exam", "ct_followup", "truth"]

# The reference pipeline: eligibility restricts to OPLL, the outcome rule excludes patients without
# a 12-month mJOA, a tuned family and the reference family, bootstrap and internal-external validation.
REFERENCE = {
    "name": "reference",
    "outcome": "mcid_mjoa_12m",
    "eligibility": {"diagnosis": ["OPLL"]},
    "predictors": {
        "include": [
            "age",
            "sex",
            "diabetes",
            "approach",
            "planned_levels",
            "occupying_ratio",
            "k_line",
            "mjoa_baseline",
            "ndi_baseline",
        ]
    },
    "spline_knots": 3,
    "families": ["logistic", "xgboost"],
    "tuning": {"n_trials": 2, "inner_folds": 2},
    "validation": {
        "folds": 3,
        "repeats": 1,
        "bootstrap": {"replicates": 10},
        "internal_external": True,
        "min_centre_events": 23,
    },
    "thresholds": [0.3, 0.5],
    "subgroups": {"variables": ["sex"], "min_events": 10},
    "seed": 11,
}


@dataclass(frozen=True)
class SynthCohort:
    """The edited exports' folder and the loaded cohort."""

    path: Path
    cohort: Cohort
    patient_keys: list[str]


def write_pipeline(directory: Path, spec: dict[str, Any], name: str | None = None) -> Path:
    """Write ``spec`` as a pipeline YAML into ``directory``; returns the path."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{name or spec['name']}.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False), encoding="utf-8")
    return path


def _replace_radiomics_with_noise(path: Path, seed: int) -> None:
    radiomics = pd.read_csv(path / "radiomics.csv", dtype={"patient_id": str})
    rng = np.random.default_rng(seed)
    noise = pd.DataFrame(rng.normal(0.0, 1.0, (len(radiomics), N_NOISE)).round(5), columns=NOISE_COLUMNS)
    pd.concat([radiomics[["patient_id"]], noise], axis=1).to_csv(path / "radiomics.csv", index=False)


def _append_invalid_patient(path: Path) -> None:
    with open(path / "clinical.csv", newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    bad = dict(rows[0], patient_id=REJECTED_KEY, age="250")
    with open(path / "clinical.csv", "a", newline="", encoding="utf-8") as fh:
        csv.DictWriter(fh, fieldnames=list(rows[0])).writerow(bad)


@pytest.fixture(scope="session")
def synth(tmp_path_factory: pytest.TempPathFactory) -> SynthCohort:
    path = tmp_path_factory.mktemp("synthetic")
    generate_cohort(path, n=N_PATIENTS, seed=SEED, tables=TABLES)
    _replace_radiomics_with_noise(path, seed=SEED)
    _append_invalid_patient(path)
    keys = pd.read_csv(path / "clinical.csv", dtype={"patient_id": str})["patient_id"].tolist()
    return SynthCohort(path, load_cohort(path), keys)


@pytest.fixture(scope="session")
def cohort(synth: SynthCohort) -> Cohort:
    return synth.cohort


@pytest.fixture(scope="session")
def pipeline_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("pipelines")


@pytest.fixture(scope="session")
def run(cohort: Cohort, pipeline_dir: Path) -> Callable[..., ExperimentResult]:
    """``run(spec, name=None)``: write the pipeline and run it on the session cohort."""

    def _run(spec: dict[str, Any], name: str | None = None) -> ExperimentResult:
        return run_pipeline(write_pipeline(pipeline_dir, spec, name), cohort)

    return _run


@pytest.fixture(scope="session")
def reference_run(run: Callable[..., ExperimentResult]) -> ExperimentResult:
    return run(REFERENCE)
