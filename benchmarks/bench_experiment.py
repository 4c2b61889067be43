"""Benchmark: the experiment engine against the synthetic cohort's oracle (issue 5).

For every binary pipeline in ``pipelines/`` (or those named with ``--pipelines``), on one synthetic
cohort (default n = 2,000, seed 7), the pipeline runs *as shipped* (its own tuning budget, folds,
bootstrap replicates and internal-external validation) through ``spineoutcome.api.run_pipeline``.
Recorded per pipeline:

- analysed n and events (the participant flow of the run);
- the oracle AUC: the AUC of truth.csv's ``p_<outcome>`` (each patient's exact probability of the
  label the outcome rule derives) on the analysed patients' derived labels, with its DeLong 95 % CI
  (the oracle's own sampling uncertainty on this sample), and the oracle's calibration slope (about
  1 by construction: a sanity check of the truth file against the derived labels);
- the "observable oracle": a gradient-boosting *regressor* of logit(``p_<outcome>``) on the
  pipeline's own predictors, in 5-fold cross-validation. It learns from the noiseless true
  probabilities instead of 0/1 labels, so its AUC estimates how much of the oracle's discrimination
  the pre-operative predictors can carry at all (the oracle also sees latent state the exports never
  show: centre effects, the true imaging values before measurement noise, latent propensities);
- for every family: cross-validated AUC (bootstrap 95 % CI), Harrell's optimism-corrected AUC,
  cross-validated calibration slope, optimism-corrected slope, cross-validated ICI, internal-external
  (pooled held-out centres) AUC;
- the selected family, wall-clock time per pipeline, and stage timings (cross-validation with
  nested tuning, bootstrap optimism, internal-external validation, the rest) reconstructed from the
  engine's progress messages.

Usage:

    python benchmarks/bench_experiment.py                       # all binary pipelines, n 2,000, seed 7
    python benchmarks/bench_experiment.py --pipelines c5_palsy --n 800
    python benchmarks/bench_experiment.py --report-only          # table from the cached results

Results of each pipeline are cached as JSON in ``--work`` (default /tmp/spineoutcome-bench-experiment)
as soon as the pipeline finishes, so an interrupted run can be resumed with ``--resume``. Unless
``--no-write``, the table is written into the section "## Experiment engine vs the oracle" of
benchmarks/RESULTS.md (only that section is replaced). Performance is measured here, never asserted.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import resource
import shlex
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy.special import logit
from sklearn.ensemble import HistGradientBoostingRegressor
from sklearn.metrics import roc_auc_score
from threadpoolctl import threadpool_limits

from spineoutcome.api import load_cohort, run_pipeline
from spineoutcome.config import load_pipeline
from spineoutcome.data.synth import generate_cohort
from spineoutcome.evaluation import calibration_metrics, roc_auc
from spineoutcome.modeling import build_preprocessor
from spineoutcome.modeling.resampling import cv_splits
from spineoutcome.outcomes import load_outcome_definitions
from spineoutcome.progress import ProgressEvent

ROOT = Path(__file__).resolve().parents[1]
PIPELINES = ROOT / "pipelines"
RESULTS = ROOT / "benchmarks" / "RESULTS.md"
SECTION = "## Experiment engine vs the oracle"
TARGET_AUC_GAP = 0.03
TARGET_SLOPE = (0.85, 1.15)
TARGET_MINUTES = 10.0
TIMED_PIPELINE = "c5_palsy"


# ----------------------------------------------------------------------------------------------
# machine, cohort
# ----------------------------------------------------------------------------------------------
def cpu_model() -> str:
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return platform.processor() or "unknown"
    fields = dict(line.split(":", 1) for line in out.splitlines() if ":" in line)
    model = fields.get("Model name", "unknown").strip()
    cpus = fields.get("CPU(s)", "?").strip()
    threads = fields.get("Thread(s) per core", "?").strip()
    return f"{model}, {cpus} CPUs ({threads} thread(s) per core)"


def git_state() -> str:
    """Commit of the working tree and whether src/ or pipelines/ had uncommitted changes."""
    try:
        head = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=True, cwd=ROOT
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--", "src", "pipelines"],
            capture_output=True,
            text=True,
            check=True,
            cwd=ROOT,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return head + (" + uncommitted changes in src/ or pipelines/" if dirty else "")


def load_average() -> str:
    try:
        return ", ".join(f"{x:.1f}" for x in os.getloadavg())
    except OSError:
        return "unknown"


def cohort_dir(work: Path, n: int, seed: int) -> Path:
    """Generate (once) the synthetic cohort for ``n``/``seed`` under ``work``."""
    out = work / f"cohort-n{n}-seed{seed}"
    if not (out / "truth.csv").exists():
        t0 = time.perf_counter()
        generate_cohort(out, n=n, seed=seed)
        print(f"generated synthetic cohort n={n} seed={seed} in {time.perf_counter() - t0:.1f} s -> {out}", flush=True)
    return out


def binary_pipelines(names: list[str] | None) -> list[Path]:
    """Pipeline files whose outcome is binary (the survival pipeline is benchmarked elsewhere)."""
    definitions = load_outcome_definitions()
    paths = sorted(PIPELINES.glob("*.yaml"))
    chosen = []
    for path in paths:
        config = load_pipeline(path, outcomes=list(definitions))
        if config.survival_families or not config.families:
            continue
        if names and config.name not in names and path.stem not in names:
            continue
        chosen.append(path)
    if names:
        missing = set(names) - {p.stem for p in chosen}
        if missing:
            raise SystemExit(f"unknown or non-binary pipeline(s): {sorted(missing)}")
    return chosen


# ----------------------------------------------------------------------------------------------
# stage timings from the engine's progress messages
# ----------------------------------------------------------------------------------------------
class StageClock:
    """Times between progress messages, attributed to the stage of the message that ends them.

    The engine reports a :class:`~spineoutcome.progress.ProgressEvent` after each fit of its plan
    (stage ``final``, ``cv``, ``bootstrap``, ``iecv``) and each later step (``evaluation``, ``shap``),
    with its family. The first step of a stage also contains
    the work done between stages (evaluation, the final tuned fit); it is estimated by the median
    step of its stage and the remainder goes to ``other`` (evaluation with bootstrap CIs, final
    tuned fit, subgroups, SHAP, specification).
    """

    def __init__(self) -> None:
        self.events: list[tuple[float, str, str]] = []

    def __call__(self, event: ProgressEvent) -> None:
        self.events.append((time.perf_counter(), event.family or "other", event.stage))

    def summary(self, family_seconds: dict[str, float], start: float) -> dict[str, dict[str, float]]:
        out: dict[str, dict[str, float]] = {}
        previous_time, previous_key = start, None
        by_family: dict[str, list[tuple[float, str, bool]]] = {}
        for t, family, stage in self.events:
            key = (family, stage)
            by_family.setdefault(family, []).append((t - previous_time, stage, key != previous_key))
            previous_time, previous_key = t, key
        for family, steps in by_family.items():
            stages: dict[str, float] = {}
            for stage in dict.fromkeys(s for _, s, _ in steps):
                inner = [d for d, s, first in steps if s == stage and not first]
                firsts = [d for d, s, first in steps if s == stage and first]
                typical = float(np.median(inner)) if inner else (min(firsts) if firsts else 0.0)
                stages[stage] = float(sum(inner) + len(firsts) * min(typical, min(firsts) if firsts else typical))
            total = family_seconds.get(family, sum(stages.values()))
            stages["other"] = max(total - sum(stages.values()), 0.0)
            out[family] = {k: round(v, 1) for k, v in stages.items()}
        return out


# ----------------------------------------------------------------------------------------------
# oracle references
# ----------------------------------------------------------------------------------------------
def oracle_record(p_true: np.ndarray, y: np.ndarray) -> dict[str, float]:
    auc = roc_auc(y, p_true).to_dict()["auc"]
    cal = calibration_metrics(y, p_true).to_dict()
    return {
        "auc": auc["value"],
        "auc_ci_low": auc["ci_low"],
        "auc_ci_high": auc["ci_high"],
        "slope": cal["slope"]["value"],
        "citl": cal["citl"]["value"],
    }


def observable_oracle_auc(result: Any, cohort: Any, p_true: np.ndarray, seed: int) -> float:
    """CV AUC of a boosted regressor of logit(p_true) on the pipeline's predictors (see module docstring)."""
    task = result.task
    target = logit(np.clip(p_true, 1e-6, 1 - 1e-6))
    prediction = np.full(task.n, np.nan)
    # one OpenMP thread: on a loaded 2-core machine the regressor's threads otherwise fight each other
    with threadpool_limits(limits=1):
        for split in cv_splits(task.y, 5, 1, seed):
            _fit_fold(split, task, cohort, target, prediction, seed)
    return float(roc_auc_score(task.y, prediction))


