"""Elastic net before and after: Optuna trials of saga cold fits vs the warm-started path of Newton fits.

Usage::

    python benchmarks/bench_elastic_net.py [--n 2000 10000] [--folds 5]

Data: a synthetic cohort of ``--n`` patients (the embedded generator, seed 7) with the shipped
c5_palsy pipeline's predictors, outcome and tuning settings (12 trials, 3 inner folds, log-loss).
Each arm is tuned inside every training fold of an outer stratified ``--folds``-fold CV (nested,
as ``train`` does) and predicts the held-out fold:

- **before** (the family up to this change): ``LogisticRegression(solver="saga", tol=1e-4,
  max_iter=5000)`` in the family's preprocessing pipeline, tuned by a seeded TPE study of
  ``n_trials`` trials over C in [1e-3, 1e2] (log) and l1_ratio in [0, 1], median pruner;
- **after**: ``TunedClassifier("elastic_net")`` as shipped: :class:`ElasticNetLogistic` scored along
  its warm-started path (5 l1_ratio x 21 C) on the same inner folds.

The arms alternate fold by fold (a shared machine's load falls on both alike). Printed per arm:
wall and CPU seconds per tuned fit (mean over outer folds), seconds per single fit at the chosen
parameters on all rows (what each bootstrap refit costs), the pooled outer-CV log-loss and the
mean inner-CV log-loss of the chosen parameters.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import optuna
from sklearn.base import clone
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import get_scorer, log_loss
from sklearn.model_selection import StratifiedKFold

from spineoutcome.api import load_cohort
from spineoutcome.config import load_pipeline
from spineoutcome.data.synth import generate_cohort
from spineoutcome.dictionary import builtin_pipelines_dir
from spineoutcome.experiment import prepare_task
from spineoutcome.experiment.plan import family_estimator
from spineoutcome.inner_cv import inner_folds
from spineoutcome.modeling import make_pipeline


def pipeline_of(estimator, params: dict):
    """The family's pipeline with ``params``, as the tuned estimator builds it."""
    return make_pipeline(
        "elastic_net",
        estimator.dictionary,
        estimator.predictors,
        params,
        class_weight=estimator.class_weight,
        random_state=estimator.random_state,
        preprocess=estimator.preprocess,
    )


def saga_pipeline(estimator, params: dict):
    pipeline = pipeline_of(estimator, {})
    saga = LogisticRegression(
        solver="saga",
        max_iter=5000,
        tol=1e-4,
        random_state=estimator.random_state,
        class_weight=estimator.class_weight,
        **{"C": 1.0, "l1_ratio": 0.5, **params},
    )
    return pipeline.set_params(model=saga)


def before(estimator, X, y) -> tuple[dict, float]:
    """The pre-change tuning: TPE over the continuous space with saga cold fits (module docstring)."""
    folds = inner_folds(X, y, estimator.inner_cv, estimator.random_state)
    scorer = get_scorer(estimator.metric)

    def objective(trial: optuna.Trial) -> float:
        params = {"C": trial.suggest_float("C", 1e-3, 1e2, log=True), "l1_ratio": trial.suggest_float("l1_ratio", 0, 1)}
        scores = []
        for step, (train, test) in enumerate(folds):
            model = saga_pipeline(estimator, params).fit(X.iloc[train], y[train])
            scores.append(scorer(model, X.iloc[test], y[test]))
            trial.report(float(np.mean(scores)), step)
            if trial.should_prune():
                raise optuna.TrialPruned()
        return float(np.mean(scores))

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(
        direction="maximize",
        sampler=optuna.samplers.TPESampler(seed=estimator.random_state),
        pruner=optuna.pruners.MedianPruner(n_startup_trials=5, n_warmup_steps=1),
    )
    study.optimize(objective, n_trials=estimator.n_trials)
    return dict(study.best_params), float(study.best_value)


def fit_arm(name: str, estimator, X, y):
    """One tuned fit of an arm on (X, y): the fitted model, its chosen parameters and inner-CV score."""
    if name == "before":
        params, score = before(estimator, X, y)
        return saga_pipeline(estimator, params).fit(X, y), params, score
    model = clone(estimator).fit(X, y)
    return model, model.best_params_, model.best_score_


def compare(estimator, X, y, folds: int) -> dict[str, dict[str, float]]:
    """Both arms on the same outer folds, alternating fold by fold so that the load of a shared machine
    falls on both alike; wall and CPU seconds of this process."""
    arms = ("before", "after")
    oof = {a: np.empty(len(y)) for a in arms}
    wall: dict[str, list[float]] = {a: [] for a in arms}
    cpu: dict[str, list[float]] = {a: [] for a in arms}
    inner: dict[str, list[float]] = {a: [] for a in arms}
    chosen: dict[str, dict] = {}
    for train, test in StratifiedKFold(folds, shuffle=True, random_state=11).split(X, y):
        for name in arms:
            start, start_cpu = time.perf_counter(), time.process_time()
            model, chosen[name], score = fit_arm(name, estimator, X.iloc[train], y[train])
            wall[name].append(time.perf_counter() - start)
            cpu[name].append(time.process_time() - start_cpu)
            inner[name].append(-score)
            oof[name][test] = model.predict_proba(X.iloc[test])[:, 1]
    results = {}
    for name in arms:
        single = saga_pipeline(estimator, chosen[name]) if name == "before" else pipeline_of(estimator, chosen[name])
        start = time.perf_counter()
        single.fit(X, y)
        results[name] = {
            "tuned_fit_s": statistics.mean(wall[name]),
            "tuned_fit_cpu_s": statistics.mean(cpu[name]),
            "single_fit_s": time.perf_counter() - start,
            "cv_log_loss": log_loss(y, oof[name]),
            "inner_log_loss": statistics.mean(inner[name]),
        }
    return results


def main() -> None:
    """Run both arms for each ``--n`` and print one Markdown row per arm."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, nargs="+", default=[2000, 10000])
    parser.add_argument("--folds", type=int, default=5)
    args = parser.parse_args()
    config = load_pipeline(builtin_pipelines_dir() / "c5_palsy.yaml")
    print(f"# {platform.processor() or platform.machine()}, {os.cpu_count()} cores, load {os.getloadavg()[0]:.2f}")
    print("| n | arm | s per tuned fit (wall) | (CPU) | s per single fit | outer-CV log-loss | inner-CV log-loss |")
    print("|---:|---|---:|---:|---:|---:|---:|")
    for n in args.n:
        with tempfile.TemporaryDirectory() as tmp:
            generate_cohort(Path(tmp), n=n, seed=7)
            cohort = load_cohort(Path(tmp))
            task = prepare_task(config, cohort)
        estimator = family_estimator("elastic_net", config, cohort.dictionary, task.predictors, None)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # saga's ConvergenceWarning at weak penalties
            results = compare(estimator, task.X, task.y, args.folds)
        for name, r in results.items():
            print(
                f"| {n} | {name} | {r['tuned_fit_s']:.2f} | {r['tuned_fit_cpu_s']:.2f} | {r['single_fit_s']:.3f} "
                f"| {r['cv_log_loss']:.5f} | {r['inner_log_loss']:.5f} |",
                flush=True,
            )
    print(f"# load at the end {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
