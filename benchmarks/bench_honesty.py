"""Benchmark: are the package's validation estimates honest? Repeated development cohorts of one world.

Issue 21 part 5. One synthetic world (``generate_cohort(seed=--seed)``: the centre-level parameters
come from the seed alone) gives:

- R development cohorts of n patients, disjoint by construction: cohort r is patients
  ``r * B .. r * B + n - 1`` of the world (``first_patient = r * B``, B = n rounded up to the
  generator's block of 10,000 patients);
- one large set of new patients of the same world, far after every development cohort
  (``first_patient = max(R, 100) * B``), never seen by any model.

Each development cohort is trained with the shipped pipeline (``run_experiment``, exactly what
``spineoutcome train`` runs: tuning, cross-validation, one-SE selection, bootstrap optimism
correction). The selected (final) model is then scored on the new patients against truth.csv's
exact risks pi (no outcome noise; the same estimators as ``bench_peers.py``): true AUC, calibration
slope, O:E and Brier. For every cohort the Evidence's estimates of the selected family are compared
with that truth:

- cross-validated: the out-of-fold estimate and its 95 % bootstrap interval (Evidence
  ``cross_validation``);
- optimism-corrected: Harrell's bootstrap (or .632+ for tree ensembles) corrected value (Evidence
  ``optimism.corrected``); the Evidence gives no interval for it, so its coverage is not reported,
  and it has no O:E.

Per pipeline and measure: mean truth, mean estimate, bias (mean of estimate - truth), RMSE, the SD of
the errors next to the SE the intervals assume (width / 3.92), and the coverage of the 95 % intervals
(share of cohorts whose interval contains that cohort's truth, with its exact binomial 95 % interval).
Each cohort's record also keeps the selected family's apparent, Harrell and out-of-bag values, so other
optimism corrections (.632+) can be compared on the same cohorts. What the CV estimate targets is the
performance of the procedure on n (k - 1) / k patients, slightly less than the final model's on n: a
small pessimistic bias of the CV AUC is expected, not a defect.

The landmark keypoints table (the dearest to generate) is not generated when no studied pipeline
uses the landmark predictor group; the other tables and the truth are the same world's.

Reductions (documented, and printed in the table's header when used): ``--bootstrap-replicates`` and
``--n-trials`` override the pipeline's optimism-bootstrap replicates and tuning trials. The
internal-external validation by centre is always off: it neither changes the final model nor the
cross-validated and optimism-corrected estimates studied here.

Experiments on a cause (with their own ``--work``): ``--families`` keeps only some families and
``--bootstrap-mode`` sets the optimism bootstrap's mode, e.g. whether re-tuning in every replicate
(``full``) changes the optimism-corrected estimate of progression_24m's elastic net:

    python benchmarks/bench_honesty.py --pipelines progression_24m --families elastic_net
        --bootstrap-replicates 50 --bootstrap-mode full --replicates 3 --work /tmp/honesty-full   (one line)

Usage:

    python benchmarks/bench_honesty.py --pipelines c5_palsy progression_24m --replicates 20 --jobs 2
    python benchmarks/bench_honesty.py --report-only        # the table from the cached cohorts

Resumable: one JSON per pipeline and cohort in ``--work`` (default /tmp/spineoutcome-bench-honesty);
a rerun skips what exists. ``--jobs N`` runs N cohorts at once in worker processes (one BLAS/OpenMP
thread each); when ``run_experiment`` accepts ``jobs`` (``train --jobs``), cohorts run one after
another and ``--jobs`` is passed to it instead. The section "## Honesty of the validation estimates"
of benchmarks/RESULTS.md is replaced unless ``--no-write``. Measured here, never asserted.
"""

from __future__ import annotations

import argparse
import datetime
import inspect
import json
import math
import os
import platform
import shlex
import subprocess
import sys
import time
import warnings
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy.stats import beta, norm
from threadpoolctl import threadpool_limits

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_peers import analysis_set, binary_pipelines, true_performance  # noqa: E402

