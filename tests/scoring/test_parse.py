"""Vectorised parsing against the contract's own parser (the reference), and one reject record per problem."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from spineoutcome.bundle import ModelBundle
from spineoutcome.scoring import load_scoring_model, parse_predictors


@pytest.fixture(scope="module")
def bundle(store, versions) -> ModelBundle:
    return load_scoring_model(versions["logistic"]).bundle


def corrupt(export: pd.DataFrame) -> pd.DataFrame:
    rows = export.head(12).copy().reset_index(drop=True)
    rows.loc[0, "age"] = "seventy"  # not a number
    rows.loc[1, "planned_levels"] = "2.5"  # not a whole number
    rows.loc[2, "diabetes"] = "maybe"  # not yes/no
    rows.loc[3, "sex"] = "unknown"  # not a category
    rows.loc[4, "bmi"] = "75"  # outside [12, 60]
    rows.loc[5, "age"] = "inf"  # not finite
    rows.loc[6, ["age", "sex", "diabetes"]] = [" NA ", "MALE", "Yes"]  # missing code, spellings: valid
    rows.loc[7, "bmi"] = ""  # missing: valid, imputed
    return rows


def test_valid_rows_parse_exactly_as_the_contract_parses_them(bundle: ModelBundle, hospital) -> None:
    rows = corrupt(hospital.export)
    ours = parse_predictors(rows, bundle.contract)
    reference = bundle.contract.parse(rows)
    bad = np.zeros(len(rows), dtype=bool)
    for problem in ours.problems:
        bad[problem.positions] = True
    expected_bad = (~reference.valid).to_numpy()
    expected_bad[5] = True  # 'inf' is refused here; the contract passes it on as a number
    assert bad.tolist() == expected_bad.tolist()
    pd.testing.assert_frame_equal(ours.frame[~bad], reference.frame[~bad])


def test_each_problem_names_column_and_rule(bundle: ModelBundle, hospital) -> None:
    ours = parse_predictors(corrupt(hospital.export), bundle.contract)
    found = {(p.column, p.rule, tuple(p.positions)) for p in ours.problems}
    assert found == {
        ("age", "not_a_number", (0, 5)),
        ("planned_levels", "not_a_whole_number", (1,)),
        ("diabetes", "not_a_boolean", (2,)),
        ("sex", "unknown_category", (3,)),
        ("bmi", "out_of_range", (4,)),
    }
    reasons = {p.rule: p.reason for p in ours.problems}
    assert reasons["out_of_range"] == "outside the allowed range [12, 60]"
    assert "female, male" in reasons["unknown_category"]


def test_missing_values_are_flagged_not_rejected(bundle: ModelBundle, hospital) -> None:
    ours = parse_predictors(corrupt(hospital.export), bundle.contract)
    names = bundle.contract.names
    assert ours.missing[6, names.index("age")] and ours.missing[7, names.index("bmi")]
    row = ours.frame.iloc[6]
    assert pd.isna(row["age"]) and row["sex"] == "male" and bool(row["diabetes"])


def test_decimal_comma(bundle: ModelBundle, hospital) -> None:
    rows = hospital.export.head(3).copy()
    dotted = parse_predictors(rows, bundle.contract).frame
    rows["age"] = rows["age"].str.replace(".", ",", regex=False)
    rows["occupying_ratio"] = rows["occupying_ratio"].str.replace(".", ",", regex=False)
    comma = parse_predictors(rows, bundle.contract, decimal=",")
    assert not comma.problems
    pd.testing.assert_frame_equal(comma.frame, dotted)


def test_distinct_values_rebuild_every_column(bundle: ModelBundle, hospital) -> None:
    ours = parse_predictors(hospital.export, bundle.contract)
    for name in bundle.contract.names:
        rebuilt = ours.distinct.uniques[name].take(ours.distinct.codes[name]).reset_index(drop=True)
        pd.testing.assert_series_equal(rebuilt, ours.frame[name].reset_index(drop=True), check_names=False)
