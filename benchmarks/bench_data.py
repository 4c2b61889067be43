"""Benchmark: synthetic export generation and validation time and peak memory at 10k-1M patients.

Each measurement runs in a fresh subprocess so that peak resident memory (ru_maxrss) belongs to
that step alone. Usage:

    python benchmarks/bench_data.py --sizes 10000 100000 1000000 --out /tmp/bench_data
    python benchmarks/bench_data.py --sizes 200000 --quoted   # every field quoted (csv-module path)

Prints a Markdown table to paste into benchmarks/RESULTS.md. ``--quoted`` rewrites the generated
export with every field in double quotes, as SQL Server and some EHR exports write them: such lines
go through the reader's csv-module path instead of pandas' C parser.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

_STEP = r"""
import json, resource, sys, time
from pathlib import Path
step, n, out = sys.argv[1], int(sys.argv[2]), Path(sys.argv[3])
t0 = time.perf_counter()
if step in ("generate", "generate-quoted"):
    from spineoutcome.data.synth import generate_cohort
    generate_cohort(out, n=n, seed=1, tables=["clinical"])
    if step == "generate-quoted":
        import csv
        with (out / "clinical.csv").open(newline="", encoding="utf-8") as fh:
            rows_text = list(csv.reader(fh))
        with (out / "clinical.csv").open("w", newline="", encoding="utf-8") as fh:
            csv.writer(fh, quoting=csv.QUOTE_ALL).writerows(rows_text)
    rows = n
else:
    from spineoutcome.data import read_export, validate_export
    from spineoutcome.dictionary import DataDictionary
    report = validate_export(read_export(out / "clinical.csv"), "clinical", DataDictionary.load())
    assert report.rows_clean + report.rows_rejected == report.rows_in == n
    rows = report.rows_in
seconds = time.perf_counter() - t0
peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({"step": step, "n": n, "rows": rows, "seconds": seconds, "peak_mb": peak_mb}))
"""


def measure(step: str, n: int, out: Path) -> dict[str, float]:
    result = subprocess.run(
        [sys.executable, "-c", _STEP, step, str(n), str(out)], check=True, capture_output=True, text=True
    )
    return json.loads(result.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--quoted", action="store_true", help="quote every field of the export")
    args = parser.parse_args()
    root = args.out or Path(tempfile.mkdtemp(prefix="bench_data_"))
    print("| patients | generate clinical.csv (s) | peak MB | validate clinical.csv (s) | peak MB | rows/s validated |")
    print("|---:|---:|---:|---:|---:|---:|")
    for n in args.sizes:
        out = root / str(n)
        out.mkdir(parents=True, exist_ok=True)
        gen = measure("generate-quoted" if args.quoted else "generate", n, out)
        val = measure("validate", n, out)
        print(
            f"| {n:,} | {gen['seconds']:.1f} | {gen['peak_mb']:.0f} | {val['seconds']:.1f} | {val['peak_mb']:.0f} "
            f"| {val['rows'] / val['seconds']:,.0f} |",
            flush=True,
        )


if __name__ == "__main__":
    main()