from spineoutcome.api import load_cohort  # noqa: E402
from spineoutcome.config import PipelineConfig, load_pipeline  # noqa: E402
from spineoutcome.data.synth import DEFAULT_CHUNK, TABLES, generate_cohort  # noqa: E402
from spineoutcome.experiment.run import run_experiment  # noqa: E402
from spineoutcome.experiment.validation import predict_positive  # noqa: E402
from spineoutcome.outcomes import load_outcome_definitions  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "RESULTS.md"
SECTION = "## Honesty of the validation estimates"
LANDMARK_GROUP, LANDMARK_TABLE = "landmark", "landmarks"
"""The predictor group that needs the landmark table (pipelines/mcid_mjoa_12m.yaml), and that table."""
MEASURES = ("auc", "slope", "oe", "brier")
"""Truth keys (bench_peers.true_performance) studied, in table order."""
CV_PATH = {
    "auc": ("discrimination", "auc"),
    "slope": ("calibration", "slope"),
    "oe": ("calibration", "oe_ratio"),
    "brier": ("overall", "brier"),
}
"""Where the Evidence's cross-validated estimate of each measure is (family ``cross_validation``)."""
OPTIMISM_KEY = {"auc": "auc", "slope": "calibration_slope", "oe": None, "brier": "brier"}
"""The optimism-corrected estimate's key (None: the Evidence has none)."""
COVERAGE_TARGET = (0.90, 0.98)
"""Issue 21's target for the CV AUC interval's coverage."""
_TEST_SETS: dict[tuple[str, str], tuple[pd.DataFrame, np.ndarray, np.ndarray]] = {}
"""Per worker process: the new patients' analysis set of each (cohort folder, pipeline)."""


# ----------------------------------------------------------------------------------------------
# cohorts
# ----------------------------------------------------------------------------------------------
def block(n: int) -> int:
    """Patients per development cohort slot: n rounded up to the generator's block."""
    return math.ceil(n / DEFAULT_CHUNK) * DEFAULT_CHUNK


def tables_for(paths: list[Path]) -> list[str] | None:
    """Tables to generate: all (None), or all but the landmark keypoints (the dearest table by far,
    about 2.3 ms per patient) when no studied pipeline uses the landmark predictor group."""
    groups = {g for p in paths for g in load_pipeline(p, outcomes=list(load_outcome_definitions())).predictors.groups}
    return None if LANDMARK_GROUP in groups else [t for t in TABLES if t != LANDMARK_TABLE]


def _generate(out: Path, n: int, seed: int, first: int, tables: list[str] | None) -> Path:
    if tables is not None:
        out = out.with_name(out.name + "-nolandmarks")
    if not (out / "truth.csv").exists():
        generate_cohort(out, n=n, seed=seed, first_patient=first, tables=tables)
    return out


def dev_dir(work: Path, seed: int, n: int, r: int, tables: list[str] | None = None) -> Path:
    """Folder of development cohort r (generated on first use)."""
    return _generate(work / "cohorts" / f"seed{seed}-n{n}-from{r * block(n)}", n, seed, r * block(n), tables)


def test_dir(work: Path, seed: int, n: int, n_test: int, replicates: int, tables: list[str] | None = None) -> Path:
    """Folder of the new patients, after every development cohort's range."""
    first = max(replicates, 100) * block(n)
    return _generate(work / "cohorts" / f"seed{seed}-new{n_test}-from{first}", n_test, seed, first, tables)


def study_config(
    path: Path,
    dictionary: Any,
    bootstrap_replicates: int | None,
    n_trials: int | None,
    families: list[str] | None = None,
    bootstrap_mode: str | None = None,
) -> PipelineConfig:
    """The shipped pipeline, internal-external validation off, with the documented reductions, and for
    experiments on a cause, only ``families`` or another optimism-bootstrap mode."""
    config = load_pipeline(path, dictionary, outcomes=list(load_outcome_definitions()))
    validation: dict[str, Any] = {"internal_external": False}
    boot = config.validation.bootstrap
    if boot is not None:
        changes = {"replicates": bootstrap_replicates, "mode": bootstrap_mode}
        validation["bootstrap"] = boot.model_copy(update={k: v for k, v in changes.items() if v is not None})
    update: dict[str, Any] = {"validation": config.validation.model_copy(update=validation)}
    if n_trials is not None:
        update["tuning"] = config.tuning.model_copy(update={"n_trials": n_trials})
    if families:
        update["families"] = families
    return config.model_copy(update=update)


def _test_set(test: Path, config: PipelineConfig) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    key = (str(test), config.name)
    if key not in _TEST_SETS:
        cohort = load_cohort(test)
        truth = pd.read_csv(test / "truth.csv", index_col=0)
        _TEST_SETS[key] = analysis_set(config, cohort, truth)
    return _TEST_SETS[key]


