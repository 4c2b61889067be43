"""``jobs`` changes who runs the plan's fits, never the Evidence; progress counts the whole plan.

The reference pipeline (two families, tuned XGBoost, optimism bootstrap, internal-external folds) is
run again with two worker processes and must give the session's single-process Evidence number for
number. A second, smaller pipeline tunes into one SQLite Optuna storage from two workers at once:
every fit gets its own study, the one the distributed tuning workers would name, each at its budget.
The bootstrap replicates' predictions reach the engine as an R x n matrix (a NaN row for a replicate
that could not be fit), and the optimism is checked by hand against scikit-learn's weighted AUC.
"""

from __future__ import annotations

import numpy as np
import optuna
import pytest
from optuna.trial import TrialState
from sklearn.metrics import roc_auc_score

from spineoutcome.api import run_pipeline
from spineoutcome.config import load_pipeline
from spineoutcome.distributed import tuning_plan
from spineoutcome.experiment import ExperimentPlan, prepare_task
from spineoutcome.experiment.executor import BackendError, FitResult, PlanResults, execute_plan
from spineoutcome.experiment.validation import optimism_correction, replicate_metrics
from spineoutcome.progress import ProgressEvent

from .conftest import REFERENCE, write_pipeline
from .test_reproducibility_and_splits import differences, scrub

TEMPORAL = {
    **REFERENCE,
    "name": "parallel_temporal",
    "families": ["xgboost"],
    "validation": {
        "folds": 2,
        "repeats": 1,
        "bootstrap": None,
        "internal_external": False,
        "temporal_split": "2019-01-01",
    },
    "subgroups": {"variables": [], "min_events": 10},
}


@pytest.fixture(scope="module")
def parallel_run(cohort, pipeline_dir):
    events: list[ProgressEvent] = []
    result = run_pipeline(
        write_pipeline(pipeline_dir, REFERENCE, "reference_jobs2"), cohort, jobs=2, progress=events.append
    )
    return result, events


def test_two_jobs_give_the_evidence_of_one(reference_run, parallel_run):
    first = scrub(reference_run.evidence.to_dict())
    second = scrub(parallel_run[0].evidence.to_dict())
    assert first == second, differences(first, second)
    assert first["families"]["xgboost"]["optimism"]["replicates"] == REFERENCE["validation"]["bootstrap"]["replicates"]
    assert len(first["families"]["xgboost"]["internal_external"]["heterogeneity"]["centres"]) >= 2
    # the final models came back from the workers whole: they predict as the single-process ones do
    X = reference_run.task.X
    for family in REFERENCE["families"]:
        assert (reference_run.models[family].predict_proba(X) == parallel_run[0].models[family].predict_proba(X)).all()


def test_progress_counts_every_fit_of_the_plan_then_each_later_step(parallel_run, cohort, pipeline_dir):
    result, events = parallel_run
    config = load_pipeline(write_pipeline(pipeline_dir, REFERENCE, "reference_jobs2"))
    plan = ExperimentPlan.build(config, prepare_task(config, cohort))
    families = REFERENCE["families"]
    later = len(families) + 1  # each family's evaluation and SHAP, then comparison and selection
    assert [e.done for e in events] == list(range(1, len(plan.fits) + later + 1))
    assert {e.total for e in events} == {len(plan.fits) + later}
    assert {e.pipeline for e in events} == {"reference"}
    fits = events[: len(plan.fits)]
    assert sorted((e.family, e.stage) for e in fits) == sorted((f.family, f.stage) for f in plan.fits)
    folds = REFERENCE["validation"]["folds"]
    for family in families:
        assert {str(e) for e in fits if e.family == family and e.stage == "cv"} == {
            f"{family}: CV fold {k} of {folds}" for k in range(1, folds + 1)
        }
        assert f"{family}: bootstrap 10 of 10" in {str(e) for e in fits}
    # the bootstrap refits take their final model's settings, so they come after it
    for family in families:
        stages = [e.stage for e in fits if e.family == family]
        assert stages.index("final") < min(i for i, s in enumerate(stages) if s == "bootstrap")
    later_events = events[len(plan.fits) :]
    assert [e.stage for e in later_events] == ["shap"] * len(families) + ["evaluation"]
    assert sorted(e.family for e in later_events[:-1]) == sorted(families)


