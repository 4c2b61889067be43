"""Per-variable missing codes, console privacy of problem messages, per-file reading options."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from spineoutcome.data import ExportReadError, load_tables, read_export, validate_export
from spineoutcome.dictionary import DataDictionary, DictionaryError, builtin_dictionary_dir

from .conftest import clinical_row, write_csv


def _validate(path: Path, dictionary: DataDictionary):
    return validate_export(read_export(path), "clinical", dictionary)


def test_a_code_inside_the_range_is_a_value_outside_it_missing(tmp_path, dictionary):
    rows = [clinical_row("P001", last_followup_day="999", age="-99"), clinical_row("P002", age="999")]
    report = _validate(write_csv(tmp_path / "clinical.csv", rows), dictionary)
    assert report.rows_rejected == 0
    assert report.clean["last_followup_day"].tolist()[0] == 999  # 999 days of follow-up is real
    assert report.clean["age"].isna().all()  # -99 and 999 are age's own missing codes


def test_every_variable_has_its_own_codes_and_none_is_a_valid_value(dictionary):
    assert "999" not in dictionary.patient_table["last_followup_day"].missing_codes
    assert "999" in dictionary.patient_table["age"].missing_codes
    assert "-99" not in dictionary.table("proms")["day"].missing_codes
    for table in dictionary.tables.values():
        for var in table.variables:
            for code in var.missing_codes:
                if var.range is not None and code.strip():
                    try:
                        number = float(code)
                    except ValueError:
                        continue
                    assert not var.range[0] <= number <= var.range[1], (var.name, code)


def _dictionary_copy(tmp_path: Path, edit) -> Path:
    target = tmp_path / "dictionary"
    shutil.copytree(builtin_dictionary_dir(), target)
    doc = yaml.safe_load((target / "variables.yaml").read_text(encoding="utf-8"))
    edit(doc)
    (target / "variables.yaml").write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")
    return target


def test_the_dictionary_refuses_an_own_missing_code_inside_the_range(tmp_path):
    def edit(doc):
        for var in doc["tables"]["clinical"]["variables"]:
            if var["name"] == "last_followup_day":
                var["missing_codes"] = ["999"]

    with pytest.raises(DictionaryError, match="last_followup_day.*valid values"):
        DataDictionary.load(_dictionary_copy(tmp_path, edit))


def test_a_default_code_that_is_a_category_is_not_missing_for_it(tmp_path):
    def edit(doc):
        for var in doc["tables"]["clinical"]["variables"]:
            if var["name"] == "smoking":
                var["categories"] = [*var["categories"], "NA"]

    dd = DataDictionary.load(_dictionary_copy(tmp_path, edit))
    assert "NA" not in dd.patient_table["smoking"].missing_codes
    assert "NA" in dd.patient_table["bmi"].missing_codes


def test_messages_hide_keys_identifying_values_and_long_values(tmp_path, dictionary):
    rows = [clinical_row("P001", age="P002"), clinical_row("P002", bmi="x" * 500), clinical_row("", sex="alien")]
    path = write_csv(tmp_path / "clinical.csv", rows)
    path.write_text(path.read_text() + "P009,too,few\n")
    report = _validate(path, dictionary)
    text = "\n".join(report.messages())
    assert "P002" not in text and "P009" not in text and "x" * 41 not in text
    assert "<a patient key: hidden>" in text and "whole line" in text and "'alien'" in text
    assert "'" + "x" * 39 + "…'" in text


def test_notes_never_print_a_data_row_of_a_headerless_file(tmp_path, dictionary):
    rows = [clinical_row("P001"), clinical_row("P002")]
    path = tmp_path / "clinical.csv"
    path.write_text("\n".join(",".join(r.values()) for r in rows) + "\n")
    report = _validate(path, dictionary)
    assert report.fatal and "header line missing" in report.fatal[0]
    assert not report.notes and "P001" not in " ".join(report.fatal)
    assert set(report.rejects["rule"]) == {"no_header"} and report.rows_in == 1


def test_each_file_of_a_folder_has_its_own_decimal_mark(tmp_path, dictionary):
    from spineoutcome.data.synth import generate_cohort

    generate_cohort(tmp_path, n=20, seed=3, tables=["clinical", "imaging"])
    english = (tmp_path / "clinical.csv").read_text(encoding="utf-8")
    (tmp_path / "clinical.csv").write_text(english.replace(",", ";").replace(".", ","), encoding="utf-8")
    column_map = tmp_path / "map.yaml"
    column_map.write_text(yaml.safe_dump({"clinical": {"options": {"decimal": ","}}}), encoding="utf-8")
    loaded = load_tables(tmp_path, dictionary, column_map=column_map, tables=["clinical", "imaging"])
    assert loaded.reports["clinical"].rows_rejected == loaded.reports["imaging"].rows_rejected == 0
    assert loaded.reports["clinical"].rows_clean == loaded.reports["imaging"].rows_clean == 20
    expected = pd.read_csv(pd.io.common.StringIO(english))["bmi"].to_numpy()
    np.testing.assert_allclose(loaded["clinical"]["bmi"].to_numpy(dtype=float), expected, equal_nan=True)
    with pytest.raises(ExportReadError, match="decimal mark"):
        load_tables(tmp_path, dictionary, decimal="x")
    column_map.write_text(yaml.safe_dump({"clinical": {"options": {"decimal": ";"}}}), encoding="utf-8")
    with pytest.raises(ExportReadError, match="decimal must be"):
        load_tables(tmp_path, dictionary, column_map=column_map)


def test_a_repeated_header_column_is_refused_with_every_row_kept(tmp_path, dictionary):
    path = tmp_path / "clinical.csv"
    rows = [clinical_row("P001"), clinical_row("P002")]
    write_csv(path, rows)
    text = path.read_text().splitlines()
    text[0] = text[0].replace("bmi", "age")
    path.write_text("\n".join(text) + "\n")
    report = _validate(path, dictionary)
    assert report.fatal and "'age' appear more than once" in report.fatal[0]
    assert report.rows_in == 2 and report.rows_rejected == 2 and report.rows_clean == 0
