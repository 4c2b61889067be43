"""Monitoring: the drift summary scoring writes, PSI by period, calibration by period and the CUSUM."""

from __future__ import annotations

import json
import math
import shutil
import stat
import subprocess
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from spineoutcome.api import load_cohort
from spineoutcome.cli import app
from spineoutcome.lifecycle.loading import load_model
from spineoutcome.lifecycle.monitor import cusum, monitor_model, performance_by_period
from spineoutcome.lifecycle.report import render_monitoring_report
from spineoutcome.outcomes import derive_outcome
from spineoutcome.scoring.export import score_export

from .conftest import World


@pytest.fixture(scope="module")
def scored(world: World, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The site's patients scored in two periods; in the second, everyone is 10 years older."""
    model = load_model(world.model, tracking_uri=world.uri)
    wide = load_cohort(world.site).wide
    export = wide[model.bundle.contract.names].reset_index().astype(object)
    export = export.where(export.notna(), "")
    half = len(export) // 2
    later = export.iloc[half:].copy()
    later["age"] = (pd.to_numeric(later["age"]) + 10).clip(upper=99)
    folder = tmp_path_factory.mktemp("scores")
    files = {}
    for period, rows in (("2027-01", export.iloc[:half]), ("2027-02", later)):
        source = folder / f"{period}.csv"
        rows.to_csv(source, index=False)
        files[period] = folder / f"scores-{period}.csv"
        score_export([model], source, files[period], explain=False, band=False, period=period)
    return files


def test_drift_summary_has_counts_and_no_identifier(world: World, scored: dict[str, Path]) -> None:
    path = scored["2027-01"].with_name("scores-2027-01.drift.json")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    text = path.read_text()
    doc = json.loads(text)
    assert doc["period"] == "2027-01"
    entry = doc["models"]["c5_palsy"]
    for counts in entry["bins"].values():
        assert sum(counts) == entry["n_scored"]
    keys = pd.read_csv(scored["2027-01"], dtype=str)["patient_id"]
    assert not any(key in text for key in keys)


def test_psi_by_period_flags_the_shifted_predictor(world: World, scored: dict[str, Path]) -> None:
    model = load_model(world.model, tracking_uri=world.uri)
    record = monitor_model(model, list(scored.values()))
    first, second = record.input_drift
    assert second["psi"]["age"] > 0.25 > first["psi"]["age"]
    assert [s["predictor"] for s in second["shifted"]][0] == "age"
    reference = model.bundle.manifest["development"]["drift_reference"]["predictors"]["age"]["shares"]
    counts = json.loads(scored["2027-02"].with_name("scores-2027-02.drift.json").read_text())["models"]["c5_palsy"]
    e = np.maximum(np.asarray(reference) / np.sum(reference), 1e-4)
    a = np.maximum(np.asarray(counts["bins"]["age"]) / counts["n_scored"], 1e-4)
    hand = float(np.sum((a - e) * np.log(a / e)))
    assert second["psi"]["age"] == pytest.approx(hand, rel=1e-9)


def test_performance_by_period_with_outcomes(world: World, scored: dict[str, Path]) -> None:
    model = load_model(world.model, tracking_uri=world.uri)
    cohort = load_cohort(world.site)
    record = monitor_model(model, list(scored.values()), cohort=cohort)
    labels = derive_outcome("c5_palsy", cohort.tables, cohort.dictionary).labels.astype(int)
    scores = pd.read_csv(scored["2027-01"], dtype={"patient_id": str})
    y = labels.loc[scores["patient_id"]].to_numpy()
    oe = y.sum() / scores["c5_palsy_probability"].sum()
    first = record.performance[0]
    assert first["period"] == "2027-01"
    assert first["oe_ratio"]["value"] == pytest.approx(oe, rel=1e-12)
    assert record.cusum is not None and set(record.cusum["charts"]) == {"odds_ratio_2", "odds_ratio_0.5"}


def test_cusum_against_hand_computation() -> None:
    joined = pd.DataFrame({"period": ["a", "a", "b", "b"], "probability": [0.1, 0.2, 0.3, 0.4], "y": [1, 0, 1, 1]})
    result = cusum(joined, limit=1.0)
    s = 0.0
    path = []
    for p, y in ((0.1, 1), (0.2, 0), (0.3, 1), (0.4, 1)):
        s = max(0.0, s + y * math.log(2) - math.log(1 + p))
        path.append(s)
    chart = result["charts"]["odds_ratio_2"]
    assert [r["end"] for r in chart["by_period"]] == pytest.approx([path[1], path[3]], abs=1e-12)
    assert chart["by_period"][1]["max"] == pytest.approx(max(path[2:]), abs=1e-12)
    assert chart["first_signal_period"] == ("a" if max(path[:2]) > 1 else "b" if max(path) > 1 else None)


def test_period_with_few_events_is_not_estimated() -> None:
    joined = pd.DataFrame({"period": ["x"] * 50, "probability": [0.05] * 50, "y": [1] * 3 + [0] * 47})
    row = performance_by_period(joined)[0]
    assert row["status"] == "too_few_events" and row["events"] is None and "oe_ratio" not in row


def test_monitor_command_refuses_scores_without_drift_summary(
    world: World, tmp_path: Path, scored: dict[str, Path]
) -> None:
    lone = tmp_path / "old-scores.csv"
    lone.write_text(scored["2027-01"].read_text())
    result = CliRunner().invoke(
        app,
        [
            "monitor",
            "--model",
            world.model,
            "--scores",
            str(lone),
            "--out",
            str(tmp_path / "m"),
            "--tracking-uri",
            world.uri,
            "--no-report",
            "--no-mlflow",
        ],
    )
    assert result.exit_code == 3
    assert "drift summary" in result.output


def test_monitoring_report_renders(world: World, scored: dict[str, Path], tmp_path: Path) -> None:
    if shutil.which("pdftotext") is None:
        pytest.skip("poppler-utils (pdftotext) not installed")
    model = load_model(world.model, tracking_uri=world.uri)
    record = monitor_model(model, list(scored.values()), cohort=load_cohort(world.site))
    paths = render_monitoring_report(record.to_dict(), tmp_path)
    text = subprocess.run(["pdftotext", str(paths[0]), "-"], check=True, capture_output=True, text=True).stdout
    assert "Input drift by period" in text and "CUSUM" in text and "2027-02" in text


def test_monitor_command_logs_metrics_by_period(world: World, scored: dict[str, Path], tmp_path: Path) -> None:
    out = tmp_path / "monitoring"
    args = [
        "monitor",
        "--model",
        world.model,
        "--out",
        str(out),
        "--outcomes",
        str(world.site),
        "--tracking-uri",
        world.uri,
        "--no-report",
    ]
    args += ["--scores", str(next(iter(scored.values())).parent)]  # a folder of scores files
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    record = json.loads((out / "monitoring_evidence.json").read_text())
    client = mlflow.MlflowClient(tracking_uri=world.uri)
    run_id = next(k for k in client.get_model_version("c5_palsy", "1").tags if k.startswith("monitoring."))
    history = client.get_metric_history(run_id.split(".", 1)[1], "psi_age")
    assert [m.step for m in history] == [0, 1]
    assert history[1].value == pytest.approx(record["input_drift"][1]["psi"]["age"])
