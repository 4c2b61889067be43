"""A risk sheet rendered, turned into PNG (pdftoppm) and its text checked (pdftotext)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from spineoutcome.scoring import score_export

pytestmark = pytest.mark.skipif(
    shutil.which("pdftoppm") is None or shutil.which("pdftotext") is None,
    reason="poppler-utils (pdftoppm, pdftotext) not installed",
)


@pytest.fixture(scope="module")
def sheets(store, versions, hospital, tmp_path_factory):
    directory = tmp_path_factory.mktemp("sheets")
    rows = hospital.export.head(4).copy()
    rows.loc[rows.index[1], "bmi"] = ""
    rows.to_csv(directory / "four.csv", index=False)
    summary = score_export(
        [versions["logistic"], versions["xgboost"]],
        directory / "four.csv",
        directory / "scores.csv",
        sheets_dir=directory / "sheets",
    )
    scores = pd.read_csv(directory / "scores.csv", dtype=str, keep_default_na=False)
    return summary, scores, directory / "sheets", rows


def test_one_sheet_per_patient_named_by_line(sheets) -> None:
    summary, scores, directory, _ = sheets
    assert summary.outputs["sheets_written"] == 4
    assert sorted(p.name for p in directory.glob("*.pdf")) == [f"line-{int(n):07d}.pdf" for n in scores["line"]]


def test_sheet_renders_as_png(sheets, tmp_path: Path) -> None:
    _, scores, directory, _ = sheets
    pdf = directory / f"line-{int(scores['line'][1]):07d}.pdf"
    subprocess.run(["pdftoppm", "-r", "60", "-png", str(pdf), str(tmp_path / "page")], check=True)
    pages = sorted(tmp_path.glob("page-*.png"))
    assert len(pages) == 2  # one page per model
    import matplotlib.image as mpimg

    image = mpimg.imread(pages[0])
    assert image.shape[0] > image.shape[1]  # portrait A4
    ink = (image[..., :3].mean(axis=2) < 0.9).mean()
    assert 0.02 < ink < 0.5  # neither blank nor a black box


def test_sheet_text_holds_risk_band_drivers_subgroups_and_intended_use(sheets, store) -> None:
    _, scores, directory, rows = sheets
    r = 1
    pdf = directory / f"line-{int(scores['line'][r]):07d}.pdf"
    text = subprocess.run(["pdftotext", "-layout", str(pdf), "-"], check=True, capture_output=True, text=True).stdout
    first_page = text.split("\f")[0]
    p = float(scores["c5_palsy_probability"][r])
    assert f"{100 * p:.1f} %" in first_page
    assert f"{100 * float(scores['c5_palsy_band_high'][r]):.1f} %" in first_page
    assert scores["c5_palsy_category"][r] in first_page
    assert rows["patient_id"].iloc[r] in first_page
    for k in (1, 2, 3):
        driver = scores[f"c5_palsy_factor_{k}"][r]
        if driver:
            assert " ".join(driver.split()[:3]) in " ".join(first_page.split())
    assert "Missing values, imputed by the model: bmi" in " ".join(first_page.split())
    assert "All development patients" in first_page and "Age group" in first_page
    assert "Intended use" in first_page and "not a decision rule" in " ".join(first_page.split())
    assert "model-estimation uncertainty" in " ".join(first_page.split())


def test_no_sheets_unless_asked(store, versions, hospital, tmp_path: Path) -> None:
    hospital.export.head(3).to_csv(tmp_path / "three.csv", index=False)
    summary = score_export([versions["logistic"]], tmp_path / "three.csv", tmp_path / "scores.csv")
    assert summary.outputs["sheets"] is None and summary.outputs["sheets_written"] == 0
    assert not list(tmp_path.rglob("*.pdf"))
    assert np.isfinite(pd.read_csv(tmp_path / "scores.csv")["c5_palsy_probability"]).all()
