"""Execution of an :class:`~.plan.ExperimentPlan`'s fits: in this process, in local worker processes, or on Spark.

Every fit of the plan is independent given its rows and its estimator, except the optimism
bootstrap's refits in ``fixed_hyperparameters`` mode, which take their family's final model's
hyperparameters and recalibration: they run in a second phase, once the final models are fit.
Fits run through joblib: ``jobs == 1`` in this process, else ``jobs`` worker processes (joblib's
``loky`` backend) or ``jobs`` concurrent Spark tasks (joblib's Spark backend, ``joblibspark``).

Nothing a fit computes depends on who runs it or when: the estimators' seeds come from the plan's
seed streams (:data:`~.plan.SEED_STREAMS`), every fit runs with one BLAS/OpenMP thread (threadpoolctl;
multi-threaded reductions may round differently), and results are gathered by the fit's position in
the plan, never in the order they finish. So the Evidence is the same for every ``jobs`` and backend.
Each Optuna study is named by a fingerprint of its fit's rows and configuration
(:meth:`~spineoutcome.modeling.TunedClassifier.study_name_for`), so no two fits of a plan share a
study, and the distributed tuning workers (:mod:`spineoutcome.distributed.workers`) tune the same
studies.

Data are shipped to a worker once, not with every fit (:class:`SharedData`): the task's predictors
and outcome, the families' estimators and the plan's fits. Workers return only what the engine needs
(:class:`FitResult`): a fit's predictions, a final model, a tuning summary, a bootstrap replicate's
metrics.
"""

from __future__ import annotations

import hashlib
import os
import pickle
import secrets
import tempfile
import time
import warnings
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Literal

import numpy as np
import optuna
import pandas as pd
from joblib import Parallel, delayed, parallel_config
from sklearn.base import clone
from threadpoolctl import threadpool_limits

from spineoutcome.errors import SpineoutcomeError
from spineoutcome.experiment.plan import ExperimentPlan, PlannedFit, Stage
from spineoutcome.experiment.validation import assemble_out_of_fold, predict_positive, replicate_metrics
from spineoutcome.modeling import TunedClassifier
from spineoutcome.progress import Progress, ProgressEvent

Backend = Literal["local", "spark"]
BACKENDS: tuple[Backend, ...] = ("local", "spark")
"""``local``: worker processes on this machine (joblib's loky); ``spark``: Spark tasks (joblibspark)."""
SPARK_NOTES = (
    "Spark local mode doesn't support stage-level scheduling",
    "`apply_async` is deprecated",
    "Spark session is not provided",
)
Metrics = dict[str, float]
FixedSettings = tuple[dict[str, Any], Any]
"""A final model's tuned hyperparameters and recalibration, given to its bootstrap refits."""


class BackendError(SpineoutcomeError, RuntimeError):
    """The parallel backend cannot be used (unknown name, joblibspark or Spark missing)."""


@dataclass(frozen=True)
class FitResult:
    """What one planned fit gives back.

    ``predictions``: risks of the test rows (cv, iecv, temporal) or of every patient (final: the
    apparent predictions; bootstrap: the replicate model's predictions on the original rows); None for
    a bootstrap sample that could not be fit (``error`` says why). ``model``: the fitted final model
    (final fits only). ``tuning``: the estimator's ``study_summary_``. ``replicate``: a bootstrap
    replicate's (optimism, out-of-bag) metrics (:func:`~.validation.replicate_metrics`). ``seconds``:
    the fit's wall time in its worker.
    """

    predictions: np.ndarray | None
    seconds: float
    model: TunedClassifier | None = None
    tuning: dict[str, Any] | None = None
    replicate: tuple[Metrics, Metrics] | None = None
    error: str | None = None


class PipelineProgress:
    """Counts a pipeline's finished units (its planned fits, then its later steps) and reports each as a
    :class:`~spineoutcome.progress.ProgressEvent` with ``done`` of ``total``."""

    def __init__(self, pipeline: str, total: int, receiver: Progress | None) -> None:
        self.pipeline = pipeline
        self.total = total
        self.receiver = receiver
        self.done = 0

    def step(self, stage: str, message: str, family: str | None = None, units: int = 1) -> None:
        """One (or ``units``) finished unit(s) of ``stage``."""
        self.done = min(self.done + units, self.total)
        if self.receiver is not None:
            self.receiver(ProgressEvent(self.pipeline, stage, message, self.done, self.total, family))


