"""Spark batch scoring (local mode) through mlflow.pyfunc.spark_udf equals scoring in process.

The export: the tiny cohort's analysed patients as export text, repeated to about 1,900 rows with unique
keys, some rows made unusable in the ways a hospital export is (text in a number, an unknown
category, a value out of range, a fraction in a whole-number column, a missing required value)
and some using the dictionary's other spellings (missing codes, yes/no). Spark must give every
row the in-process probability or the in-process problem.
"""

from __future__ import annotations

import contextlib
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from spineoutcome.bundle import Gates
from spineoutcome.distributed import command, score_with_spark
from spineoutcome.experiment import ExperimentResult
from spineoutcome.scoring.model import quiet_downloads
from spineoutcome.tracking import log_run
from tests.tracking.conftest import raw_export_rows

LENIENT = Gates(calibration_slope=(0.0, 10.0), max_ici=1.0, min_gain_over_rules=None)
COPIES = 5
MODEL = "models:/c5_palsy@champion"
# export row -> (column, value, the problem it must get; '' = scored)
DIRTY = {
    0: ("age", "seventy", "age: not a number"),
    37: ("sex", "unknown", "sex: not one of the allowed categories (female, male)"),
    74: ("occupying_ratio", "250", "occupying_ratio: outside the allowed range [0, 100]"),
    111: ("planned_levels", "2.5", "planned_levels: not a whole number"),
    148: ("diagnosis", "", ""),
    185: ("age", "NA", ""),
    222: ("diabetes", "Yes", ""),
    259: ("diabetes", "no", ""),
    296: ("c1_c3_involvement", "1", ""),
    333: ("mjoa_baseline", "-99", ""),
}


@pytest.fixture(scope="module")
def registered(experiment: ExperimentResult, tmp_path_factory: pytest.TempPathFactory) -> str:
    """The tiny experiment logged and registered in a local SQLite store; returns its tracking URI."""
    store = tmp_path_factory.mktemp("spark_store")
    uri = f"sqlite:///{store / 'mlruns.db'}"
    with contextlib.chdir(store):  # a SQLite store keeps artifacts in ./mlruns
        log_run(experiment, tracking_uri=uri, gates=LENIENT, ensemble_size=3)
    return uri


