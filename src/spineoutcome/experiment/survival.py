"""Time-to-event pipelines: interval-censored OPLL progression, Weibull AFT against XGBoost AFT.

Every family is developed and tested on the same event-stratified folds. Reported per family:
Harrell's C on out-of-fold risks with a bootstrap percentile interval; calibration at the horizon
(mean predicted risk against the Kaplan-Meier risk by fifth of predicted risk, Royston & Altman
2013 style); Kaplan-Meier curves by tertile of predicted risk with numbers at risk; and the final
model fit on all patients (its preprocessing and, for the Weibull AFT model, its coefficients).
Event and censoring times use the interval midpoint / last progression-free visit (see
``modeling.survival.point_times``).
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import pandas as pd
from lifelines import KaplanMeierFitter
from sklearn.base import BaseEstimator, clone
from threadpoolctl import threadpool_limits

from spineoutcome.config import PipelineConfig
from spineoutcome.data.cohort import Cohort
from spineoutcome.evaluation import Bootstrap
from spineoutcome.evidence import FamilyEvidence
from spineoutcome.experiment.executor import Backend, PipelineProgress, run_tasks
from spineoutcome.experiment.plan import seed_of
from spineoutcome.experiment.records import ExperimentResult, build_evidence
from spineoutcome.experiment.task import TaskData
from spineoutcome.jsonable import json_safe, to_jsonable
from spineoutcome.modeling import (
    WeibullAFTModel,
    build_preprocessor,
    get_family,
    harrell_c,
    kaplan_meier_by_risk_group,
    point_times,
)
from spineoutcome.modeling.resampling import Split, cv_splits
from spineoutcome.progress import Progress

SELECTION_RULE = "highest cross-validated Harrell's C among the survival families"
_CALIBRATION_GROUPS = 5
_RISK_GROUPS = 3
AT_RISK_DAYS = (0, 365, 730, 1095, 1460)
"""Times (days after surgery) of the numbers at risk under the Kaplan-Meier curves."""
HARRELL_C_REPLICATES = 200
_PREDICTOR_LISTS = ("continuous", "binary", "categorical", "radiomics")


def survival_model(family_name: str, task: TaskData, cohort: Cohort, config: PipelineConfig) -> BaseEstimator:
    """An unfitted interval-censored survival model of ``family_name`` (its registry entry) on the task's predictors."""
    spec = get_family(family_name, "time_to_event")
    pre = build_preprocessor(cohort.dictionary, task.predictors, imputation=config.imputation, **spec.preprocess)
    return spec.survival_estimator(pre, seed_of(config, "models"))


def run_survival_experiment(
    config: PipelineConfig,
    cohort: Cohort,
    task: TaskData,
    *,
    progress: Progress | None,
    started: float,
    jobs: int = 1,
    backend: Backend = "local",
) -> ExperimentResult:
    """Cross-validated comparison of the configured survival families (see module docstring).

    Every family's fold fits and final fit are independent: they run through
    :func:`~.executor.run_tasks` with ``jobs`` workers on ``backend`` (one BLAS/OpenMP thread each, results
    placed by their fold, so the Evidence is the same for every ``jobs``).
    """
    if config.horizon_days is None:
        raise ValueError(f"pipeline {config.name!r}: a time-to-event pipeline needs horizon_days")
    labels: pd.DataFrame = task.labels.labels.loc[task.X.index]
    splits = cv_splits(task.y, config.validation.folds, config.validation.repeats, seed_of(config, "folds"))
    families: dict[str, FamilyEvidence] = {}
    timings: dict[str, float] = {"prepare": time.perf_counter() - started}
    folds = splits[: config.validation.folds]
    tracker = PipelineProgress(config.name, len(config.survival_families) * (len(folds) + 2), progress)
    estimators = {f: survival_model(f, task, cohort, config) for f in config.survival_families}
    arguments = [
        ((family, k), estimators[family], task.X, labels, split, config.horizon_days)
        for family in config.survival_families
        for k, split in [*enumerate(folds, start=1), (0, None)]
    ]
    fitted: dict[tuple[str, int], tuple[Any, float]] = {}
    for (family, k), result in run_tasks(survival_fit, arguments, jobs=jobs, backend=backend):
        fitted[family, k] = result
        what = f"CV fold {k} of {len(folds)}" if k else "final model on all patients"
        tracker.step("cv" if k else "final", f"{family}: {what}", family)
    models: dict[str, BaseEstimator] = {f: fitted[f, 0][0] for f in config.survival_families}
    for family in config.survival_families:
        t0 = time.perf_counter()
        risk = np.full(task.n, np.nan)
        for k, split in enumerate(folds, start=1):
            risk[split.test] = fitted[family, k][0]
        families[family] = FamilyEvidence(
            family=family,
            cross_validation={
                "harrell_c": harrell_c_estimate(labels, risk, seed=seed_of(config, "metric_bootstrap")),
                "horizon_days": config.horizon_days,
                "calibration_at_horizon": calibration_at_horizon(labels, risk, config.horizon_days),
                "km_by_risk_group": to_jsonable(kaplan_meier_by_risk_group(labels, risk, n_groups=_RISK_GROUPS)),
                "km_at_risk": km_at_risk(labels, risk),
            },
            cv_repeats=[],
            optimism=None,
            internal_external=None,
            temporal=None,
            comparison_to_logistic=None,
            subgroups=[],
            shap=None,
            specification=survival_specification(family, models[family]),
            tuning=[],
            seconds=time.perf_counter() - t0 + sum(fitted[family, k][1] for k in range(len(folds) + 1)),
        )
        timings[f"family {family}"] = families[family].seconds
        tracker.step("evaluation", f"{family}: evaluation", family)
    best = max(families, key=lambda f: families[f].cross_validation["harrell_c"]["value"])
    timings["total"] = time.perf_counter() - started
    evidence = build_evidence(
        config,
        cohort,
        task,
        families=families,
        best=best,
        selection_rule=SELECTION_RULE,
        sample_size={},
        timings=timings,
    )
    return ExperimentResult(evidence, models, task)


