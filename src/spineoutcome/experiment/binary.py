"""A binary-outcome pipeline: every model family on the same splits, evaluated, compared and explained.

What is measured for each family (all families share the cross-validation folds, bootstrap
replicates and centre folds); the model fits of 1-5 are the :class:`~.plan.ExperimentPlan`'s, run
together first by :func:`~.executor.execute_plan` (in parallel with ``jobs > 1``); then each family is
evaluated from its fits (:func:`evaluate_family`, the families in parallel with ``jobs > 1``), and
the families are compared:
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

import os
import time
from dataclasses import replace
from typing import Any

import numpy as np
import pandas as pd
from sklearn.metrics import roc_curve
from threadpoolctl import threadpool_limits

from spineoutcome.config import AGE_GROUP, PipelineConfig
from spineoutcome.data.cohort import Cohort
from spineoutcome.dictionary import DataDictionary
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
from spineoutcome.evidence import ComparisonRecord, FamilyEvidence, InternalExternalRecord, TemporalRecord
from spineoutcome.experiment.baseline import MISSING_LABEL
from spineoutcome.experiment.comparators import evaluate_comparators
from spineoutcome.experiment.executor import Backend, PipelineProgress, PlanResults, execute_plan, run_tasks
from spineoutcome.experiment.instability import instability_record
from spineoutcome.experiment.plan import ExperimentPlan, family_estimator, seed_of, selects_features
from spineoutcome.experiment.records import ExperimentResult, build_evidence
from spineoutcome.experiment.specification import specification
from spineoutcome.experiment.task import TaskData, age_band_labels
from spineoutcome.experiment.validation import (
    optimism_correction,
    optimism_method,
    point_metrics,
    prediction_distribution,
)
from spineoutcome.explain import summarise_shap
from spineoutcome.modeling import REGISTRY, build_preprocessor
from spineoutcome.modeling.budget import complexity_rank, spline_budget
from spineoutcome.modeling.resampling import Split
from spineoutcome.progress import Progress

METRIC_REPLICATES = 200
"""Bootstrap replicates of the metrics' confidence intervals (cross-validated, temporal, subgroups)."""
COMPARISON_REPLICATES = 500
SELECTION_REPLICATES = 1000
"""Paired bootstrap replicates of the one-SE choice among the families (evaluation.selection)."""


def run_binary(
    config: PipelineConfig,
    cohort: Cohort,
    task: TaskData,
    *,
    progress: Progress | None,
    storage: str | None,
    started: float,
    jobs: int = 1,
    backend: Backend = "local",
) -> ExperimentResult:
    """Every family of ``config`` through the plan's splits (module docstring), compared and explained.

    The plan's fits run first, all together (:func:`~.executor.execute_plan`, ``jobs`` workers on
    ``backend``); then the families are evaluated and explained, up to ``jobs`` at once in local worker
    processes (a family's evaluation needs its final model and the analysis data, which this process has).
    """
    budget = spline_budget(
        cohort.dictionary,
        task.predictors,
        task.X,
        task.y,
        max_knots=config.spline_knots,
        rule=config.spline_budget,
        imputation=config.imputation,
        radiomics_selection=config.radiomics_selection,
        anticipated_c=config.sample_size.anticipated_c_statistic,
    )
    config = config.model_copy(update={"spline_knots": budget.knots})
    timings: dict[str, float] = {"prepare": time.perf_counter() - started}
    X, y = task.X, task.y
    plan = ExperimentPlan.build(config, task)
    estimators = {f: family_estimator(f, config, cohort.dictionary, task.predictors, storage) for f in config.families}
    tracker = PipelineProgress(config.name, len(plan.fits) + len(config.families) + 1, progress)
    t0 = time.perf_counter()
    fits = execute_plan(
        plan,
        estimators,
        X,
        y,
        jobs=jobs,
        backend=backend,
        fixed_bootstrap=bool(plan.bootstrap) and config.validation.bootstrap.mode != "full",
        progress=tracker,
    )
    timings["fits"] = time.perf_counter() - t0
    reference = next((f for f in config.families if REGISTRY[f].reference), None)
    reference_oof = fits.out_of_fold(reference, "cv")[0] if reference is not None else None
    arguments = [
        (f, fits.for_family(f), config, task, cohort.dictionary, None if f == reference else reference_oof)
        for f in config.families
    ]
    evaluated: dict[str, tuple[FamilyEvidence, np.ndarray]] = {}
    workers = min(jobs, len(arguments), os.cpu_count() or 1)
    for family, result in run_tasks(evaluation_task, arguments, jobs=workers, backend="local"):
        evaluated[family] = result
        tracker.step("shap", f"{family}: evaluation, SHAP and model specification", family)
    families = {f: evaluated[f][0] for f in config.families}
    oof_all = {f: evaluated[f][1] for f in config.families}
    models = {f: fits.final(f).model for f in config.families}
    timings |= {f"family {f}": families[f].seconds for f in config.families}
    within_budget = budget.n_parameters <= budget.max_parameters
    ranks = {f: complexity_rank(f, config.spline_knots, within_budget) for f in oof_all}
    selection = select_one_se(y, oof_all, ranks, n_boot=SELECTION_REPLICATES, seed=seed_of(config, "model_selection"))
    for choice in selection.families:
        record = families[choice.family]
        families[choice.family] = replace(
            record, cross_validation={**record.cross_validation, "selection": choice.to_dict()}
        )
    best = selection.winner
    comparators = evaluate_comparators(config, cohort, task, plan.cv, oof_all[best][0], best)
    tracker.step("evaluation", f"comparison and selection: {best} selected")
    timings["total"] = time.perf_counter() - started
    evidence = build_evidence(
        config,
        cohort,
        task,
        families=families,
        best=best,
        selection_rule=selection.statement(),
        sample_size={**sample_size(task, config, cohort), "spline_budget": budget.to_dict()},
        timings=timings,
        model_selection=selection.to_dict(),
        comparators=comparators,
    )
    return ExperimentResult(evidence, models, task)


