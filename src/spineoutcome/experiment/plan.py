"""The experiment plan: every fit of a pipeline (family, split, seed stream), built once.

``run_experiment`` executes the plan; the distributed tuning workers
(:mod:`spineoutcome.distributed.workers`) tune the studies of the same plan, so a fit's study is the
same whoever runs it and in whatever order. Randomness comes from named seed streams derived from
the pipeline's ``seed`` (:data:`SEED_STREAMS`), never from offsets written at the point of use.

Fits of one family, in the order the engine runs them:

1. ``cv``: tuned and fit on each development fold of the (repeated) cross-validation;
2. ``final``: tuned and fit on all analysed patients;
3. ``bootstrap``: the optimism bootstrap's refits (re-tuned in ``full`` mode, else the final
   model's hyperparameters);
4. ``iecv``: internal-external cross-validation, one fit per held-out centre;
5. ``temporal``: developed before the split date.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from spineoutcome.config import PipelineConfig
from spineoutcome.dictionary import RADIOMICS_GROUP, DataDictionary
from spineoutcome.evaluation import Bootstrap
from spineoutcome.experiment.task import TaskData
from spineoutcome.inner_cv import RepeatedInnerFolds
from spineoutcome.modeling import REGISTRY, TunedClassifier
from spineoutcome.modeling.budget import complexity_rank
from spineoutcome.modeling.resampling import Split, centre_splits, cv_splits, temporal_split

Stage = Literal["cv", "final", "bootstrap", "iecv", "temporal"]
STAGES: tuple[Stage, ...] = ("cv", "final", "bootstrap", "iecv", "temporal")

SEED_STREAMS: dict[str, int] = {
    "models": 0,
    "folds": 0,
    "metric_bootstrap": 0,
    "shap_sample": 0,
    "optimism_bootstrap": 1,
    "comparison_bootstrap": 2,
    "bundle_ensemble": 3,
    "model_selection": 3,
}
"""Offset of each named seed stream from the pipeline's ``seed``: the estimators' ``random_state``;
the cross-validation folds; the bootstrap intervals of the metrics (subgroups, Harrell's C too); the
rows SHAP summarises when there are more than it explains; the optimism bootstrap's samples; the
paired comparison's bootstrap; the model bundle's ensemble. The values are those of the first
releases, so that a seed gives the same Evidence as it did."""


def seed_of(config: PipelineConfig, stream: str) -> int:
    """The seed of a named stream (:data:`SEED_STREAMS`) for ``config``."""
    try:
        return config.seed + SEED_STREAMS[stream]
    except KeyError:
        raise ValueError(f"unknown seed stream {stream!r}; choose one of {sorted(SEED_STREAMS)}") from None


@dataclass(frozen=True)
class PlannedFit:
    """One fit of the plan: ``family`` on ``split.train`` (all rows when ``split`` is None).

    ``tuned``: whether the fit runs an Optuna search (a study the workers can share); fixed-
    hyperparameter bootstrap refits and families without a search space do not.
    """

    family: str
    stage: Stage
    label: str
    split: Split | None
    tuned: bool

    @property
    def rows(self) -> np.ndarray | None:
        """Positions in the task's rows (repeated for a bootstrap sample); None for all rows."""
        return None if self.split is None else self.split.train


@dataclass(frozen=True)
class ExperimentPlan:
    """The splits shared by every family and the list of every fit (module docstring)."""

    cv: list[Split]
    iecv: list[Split]
    centres_pooled_out: list[str]
    bootstrap: list[Split]
    temporal: Split | None
    fits: list[PlannedFit]

    @classmethod
    def build(cls, config: PipelineConfig, task: TaskData) -> ExperimentPlan:
        """The plan of ``config`` on ``task``: binary tasks only (time-to-event families fit once per fold)."""
        y = task.y
        validation = config.validation
        cv = cv_splits(y, validation.folds, validation.repeats, seed_of(config, "folds"))
        iecv, pooled_out = (
            centre_splits(task.centres, y, validation.min_centre_events)
            if validation.internal_external and "internal_external" not in task.skipped
            else ([], [])
        )
        boot = bootstrap_splits(y, config) if validation.bootstrap else []
        temporal = temporal_split(task.surgery_dates, validation.temporal_split) if validation.temporal_split else None
        retune = validation.bootstrap is not None and validation.bootstrap.mode == "full"
        fits: list[PlannedFit] = []
        for family in config.families:
            tuned = REGISTRY[family].tuned and config.tuning.n_trials > 0
            fits += [PlannedFit(family, "cv", s.label, s, tuned) for s in cv]
            fits.append(PlannedFit(family, "final", "all patients", None, tuned))
            fits += [PlannedFit(family, "bootstrap", s.label, s, tuned and retune) for s in boot]
            fits += [PlannedFit(family, "iecv", f"centre {s.label} left out", s, tuned) for s in iecv]
            if temporal is not None:
                fits.append(PlannedFit(family, "temporal", temporal.label, temporal, tuned))
        return cls(cv, iecv, pooled_out, boot, temporal, fits)


def bootstrap_splits(y: np.ndarray, config: PipelineConfig) -> list[Split]:
    """The optimism bootstrap's samples (stratified, seed stream ``optimism_bootstrap``); test = everyone."""
    spec = config.validation.bootstrap
    boot = Bootstrap.draw(y, n_boot=spec.replicates, seed=seed_of(config, "optimism_bootstrap"), stratify=True)
    everyone = np.arange(len(y))
    return [
        Split("bootstrap", f"replicate {b + 1}", np.repeat(everyone, counts.astype(int)), everyone)
        for b, counts in enumerate(boot.weights)
    ]


def preprocess_options(family: str, config: PipelineConfig) -> dict[str, Any]:
    """The pipeline's preprocessing choices for ``family`` (spline knots for the reference model only)."""
    options: dict[str, Any] = {"imputation": config.imputation, "radiomics": {"selection": config.radiomics_selection}}
    if REGISTRY[family].reference:
        options["spline_knots"] = config.spline_knots
    return options


def selects_features(config: PipelineConfig, dictionary: DataDictionary, predictors: list[str]) -> bool:
    """Whether every fit selects among many candidate features on its own rows: radiomics predictors with
    in-fold selection (``radiomics_selection`` other than ``none``, :mod:`spineoutcome.modeling.preprocess`)."""
    return config.radiomics_selection != "none" and any(
        dictionary.variable(name).group == RADIOMICS_GROUP for name in predictors
    )


def family_estimator(
    family: str,
    config: PipelineConfig,
    dictionary: DataDictionary,
    predictors: list[str],
    storage: str | None,
) -> TunedClassifier:
    """The family's tuned estimator. The bootstrap refits of ``fixed_hyperparameters`` mode are clones with
    their final model's ``params`` and ``calibration`` set instead of a search and a recalibration test
    (:mod:`.executor`). A penalised regression tunes on ``tuning.penalty_repeats`` repeated inner partitions."""
    folds, repeats = config.tuning.inner_folds, config.tuning.penalty_repeats
    penalised = complexity_rank(family, None) == 1
    return TunedClassifier(
        family,
        dictionary,
        predictors,
        n_trials=config.tuning.n_trials,
        inner_cv=RepeatedInnerFolds(folds, repeats, seed_of(config, "models")) if penalised and repeats > 1 else folds,
        metric=config.tuning.metric,
        storage=storage,
        study_name=f"{config.name}-{family}",
        random_state=seed_of(config, "models"),
        timeout=config.tuning.timeout_s,
        class_weight=config.class_weight,
        preprocess=preprocess_options(family, config),
        calibration=config.boosting_calibration if REGISTRY[family].recalibrated else "none",
    )
