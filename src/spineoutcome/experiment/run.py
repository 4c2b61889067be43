"""Run one pipeline: every model family on the same splits, evaluated, compared and explained.

Order of work for each family (all families share the cross-validation folds, bootstrap
replicates and centre folds):
1. cross-validation with tuning nested inside each development fold -> out-of-fold predictions,
   evaluated with the full metric set (bootstrap CIs), and subgroup results;
2. the final model: tuned and fit on all analysed patients; apparent performance;
3. Harrell's bootstrap optimism correction;
4. internal-external cross-validation by centre, with random-effects pooling across centres;
5. temporal validation when a split date is configured;
6. paired comparison with logistic regression on the same out-of-fold predictions;
7. SHAP summary and model specification of the final model.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, clone
from sklearn.metrics import roc_curve

from spineoutcome.config import AGE_GROUP, PipelineConfig, mask_secrets
from spineoutcome.data.cohort import Cohort
from spineoutcome.dictionary import (
    PROM_GROUP,
    DataDictionary,
    Variable,
)
from spineoutcome.evaluation import (
    Bootstrap,
    centre_heterogeneity,
    delong_test,
    development_adequacy,
    development_sample_size,
    evaluate_predictions,
    subgroup_metrics,
)
from spineoutcome.evaluation.calibration import loess_errors_weighted
from spineoutcome.evaluation.decision_curve import net_benefit_weighted
from spineoutcome.evaluation.results import to_jsonable
from spineoutcome.evaluation.selection import select_one_se
from spineoutcome.evidence import Evidence, FamilyEvidence
from spineoutcome.experiment.baseline import (
    MISSING_LABEL,
    baseline_columns,
    baseline_table,
)
from spineoutcome.experiment.specification import specification
from spineoutcome.experiment.task import (
    FlowStep,
    TaskData,
    age_band_labels,
    prepare_task,
)
from spineoutcome.experiment.validation import (
    bootstrap_optimism,
    out_of_fold,
    point_metrics,
    predict_positive,
    prediction_distribution,
)
from spineoutcome.explain import summarise_shap
from spineoutcome.modeling import TunedClassifier, build_preprocessor
from spineoutcome.modeling.budget import complexity_rank, spline_budget
from spineoutcome.modeling.resampling import (
    Split,
    centre_splits,
    cv_splits,
    temporal_split,
)

REFERENCE_FAMILY = "logistic"
BOOSTING_FAMILIES = ("xgboost", "lightgbm")
"""Families whose risks get ``config.boosting_calibration`` (log-odds outputs; see TunedClassifier)."""
OPTIMISM_METHOD = {"logistic": "harrell", "elastic_net": "harrell"}
"""Harrell's optimism correction for regression models; .632+ for every other family (trees)."""
PRE_OPERATIVE = "pre-operative"
ANTICIPATED_C = 0.75
SELECTION_REPLICATES = 1000
Progress = Callable[[str], None]


class ExperimentResult:
    """The Evidence of a run and the fitted final models (for the model bundle and scoring)."""

    def __init__(self, evidence: Evidence, models: dict[str, BaseEstimator], task: TaskData) -> None:
        self.evidence = evidence
        self.models = models
        self.task = task

    @property
    def best_model(self) -> BaseEstimator:
        return self.models[self.evidence.best_family]


