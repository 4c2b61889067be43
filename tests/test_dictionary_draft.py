"""``dictionary init`` drafts, optional roles and undecided timings; the ``column`` outcome kind."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from typer.testing import CliRunner

from spineoutcome.cli import app
from spineoutcome.data import load_tables
from spineoutcome.data.sources import read_export
from spineoutcome.dictionary import LINE_KEY, DataDictionary, DictionaryError, PredictorError
from spineoutcome.dictionary_draft import draft_dictionary, plausible_range
from spineoutcome.outcomes import derive_outcome


def _table(tmp_path: Path) -> Path:
    rng = np.random.default_rng(3)
    n = 60
    frame = pd.DataFrame(
        {
            "patient_id": [f"P{i:03d}" for i in range(n)],
            "hospital": rng.choice(["north", "south"], n),
            "surgery_date": pd.date_range("2020-01-01", periods=n, freq="7D").strftime("%Y-%m-%d"),
            "age": rng.integers(40, 80, n).astype(str),
            "bmi": np.round(rng.normal(27, 4, n), 1).astype(str),
            "smoker": rng.choice(["yes", "no"], n),
            "outcome": rng.choice(["good", "poor", "failed"], n),
        }
    )
    frame.loc[[3, 9], "bmi"] = "-99"
    frame.loc[[5], "age"] = "?"
    path = tmp_path / "cohort.csv"
    frame.to_csv(path, index=False)
    return path


def test_the_draft_guesses_roles_types_ranges_and_missing_codes(tmp_path: Path):
    draft = draft_dictionary(read_export(_table(tmp_path)), "cohort")
    specs = {v.spec["name"]: v for v in draft.variables}
    assert specs["patient_id"].spec["role"] == "key"
    assert specs["hospital"].spec == {
        "name": "hospital",
        "dtype": "category",
        "categories": ["north", "south"],
        "role": "centre",
        "preoperative": False,
        "predictor": False,
        "description": "",
    }
    assert specs["surgery_date"].spec["dtype"] == "date" and specs["surgery_date"].spec["role"] == "surgery_date"
    assert specs["age"].spec["dtype"] == "int" and specs["age"].spec["role"] == "age"
    assert specs["smoker"].spec["dtype"] == "bool"
    assert specs["outcome"].spec["categories"] == ["failed", "good", "poor"]
    assert "?" in draft.missing_codes
    assert any("-99" in note for note in specs["bmi"].notes)
    low, high = specs["bmi"].spec["range"]
    assert low >= 0 and high > 27
    assert {v.spec["preoperative"] for v in draft.variables if v.spec.get("role") is None} == {"undecided"}
    out = tmp_path / "dict"
    out.mkdir()
    (out / "variables.yaml").write_text(draft.to_yaml(), encoding="utf-8")
    dictionary = DataDictionary.load(out)
    assert dictionary.key == "patient_id" and not dictionary.line_number_key
    assert dictionary.column("centre") == "hospital"
    assert dictionary.undecided == ["age", "bmi", "smoker", "outcome"]


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ([21.0, 80.0], [0, 100]),  # span 59, a quarter 14.75: [6.25, 94.75] outwards to tens, not below 0
        ([-3.2, 4.1], [-6, 6]),  # span 7.3, a quarter 1.825: [-5.025, 5.925] outwards to units
        ([1000.0, 1000.0], [700, 1300]),  # one value, its magnitude the span: [750, 1250] outwards to hundreds
    ],
)
def test_plausible_range_by_hand(values, expected):
    assert plausible_range(np.asarray(values)) == pytest.approx(expected)


def test_dictionary_init_refuses_to_overwrite_and_check_exit_codes(tmp_path: Path):
    data = _table(tmp_path)
    runner = CliRunner()
    assert runner.invoke(app, ["dictionary", "init", str(data), "--out", str(tmp_path / "d")]).exit_code == 0
    again = runner.invoke(app, ["dictionary", "init", str(data), "--out", str(tmp_path / "d")])
    assert again.exit_code == 3 and "variables.yaml" in again.output
    assert runner.invoke(app, ["dictionary", "check", str(tmp_path / "d")]).exit_code == 1
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "variables.yaml").write_text(
        "tables:\n  t:\n    layout: wide\n    variables:\n      - {name: x, dtype: int, preoperative: maybe}\n",
        encoding="utf-8",
    )
    broken = runner.invoke(app, ["dictionary", "check", str(tmp_path / "broken")])
    assert broken.exit_code == 3 and "t.x: preoperative must be true, false or 'undecided'" in broken.output


def test_several_tables_need_a_key(tmp_path: Path):
    (tmp_path / "variables.yaml").write_text(
        yaml.safe_dump(
            {
                "tables": {
                    "a": {"layout": "wide", "variables": [{"name": "x", "dtype": "int"}]},
                    "b": {"layout": "long", "variables": [{"name": "y", "dtype": "int"}]},
                }
            }
        ),
        encoding="utf-8",
    )
    with pytest.raises(DictionaryError, match=r"table\(s\) \['a', 'b'\] have no column with role 'key'"):
        DataDictionary.load(tmp_path)


def test_undecided_predictors_are_refused_all_at_once(tmp_path: Path):
    (tmp_path / "variables.yaml").write_text(
        yaml.safe_dump(
            {
                "tables": {
                    "t": {
                        "layout": "wide",
                        "variables": [
                            {"name": "a", "dtype": "int", "preoperative": "undecided"},
                            {"name": "b", "dtype": "int", "preoperative": True},
                            {"name": "c", "dtype": "int", "preoperative": "undecided"},
                        ],
                    }
                }
            }
        ),
        encoding="utf-8",
    )
    dictionary = DataDictionary.load(tmp_path)
    assert dictionary.key == LINE_KEY
    with pytest.raises(PredictorError, match="timing of 2 predictor.s. is undecided: a, c"):
        dictionary.resolve_predictors(include=["a", "b", "c"])


def test_column_outcome_with_several_positive_values_and_missing_ones(tmp_path: Path):
    (tmp_path / "variables.yaml").write_text(
        yaml.safe_dump(
            {
                "tables": {
                    "t": {
                        "layout": "wide",
                        "variables": [
                            {"name": "x", "dtype": "int", "preoperative": True},
                            {"name": "result", "dtype": "category", "categories": ["good", "poor", "failed"]},
                        ],
                    }
                }
            }
        ),
        encoding="utf-8",
    )
    (tmp_path / "data").mkdir()
    pd.DataFrame({"x": [1, 2, 3, 4, 5], "result": ["good", "poor", "", "failed", "good"]}).to_csv(
        tmp_path / "data" / "t.csv", index=False
    )
    dictionary = DataDictionary.load(tmp_path)
    tables = load_tables(tmp_path / "data", dictionary).tables
    labels = derive_outcome(
        {"name": "bad_result", "kind": "column", "column": "result", "positive": ["poor", "failed"]}, tables, dictionary
    )
    assert labels.labels.to_dict() == {2: 0, 3: 1, 5: 1, 6: 0}
    assert labels.counts()["excluded"] == {"outcome missing (result empty)": 1}


def test_a_built_in_outcome_on_a_one_table_dictionary_names_every_missing_role(tmp_path: Path):
    from spineoutcome.config import ConfigError, load_pipeline

    (tmp_path / "variables.yaml").write_text(
        yaml.safe_dump(
            {"tables": {"t": {"layout": "wide", "variables": [{"name": "x", "dtype": "int", "preoperative": True}]}}}
        ),
        encoding="utf-8",
    )
    pipeline = tmp_path / "p.yaml"
    pipeline.write_text(
        yaml.safe_dump(
            {"name": "p", "outcome": "c5_palsy", "predictors": {"include": ["x"]}, "families": ["logistic"]}
        ),
        encoding="utf-8",
    )
    with pytest.raises(ConfigError) as info:
        load_pipeline(pipeline, DataDictionary.load(tmp_path))
    message = str(info.value)
    assert "2 problem(s)" in message
    assert "a c5_palsy outcome needs a patient-table column with role 'last_followup'" in message
    assert "a c5_palsy outcome needs a follow-up table with a column of role 'myelopathy_worsened'" in message


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "tables:\n  t:\n    layout: wide\n    variables:\n      - {name: x, dtype: int, range: [1, }\n",
            "not valid YAML",
        ),
        (
            "tables:\n  t:\n    layout: wide\n    variables:\n      - {name: x, dtype: integer}\n",
            "variable 'x' needs a name and a dtype in",
        ),
    ],
)
def test_a_broken_dictionary_file_is_named_with_exit_code_3(tmp_path: Path, text: str, expected: str):
    (tmp_path / "variables.yaml").write_text(text, encoding="utf-8")
    result = CliRunner().invoke(app, ["dictionary", "check", str(tmp_path)])
    assert result.exit_code == 3
    output = " ".join(result.output.split())
    assert "variables.yaml: " in output and expected in output
