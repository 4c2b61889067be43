"""Benchmark: the package's selected model against its peers, scored on new patients of the same world.

For every binary pipeline in ``pipelines/`` (or those named with ``--pipelines``):

- development cohort: ``generate_cohort(n=2000, seed=7)`` (patients 0 .. 1,999 of the world);
- new patients: ``generate_cohort(n=20000, seed=7, first_patient=10000)``: patients 10,000 ..
  29,999 of the same world (same centres, same data-generating process, other patients and other
  random streams), disjoint from the development patients by construction;
- models, each developed on the development cohort only:
  * the package's pipeline (``run_experiment``) with its own tuning and cross-validation budget; the
    bootstrap optimism correction and the internal-external validation are switched off because they
    do not change the fitted models (they only estimate performance) and would multiply the CPU time;
    the selected model (one-SE rule) and the package's two logistic families (unpenalised reference,
    with the spline budget; elastic net tuned in nested CV) are scored;
  * scikit-learn's default ``LogisticRegression()`` on median-imputed numbers and one-hot categories
    (``max_iter=1000`` so that lbfgs converges on unscaled inputs; otherwise defaults: L2, C = 1);
  * PyCaret 3's standard workflow (``setup``, ``compare_models``, ``tune_model``, ``calibrate_model``,
    ``finalize_model``, ``predict_model``) in a throwaway virtual environment that this script creates
    (never a dependency of the package), on the same predictors.
- true performance on the new patients, from truth.csv's exact probabilities pi (no outcome noise):
  AUC with events weighted pi and non-events 1 - pi (``roc_auc_score`` with sample weights on the
  doubled data), calibration slope and intercept of the population logistic recalibration
  (statsmodels GLM of the fractional response pi on [1, logit p]), O:E = sum pi / sum p, and
  Brier = mean(p^2 - 2 p pi + pi).

Usage:

    python benchmarks/bench_peers.py --pipelines c5_palsy          # one pipeline
    python benchmarks/bench_peers.py                               # every binary pipeline
    python benchmarks/bench_peers.py --report-only                 # the table from cached results

Results are cached per pipeline as JSON in ``--work`` (default /tmp/spineoutcome-bench-peers); the
section "## Peers on new patients" of benchmarks/RESULTS.md is replaced unless ``--no-write``.
Performance is measured here, never asserted.
"""

from __future__ import annotations

import argparse
import datetime
import json
import math
import platform
import shlex
import subprocess
import sys
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import statsmodels.api as sm
from scipy.special import logit
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import OneHotEncoder
from statsmodels.tools.sm_exceptions import PerfectSeparationWarning
from threadpoolctl import threadpool_limits

from spineoutcome.api import load_cohort
from spineoutcome.config import PipelineConfig, load_pipeline
from spineoutcome.data.synth import DEFAULT_CHUNK, generate_cohort
from spineoutcome.experiment.run import run_experiment
from spineoutcome.experiment.task import prepare_task
from spineoutcome.experiment.validation import predict_positive
from spineoutcome.outcomes import load_outcome_definitions

ROOT = Path(__file__).resolve().parents[1]
PIPELINES = ROOT / "pipelines"
RESULTS = ROOT / "benchmarks" / "RESULTS.md"
SECTION = "## Peers on new patients"
AUC_MARGIN = 0.005
SLOPE_RANGE = (0.85, 1.15)
PYCARET = ("pycaret>=3,<4", "six")
"""PyCaret 3.3.2 imports ``six`` (through pyod) without declaring it."""
PYCARET_SCRIPT = """
import json, sys, time
import pandas as pd
from pycaret.classification import (setup, compare_models, tune_model, calibrate_model, finalize_model,
                                    predict_model)
work, seed = sys.argv[1], int(sys.argv[2])
dev = pd.read_csv(f"{work}/dev.csv")
test = pd.read_csv(f"{work}/test.csv")
t0 = time.perf_counter()
setup(dev, target="outcome", session_id=seed, verbose=False, n_jobs=1)
best = compare_models(verbose=False)
tuned = tune_model(best, verbose=False)
calibrated = calibrate_model(tuned, verbose=False)
final = finalize_model(calibrated)
seconds = time.perf_counter() - t0
scored = predict_model(final, data=test, raw_score=True, verbose=False)
scored[["prediction_score_1"]].rename(columns={"prediction_score_1": "p"}).to_csv(f"{work}/pycaret_p.csv", index=False)
json.dump({"seconds": seconds, "model": type(best).__name__}, open(f"{work}/pycaret.json", "w"))
"""


