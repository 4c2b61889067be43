"""The experiment plan on Spark (local mode, two task slots) through joblib's Spark backend gives the
Evidence of one process, fit for fit, and reports progress while it runs."""

from __future__ import annotations

from pathlib import Path

import pytest

from spineoutcome.api import run_pipeline
from spineoutcome.data.cohort import Cohort
from spineoutcome.experiment import ExperimentResult
from spineoutcome.progress import ProgressEvent
from tests.experiment.test_reproducibility_and_splits import differences, scrub

from .conftest import tiny_pipeline

pytestmark = pytest.mark.slow


def test_spark_backend_gives_the_single_process_evidence(
    spark, cohort: Cohort, experiment: ExperimentResult, tmp_path: Path
) -> None:
    events: list[ProgressEvent] = []
    result = run_pipeline(tiny_pipeline(tmp_path), cohort, jobs=2, backend="spark", progress=events.append)
    first, second = scrub(experiment.evidence.to_dict()), scrub(result.evidence.to_dict())
    assert first == second, differences(first, second)
    assert first["families"]["xgboost"]["optimism"]["replicates"] == 5
    # Spark returns a phase's results together; the count of finished fits arrives while they run
    counts = [e for e in events if "finished on Spark" in str(e)]
    assert counts and events[-1].done == events[-1].total
    assert [e.done for e in events] == sorted(e.done for e in events)
    X = experiment.task.X
    for family, model in experiment.models.items():
        assert (model.predict_proba(X) == result.models[family].predict_proba(X)).all()
