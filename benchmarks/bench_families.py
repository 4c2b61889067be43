"""Fit and predict time of one pipeline per binary model family (defaults of the family registry).

Usage::

    python benchmarks/bench_families.py [--n 2000] [--repeats 3]

A synthetic cohort of ``--n`` patients (the embedded generator, seed 7); predictors: the shipped
c5_palsy pipeline's; outcome: its binary label. Each family's pipeline (preprocessing + estimator,
registry defaults, no tuning) is fit on all patients and predicts them, ``--repeats`` times; the
median seconds are printed with the machine's load. One tuned fit costs about ``n_trials x
inner_folds`` of these, so the ratio between families is the ratio of their training cost.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import tempfile
import time
from pathlib import Path

from spineoutcome.api import load_cohort
from spineoutcome.config import load_pipeline
from spineoutcome.data.synth import generate_cohort
from spineoutcome.dictionary import builtin_pipelines_dir
from spineoutcome.experiment import prepare_task
from spineoutcome.modeling import FAMILIES, make_pipeline


def main() -> None:
    """Time every binary family and print one row per family."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=2000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        generate_cohort(Path(tmp), n=args.n, seed=7)
        cohort = load_cohort(Path(tmp))
        task = prepare_task(load_pipeline(builtin_pipelines_dir() / "c5_palsy.yaml"), cohort)
    print(
        f"# {platform.processor() or platform.machine()}, {os.cpu_count()} cores, load {os.getloadavg()[0]:.2f}; "
        f"n = {task.n}, {len(task.predictors)} predictors, {args.repeats} repeats"
    )
    print("| family | fit + predict (s, median) |\n|---|---:|")
    for family in sorted(FAMILIES):
        times = []
        for _ in range(args.repeats):
            pipeline = make_pipeline(family, cohort.dictionary, task.predictors, random_state=7)
            start = time.perf_counter()
            pipeline.fit(task.X, task.y).predict_proba(task.X)
            times.append(time.perf_counter() - start)
        print(f"| {family} | {statistics.median(times):.2f} |")


if __name__ == "__main__":
    main()