# ----------------------------------------------------------------------------------------------
# cohorts and truth
# ----------------------------------------------------------------------------------------------
def cohorts(work: Path, n: int, n_test: int, seed: int) -> tuple[Path, Path, int]:
    """Development and new-patient cohorts of one world (generated once under ``work``)."""
    first = math.ceil(n / DEFAULT_CHUNK) * DEFAULT_CHUNK
    dev, test = work / f"dev-n{n}-seed{seed}", work / f"new-n{n_test}-from{first}-seed{seed}"
    for out, size, start in ((dev, n, 0), (test, n_test, first)):
        if not (out / "truth.csv").exists():
            generate_cohort(out, n=size, seed=seed, first_patient=start)
    return dev, test, first


def true_performance(p: np.ndarray, pi: np.ndarray) -> dict[str, float]:
    """AUC, slope, intercept, O:E and Brier of predictions p for patients with true risks pi."""
    p = np.clip(p, 1e-8, 1 - 1e-8)
    scores = np.concatenate([p, p])
    labels = np.concatenate([np.ones_like(p), np.zeros_like(p)])
    auc = roc_auc_score(labels, scores, sample_weight=np.concatenate([pi, 1 - pi]))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PerfectSeparationWarning)
        glm = sm.GLM(pi, sm.add_constant(logit(p)), family=sm.families.Binomial()).fit(tol=1e-10)
    return {
        "auc": float(auc),
        "slope": float(glm.params[1]),
        "intercept": float(glm.params[0]),
        "oe": float(pi.sum() / p.sum()),
        "brier": float(np.mean(p**2 - 2 * p * pi + pi)),
    }


def analysis_set(
    config: PipelineConfig, cohort: Any, truth: pd.DataFrame
) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    task = prepare_task(config, cohort, validation_flow=cohort.validation_flow)
    pi = truth.loc[task.X.index, f"p_{config.outcome}"].to_numpy(dtype=float)
    keep = ~np.isnan(pi)
    return task.X[keep], task.y[keep], pi[keep]


# ----------------------------------------------------------------------------------------------
# peers
# ----------------------------------------------------------------------------------------------
def sklearn_default(X: pd.DataFrame) -> Pipeline:
    """scikit-learn's default logistic regression with median imputation and one-hot categories."""
    numeric = [c for c in X.columns if pd.api.types.is_numeric_dtype(X[c]) and not pd.api.types.is_bool_dtype(X[c])]
    other = [c for c in X.columns if c not in numeric]
    prep = ColumnTransformer(
        [
            ("numeric", SimpleImputer(strategy="median"), numeric),
            (
                "other",
                make_pipeline(SimpleImputer(strategy="most_frequent"), OneHotEncoder(handle_unknown="ignore")),
                other,
            ),
        ]
    )
    return Pipeline([("prep", prep), ("model", LogisticRegression(max_iter=1000))])


def plain(X: pd.DataFrame) -> pd.DataFrame:
    """Nullable numbers as float, everything else as text with NaN: what sklearn and PyCaret accept."""
    out = {}
    for c in X.columns:
        if pd.api.types.is_numeric_dtype(X[c]) and not pd.api.types.is_bool_dtype(X[c]):
            out[c] = X[c].to_numpy(dtype=float, na_value=np.nan)
        elif pd.api.types.is_bool_dtype(X[c]):
            # as words: PyCaret 3.3 fails on "True"/"False" text with missing values (it casts it to float)
            out[c] = X[c].astype(object).map({True: "yes", False: "no"}).where(X[c].notna(), np.nan)
        else:
            out[c] = X[c].astype(object).where(X[c].notna(), np.nan).astype(str).where(X[c].notna(), np.nan)
    return pd.DataFrame(out, index=X.index)


