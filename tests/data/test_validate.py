"""Each validation rule on a corrupted fixture: the rule, the line number and the message."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from spineoutcome.data import read_export, validate_export
from spineoutcome.dictionary import DataDictionary

from .conftest import CLINICAL_HEADER, clinical_row, write_csv


def _validate(path: Path, dictionary: DataDictionary, table: str = "clinical", **kw):
    return validate_export(read_export(path, **kw), table, dictionary)


def _only_problem(report, line: int) -> pd.Series:
    at_line = report.rejects[report.rejects["line"] == line]
    assert len(at_line) == 1, at_line
    return at_line.iloc[0]


@pytest.mark.parametrize(
    ("column", "value", "rule", "reason_part"),
    [
        ("age", "sixty", "not_a_number", "not a number"),
        ("asa_class", "2.5", "not_a_whole_number", "not a whole number"),
        ("diabetes", "maybe", "not_a_boolean", "not a yes/no value"),
        ("surgery_date", "04/03/2021", "not_a_date", "%Y-%m-%d"),
        ("sex", "unknown", "unknown_category", "female, male"),
        ("approach", "lateral", "unknown_category", "anterior, laminoplasty, posterior_fusion, combined"),
        ("age", "150", "out_of_range", "[18, 100]"),
        ("bmi", "8", "out_of_range", "[12, 60]"),
        ("deltoid_mmt_pre_left", "6", "out_of_range", "[0, 5]"),
        ("centre", "", "missing_value", "required"),
        ("last_followup_day", "NA", "missing_value", "required"),
    ],
)
def test_each_rule_names_line_column_value_and_rule(tmp_path, dictionary, column, value, rule, reason_part):
    rows = [clinical_row("P001"), clinical_row("P002", **{column: value}), clinical_row("P003")]
    report = _validate(write_csv(tmp_path / "clinical.csv", rows), dictionary)
    problem = _only_problem(report, line=3)
    assert (problem["column"], problem["value"], problem["rule"]) == (column, value, rule)
    assert reason_part in problem["reason"]
    assert report.rows_in == 3 and report.rows_clean == 2 and report.rows_rejected == 1
    message = report.messages()[0]
    assert f"line 3, column '{column}'" in message and f"rule: {rule}" in message
    assert "P002" not in message


def test_missing_code_is_missing_not_a_parse_error(tmp_path, dictionary):
    rows = [clinical_row("P001", bmi="-99"), clinical_row("P002", bmi="")]
    report = _validate(write_csv(tmp_path / "clinical.csv", rows), dictionary)
    assert report.rows_rejected == 0
    assert report.clean["bmi"].isna().all()


def test_duplicate_patient_key_rejects_every_copy(tmp_path, dictionary):
    rows = [clinical_row("P001"), clinical_row("P002"), clinical_row("P001", age="70")]
    report = _validate(write_csv(tmp_path / "clinical.csv", rows), dictionary)
    dup = report.rejects[report.rejects["rule"] == "duplicate_key"]
    assert sorted(dup["line"]) == [2, 4]
    assert report.rows_clean == 1 and report.rows_rejected == 2


def test_missing_required_column_refuses_the_file_and_keeps_every_row(tmp_path, dictionary):
    header = [c for c in CLINICAL_HEADER if c != "age"]
    rows = [clinical_row("P001"), clinical_row("P002")]
    report = _validate(write_csv(tmp_path / "clinical.csv", rows, header), dictionary)
    assert report.fatal and "'age'" in report.fatal[0]
    assert report.rows_in == 2 and report.rows_clean == 0 and report.rows_rejected == 2
    assert set(report.rejects["rule"]) == {"missing_column"}


def test_postoperative_column_in_a_preoperative_export_gets_its_own_message(tmp_path, dictionary):
    rows = [clinical_row("P001", complication_type="c5_palsy")]
    header = [*CLINICAL_HEADER, "complication_type"]
    report = _validate(write_csv(tmp_path / "clinical.csv", rows, header), dictionary)
    assert any(
        "'complication_type' is a post-operative variable" in n and "never be a predictor" in n for n in report.notes
    )
    assert "complication_type" not in report.clean.columns


def test_all_problems_reported_at_once_and_rows_in_equals_clean_plus_rejected(tmp_path, dictionary):
    rows = [clinical_row(f"P{i:03d}") for i in range(1, 21)]
    rows[2]["age"] = "abc"
    rows[2]["sex"] = "x"
    rows[5]["bmi"] = "300"
    rows[9]["surgery_date"] = "2021-02-30"
    rows[14]["patient_id"] = "P001"
    report = _validate(write_csv(tmp_path / "clinical.csv", rows), dictionary)
    assert report.rows_in == 20
    assert report.rows_clean + report.rows_rejected == report.rows_in
    assert sorted(report.rejects["line"].unique()) == [2, 4, 7, 11, 16]
    assert len(report.rejects[report.rejects["line"] == 4]) == 2


def test_prom_values_checked_against_their_instrument_and_item(tmp_path, dictionary):
    rows = [
        {"patient_id": "P1", "instrument": "joa", "timepoint": "baseline", "day": "-3", "item": "", "value": "12"},
        {"patient_id": "P1", "instrument": "joa", "timepoint": "12m", "day": "370", "item": "", "value": "18"},
        {"patient_id": "P1", "instrument": "ndi", "timepoint": "baseline", "day": "-3", "item": "q01", "value": "6"},
        {"patient_id": "P1", "instrument": "ndi", "timepoint": "baseline", "day": "-3", "item": "q11", "value": "1"},
        {"patient_id": "P1", "instrument": "vas", "timepoint": "baseline", "day": "-3", "item": "", "value": "1"},
        {"patient_id": "P1", "instrument": "ndi", "timepoint": "baseline", "day": "-3", "item": "q01", "value": "3"},
    ]
    report = _validate(write_csv(tmp_path / "proms.csv", rows), dictionary, table="proms")
    by_line = {int(r.line): r.rule for r in report.rejects.itertuples()}
    assert by_line[3] == "instrument_range"
    assert by_line[5] == "unknown_item"
    assert by_line[6] == "unknown_category"
    assert report.rejects[report.rejects["rule"] == "duplicate_record"]["line"].tolist() == [4, 7]
    assert report.rows_clean == 1


def test_categories_are_matched_case_insensitively(tmp_path, dictionary):
    report = _validate(
        write_csv(tmp_path / "clinical.csv", [clinical_row("P1", sex="Male", diagnosis="opll")]), dictionary
    )
    assert report.rows_rejected == 0
    assert report.clean.loc[0, "sex"] == "male" and report.clean.loc[0, "diagnosis"] == "OPLL"


def test_clean_rows_have_dictionary_dtypes(tmp_path, dictionary):
    report = _validate(write_csv(tmp_path / "clinical.csv", [clinical_row("P1")]), dictionary)
    dtypes = report.clean.dtypes
    assert str(dtypes["age"]) == "float64"
    assert str(dtypes["asa_class"]) == "Int64"
    assert str(dtypes["diabetes"]) == "boolean"
    assert str(dtypes["sex"]) == "category"
    assert str(dtypes["surgery_date"]).startswith("datetime64")


def test_radiomics_pattern_columns_are_validated_as_numbers(tmp_path, dictionary):
    rows = [
        {
            "patient_id": "P1",
            "original_glcm_Contrast": "1.5",
            "wavelet-LLH_glrlm_RunEntropy": "x",
            "diagnostics_Mask-original_VoxelNum": "120",
        }
    ]
    report = _validate(write_csv(tmp_path / "radiomics.csv", rows), dictionary, table="radiomics")
    assert report.rejects[["column", "rule"]].values.tolist() == [["wavelet-LLH_glrlm_RunEntropy", "not_a_number"]]
    assert any("diagnostics_Mask-original_VoxelNum" in n for n in report.notes)
