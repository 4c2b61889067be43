"""The validation, update and monitoring reports render from their Evidence records (PDF text checked)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from typer.testing import CliRunner

from spineoutcome.cli import app

from .conftest import World

pytestmark = pytest.mark.skipif(shutil.which("pdftotext") is None, reason="poppler-utils (pdftotext) not installed")


def _text(pdf: Path) -> str:
    return subprocess.run(["pdftotext", "-layout", str(pdf), "-"], check=True, capture_output=True, text=True).stdout


def test_validation_and_update_reports(world: World, tmp_path: Path) -> None:
    runner = CliRunner()
    out = tmp_path / "validation"
    result = runner.invoke(
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
            "--n-boot",
            "30",
            "--no-mlflow",
        ],
    )
    assert result.exit_code == 0, result.output
    text = _text(out / "validation_report.pdf")
    for expected in (
        "External validation of the c5_palsy model",
        "Riley",
        "Case-mix",
        "TRIPOD+AI checklist",
        "calibration slope",
        "development (95% CI or PI)",
    ):
        assert expected in text
    assert "P0000" not in text  # no patient key
    out = tmp_path / "update"
    result = runner.invoke(
        app,
        [
            "update",
            "--model",
            world.model,
            "--data",
            str(world.site),
            "--out",
            str(out),
            "--tracking-uri",
            world.uri,
            "--n-boot",
            "20",
            "--no-mlflow",
        ],
    )
    assert result.exit_code == 0, result.output
    text = _text(out / "update_report.pdf")
    assert "Closed testing" in text and "bootstrap-corrected" in text
