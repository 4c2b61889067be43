"""Run one pipeline: prepare the analysis data, then hand it to the engine of its task kind.

- binary outcomes: :mod:`.binary` (every family through the :class:`~.plan.ExperimentPlan`);
- time-to-event outcomes: :mod:`.survival`.

Both return an :class:`~.records.ExperimentResult`: the Evidence and the fitted final models.
"""

from __future__ import annotations

import time

from spineoutcome.config import PipelineConfig
from spineoutcome.data.cohort import Cohort
from spineoutcome.experiment.binary import run_binary
from spineoutcome.experiment.executor import Backend
from spineoutcome.experiment.records import ExperimentResult
from spineoutcome.experiment.survival import run_survival_experiment
from spineoutcome.experiment.task import FlowStep, prepare_task
from spineoutcome.progress import Progress

__all__ = ["ExperimentResult", "run_experiment"]


def run_experiment(
    config: PipelineConfig,
    cohort: Cohort,
    *,
    validation_flow: list[FlowStep] | None = None,
    progress: Progress | None = None,
    optuna_storage: str | None = None,
    jobs: int = 1,
    backend: Backend = "local",
) -> ExperimentResult:
    """Run ``config`` on ``cohort`` and return its Evidence and final models.

    ``jobs``: fits run at once (worker processes, or Spark tasks with ``backend="spark"``); the Evidence
    is the same for every value (:mod:`.executor`). ``progress`` receives a
    :class:`~spineoutcome.progress.ProgressEvent` per finished fit and step.
    """
    started = time.perf_counter()
    task = prepare_task(config, cohort, validation_flow=validation_flow)
    if task.labels.kind != "binary":
        horizon = task.labels.definition.get("horizon")
        if config.horizon_days is None and horizon is not None:
            config = config.model_copy(update={"horizon_days": int(horizon)})
        return run_survival_experiment(
            config, cohort, task, progress=progress, started=started, jobs=jobs, backend=backend
        )
    return run_binary(
        config,
        cohort,
        task,
        progress=progress,
        storage=optuna_storage or config.tuning.storage,
        started=started,
        jobs=jobs,
        backend=backend,
    )