@dataclass(frozen=True)
class PlanResults:
    """Every fit's :class:`FitResult`, in the plan's order, with the views the engine reads."""

    plan: ExperimentPlan
    results: list[FitResult]
    n: int

    def for_family(self, family: str) -> PlanResults:
        """The fits of ``family`` alone (the plan's splits kept): what evaluating one family reads, small
        enough to ship to a worker."""
        keep = [i for i, f in enumerate(self.plan.fits) if f.family == family]
        plan = replace(self.plan, fits=[self.plan.fits[i] for i in keep])
        return PlanResults(plan, [self.results[i] for i in keep], self.n)

    def of(self, family: str, stage: Stage) -> list[tuple[PlannedFit, FitResult]]:
        """The fits of ``family`` at ``stage`` with their results, in plan order."""
        return [
            (f, r) for f, r in zip(self.plan.fits, self.results, strict=True) if f.family == family and f.stage == stage
        ]

    def final(self, family: str) -> FitResult:
        """The final fit of ``family`` (its model and apparent predictions)."""
        return self.of(family, "final")[0][1]

    def out_of_fold(self, family: str, stage: Literal["cv", "iecv"]) -> np.ndarray:
        """Out-of-fold predictions of ``family`` (one row per repeat; NaN where no fold tested a row)."""
        fits = self.of(family, stage)
        return assemble_out_of_fold([f.split for f, _ in fits], [r.predictions for _, r in fits], self.n)

    def temporal(self, family: str) -> np.ndarray:
        """Predictions for the temporal split's later patients from the model developed on the earlier ones."""
        return self.of(family, "temporal")[0][1].predictions

    def bootstrap_replicates(self, family: str) -> list[tuple[Metrics, Metrics] | None]:
        """Each optimism-bootstrap replicate's (optimism, out-of-bag) metrics; None where it failed."""
        return [r.replicate for _, r in self.of(family, "bootstrap")]

    def bootstrap_predictions(self, family: str) -> np.ndarray:
        """R x n: each bootstrap replicate model's predictions on the original rows (NaN row: failed)."""
        out = np.full((len(self.plan.bootstrap), self.n), np.nan)
        for b, (_, result) in enumerate(self.of(family, "bootstrap")):
            if result.predictions is not None:
                out[b] = result.predictions
        return out

    def tuning(self, family: str) -> list[dict[str, Any]]:
        """The tuning summaries the Evidence records: each cross-validation fold's, then the final model's."""
        return [r.tuning for _, r in [*self.of(family, "cv"), *self.of(family, "final")]]

    def seconds(self, family: str) -> float:
        """Compute time of the family's fits (sum of their wall times in the workers)."""
        return float(sum(r.seconds for f, r in zip(self.plan.fits, self.results, strict=True) if f.family == family))


_LOADED: dict[str, tuple[pd.DataFrame, np.ndarray, dict[str, TunedClassifier], list[PlannedFit]]] = {}
"""A worker process's copy of the data of the plan it is working on (one plan at a time)."""


class SharedData:
    """The inputs every fit reads: the task's predictors ``X`` and outcome ``y``, the families' estimators,
    and the plan's fits, shipped to a worker once and kept there for all its fits.

    In this process it is the objects themselves. For local workers it is written once to a private
    file (mode 0600 in a folder of mode 0700) and a task carries only its path and SHA-256 digest, which
    the worker checks before unpickling. On Spark it is a broadcast variable, sent to each executor once.
    """

    def __init__(
        self,
        payload: tuple[pd.DataFrame, np.ndarray, dict[str, TunedClassifier], list[PlannedFit]],
        *,
        folder: Path | None = None,
        broadcast: Any = None,
    ) -> None:
        self.token = secrets.token_hex(8)
        self.path: Path | None = None
        self.digest: str | None = None
        self.broadcast = broadcast
        self._payload: Any = payload
        if folder is not None:
            data = pickle.dumps(payload, protocol=pickle.HIGHEST_PROTOCOL)
            self.digest = hashlib.sha256(data).hexdigest()
            self.path = folder / f"{self.token}.pickle"
            fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        if self.path is not None or self.broadcast is not None:
            state["_payload"] = None
        return state

    def load(self) -> tuple[pd.DataFrame, np.ndarray, dict[str, TunedClassifier], list[PlannedFit]]:
        """The payload: this process's own objects, or the worker's copy (read once)."""
        if self._payload is not None:
            return self._payload
        if self.token not in _LOADED:
            if self.broadcast is not None:
                payload = self.broadcast.value
            else:
                data = self.path.read_bytes()
                if hashlib.sha256(data).hexdigest() != self.digest:
                    raise BackendError("the plan's shared data changed on disk after it was written; not loaded")
                payload = pickle.loads(data)  # noqa: S301 - digest checked against the record this task carries
            _LOADED.clear()
            _LOADED[self.token] = payload
        return _LOADED[self.token]