def evaluation_task(
    family: str,
    fits: PlanResults,
    config: PipelineConfig,
    task: TaskData,
    dd: DataDictionary,
    reference_oof: np.ndarray | None,
) -> tuple[str, tuple[FamilyEvidence, np.ndarray]]:
    """:func:`evaluate_family` run by :func:`~.executor.run_tasks` (in a worker with ``jobs > 1``), with its
    paired comparison to the reference family's out-of-fold risks ``reference_oof`` (None: it is the
    reference). One BLAS/OpenMP thread wherever it runs, so the record is the same for every ``jobs``."""
    with threadpool_limits(1):
        record, oof = evaluate_family(family, fits, config, task, dd)
        if reference_oof is not None:
            record = replace(record, comparison_to_logistic=compare(task.y, oof[0], reference_oof, config))
    return family, (record, oof)


def evaluate_family(
    family: str,
    fits: PlanResults,
    config: PipelineConfig,
    task: TaskData,
    dd: DataDictionary,
) -> tuple[FamilyEvidence, np.ndarray]:
    """One family's record from its fits: cross-validated metrics and subgroups, optimism, internal-external
    and temporal validation, SHAP and specification of the final model; and its out-of-fold predictions."""
    started = time.perf_counter()
    X, y, plan = task.X, task.y, fits.plan
    oof = fits.out_of_fold(family, "cv")
    cv_eval = evaluate_predictions(
        y, oof[0], thresholds=config.thresholds, n_boot=METRIC_REPLICATES, seed=seed_of(config, "metric_bootstrap")
    )
    final = fits.final(family).model
    optimism = None
    if plan.bootstrap:
        optimism = optimism_correction(
            y,
            fits.final(family).predictions,
            fits.bootstrap_replicates(family),
            mode=config.validation.bootstrap.mode,
            method=optimism_method(REGISTRY[family].optimism, selects_features(config, dd, task.predictors)),
        )
    iecv_record = (
        internal_external(y, fits.out_of_fold(family, "iecv"), task, plan.centres_pooled_out) if plan.iecv else None
    )
    temporal_record = temporal(y, fits.temporal(family), plan.temporal, config) if plan.temporal else None
    subgroup_records = subgroups(y, oof[0], task, config, dd)
    shap = summarise_shap(
        final.best_estimator_, X, seed=seed_of(config, "shap_sample"), calibration=final.calibration_params()
    )
    spec = specification(final, X, y, dd)
    record = FamilyEvidence(
        family=family,
        cross_validation={
            **cv_eval.to_dict(),
            "roc": roc_points(y, oof[0]),
            "prediction_distribution": prediction_distribution(y, oof[0]),
        },
        cv_repeats=[{k: float(v[0]) for k, v in point_metrics(y, row).items()} for row in oof],
        optimism=optimism.to_dict() if optimism else None,
        internal_external=iecv_record,
        temporal=temporal_record,
        comparison_to_logistic=None,
        subgroups=subgroup_records,
        shap=shap.to_dict(),
        specification=spec,
        tuning=fits.tuning(family),
        seconds=fits.seconds(family) + time.perf_counter() - started,
        instability=instability_record(
            y,
            fits.final(family).predictions,
            fits.bootstrap_predictions(family) if plan.bootstrap else None,
            config.thresholds,
        ),
    )
    return record, oof


