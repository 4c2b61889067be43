"""Outputs that hold patient data: spreadsheet-safe cells, 0600, no silent overwrite, atomic under a kill;
UNVERIFIED on every output of a run with an unverified model; console text without markup."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import mlflow
import pandas as pd
import pytest

from .test_command import app, run  # noqa: F401  (the app fixture)

REPO = Path(__file__).resolve().parents[2]


def _small_export(hospital, directory: Path, rows: int = 4) -> Path:
    path = directory / "preop.csv"
    hospital.export.head(rows).to_csv(path, index=False)
    return path


def test_formula_cells_are_neutralised_in_scores_and_rejects(app, store, hospital, tmp_path: Path) -> None:  # noqa: F811
    export = hospital.export.head(6).copy()
    export.loc[0, "patient_id"] = '=HYPERLINK("http://x","y")'
    export.loc[1, "patient_id"] = "+1+2"
    export.loc[2, "age"] = "@SUM(A1:A9)"
    export.loc[3, "sex"] = "-male"
    export.to_csv(tmp_path / "in.csv", index=False)
    code, output = run(
        app,
        "--model",
        "models:/c5_palsy/1",
        "--input",
        str(tmp_path / "in.csv"),
        "--out",
        str(tmp_path / "s.csv"),
        "--tracking-uri",
        store.uri,
        "--no-explain",
    )
    assert code == 1, output
    scores = pd.read_csv(tmp_path / "s.csv", dtype=str, keep_default_na=False)
    assert '\'=HYPERLINK("http://x","y")' in set(scores["patient_id"]) and "'+1+2" in set(scores["patient_id"])
    rejects = pd.read_csv(tmp_path / "s.rejects.csv", dtype=str, keep_default_na=False)
    assert set(rejects["value"]) >= {"'@SUM(A1:A9)", "'-male"}
    for frame in (scores, rejects):
        text = frame.to_numpy().ravel()
        assert not any(str(v).startswith(("=", "+", "-", "@")) for v in text)
    assert scores["c5_palsy_probability"].str.match(r"^0\.\d+").all()  # numbers are left alone


def test_outputs_are_private_and_never_silently_overwritten(app, store, hospital, tmp_path: Path) -> None:  # noqa: F811
    export = _small_export(hospital, tmp_path)
    args = [
        "--model",
        "models:/c5_palsy/1",
        "--input",
        str(export),
        "--out",
        str(tmp_path / "s.csv"),
        "--tracking-uri",
        store.uri,
        "--no-explain",
        "--sheets",
        str(tmp_path / "sheets"),
    ]
    code, output = run(app, *args)
    assert code == 0, output
    written = [
        tmp_path / "s.csv",
        tmp_path / "s.rejects.csv",
        tmp_path / "s.summary.json",
        *sorted((tmp_path / "sheets").glob("*.pdf")),
    ]
    assert len(written) == 7
    assert {oct(p.stat().st_mode & 0o777) for p in written} == {"0o600"}
    assert (tmp_path / "sheets").stat().st_mode & 0o077 == 0
    before = {p: p.read_bytes() for p in written}
    code, output = run(app, *args)
    assert code == 3 and "exists already; pass --overwrite" in output
    assert {p: p.read_bytes() for p in written} == before
    assert not [p for p in tmp_path.rglob("*") if p.name.endswith(".partial")]
    code, output = run(app, *args, "--overwrite")
    assert code == 0, output
    assert (tmp_path / "s.csv").read_text() == before[tmp_path / "s.csv"].decode()


def test_a_run_with_an_unverified_model_says_so_everywhere(app, store, versions, hospital, tmp_path: Path) -> None:  # noqa: F811
    folder = Path(mlflow.artifacts.download_artifacts(artifact_uri=versions["logistic"], dst_path=str(tmp_path / "m")))
    export = _small_export(hospital, tmp_path, rows=2)
    empty = f"sqlite:///{tmp_path / 'empty.db'}"  # a store that has no record of the model
    common = ["--model", str(folder), "--input", str(export), "--tracking-uri", empty, "--no-explain"]
    try:
        code, output = run(app, *common, "--out", str(tmp_path / "a.csv"))
        assert code == 3 and "--allow-unverified" in output and not (tmp_path / "a.csv").exists()
        code, output = run(
            app, *common, "--out", str(tmp_path / "b.csv"), "--allow-unverified", "--sheets", str(tmp_path / "sheets")
        )
    finally:
        mlflow.set_tracking_uri(store.uri)
    assert code == 0, output
    assert "UNVERIFIED" in output
    scores = pd.read_csv(tmp_path / "b.csv", dtype=str)
    assert set(scores["c5_palsy_model_integrity"]) == {"UNVERIFIED"}
    sheets = sorted((tmp_path / "sheets").glob("*.pdf"))
    assert len(sheets) == 2
    for sheet in sheets:
        text = subprocess.run(["pdftotext", str(sheet), "-"], capture_output=True, text=True, check=True).stdout
        assert "UNVERIFIED MODEL" in text
    verified = pd.read_csv(_score_verified(app, store, export, tmp_path), dtype=str)
    assert set(verified["c5_palsy_model_integrity"]) == {"verified"}


def _score_verified(app, store, export: Path, tmp_path: Path) -> Path:  # noqa: F811
    code, output = run(
        app,
        "--model",
        "models:/c5_palsy/1",
        "--input",
        str(export),
        "--out",
        str(tmp_path / "v.csv"),
        "--tracking-uri",
        store.uri,
        "--no-explain",
    )
    assert code == 0 and "UNVERIFIED" not in output, output
    return tmp_path / "v.csv"


def test_console_text_is_printed_without_markup(app, store, hospital, tmp_path: Path) -> None:  # noqa: F811
    export = hospital.export.head(3).rename(columns={"age": "[/age]", "bmi": "[b]bmi"})
    export.to_csv(tmp_path / "in.csv", index=False)
    code, output = run(
        app,
        "--model",
        "models:/c5_palsy/1",
        "--input",
        str(tmp_path / "in.csv"),
        "--out",
        str(tmp_path / "s.csv"),
        "--tracking-uri",
        store.uri,
    )
    assert code == 3, output
    compact = output.replace(" ", "")  # the console may wrap inside a long token
    assert "'[/age]'" in compact and "'[b]bmi'" in compact


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGKILL])
def test_a_run_killed_mid_write_leaves_nothing_that_looks_complete(store, hospital, tmp_path: Path, sig) -> None:
    big = pd.concat([hospital.export] * 20, ignore_index=True)
    big["patient_id"] = [f"K{i:07d}" for i in range(len(big))]
    big.to_csv(tmp_path / "big.csv", index=False)
    out = tmp_path / "out" / "scores.csv"
    command = [
        sys.executable,
        "-c",
        "from spineoutcome.cli import app; app()",
        "score",
        "--model",
        "models:/c5_palsy/1",
        "--input",
        str(tmp_path / "big.csv"),
        "--out",
        str(out),
        "--tracking-uri",
        store.uri,
        "--chunk-size",
        "200",
        "--sheets",
        str(tmp_path / "sheets"),
    ]
    env = {**os.environ, "PYTHONPATH": str(REPO / "src")}
    process = subprocess.Popen(command, cwd=tmp_path, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline and process.poll() is None:
            partial = [p for p in (tmp_path / "out").glob(".scores.csv.*.partial") if p.stat().st_size > 0]
            staged = list(tmp_path.glob(".sheets.*.partial/line-*.pdf"))
            if partial and staged:
                break
            time.sleep(0.2)
        assert process.poll() is None, process.stderr.read().decode() if process.stderr else ""
        process.send_signal(sig)
        process.wait(timeout=120)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert not out.exists() and not (tmp_path / "out" / "scores.rejects.csv").exists()
    assert not list((tmp_path / "sheets").glob("*.pdf")) if (tmp_path / "sheets").exists() else True
    leftovers = [p for p in tmp_path.rglob("*") if p.is_file() and p.name != "big.csv"]
    if sig == signal.SIGINT:  # an interrupted run cleans up after itself
        assert leftovers == []
    else:  # a killed one cannot: what remains is hidden and named as unfinished
        assert leftovers and all(".partial" in str(p.relative_to(tmp_path)) for p in leftovers)
