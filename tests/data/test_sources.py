"""Reading exports: encodings, delimiters, decimal comma, XLSX, Parquet, line numbers, mapping."""

from __future__ import annotations

import pandas as pd
import pytest

from spineoutcome.data import ExportReadError, read_column_map, read_export, validate_export

from .conftest import clinical_row, write_csv


def test_utf8_bom_and_semicolon_are_detected(tmp_path, dictionary):
    path = write_csv(tmp_path / "clinical.csv", [clinical_row("P1"), clinical_row("P2")], sep=";", encoding="utf-8-sig")
    raw = read_export(path)
    assert raw.delimiter == ";" and raw.encoding == "utf-8-sig"
    assert raw.frame.columns[0] == "patient_id"
    assert validate_export(raw, "clinical", dictionary).rows_clean == 2


def test_latin1_export_is_decoded(tmp_path):
    path = write_csv(tmp_path / "clinical.csv", [clinical_row("Pé1", centre="Zürich-Süd")] * 1, encoding="latin-1")
    raw = read_export(path)
    assert raw.frame.loc[0, "centre"] == "Zürich-Süd"


def test_decimal_comma_when_declared(tmp_path, dictionary):
    path = write_csv(tmp_path / "clinical.csv", [clinical_row("P1", bmi="24,5")], sep=";")
    report = validate_export(read_export(path, decimal=","), "clinical", dictionary)
    assert report.clean.loc[0, "bmi"] == pytest.approx(24.5)
    undeclared = validate_export(read_export(path), "clinical", dictionary)
    assert undeclared.rejects["rule"].tolist() == ["not_a_number"]


def test_tab_separated(tmp_path, dictionary):
    path = write_csv(tmp_path / "clinical.tsv", [clinical_row("P1")], sep="\t")
    assert validate_export(read_export(path), "clinical", dictionary).rows_clean == 1


def test_line_numbers_skip_blank_lines_and_follow_quoted_line_breaks(tmp_path):
    text = 'patient_id,centre,note\nP1,C01,plain\n\nP2,C01,"two\nlines"\nP3,C01,last\n'
    path = tmp_path / "x.csv"
    path.write_text(text)
    assert read_export(path).lines.tolist() == [2, 4, 6]
    unquoted = tmp_path / "y.csv"
    unquoted.write_text("patient_id,centre\r\nP1,C01\r\n\r\nP2,C01\r\n")
    assert read_export(unquoted).lines.tolist() == [2, 4]


def test_xlsx_rows_are_sheet_rows(tmp_path, dictionary):
    rows = [clinical_row("P1"), clinical_row("P2", age="abc")]
    frame = pd.DataFrame(rows)
    frame["age"] = [64, "abc"]
    frame["surgery_date"] = pd.to_datetime(["2021-03-04", "2021-03-05"])
    path = tmp_path / "clinical.xlsx"
    frame.to_excel(path, index=False)
    report = validate_export(read_export(path), "clinical", dictionary)
    assert report.rejects[["line", "column", "rule"]].values.tolist() == [[3, "age", "not_a_number"]]
    assert report.clean.loc[0, "surgery_date"] == pd.Timestamp("2021-03-04")


def test_parquet_export(tmp_path, dictionary):
    path = tmp_path / "clinical.parquet"
    pd.DataFrame([clinical_row("P1"), clinical_row("P2", sex="?")]).to_parquet(path)
    report = validate_export(read_export(path), "clinical", dictionary)
    assert report.rejects[["line", "rule"]].values.tolist() == [[3, "unknown_category"]]


def test_column_mapping_renames_headers(tmp_path, dictionary):
    row = clinical_row("P1")
    row["PatNr"] = row.pop("patient_id")
    row["Alter"] = row.pop("age")
    path = write_csv(tmp_path / "clinical.csv", [row])
    mapping_file = tmp_path / "map.yaml"
    mapping_file.write_text("clinical:\n  PatNr: patient_id\n  Alter: age\n")
    mapping = read_column_map(mapping_file)
    report = validate_export(read_export(path, column_map=mapping["clinical"]), "clinical", dictionary)
    assert report.rows_clean == 1 and report.clean.loc[0, "age"] == 64


def test_unreadable_or_unknown_files_fail_clearly(tmp_path):
    with pytest.raises(ExportReadError, match="file not found"):
        read_export(tmp_path / "nope.csv")
    (tmp_path / "a.json").write_text("{}")
    with pytest.raises(ExportReadError, match="unsupported file type"):
        read_export(tmp_path / "a.json")
    (tmp_path / "dup.csv").write_text("patient_id,age,age\nP1,2,3\n")
    assert read_export(tmp_path / "dup.csv").repeated == ("age",)  # refused by validation, which knows the header


@pytest.mark.parametrize(("text", "encoding"), [("東京大学病院", "shift_jis"), ("서울대학교병원", "cp949")])
def test_asian_legacy_encodings_are_detected(tmp_path, text, encoding):
    path = write_csv(tmp_path / "clinical.csv", [clinical_row("P1", centre=text)], encoding=encoding)
    assert read_export(path).frame.loc[0, "centre"] == text
