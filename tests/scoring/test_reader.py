"""Streaming reader: the same rows and line numbers as the whole-file reader, whatever the chunk size."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from spineoutcome.data.sources import ExportReadError, read_export
from spineoutcome.scoring.reader import open_export

TEXT = "patient_id,age,sex\nP1,71.5,male\n\nP2,,female\n   \nP3,80,male\r\n\r\nP4,64,female\nP5,55,male"


def streamed(path: Path, chunk_size: int, **kwargs: object) -> tuple[pd.DataFrame, np.ndarray]:
    export = open_export(path, **kwargs)
    chunks = list(export.chunks(list(export.columns), chunk_size))
    return (pd.concat([c.frame for c in chunks], ignore_index=True), np.concatenate([c.lines for c in chunks]))


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
    path.write_bytes(
        "\ufeffPatient;Alter;sex\nP1;71,5;männlich\nP2;64;female\n".encode("cp1252", errors="replace").replace(
            b"?", b""
        )
    )
    export = open_export(path, column_map={"Patient": "patient_id", "Alter": "age"}, decimal=",")
    assert export.delimiter == ";" and export.decimal == ","
    assert export.columns == ("patient_id", "age", "sex")
    assert export.renamed == {"Patient": "patient_id", "Alter": "age"}
    chunk = next(export.chunks(["patient_id", "age"], 10))
    assert list(chunk.frame.columns) == ["patient_id", "age"]
    assert chunk.frame["age"].tolist() == ["71,5", "64"]


def test_parquet_and_xlsx_are_read_as_text_with_row_lines(tmp_path: Path) -> None:
    frame = pd.DataFrame(
        {
            "patient_id": ["P1", "P2", "P3"],
            "age": [71.5, np.nan, 80.0],
            "diabetes": [True, False, True],
            "planned_levels": pd.array([2, None, 4], dtype="Int64"),
        }
    )
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
    assert open_export(path, column_map={"Age": "age"}).repeated == ("age",)


def test_unsupported_or_missing_files_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ExportReadError, match="not found"):
        open_export(tmp_path / "nothing.csv")
    (tmp_path / "x.json").write_text("{}")
    with pytest.raises(ExportReadError, match="unsupported"):
        open_export(tmp_path / "x.json")


MESSY = (
    "patient_id,note,age\r\n"
    'P1,"two\r\nlines",70\r\n'
    "\r\n"
    'P2,"say ""hi""",61\r'
    "P3,x,59,surplus\n"
    'P4,"never closed,58\n'
    "P5,y,57\n"
    ",,\n"
    'P6,"' + "z" * 300 + '",56\n'
    "P7,\x00,55\n"
    "P8,last,54"
)


@pytest.mark.parametrize("block_bytes", [7, 16, 33, 64, 1 << 20])
@pytest.mark.parametrize("chunk_size", [1, 3, 100])
def test_block_and_chunk_boundaries_never_change_rows_lines_or_faults(
    tmp_path: Path, block_bytes: int, chunk_size: int
) -> None:
    import dataclasses

    path = tmp_path / "messy.csv"
    path.write_bytes(MESSY.encode())
    export = dataclasses.replace(open_export(path), block_bytes=block_bytes)
    chunks = list(export.chunks(None, chunk_size))
    frame = pd.concat([c.frame for c in chunks], ignore_index=True)
    lines = np.concatenate([c.lines for c in chunks]).tolist()
    faults = pd.concat([c.faults for c in chunks], ignore_index=True)
    assert frame["patient_id"].tolist() == ["P1", "P2", "P5", "P6", "P8"]
    assert lines == [2, 5, 8, 10, 12]
    assert frame["note"].tolist() == ["two\nlines", 'say "hi"', "y", "z" * 300, "last"]
    assert sorted(zip(faults["line"].tolist(), faults["rule"].tolist(), strict=True)) == [
        (6, "wrong_field_count"),
        (7, "unterminated_quote"),
        (11, "control_character"),
    ]
    assert export.blank_lines == 2  # line 4 (empty) and line 9 (delimiters only)


def test_the_csv_module_splits_every_plain_line_as_the_fast_path_does(hospital) -> None:
    import csv

    raw = read_export(hospital.csv)
    with hospital.csv.open(newline="", encoding="utf-8") as fh:
        rows = list(csv.reader(fh))
    expected = pd.DataFrame(rows[1:], columns=rows[0])
    pd.testing.assert_frame_equal(raw.frame, expected, check_dtype=False)
    assert raw.lines.tolist() == list(range(2, len(rows) + 1))


def test_utf16_and_lone_cr_exports(tmp_path: Path) -> None:
    text = "patient_id\tage\r\nP1\t71\r\nP2\t\u00e9\r\n"
    (tmp_path / "u16.txt").write_bytes(text.encode("utf-16"))
    raw = read_export(tmp_path / "u16.txt")
    assert raw.encoding == "utf-16" and raw.frame["age"].tolist() == ["71", "\u00e9"]
    (tmp_path / "cr.csv").write_bytes(b"patient_id,age\rP1,71\r\rP2,64\r")
    raw = read_export(tmp_path / "cr.csv")
    assert raw.lines.tolist() == [2, 4] and raw.blank_lines == 1


def test_workbook_sheets_are_accounted_for(tmp_path: Path) -> None:
    import openpyxl

    book = openpyxl.Workbook()
    first = book.active
    first.title = "2024"
    for row in (["patient_id", "age"], ["P1", 70], ["P2", "=1+1"]):
        first.append(row)
    second = book.create_sheet("2025")
    for row in (["patient_id", "age"], ["P3", 61]):
        second.append(row)
    book.save(tmp_path / "book.xlsx")
    with pytest.raises(ExportReadError, match=r"2 sheets with data \('2024', '2025'\).*--sheet"):
        open_export(tmp_path / "book.xlsx")
    with pytest.raises(ExportReadError, match="no sheet named 'x'"):
        open_export(tmp_path / "book.xlsx", sheet="x")
    raw = read_export(tmp_path / "book.xlsx", sheet="2024")
    assert raw.frame["patient_id"].tolist() == ["P1"]
    assert raw.faults[["line", "column", "rule"]].values.tolist() == [[3, "age", "formula_without_value"]]
    assert read_export(tmp_path / "book.xlsx", sheet="2025").frame["age"].tolist() == ["61"]


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"", "empty"),
        (b"\n \n\r\n", "only blank lines"),
        (b"PK\x03\x04rest", "ZIP"),
        (b"\x00\x01\x02\x03" * 50, "binary"),
    ],
)
def test_files_that_cannot_be_tables_are_refused_with_the_reason(tmp_path: Path, data: bytes, reason: str) -> None:
    (tmp_path / "x.csv").write_bytes(data)
    with pytest.raises(ExportReadError, match=reason):
        open_export(tmp_path / "x.csv")


def test_a_quote_that_would_swallow_whole_records_is_unterminated(tmp_path: Path) -> None:
    path = tmp_path / "swallow.csv"
    path.write_text(
        'patient_id,note,age\nP1,"never closed,58\nP2,y,57\nP3,x",56\nP4,"two\nlines",55\n', encoding="utf-8"
    )
    raw = read_export(path)
    assert raw.frame["patient_id"].tolist() == ["P2", "P3", "P4"] and raw.lines.tolist() == [3, 4, 5]
    assert raw.frame["note"].tolist() == ["y", 'x"', "two\nlines"]
    assert raw.faults[["line", "rule"]].values.tolist() == [[2, "unterminated_quote"]]
