"""Streaming reader: the same rows and line numbers as the whole-file reader, whatever the chunk size."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from spineoutcome.data.sources import ExportReadError, read_export
from spineoutcome.scoring.reader import open_export

TEXT = ("patient_id,age,sex\n"
        "P1,71.5,male\n"
        "\n"
        "P2,,female\n"
        "   \n"
        "P3,80,male\r\n"
        "\r\n"
        "P4,64,female\n"
        "P5,55,male")


def streamed(path: Path, chunk_size: int, **kwargs: object) -> tuple[pd.DataFrame, np.ndarray]:
    export = open_export(path, **kwargs)
    chunks = list(export.chunks(list(export.columns), chunk_size))
    return (pd.concat([c.frame for c in chunks], ignore_index=True),
            np.concatenate([c.lines for c in chunks]))


@pytest.mark.parametrize("chunk_size", [1, 2, 3, 100])
def test_line_numbers_skip_blank_and_whitespace_lines_across_chunks(tmp_path: Path, chunk_size: int) -> None:
    path = tmp_path / "export.csv"
    path.write_bytes(TEXT.encode())
    frame, lines = streamed(path, chunk_size)
    assert frame["patient_id"].tolist() == ["P1", "P2", "P3", "P4", "P5"]
    assert lines.tolist() == [2, 4, 6, 8, 9]
    assert frame["age"].tolist() == ["71.5", "", "80", "64", "55"]


@pytest.mark.parametrize("chunk_size", [1, 2, 50])
def test_quoted_line_breaks_are_one_record(tmp_path: Path, chunk_size: int) -> None:
    path = tmp_path / "export.csv"
    path.write_text('patient_id,note,age\nP1,"two\nlines",70\n\nP2,"say ""hi""",61\nP3,x,59\n', encoding="utf-8")
    frame, lines = streamed(path, chunk_size)
    assert lines.tolist() == [2, 5, 6]
    assert frame["note"].tolist() == ["two\nlines", 'say "hi"', "x"]
    reference = read_export(path)
    assert reference.lines.tolist() == lines.tolist()


def test_matches_the_whole_file_reader_on_a_synthetic_export(hospital) -> None:
    reference = read_export(hospital.csv)
    frame, lines = streamed(hospital.csv, 97)
    assert lines.tolist() == reference.lines.tolist()
    pd.testing.assert_frame_equal(frame, reference.frame.reset_index(drop=True), check_dtype=False)


def test_delimiter_encoding_decimal_and_column_map(tmp_path: Path) -> None:
    path = tmp_path / "export.csv"
    path.write_bytes("\ufeffPatient;Alter;sex\nP1;71,5;männlich\nP2;64;female\n".encode("cp1252", errors="replace")
                     .replace(b"?", b""))
    export = open_export(path, column_map={"Patient": "patient_id", "Alter": "age"}, decimal=",")
    assert export.delimiter == ";" and export.decimal == ","
    assert export.columns == ("patient_id", "age", "sex")
    assert export.renamed == {"Patient": "patient_id", "Alter": "age"}
    chunk = next(export.chunks(["patient_id", "age"], 10))
    assert list(chunk.frame.columns) == ["patient_id", "age"]
    assert chunk.frame["age"].tolist() == ["71,5", "64"]


def test_parquet_and_xlsx_are_read_as_text_with_row_lines(tmp_path: Path) -> None:
    frame = pd.DataFrame({"patient_id": ["P1", "P2", "P3"], "age": [71.5, np.nan, 80.0],
                          "diabetes": [True, False, True], "planned_levels": pd.array([2, None, 4], dtype="Int64")})
    frame.to_parquet(tmp_path / "export.parquet")
    text, lines = streamed(tmp_path / "export.parquet", 2)
    assert lines.tolist() == [2, 3, 4]
    assert text["age"].tolist() == ["71.5", "", "80"]
    assert text["diabetes"].tolist() == ["true", "false", "true"]
    assert text["planned_levels"].tolist() == ["2", "", "4"]
    frame.to_excel(tmp_path / "export.xlsx", index=False)
    text, lines = streamed(tmp_path / "export.xlsx", 2)
    assert lines.tolist() == [2, 3, 4] and text["patient_id"].tolist() == ["P1", "P2", "P3"]


def test_a_repeated_header_after_mapping_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "export.csv"
    path.write_text("patient_id,Age,age\nP1,70,70\n", encoding="utf-8")
    with pytest.raises(ExportReadError, match="more than once"):
        open_export(path, column_map={"Age": "age"})


def test_unsupported_or_missing_files_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ExportReadError, match="not found"):
        open_export(tmp_path / "nothing.csv")
    (tmp_path / "x.json").write_text("{}")
    with pytest.raises(ExportReadError, match="unsupported"):
        open_export(tmp_path / "x.json")