# ----------------------------------------------------------------------------------------------
# one cohort
# ----------------------------------------------------------------------------------------------
def run_cohort(path: str, dev: str, test: str, r: int, options: dict[str, Any], jobs: int | None) -> dict[str, Any]:
    """Train ``path``'s pipeline on development cohort ``dev``; its estimates and the selected model's truth."""
    warnings.filterwarnings("ignore")
    with threadpool_limits(limits=1):
        cohort = load_cohort(Path(dev))
        config = study_config(
            Path(path),
            cohort.dictionary,
            options["bootstrap_replicates"],
            options["n_trials"],
            options.get("families"),
            options.get("bootstrap_mode"),
        )
        X_test, _, pi = _test_set(Path(test), config)
        t0 = time.perf_counter()
        extra = {"jobs": jobs} if jobs is not None else {}
        result = run_experiment(config, cohort, validation_flow=cohort.validation_flow, **extra)
        seconds = time.perf_counter() - t0
        evidence = result.evidence.to_dict()
        best = evidence["best_family"]
        truth = true_performance(predict_positive(result.models[best], X_test), pi)
    family = evidence["families"][best]
    cv = {}
    for measure, (part, key) in CV_PATH.items():
        est = family["cross_validation"][part][key]
        cv[measure] = {"value": est["value"], "ci_low": est.get("ci_low"), "ci_high": est.get("ci_high")}
    optimism = family.get("optimism") or {}
    corrected = {m: (optimism.get("corrected", {}).get(k) if k else None) for m, k in OPTIMISM_KEY.items()}
    return {
        "pipeline": Path(path).stem,
        "replicate": r,
        "development": dev,
        "new_patients": test,
        "n": int(result.task.n),
        "events": int(result.task.events),
        "n_new": int(len(pi)),
        "best_family": best,
        "truth": truth,
        "cv": cv,
        "optimism_corrected": corrected,
        "optimism_parts": {
            part: {m: (optimism.get(part, {}).get(k) if k else None) for m, k in OPTIMISM_KEY.items()}
            for part in ("apparent", "harrell", "out_of_bag")
        },
        "optimism_method": optimism.get("method"),
        "optimism_replicates": optimism.get("replicates"),
        "bootstrap_mode": optimism.get("mode"),
        "n_trials": config.tuning.n_trials,
        "seconds": seconds,
        "options": options,
    }


# ----------------------------------------------------------------------------------------------
# summary
# ----------------------------------------------------------------------------------------------
def clopper_pearson(k: int, n: int, level: float = 0.95) -> tuple[float, float]:
    """Exact binomial interval of a proportion k / n (Clopper & Pearson 1934)."""
    a = (1 - level) / 2
    low = 0.0 if k == 0 else float(beta.ppf(a, k, n - k + 1))
    high = 1.0 if k == n else float(beta.ppf(1 - a, k + 1, n - k))
    return low, high


