"""Benchmark: scoring a hospital export of 10k-1M patients, with and without explanations.

The export is the synthetic clinical and imaging exports of one cohort side by side (one row per
patient, 38 columns, of which the model reads its predictors and the key), generated once at the
largest size; smaller sizes are its first rows. Each run is ``spineoutcome.scoring.score_export``
(model loading and integrity check, the duplicate-key pass, reading, validation, scoring, the 95 %
band from the bootstrap refits, flags, optionally the top-3 drivers, writing the scores) in a fresh
subprocess, so peak resident memory (ru_maxrss) is that run's alone. Start-up (imports, loading
and verifying the model, reading the dictionary) is timed apart from scoring. Usage:

    python benchmarks/bench_scoring.py --model models:/c5_palsy/2 --tracking-uri sqlite:////tmp/h10/mlruns.db \
        --sizes 10000 100000 1000000 --out /tmp/bench_scoring

Prints a Markdown table to paste into benchmarks/RESULTS.md.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

_GENERATE = r"""
import sys
from pathlib import Path
from spineoutcome.data.synth import generate_cohort
generate_cohort(Path(sys.argv[2]), n=int(sys.argv[1]), seed=11, tables=["clinical", "imaging"])
"""

_SCORE = r"""
import json, resource, sys, time
from pathlib import Path
t0 = time.perf_counter()
from spineoutcome.dictionary import DataDictionary
from spineoutcome.scoring import load_scoring_model, score_export
model, tracking, export, out, explain, chunk, unverified, band = sys.argv[1:9]
loaded = load_scoring_model(model, tracking_uri=tracking or None, allow_unverified=unverified == "1")
dictionary = DataDictionary.load()
t1 = time.perf_counter()
summary = score_export([loaded], Path(export), Path(out), explain=explain == "1", chunk_size=int(chunk),
                       dictionary=dictionary, band=band == "1")
t2 = time.perf_counter()
assert summary.invariant_holds
peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({"rows": summary.rows_in, "scored": summary.rows_scored, "load": t1 - t0, "seconds": t2 - t1,
                  "peak_mb": peak_mb, "family": summary.models[0]["family"],
                  "refits": len(loaded.bundle.ensemble) if band == "1" else 0}))
"""


def build_export(n: int, root: Path) -> Path:
    """clinical.csv and imaging.csv of one cohort, pasted line by line (same patients, same order)."""
    target = root / f"export_{n}.csv"
    if target.exists():
        return target
    cohort = root / f"cohort_{n}"
    if not (cohort / "imaging.csv").exists():
        subprocess.run([sys.executable, "-c", _GENERATE, str(n), str(cohort)], check=True)
    with (
        (cohort / "clinical.csv").open(encoding="utf-8") as clinical,
        (cohort / "imaging.csv").open(encoding="utf-8") as imaging,
        target.open("w", encoding="utf-8") as out,
    ):
        for left, right in zip(clinical, imaging, strict=True):
            key, _, rest = right.rstrip("\n").partition(",")
            if not left.startswith(key + ","):
                raise RuntimeError("clinical and imaging rows are not in the same order")
            out.write(left.rstrip("\n") + "," + rest + "\n")
    return target


def head(source: Path, n: int, root: Path) -> Path:
    target = root / f"export_{n}.csv"
    if not target.exists():
        with source.open(encoding="utf-8") as inp, target.open("w", encoding="utf-8") as out:
            for i, line in enumerate(inp):
                if i > n:
                    break
                out.write(line)
    return target


def measure(args: argparse.Namespace, export: Path, explain: bool, out: Path) -> dict[str, float]:
    result = subprocess.run(
        [
            sys.executable,
            "-c",
            _SCORE,
            args.model,
            args.tracking_uri or "",
            str(export),
            str(out),
            "1" if explain else "0",
            str(args.chunk_size),
            "1" if args.allow_unverified else "0",
            "0" if args.no_band else "1",
        ],
        check=True,
        capture_output=True,
        text=True,
    )
    return json.loads(result.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True, help="MLflow model URI or local model folder")
    parser.add_argument("--tracking-uri", default=None)
    parser.add_argument("--allow-unverified", action="store_true")
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    parser.add_argument("--chunk-size", type=int, default=50_000)
    parser.add_argument("--explain", choices=["both", "on", "off"], default="both")
    parser.add_argument("--no-band", action="store_true", help="leave out the 95 %% band (bootstrap refits)")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    root = args.out or Path(tempfile.mkdtemp(prefix="bench_scoring_"))
    root.mkdir(parents=True, exist_ok=True)
    biggest = build_export(max(args.sizes), root)
    modes = {"both": [False, True], "on": [True], "off": [False]}[args.explain]
    print(
        f"model {args.model}; chunk size {args.chunk_size:,}; band {'off' if args.no_band else 'on'}; "
        f"load average {os.getloadavg()[0]:.1f}"
    )
    print("| model | rows | explanations | start-up (s) | scoring (s) | rows/s scoring | rows/s end to end | peak MB |")
    print("|---|---:|---|---:|---:|---:|---:|---:|")
    for n in sorted(args.sizes):
        export = biggest if n == max(args.sizes) else head(biggest, n, root)
        for explain in modes:
            run = measure(args, export, explain, root / f"scores_{n}_{int(explain)}.csv")
            assert run["rows"] == n, run
            refits = f"{run['refits']} refits" if run["refits"] else "no band"
            print(
                f"| {run['family']}, {refits} | {n:,} | {'top-3 drivers' if explain else 'off'} | "
                f"{run['load']:.1f} | {run['seconds']:.1f} | {run['rows'] / run['seconds']:,.0f} | "
                f"{run['rows'] / (run['load'] + run['seconds']):,.0f} | {run['peak_mb']:,.0f} |",
                flush=True,
            )
    print(f"load average at the end {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