def run_experiment(config: PipelineConfig, cohort: Cohort, *, validation_flow: list[FlowStep] | None = None,
                   progress: Progress | None = None, optuna_storage: str | None = None) -> ExperimentResult:
    """Run ``config`` on ``cohort`` and return its Evidence and final models."""
    started = time.perf_counter()
    timings: dict[str, float] = {}
    task = prepare_task(config, cohort, validation_flow=validation_flow)
    if task.labels.kind != "binary":
        from spineoutcome.experiment.survival import run_survival_experiment

        return run_survival_experiment(config, cohort, task, progress=progress, started=started)
    budget = spline_budget(cohort.dictionary, task.predictors, task.X, task.y, max_knots=config.spline_knots,
                           rule=config.spline_budget, imputation=config.imputation,
                           radiomics_selection=config.radiomics_selection)
    config = config.model_copy(update={"spline_knots": budget.knots})
    timings["prepare"] = time.perf_counter() - started
    storage = optuna_storage or config.tuning.storage
    X, y = task.X, task.y
    splits = cv_splits(y, config.validation.folds, config.validation.repeats, config.seed)
    iecv, pooled_out = (centre_splits(task.centres, y, config.validation.min_centre_events)
                        if config.validation.internal_external else ([], []))
    boot_splits = _bootstrap_splits(y, config) if config.validation.bootstrap else []
    temporal = temporal_split(task.surgery_dates, config.validation.temporal_split) \
        if config.validation.temporal_split else None

    families: dict[str, FamilyEvidence] = {}
    models: dict[str, BaseEstimator] = {}
    oof_first: dict[str, np.ndarray] = {}
    oof_all: dict[str, np.ndarray] = {}
    for family in config.families:
        t0 = time.perf_counter()
        estimator = _estimator(family, config, cohort, task, storage)
        say = (lambda msg, f=family: progress(f"{f}: {msg}")) if progress else None
        oof, fitted = out_of_fold(estimator, X, y, splits, progress=say)
        oof_first[family] = oof[0]
        oof_all[family] = oof
        cv_eval = evaluate_predictions(y, oof[0], thresholds=config.thresholds, n_boot=200, seed=config.seed)
        final = clone(estimator).fit(X, y)
        models[family] = final
        optimism = None
        if boot_splits:
            mode = config.validation.bootstrap.mode
            optimism = bootstrap_optimism(_refit_factory(family, config, cohort, task, final, mode, storage), X, y,
                                          predict_positive(final, X), boot_splits, mode=mode,
                                          method=_optimism_method(family), progress=say)
        iecv_record = _internal_external(estimator, X, y, task, iecv, pooled_out, say) if iecv else None
        temporal_record = _temporal(estimator, X, y, temporal, config) if temporal else None
        families[family] = FamilyEvidence(
            family=family,
            cross_validation={**cv_eval.to_dict(), "roc": roc_points(y, oof[0]),
                              "prediction_distribution": prediction_distribution(y, oof[0])},
            cv_repeats=[{k: float(v[0]) for k, v in point_metrics(y, row).items()} for row in oof],
            optimism=optimism.to_dict() if optimism else None,
            internal_external=iecv_record,
            temporal=temporal_record,
            comparison_to_logistic=None,
            subgroups=_subgroups(y, oof[0], task, config, cohort.dictionary),
            shap=summarise_shap(final.best_estimator_, X, seed=config.seed,
                                calibration=final.calibration_params()).to_dict(),
            specification=specification(final, X, y, cohort.dictionary),
            tuning=[m.study_summary_ for m in [*fitted, final]],
            seconds=time.perf_counter() - t0,
        )
        timings[f"family {family}"] = families[family].seconds
    if REFERENCE_FAMILY in oof_first:
        for family, record in list(families.items()):
            if family != REFERENCE_FAMILY:
                comparison = _compare(y, oof_first[family], oof_first[REFERENCE_FAMILY], config)
                families[family] = replace(record, comparison_to_logistic=comparison)
    within_budget = budget.n_parameters <= budget.max_parameters
    selection = select_one_se(y, oof_all, {f: complexity_rank(f, config.spline_knots, within_budget) for f in oof_all},
                              n_boot=SELECTION_REPLICATES, seed=config.seed + 3)
    for comparison in selection.families:
        record = families[comparison.family]
        families[comparison.family] = replace(record, cross_validation={
            **record.cross_validation, "selection": comparison.to_dict()})
    best = selection.winner
    timings["total"] = time.perf_counter() - started
    evidence = Evidence(
        run_id=uuid.uuid4().hex,
        created=datetime.now(UTC).isoformat(timespec="seconds"),
        pipeline=json.loads(mask_secrets(json.dumps(config.model_dump(mode="json")))),
        task={"name": config.name, "description": config.description, "outcome": config.outcome,
              "kind": task.labels.kind, "outcome_definition": task.labels.definition},
        data=_data_record(task, cohort),
        flow=[to_jsonable(step) for step in task.flow],
        baseline=_baseline(task, cohort, config),
        sample_size={**_sample_size(task, config, cohort), "spline_budget": budget.to_dict()},
        missing_data=_missing(task),
        families=families,
        best_family=best,
        selection_rule=selection.statement(),
        model_selection=selection.to_dict(),
        timings=timings,
    )
    return ExperimentResult(evidence, models, task)


