"""The scores file against the MLflow pyfunc model and other independent references."""

from __future__ import annotations

from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import pytest

from spineoutcome.scoring import (
    categorise,
    category_labels,
    load_scoring_model,
    score_export,
)
from spineoutcome.scoring.task import join_flags

from .conftest import assert_scores_equal


@pytest.fixture(scope="module")
def scored(store, versions, hospital, tmp_path_factory):
    out = tmp_path_factory.mktemp("scored") / "scores.csv"
    uris = [versions["logistic"], versions["xgboost"]]
    summary = score_export(uris, hospital.csv, out, chunk_size=128)
    scores = pd.read_csv(out, dtype={"patient_id": str}, keep_default_na=False, float_precision="round_trip")
    return summary, scores, uris


def pyfunc_reference(uri: str, export: pd.DataFrame) -> pd.DataFrame:
    """What the MLflow model itself says for the export rows, in the signature's input format."""
    model = mlflow.pyfunc.load_model(uri)
    conformed, problems = model.unwrap_python_model().bundle.contract.conform(export)
    assert (problems == "").all()
    return model.predict(conformed, params={"band": True, "flags": True})


def test_every_row_is_scored_and_the_invariant_holds(scored, hospital) -> None:
    summary, scores, _ = scored
    assert summary.rows_in == len(hospital.export) == summary.rows_scored + summary.rows_rejected
    assert summary.rows_rejected == 0 and summary.invariant_holds
    assert scores["patient_id"].tolist() == hospital.export["patient_id"].tolist()
    assert scores["line"].tolist() == list(range(2, len(hospital.export) + 2))
    assert summary.chunks == int(np.ceil(len(hospital.export) / 128))


def test_column_groups_per_model_prefixed_by_task(scored) -> None:
    summary, scores, _ = scored
    assert summary.prefixes == ["c5_palsy", "c5_palsy_2"]
    expected = [
        "probability",
        "band_low",
        "band_high",
        "category",
        "factor_1",
        "factor_2",
        "factor_3",
        "missing_predictors",
        "extrapolated",
        "mahalanobis",
        "out_of_distribution",
        "model_integrity",
    ]
    assert list(scores.columns) == ["line", "patient_id", *[f"{p}_{c}" for p in summary.prefixes for c in expected]]


@pytest.mark.parametrize("position", [0, 1])
def test_scores_are_identical_to_the_pyfunc_model(scored, hospital, position) -> None:
    summary, scores, uris = scored
    prefix = summary.prefixes[position]
    reference = pyfunc_reference(uris[position], hospital.export)
    # the risk: the same number, to the last bit, also after the round trip through the CSV file
    assert np.array_equal(scores[f"{prefix}_probability"].to_numpy(), reference["probability"].to_numpy())
    np.testing.assert_allclose(scores[f"{prefix}_band_low"], reference["band_low"], rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(scores[f"{prefix}_band_high"], reference["band_high"], rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(scores[f"{prefix}_mahalanobis"], reference["mahalanobis"], rtol=1e-10)
    assert scores[f"{prefix}_out_of_distribution"].tolist() == reference["out_of_distribution"].tolist()
    assert scores[f"{prefix}_extrapolated"].tolist() == reference["extrapolated"].tolist()


def test_band_brackets_the_point_estimate_on_average(scored) -> None:
    summary, scores, _ = scored
    for prefix in summary.prefixes:
        p, low, high = (scores[f"{prefix}_{c}"].to_numpy() for c in ("probability", "band_low", "band_high"))
        assert np.all(low <= high)
        assert np.mean((low <= p) & (p <= high)) > 0.8
        assert low.mean() < p.mean() < high.mean()


def test_categories_at_the_configured_thresholds(scored, store) -> None:
    summary, scores, _ = scored
    thresholds = store.result.evidence.pipeline["thresholds"]
    labels = category_labels(tuple(thresholds))
    assert labels == ["low (< 5 %)", "intermediate (5-10 %)", "high (10-20 %)", "very high (>= 20 %)"]
    for prefix in summary.prefixes:
        p = scores[f"{prefix}_probability"]
        reference = pd.cut(p, [0, *thresholds, 1], right=False, labels=labels).astype(str)
        assert scores[f"{prefix}_category"].tolist() == reference.tolist()
        assert summary.categories[prefix] == reference.value_counts().reindex(labels, fill_value=0).to_dict()
    assert categorise(np.array([0.0499999, 0.05, 0.0999, 0.1, 0.2, 0.99]), (0.05, 0.1, 0.2)).tolist() == [
        0,
        1,
        1,
        2,
        3,
        3,
    ]


def test_missing_predictors_are_scored_and_named(scored, hospital, store) -> None:
    summary, scores, _ = scored
    names = store.result.task.predictors
    codes = ["", "NA", "N/A", "NaN", "nan", "NULL", "null", ".", "-99", "-999", "999"]
    empty = hospital.export[names].apply(lambda col: col.str.strip().isin(codes))
    expected = empty.apply(lambda row: ", ".join(n for n in names if row[n]), axis=1)
    assert scores["c5_palsy_missing_predictors"].tolist() == expected.tolist()
    assert summary.flagged["c5_palsy"]["missing_predictors"] == int((expected != "").sum()) > 0


def test_join_flags_reference() -> None:
    rng = np.random.default_rng(0)
    flags = rng.random((500, 11)) < 0.2
    names = [f"v{j}" for j in range(11)]
    expected = [", ".join(n for n, f in zip(names, row, strict=True) if f) for row in flags]
    assert join_flags(flags, names).tolist() == expected


def test_chunk_size_does_not_change_the_scores(scored, versions, hospital, tmp_path: Path) -> None:
    _, _, uris = scored
    score_export(uris, hospital.csv, tmp_path / "whole.csv", chunk_size=100_000)
    score_export(uris, hospital.csv, tmp_path / "small.csv", chunk_size=37)
    whole, small = (pd.read_csv(tmp_path / f, dtype=str, keep_default_na=False) for f in ("whole.csv", "small.csv"))
    assert_scores_equal(small, whole)


def test_no_band_and_no_explanations(versions, hospital, tmp_path: Path) -> None:
    model = load_scoring_model(versions["logistic"])
    summary = score_export([model], hospital.csv, tmp_path / "s.csv", explain=False, band=False)
    scores = pd.read_csv(tmp_path / "s.csv", keep_default_na=False)
    assert summary.rows_scored == len(hospital.export)
    assert (scores["c5_palsy_factor_1"] == "").all()
    assert (scores["c5_palsy_band_low"] == "").all()