def summarise(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per measure and estimator: mean truth, mean estimate, bias, RMSE, interval coverage, and the
    spread of the errors next to the spread the intervals assume (their width / 3.92, a normal SE):
    an interval narrower than the errors' spread cannot cover at its level."""
    rows = []
    for measure in MEASURES:
        truth = np.array([r["truth"][measure] for r in records])
        for estimator in ("cross-validated", "optimism-corrected"):
            if estimator == "cross-validated":
                values = [r["cv"][measure]["value"] for r in records]
                bounds = [(r["cv"][measure]["ci_low"], r["cv"][measure]["ci_high"]) for r in records]
            else:
                values = [r["optimism_corrected"][measure] for r in records]
                bounds = []
            have = np.array([v is not None for v in values])
            if not have.any():
                continue
            est = np.array([v for v in values if v is not None], dtype=float)
            error = est - truth[have]
            covered = [lo <= t <= hi for (lo, hi), t in zip(bounds, truth, strict=False) if lo is not None]
            widths = [hi - lo for lo, hi in bounds if lo is not None]
            rows.append(
                {
                    "measure": measure,
                    "estimator": estimator,
                    "n": int(have.sum()),
                    "truth": float(truth[have].mean()),
                    "estimate": float(est.mean()),
                    "bias": float(error.mean()),
                    "rmse": float(np.sqrt(np.mean(error**2))),
                    "sd_error": float(np.std(error, ddof=1)) if error.size > 1 else None,
                    "interval_se": float(np.mean(widths) / (2 * norm.ppf(0.975))) if widths else None,
                    "covered": int(sum(covered)) if covered else None,
                    "with_interval": len(covered),
                }
            )
    return rows


def _f(x: float | None, digits: int = 3) -> str:
    return "-" if x is None or not np.isfinite(x) else f"{x:.{digits}f}"


def markdown(by_pipeline: dict[str, list[dict[str, Any]]], meta: dict[str, Any]) -> str:
    lines = [
        SECTION,
        "",
        f"Issue 21 part 5 (`benchmarks/bench_honesty.py`; design in its docstring). One world "
        f"(`generate_cohort(seed={meta['seed']})`); development cohorts of n = {meta['n']} from disjoint patient "
        f"ranges (`first_patient = r x {block(meta['n'])}`); new patients: {meta['n_test']} patients of the same "
        f"world from patient {meta['first_test']} (the pipeline's eligible ones are scored). Each cohort trained "
        "with the shipped pipeline; the selected model's true AUC, calibration slope, O:E and Brier from "
        "truth.csv's exact risks. Bias = mean(estimate - truth); coverage: share of cohorts whose 95 % interval "
        "contains that cohort's truth (exact binomial 95 % interval in brackets). The optimism-corrected "
        "values have no interval in the Evidence (and no O:E): no coverage.",
        "",
        f"- Machine: {meta['cpu']}; Python {meta['python']}. Other jobs ran at the same time: minutes per cohort "
        "are not timings (benchmarks/bench_scaling.py measures time).",
        f"- Command: `{meta['command']}` (run at `nice`); date {meta['date']}; code {meta['git']}.",
        f"- Reduced: {meta['reduced']}. Internal-external validation off (it changes neither the models "
        "nor the estimates studied).",
        "",
    ]
    for pipeline, records in by_pipeline.items():
        records = sorted(records, key=lambda r: r["replicate"])
        families = pd.Series([r["best_family"] for r in records]).value_counts()
        slopes = [r["truth"]["slope"] for r in records]
        lines += [
            f"### {pipeline} ({len(records)} development cohorts; development n {_range(records, 'n')}, "
            f"events {_range(records, 'events')}; new patients n {records[0]['n_new']})",
            "",
            "Selected family: " + ", ".join(f"{f} {c}" for f, c in families.items()) + ". True slope of the "
            f"selected model: median {np.median(slopes):.2f} (range {min(slopes):.2f} to {max(slopes):.2f}). "
            f"Tuning trials {records[0]['n_trials']}, optimism bootstrap "
            f"{records[0]['optimism_replicates']} replicates ({records[0]['bootstrap_mode']}); minutes per "
            f"cohort: median {np.median([r['seconds'] for r in records]) / 60:.1f}.",
            "",
            "| measure | estimator | cohorts | mean truth | mean estimate | bias | RMSE | SD of error | "
            "interval's SE | 95 % CI coverage |",
            "|---|---|---:|---:|---:|---:|---:|---:|---:|---|",
        ]
        for row in summarise(records):
            digits = 4 if row["measure"] == "brier" else 3
            coverage = "-"
            if row["covered"] is not None:
                low, high = clopper_pearson(row["covered"], row["with_interval"])
                coverage = (
                    f"{row['covered']}/{row['with_interval']} = {row['covered'] / row['with_interval']:.0%} "
                    f"[{low:.0%}, {high:.0%}]"
                )
            lines.append(
                f"| {row['measure']} | {row['estimator']} | {row['n']} | {_f(row['truth'], digits)} | "
                f"{_f(row['estimate'], digits)} | {_f(row['bias'], digits)} | {_f(row['rmse'], digits)} | "
                f"{_f(row['sd_error'], digits)} | {_f(row['interval_se'], digits)} | {coverage} |"
            )
        auc = next(r for r in summarise(records) if r["measure"] == "auc" and r["estimator"] == "cross-validated")
        lines += ["", target_verdict(auc["covered"], auc["with_interval"]), ""]
    return "\n".join(lines)


def target_verdict(covered: int, cohorts: int) -> str:
    """Issue 21's CV AUC coverage target: met (the observed share in range), not met (the exact 95 %
    interval of the share misses the range), or undetermined (too few cohorts to tell)."""
    share = covered / cohorts
    low, high = clopper_pearson(covered, cohorts)
    if COVERAGE_TARGET[0] <= share <= COVERAGE_TARGET[1]:
        verdict = "met"
    elif high < COVERAGE_TARGET[0] or low > COVERAGE_TARGET[1]:
        verdict = "not met"
    else:
        verdict = f"undetermined: {cohorts} cohorts, exact 95 % interval {low:.0%} to {high:.0%}"
    return (
        f"Target (CV AUC coverage {COVERAGE_TARGET[0]:.0%}-{COVERAGE_TARGET[1]:.0%}): {share:.0%} of {cohorts} "
        f"cohorts, **{verdict}**."
    )


def _range(records: list[dict[str, Any]], key: str) -> str:
    values = [r[key] for r in records]
    return f"{min(values)}" if min(values) == max(values) else f"{min(values)}-{max(values)}"


def write_section(text: str) -> None:
    content = RESULTS.read_text(encoding="utf-8") if RESULTS.exists() else ""
    start = content.find(SECTION)
    if start < 0:
        content = content.rstrip("\n") + "\n\n" + text + "\n"
    else:
        end = content.find("\n## ", start + len(SECTION))
        content = content[:start] + text + ("\n" + content[end + 1 :] if end >= 0 else "\n")
    RESULTS.write_text(content, encoding="utf-8")


def _worker_init() -> None:
    for name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[name] = "1"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pipelines", nargs="*", help="Binary pipelines (default: all).")
    parser.add_argument("--replicates", type=int, default=20, help="Development cohorts per pipeline.")
    parser.add_argument("--n", type=int, default=2000, help="Patients per development cohort.")
    parser.add_argument("--n-test", type=int, default=50000, help="New patients (before eligibility).")
    parser.add_argument("--seed", type=int, default=7, help="The world.")
    parser.add_argument("--jobs", type=int, default=1, help="Cohorts at once, or train's --jobs when it has one.")
    parser.add_argument("--bootstrap-replicates", type=int, help="Reduction: optimism bootstrap replicates.")
    parser.add_argument("--n-trials", type=int, help="Reduction: tuning trials per family and fold.")
    parser.add_argument("--families", nargs="+", help="Experiment: only these families (a separate --work).")
    parser.add_argument("--bootstrap-mode", choices=["full", "fixed_hyperparameters"], help="Experiment: the mode.")
    parser.add_argument("--work", type=Path, default=Path("/tmp/spineoutcome-bench-honesty"))
    parser.add_argument("--report-only", action="store_true")
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    paths = binary_pipelines(args.pipelines)
    options = {
        "bootstrap_replicates": args.bootstrap_replicates,
        "n_trials": args.n_trials,
        "families": args.families,
        "bootstrap_mode": args.bootstrap_mode,
    }
    if not args.report_only:
        tables = tables_for(paths)
        test = test_dir(args.work, args.seed, args.n, args.n_test, args.replicates, tables)
        engine_jobs = "jobs" in inspect.signature(run_experiment).parameters
        todo = []
        for r in range(args.replicates):
            for path in paths:
                out = args.work / "results" / f"{path.stem}-r{r:03d}.json"
                if not out.exists():
                    todo.append((path, r, out))
        workers = 1 if engine_jobs else max(1, args.jobs)
        with ProcessPoolExecutor(max_workers=workers, initializer=_worker_init) as pool:
            futures = {}
            for path, r, out in todo:
                dev = dev_dir(args.work, args.seed, args.n, r, tables)
                job = pool.submit(
                    run_cohort, str(path), str(dev), str(test), r, options, args.jobs if engine_jobs else None
                )
                futures[job] = out
            for job in as_completed(futures):
                out = futures[job]
                record = job.result()
                out.parent.mkdir(parents=True, exist_ok=True)
                tmp = out.with_suffix(".tmp")
                tmp.write_text(json.dumps(record, indent=1))
                tmp.replace(out)
                print(
                    f"{out.stem}: {record['best_family']}, {record['seconds'] / 60:.1f} min, true slope "
                    f"{record['truth']['slope']:.2f}, CV AUC {record['cv']['auc']['value']:.3f} vs true "
                    f"{record['truth']['auc']:.3f}",
                    flush=True,
                )
    by_pipeline: dict[str, list[dict[str, Any]]] = {}
    for path in paths:
        found = sorted((args.work / "results").glob(f"{path.stem}-r*.json"))
        records = [json.loads(f.read_text()) for f in found]
        if records:
            by_pipeline[path.stem] = records
    cpu = subprocess.run(["lscpu"], capture_output=True, text=True).stdout
    fields = dict(line.split(":", 1) for line in cpu.splitlines() if ":" in line)
    git = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=ROOT).stdout
    first = next(iter(by_pipeline.values()), [{}])[0]
    reduced = [f"{k.replace('_', ' ')} {v}" for k, v in (first.get("options") or options).items() if v is not None] or [
        "nothing"
    ]
    meta = {
        "seed": args.seed,
        "n": args.n,
        "n_test": args.n_test,
        "first_test": max(args.replicates, 100) * block(args.n),
        "cpu": f"{fields.get('Model name', '?').strip()}, {fields.get('CPU(s)', '?').strip()} CPUs",
        "python": platform.python_version(),
        "date": datetime.date.today().isoformat(),
        "git": git.strip(),
        "command": "python benchmarks/bench_honesty.py " + shlex.join(sys.argv[1:]),
        "reduced": ", ".join(reduced),
    }
    text = markdown(by_pipeline, meta)
    print(text)
    if not args.no_write and by_pipeline:
        write_section(text)


if __name__ == "__main__":
    main()
