"""The time-to-event pipeline (interval-censored OPLL progression) on a small cohort."""

from __future__ import annotations

import json

import numpy as np
import pytest

from spineoutcome.api import run_pipeline

from .conftest import write_pipeline
from .test_reproducibility_and_splits import differences, scrub

SURVIVAL = {
    "name": "progression_time_small",
    "outcome": "progression_time",
    "eligibility": {"diagnosis": ["OPLL"]},
    "predictors": {
        "include": [
            "age",
            "sex",
            "diabetes",
            "bmi",
            "approach",
            "opll_type",
            "ossified_levels",
            "opll_max_thickness_mm",
            "occupying_ratio",
        ]
    },
    "families": [],
    "survival_families": ["weibull_aft", "xgboost_aft"],
    "horizon_days": 730,
    "validation": {"folds": 3, "repeats": 1, "bootstrap": None, "internal_external": False},
    "subgroups": {"variables": ["sex"], "min_events": 10},
    "seed": 4,
}


@pytest.fixture(scope="module")
def survival_run(run):
    return run(SURVIVAL)


def test_survival_task_is_interval_censored_on_eligible_patients(survival_run):
    task = survival_run.task
    assert task.labels.kind == "interval_censored"
    assert 0 < task.events < task.n
    assert survival_run.evidence.task["kind"] == "interval_censored"
    assert set(survival_run.evidence.families) == set(SURVIVAL["survival_families"])


def test_harrell_c_is_informative_for_at_least_one_family(survival_run):
    records = {f: r.cross_validation["harrell_c"] for f, r in survival_run.evidence.families.items()}
    c = {f: r["value"] for f, r in records.items()}
    for record in records.values():
        assert 0.0 <= record["ci_low"] <= record["value"] <= record["ci_high"] <= 1.0, record
    assert any(0.5 < v < 1.0 for v in c.values()), c
    assert survival_run.evidence.best_family == max(c, key=c.get)


@pytest.mark.parametrize("family", SURVIVAL["survival_families"])
def test_calibration_at_horizon_accounts_for_every_patient(survival_run, family):
    record = survival_run.evidence.families[family].cross_validation
    assert record["horizon_days"] == SURVIVAL["horizon_days"]
    table = record["calibration_at_horizon"]
    assert len(table) >= 2
    assert sum(row["n"] for row in table) == survival_run.task.n
    for row in table:
        assert 0.0 <= row["predicted"] <= 1.0 and 0.0 <= row["observed"] <= 1.0
    predicted = [row["predicted"] for row in table]
    assert predicted == sorted(predicted)  # groups are fifths of predicted risk, in order


def test_survival_evidence_is_strict_json(survival_run):
    json.dumps(survival_run.evidence.to_dict(), allow_nan=False)
    assert np.isfinite(survival_run.evidence.timings["total"])


def test_two_jobs_give_the_survival_evidence_of_one(survival_run, cohort, pipeline_dir):
    events = []
    parallel = run_pipeline(
        write_pipeline(pipeline_dir, SURVIVAL, "survival_jobs2"), cohort, jobs=2, progress=events.append
    )
    first, second = scrub(survival_run.evidence.to_dict()), scrub(parallel.evidence.to_dict())
    assert first == second, differences(first, second)
    folds = SURVIVAL["validation"]["folds"]
    fits = [e for e in events if e.stage in ("cv", "final")]
    assert sorted(str(e) for e in fits) == sorted(
        [f"{f}: CV fold {k} of {folds}" for f in SURVIVAL["survival_families"] for k in range(1, folds + 1)]
        + [f"{f}: final model on all patients" for f in SURVIVAL["survival_families"]]
    )
    assert [e.done for e in events] == list(range(1, len(events) + 1)) and events[-1].done == events[-1].total
