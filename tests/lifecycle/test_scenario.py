"""The issue's scenario with three commands: develop on one synthetic world, then at a new site
``evaluate``, ``update`` on half of its patients, ``evaluate`` on the other half (O:E within 0.9-1.1).

mJOA MCID at 12 months (about 55 % events), so that 1,000 held-out patients pin O:E to about
+/- 0.03 (SE of ln O:E = sqrt((1 - prevalence) / events)); logistic regression, test-sized budgets.
"""

from __future__ import annotations

import contextlib
import json
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from spineoutcome.api import load_cohort, run_pipeline
from spineoutcome.bundle import Gates
from spineoutcome.cli import app
from spineoutcome.data.synth import generate_cohort
from spineoutcome.tracking import log_run

PIPELINES = Path(__file__).resolve().parents[2] / "pipelines"


@pytest.mark.slow
def test_evaluate_update_evaluate(tmp_path: Path) -> None:
    spec = yaml.safe_load((PIPELINES / "mcid_mjoa_12m.yaml").read_text()) | {
        "families": ["logistic"],
        "tuning": {"n_trials": 1, "inner_folds": 2},
        "validation": {"folds": 3, "bootstrap": None, "internal_external": False},
    }
    pipeline = tmp_path / "mcid.yaml"
    pipeline.write_text(yaml.safe_dump(spec))
    generate_cohort(tmp_path / "development", n=800, seed=7)
    generate_cohort(tmp_path / "site", n=2000, seed=8)
    result = run_pipeline(pipeline, load_cohort(tmp_path / "development"))
    store = f"sqlite:///{tmp_path / 'mlruns.db'}"
    with contextlib.chdir(tmp_path):
        log_run(result, tracking_uri=store, gates=Gates(calibration_slope=(0.0, 10.0), max_ici=1.0), ensemble_size=3)
    common = ["--data", str(tmp_path / "site"), "--tracking-uri", store, "--n-boot", "20", "--no-report"]
    runner = CliRunner()
    steps = [
        ["evaluate", "--model", "models:/mcid_mjoa_12m/1", "--out", str(tmp_path / "before"), *common],
        [
            "update",
            "--model",
            "models:/mcid_mjoa_12m/1",
            "--out",
            str(tmp_path / "update"),
            "--part",
            "first",
            "--method",
            "intercept",
            "--alias",
            "site",
            *common,
        ],
        [
            "evaluate",
            "--model",
            "models:/mcid_mjoa_12m@site",
            "--out",
            str(tmp_path / "after"),
            "--part",
            "second",
            *common,
        ],
    ]
    for step in steps:
        outcome = runner.invoke(app, step)
        assert outcome.exit_code == 0, outcome.output
    after = json.loads((tmp_path / "after" / "validation_evidence.json").read_text())
    update = json.loads((tmp_path / "update" / "update_evidence.json").read_text())
    assert after["model"]["lineage"]["site_data_digest"] == update["site"]["data_digest"]
    assert after["site"]["data_digest"] != update["site"]["data_digest"]
    assert (
        after["site"]["n"] + update["site"]["n"]
        == json.loads((tmp_path / "before" / "validation_evidence.json").read_text())["site"]["n"]
    )
    assert 0.9 <= after["evaluation"]["calibration"]["oe_ratio"]["value"] <= 1.1
    assert "updated from version 1 by intercept" in after["notes"][0]
