"""``mlflow run . -e train``: the project's run becomes the experiment's parent run (no second top-level run)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from mlflow import MlflowClient

from .conftest import Experiment

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_mlflow_run_train_logs_into_the_project_run(experiment: Experiment, tmp_path: Path) -> None:
    uri = f"sqlite:///{tmp_path / 'mlruns.db'}"
    command = [
        sys.executable,
        "-m",
        "mlflow",
        "run",
        str(REPO),
        "-e",
        "train",
        "--env-manager",
        "local",
        "--experiment-name",
        "c5_palsy",
        "-P",
        f"pipeline={experiment.pipeline}",
        "-P",
        f"data={experiment.data}",
        "-P",
        f"out={tmp_path / 'runs'}",
    ]
    clean = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_")}  # other tests may leave some set
    done = subprocess.run(
        command,
        check=False,
        cwd=tmp_path,
        env={**clean, "MLFLOW_TRACKING_URI": uri},
        capture_output=True,
        text=True,
        timeout=1800,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    client = MlflowClient(uri)
    runs = client.search_runs([e.experiment_id for e in client.search_experiments()])
    top = [r for r in runs if "mlflow.parentRunId" not in r.data.tags]
    assert len(top) == 1
    project_run = top[0]
    assert project_run.data.tags["mlflow.project.entryPoint"] == "train"
    assert project_run.data.params["pipeline"] == str(experiment.pipeline)
    assert project_run.data.params["name"] == "c5_palsy"
    families = {r.info.run_name for r in runs if r.data.tags.get("mlflow.parentRunId") == project_run.info.run_id}
    assert families == {"logistic", "xgboost"}
    assert client.get_model_version("c5_palsy", "1").run_id == project_run.info.run_id
    assert "evidence.json" in {a.path for a in client.list_artifacts(project_run.info.run_id)}