def run_fit(shared: SharedData, index: int, fixed: FixedSettings | None = None) -> tuple[int, FitResult]:
    """Run the plan's fit ``index`` (``fixed``: a final model's settings for a bootstrap refit), with one
    BLAS/OpenMP thread; returns ``(index, result)``."""
    X, y, estimators, fits = shared.load()
    fit = fits[index]
    estimator = clone(estimators[fit.family])
    if fixed is not None:
        estimator.set_params(params=fixed[0], calibration=fixed[1])
    started = time.perf_counter()
    with threadpool_limits(1):
        if fit.split is None:
            model = estimator.fit(X, y)
            return index, FitResult(predict_positive(model, X), _since(started), model, model.study_summary_)
        train = fit.split.train
        if fit.stage == "bootstrap":
            try:
                model = estimator.fit(X.iloc[train], y[train])
            except ValueError as exc:
                return index, FitResult(None, _since(started), error=str(exc))
            p = predict_positive(model, X)
            return index, FitResult(
                p, _since(started), tuning=model.study_summary_, replicate=replicate_metrics(y, p, train)
            )
        model = estimator.fit(X.iloc[train], y[train])
        p = predict_positive(model, X.iloc[fit.split.test])
        return index, FitResult(p, _since(started), tuning=model.study_summary_)


def _since(started: float) -> float:
    return time.perf_counter() - started


def execute_plan(
    plan: ExperimentPlan,
    estimators: dict[str, TunedClassifier],
    X: pd.DataFrame,
    y: np.ndarray,
    *,
    jobs: int = 1,
    backend: Backend = "local",
    fixed_bootstrap: bool = True,
    progress: PipelineProgress | None = None,
) -> PlanResults:
    """Run every fit of ``plan`` (module docstring) with ``jobs`` workers; results in plan order.

    ``estimators``: each family's unfitted estimator (:func:`~.plan.family_estimator`);
    ``fixed_bootstrap``: the bootstrap refits take their final model's hyperparameters and recalibration
    (``fixed_hyperparameters`` mode; else each re-tunes, ``full``). Phase 1 runs the
    final models first and then the other fits, dearest first (tuned before untuned, more rows first),
    so that no long fit starts last; phase 2 the bootstrap refits that take a final model's settings.
    """
    if jobs < 1:
        raise ValueError(f"jobs must be at least 1, got {jobs}")
    if backend not in BACKENDS:
        raise BackendError(f"unknown backend {backend!r}; choose one of {list(BACKENDS)}")
    results: list[FitResult | None] = [None] * len(plan.fits)
    dependent = [i for i, f in enumerate(plan.fits) if f.stage == "bootstrap" and fixed_bootstrap]
    first = sorted(
        set(range(len(plan.fits))) - set(dependent),
        key=lambda i: (plan.fits[i].stage != "final", not plan.fits[i].tuned, -_rows(plan.fits[i], len(y))),
    )
    with _shared(X, y, estimators, plan.fits, jobs, backend) as shared:
        for index, result in _run(shared, [(i, None) for i in first], plan.fits, jobs, backend, progress):
            results[index] = result
        settings = {
            f.family: (dict(results[i].model.best_params_), results[i].model.calibration_params() or "none")
            for i, f in enumerate(plan.fits)
            if f.stage == "final"
        }
        second = [(i, settings[plan.fits[i].family]) for i in dependent]
        for index, result in _run(shared, second, plan.fits, jobs, backend, progress):
            results[index] = result
    return PlanResults(plan, results, len(y))


def _rows(fit: PlannedFit, n: int) -> int:
    return n if fit.split is None else len(fit.split.train)


@contextmanager
def _shared(
    X: pd.DataFrame,
    y: np.ndarray,
    estimators: dict[str, TunedClassifier],
    fits: list[PlannedFit],
    jobs: int,
    backend: Backend,
) -> Iterator[SharedData]:
    payload = (X, y, estimators, fits)
    if jobs == 1:
        yield SharedData(payload)
        return
    _prepare_storages(estimators)
    if backend == "spark":
        context = _spark_context()
        variable = context.broadcast(payload)
        try:
            yield SharedData(payload, broadcast=variable)
        finally:
            variable.destroy()
        return
    with tempfile.TemporaryDirectory(prefix="spineoutcome-plan-") as folder:
        yield SharedData(payload, folder=Path(folder))


def _prepare_storages(estimators: dict[str, TunedClassifier]) -> None:
    """Create Optuna's tables once, before parallel fits would race to create them in an empty storage."""
    for url in {e.storage for e in estimators.values() if e.storage}:
        storage = optuna.storages.RDBStorage(url)
        storage.engine.dispose()


