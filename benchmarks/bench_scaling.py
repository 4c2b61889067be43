"""Benchmark: how ``--jobs`` scales ``spineoutcome train`` and the demo (issue 21).

For each cohort size (default 2,000, 10,000 and 50,000 synthetic patients, seed 7) the shipped
c5_palsy pipeline is trained with each ``--jobs`` value (default 1 and 2), every run a fresh
``spineoutcome train`` process (``--no-report --no-mlflow``: the training alone). Then, unless
``--no-demo``, ``spineoutcome demo --jobs J`` end to end (synthesis, every pipeline, MLflow logging in
a fresh SQLite store, every report), once per ``--demo-jobs`` value.

Recorded per run:

- wall time of the whole process, and its CPU time (user + system, with its worker processes): on an
  idle machine wall x jobs close to CPU says the workers were kept busy;
- peak memory: the largest single process of the run's process tree (``wait4``'s maximum resident set
  size, which includes the reaped worker processes) and the largest sum of resident memory over the
  tree (sampled every 0.25 s from /proc: the worker processes plus the parent);
- for training, whether the Evidence equals the ``--jobs 1`` run's (without run id, creation time and
  timings), and the speed-up over ``--jobs 1`` at the same size.

Targets (2-core machine): ``--jobs 2`` at least 1.6x faster than ``--jobs 1``; n = 10,000 under 4 min
with ``--jobs 2``; the demo under 8 min. The machine's load average is printed with every run: a run
on a shared machine measures the sharing too.

Usage:

    python benchmarks/bench_scaling.py                                  # the whole curve and the demo
    python benchmarks/bench_scaling.py --sizes 2000 --no-demo           # a quick check
    python benchmarks/bench_scaling.py --no-train --demo-jobs 1 2        # the demo alone
    python benchmarks/bench_scaling.py --write                          # also into benchmarks/RESULTS.md

With ``--write`` the table replaces the section "## Scaling with --jobs" of benchmarks/RESULTS.md.
Performance is measured here, never asserted.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

from spineoutcome.data.synth import generate_cohort

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "RESULTS.md"
SECTION = "## Scaling with --jobs"
VOLATILE = frozenset({"run_id", "created", "timings", "seconds", "elapsed_seconds"})
CLI = [sys.executable, "-c", "from spineoutcome.cli import app; app()"]
PAGE = os.sysconf("SC_PAGE_SIZE")


def cpu_model() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def tree_rss(root: int) -> int:
    """Resident bytes of ``root`` and all its descendants (from /proc)."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
                parents[int(entry.name)] = int(stat[stat.rindex(")") + 2 :].split()[1])
            except (OSError, ValueError):
                continue
    tree, frontier = {root}, [root]
    while frontier:
        children = [pid for pid, ppid in parents.items() if ppid in frontier and pid not in tree]
        tree.update(children)
        frontier = children
    total = 0
    for pid in tree:
        try:
            total += int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * PAGE
        except (OSError, ValueError, IndexError):
            continue
    return total


def timed(command: list[str], *, cwd: Path, log: Path) -> dict[str, Any]:
    """Run ``command`` as a fresh process; wall seconds, peak memory (largest process, whole tree)."""
    load = os.getloadavg()[0]
    with open(log, "w", encoding="utf-8") as out:
        started = time.perf_counter()
        process = subprocess.Popen(command, cwd=cwd, stdout=out, stderr=subprocess.STDOUT)
        peak = [0]
        done = threading.Event()

        def sample() -> None:
            while not done.wait(0.25):
                peak[0] = max(peak[0], tree_rss(process.pid))

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        _, status, usage = os.wait4(process.pid, 0)
        seconds = time.perf_counter() - started
        done.set()
        sampler.join()
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed ({process.returncode}); see {log}")
    return {
        "seconds": round(seconds, 1),
        "cpu_seconds": round(usage.ru_utime + usage.ru_stime, 1),
        "peak_process_mb": round(usage.ru_maxrss / 1024),
        "peak_tree_mb": round(peak[0] / 2**20),
        "load_at_start": round(load, 1),
    }


def scrub(node: Any) -> Any:
    if isinstance(node, dict):
        return {k: scrub(v) for k, v in node.items() if k not in VOLATILE}
    if isinstance(node, list):
        return [scrub(v) for v in node]
    return node


