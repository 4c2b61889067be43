"""Every command ends a known error (any SpineoutcomeError) with its message verbatim and exit code 3."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

import spineoutcome.api
import spineoutcome.outcomes.cli
from spineoutcome.cli import EXIT_FILE_ERROR, app
from spineoutcome.errors import SpineoutcomeError


class PlantedError(SpineoutcomeError, ValueError):
    """An error raised on purpose, deep inside a command."""


MESSAGE = "clinical.csv line 7, column age: value [250] outside [0, 120]"


def _raise(*args, **kwargs):
    raise PlantedError(MESSAGE)


def test_a_known_error_deep_in_a_command_is_its_message_and_exit_3(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(spineoutcome.api, "load_cohort", _raise)
    pipeline = tmp_path / "p.yaml"
    pipeline.write_text("name: p\n", encoding="utf-8")
    result = CliRunner().invoke(app, ["train", str(pipeline), "--data", str(tmp_path), "--no-mlflow"])
    assert result.exit_code == EXIT_FILE_ERROR
    assert MESSAGE in " ".join(result.output.split())  # brackets kept: printed without Rich markup
    assert "Traceback" not in result.output
    assert isinstance(result.exception, SystemExit)


def test_a_known_error_in_a_subcommand_group_is_caught_too(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(spineoutcome.outcomes.cli, "load_tables", _raise)
    result = CliRunner().invoke(app, ["outcomes", "labels", "--outcome", "c5_palsy", "--data", str(tmp_path)])
    assert result.exit_code == EXIT_FILE_ERROR
    assert MESSAGE in " ".join(result.output.split()) and "Traceback" not in result.output


def test_an_unknown_error_is_not_swallowed(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(spineoutcome.api, "load_cohort", lambda *a, **k: 1 / 0)
    pipeline = tmp_path / "p.yaml"
    pipeline.write_text("name: p\n", encoding="utf-8")
    result = CliRunner().invoke(app, ["train", str(pipeline), "--data", str(tmp_path), "--no-mlflow"])
    assert isinstance(result.exception, ZeroDivisionError)