def run_pycaret(work: Path, X: pd.DataFrame, y: np.ndarray, X_test: pd.DataFrame, seed: int) -> dict[str, Any]:
    """PyCaret's standard workflow in its own venv; {"p", "seconds", "model"} or {"error"}."""
    venv = work / "pycaret-venv"
    python = venv / "bin" / "python"
    if not python.exists():
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    probe = subprocess.run([str(python), "-c", "import pycaret"], capture_output=True, text=True)
    if probe.returncode != 0:
        pip = subprocess.run([str(python), "-m", "pip", "install", "-q", *PYCARET], capture_output=True, text=True)
        if pip.returncode != 0:
            return {"error": "pip install failed: " + pip.stderr.strip().splitlines()[-1][:300]}
    job = work / "pycaret-job"
    job.mkdir(exist_ok=True)
    previous = {name: (job / name).read_bytes() if (job / name).exists() else b"" for name in ("dev.csv", "test.csv")}
    plain(X).assign(outcome=y).to_csv(job / "dev.csv", index=False)
    plain(X_test).to_csv(job / "test.csv", index=False)
    same_inputs = all((job / name).read_bytes() == data for name, data in previous.items())
    if not (same_inputs and (job / "pycaret.json").exists() and (job / "pycaret_p.csv").exists()):
        (job / "pycaret.json").unlink(missing_ok=True)
        (job / "run.py").write_text(PYCARET_SCRIPT)
        done = subprocess.run(
            [str(python), str(job / "run.py"), str(job), str(seed)], capture_output=True, text=True, cwd=job
        )  # PyCaret writes logs.log into its working directory
        (job / "stderr.txt").write_text(done.stderr)
        if done.returncode != 0:
            return {"error": "PyCaret failed: " + (done.stderr.strip().splitlines() or ["?"])[-1][:300]}
    meta = json.loads((job / "pycaret.json").read_text())
    return {"p": pd.read_csv(job / "pycaret_p.csv")["p"].to_numpy(dtype=float), **meta}


# ----------------------------------------------------------------------------------------------
# one pipeline
# ----------------------------------------------------------------------------------------------
def run_one(
    path: Path,
    dev: Any,
    test: Any,
    dev_truth: pd.DataFrame,
    test_truth: pd.DataFrame,
    work: Path,
    seed: int,
    pycaret: bool,
    jobs: int = 1,
) -> dict[str, Any]:
    config = load_pipeline(path, dev.dictionary, outcomes=list(load_outcome_definitions()))
    config = config.model_copy(
        update={"validation": config.validation.model_copy(update={"bootstrap": None, "internal_external": False})}
    )
    X_test, y_test, pi = analysis_set(config, test, test_truth)
    rows: dict[str, dict[str, Any]] = {}
    t0 = time.perf_counter()
    result = run_experiment(config, dev, validation_flow=dev.validation_flow, jobs=jobs)
    pipeline_seconds = time.perf_counter() - t0
    evidence = result.evidence.to_dict()
    best = evidence["best_family"]
    for family, model in result.models.items():
        rows[family] = {
            **true_performance(predict_positive(model, X_test), pi),
            "seconds": evidence["families"][family]["seconds"],
        }
    X, y = result.task.X, result.task.y
    t1 = time.perf_counter()
    with threadpool_limits(limits=1):
        reference = sklearn_default(X).fit(plain(X), y)
    rows["sklearn LogisticRegression()"] = {
        **true_performance(reference.predict_proba(plain(X_test))[:, 1], pi),
        "seconds": time.perf_counter() - t1,
    }
    pycaret_note = "not run (--no-pycaret)"
    if pycaret:
        peer = run_pycaret(work, X, y, X_test, seed)
        if "error" in peer:
            pycaret_note = peer["error"]
        else:
            rows[f"PyCaret ({peer['model']})"] = {**true_performance(peer["p"], pi), "seconds": peer["seconds"]}
            pycaret_note = "ran"
    return {
        "pipeline": path.stem,
        "outcome": config.outcome,
        "n": int(result.task.n),
        "events": int(result.task.events),
        "n_new": int(len(y_test)),
        "events_new": int(y_test.sum()),
        "best_family": best,
        "selection": evidence["model_selection"],
        "spline_budget": evidence["sample_size"]["spline_budget"],
        "pipeline_seconds": pipeline_seconds,
        "rows": rows,
        "pycaret": pycaret_note,
        "oracle": true_performance(pi, pi),
    }


