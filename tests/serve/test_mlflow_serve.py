"""Compatibility: ``mlflow models serve`` of a registered bundle answers ``/invocations`` (MLflow's own
scoring server) with the probabilities ``spineoutcome serve`` gives for the same patients."""

from __future__ import annotations

import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient

from spineoutcome.serve import create_app, load_models

from .conftest import URIS, Store, free_port

pytestmark = pytest.mark.slow


def test_mlflow_models_serve_gives_the_same_probabilities(store: Store, tmp_path: Path) -> None:
    served = load_models(URIS[:1], tracking_uri=store.uri)
    contract = served[0].contract
    rows = store.patients.head(40)
    ours = TestClient(create_app(served)).post("/api/v1/predict", json={"patients": rows.to_dict("records")}).json()
    conformed, problems = contract.conform(rows[contract.names])
    records = [
        [None if isinstance(v, float) and math.isnan(v) else v for v in row]
        for row in conformed.astype(object).itertuples(index=False)
    ]

    port = free_port()
    log = (tmp_path / "mlflow-serve.log").open("w+", encoding="utf-8")
    env = {**os.environ, "MLFLOW_TRACKING_URI": store.uri}
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "mlflow",
            "models",
            "serve",
            "-m",
            URIS[0],
            "--env-manager",
            "local",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        env=env,
        cwd=tmp_path,
        start_new_session=True,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 240
        while True:
            try:
                if httpx.get(f"{base}/ping", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert server.poll() is None and time.monotonic() < deadline, (tmp_path / "mlflow-serve.log").read_text()[
                -3000:
            ]
            time.sleep(0.5)
        answer = httpx.post(
            f"{base}/invocations", timeout=120, json={"dataframe_split": {"columns": contract.names, "data": records}}
        )
        assert answer.status_code == 200, answer.text[:2000]
        theirs = answer.json()["predictions"]
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait(10)
    assert len(theirs) == len(rows) and int((problems == "").sum()) >= 30
    for ours_entry, their, problem in zip(ours["predictions"], theirs, problems, strict=True):
        assert (their["problem"] == "") == (problem == "")
        if problem == "":
            assert ours_entry["problems"] == []
            assert abs(ours_entry["probability"] - their["probability"]) <= 1e-9
        else:
            assert ours_entry["probability"] is None
