"""Benchmark: ``spineoutcome serve`` on loopback: start-up, one-patient latency, batch throughput.

The server is the real command (``spineoutcome serve --model ... --port P`` in a subprocess, token
set, so every API call also checks the bearer token). Measured from the client side over HTTP/1.1
keep-alive on 127.0.0.1 with httpx:

- start-up: from launching the command to the first ``GET /health`` answered (imports, loading
  the models from MLflow, checking their SHA-256, building the app, binding);
- one-patient latency: ``POST /api/v1/predict`` with one patient, sequential calls, each a
  different patient of the cohort; median, p95 and p99 of the wall time per call;
- batch throughput: ``POST /api/v1/predict`` with 1,000 patients per request, sequential
  requests; patients per second = patients sent / total wall time (request bodies encoded before
  the clock starts, answers decoded and checked after it stops: the server's rate, not the client's).

The server's own CPU time (user + system, from /proc) per call and per patient is reported
too: on a shared machine it shows the server's cost apart from waiting for a core.

Each with the three drivers (``explain=true``, the default) and without (``explain=false``).
Patients: a synthetic cohort's clinical and imaging exports side by side, as export text, each
patient sent with the fields the served models read (as an EHR integration reading
``GET /api/v1/models`` would).
``--build DIR`` first trains the benchmark's models (logistic regression with splines for C5 palsy
and for any complication, each with the default 30 bootstrap refits, on 1,500 synthetic patients)
into a SQLite store under DIR. Usage:

    python benchmarks/bench_serve.py --build /tmp/bench_serve
    python benchmarks/bench_serve.py --model models:/c5_palsy/1 --tracking-uri sqlite:////tmp/bench_serve/mlruns.db

Prints a Markdown table to paste into benchmarks/RESULTS.md.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import numpy as np
import pandas as pd
import yaml

PIPELINES = {
    "c5_palsy": {
        "outcome": "c5_palsy",
        "thresholds": [0.05, 0.10, 0.20],
        "include": [
            "age",
            "sex",
            "diabetes",
            "diagnosis",
            "approach",
            "planned_levels",
            "deltoid_mmt_pre_left",
            "deltoid_mmt_pre_right",
            "c1_c3_involvement",
            "c45_foraminal_stenosis",
            "occupying_ratio",
        ],
    },
    "complication_any": {
        "outcome": "complication_any",
        "thresholds": [0.10, 0.20, 0.30],
        "include": [
            "age",
            "sex",
            "bmi",
            "smoking",
            "diabetes",
            "hypertension",
            "asa_class",
            "diagnosis",
            "approach",
            "planned_levels",
            "k_line",
            "occupying_ratio",
            "t2_high_signal",
        ],
    },
}


def build(root: Path) -> str:
    """Train and log the benchmark's two models into ``root``; returns the tracking URI."""
    from spineoutcome.api import load_cohort, run_pipeline
    from spineoutcome.bundle import Gates
    from spineoutcome.data.synth import generate_cohort
    from spineoutcome.tracking import log_run

    data = root / "exports"
    generate_cohort(data, n=1500, seed=5)
    cohort = load_cohort(data)
    uri = f"sqlite:///{root / 'mlruns.db'}"
    for name, spec in PIPELINES.items():
        pipeline = {
            "name": name,
            "description": f"Benchmark model: {name}.",
            "outcome": spec["outcome"],
            "predictors": {"include": spec["include"]},
            "spline_knots": 3,
            "families": ["logistic"],
            "tuning": {"n_trials": 3, "inner_folds": 3, "metric": "neg_log_loss"},
            "validation": {"folds": 3, "repeats": 1, "bootstrap": None, "internal_external": False},
            "thresholds": spec["thresholds"],
            "subgroups": {"variables": ["sex", "age_group", "approach"], "min_events": 5},
            "seed": 2026,
        }
        path = root / f"{name}.yaml"
        path.write_text(yaml.safe_dump(pipeline, sort_keys=False), encoding="utf-8")
        with contextlib.chdir(root):
            log_run(
                run_pipeline(path, cohort), tracking_uri=uri, gates=Gates(calibration_slope=(0.0, 10.0), max_ici=1.0)
            )
    return uri


