"""A corrupted export: every rejection reason, line numbers, the invariant; refused files and models."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from spineoutcome.scoring import (
    ContractMismatchError,
    ModelLoadError,
    load_scoring_model,
    score_export,
)

from .conftest import assert_scores_equal


def corrupted(export: pd.DataFrame, directory: Path) -> tuple[Path, pd.DataFrame]:
    """40 rows with one problem of each kind; a blank line after the 4th data row shifts later line numbers."""
    rows = export.head(40).copy().reset_index(drop=True)
    rows.loc[0, "age"] = "seventy"
    rows.loc[1, "planned_levels"] = "2.5"
    rows.loc[2, "diabetes"] = "maybe"
    rows.loc[3, "sex"] = "other"
    rows.loc[4, "bmi"] = "75"
    rows.loc[5, "patient_id"] = ""
    rows.loc[7, "patient_id"] = rows.loc[6, "patient_id"]
    rows.loc[8, ["age", "sex"]] = ["abc", "x"]
    rows.loc[9, "bmi"] = ""
    rows.loc[10, "bmi"] = "NA"
    path = directory / "corrupted.csv"
    lines = rows.to_csv(index=False).splitlines()
    lines.insert(5, "")  # after header + 4 data rows
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path, rows


def line_of(position: int) -> int:
    return position + 2 + (position >= 4)


@pytest.fixture(scope="module")
def result(store, versions, hospital, tmp_path_factory):
    directory = tmp_path_factory.mktemp("corrupted")
    path, rows = corrupted(hospital.export, directory)
    summary = score_export([versions["logistic"]], path, directory / "scores.csv", chunk_size=7)
    scores = pd.read_csv(directory / "scores.csv", dtype=str, keep_default_na=False)
    rejects = pd.read_csv(directory / "scores.rejects.csv", dtype=str, keep_default_na=False)
    return summary, scores, rejects, rows, path


def test_every_rejection_reason_with_line_key_column_value(result) -> None:
    summary, _, rejects, rows, path = result
    key = rows["patient_id"]
    expected = [
        (line_of(0), key[0], "age", "seventy", "not_a_number"),
        (line_of(1), key[1], "planned_levels", "2.5", "not_a_whole_number"),
        (line_of(2), key[2], "diabetes", "maybe", "not_a_boolean"),
        (line_of(3), key[3], "sex", "other", "unknown_category"),
        (line_of(4), key[4], "bmi", "75", "out_of_range"),
        (line_of(5), "", "patient_id", "", "missing_value"),
        (line_of(6), key[6], "patient_id", key[6], "duplicate_key"),
        (line_of(7), key[6], "patient_id", key[6], "duplicate_key"),
        (line_of(8), key[8], "age", "abc", "not_a_number"),
        (line_of(8), key[8], "sex", "x", "unknown_category"),
    ]
    got = list(rejects[["line", "patient_id", "column", "value", "rule"]].itertuples(index=False, name=None))
    assert [(int(a), b, c, d, e) for a, b, c, d, e in got] == expected
    assert set(rejects["source"]) == {str(path)}
    reasons = dict(zip(rejects["rule"], rejects["reason"], strict=False))
    assert reasons["out_of_range"] == "outside the allowed range [12, 60]"
    assert reasons["duplicate_key"] == "patient key appears on more than one row; every copy is rejected"
    assert reasons["missing_value"] == "a value is required here"
    assert summary.problems_by_rule == {
        "duplicate_key": 2,
        "missing_value": 1,
        "not_a_boolean": 1,
        "not_a_number": 2,
        "not_a_whole_number": 1,
        "out_of_range": 1,
        "unknown_category": 2,
    }


def test_rows_in_equal_rows_scored_plus_rows_rejected(result) -> None:
    summary, scores, rejects, rows, _ = result
    assert summary.rows_in == len(rows) == 40
    assert summary.rows_rejected == rejects["line"].nunique() == 9
    assert summary.rows_scored == len(scores) == 31
    assert summary.invariant_holds
    scored_lines = set(scores["line"].astype(int))
    rejected_lines = set(rejects["line"].astype(int))
    assert scored_lines.isdisjoint(rejected_lines)
    assert scored_lines | rejected_lines == {line_of(i) for i in range(40)}


def test_missing_optional_values_are_scored_and_flagged(result) -> None:
    _, scores, _, _, _ = result
    by_line = scores.set_index(scores["line"].astype(int))
    for position in (9, 10):
        row = by_line.loc[line_of(position)]
        assert "bmi" in row["c5_palsy_missing_predictors"].split(", ")
        assert float(row["c5_palsy_probability"]) > 0


def test_valid_rows_get_the_same_scores_as_in_a_clean_export(result, versions, tmp_path: Path) -> None:
    _, scores, _, rows, _ = result
    clean = rows.iloc[9:].copy()
    clean.to_csv(tmp_path / "clean.csv", index=False)
    score_export([versions["logistic"]], tmp_path / "clean.csv", tmp_path / "clean_scores.csv")
    reference = pd.read_csv(tmp_path / "clean_scores.csv", dtype=str, keep_default_na=False)
    ours = scores[scores["patient_id"].isin(clean["patient_id"])].reset_index(drop=True)
    assert_scores_equal(ours.drop(columns="line"), reference.drop(columns="line"))


def test_an_export_missing_model_columns_is_refused_with_suggestions(versions, hospital, tmp_path: Path) -> None:
    export = (
        hospital.export.head(5).drop(columns=["age"]).rename(columns={"sex": "Sex", "occupying_ratio": "occ_ratio"})
    )
    export.to_csv(tmp_path / "x.csv", index=False)
    with pytest.raises(ContractMismatchError) as caught:
        score_export([versions["logistic"]], tmp_path / "x.csv", tmp_path / "out.csv")
    message = str(caught.value)
    assert "'age'" in message and "'sex' (closest header: 'Sex')" in message and "'occupying_ratio'" in message
    assert not (tmp_path / "out.csv").exists()
    for key in hospital.export["patient_id"].head(5):
        assert key not in message
    export = export.rename(columns={"Sex": "sex", "occ_ratio": "occupying_ratio"}).assign(Age=hospital.export["age"])
    export.to_csv(tmp_path / "mapped.csv", index=False)
    summary = score_export(
        [versions["logistic"]], tmp_path / "mapped.csv", tmp_path / "out.csv", column_map={"Age": "age"}
    )
    assert summary.rows_scored == 5


def test_an_export_without_the_patient_key_is_refused(versions, hospital, tmp_path: Path) -> None:
    hospital.export.head(3).drop(columns=["patient_id"]).to_csv(tmp_path / "x.csv", index=False)
    with pytest.raises(ContractMismatchError, match="the patient key 'patient_id'"):
        score_export([versions["logistic"]], tmp_path / "x.csv", tmp_path / "out.csv")


def test_semicolon_decimal_comma_and_parquet_exports_score_alike(versions, hospital, tmp_path: Path) -> None:
    rows = hospital.export.head(60)
    score_export([versions["logistic"]], hospital.csv, tmp_path / "ref.csv", chunk_size=1000)
    reference = pd.read_csv(tmp_path / "ref.csv", dtype=str, keep_default_na=False).head(60)
    european = rows.copy()
    for column in ("age", "bmi", "occupying_ratio"):
        european[column] = european[column].str.replace(".", ",", regex=False)
    european.to_csv(tmp_path / "eu.csv", sep=";", index=False, encoding="cp1252")
    score_export([versions["logistic"]], tmp_path / "eu.csv", tmp_path / "eu_scores.csv", decimal=",")
    eu = pd.read_csv(tmp_path / "eu_scores.csv", dtype=str, keep_default_na=False)
    assert_scores_equal(eu, reference)
    typed = rows.copy()
    typed["age"] = pd.to_numeric(typed["age"].replace("", np.nan))
    typed.to_parquet(tmp_path / "rows.parquet")
    score_export([versions["logistic"]], tmp_path / "rows.parquet", tmp_path / "pq_scores.csv")
    pq = pd.read_csv(tmp_path / "pq_scores.csv", dtype=str, keep_default_na=False)
    assert_scores_equal(pq, reference)


def test_a_model_that_does_not_exist_is_refused(store, tmp_path: Path) -> None:
    with pytest.raises(ModelLoadError, match="cannot resolve"):
        load_scoring_model("models:/c5_palsy@nonexistent")
    with pytest.raises(ModelLoadError, match="not found"):
        load_scoring_model(tmp_path / "nothing")


def test_same_task_twice_gets_distinct_prefixes(store, versions, hospital, tmp_path: Path) -> None:
    shutil.copy(hospital.csv, tmp_path / "x.csv")
    summary = score_export(
        [versions["logistic"], versions["logistic"]], tmp_path / "x.csv", tmp_path / "out.csv", explain=False
    )
    scores = pd.read_csv(tmp_path / "out.csv", float_precision="round_trip")
    assert summary.prefixes == ["c5_palsy", "c5_palsy_2"]
    assert np.array_equal(scores["c5_palsy_probability"], scores["c5_palsy_2_probability"])


def test_an_unterminated_quote_mid_way_rejects_its_line_only(versions, hospital, tmp_path: Path) -> None:
    text = hospital.csv.read_text(encoding="utf-8").splitlines()
    text[450] = text[450] + ',"unterminated'  # a quote that never closes
    (tmp_path / "broken.csv").write_text("\n".join(text) + "\n", encoding="utf-8")
    summary = score_export([versions["logistic"]], tmp_path / "broken.csv", tmp_path / "out.csv", chunk_size=100)
    rejects = pd.read_csv(tmp_path / "out.rejects.csv", dtype=str, keep_default_na=False)
    assert rejects.loc[rejects["line"] == "451", "rule"].tolist() == ["unterminated_quote"]
    assert summary.rows_in == len(text) - 1 and summary.invariant_holds


def test_a_run_that_breaks_mid_way_leaves_no_output(versions, hospital, tmp_path: Path, monkeypatch) -> None:
    from spineoutcome.scoring import export as export_module

    calls = {"n": 0}
    original = export_module._score_chunk

    def breaking(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 3:
            raise KeyboardInterrupt
        return original(*args, **kwargs)

    monkeypatch.setattr(export_module, "_score_chunk", breaking)
    with pytest.raises(KeyboardInterrupt):
        score_export([versions["logistic"]], hospital.csv, tmp_path / "out.csv", chunk_size=100)
    assert not list(tmp_path.glob("out*"))