def _optimism_method(family: str) -> str:
    """Harrell's correction for regression models (radiomics selection included: its inner folds
    keep a bootstrap copy of a patient together, see :mod:`spineoutcome.inner_cv`); .632+ for trees."""
    return OPTIMISM_METHOD.get(family, "632plus")


def _estimator(family: str, config: PipelineConfig, cohort: Cohort, task: TaskData, storage: str | None,
               params: dict[str, Any] | None = None,
               calibration: str | tuple[float, float] | None = None) -> TunedClassifier:
    """The family's tuned estimator; ``params`` and ``calibration``: a final model's fixed settings
    instead of a search and a recalibration test (bootstrap refits in ``fixed_hyperparameters`` mode)."""
    return TunedClassifier(
        family, cohort.dictionary, task.predictors, n_trials=config.tuning.n_trials,
        inner_cv=config.tuning.inner_folds, metric=config.tuning.metric, storage=storage,
        study_name=f"{config.name}-{family}", random_state=config.seed, timeout=config.tuning.timeout_s,
        class_weight=config.class_weight, preprocess=_preprocess_options(family, config), params=params,
        calibration=calibration or (config.boosting_calibration if family in BOOSTING_FAMILIES else "none"),
    )


def _preprocess_options(family: str, config: PipelineConfig) -> dict[str, Any]:
    options: dict[str, Any] = {"imputation": config.imputation, "radiomics": {"selection": config.radiomics_selection}}
    if family == REFERENCE_FAMILY:
        options["spline_knots"] = config.spline_knots
    return options


def _refit_factory(family: str, config: PipelineConfig, cohort: Cohort, task: TaskData, final: TunedClassifier,
                   mode: str, storage: str | None) -> Callable[[], BaseEstimator]:
    """A fresh estimator per bootstrap replicate: re-tuned (and its recalibration re-tested) in ``full``
    mode, else the final model's hyperparameters and recalibration."""
    if mode == "full":
        return lambda: _estimator(family, config, cohort, task, storage)
    params, calibration = dict(final.best_params_), final.calibration_params() or "none"
    return lambda: _estimator(family, config, cohort, task, storage, params=params, calibration=calibration)


def _bootstrap_splits(y: np.ndarray, config: PipelineConfig) -> list[Split]:
    """Bootstrap samples from the evaluation library's engine (stratified, seeded); test = everyone."""
    spec = config.validation.bootstrap
    boot = Bootstrap.draw(y, n_boot=spec.replicates, seed=config.seed + 1, stratify=True)
    everyone = np.arange(len(y))
    return [Split("bootstrap", f"replicate {b + 1}", np.repeat(everyone, counts.astype(int)), everyone)
            for b, counts in enumerate(boot.weights)]


def _internal_external(estimator: BaseEstimator, X, y: np.ndarray, task: TaskData, splits: list[Split],
                       pooled_out: list[str], say: Progress | None) -> dict[str, Any]:
    oof, _ = out_of_fold(estimator, X, y, splits, progress=say)
    tested = ~np.isnan(oof[0])
    het = centre_heterogeneity(y[tested], oof[0][tested], task.centres[tested], min_events=1, min_non_events=1)
    return {"heterogeneity": het.to_dict(), "centres_not_tested": pooled_out,
            "pooled_predictions": {k: float(v[0]) for k, v in point_metrics(y[tested], oof[0][tested]).items()},
            "n_tested": int(tested.sum())}


def _temporal(estimator: BaseEstimator, X, y: np.ndarray, split: Split, config: PipelineConfig) -> dict[str, Any]:
    model = clone(estimator).fit(X.iloc[split.train], y[split.train])
    p = predict_positive(model, X.iloc[split.test])
    return {"split": split.label, "n_development": len(split.train), "n_validation": len(split.test),
            "evaluation": evaluate_predictions(y[split.test], p, thresholds=config.thresholds, n_boot=200,
                                               seed=config.seed).to_dict()}