def _fit_fold(split: Any, task: Any, cohort: Any, target: np.ndarray, prediction: np.ndarray, seed: int) -> None:
    """Fit the observable-oracle regressor on one development fold; predict its test fold in place."""
    pre = build_preprocessor(cohort.dictionary, task.predictors, imputation="simple", scale=False)
    Xtr = pre.fit_transform(task.X.iloc[split.train], task.y[split.train])
    model = HistGradientBoostingRegressor(max_iter=300, learning_rate=0.05, early_stopping=True, random_state=seed).fit(
        Xtr, target[split.train]
    )
    prediction[split.test] = model.predict(pre.transform(task.X.iloc[split.test]))


# ----------------------------------------------------------------------------------------------
# one pipeline
# ----------------------------------------------------------------------------------------------
def _value(record: dict[str, Any] | None, *path: str) -> float | None:
    node: Any = record
    for key in path:
        if not isinstance(node, dict) or key not in node:
            return None
        node = node[key]
    return None if node is None else float(node)


def run_one(path: Path, cohort: Any, truth: pd.DataFrame, seed: int) -> dict[str, Any]:
    clock = StageClock()
    t0 = time.perf_counter()
    result = run_pipeline(path, cohort, progress=clock)
    wall = time.perf_counter() - t0
    evidence = result.evidence.to_dict()
    outcome = evidence["task"]["outcome"]
    keys = result.task.X.index
    p_true = truth.loc[keys, f"p_{outcome}"].to_numpy(dtype=float)
    if np.isnan(p_true).any():
        raise RuntimeError(
            f"{path.stem}: truth.csv has no p_{outcome} for {int(np.isnan(p_true).sum())} analysed patients"
        )
    y = result.task.y
    families = {}
    for family, record in evidence["families"].items():
        cv = record["cross_validation"]
        auc = cv["discrimination"]["auc"]
        families[family] = {
            "cv_auc": auc["value"],
            "cv_auc_ci_low": auc["ci_low"],
            "cv_auc_ci_high": auc["ci_high"],
            "corrected_auc": _value(record["optimism"], "corrected", "auc"),
            "optimism_method": (record["optimism"] or {}).get("method", "harrell"),
            "harrell_auc": _value(record["optimism"], "harrell", "auc")
            if record["optimism"] and "harrell" in record["optimism"]
            else _value(record["optimism"], "corrected", "auc"),
            "harrell_slope": _value(record["optimism"], "harrell", "calibration_slope")
            if record["optimism"] and "harrell" in record["optimism"]
            else _value(record["optimism"], "corrected", "calibration_slope"),
            "oob_auc": _value(record["optimism"], "out_of_bag", "auc"),
            "apparent_auc": _value(record["optimism"], "apparent", "auc"),
            "cv_slope": cv["calibration"]["slope"]["value"],
            "corrected_slope": _value(record["optimism"], "corrected", "calibration_slope"),
            "cv_ici": cv["calibration_curve"]["ici"]["value"],
            "cv_log_loss": cv["overall"]["log_loss"]["value"],
            "iecv_auc": _value(record["internal_external"], "pooled_predictions", "auc"),
            "seconds": record["seconds"],
        }
    t1 = time.perf_counter()
    observable = observable_oracle_auc(result, cohort, p_true, seed)
    return {
        "pipeline": path.stem,
        "outcome": outcome,
        "n": int(result.task.n),
        "events": int(result.task.events),
        "flow": evidence["flow"],
        "oracle": oracle_record(p_true, y),
        "observable_oracle_auc": observable,
        "observable_oracle_seconds": time.perf_counter() - t1,
        "families": families,
        "best_family": evidence["best_family"],
        "wall_seconds": wall,
        "timings": evidence["timings"],
        "stages": clock.summary({f: r["seconds"] for f, r in evidence["families"].items()}, t0),
        "budget": {
            "n_trials": evidence["pipeline"]["tuning"]["n_trials"],
            "inner_folds": evidence["pipeline"]["tuning"]["inner_folds"],
            "folds": evidence["pipeline"]["validation"]["folds"],
            "repeats": evidence["pipeline"]["validation"]["repeats"],
            "bootstrap": (evidence["pipeline"]["validation"]["bootstrap"] or {}).get("replicates"),
            "internal_external": evidence["pipeline"]["validation"]["internal_external"],
        },
    }


