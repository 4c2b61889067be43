"""Timing of the synthetic cohort generator (spineoutcome.data.synth).

Usage: ``python benchmarks/bench_synth.py [OUT_DIR]``. Writes a 1,000,000-patient clinical-only
export (the benchmark input for scoring), a 100,000-patient export of every table but landmarks
in CSV and Parquet, and landmarks for 10,000 patients (the keypoint solver of
spineoutcome.imaging dominates that table's time), and prints wall time, rows, realised
prevalences and peak memory.
"""

from __future__ import annotations

import resource
import sys
import tempfile
import time
from pathlib import Path

from spineoutcome.data.synth import SynthSummary, generate_cohort

ALL_BUT_LANDMARKS = ["clinical", "proms", "imaging", "radiomics", "complications", "neuro_exam", "ct_followup", "truth"]
RUNS: tuple[tuple[str, int, list[str], str], ...] = (
    ("1M clinical csv", 1_000_000, ["clinical"], "csv"),
    ("100k tables csv", 100_000, ALL_BUT_LANDMARKS, "csv"),
    ("100k tables parquet", 100_000, ALL_BUT_LANDMARKS, "parquet"),
    ("10k landmarks csv", 10_000, ["landmarks"], "csv"),
)


def _run(out: Path, label: str, n: int, tables: list[str], fmt: str) -> SynthSummary:
    start = time.perf_counter()
    summary = generate_cohort(out / label.replace(" ", "_"), n, seed=2026, tables=tables, fmt=fmt)  # type: ignore[arg-type]
    elapsed = time.perf_counter() - start
    rows = sum(summary.rows.values())
    print(f"{label:18s} {elapsed:7.1f} s  {rows:>10,d} rows  {rows / elapsed:>12,.0f} rows/s")
    return summary


def main(out: Path) -> None:
    summaries = {label: _run(out, label, n, tables, fmt) for label, n, tables, fmt in RUNS}
    summary = summaries["100k tables csv"]
    print("realised prevalence (generator labels) / mean truth p, 100k:")
    for outcome, rate in summary.prevalence.items():
        print(f"  {outcome:28s} {rate:.3f} / {summary.mean_p[outcome]:.3f}  (n = {summary.adequate[outcome]:,d})")
    print(f"peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB")


if __name__ == "__main__":
    if len(sys.argv) > 1:
        main(Path(sys.argv[1]))
    else:
        with tempfile.TemporaryDirectory() as tmp:
            main(Path(tmp))
