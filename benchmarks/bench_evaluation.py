"""Benchmark: the full evaluation metric set with 1,000 bootstrap replicates on n = 5,000.

Metric set: AUC with DeLong SE and bootstrap interval, Brier-type measures, calibration
intercept and slope (vectorised IRLS over all replicates), O:E, loess ICI / E50 / E90 / Emax
(binned loess in the replicates), and net benefit on 99 thresholds, all sharing one stratified
bootstrap (``evaluate_predictions``). Performance is measured here, never asserted in tests.
Usage:

    python benchmarks/bench_evaluation.py --n 5000 --n-boot 1000 --repeats 3

Prints the machine, the timings of the whole evaluation and of each component, and peak memory.
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import resource
import subprocess
import time
from collections.abc import Callable

import numpy as np
from scipy.special import expit

from spineoutcome.evaluation import (
    DEFAULT_THRESHOLDS,
    Bootstrap,
    calibration_curve,
    calibration_metrics,
    decision_curve,
    evaluate_predictions,
    overall_performance,
    roc_auc,
)


def simulate(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Outcomes with prevalence about 0.25 and moderately miscalibrated predictions."""
    rng = np.random.default_rng(seed)
    lp = rng.normal(-1.5, 1.2, n)
    y = (rng.random(n) < expit(lp)).astype(int)
    return y, expit(0.2 + 0.8 * lp)


def cpu_model() -> str:
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return platform.processor() or "unknown"
    for line in out.splitlines():
        if line.startswith("Model name:"):
            return line.split(":", 1)[1].strip()
    return "unknown"


def timed(fn: Callable[[], object], repeats: int) -> list[float]:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=5000)
    parser.add_argument("--n-boot", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    y, p = simulate(args.n, args.seed)
    boot = Bootstrap.draw(y, n_boot=args.n_boot, seed=args.seed)
    components: dict[str, Callable[[], object]] = {
        "draw bootstrap weights": lambda: Bootstrap.draw(y, n_boot=args.n_boot, seed=args.seed),
        "AUC (DeLong SE + bootstrap CI)": lambda: roc_auc(y, p, ci_method="bootstrap", boot=boot),
        "Brier, scaled Brier, log-loss, R2": lambda: overall_performance(y, p, boot=boot),
        "CITL, slope, O:E (bootstrap)": lambda: calibration_metrics(y, p, ci_method="bootstrap", boot=boot),
        "loess curve + ICI/E50/E90/Emax": lambda: calibration_curve(y, p, boot=boot),
        "net benefit, 99 thresholds": lambda: decision_curve(y, p, thresholds=DEFAULT_THRESHOLDS, boot=boot),
    }
    total = timed(lambda: evaluate_predictions(y, p, n_boot=args.n_boot, seed=args.seed), args.repeats)
    print(
        f"machine: {cpu_model()}, {os.cpu_count()} logical CPUs; numpy {np.__version__}; "
        f"Python {platform.python_version()}"
    )
    print(f"date: {datetime.date.today().isoformat()}")
    print(f"n = {args.n:,}, bootstrap replicates = {args.n_boot:,}, repeats = {args.repeats}")
    print()
    print("| step | median (s) | min (s) |")
    print("|---|---:|---:|")
    print(f"| **evaluate_predictions (full metric set)** | **{np.median(total):.2f}** | {min(total):.2f} |")
    for name, fn in components.items():
        times = timed(fn, args.repeats)
        print(f"| {name} | {np.median(times):.2f} | {min(times):.2f} |", flush=True)
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"\npeak resident memory: {peak_mb:.0f} MB")


if __name__ == "__main__":
    main()