# ----------------------------------------------------------------------------------------------
# report
# ----------------------------------------------------------------------------------------------
def _f(x: float | None, digits: int = 3) -> str:
    return "-" if x is None or not np.isfinite(x) else f"{x:.{digits}f}"


def verdicts(r: dict[str, Any]) -> dict[str, Any]:
    best = r["families"][r["best_family"]]
    gap = None if best["corrected_auc"] is None else r["oracle"]["auc"] - best["corrected_auc"]
    cv_gap = r["oracle"]["auc"] - best["cv_auc"]
    slope = best["corrected_slope"]
    return {
        "gap_corrected": gap,
        "gap_cv": cv_gap,
        "auc_met": gap is not None and abs(gap) <= TARGET_AUC_GAP,
        "auc_met_cv": abs(cv_gap) <= TARGET_AUC_GAP,
        "slope_met": slope is not None and TARGET_SLOPE[0] <= slope <= TARGET_SLOPE[1],
        "slope_met_cv": TARGET_SLOPE[0] <= best["cv_slope"] <= TARGET_SLOPE[1],
    }


def _budget(text: str) -> str:
    b = json.loads(text)
    return (
        f"{b['n_trials']} trials x {b['inner_folds']} inner folds; {b['folds']}-fold CV x {b['repeats']}; "
        f"B = {b['bootstrap']}; IECV {'on' if b['internal_external'] else 'off'}"
    )


