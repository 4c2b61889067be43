"""A shared MLflow tracking server (PostgreSQL backend store, served artifact root, built-in authentication)
started by ``scripts/mlflow_server.sh``, and the package used against it unchanged: log, register, load,
predict. No secret is on a command line: the backend URI and the admin password come from the environment."""

from __future__ import annotations

import os
import subprocess
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import mlflow
import numpy as np
import pytest
import sqlalchemy
from mlflow import MlflowClient

from spineoutcome.bundle import Gates
from spineoutcome.experiment import ExperimentResult
from spineoutcome.modeling.recalibration import LOGIT_CLIP
from spineoutcome.scoring.model import quiet_downloads
from spineoutcome.tracking import CHAMPION_ALIAS, log_run
from tests.tracking.conftest import raw_export_rows

from .conftest import REPO, free_port

SCRIPT = REPO / "scripts" / "mlflow_server.sh"
LENIENT = Gates(calibration_slope=(0.0, 10.0), max_ici=1.0, min_gain_over_rules=None)
TASK = "c5_palsy"
ADMIN_PASSWORD = "an admin/password with spaces?"


@dataclass(frozen=True)
class Server:
    uri: str
    backend: str
    artifacts: Path


@pytest.fixture(scope="module")
def server(new_database, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    backend = new_database("mlflow")
    artifacts = tmp_path_factory.mktemp("mlartifacts")
    state = tmp_path_factory.mktemp("mlflow_state")
    state.chmod(0o700)
    port = str(free_port())
    common = ["--port", port, "--state-dir", str(state)]
    env = {**os.environ, "MLFLOW_BACKEND_STORE_URI": backend, "MLFLOW_AUTH_ADMIN_PASSWORD": ADMIN_PASSWORD}
    refused = subprocess.run(
        ["bash", str(SCRIPT), "start", "--backend-store-uri", backend, *common],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert refused.returncode != 0 and "process list" in refused.stderr  # a password in argv is refused
    started = subprocess.run(
        ["bash", str(SCRIPT), "start", "--artifacts-destination", str(artifacts), *common],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        env=env,
    )
    log = state / "server.log"
    assert started.returncode == 0, f"{started.stderr}\n{log.read_text() if log.exists() else ''}"
    assert started.stdout.strip() == f"export MLFLOW_TRACKING_URI=http://127.0.0.1:{port}"
    password = sqlalchemy.engine.make_url(backend).password
    assert "***@" in started.stderr and f":{password}@" not in started.stderr  # the password is masked
    assert {p.name: p.stat().st_mode & 0o777 for p in state.iterdir() if p.name != "server.log"} == {
        "server.pid": 0o600,
        "secret_key": 0o600,
        "basic_auth.ini": 0o600,
        "basic_auth.db": 0o600,
    }
    before = {k: os.environ.get(k) for k in ("MLFLOW_TRACKING_USERNAME", "MLFLOW_TRACKING_PASSWORD")}
    os.environ.update(MLFLOW_TRACKING_USERNAME="admin", MLFLOW_TRACKING_PASSWORD=ADMIN_PASSWORD)
    try:
        yield Server(f"http://127.0.0.1:{port}", backend, artifacts)
    finally:
        for key, value in before.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        stopped = subprocess.run(
            ["bash", str(SCRIPT), "stop", *common], capture_output=True, text=True, timeout=60, check=False
        )
        assert stopped.returncode == 0, stopped.stderr


def test_the_server_refuses_requests_without_credentials(server: Server) -> None:
    url = f"{server.uri}/api/2.0/mlflow/experiments/search?max_results=1"
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(url, timeout=10)
    assert refused.value.code == 401


def test_log_register_load_and_predict_through_the_server(
    server: Server, experiment: ExperimentResult, cohort_dir: Path, restore_tracking_uri
) -> None:
    with quiet_downloads():
        run_id = log_run(experiment, tracking_uri=server.uri, gates=LENIENT, ensemble_size=3)
        assert mlflow.get_tracking_uri() == server.uri
        client = MlflowClient(server.uri)
        run = client.get_run(run_id)
        assert run.data.tags["task"] == TASK and run.data.metrics["data_n"] == experiment.evidence.data["n"]
        version = client.get_model_version_by_alias(TASK, CHAMPION_ALIAS)
        assert version.run_id == run_id and version.tags["gates_passed"] == "true"

        model = mlflow.pyfunc.load_model(f"models:/{TASK}@{CHAMPION_ALIAS}")
    raw = raw_export_rows(experiment, cohort_dir)
    frame, problems = model.unwrap_python_model().bundle.contract.conform(raw)
    assert (problems == "").all()
    predicted = model.predict(frame)
    # The bundle works on the log-odds scale, clipped at LOGIT_CLIP (risks below 1e-8 read as 1e-8).
    expected = np.clip(experiment.best_model.predict_proba(experiment.task.X)[:, 1], LOGIT_CLIP, 1 - LOGIT_CLIP)
    np.testing.assert_allclose(predicted["probability"].to_numpy(), expected, rtol=0, atol=1e-12)

    # Where things landed: runs and the registry in PostgreSQL, artifacts under the server's artifact root.
    engine = sqlalchemy.create_engine(server.backend)
    with engine.connect() as connection:
        runs = connection.execute(sqlalchemy.text("SELECT run_uuid FROM runs")).scalars().all()
        models = connection.execute(sqlalchemy.text("SELECT name FROM registered_models")).scalars().all()
    engine.dispose()
    assert run_id in runs and len(runs) > 1  # parent and nested family/study runs
    assert models == [TASK]
    assert list(server.artifacts.rglob("MLmodel")) and list(server.artifacts.rglob("evidence.json"))
    assert run.info.artifact_uri.startswith("mlflow-artifacts:/")  # clients go through the server
