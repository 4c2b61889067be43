"""Pipeline files: the shipped ones load; errors name the field and the closest match."""

from __future__ import annotations

from pathlib import Path

import pytest

from spineoutcome.config import ConfigError, load_pipeline
from spineoutcome.dictionary import builtin_pipelines_dir
from spineoutcome.outcomes import load_outcome_definitions


def _outcomes() -> list[str]:
    return list(load_outcome_definitions())


@pytest.mark.parametrize("path", sorted(builtin_pipelines_dir().glob("*.yaml")), ids=lambda p: p.stem)
def test_shipped_pipelines_are_valid(path: Path):
    config = load_pipeline(path, outcomes=_outcomes())
    assert config.name == path.stem
    assert all(isinstance(v, (str, int, float, bool, type(None))) for v in config.flat().values())


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "p.yaml"
    path.write_text(text)
    return path


BASE = "name: t\noutcome: c5_palsy\npredictors: {groups: [clinical]}\n"


def test_misspelt_variable_names_the_closest_match(tmp_path):
    path = _write(tmp_path, BASE.replace("{groups: [clinical]}", "{include: [occupyingratio]}"))
    with pytest.raises(
        ConfigError,
        match=r"p\.yaml: 1 problem\(s\)[^']*predictors\.include: 'occupyingratio' "
        r"is not in the data dictionary; did you mean 'occupying_ratio'",
    ):
        load_pipeline(path, outcomes=_outcomes())


def test_postoperative_predictor_is_refused(tmp_path):
    path = _write(tmp_path, BASE.replace("{groups: [clinical]}", "{include: [mjoa_12m]}"))
    with pytest.raises(ConfigError, match="recorded after surgery"):
        load_pipeline(path, outcomes=_outcomes())


def test_unknown_outcome_and_unknown_field(tmp_path):
    with pytest.raises(
        ConfigError, match="outcome: 'c5_plasy' is not in the outcome definitions; did you mean 'c5_palsy'"
    ):
        load_pipeline(_write(tmp_path, BASE.replace("c5_palsy", "c5_plasy")), outcomes=_outcomes())
    with pytest.raises(ConfigError, match="familes: Extra inputs are not permitted"):
        load_pipeline(_write(tmp_path, BASE + "familes: [logistic]\n"), outcomes=_outcomes())
    with pytest.raises(ConfigError, match="thresholds"):
        load_pipeline(_write(tmp_path, BASE + "thresholds: [0.2, 1.5]\n"), outcomes=_outcomes())
