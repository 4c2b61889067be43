"""The data dictionary: loading, roles, derived PROM columns and the leakage guard."""

from __future__ import annotations

import shutil

import pytest

from spineoutcome.dictionary import DataDictionary, DictionaryError, PredictorError, UnknownVariableError


@pytest.fixture(scope="module")
def dd() -> DataDictionary:
    return DataDictionary.load()


def test_roles_resolve_structural_columns(dd):
    assert dd.key == "patient_id"
    assert dd.column("centre") == "centre"
    assert dd.patient_table.name == "clinical"
    assert dd.table("proms").column("instrument") == "instrument"


def test_every_variable_is_fully_described(dd):
    for table in dd.tables.values():
        for var in (*table.variables, *table.patterns):
            assert var.description, var.name
            if var.dtype in ("float", "int") and var.role != "value":  # PROM values: ranges per instrument
                assert var.range is not None or var.regex is not None, var.name
            if var.dtype == "category":
                assert var.categories
            if var.predictor:
                assert var.preoperative, var.name


def test_postoperative_variables_can_never_be_predictors(dd):
    for name in ("ndi_12m", "last_followup_day", "complication_type", "deltoid_mmt"):
        with pytest.raises(PredictorError, match="after surgery"):
            dd.resolve_predictors(include=[name])
    with pytest.raises(PredictorError, match="bookkeeping"):
        dd.resolve_predictors(include=["centre"])


def test_groups_expand_to_preoperative_variables_and_patterns(dd):
    cols = dd.resolve_predictors(
        groups=["prom", "radiomics"], available=["original_glcm_Contrast", "diagnostics_Versions_PyRadiomics"]
    )
    assert "ndi_baseline" in cols and "ndi_12m" not in cols
    assert "original_glcm_Contrast" in cols and "diagnostics_Versions_PyRadiomics" not in cols
    assert dd.resolve_predictors(groups=["clinical"], exclude=["age"])[0] == "sex"


def test_misspelt_names_get_the_closest_match(dd):
    with pytest.raises(UnknownVariableError, match="did you mean 'occupying_ratio'"):
        dd.resolve_predictors(include=["ocupying_ratio"])
    with pytest.raises(UnknownVariableError, match="did you mean 'landmark'"):
        dd.resolve_predictors(groups=["landmarks"])


def test_a_hospital_dictionary_with_other_names_loads(tmp_path):
    src = DataDictionary.load().directory
    for f in ("variables.yaml", "instruments.yaml"):
        shutil.copy(src / f, tmp_path / f)
    text = (tmp_path / "variables.yaml").read_text().replace("name: patient_id,", "name: pat_nr,")
    (tmp_path / "variables.yaml").write_text(text.replace("[patient_id,", "[pat_nr,"))
    custom = DataDictionary.load(tmp_path)
    assert custom.key == "pat_nr"


def test_inconsistent_dictionary_is_refused(tmp_path):
    (tmp_path / "variables.yaml").write_text(
        "tables:\n  t:\n    layout: wide\n    variables:\n      - {name: a, dtype: category}\n"
    )
    with pytest.raises(DictionaryError, match="needs categories"):
        DataDictionary.load(tmp_path)


def test_unknown_variable_fields_are_refused(tmp_path):
    (tmp_path / "variables.yaml").write_text(
        "tables:\n  t:\n    layout: wide\n    variables:\n"
        "      - {name: a, dtype: float, role: key, description: Grip strength, left}\n"
    )
    with pytest.raises(DictionaryError, match="unknown field"):
        DataDictionary.load(tmp_path)