def add_pycaret(
    record: dict[str, Any], path: Path, dev: Any, test: Any, test_truth: pd.DataFrame, work: Path, seed: int
) -> None:
    """Run PyCaret for a cached pipeline record (the same development and new patients) and add its row."""
    config = load_pipeline(path, dev.dictionary, outcomes=list(load_outcome_definitions()))
    task = prepare_task(config, dev, validation_flow=dev.validation_flow)
    X_test, _, pi = analysis_set(config, test, test_truth)
    peer = run_pycaret(work, task.X, task.y, X_test, seed)
    if "error" in peer:
        record["pycaret"] = peer["error"]
        return
    record["rows"][f"PyCaret ({peer['model']})"] = {**true_performance(peer["p"], pi), "seconds": peer["seconds"]}
    record["pycaret"] = "ran"


# ----------------------------------------------------------------------------------------------
# report
# ----------------------------------------------------------------------------------------------
def _f(x: float | None, digits: int = 3) -> str:
    return "-" if x is None or not np.isfinite(x) else f"{x:.{digits}f}"


def markdown(results: list[dict[str, Any]], meta: dict[str, str]) -> str:
    lines = [
        SECTION,
        "",
        f"Development: `generate_cohort(n={meta['n']}, seed={meta['seed']})`; new patients: "
        f"`generate_cohort(n={meta['n_test']}, seed={meta['seed']}, first_patient={meta['first']})` (same world, "
        "disjoint patients). True AUC, slope, O:E and Brier from truth.csv's exact risks of the new patients "
        "(see the script's docstring). Pipelines run with their own tuning and CV; bootstrap optimism and "
        "internal-external validation off (they do not change the models). Seconds: the family's fit time "
        "in the pipeline (nested CV + final fit), the peer's fit time.",
        "",
        f"- Machine: {meta['cpu']}; shared with other engineers' jobs. Python {meta['python']}.",
        f"- Command: `{meta['command']}`; date {meta['date']}; code {meta['git']}.",
        "",
    ]
    for r in results:
        lr = r["rows"]["sklearn LogisticRegression()"]
        sel = r["rows"][r["best_family"]]
        auc_ok = sel["auc"] >= lr["auc"] - AUC_MARGIN
        slope_ok = SLOPE_RANGE[0] <= sel["slope"] <= SLOPE_RANGE[1]
        freq = ", ".join(f"{c['family']} {c['lowest_loss_frequency']:.0%}" for c in r["selection"]["families"])
        lines += [
            f"### {r['pipeline']} (development n {r['n']}, {r['events']} events; new patients n {r['n_new']}, "
            f"{r['events_new']} events)",
            "",
            f"Selected: **{r['best_family']}** (one-SE rule; lowest CV log-loss across bootstrap replicates: "
            f"{freq}). Spline budget: {r['spline_budget']['statement']} Pipeline wall time "
            f"{r['pipeline_seconds'] / 60:.1f} min. PyCaret: {r['pycaret']}.",
            "",
            "| model | true AUC | true slope | true O:E | true Brier | seconds |",
            "|---|---:|---:|---:|---:|---:|",
        ]
        for name, row in r["rows"].items():
            label = f"{name} (selected)" if name == r["best_family"] else name
            lines.append(
                f"| {label} | {_f(row['auc'])} | {_f(row['slope'], 2)} | {_f(row['oe'], 2)} | "
                f"{_f(row['brier'], 4)} | {_f(row['seconds'], 1)} |"
            )
        o = r["oracle"]
        lines += [
            f"| oracle (true risks) | {_f(o['auc'])} | 1.00 | 1.00 | {_f(o['brier'], 4)} | - |",
            "",
            f"Target: selected AUC >= sklearn LR's - {AUC_MARGIN} "
            f"({_f(sel['auc'])} vs {_f(lr['auc'] - AUC_MARGIN)}): **{'met' if auc_ok else 'not met'}**; "
            f"selected slope in {SLOPE_RANGE[0]}-{SLOPE_RANGE[1]} ({_f(sel['slope'], 2)}): "
            f"**{'met' if slope_ok else 'not met'}**.",
            "",
        ]
    return "\n".join(lines)


