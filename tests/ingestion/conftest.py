"""A small scoring model for the corpus: one logistic family on clinical predictors, built in memory."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from spineoutcome.api import load_cohort, run_pipeline
from spineoutcome.bundle.build import build_bundle
from spineoutcome.bundle.integrity import Verification
from spineoutcome.data.synth import generate_cohort
from spineoutcome.scoring.model import ScoringModel

PIPELINE = {
    "name": "c5_palsy",
    "description": "C5 palsy from clinical predictors (a small model for the fault corpus).",
    "outcome": "c5_palsy",
    "predictors": {
        "include": ["age", "sex", "bmi", "diabetes", "asa_class", "diagnosis", "approach", "planned_levels"]
    },
    "spline_knots": 3,
    "families": ["logistic"],
    "tuning": {"n_trials": 1, "inner_folds": 2, "metric": "neg_log_loss"},
    "validation": {"folds": 2, "repeats": 1, "bootstrap": None, "internal_external": False},
    "thresholds": [0.05, 0.10, 0.20],
    "subgroups": {"variables": ["sex"], "min_events": 5},
    "seed": 7,
}


@pytest.fixture(scope="session")
def scoring_model(tmp_path_factory: pytest.TempPathFactory) -> ScoringModel:
    data: Path = tmp_path_factory.mktemp("model_data")
    generate_cohort(data, n=400, seed=11, tables=["clinical", "neuro_exam"])
    pipeline = tmp_path_factory.mktemp("model_pipeline") / "c5_palsy.yaml"
    pipeline.write_text(yaml.safe_dump(PIPELINE, sort_keys=False), encoding="utf-8")
    result = run_pipeline(pipeline, load_cohort(data))
    bundle = build_bundle(result, ensemble_size=2)
    return ScoringModel("memory:corpus", bundle, tuple(PIPELINE["thresholds"]), Verification(digest="", source=None))