def _compare(y: np.ndarray, p_model: np.ndarray, p_reference: np.ndarray, config: PipelineConfig) -> dict[str, Any]:
    """Paired model-minus-logistic differences on the same patients: DeLong for AUC, bootstrap for ICI and NB."""
    boot = Bootstrap.draw(y, n_boot=500, seed=config.seed + 2)
    weights = np.vstack([np.ones((1, len(y))), boot.weights])
    thresholds = np.asarray(config.thresholds, dtype=float)
    ici = loess_errors_weighted(y, p_model, weights, n_bins=100)["ici"] - \
        loess_errors_weighted(y, p_reference, weights, n_bins=100)["ici"]
    nb = net_benefit_weighted(y, p_model, weights, thresholds)["nb_model"] - \
        net_benefit_weighted(y, p_reference, weights, thresholds)["nb_model"]
    return {
        "auc_delong": delong_test(y, p_model, p_reference).to_dict(),
        "ici_difference": boot.estimate(ici[0], ici[1:]).to_dict(),
        "net_benefit_difference": [{"threshold": float(t), **boot.estimate(nb[0, i], nb[1:, i]).to_dict()}
                                   for i, t in enumerate(thresholds)],
    }


def _data_record(task: TaskData, cohort: Cohort) -> dict[str, Any]:
    dd = cohort.dictionary
    return {
        "digest": task.digest(),
        "n": task.n,
        "events": task.events,
        "prevalence": task.events / task.n,
        "centres": len(np.unique(task.centres)),
        "accrual": accrual(task),
        "predictors": [_predictor_record(dd.variable(p), p) for p in task.predictors],
        "dropped_predictors": task.dropped_predictors,
        "dictionary": {"name": dd.name, "version": dd.version},
        "join_audit": cohort.audit.to_dict()["tables"],
    }


def _predictor_record(var: Variable, name: str) -> dict[str, Any]:
    """What the report's predictor table states about one predictor, from the dictionary (item 7a)."""
    record = {"name": name, "table": var.table, "group": var.group, "unit": var.unit, "description": var.description,
              "dtype": var.dtype, "timing": PRE_OPERATIVE + (" (baseline PROM)" if var.group == PROM_GROUP else ""),
              "source": var.source}
    if var.categories:
        record["categories"] = list(var.categories)
    elif var.range:
        record["range"] = list(var.range)
    return record


def accrual(task: TaskData) -> dict[str, Any]:
    """First and last surgery and end of follow-up, overall and per centre, to the month (TRIPOD+AI 5b).

    Month resolution with counts per centre keeps these aggregates: no patient's date can be recovered.
    """
    frame = pd.DataFrame({"centre": task.centres, "surgery": pd.to_datetime(task.surgery_dates).to_numpy(),
                          "days": task.followup_days.to_numpy()})
    frame["end"] = frame["surgery"] + pd.to_timedelta(frame["days"], unit="D")
    by_centre = [{"centre": str(c), "n": len(rows), **_accrual_months(rows)}
                 for c, rows in frame.groupby("centre", sort=True)]
    return {**_accrual_months(frame), "by_centre": by_centre}


def _accrual_months(rows: pd.DataFrame) -> dict[str, str | None]:
    def month(value: Any) -> str | None:
        return None if pd.isna(value) else pd.Timestamp(value).strftime("%Y-%m")

    return {"first_surgery": month(rows["surgery"].min()), "last_surgery": month(rows["surgery"].max()),
            "end_of_follow_up": month(rows["end"].max())}


def _baseline(task: TaskData, cohort: Cohort, config: PipelineConfig) -> dict[str, Any]:
    masks = baseline_columns(task.y, task.centres, config.outcome)
    return {name: baseline_table(task.X, columns, cohort.dictionary, outcome=config.outcome, y=task.y,
                                 followup_days=task.followup_days)
            for name, columns in masks.items()}