def _yes(ok: bool) -> str:
    return "yes" if ok else "**no**"


def markdown(results: list[dict[str, Any]], meta: dict[str, str]) -> str:
    lines = [SECTION, ""]
    lines += [
        (
            "Every binary pipeline in `pipelines/` run **as shipped** (its own tuning, resampling and bootstrap "
            "budget, column *budget*) through `spineoutcome.api.run_pipeline` on"
        ),
        f"one synthetic cohort (`generate_cohort(n={meta['n']}, seed={meta['seed']})`). The oracle AUC is the AUC of",
        "truth.csv's `p_<outcome>` (each patient's exact probability of the derived label) on the analysed",
        "patients' labels; the observable oracle is a boosted regressor of logit(p_true) on the pipeline's",
        "own predictors in 5-fold CV (how much of the oracle the pre-operative exports can carry at all).",
        "",
        f"- Machine: {meta['cpu']} (`lscpu`); shared with other engineers' jobs.",
        f"- Python {meta['python']}; code: "
        + "; ".join(dict.fromkeys(r.get("meta", meta).get("git", "unknown") for r in results))
        + ".",
        *[f"- Command: `{c}`" for c in dict.fromkeys(r.get("meta", meta)["command"] for r in results)],
        *[
            f"- Run date(s): {', '.join(dict.fromkeys(r.get('meta', meta)['date'] for r in results))}; load average "
            f"at the start of each pipeline: "
            + "; ".join(f"{r['pipeline']} {r.get('meta', meta)['load_start']}" for r in results)
            + "."
        ],
        "",
        "### Per pipeline",
        "",
        (
            "| pipeline | budget | n | events | oracle AUC (95% CI) | oracle slope | observable oracle AUC | selected "
            "| wall (min) |"
        ),
        "|---|---|---:|---:|---|---:|---:|---|---:|",
    ]
    for r in results:
        o = r["oracle"]
        lines.append(
            f"| {r['pipeline']} | {_budget(json.dumps(r['budget']))} | {r['n']} | {r['events']} | "
            f"{_f(o['auc'])} ({_f(o['auc_ci_low'])}-{_f(o['auc_ci_high'])}) | {_f(o['slope'], 2)} | "
            f"{_f(r['observable_oracle_auc'])} | {r['best_family']} | {r['wall_seconds'] / 60:.1f} |"
        )
    lines += [
        "",
        "### Per family (CV = out-of-fold predictions, tuning nested in every development fold)",
        "",
        (
            "Corrected = the engine's reported optimism-corrected value (method in brackets: Harrell for regression "
            "models, .632+ for tree ensembles); Harrell = Harrell's correction for every family; OOB = mean "
            "out-of-bag value of the bootstrap models. Selected family in bold."
        ),
        "",
        (
            "| pipeline | family | CV AUC (95% CI) | apparent AUC | corrected AUC | Harrell AUC | OOB AUC | IECV AUC "
            "| CV slope | corrected slope | Harrell slope | CV ICI | CV log-loss | seconds |"
        ),
        "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        for family, f in r["families"].items():
            name = f"**{family}**" if family == r["best_family"] else family
            method = {"harrell": "H", "632plus": ".632+"}.get(f.get("optimism_method", "harrell"), "?")
            lines.append(
                f"| {r['pipeline']} | {name} | {_f(f['cv_auc'])} "
                f"({_f(f['cv_auc_ci_low'])}-{_f(f['cv_auc_ci_high'])}) | "
                f"{_f(f['apparent_auc'])} | {_f(f['corrected_auc'])} [{method}] | {_f(f.get('harrell_auc'))} | "
                f"{_f(f.get('oob_auc'))} | {_f(f['iecv_auc'])} | {_f(f['cv_slope'], 2)} | "
                f"{_f(f['corrected_slope'], 2)} | {_f(f.get('harrell_slope'), 2)} | {_f(f['cv_ici'])} | "
                f"{_f(f['cv_log_loss'])} | {f['seconds']:.0f} |"
            )
    lines += [
        "",
        "### Targets (issue 5)",
        "",
        (
            f"Target 1: the best (selected) family's optimism-corrected AUC within {TARGET_AUC_GAP} of the oracle AUC, "
            f"with calibration slope in [{TARGET_SLOPE[0]}, {TARGET_SLOPE[1]}]."
        ),
        "",
        (
            "| pipeline | selected | oracle - corrected AUC | met? | oracle - CV AUC | met? | corrected slope | met? "
            "| CV slope | met? |"
        ),
        "|---|---|---:|---|---:|---|---:|---|---:|---|",
    ]
    for r in results:
        v = verdicts(r)
        best = r["families"][r["best_family"]]
        lines.append(
            f"| {r['pipeline']} | {r['best_family']} | {_f(v['gap_corrected'])} | {_yes(v['auc_met'])} | "
            f"{_f(v['gap_cv'])} | {_yes(v['auc_met_cv'])} | {_f(best['corrected_slope'], 2)} | "
            f"{_yes(v['slope_met'])} | {_f(best['cv_slope'], 2)} | {_yes(v['slope_met_cv'])} |"
        )
    timed = [r for r in results if r["pipeline"] == TIMED_PIPELINE]
    lines += [
        "",
        (
            f"Target 2: the {TIMED_PIPELINE} pipeline on n = 2,000 with the default budget in under "
            f"{TARGET_MINUTES:.0f} minutes."
        ),
    ]
    if timed:
        minutes = timed[0]["wall_seconds"] / 60
        met = minutes < TARGET_MINUTES and meta["n"] == "2000"
        lines.append(f"Measured: {minutes:.1f} min on n = {meta['n']} -> {'met' if met else '**not met**'}.")
    lines += [
        "",
        "### Stage timings (seconds; reconstructed from progress messages)",
        "",
        (
            "| pipeline | family | CV (nested tuning) | bootstrap optimism | IECV | other (evaluation, final tuned "
            "fit, subgroups, SHAP) |"
        ),
        "|---|---|---:|---:|---:|---:|",
    ]
    for r in results:
        for family, s in r["stages"].items():
            lines.append(
                f"| {r['pipeline']} | {family} | {s.get('cv', 0):.0f} | {s.get('bootstrap', 0):.0f} | "
                f"{s.get('iecv', 0):.0f} | {s.get('other', 0):.0f} |"
            )
    lines += ["", "<!-- interpretation -->", ""]
    return "\n".join(lines)


def write_section(text: str, interpretation: str = "") -> None:
    """Replace (or append) this benchmark's section of RESULTS.md; other sections are left as they are."""
    current = RESULTS.read_text(encoding="utf-8") if RESULTS.exists() else "# Benchmark results\n"
    body = text.replace("<!-- interpretation -->", interpretation.strip() or "<!-- interpretation -->")
    lines = current.splitlines()
    if SECTION in lines:
        start = lines.index(SECTION)
        end = next((i for i in range(start + 1, len(lines)) if lines[i].startswith("## ")), len(lines))
        new = lines[:start] + body.rstrip("\n").splitlines() + ([""] if end < len(lines) else []) + lines[end:]
    else:
        new = lines + ([""] if lines and lines[-1].strip() else []) + body.rstrip("\n").splitlines()
    RESULTS.write_text("\n".join(new) + "\n", encoding="utf-8")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pipelines", nargs="*", default=None, help="pipeline names (default: every binary one)")
    parser.add_argument("--n", type=int, default=2000, help="synthetic cohort size")
    parser.add_argument("--seed", type=int, default=7, help="synthetic cohort seed")
    parser.add_argument(
        "--work",
        type=Path,
        default=Path("/tmp/spineoutcome-bench-experiment"),
        help="cache folder for the cohort and per-pipeline results",
    )
    parser.add_argument("--resume", action="store_true", help="reuse cached per-pipeline results")
    parser.add_argument("--report-only", action="store_true", help="only build the table from cached results")
    parser.add_argument("--no-write", action="store_true", help="print the table; leave RESULTS.md alone")
    parser.add_argument(
        "--interpretation",
        type=Path,
        default=None,
        help="Markdown file whose text is placed under the tables in RESULTS.md",
    )
    args = parser.parse_args(argv)

    meta = {
        "n": str(args.n),
        "seed": str(args.seed),
        "cpu": cpu_model(),
        "load_start": load_average(),
        "git": git_state(),
        "python": platform.python_version(),
        "date": datetime.date.today().isoformat(),
        "command": "python benchmarks/bench_experiment.py " + shlex.join(argv if argv is not None else sys.argv[1:]),
    }
    args.work.mkdir(parents=True, exist_ok=True)
    paths = binary_pipelines(args.pipelines)
    cache = args.work / f"results-n{args.n}-seed{args.seed}"
    cache.mkdir(exist_ok=True)
    results: list[dict[str, Any]] = []
    cohort = truth = None
    for path in paths:
        cached = cache / f"{path.stem}.json"
        if (args.resume or args.report_only) and cached.exists():
            results.append(json.loads(cached.read_text()))
            print(f"{path.stem}: cached result {cached}", flush=True)
            continue
        if args.report_only:
            print(f"{path.stem}: no cached result, skipped", flush=True)
            continue
        if cohort is None:
            data = cohort_dir(args.work, args.n, args.seed)
            t0 = time.perf_counter()
            cohort = load_cohort(data)
            truth = pd.read_csv(data / "truth.csv", dtype={cohort.dictionary.key: str}).set_index(cohort.dictionary.key)
            print(f"loaded cohort in {time.perf_counter() - t0:.1f} s", flush=True)
        load_start = load_average()
        print(f"{path.stem}: running (load average {load_start}) ...", flush=True)
        record = run_one(path, cohort, truth, args.seed)
        record["meta"] = {**meta, "load_start": load_start, "load_end": load_average()}
        cached.write_text(json.dumps(record, indent=1))
        results.append(record)
        best = record["families"][record["best_family"]]
        print(
            f"{path.stem}: {record['wall_seconds'] / 60:.1f} min; n {record['n']}, events {record['events']}; "
            f"oracle AUC {record['oracle']['auc']:.3f}; best {record['best_family']} CV AUC {best['cv_auc']:.3f}, "
            f"corrected AUC {_f(best['corrected_auc'])}, corrected slope {_f(best['corrected_slope'], 2)}",
            flush=True,
        )
    meta["load_end"] = load_average()
    text = markdown(results, meta)
    print(text)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"\npeak resident memory: {peak:.0f} MB")
    if not args.no_write and results:
        interpretation = args.interpretation.read_text(encoding="utf-8") if args.interpretation else ""
        write_section(text, interpretation)
        print(f"written to {RESULTS} ({SECTION})")


if __name__ == "__main__":
    main()
