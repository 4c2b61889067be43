"""The demo end to end on a small cohort, and its scheduling cost by hand."""

from __future__ import annotations

import json
from pathlib import Path

import mlflow
import pytest
import yaml

from spineoutcome.demo import SELECTION_COST, expected_fits, run_demo
from spineoutcome.dictionary import builtin_pipelines_dir
from spineoutcome.progress import ProgressEvent


def _write(directory: Path, name: str, **changes) -> Path:
    spec = yaml.safe_load((builtin_pipelines_dir() / "c5_palsy.yaml").read_text(encoding="utf-8"))
    spec.update(name=name, **changes)
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{name}.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False), encoding="utf-8")
    return path


def test_expected_fits_hand_worked(tmp_path: Path) -> None:
    # Shipped c5_palsy: 4 families (logistic untuned), 12 trials x 3 inner folds, 5 folds, IECV on,
    # 100 fixed-hyperparameter replicates. Outer fits 5 + 1 + 5 = 11; 11 x (1 + 3 x 36) = 1199; + 100 x 4.
    assert expected_fits(builtin_pipelines_dir() / "c5_palsy.yaml") == 1199 + 400
    full = _write(
        tmp_path,
        "full",
        families=["logistic", "xgboost"],
        validation={
            "folds": 3,
            "repeats": 2,
            "internal_external": False,
            "bootstrap": {"replicates": 10, "mode": "full"},
        },
    )
    # Outer 3 x 2 + 1 = 7; 7 x (1 + 36) = 259; each replicate re-tunes: 10 x (1 + 36) = 370.
    assert expected_fits(full) == 259 + 370
    selected = _write(
        tmp_path,
        "selected",
        families=["logistic"],
        predictors={"groups": ["radiomics"]},
        radiomics_selection="lasso",
        validation={"folds": 3, "internal_external": False, "bootstrap": None},
    )
    assert expected_fits(selected) == 4 * SELECTION_COST


@pytest.mark.slow
def test_demo_trains_logs_and_reports_every_pipeline(tmp_path: Path) -> None:
    small = {
        "families": ["logistic", "xgboost"],
        "tuning": {"n_trials": 2, "inner_folds": 2},
        "validation": {
            "folds": 3,
            "internal_external": False,
            "bootstrap": {"replicates": 5, "mode": "fixed_hyperparameters"},
        },
    }
    pipelines = [_write(tmp_path / "pipelines", name, **small) for name in ("c5_a", "c5_b")]
    uri = f"sqlite:///{tmp_path / 'mlruns.db'}"
    messages: list[ProgressEvent] = []
    summary = run_demo(
        tmp_path / "demo",
        n=400,
        seed=3,
        pipelines=pipelines,
        reports_dir=tmp_path / "reports",
        jobs=2,
        tracking_uri=uri,
        progress=messages.append,
    )
    assert [run.pipeline for run in summary.runs] == ["c5_a", "c5_b"]
    client = mlflow.MlflowClient(tracking_uri=uri)
    for run in summary.runs:
        assert run.report is not None and run.report.read_bytes().startswith(b"%PDF")
        assert (tmp_path / "reports" / f"{run.pipeline}.model_card.json").is_file()
        assert (run.run_dir / "evidence.json").is_file()
        logged = client.get_run(run.mlflow_run_id)
        assert logged.info.status == "FINISHED" and run.seconds > 0 and run.publish_seconds > 0
        assert logged.data.tags["best_family"] == run.best_family
        # the reports say the data are synthetic, for this cohort's size and seed
        card = json.loads((tmp_path / "reports" / f"{run.pipeline}.model_card.json").read_text())
        statement = json.dumps(card)
        assert "A synthetic cohort of 400 patients from 6 simulated centres" in statement
        assert "(seed 3)" in statement
    assert (summary.data_dir / "clinical.csv").is_file()
    assert any(str(m).startswith("trained c5_a") for m in messages)
    # the workers' own progress reached this process, fit by fit, through the queue
    fits = [m for m in messages if m.pipeline == "c5_b" and m.stage in ("cv", "final", "bootstrap")]
    assert len(fits) == 2 * (3 + 1 + 5) and fits[-1].total is not None
