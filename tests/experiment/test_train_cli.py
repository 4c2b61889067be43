"""``spineoutcome train``: a pipeline problem is reported verbatim, with exit code 3."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from spineoutcome.cli import app
from spineoutcome.config import ConfigError, load_pipeline

from .conftest import write_pipeline


def _normalise(text: str) -> str:
    """Without whitespace: Rich wraps (and folds long paths) at the console width."""
    return "".join(text.split())


def test_train_prints_the_config_error_verbatim(tmp_path: Path, synth):
    """Regression test: the error must not be parsed as Rich markup.

    Found by this suite: ``console.print(f"[red]{exc}[/red]")`` let Rich parse the message, so
    pydantic's locations ``eligibility.diagnosis.list[str]`` / ``list[float]`` were printed as
    ``eligibility.diagnosis.list`` twice (the alternatives indistinguishable), and a message holding
    ``[/...]`` would raise ``rich.errors.MarkupError`` instead of exiting with code 3.
    """
    spec = {
        "name": "bad_eligibility",
        "outcome": "complication_any",
        "eligibility": {"diagnosis": "OPLL"},
        "predictors": {"include": ["age"]},
        "families": ["logistic"],
    }
    path = write_pipeline(tmp_path, spec)
    with pytest.raises(ConfigError) as info:
        load_pipeline(path)
    assert "list[str]" in str(info.value)
    result = CliRunner().invoke(app, ["train", str(path), "--data", str(synth.path), "--out", str(tmp_path / "runs")])
    assert result.exit_code == 3, result.output
    assert _normalise(str(info.value)) in _normalise(result.output)