def write_section(text: str) -> None:
    content = RESULTS.read_text(encoding="utf-8") if RESULTS.exists() else ""
    start = content.find(SECTION)
    if start < 0:
        content = content.rstrip("\n") + "\n\n" + text + "\n"
    else:
        end = content.find("\n## ", start + len(SECTION))
        content = content[:start] + text + ("\n" + content[end + 1 :] if end >= 0 else "\n")
    RESULTS.write_text(content, encoding="utf-8")


def binary_pipelines(names: list[str] | None) -> list[Path]:
    definitions = load_outcome_definitions()
    chosen = [
        p
        for p in sorted(PIPELINES.glob("*.yaml"))
        if (c := load_pipeline(p, outcomes=list(definitions))).families
        and not c.survival_families
        and (not names or p.stem in names)
    ]
    if names and set(names) - {p.stem for p in chosen}:
        raise SystemExit(f"unknown or non-binary pipeline(s): {sorted(set(names) - {p.stem for p in chosen})}")
    return chosen


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pipelines", nargs="*")
    parser.add_argument("--n", type=int, default=2000)
    parser.add_argument("--n-test", type=int, default=20000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--work", type=Path, default=Path("/tmp/spineoutcome-bench-peers"))
    parser.add_argument("--no-pycaret", action="store_true")
    parser.add_argument("--report-only", action="store_true")
    parser.add_argument(
        "--resume", action="store_true", help="Keep cached pipelines; add PyCaret where it did not run."
    )
    parser.add_argument("--no-write", action="store_true")
    parser.add_argument(
        "--jobs", type=int, default=1, help="Fits run at once (the Evidence, hence the models, do not depend on it)."
    )
    args = parser.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    dev_dir, test_dir, first = cohorts(args.work, args.n, args.n_test, args.seed)
    cpu = subprocess.run(["lscpu"], capture_output=True, text=True).stdout
    fields = dict(line.split(":", 1) for line in cpu.splitlines() if ":" in line)
    git = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=ROOT).stdout
    meta = {
        "n": str(args.n),
        "n_test": str(args.n_test),
        "seed": str(args.seed),
        "first": str(first),
        "cpu": f"{fields.get('Model name', '?').strip()}, {fields.get('CPU(s)', '?').strip()} CPUs",
        "python": platform.python_version(),
        "date": datetime.date.today().isoformat(),
        "git": git.strip(),
        "command": "python benchmarks/bench_peers.py " + shlex.join(sys.argv[1:]),
    }
    paths = binary_pipelines(args.pipelines)
    if not args.report_only:
        dev, test = load_cohort(dev_dir), load_cohort(test_dir)
        dev_truth = pd.read_csv(dev_dir / "truth.csv", index_col=0)
        test_truth = pd.read_csv(test_dir / "truth.csv", index_col=0)
        for path in paths:
            t0 = time.perf_counter()
            cached = args.work / f"{path.stem}.json"
            if args.resume and cached.exists():
                record = json.loads(cached.read_text())
                if not args.no_pycaret and record["pycaret"] != "ran":
                    add_pycaret(record, path, dev, test, test_truth, args.work, args.seed)
            else:
                record = run_one(
                    path, dev, test, dev_truth, test_truth, args.work, args.seed, not args.no_pycaret, args.jobs
                )
            record["meta"] = meta
            (args.work / f"{path.stem}.json").write_text(json.dumps(record, indent=1))
            print(f"{path.stem}: done in {(time.perf_counter() - t0) / 60:.1f} min", flush=True)
    results = [
        json.loads((args.work / f"{p.stem}.json").read_text()) for p in paths if (args.work / f"{p.stem}.json").exists()
    ]
    text = markdown(results, results[0]["meta"] if results else meta)
    print(text)
    if not args.no_write and results:
        write_section(text)


if __name__ == "__main__":
    main()
