"""The demo: synthesize a cohort, run every pipeline, log each run to MLflow, write the reports.

``jobs`` is the number of cores it uses. Pipelines run in ``min(jobs, pipelines)`` worker processes,
each pipeline with ``jobs / processes`` parallel fits, rounded up so that no core idles while
pipelines remain (:mod:`spineoutcome.experiment.executor`; every model fits on one core). Whole
pipelines in parallel finish sooner than one pipeline at a time with all cores: pipelines share
nothing, so nothing waits, while inside a pipeline the bootstrap refits wait for the final models
and the evaluation, SHAP and reporting run on one core. Pipelines
start dearest first (longest-processing-time-first scheduling, Graham, SIAM J Appl Math
1969;17:416-29; the cost is the number of model fits the pipeline file implies), so no long pipeline
starts last. Each finished run is logged to MLflow and rendered in this process while the workers go
on, one run at a time, so a SQLite tracking store never sees two writers. The workers' progress
events come back through a queue and reach ``progress`` as they happen.
"""

from __future__ import annotations

import multiprocessing
import threading
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from spineoutcome.api import load_cohort
from spineoutcome.config import load_pipeline
from spineoutcome.data.synth import generate_cohort
from spineoutcome.data.synth_config import SynthConfig
from spineoutcome.dictionary import RADIOMICS_GROUP, DataDictionary, builtin_pipelines_dir
from spineoutcome.experiment import ExperimentResult, run_experiment
from spineoutcome.modeling.families import REGISTRY
from spineoutcome.progress import Progress, ProgressEvent

SELECTION_COST = 2
"""Cost of a fit with LASSO radiomics selection in plain fits: per XGBoost fit, progression_24m took
1.8 times as long as c5_palsy once the LASSO choice was recalled across tuning trials (benchmarks/RESULTS.md,
"Demo under 8 min": Evidence timings of the demo)."""


@dataclass
class DemoRun:
    """Where one pipeline's outputs went, and how long it took (training; logging and reporting)."""

    pipeline: str
    seconds: float
    publish_seconds: float
    run_dir: Path
    report: Path | None = None
    mlflow_run_id: str | None = None
    best_family: str = ""


@dataclass
class DemoSummary:
    data_dir: Path
    runs: list[DemoRun] = field(default_factory=list)
    tracking_uri: str | None = None
    seconds: float = 0.0