def _subgroups(y: np.ndarray, p: np.ndarray, task: TaskData, config: PipelineConfig,
               dd: DataDictionary) -> list[dict[str, Any]]:
    """Subgroup metrics of the out-of-fold predictions, levels in natural order; none without subgroup variables."""
    if task.groups.columns.empty:
        return []
    result = subgroup_metrics(y, p, task.groups, thresholds=config.thresholds, min_events=config.subgroups.min_events,
                              min_non_events=config.subgroups.min_events,
                              boot=Bootstrap.draw(y, n_boot=200, seed=config.seed), intersections=False)
    return to_jsonable(natural_order(result.to_frame(), subgroup_levels(config, dd, task.groups)))


def subgroup_levels(config: PipelineConfig, dd: DataDictionary, groups: pd.DataFrame) -> dict[str, list[str]]:
    """The natural order of each subgrouping's levels: age bands youngest first, categories in dictionary
    order, tertiles of a numeric variable by their lower edge, other labels sorted; missing last."""
    order: dict[str, list[str]] = {}
    for name in groups.columns:
        present = sorted(str(v) for v in groups[name].unique())
        if name == AGE_GROUP:
            levels = age_band_labels(config.subgroups.age_bands)
        elif dd.variable(name).categories:
            levels = [str(c) for c in dd.variable(name).categories]
        elif dd.variable(name).dtype == "bool":
            levels = ["False", "True"]
        elif dd.variable(name).dtype in ("float", "int"):
            levels = sorted((v for v in present if v != MISSING_LABEL), key=_lower_edge)
        else:
            levels = [v for v in present if v != MISSING_LABEL]
        order[name] = [*levels, *[v for v in present if v not in levels and v != MISSING_LABEL], MISSING_LABEL]
    return order


def natural_order(rows: pd.DataFrame, levels: dict[str, list[str]]) -> pd.DataFrame:
    """Subgroup rows with each grouping's levels in ``levels`` order; groupings and metrics keep their order."""
    groupings = list(dict.fromkeys(rows["grouping"]))

    def rank(grouping: str, group: Any) -> tuple[int, int]:
        known = levels.get(grouping, [])
        return groupings.index(grouping), known.index(str(group)) if str(group) in known else -1

    keys = [rank(g, v) for g, v in zip(rows["grouping"], rows["group"], strict=True)]
    return rows.iloc[sorted(range(len(rows)), key=keys.__getitem__)].reset_index(drop=True)


def _lower_edge(label: str) -> float:
    """The lower bound of a tertile label such as ``(55.9, 65.2]``."""
    return float(label.strip("([").split(",")[0])


def roc_points(y: np.ndarray, p: np.ndarray, grid: int = 101) -> dict[str, list[float]]:
    """ROC curve as sensitivity at an even grid of 1 - specificity (an aggregate, no patient points)."""
    fpr, tpr, _ = roc_curve(y, p)
    x = np.linspace(0.0, 1.0, grid)
    return {"false_positive_rate": x.tolist(), "true_positive_rate": np.interp(x, fpr, tpr).tolist()}


def _sample_size(task: TaskData, config: PipelineConfig, cohort: Cohort) -> dict[str, Any]:
    """Riley criteria for the candidate parameters of the reference (logistic) design."""
    pre = build_preprocessor(cohort.dictionary, task.predictors, imputation="simple",
                             spline_knots=config.spline_knots, drop_first=True).fit(task.X, task.y)
    n_parameters = len(pre.get_feature_names_out())
    prevalence = task.events / task.n
    required = development_sample_size(n_parameters=n_parameters, prevalence=prevalence, c_statistic=ANTICIPATED_C)
    adequacy = development_adequacy(task.n, n_parameters=n_parameters, prevalence=prevalence,
                                    r2_cox_snell=required.to_dict()["r2_cox_snell"])
    return {"anticipated_c_statistic": ANTICIPATED_C, "n_parameters": n_parameters,
            "required": required.to_dict(), "available": adequacy.to_dict()}


def _missing(task: TaskData) -> list[dict[str, Any]]:
    missing = task.X.isna().sum()
    return [{"variable": c, "n_missing": int(n), "fraction": float(n / task.n)} for c, n in missing.items()]


