"""Tuning throughput with 1, 2, ... worker processes on one Optuna study in PostgreSQL.

Usage::

    eval "$(scripts/pg_test.sh start)"
    python benchmarks/bench_tuning.py [--workers 1 2] [--trials 40] [--n 1000] [--repeats 2] [--family xgboost]

Each run gets a fresh database on the server of ``SPINEOUTCOME_TEST_PG_URL`` (or ``--pg-url``), a
synthetic cohort of ``--n`` patients, and the shipped c5_palsy pipeline reduced to one family
with a budget of ``--trials`` trials; the workers are real processes
(``python -m spineoutcome.distributed worker --fit final``: the final model's study), each with
its own sampler seed. Throughput = trials finished (complete + pruned) per minute between the first
trial's start and the last trial's end, read from the study (worker start-up, about 5-15 s of
imports and data loading, is reported separately as wall time).
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import optuna
import sqlalchemy
import yaml
from optuna.trial import TrialState

from spineoutcome.data.synth import generate_cohort
from spineoutcome.dictionary import builtin_pipelines_dir

REPO = Path(__file__).resolve().parents[1]


def pipeline(directory: Path, family: str, trials: int, inner_folds: int) -> Path:
    spec = yaml.safe_load((builtin_pipelines_dir() / "c5_palsy.yaml").read_text(encoding="utf-8"))
    spec.update(families=[family], tuning={"n_trials": trials, "inner_folds": inner_folds})
    path = directory / "bench_tuning.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False), encoding="utf-8")
    return path


def run(pg_url: str, spec: Path, data: Path, family: str, workers: int, repeat: int) -> dict[str, float]:
    admin = sqlalchemy.create_engine(pg_url, isolation_level="AUTOCOMMIT")
    name = f"bench_{uuid.uuid4().hex[:10]}"
    with admin.connect() as connection:
        connection.execute(sqlalchemy.text(f'CREATE DATABASE "{name}"'))
    url = sqlalchemy.engine.make_url(pg_url).set(database=name).render_as_string(hide_password=False)
    try:
        base = [sys.executable, "-m", "spineoutcome.distributed"]
        subprocess.run([*base, "optuna-init", url], check=True, capture_output=True, cwd=REPO)
        start = time.perf_counter()
        procs = [
            subprocess.Popen(
                [
                    *base,
                    "worker",
                    str(spec),
                    "--data",
                    str(data),
                    "--optuna-storage",
                    url,
                    "--family",
                    family,
                    "--fit",
                    "final",
                    "--sampler-seed",
                    str(1000 * repeat + w),
                ],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
                text=True,
                cwd=REPO,
            )
            for w in range(workers)
        ]
        for proc in procs:
            _, err = proc.communicate()
            if proc.returncode:
                raise RuntimeError(f"worker failed ({proc.returncode}):\n{err}")
        wall = time.perf_counter() - start
        (study_name,) = optuna.get_all_study_names(url)
        trials = optuna.load_study(study_name=study_name, storage=url).get_trials(deepcopy=False)
        optuna.storages.RDBStorage(url).engine.dispose()
    finally:
        with admin.connect() as connection:
            connection.execute(sqlalchemy.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
    finished = [t for t in trials if t.state in (TrialState.COMPLETE, TrialState.PRUNED)]
    span = (max(t.datetime_complete for t in finished) - min(t.datetime_start for t in finished)).total_seconds()
    return {
        "workers": workers,
        "finished": len(finished),
        "complete": sum(t.state == TrialState.COMPLETE for t in trials),
        "pruned": sum(t.state == TrialState.PRUNED for t in trials),
        "failed": sum(t.state == TrialState.FAIL for t in trials),
        "span_s": span,
        "wall_s": wall,
        "per_minute": 60 * len(finished) / span,
        "mean_trial_s": statistics.fmean((t.datetime_complete - t.datetime_start).total_seconds() for t in finished),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pg-url", default=os.environ.get("SPINEOUTCOME_TEST_PG_URL"))
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--trials", type=int, default=40)
    parser.add_argument("--n", type=int, default=1000)
    parser.add_argument("--inner-folds", type=int, default=3)
    parser.add_argument("--family", default="xgboost")
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    if not args.pg_url:
        sys.exit('no PostgreSQL: pass --pg-url or run: eval "$(scripts/pg_test.sh start)"')
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor(),
    )
    print(
        f"# {cpu}, {os.cpu_count()} cores; Python {platform.python_version()}, optuna {optuna.__version__}; "
        f"load average before: {os.getloadavg()[0]:.2f}"
    )
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "cohort"
        generate_cohort(data, n=args.n, seed=1, tables=None)
        spec = pipeline(Path(tmp), args.family, args.trials, args.inner_folds)
        print(f"# {args.family}, budget {args.trials} trials, {args.inner_folds} inner folds, {args.n} patients")
        print(
            "| workers | repeat | finished (complete + pruned) | failed | tuning span (s) | trials / min | "
            "mean trial (s) | wall incl. start-up (s) |"
        )
        print("|---:|---:|---:|---:|---:|---:|---:|---:|")
        results: dict[int, list[float]] = {}
        for workers in args.workers:
            for repeat in range(args.repeats):
                r = run(args.pg_url, spec, data, args.family, workers, repeat)
                results.setdefault(workers, []).append(r["per_minute"])
                print(
                    f"| {workers} | {repeat + 1} | {r['finished']} ({r['complete']} + {r['pruned']}) | {r['failed']} | "
                    f"{r['span_s']:.1f} | {r['per_minute']:.1f} | {r['mean_trial_s']:.2f} | {r['wall_s']:.1f} |",
                    flush=True,
                )
    base = statistics.median(results[args.workers[0]])
    for workers, rates in results.items():
        print(
            f"# {workers} worker(s): median {statistics.median(rates):.1f} trials/min "
            f"({statistics.median(rates) / base:.2f}x {args.workers[0]} worker(s))"
        )
    print(f"# load average after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
