"""Patient-data outputs: atomic, 0600, refused when present, spreadsheet-safe."""

from __future__ import annotations

import csv
import stat

import pandas as pd
import pytest

from spineoutcome.outputs import OutputExistsError, atomic_output, neutralise_cell, write_patient_csv


@pytest.mark.parametrize("text", ["=SUM(A1)", "+1", "-2+3", "@cmd", "\tx", "\rx"])
def test_formula_text_gets_an_apostrophe(text: str) -> None:
    assert neutralise_cell(text) == "'" + text


@pytest.mark.parametrize("value", ["abc", "", -1.5, 3, None])
def test_other_values_are_unchanged(value: object) -> None:
    assert neutralise_cell(value) == value


def test_csv_is_private_neutralised_and_numbers_untouched(tmp_path) -> None:
    path = tmp_path / "scores.csv"
    write_patient_csv(pd.DataFrame({"note": ["=HYPERLINK(1)", "ok"], "x": [-1.5, 2.0]}), path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    with path.open(newline="") as handle:
        rows = list(csv.reader(handle))
    assert rows == [["note", "x"], ["'=HYPERLINK(1)", "-1.5"], ["ok", "2.0"]]


def test_existing_target_is_refused_unless_overwrite(tmp_path) -> None:
    path = tmp_path / "out.csv"
    path.write_text("old")
    with pytest.raises(OutputExistsError, match="--overwrite"):
        write_patient_csv(pd.DataFrame({"a": [1]}), path)
    assert path.read_text() == "old"
    write_patient_csv(pd.DataFrame({"a": [1]}), path, overwrite=True)
    assert path.read_text().splitlines() == ["a", "1"]


def test_aborted_write_leaves_nothing(tmp_path) -> None:
    path = tmp_path / "sheet.pdf"
    with pytest.raises(RuntimeError), atomic_output(path) as temporary:
        temporary.write_bytes(b"half")
        raise RuntimeError("killed")
    assert list(tmp_path.iterdir()) == []