def patients(root: Path) -> list[dict[str, str]]:
    data = root / "exports"
    if not (data / "imaging.csv").exists():
        from spineoutcome.data.synth import generate_cohort

        generate_cohort(data, n=1500, seed=5, tables=["clinical", "imaging"])
    clinical = pd.read_csv(data / "clinical.csv", dtype=str, keep_default_na=False)
    imaging = pd.read_csv(data / "imaging.csv", dtype=str, keep_default_na=False)
    return clinical.merge(imaging, on="patient_id", how="left").fillna("").to_dict("records")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start(models: list[str], tracking_uri: str | None, token: str, log: Path) -> tuple[subprocess.Popen, str, float]:
    port = free_port()
    command = [
        sys.executable,
        "-c",
        "from spineoutcome.cli import app; app()",
        "serve",
        "--port",
        str(port),
        "--log-level",
        "warning",
    ]
    for model in models:
        command += ["--model", model]
    if tracking_uri:
        command += ["--tracking-uri", tracking_uri]
    started = time.perf_counter()
    server = subprocess.Popen(
        command,
        stdout=log.open("w"),
        stderr=subprocess.STDOUT,
        env={**os.environ, "SPINEOUTCOME_SERVE_TOKEN": token},
        start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"
    while True:
        try:
            if httpx.get(f"{base}/health", timeout=1).status_code == 200:
                return server, base, time.perf_counter() - started
        except httpx.TransportError:
            pass
        if server.poll() is not None:
            raise RuntimeError(f"the server stopped: {log.read_text()[-2000:]}")
        time.sleep(0.05)


def stop(server: subprocess.Popen) -> None:
    os.killpg(server.pid, signal.SIGINT)
    try:
        server.wait(30)
    except subprocess.TimeoutExpired:
        os.killpg(server.pid, signal.SIGKILL)
        server.wait(10)


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (Linux /proc), to report the server's own cost on a shared machine."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def latency(
    client: httpx.Client, base: str, rows: list[dict], calls: int, explain: bool, pid: int
) -> tuple[np.ndarray, float]:
    """Wall time of each one-patient call, and the server's CPU seconds per call."""
    url = f"{base}/api/v1/predict?explain={'true' if explain else 'false'}"
    for row in rows[:20]:
        client.post(url, json={"patients": [row]}).raise_for_status()
    times = []
    cpu = cpu_seconds(pid)
    for k in range(calls):
        began = time.perf_counter()
        answer = client.post(url, json={"patients": [rows[k % len(rows)]]})
        times.append(time.perf_counter() - began)
        answer.raise_for_status()
    return np.asarray(times), (cpu_seconds(pid) - cpu) / calls


def throughput(
    client: httpx.Client, base: str, rows: list[dict], requests: int, size: int, explain: bool, pid: int
) -> tuple[float, float]:
    """Patients per second of wall time and per second of the server's CPU time; request bodies are encoded
    before the clock starts, answers checked after it stops."""
    url = f"{base}/api/v1/predict?explain={'true' if explain else 'false'}"
    bodies = [
        json.dumps({"patients": [rows[(r * size + i) % len(rows)] for i in range(size)]}).encode()
        for r in range(requests + 1)
    ]
    headers = {"content-type": "application/json"}
    client.post(url, content=bodies[-1], headers=headers).raise_for_status()
    answers = []
    cpu = cpu_seconds(pid)
    began = time.perf_counter()
    for body in bodies[:requests]:
        answers.append(client.post(url, content=body, headers=headers))
    rate = requests * size / (time.perf_counter() - began)
    cpu_rate = requests * size / (cpu_seconds(pid) - cpu)
    for answer in answers:
        answer.raise_for_status()
        assert len(answer.json()["predictions"]) == size * len(answer.json()["models"])
    return rate, cpu_rate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", action="append", default=None, help="model URI (repeat for several)")
    parser.add_argument("--tracking-uri", default=None)
    parser.add_argument("--build", type=Path, default=None, help="train the benchmark's models into this folder")
    parser.add_argument("--data", type=Path, default=None, help="folder with exports/ (default: --build or a temp)")
    parser.add_argument("--calls", type=int, default=500, help="one-patient calls per setting")
    parser.add_argument("--requests", type=int, default=20, help="batch requests per setting")
    parser.add_argument("--batch", type=int, default=1000)
    args = parser.parse_args()
    if args.build is not None:
        args.build.mkdir(parents=True, exist_ok=True)
        uri = build(args.build)
        print(f"built: --model models:/c5_palsy/1 --model models:/complication_any/1 --tracking-uri {uri}")
        if not args.model:
            return
    root = args.data or args.build or Path(tempfile.mkdtemp(prefix="bench_serve_"))
    rows = patients(root)
    token = secrets.token_urlsafe(32)
    print(f"models {', '.join(args.model)}; load average {os.getloadavg()[0]:.1f}")
    server, base, startup = start(args.model, args.tracking_uri, token, root / "serve.log")
    try:
        headers = {"Authorization": f"Bearer {token}"}
        with httpx.Client(headers=headers, timeout=120) as client:
            # as an EHR integration sends them: the fields the served models read (GET /api/v1/models)
            names = list(
                dict.fromkeys(n for m in client.get(f"{base}/api/v1/models").json()["models"] for n in m["predictors"])
            )
            rows = [{n: row[n] for n in names} for row in rows]
            print(
                "| models | drivers | start-up (s) | one patient: median ms | p95 ms | p99 ms | server CPU ms "
                "| 1,000-patient requests: patients/s | per server CPU s |"
            )
            print("|---|---|---:|---:|---:|---:|---:|---:|---:|")
            for explain in (True, False):
                times, cpu = latency(client, base, rows, args.calls, explain, server.pid)
                times = 1000 * times
                rate, cpu_rate = throughput(client, base, rows, args.requests, args.batch, explain, server.pid)
                print(
                    f"| {len(args.model)} | {'top 3' if explain else 'off'} | {startup:.1f} "
                    f"| {np.median(times):.1f} | {np.percentile(times, 95):.1f} | {np.percentile(times, 99):.1f} "
                    f"| {1000 * cpu:.1f} | {rate:,.0f} | {cpu_rate:,.0f} |",
                    flush=True,
                )
    finally:
        stop(server)


if __name__ == "__main__":
    main()
