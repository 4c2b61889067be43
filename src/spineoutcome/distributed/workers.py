"""Tuning workers: several processes or machines tune one pipeline's Optuna studies together.

A pipeline tunes many studies: for each model family with a search space, one per outer
cross-validation fold, one for the final model, one per internal-external (centre) fold, one
for a temporal split, and one per bootstrap replicate when optimism is estimated in ``full``
mode. :class:`~spineoutcome.modeling.TunedClassifier` names each study by a fingerprint of its
rows and its configuration, so every process that fits the same estimator on the same rows joins
the same study in a shared RDB storage, and each study stops at its budget (``tuning.n_trials``
complete or pruned trials) however many processes work on it.

:func:`tuning_plan` lists those fits in the plan's order, built by the experiment's own functions
(the :class:`~spineoutcome.experiment.plan.ExperimentPlan`, estimator factory), so a worker's studies
are the trainer's studies, whichever order or process (``train --jobs N``, Spark) the trainer fits
them in. :func:`run_worker` fits them one after another. Run N workers, with or without a
``spineoutcome train --optuna-storage URL`` process on the same pipeline and data: every study is
shared, and ``train`` finds finished studies already tuned (it refits their best parameters) and
evaluates. The heartbeat of :class:`TunedClassifier` makes a killed worker's trial fail and run
again elsewhere (see :mod:`spineoutcome.modeling.tuning`).
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import optuna
import pandas as pd
from sklearn.base import clone
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import make_url

from spineoutcome.config import PipelineConfig
from spineoutcome.credentials import mask_secrets, mask_url
from spineoutcome.data.cohort import Cohort
from spineoutcome.errors import SpineoutcomeError
from spineoutcome.experiment.plan import STAGES, ExperimentPlan, family_estimator
from spineoutcome.experiment.task import TaskData, prepare_task
from spineoutcome.modeling import REGISTRY, TunedClassifier

# Optuna's error when a process finishes a trial that another process already failed as stale.
LOST_TRIAL = "Cannot tell a FAIL trial"
MAX_LOST_TRIALS = 10
Progress = Callable[[str, int, int], None]


class StorageError(SpineoutcomeError, RuntimeError):
    """The Optuna storage cannot be used (unreachable, wrong credentials, not an RDB URL)."""


@dataclass(frozen=True)
class TuningFit:
    """One tuned fit of a pipeline: a family's estimator on some rows of the task.

    ``rows``: positions in ``task.X`` (repeated for a bootstrap sample), None for all rows.
    """

    family: str
    stage: str
    label: str
    rows: np.ndarray | None
    estimator: TunedClassifier

    def data(self, task: TaskData) -> tuple[pd.DataFrame, np.ndarray]:
        """The rows of ``task`` this fit is trained on."""
        if self.rows is None:
            return task.X, task.y
        return task.X.iloc[self.rows], task.y[self.rows]

    def study_name(self, task: TaskData) -> str:
        """The name of this fit's study: the one ``train`` uses for the same fit."""
        return self.estimator.study_name_for(*self.data(task))


@dataclass
class WorkerReport:
    """What a worker did: one record per fit (study name, budget, trials by state, best value)."""

    sampler_seed: int
    fits: list[dict[str, Any]] = field(default_factory=list)
    seconds: float = 0.0


def tuning_plan(
    config: PipelineConfig,
    cohort: Cohort,
    *,
    storage: str | None = None,
    families: Sequence[str] | None = None,
    stages: Sequence[str] | None = None,
) -> tuple[TaskData, list[TuningFit]]:
    """The task and the tuned fits of its :class:`~spineoutcome.experiment.plan.ExperimentPlan` (the plan
    ``run_experiment`` executes), in the plan's order.

    Families without a search space (logistic regression) or with ``n_trials: 0`` have no study
    and are left out; so are families tuned along a regularisation path (the elastic net: a fixed
    grid, nothing to share) and survival tasks (not tuned by Optuna).
    """
    unknown = sorted(set(stages or ()) - set(STAGES))
    if unknown:
        raise ValueError(f"unknown fit stage(s) {unknown}; choose from {list(STAGES)}")
    missing = sorted(set(families or ()) - set(config.families))
    if missing:
        raise ValueError(
            f"famil{'y' if len(missing) == 1 else 'ies'} {missing} not in pipeline {config.name!r} "
            f"(it has {config.families})"
        )
    task = prepare_task(config, cohort, validation_flow=cohort.validation_flow)
    if task.labels.kind != "binary":
        return task, []
    wanted = set(stages or STAGES)
    estimators = {
        family: family_estimator(family, config, cohort.dictionary, task.predictors, storage)
        for family in config.families
        if (not families or family in families) and REGISTRY[family].tuner == "optuna"
    }
    plan = [
        TuningFit(fit.family, fit.stage, fit.label, fit.rows, estimators[fit.family])
        for fit in ExperimentPlan.build(config, task).fits
        if fit.tuned and fit.family in estimators and fit.stage in wanted
    ]
    return task, plan