def test_parallel_tuning_in_one_sqlite_storage_gives_each_fit_its_own_study(cohort, pipeline_dir, tmp_path, run):
    path = write_pipeline(pipeline_dir, TEMPORAL)
    storage = f"sqlite:///{tmp_path / 'optuna.db'}"
    parallel = run_pipeline(path, cohort, jobs=2, optuna_storage=storage)
    config = load_pipeline(path)
    _, plan = tuning_plan(config, cohort)
    expected = {fit.study_name(prepare_task(config, cohort)) for fit in plan}
    assert {fit.stage for fit in plan} == {"cv", "final", "temporal"} and len(expected) == len(plan) == 4
    assert set(optuna.get_all_study_names(storage)) == expected
    for name in expected:
        trials = optuna.load_study(study_name=name, storage=storage).get_trials(deepcopy=False)
        assert [t.state for t in trials].count(TrialState.COMPLETE) + [t.state for t in trials].count(
            TrialState.PRUNED
        ) == REFERENCE["tuning"]["n_trials"]
    # in memory and one process: the same numbers (the storage only keeps the studies)
    single = without_storage(scrub(run(TEMPORAL).evidence.to_dict()))
    both = without_storage(scrub(parallel.evidence.to_dict()))
    assert single == both, differences(single, both)
    assert both["families"]["xgboost"]["temporal"]["n_validation"] > 0


def without_storage(node):
    """The Evidence without where the studies were kept (the tuning summaries' storage and study name)."""
    if isinstance(node, dict):
        return {k: without_storage(v) for k, v in node.items() if k not in ("storage", "study_name")}
    if isinstance(node, list):
        return [without_storage(v) for v in node]
    return node


def test_unknown_backend_and_jobs_are_refused(cohort, pipeline_dir):
    config = load_pipeline(write_pipeline(pipeline_dir, TEMPORAL))
    task = prepare_task(config, cohort)
    plan = ExperimentPlan.build(config, task)
    with pytest.raises(BackendError, match="unknown backend 'dask'"):
        execute_plan(plan, {}, task.X, task.y, jobs=2, backend="dask")
    with pytest.raises(ValueError, match="jobs must be at least 1"):
        execute_plan(plan, {}, task.X, task.y, jobs=0)


def test_a_failed_bootstrap_replicate_is_a_nan_row_and_is_counted(cohort, pipeline_dir):
    """The replicates' predictions on the original rows reach the engine as an R x n matrix, a NaN row
    where the bootstrap sample could not be fit; the optimism is the mean over the replicates that were."""
    spec = {
        **REFERENCE,
        "name": "failed_replicate",
        "validation": {**REFERENCE["validation"], "bootstrap": {"replicates": 3}},
    }
    config = load_pipeline(write_pipeline(pipeline_dir, spec))
    task = prepare_task(config, cohort)
    plan = ExperimentPlan.build(config, task)
    n = task.n
    rng = np.random.default_rng(5)
    results = []
    for fit in plan.fits:
        if fit.stage == "bootstrap" and fit.label == "replicate 2":
            results.append(FitResult(None, 0.0, error="too few events"))
        elif fit.stage == "bootstrap":
            p = rng.uniform(0.05, 0.95, n)
            results.append(FitResult(p, 0.0, replicate=replicate_metrics(task.y, p, fit.split.train)))
        else:
            results.append(FitResult(np.full(len(fit.split.test) if fit.split else n, 0.5), 0.0))
    fits = PlanResults(plan, results, n)
    matrix = fits.bootstrap_predictions("xgboost")
    assert matrix.shape == (3, n)
    assert np.isnan(matrix[1]).all() and not np.isnan(matrix[[0, 2]]).any()
    replicates = fits.bootstrap_replicates("xgboost")
    assert replicates[1] is None
    apparent = rng.uniform(0.05, 0.95, n)
    corrected = optimism_correction(task.y, apparent, replicates, mode="fixed_hyperparameters")
    assert (corrected.replicates, corrected.replicates_failed) == (3, 1)
    # by hand: optimism = mean over the two fitted replicates of (weighted by draws) - (everyone)
    for b in (0, 2):
        counts = np.bincount(plan.bootstrap[b].train, minlength=n)
        weighted = roc_auc_score(task.y, matrix[b], sample_weight=counts)
        assert replicates[b][0]["auc"] == pytest.approx(weighted - roc_auc_score(task.y, matrix[b]), abs=1e-12)
    expected = np.mean([replicates[b][0]["auc"] for b in (0, 2)])
    assert corrected.optimism["auc"] == pytest.approx(expected, abs=1e-15)
    assert corrected.harrell["auc"] == pytest.approx(roc_auc_score(task.y, apparent) - expected, abs=1e-12)