@pytest.fixture(scope="module")
def export(experiment: ExperimentResult, cohort_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> pd.DataFrame:
    base = raw_export_rows(experiment, cohort_dir).reset_index()
    copies = []
    for k in range(COPIES):
        copy = base.copy()
        copy["patient_id"] = copy["patient_id"] + f"-{k}"
        copies.append(copy)
    rows = pd.concat(copies, ignore_index=True)
    for row, (column, value, _) in DIRTY.items():
        rows.loc[row, column] = value
    return rows


@pytest.fixture(autouse=True)
def _tracking(registered: str, restore_tracking_uri) -> None:
    mlflow.set_tracking_uri(registered)


def in_process(rows: pd.DataFrame, *, band: bool = False) -> pd.DataFrame:
    bundle = mlflow.pyfunc.load_model(MODEL).unwrap_python_model().bundle
    return bundle.predict(rows.set_index("patient_id"), band=band)


def test_spark_scores_equal_in_process_scores(spark, export: pd.DataFrame, tmp_path: Path) -> None:
    path = tmp_path / "preop_export.csv"
    export.to_csv(path, index=False)
    with quiet_downloads():
        summary = score_with_spark(MODEL, str(path), str(tmp_path / "scores.parquet"), spark, band=True, partitions=3)
        expected = in_process(export, band=True)
    scores = pd.read_parquet(tmp_path / "scores.parquet")
    assert len(scores) == summary.rows == len(export)  # no row disappears
    assert scores["patient_id"].is_unique and set(scores["patient_id"]) == set(export["patient_id"])
    scores = scores.set_index("patient_id").loc[expected.index]
    problems = expected["problem"] != ""
    wanted = {export.loc[row, "patient_id"]: problem for row, (_, _, problem) in DIRTY.items() if problem}
    assert expected.loc[problems, "problem"].to_dict() == wanted  # the reference itself is as intended
    assert summary.with_problem == len(wanted) and summary.scored == len(export) - len(wanted)
    assert (scores["problem"] == expected["problem"]).all()
    for column in ("probability", "band_low", "band_high"):
        np.testing.assert_allclose(
            scores[column].to_numpy(float), expected[column].to_numpy(float), rtol=0, atol=1e-12, equal_nan=True
        )
    assert scores.loc[problems, "probability"].isna().all() and scores.loc[~problems, "probability"].notna().all()


def test_spark_score_command_writes_csv_and_refuses_a_missing_column(
    spark, export: pd.DataFrame, tmp_path: Path
) -> None:
    small = export.head(150)
    source = tmp_path / "export.csv"
    small.to_csv(source, index=False)
    out = tmp_path / "scores_csv"
    with quiet_downloads():
        result = CliRunner().invoke(
            command.app, ["spark-score", str(source), "--model", MODEL, "--out", str(out), "--format", "csv"]
        )
        assert result.exit_code == 0, result.output
        assert "150 rows" in result.output
        expected = in_process(small)
    written = (
        pd.read_csv(
            out, dtype={"patient_id": str, "problem": str}, keep_default_na=False, na_values={"probability": [""]}
        )
        if out.is_file()
        else pd.concat(
            pd.read_csv(
                part, dtype={"patient_id": str, "problem": str}, keep_default_na=False, na_values={"probability": [""]}
            )
            for part in sorted(out.glob("part-*.csv"))
        )
    )
    written = written.set_index("patient_id").loc[expected.index]
    np.testing.assert_allclose(
        written["probability"].to_numpy(float),
        expected["probability"].to_numpy(float),
        rtol=0,
        atol=1e-12,
        equal_nan=True,
    )
    assert (written["problem"] == expected["problem"]).all()

    again = CliRunner().invoke(command.app, ["spark-score", str(source), "--model", MODEL, "--out", str(out)])
    assert again.exit_code != 0  # an existing output is not overwritten without --overwrite

    lacking = tmp_path / "lacking.csv"
    small.drop(columns=["age"]).to_csv(lacking, index=False)
    with pytest.raises(ValueError, match=r"lacks column\(s\) \['age'\]"):
        score_with_spark(MODEL, str(lacking), str(tmp_path / "never"), spark)


def test_spark_reads_through_the_one_reader_and_keeps_faulty_records(
    spark, export: pd.DataFrame, tmp_path: Path
) -> None:
    small = export.head(40)
    lines = small.to_csv(index=False).splitlines()
    lines[5] += ",surplus"  # file line 6: one field too many
    lines.insert(10, "")  # a blank line: skipped, not a row
    source = tmp_path / "ragged.csv"
    source.write_text("\r\n".join(lines) + "\r\n", encoding="utf-8")
    with quiet_downloads():
        summary = score_with_spark(MODEL, str(source), str(tmp_path / "scores.parquet"), spark)
    scores = pd.read_parquet(tmp_path / "scores.parquet")
    assert summary.rows == len(small) == len(scores)
    assert scores.loc[scores["problem"] == "line 6: wrong_field_count", "patient_id"].tolist() == [""]
    assert set(scores["patient_id"]) - {""} == set(small["patient_id"]) - {small["patient_id"].iloc[4]}


def _artifact_folder(name: str = "c5_palsy") -> Path:
    """The champion's logged-model folder in the local artifact store (what a file-level attacker edits)."""
    version = mlflow.MlflowClient().get_model_version_by_alias(name, "champion")
    return Path(
        mlflow.get_logged_model(version.source.removeprefix("models:/")).artifact_location.removeprefix("file://")
    )


def test_spark_refuses_a_tampered_model_and_marks_its_rows(spark, export: pd.DataFrame, tmp_path: Path) -> None:
    from spineoutcome.bundle.integrity import IntegrityError

    path = tmp_path / "preop_export.csv"
    export.head(40).to_csv(path, index=False)
    with quiet_downloads():
        summary = score_with_spark(MODEL, str(path), str(tmp_path / "ok.parquet"), spark)
    assert summary.integrity.startswith("verified against the MLflow registry")
    assert set(pd.read_parquet(tmp_path / "ok.parquet")["integrity"]) == {"verified"}
    pickle = _artifact_folder() / "artifacts" / "bundle" / "ensemble.joblib"
    original = pickle.read_bytes()
    try:
        pickle.write_bytes(original + b"\0")
        with quiet_downloads(), pytest.raises(IntegrityError, match="do not match"):
            score_with_spark(MODEL, str(path), str(tmp_path / "never.parquet"), spark)
        assert not (tmp_path / "never.parquet").exists()
    finally:
        pickle.write_bytes(original)
