"""The ``score`` command on a local Typer app: exit codes, the printed invariant, nothing identifying printed."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
import typer
from typer.testing import CliRunner

from spineoutcome.scoring.command import score

from .test_export import corrupted


@pytest.fixture(scope="module")
def app() -> typer.Typer:
    app = typer.Typer()
    app.command(name="score")(score)

    @app.command()
    def other() -> None:  # a second command, so that "score" is a subcommand as in the real CLI
        pass

    return app


def run(app: typer.Typer, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, ["score", *args])
    return result.exit_code, " ".join(result.output.split())  # the console wraps long lines


def test_all_rows_scored_exit_0(app, store, versions, hospital, tmp_path: Path) -> None:
    code, output = run(
        app,
        "--model",
        "models:/c5_palsy@champion",
        "--input",
        str(hospital.csv),
        "--out",
        str(tmp_path / "scores.csv"),
        "--tracking-uri",
        store.uri,
        "--chunk-size",
        "250",
    )
    assert code == 0, output
    assert "Rows in 600 = scored 600 + rejected 0" in output
    scores = pd.read_csv(tmp_path / "scores.csv")
    assert len(scores) == 600 and "c5_palsy_probability" in scores
    summary = json.loads((tmp_path / "scores.summary.json").read_text())
    assert summary["invariant_holds"] and summary["rows_in"] == 600
    assert summary["models"][0]["version"] == "1"
    assert summary["models"][0]["model_sha256"] and summary["models"][0]["verified"]


def test_rejected_rows_exit_1_and_no_identifier_is_printed(app, store, versions, hospital, tmp_path: Path) -> None:
    path, rows = corrupted(hospital.export, tmp_path)
    code, output = run(
        app,
        "--model",
        versions["logistic"],
        "--model",
        versions["xgboost"],
        "--input",
        str(path),
        "--out",
        str(tmp_path / "scores.csv"),
        "--tracking-uri",
        store.uri,
    )
    assert code == 1, output
    assert "Rows in 40 = scored 31 + rejected 9" in output
    assert "duplicate_key 2" in output
    for key in rows["patient_id"]:
        if key:
            assert key not in output
    for value in ("seventy", "maybe", "2.5"):
        assert value not in output
    assert len(pd.read_csv(tmp_path / "scores.rejects.csv")) == 10


def test_unusable_export_or_model_exit_3(app, store, versions, hospital, tmp_path: Path) -> None:
    hospital.export.head(5).drop(columns=["age"]).to_csv(tmp_path / "no_age.csv", index=False)
    code, output = run(
        app,
        "--model",
        versions["logistic"],
        "--input",
        str(tmp_path / "no_age.csv"),
        "--out",
        str(tmp_path / "s.csv"),
        "--tracking-uri",
        store.uri,
    )
    assert code == 3 and "missing column(s) 'age'" in output
    assert not (tmp_path / "s.csv").exists()
    code, output = run(
        app,
        "--model",
        "models:/no_such_model/1",
        "--input",
        str(hospital.csv),
        "--out",
        str(tmp_path / "s.csv"),
        "--tracking-uri",
        store.uri,
    )
    assert code == 3 and "Cannot score" in output
    code, output = run(
        app,
        "--model",
        versions["logistic"],
        "--input",
        str(tmp_path / "absent.csv"),
        "--out",
        str(tmp_path / "s.csv"),
        "--tracking-uri",
        store.uri,
    )
    assert code == 3 and "file not found" in output