def prepare_storage(url: str, *, attempts: int = 5) -> None:
    """Create Optuna's tables in ``url`` if needed; safe to call from many processes at once.

    Several processes creating the tables of an empty PostgreSQL database at the same moment can
    collide (a duplicate-key error from the catalogue); the loser waits and tries again.
    """
    try:
        backend = make_url(url).get_backend_name()
    except sa_exc.ArgumentError as exc:
        raise StorageError(f"not an RDB URL: {mask_secrets(str(exc))}") from None
    label = mask_url(url)
    for attempt in range(attempts):
        try:
            storage = optuna.storages.RDBStorage(url)
        except (sa_exc.IntegrityError, sa_exc.ProgrammingError):
            if attempt == attempts - 1:
                raise
            time.sleep(0.5 * (attempt + 1))
            continue
        except sa_exc.OperationalError as exc:
            raise StorageError(f"cannot use the Optuna storage {label}: {str(exc.orig).strip()}") from None
        except ImportError as exc:
            raise StorageError(
                f"no database driver for {backend} ({mask_secrets(str(exc))}); for PostgreSQL install "
                "psycopg[binary] (pip install 'spineoutcome[scale]')"
            ) from None
        storage.engine.dispose()
        return


def run_worker(
    config: PipelineConfig,
    cohort: Cohort,
    storage: str,
    *,
    families: Sequence[str] | None = None,
    stages: Sequence[str] | None = None,
    sampler_seed: int | None = None,
    heartbeat_interval: int | Literal["auto"] | None = "auto",
    grace_period: int | None = None,
    max_retry: int | None = 3,
    progress: Progress | None = None,
) -> WorkerReport:
    """Tune every study of the plan (:func:`tuning_plan`) in ``storage``, sharing each with other workers.

    ``sampler_seed``: this worker's TPE seed (default: random; workers of one study need different
    seeds, or they propose the same trials). Heartbeat settings: see :class:`TunedClassifier`;
    every process working on a study should use the same ones. A bootstrap sample that cannot be
    fit (too few events for the inner folds) is recorded and skipped, as ``train`` does.

    A worker that stalls for longer than the grace period (a suspended VM, a starved machine) finds
    on waking that another worker failed its running trial and queued it again: Optuna then refuses
    its result, and the worker drops it and goes on with the study (``lost_trials`` in its record).
    """
    started = time.perf_counter()
    prepare_storage(storage)
    seed = secrets.randbelow(2**31 - 1) if sampler_seed is None else sampler_seed
    task, plan = tuning_plan(config, cohort, storage=storage, families=families, stages=stages)
    report = WorkerReport(sampler_seed=seed)
    for i, fit in enumerate(plan):
        if progress:
            progress(f"{fit.family} {fit.stage}: {fit.label}", i, len(plan))
        estimator = clone(fit.estimator).set_params(
            sampler_seed=seed, heartbeat_interval=heartbeat_interval, grace_period=grace_period, max_retry=max_retry
        )
        X, y = fit.data(task)
        record: dict[str, Any] = {
            "family": fit.family,
            "stage": fit.stage,
            "label": fit.label,
            "budget": estimator.n_trials,
        }
        t0 = time.perf_counter()
        lost = 0
        while True:
            try:
                estimator.fit(X, y)
            except ValueError as exc:
                if LOST_TRIAL in str(exc) and lost < MAX_LOST_TRIALS:
                    # This worker stalled past the grace period (suspended, starved): another worker marked
                    # its running trial failed and queued it again. Its result is void; rejoin the study.
                    lost += 1
                    continue
                if fit.stage != "bootstrap":
                    raise
                record |= {"study_name": fit.study_name(task), "skipped": str(exc)}
            else:
                summary = estimator.study_summary_
                record |= {
                    k: summary[k]
                    for k in ("study_name", "n_trials", "n_complete", "n_pruned", "n_failed", "best_value")
                }
            break
        record["lost_trials"] = lost
        record["seconds"] = round(time.perf_counter() - t0, 3)
        report.fits.append(record)
    if progress:
        progress("done", len(plan), len(plan))
    report.seconds = time.perf_counter() - started
    return report