def survival_fit(
    key: tuple[str, int],
    estimator: BaseEstimator,
    X: pd.DataFrame,
    labels: pd.DataFrame,
    split: Split | None,
    horizon: float,
) -> tuple[tuple[str, int], tuple[Any, float]]:
    """One survival fit, with one BLAS/OpenMP thread: on a fold's development rows, giving the risks at
    ``horizon`` of its test rows; or (``split`` None) on every patient, giving the fitted final model.
    Returns ``(key, (risks or model, seconds))``."""
    started = time.perf_counter()
    with threadpool_limits(1):
        if split is None:
            return key, (clone(estimator).fit(X, labels), time.perf_counter() - started)
        model = clone(estimator).fit(X.iloc[split.train], labels.iloc[split.train])
        risk = model.predict_risk(X.iloc[split.test], horizon)
    return key, (risk, time.perf_counter() - started)


def calibration_at_horizon(labels: pd.DataFrame, risk: np.ndarray, horizon: float) -> list[dict[str, float]]:
    """Mean predicted risk vs Kaplan-Meier observed risk at ``horizon`` per fifth of predicted risk."""
    times = point_times(labels)
    event = labels["event"].to_numpy(dtype=int)
    groups = pd.qcut(risk, _CALIBRATION_GROUPS, labels=False, duplicates="drop")
    rows = []
    for g in np.unique(groups):
        members = groups == g
        km = KaplanMeierFitter().fit(times[members], event[members])
        observed = 1.0 - float(km.survival_function_at_times(horizon).iloc[0])
        rows.append(
            {
                "group": int(g) + 1,
                "n": int(members.sum()),
                "predicted": float(risk[members].mean()),
                "observed": observed,
            }
        )
    return rows


def harrell_c_estimate(
    labels: pd.DataFrame, risk: np.ndarray, *, seed: int, n_boot: int = HARRELL_C_REPLICATES
) -> dict[str, Any]:
    """Harrell's C with a percentile interval from ``n_boot`` ordinary bootstrap samples (of patients) of the
    out-of-fold risks (the models are not refit: the interval is for the C of these predictions)."""
    event = labels["event"].to_numpy(dtype=int)
    boot = Bootstrap.draw(event, n_boot=n_boot, seed=seed)
    replicates = []
    for counts in boot.weights.astype(int):
        rows = np.repeat(np.arange(len(event)), counts)
        replicates.append(harrell_c(labels.iloc[rows], risk[rows]))
    return boot.estimate(harrell_c(labels, risk), np.asarray(replicates)).to_dict()


def km_at_risk(labels: pd.DataFrame, risk: np.ndarray, n_groups: int = _RISK_GROUPS) -> list[dict[str, int]]:
    """Numbers at risk (point time >= t) at ``AT_RISK_DAYS`` in the groups of ``kaplan_meier_by_risk_group``."""
    times = point_times(labels)
    groups = pd.qcut(np.asarray(risk, dtype=float), n_groups, labels=False, duplicates="drop") + 1
    return [
        {"group": int(g), "time": t, "n_at_risk": int(((groups == g) & (times >= t)).sum())}
        for g in np.unique(groups)
        for t in AT_RISK_DAYS
    ]


def survival_specification(family: str, model: BaseEstimator) -> dict[str, Any]:
    """The final model: estimator, parameters, fitted preprocessing and, for the Weibull AFT model, its
    coefficients with Wald 95 % CIs (lifelines' summary of the fit on all analysed patients)."""
    record: dict[str, Any] = {
        "family": family,
        "estimator": type(model).__name__,
        "parameters": to_jsonable({k: v for k, v in model.get_params(deep=False).items() if k != "preprocessor"}),
        "preprocessing": json_safe(
            {k: v for k, v in model.preprocessor.get_params(deep=False).items() if k not in _PREDICTOR_LISTS}
        ),
    }
    if isinstance(model, WeibullAFTModel):
        record["coefficients"] = weibull_coefficients(model)
    return record


def weibull_coefficients(model: WeibullAFTModel) -> list[dict[str, Any]]:
    """``[{parameter, covariate, coef, se, ci_low, ci_high}]`` on the log scale (lambda_: log-time, rho_: log-shape)."""
    summary = model.fitter_.summary
    return to_jsonable(
        [
            {
                "parameter": str(param),
                "covariate": str(covariate),
                "coef": float(row["coef"]),
                "se": float(row["se(coef)"]),
                "ci_low": float(row["coef lower 95%"]),
                "ci_high": float(row["coef upper 95%"]),
            }
            for (param, covariate), row in summary.iterrows()
        ]
    )
