"""External validation: the O:E against an independent computation, the bad-input messages, the command."""

from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import pytest
from scipy.special import expit, logit
from typer.testing import CliRunner

from spineoutcome.api import load_cohort
from spineoutcome.cli import app
from spineoutcome.lifecycle.evaluate import validate_model
from spineoutcome.lifecycle.loading import load_model
from spineoutcome.lifecycle.site import OutcomeDefinitionError, SiteDataError, site_data
from spineoutcome.outcomes import derive_outcome

from .conftest import World


@pytest.fixture(scope="module")
def validation(world: World):
    model = load_model(world.model, tracking_uri=world.uri)
    site = site_data(model, load_cohort(world.site))
    return model, site, validate_model(model, site, n_boot=50, seed=3)


def test_oe_equals_independent_computation(world: World, validation) -> None:
    model, site, record = validation
    cohort = load_cohort(world.site)
    labels = derive_outcome("c5_palsy", cohort.tables, cohort.dictionary).labels.astype(int)
    keys = site.X.index
    raw = model.bundle.pipeline.predict_proba(site.X)[:, 1]
    dev = model.bundle.manifest["development_calibration"]
    p = expit(dev["intercept"] + dev["slope"] * logit(np.clip(raw, 1e-12, 1 - 1e-12)))
    y = labels.loc[keys].to_numpy()
    oe = y.sum() / p.sum()
    recorded = record.to_dict()["evaluation"]["calibration"]["oe_ratio"]["value"]
    assert recorded == pytest.approx(oe, rel=0, abs=1e-9)
    assert record.site["n"] == len(keys) and record.site["events"] == int(y.sum())


def test_record_beside_development_and_sample_size(validation) -> None:
    model, site, record = validation
    doc = record.to_dict()
    auc = next(r for r in doc["comparison"] if r["measure"].startswith("AUC"))
    cv = model.evidence["families"][model.evidence["best_family"]]["cross_validation"]
    assert auc["development"]["value"] == cv["discrimination"]["auc"]["value"]
    assert auc["site"]["ci_low"] < auc["site"]["value"] < auc["site"]["ci_high"]
    size = doc["sample_size"]
    assert size["required_n"] == max(c["n"] for c in size["criteria"])
    assert size["enough"] == (site.n >= size["required_n"])
    assert doc["casemix"]["linear_predictor"]["development"]["sd"] > 0
    assert model.bundle.manifest["outcome_definition"] == model.evidence["task"]["outcome_definition"]
    json.dumps(doc, allow_nan=False)
    assert "patient_id" not in json.dumps(doc)


def test_too_few_events_says_so_with_riley(validation) -> None:
    model, site, _ = validation
    rows = np.concatenate([np.flatnonzero(site.y == 1)[:3], np.flatnonzero(site.y == 0)[:200]])
    record = validate_model(model, site.subset(rows), n_boot=50)
    assert record.evaluation is None
    assert "Too few events" in record.notes[0]
    assert str(record.sample_size["required_n"]) in record.notes[0]
    assert "<5 event(s)" in record.notes[0]  # small-cell rule


def _copy(world: World, tmp_path: Path) -> Path:
    data = tmp_path / "site"
    shutil.copytree(world.site, data)
    return data


def test_missing_predictors_and_outcome_export_listed(world: World, tmp_path: Path) -> None:
    data = _copy(world, tmp_path)
    imaging = pd.read_csv(data / "imaging.csv", dtype=str, keep_default_na=False)
    imaging.drop(columns=["occupying_ratio", "c45_foraminal_stenosis"]).to_csv(data / "imaging.csv", index=False)
    (data / "neuro_exam.csv").unlink()
    model = load_model(world.model, tracking_uri=world.uri)
    with pytest.raises(SiteDataError) as caught:
        site_data(model, load_cohort(data))
    message = str(caught.value)
    assert "'c45_foraminal_stenosis'" in message and "'occupying_ratio'" in message and "'neuro_exam'" in message


def test_model_without_outcome_definition_says_how_to_supply_one(world: World) -> None:
    model = load_model(world.model, tracking_uri=world.uri)
    manifest = {**model.bundle.manifest, "outcome_definition": {"name": "c5_palsy", "version": "x"}}
    evidence = {**model.evidence, "task": {**model.evidence["task"], "outcome_definition": {"name": "c5_palsy"}}}
    old = dataclasses.replace(model, bundle=dataclasses.replace(model.bundle, manifest=manifest), evidence=evidence)
    cohort = load_cohort(world.site)
    with pytest.raises(OutcomeDefinitionError, match="--outcome NAME"):
        site_data(old, cohort)
    assert site_data(old, cohort, outcome="c5_palsy").n == site_data(model, cohort).n


def test_evaluate_command_logs_a_validation_run_linked_to_the_version(world: World, tmp_path: Path) -> None:
    out = tmp_path / "validation"
    result = CliRunner().invoke(
        app,
        [
            "evaluate",
            "--model",
            world.model,
            "--data",
            str(world.site),
            "--out",
            str(out),
            "--tracking-uri",
            world.uri,
            "--no-report",
            "--n-boot",
            "50",
        ],
    )
    assert result.exit_code == 0, result.output
    record = json.loads((out / "validation_evidence.json").read_text())
    mlflow.set_tracking_uri(world.uri)
    tags = mlflow.MlflowClient().get_model_version("c5_palsy", "1").tags
    linked = [k for k in tags if k.startswith("validation.")]
    assert linked
    run = mlflow.get_run(linked[0].split(".", 1)[1])
    oe = record["evaluation"]["calibration"]["oe_ratio"]["value"]
    assert run.data.metrics["site_calibration_oe_ratio"] == pytest.approx(oe)
    assert run.data.tags["spineoutcome.model_version"] == "1"


def test_evaluate_command_refuses_missing_export_with_exit_3(world: World, tmp_path: Path) -> None:
    data = _copy(world, tmp_path)
    (data / "neuro_exam.csv").unlink()
    result = CliRunner().invoke(
        app,
        [
            "evaluate",
            "--model",
            world.model,
            "--data",
            str(data),
            "--out",
            str(tmp_path / "v"),
            "--tracking-uri",
            world.uri,
            "--no-report",
            "--no-mlflow",
        ],
    )
    assert result.exit_code == 3
    assert "neuro_exam" in result.output and "Traceback" not in result.output
