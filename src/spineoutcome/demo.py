"""The demo: synthesize a cohort, run every pipeline, log each run to MLflow, write the reports.

Pipelines run in worker processes (every model fits on one core, so two workers use a two-core
machine fully); logging to MLflow and rendering happen afterwards in this process, one run at a
time, so a SQLite tracking store never sees two writers.
"""

from __future__ import annotations

import multiprocessing
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path

from spineoutcome.api import load_cohort, run_pipeline
from spineoutcome.data.synth import generate_cohort
from spineoutcome.dictionary import builtin_pipelines_dir
from spineoutcome.experiment import ExperimentResult


@dataclass
class DemoRun:
    """Where one pipeline's outputs went, and how long it took."""

    pipeline: str
    seconds: float
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


def run_demo(out: Path, *, n: int = 2000, seed: int = 7, pipelines: list[Path] | None = None,
             reports_dir: Path = Path("reports"), workers: int = 2, tracking_uri: str | None = None,
             log_to_mlflow: bool = True, progress: Callable[[str], None] | None = None) -> DemoSummary:
    """Run the whole job on a synthetic cohort (see module docstring)."""
    started = time.perf_counter()
    say = progress or (lambda _msg: None)
    data_dir = out / "synthetic"
    say(f"synthesizing {n} patients")
    generate_cohort(data_dir, n=n, seed=seed)
    pipelines = pipelines or sorted(builtin_pipelines_dir().glob("*.yaml"))
    summary = DemoSummary(data_dir=data_dir)
    results: dict[str, tuple[ExperimentResult, float]] = {}
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=max(1, workers), mp_context=context) as pool:
        futures = {pool.submit(_train, path, data_dir): path for path in pipelines}
        for future in as_completed(futures):
            result, seconds = future.result()
            results[futures[future].stem] = (result, seconds)
            say(f"trained {futures[future].stem} in {seconds / 60:.1f} min")
    reports_dir.mkdir(parents=True, exist_ok=True)
    for path in pipelines:
        result, seconds = results[path.stem]
        run = _publish(result, seconds, path.stem, out / "runs", reports_dir, tracking_uri, log_to_mlflow)
        summary.runs.append(run)
        say(f"reported {path.stem}")
    summary.tracking_uri = tracking_uri
    summary.seconds = time.perf_counter() - started
    return summary


def _train(pipeline: Path, data_dir: Path) -> tuple[ExperimentResult, float]:
    t0 = time.perf_counter()
    result = run_pipeline(pipeline, load_cohort(data_dir))
    return result, time.perf_counter() - t0


def _publish(result: ExperimentResult, seconds: float, name: str, runs_dir: Path, reports_dir: Path,
             tracking_uri: str | None, log_to_mlflow: bool) -> DemoRun:
    from spineoutcome.report import render_report, write_model_card

    evidence = result.evidence
    run_dir = runs_dir / f"{name}-{evidence.run_id[:8]}"
    evidence.save(run_dir)
    report = render_report(evidence.to_dict(), reports_dir / f"{name}.pdf", figures_dir=run_dir / "figures")
    write_model_card(evidence.to_dict(), reports_dir / f"{name}.model_card.json")
    run_id = None
    if log_to_mlflow:
        from spineoutcome.tracking import log_run

        run_id = log_run(result, tracking_uri=tracking_uri, artifacts_dir=run_dir)
    return DemoRun(name, seconds, run_dir, report, run_id, evidence.best_family)
