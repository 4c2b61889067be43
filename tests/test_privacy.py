"""Disclosure rules, and a scan of everything a small run sends out of the hospital.

The scan: a small two-centre... six-centre synthetic run (so that centres and subgroups have
fewer than 5 events) is logged to a fresh MLflow store, its report rendered and its model card
written; then every file of the store (database and artifacts), the model card and the PDF's
text are searched for every patient key, every count of 1-4 patients, exact extremes and ages
above 90. The raw Evidence of the same run is checked to hold such cells, so the scan can fail.
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import yaml

from spineoutcome.privacy import (
    COUNT_KEYS,
    EXTREME_KEYS,
    MIN_CELL_ENV,
    PrivacyError,
    disclose,
    is_small,
    min_cell,
)


def test_small_cells_are_suppressed_with_everything_computed_from_them() -> None:
    rows = [
        {"grouping": "centre", "group": "A", "n": 40, "n_events": 3, "auc": 0.7, "status": "ok"},
        {"grouping": "centre", "group": "B", "n": 40, "n_events": 38, "auc": 0.6, "status": "ok"},
        {"grouping": "centre", "group": "C", "n": 40, "n_events": 10, "auc": 0.8, "status": "ok"},
        {"grouping": "centre", "group": "D", "n": 40, "n_events": 0, "auc": None, "status": "no events"},
    ]
    out = disclose({"subgroups": rows})["subgroups"]
    assert out[0] == {
        "grouping": "centre",
        "group": "A",
        "n": None,
        "n_events": None,
        "auc": None,
        "status": "ok",
        "suppressed": "fewer than 5 patients",
    }
    assert out[1]["n"] is None and out[1]["suppressed"]  # 2 non-events: the complement is a small cell
    assert out[2] == rows[2] and out[3] == rows[3]  # 10 events kept; a zero count identifies nobody
    assert rows[0]["n"] == 40  # the input is not changed


def test_counts_by_label_extremes_and_ages() -> None:
    doc = {
        "flow": [{"label": "eligible", "n": 200, "excluded": {"under 18": 2, "no consent": 12}}],
        "predictors": [
            {"variable": "age", "median": 64.0, "q3": 91.5, "min": 18.0, "max": 97.0, "n": 200},
            {"variable": "bmi", "median": 27.0, "q3": 31.0, "max": 52.0, "n": 200},
        ],
        "baseline": {"cells": [{"count": 4, "percent": 2.0}, {"count": 120, "percent": 60.0}]},
    }
    out = disclose(doc, ages=["age"])
    assert out["flow"][0]["excluded"] == {"under 18": None, "no consent": 12}
    assert out["predictors"][0] == {"variable": "age", "median": 64.0, "q3": 90.0, "n": 200}
    assert out["predictors"][1] == {"variable": "bmi", "median": 27.0, "q3": 31.0, "n": 200}
    assert out["baseline"]["cells"][0] == {"count": None, "percent": None, "suppressed": "fewer than 5 patients"}
    assert out["baseline"]["cells"][1] == {"count": 120, "percent": 60.0}
    assert out["privacy"]["min_cell"] == 5 and "suppressed" in out["privacy"]["rule"]


def test_a_few_missing_values_hide_only_their_count() -> None:
    cell = {"median": 27.0, "q1": 24.0, "q3": 30.0, "missing": 2}
    assert disclose({"c": cell})["c"] == {
        "median": 27.0,
        "q1": 24.0,
        "q3": 30.0,
        "missing": None,
        "suppressed": "fewer than 5 patients",
    }
    row = {"variable": "bmi", "n_missing": 3, "fraction": 0.012}
    assert disclose({"m": [row]})["m"][0] == {
        "variable": "bmi",
        "n_missing": None,
        "fraction": None,
        "suppressed": "fewer than 5 patients",
    }


def test_the_threshold_is_configurable(monkeypatch: pytest.MonkeyPatch) -> None:
    row = {"n": 100, "n_events": 7}
    assert disclose({"r": row})["r"] == row
    assert disclose({"r": row}, threshold=10)["r"]["n"] is None
    monkeypatch.setenv(MIN_CELL_ENV, "8")
    assert min_cell() == 8 and disclose({"r": row})["r"]["n"] is None
    monkeypatch.setenv(MIN_CELL_ENV, "five")
    with pytest.raises(PrivacyError, match=MIN_CELL_ENV):
        min_cell()


def test_dataclasses_keep_their_type() -> None:
    from spineoutcome.evaluation.results import Estimate

    record = {"estimate": Estimate(0.7, 0.6, 0.8), "n": 3}
    out = disclose(record)
    assert isinstance(out["estimate"], Estimate) and out["n"] is None


# ---------------------------------------------------------------------------------------------
# The scan of a small run

PIPELINE = {
    "name": "c5_palsy_privacy",
    "description": "Risk of C5 palsy within 21 days after surgery (disclosure scan).",
    "outcome": "c5_palsy",
    "predictors": {
        "include": [
            "age",
            "sex",
            "bmi",
            "diabetes",
            "approach",
            "planned_levels",
            "occupying_ratio",
            "c45_foraminal_stenosis",
        ]
    },
    "families": ["logistic"],
    "tuning": {"n_trials": 0, "inner_folds": 2},
    "validation": {"folds": 3, "repeats": 1, "bootstrap": None, "internal_external": False},
    "thresholds": [0.05, 0.10],
    "subgroups": {"variables": ["sex", "age_group", "centre", "approach"], "min_events": 5},
    "seed": 7,
}


@contextlib.contextmanager
def _tracking(uri: str) -> Iterator[None]:
    import mlflow

    before = mlflow.get_tracking_uri()
    mlflow.set_tracking_uri(uri)
    try:
        yield
    finally:
        mlflow.set_tracking_uri(before)


@pytest.fixture(scope="module")
def published(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    from spineoutcome.api import load_cohort, run_pipeline
    from spineoutcome.data.synth import generate_cohort
    from spineoutcome.report.card import write_model_card
    from spineoutcome.report.render import render_report
    from spineoutcome.tracking import log_run

    root = tmp_path_factory.mktemp("privacy")
    data = root / "exports"
    generate_cohort(data, n=260, seed=5)
    pipeline = root / "pipeline.yaml"
    pipeline.write_text(yaml.safe_dump(PIPELINE, sort_keys=False), encoding="utf-8")
    result = run_pipeline(pipeline, load_cohort(data))
    store = root / "store"
    store.mkdir()
    uri = f"sqlite:///{store / 'mlruns.db'}"
    with contextlib.chdir(store), _tracking(uri):
        log_run(result, tracking_uri=uri, ensemble_size=3)
    pdf = render_report(result.evidence, root / "report.pdf")
    card = write_model_card(result.evidence, root / "model_card.json")
    text = subprocess.run(["pdftotext", "-layout", str(pdf), "-"], capture_output=True, text=True, check=True).stdout
    keys = set()
    for table in data.glob("*.csv"):
        keys |= set(pd.read_csv(table, dtype=str, usecols=["patient_id"])["patient_id"])
    ages = pd.read_csv(data / "clinical.csv", usecols=["age"])["age"].dropna()
    return {"result": result, "store": store, "card": card, "pdf_text": text, "keys": keys, "ages": ages}


def _small_counts(node: Any, path: str = "") -> list[str]:
    """Paths of counts of 1-4 patients in JSON data."""
    found = []
    if isinstance(node, dict):
        for key, value in node.items():
            if key in COUNT_KEYS and is_small(value, 5):
                found.append(f"{path}.{key}={value}")
            if key == "excluded" and isinstance(value, dict):
                found += [f"{path}.excluded.{k}={v}" for k, v in value.items() if is_small(v, 5)]
            found += _small_counts(value, f"{path}.{key}")
    elif isinstance(node, list):
        for i, item in enumerate(node):
            found += _small_counts(item, f"{path}[{i}]")
    return found


def _extremes(node: Any) -> list[str]:
    if isinstance(node, dict):
        return [k for k in node if k in EXTREME_KEYS] + [x for v in node.values() for x in _extremes(v)]
    if isinstance(node, list):
        return [x for v in node for x in _extremes(v)]
    return []


def test_the_raw_evidence_has_small_cells_so_the_scan_can_fail(published: dict[str, Any]) -> None:
    assert _small_counts(published["result"].evidence.to_dict())


def test_no_patient_key_leaves_the_hospital(published: dict[str, Any]) -> None:
    import spineoutcome

    keys = published["keys"]
    assert len(keys) == 260
    package = Path(spineoutcome.__file__).parent
    for path in sorted(p for p in published["store"].rglob("*") if p.is_file()):
        blob = path.read_bytes()
        parts = path.parts
        if "code" in parts and "spineoutcome" in parts[parts.index("code") :]:
            # the package's own source travels with the model (its docstrings show the synthetic key format)
            relative = Path(*parts[parts.index("code") + 2 :])
            source = package / relative
            if source.is_file() and source.read_bytes() == blob or relative.parts[:1] == ("_bundled",):
                continue
        leaked = [k for k in keys if k.encode() in blob]
        assert not leaked, f"{path.relative_to(published['store'])}: {leaked[:3]}"
    card = published["card"].read_text(encoding="utf-8")
    assert not [k for k in keys if k in card]
    assert not [k for k in keys if k in published["pdf_text"]]


def test_no_small_cell_or_exact_extreme_leaves_the_hospital(published: dict[str, Any]) -> None:
    store = published["store"]
    documents = {
        p.relative_to(store).as_posix(): json.loads(p.read_text(encoding="utf-8")) for p in store.rglob("*.json")
    }
    assert any(name.endswith("evidence.json") for name in documents)
    assert any(name.endswith("clinical.json") for name in documents)
    assert any(name.endswith("training_summary.json") for name in documents)
    documents["model_card.json"] = json.loads(published["card"].read_text(encoding="utf-8"))
    for name, doc in documents.items():
        assert not _small_counts(doc), f"{name}: {_small_counts(doc)[:5]}"
        assert not _extremes(doc), f"{name}: exact extremes {_extremes(doc)[:5]}"
    summary = next(doc for name, doc in documents.items() if name.endswith("training_summary.json"))
    age = summary["predictors"]["age"]
    assert age["high"] <= 90 and max(age["quantiles"].values()) <= 90
    assert age["high"] < published["ages"].max() and age["low"] > published["ages"].min()
    with contextlib.closing(sqlite3.connect(store / "mlruns.db")) as db:
        metrics = db.execute("SELECT key, value FROM metrics").fetchall()
        params = db.execute("SELECT key, value FROM params").fetchall()
    counts = [(k, v) for k, v in metrics if k.endswith(("_n", "_n_events", "_events", "_count")) and 0 < v < 5]
    assert not counts, counts[:5]
    assert not [k for k, _ in params if k.endswith((".min", ".max"))]


def test_the_report_and_the_card_state_the_rule(published: dict[str, Any]) -> None:
    text = " ".join(published["pdf_text"].split())
    assert "Disclosure control: counts of 1 to 4 patients" in text
    card = json.loads(published["card"].read_text(encoding="utf-8"))
    assert "Disclosure control" in card["ethical_considerations"]["privacy"]