def internal_external(y: np.ndarray, oof: np.ndarray, task: TaskData, pooled_out: list[str]) -> InternalExternalRecord:
    """Internal-external cross-validation by centre: each tested centre predicted by a model developed
    without it (``oof``), with random-effects pooling of the centres' performance (Debray et al., BMJ 2017)."""
    tested = ~np.isnan(oof[0])
    het = centre_heterogeneity(y[tested], oof[0][tested], task.centres[tested], min_events=1, min_non_events=1)
    return {
        "heterogeneity": het.to_dict(),
        "centres_not_tested": pooled_out,
        "pooled_predictions": {k: float(v[0]) for k, v in point_metrics(y[tested], oof[0][tested]).items()},
        "n_tested": int(tested.sum()),
    }


def temporal(y: np.ndarray, p: np.ndarray, split: Split, config: PipelineConfig) -> TemporalRecord:
    """Temporal validation: ``p``, the later patients' risks from a model developed on those operated
    before the split date."""
    return {
        "split": split.label,
        "n_development": len(split.train),
        "n_validation": len(split.test),
        "evaluation": evaluate_predictions(
            y[split.test],
            p,
            thresholds=config.thresholds,
            n_boot=METRIC_REPLICATES,
            seed=seed_of(config, "metric_bootstrap"),
        ).to_dict(),
    }


def compare(y: np.ndarray, p_model: np.ndarray, p_reference: np.ndarray, config: PipelineConfig) -> ComparisonRecord:
    """Paired model-minus-logistic differences on the same patients: DeLong for AUC, bootstrap for ICI and NB."""
    boot = Bootstrap.draw(y, n_boot=COMPARISON_REPLICATES, seed=seed_of(config, "comparison_bootstrap"))
    weights = np.vstack([np.ones((1, len(y))), boot.weights])
    thresholds = np.asarray(config.thresholds, dtype=float)
    ici = (
        loess_errors_weighted(y, p_model, weights, n_bins=100)["ici"]
        - loess_errors_weighted(y, p_reference, weights, n_bins=100)["ici"]
    )
    nb = (
        net_benefit_weighted(y, p_model, weights, thresholds)["nb_model"]
        - net_benefit_weighted(y, p_reference, weights, thresholds)["nb_model"]
    )
    return {
        "auc_delong": delong_test(y, p_model, p_reference).to_dict(),
        "ici_difference": boot.estimate(ici[0], ici[1:]).to_dict(),
        "net_benefit_difference": [
            {"threshold": float(t), **boot.estimate(nb[0, i], nb[1:, i]).to_dict()} for i, t in enumerate(thresholds)
        ],
    }


def subgroups(
    y: np.ndarray, p: np.ndarray, task: TaskData, config: PipelineConfig, dd: DataDictionary
) -> list[dict[str, Any]]:
    """Subgroup metrics of the out-of-fold predictions, levels in natural order; none without subgroup variables."""
    if task.groups.columns.empty:
        return []
    boot = Bootstrap.draw(y, n_boot=METRIC_REPLICATES, seed=seed_of(config, "metric_bootstrap"))
    result = subgroup_metrics(
        y,
        p,
        task.groups,
        thresholds=config.thresholds,
        min_events=config.subgroups.min_events,
        min_non_events=config.subgroups.min_events,
        boot=boot,
        intersections=False,
    )
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


def sample_size(task: TaskData, config: PipelineConfig, cohort: Cohort) -> dict[str, Any]:
    """Riley criteria for the candidate parameters of the reference (logistic) design."""
    pre = build_preprocessor(
        cohort.dictionary, task.predictors, imputation="simple", spline_knots=config.spline_knots, drop_first=True
    ).fit(task.X, task.y)
    n_parameters = len(pre.get_feature_names_out())
    prevalence = task.events / task.n
    anticipated = config.sample_size.anticipated_c_statistic
    required = development_sample_size(n_parameters=n_parameters, prevalence=prevalence, c_statistic=anticipated)
    adequacy = development_adequacy(
        task.n, n_parameters=n_parameters, prevalence=prevalence, r2_cox_snell=required.to_dict()["r2_cox_snell"]
    )
    return {
        "anticipated_c_statistic": anticipated,
        "anticipated_c_source": config.sample_size.source,
        "n_parameters": n_parameters,
        "required": required.to_dict(),
        "available": adequacy.to_dict(),
    }