def _run(
    shared: SharedData,
    tasks: Sequence[tuple[int, FixedSettings | None]],
    fits: list[PlannedFit],
    jobs: int,
    backend: Backend,
    progress: PipelineProgress | None,
) -> Iterator[tuple[int, FitResult]]:
    """Results of the fits ``tasks``, each reported to ``progress`` as it finishes (on Spark, which returns
    them together, the count of finished fits is reported while they run)."""
    messages = _messages(fits)

    def counted(finished: int, new: int) -> None:
        if progress is not None:
            stage = fits[tasks[finished - 1][0]].stage
            progress.step(stage, f"{finished} of {len(tasks)} fits finished on Spark", units=new)

    one_by_one = jobs == 1 or backend == "local"
    arguments = [(shared, i, fixed) for i, fixed in tasks]
    for index, result in run_tasks(run_fit, arguments, jobs=jobs, backend=backend, on_count=counted):
        if progress is not None and one_by_one:
            progress.step(fits[index].stage, messages[index], fits[index].family)
        yield index, result


def run_tasks(
    function: Callable[..., tuple[Any, Any]],
    arguments: Sequence[tuple[Any, ...]],
    *,
    jobs: int,
    backend: Backend,
    on_count: Callable[[int, int], None] | None = None,
) -> Iterator[tuple[Any, Any]]:
    """``function(*a)`` for each ``a`` of ``arguments`` with ``jobs`` workers on ``backend``; each call returns
    ``(key, value)`` and these are yielded as the calls finish (in this process with ``jobs == 1``, in order).

    Spark hands results back together: ``on_count(finished, newly)`` hears the count of finished calls
    while they run.
    """
    if jobs == 1:
        yield from (function(*a) for a in arguments)
        return
    if backend == "local":
        with parallel_config(backend="loky", inner_max_num_threads=1):
            parallel = Parallel(n_jobs=jobs, return_as="generator_unordered", batch_size=1)
            yield from parallel(delayed(function)(*a) for a in arguments)
        return
    _register_spark()
    reported = [0]

    def counted(finished: int) -> None:
        finished = min(finished, len(arguments))
        if on_count is not None and finished > reported[0]:
            on_count(finished, finished - reported[0])
        reported[0] = max(reported[0], finished)

    with parallel_config(backend="spark"), warnings.catch_warnings():
        # joblibspark's notes about itself (local mode has no stage-level scheduling, joblib's API change)
        for note in SPARK_NOTES:
            warnings.filterwarnings("ignore", message=note)
        results = _CountingParallel(counted, n_jobs=jobs, batch_size=1)(delayed(function)(*a) for a in arguments)
    yield from results


class _CountingParallel(Parallel):
    """joblib's Parallel telling ``on_progress`` how many tasks have finished (for backends that return
    results only together)."""

    def __init__(self, on_progress: Any, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.on_progress = on_progress

    def print_progress(self) -> None:
        """Report the count of finished tasks (instead of joblib's verbose printing)."""
        self.on_progress(self.n_completed_tasks)


def _messages(fits: list[PlannedFit]) -> list[str]:
    """What a person reads when each fit finishes, e.g. ``lightgbm: CV fold 3 of 5``."""
    counts: dict[tuple[str, str], int] = {}
    for f in fits:
        counts[f.family, f.stage] = counts.get((f.family, f.stage), 0) + 1
    repeats = len({f.label.split(" fold ")[0] for f in fits if f.stage == "cv"}) or 1
    seen: dict[tuple[str, str], int] = {}
    out = []
    for f in fits:
        k = seen[f.family, f.stage] = seen.get((f.family, f.stage), 0) + 1
        total = counts[f.family, f.stage]
        if f.stage == "cv":
            folds = total // repeats
            text = f"CV fold {(k - 1) % folds + 1} of {folds}"
            text += f", repeat {(k - 1) // folds + 1} of {repeats}" if repeats > 1 else ""
        elif f.stage == "final":
            text = "final model on all patients"
        elif f.stage == "bootstrap":
            text = f"bootstrap {k} of {total}"
        elif f.stage == "iecv":
            text = f"centre {k} of {total} left out"
        else:
            text = f"temporal validation ({f.label})"
        out.append(f"{f.family}: {text}")
    return out


def _register_spark() -> None:
    try:
        from joblibspark import register_spark
    except ImportError:
        raise BackendError(
            "the spark backend needs joblibspark and pyspark: pip install 'spineoutcome[scale]'"
        ) from None
    register_spark()


def _spark_context() -> Any:
    """The active Spark session's context (created in local mode when there is none, as joblibspark does)."""
    _register_spark()
    from pyspark.sql import SparkSession

    return SparkSession.builder.getOrCreate().sparkContext