def run_demo(
    out: Path,
    *,
    n: int = 2000,
    seed: int = 7,
    pipelines: list[Path] | None = None,
    reports_dir: Path = Path("reports"),
    jobs: int = 2,
    tracking_uri: str | None = None,
    log_to_mlflow: bool = True,
    progress: Progress | None = None,
) -> DemoSummary:
    """Run the whole job on a synthetic cohort with ``jobs`` cores (see module docstring)."""
    if jobs < 1:
        raise ValueError(f"jobs must be at least 1, got {jobs}")
    started = time.perf_counter()
    say = progress or (lambda _event: None)
    data_dir = out / "synthetic"
    say(ProgressEvent("demo", "synthesize", f"synthesizing {n} patients"))
    generate_cohort(data_dir, n=n, seed=seed)
    pipelines = sorted(pipelines or builtin_pipelines_dir().glob("*.yaml"), key=expected_fits, reverse=True)
    processes = max(1, min(jobs, len(pipelines)))
    jobs_each = -(-jobs // processes)
    summary = DemoSummary(data_dir=data_dir)
    reports_dir.mkdir(parents=True, exist_ok=True)
    context = multiprocessing.get_context("spawn")
    events = context.Queue()
    forwarder = threading.Thread(target=_forward, args=(events, say), daemon=True)
    forwarder.start()
    try:
        with ProcessPoolExecutor(
            max_workers=processes, mp_context=context, initializer=_init_worker, initargs=(events,)
        ) as pool:
            statement = SynthConfig.load(DataDictionary.load()).data_statement(n, seed)
            futures = {pool.submit(_train, path, data_dir, jobs_each, statement): path for path in pipelines}
            for future in as_completed(futures):
                name = futures[future].stem
                result, seconds = future.result()
                say(ProgressEvent(name, "report", f"trained {name} in {seconds / 60:.1f} min; reporting"))
                run = _publish(result, seconds, name, out / "runs", reports_dir, tracking_uri, log_to_mlflow)
                summary.runs.append(run)
                logged = "; logged to MLflow" if run.mlflow_run_id else ""
                say(ProgressEvent(name, "logging", f"{name}: report written{logged}"))
    finally:
        events.put(None)
        forwarder.join()
        events.close()
    summary.runs.sort(key=lambda run: run.pipeline)
    summary.tracking_uri = tracking_uri
    summary.seconds = time.perf_counter() - started
    return summary


def _forward(events: Any, progress: Progress) -> None:
    """Hand the workers' progress events to ``progress`` until the end marker (None)."""
    while (event := events.get()) is not None:
        progress(event)


_EVENTS: list[Any] = []
"""A demo worker process's queue to the parent (set by :func:`_init_worker`)."""


def _init_worker(events: Any) -> None:
    _EVENTS[:] = [events]


def expected_fits(pipeline: Path) -> int:
    """Model fits a pipeline file implies: its scheduling cost (module docstring).

    Per tuned family, trials x inner folds for each outer fit; outer fits are the CV folds, the
    final model, and as many internal-external folds again when IECV is on (about one per centre);
    each bootstrap replicate re-tunes (``full``) or refits once. Survival families fit once per
    fold and for the final model. A fit with in-fold radiomics selection counts
    ``SELECTION_COST`` times (its selector runs its own inner CV).
    """
    config = load_pipeline(pipeline)
    validation = config.validation
    outer = validation.folds * validation.repeats + 1 + (validation.folds if validation.internal_external else 0)
    tuned = config.tuning.n_trials * config.tuning.inner_folds
    per_family = {name: (tuned if REGISTRY[name].tuned else 1) for name in config.families}
    fits = sum(outer * cost for cost in per_family.values())
    if validation.bootstrap is not None:
        replicate = (lambda cost: cost) if validation.bootstrap.mode == "full" else (lambda cost: 1)
        fits += validation.bootstrap.replicates * sum(replicate(cost) for cost in per_family.values())
    selects = config.radiomics_selection != "none" and RADIOMICS_GROUP in config.predictors.groups
    return fits * (SELECTION_COST if selects else 1) + outer * len(config.survival_families)


def _train(pipeline: Path, data_dir: Path, jobs: int, data_source: str) -> tuple[ExperimentResult, float]:
    """Train ``pipeline`` on the synthetic cohort; unless the pipeline says where its data come from,
    its report and model card say they are synthetic (``data_source``)."""
    t0 = time.perf_counter()
    progress = _EVENTS[0].put if _EVENTS else None
    cohort = load_cohort(data_dir)
    config = load_pipeline(pipeline, cohort.dictionary)
    if data_source and not config.data_source:
        config = config.model_copy(update={"data_source": data_source})
    result = run_experiment(config, cohort, validation_flow=cohort.validation_flow, jobs=jobs, progress=progress)
    return result, time.perf_counter() - t0


def _publish(
    result: ExperimentResult,
    seconds: float,
    name: str,
    runs_dir: Path,
    reports_dir: Path,
    tracking_uri: str | None,
    log_to_mlflow: bool,
) -> DemoRun:
    from spineoutcome.report import render_report, write_model_card

    started = time.perf_counter()
    evidence = result.evidence
    run_dir = runs_dir / f"{name}-{evidence.run_id[:8]}"
    evidence.save(run_dir)
    report = render_report(evidence.to_dict(), reports_dir / f"{name}.pdf", figures_dir=run_dir / "figures")
    write_model_card(evidence.to_dict(), reports_dir / f"{name}.model_card.json")
    run_id = None
    if log_to_mlflow:
        from spineoutcome.tracking import log_run

        run_id = log_run(result, tracking_uri=tracking_uri, artifacts_dir=run_dir)
    return DemoRun(name, seconds, time.perf_counter() - started, run_dir, report, run_id, evidence.best_family)