def train_runs(args: argparse.Namespace, work: Path) -> list[dict[str, Any]]:
    rows = []
    pipeline = ROOT / "pipelines" / f"{args.pipeline}.yaml"
    for n in args.sizes:
        data = work / f"cohort_n{n}_seed{args.seed}"
        if not (data / "clinical.csv").is_file():
            shutil.rmtree(data, ignore_errors=True)
            generate_cohort(data, n=n, seed=args.seed)
        reference = None
        for jobs in args.jobs:
            out = work / f"runs_n{n}_jobs{jobs}"
            shutil.rmtree(out, ignore_errors=True)
            command = [*CLI, "train", str(pipeline), "--data", str(data), "--out", str(out), "--jobs", str(jobs)]
            row = {"what": f"{args.pipeline} n={n}", "n": n, "jobs": jobs}
            row |= timed([*command, "--no-report", "--no-mlflow"], cwd=work, log=work / f"train_n{n}_jobs{jobs}.log")
            evidence = scrub(json.loads(next(out.glob("*/evidence.json")).read_text()))
            if reference is None:
                reference = (row["seconds"], evidence)
            row["speedup"] = round(reference[0] / row["seconds"], 2)
            row["same_evidence"] = evidence == reference[1]
            print(json.dumps(row), flush=True)
            rows.append(row)
    return rows


def demo_runs(args: argparse.Namespace, work: Path) -> list[dict[str, Any]]:
    rows = []
    for jobs in args.demo_jobs:
        folder = work / f"demo_jobs{jobs}"
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)
        command = [
            *CLI,
            "demo",
            "--jobs",
            str(jobs),
            "--out",
            "demo",
            "--reports",
            "reports",
            "--tracking-uri",
            f"sqlite:///{folder / 'mlruns.db'}",
        ]
        row = {"what": "demo (n=2000, every pipeline, MLflow, reports)", "n": 2000, "jobs": jobs}
        row |= timed(command, cwd=folder, log=work / f"demo_jobs{jobs}.log")
        print(json.dumps(row), flush=True)
        rows.append(row)
    return rows


def table(rows: list[dict[str, Any]], args: argparse.Namespace) -> str:
    lines = [
        SECTION,
        "",
        f"`benchmarks/bench_scaling.py` (issue 21). Machine: {cpu_model()}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}. Date: {datetime.date.today().isoformat()}.",
        f"Command: `python benchmarks/bench_scaling.py {' '.join(args.argv)}`. Load average at the start of each",
        "run in its own column: above ~0.5 the machine was shared and the seconds are upper bounds.",
        "",
        "| run | --jobs | wall (s) | CPU (s) | speed-up vs jobs 1 | same Evidence | peak process (MB) | peak tree (MB) "
        "| load |",
        "|---|---:|---:|---:|---:|---|---:|---:|---:|",
    ]
    for r in rows:
        same = {True: "yes", False: "**no**", None: "-"}[r.get("same_evidence")]
        lines.append(
            f"| {r['what']} | {r['jobs']} | {r['seconds']} | {r['cpu_seconds']} | {r.get('speedup', '-')} | {same} | "
            f"{r['peak_process_mb']} | {r['peak_tree_mb']} | {r['load_at_start']} |"
        )
    return "\n".join(lines) + "\n"


def write_section(text: str) -> None:
    doc = RESULTS.read_text(encoding="utf-8")
    if SECTION in doc:
        start = doc.index(SECTION)
        end = doc.find("\n## ", start + len(SECTION))
        doc = doc[:start] + text + (doc[end:] if end != -1 else "")
    else:
        doc = doc.rstrip("\n") + "\n\n" + text
    RESULTS.write_text(doc, encoding="utf-8")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[2000, 10000, 50000])
    parser.add_argument("--jobs", type=int, nargs="+", default=[1, 2], help="first value: the reference")
    parser.add_argument("--pipeline", default="c5_palsy")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--demo-jobs", type=int, nargs="+", default=[2])
    parser.add_argument("--no-demo", action="store_true")
    parser.add_argument("--no-train", action="store_true", help="the demo only")
    parser.add_argument("--work", type=Path, default=Path("/tmp/spineoutcome-bench-scaling"))
    parser.add_argument("--write", action="store_true", help="replace the section in benchmarks/RESULTS.md")
    args = parser.parse_args(argv)
    args.argv = sys.argv[1:] if argv is None else argv
    args.work.mkdir(parents=True, exist_ok=True)
    rows = [] if args.no_train else train_runs(args, args.work)
    if not args.no_demo:
        rows += demo_runs(args, args.work)
    text = table(rows, args)
    print(text)
    if args.write:
        write_section(text)


if __name__ == "__main__":
    main()
