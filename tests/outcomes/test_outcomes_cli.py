"""The ``outcomes`` typer sub-app on exports written to a directory and read back by ``load_tables``."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from spineoutcome.outcomes.cli import app

WIDE = {"COLUMNS": "250"}


def cells(line: str) -> list[str]:
    return [c.strip() for c in line.split("│")[1:-1]]


@pytest.fixture
def data_dir(cohort, tmp_path):
    for name, frame in cohort.items():
        frame.to_csv(tmp_path / f"{name}.csv", index=False)
    return tmp_path


def test_labels_prints_counts_and_exclusions(data_dir):
    result = CliRunner().invoke(app, ["labels", "--outcome", "complication_any", "--data", str(data_dir)], env=WIDE)
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    # 5 considered, 4 labelled, 2 events (p1, p2), prevalence 2/4; p3 followed to day 60 only
    assert "Outcome complication_any (binary)" in result.output
    assert cells(next(line for line in lines if "50.0%" in line)) == ["5", "4", "2", "50.0%"]
    assert cells(next(line for line in lines if "last follow-up" in line)) == [
        "last follow-up before day 90 and no event",
        "1",
    ]


def test_labels_unknown_outcome_fails_with_a_hint(data_dir):
    result = CliRunner().invoke(app, ["labels", "--outcome", "c5_pasly", "--data", str(data_dir)])
    assert result.exit_code != 0
    assert "c5_palsy" in str(result.exception)


def test_mcid_sensitivity_prints_every_definition(data_dir):
    result = CliRunner().invoke(app, ["mcid-sensitivity", "--instrument", "mjoa", "--data", str(data_dir)], env=WIDE)
    assert result.exit_code == 0, result.output
    for name in (
        "mjoa_abs2_12m (ref)",
        "mjoa_severity_12m",
        "mjoa_half_sd_12m",
        "mjoa_sem_12m",
        "mjoa_pct30_12m",
        "mjoa_rr50_12m",
    ):
        assert name in result.output
    # p1 12 -> 14 and p2 11 -> 13 are labelled; p3's 12-month visit is on day 457
    reference = cells(next(line for line in result.output.splitlines() if "(ref)" in line))
    assert reference[4:] == ["2", "2", "100.0%", "2", "0", "0", "0"]
