"""The comparator expression language: what it refuses (naming the token), and that what it accepts gives the
values pandas gives for the same rule written by hand, with missing values in three-valued logic."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from spineoutcome.comparators import (
    MAX_LENGTH,
    ComparatorExpressionError,
    check_syntax,
    compile_expression,
)
from spineoutcome.config import ConfigError, load_pipeline
from spineoutcome.dictionary import DataDictionary


@pytest.fixture(scope="module")
def dd() -> DataDictionary:
    return DataDictionary.load()


@pytest.fixture(scope="module")
def frame() -> pd.DataFrame:
    """Twelve patients with the dictionary's dtypes (as the cohort has them), some values missing."""
    rng = np.random.default_rng(4)
    n = 12
    age = pd.Series(rng.uniform(40, 85, n).round(1))
    age[[2, 7]] = np.nan
    levels = pd.Series(rng.integers(1, 7, n), dtype="Int64")
    levels[[3, 7]] = pd.NA
    k_line = pd.Series(rng.choice(["positive", "negative"], n), dtype="category")
    k_line[5] = np.nan
    diabetes = pd.Series(rng.random(n) < 0.4, dtype="boolean")
    diabetes[[0, 2]] = pd.NA
    return pd.DataFrame(
        {
            "age": age,
            "planned_levels": levels,
            "k_line": k_line,
            "diabetes": diabetes,
            "occupying_ratio": rng.uniform(10, 90, n).round(1),
            "approach": pd.Series(rng.choice(["anterior", "laminoplasty", "posterior_fusion"], n), dtype="category"),
        }
    )


REFUSED = [
    ("__import__('os').system('true')", "rule", "function calls are not allowed"),
    ("age.__class__", "score", "attribute access is not allowed"),
    ("age.real", "score", "attribute access is not allowed"),
    ("(lambda: age)()", "score", "function calls"),
    ("lambda: 1", "score", "lambda is not allowed"),
    ("age[0]", "score", "subscripts are not allowed"),
    ("__builtins__", "score", "names starting with '_'"),
    ("_secret > 1", "rule", "names starting with '_'"),
    ("age ** 99999", "score", "an exponent must be a number between"),
    ("age ** age", "score", "an exponent must be a number between"),
    ("2 ** 10 ** 10", "score", "an exponent must be a number between"),
    ("[x for x in age]", "rule", "ListComp is not allowed"),
    ("age if diabetes else 0", "score", "conditional expressions are not allowed"),
    ("age > 65 & diabetes", "rule", "'&' is not allowed (write 'and')"),
    ("age > 65 | diabetes", "rule", "'|' is not allowed (write 'or')"),
    ("~diabetes", "rule", "'~' is not allowed (write 'not')"),
    ("age // 10", "score", "'//' is not allowed"),
    ("diabetes is True", "rule", "'is' is not allowed"),
    ("f'{age}'", "score", "JoinedStr is not allowed"),
    ("age > None", "rule", "only numbers, quoted labels, True and False"),
    ("(age := 3)", "score", "NamedExpr is not allowed"),
    ("age >", "rule", "is not a valid expression"),
    ("age > " + "9" * 400, "rule", "numbers must lie within"),
    ("age > 1e999", "rule", "numbers must lie within"),
    ("", "rule", "the expression is empty"),
    ("a" * (MAX_LENGTH + 1), "score", f"longer than {MAX_LENGTH} characters"),
    ("-" * 400 + "age", "score", "more than"),
]


@pytest.mark.parametrize(("text", "kind", "why"), REFUSED)
def test_the_syntax_check_refuses_everything_outside_the_language(
    dd: DataDictionary, text: str, kind: str, why: str
) -> None:
    with pytest.raises(ComparatorExpressionError, match=None) as info:
        compile_expression(text, dd, kind)  # type: ignore[arg-type]
    assert why in str(info.value)


DICTIONARY_REFUSALS = [
    ("kline == 'negative'", "rule", "kline", "did you mean 'k_line'"),
    ("k_line == 'neg'", "rule", "'neg'", "not a category of k_line"),
    ("approach in ['laminoplasty', 'bogus']", "rule", "'bogus'", "not a category of approach"),
    ("k_line > 'negative'", "rule", "k_line > 'negative'", "only be compared with == or !="),
    ("k_line == 1", "rule", "k_line == 1", "compared with a quoted label"),
    ("age == 'old'", "rule", "age == 'old'", "compared with a quoted label"),
    ("deltoid_mmt < 4", "rule", "deltoid_mmt", "not a pre-operative predictor"),
    ("centre == 'A'", "rule", "centre", "not a pre-operative predictor"),
    ("surgery_date > 3", "rule", "surgery_date", "not a pre-operative predictor"),
    ("age", "rule", "age", "a rule must give true/false, this gives a number"),
    ("age > 65", "score", "age > 65", "a score must give a number, this gives true/false"),
    ("k_line", "score", "k_line", "this gives a category"),
    ("diabetes + 1", "score", "diabetes", "arithmetic needs numbers"),
    ("not age", "rule", "age", "'not' needs true/false"),
    ("age and diabetes", "rule", "age", "'and' needs true/false"),
    ("k_line in 'negative'", "rule", "'negative'", "'in' needs a non-empty literal list"),
    ("age in [60, age]", "rule", "age", "a number is compared with literal numbers"),
    ("[1, 2]", "score", "[1, 2]", "a list is only allowed after 'in'"),
]


@pytest.mark.parametrize(("text", "kind", "token", "why"), DICTIONARY_REFUSALS)
def test_names_categories_and_types_are_checked_against_the_dictionary(
    dd: DataDictionary, text: str, kind: str, token: str, why: str
) -> None:
    check_syntax(text)  # the syntax is fine: only the dictionary can refuse these
    with pytest.raises(ComparatorExpressionError) as info:
        compile_expression(text, dd, kind)  # type: ignore[arg-type]
    assert str(info.value).startswith(f"{token!r}:"), str(info.value)
    assert why in str(info.value)


def _kleene(value: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """A pandas nullable-boolean result as (flagged, known)."""
    return value.fillna(False).to_numpy(dtype=bool), value.notna().to_numpy(dtype=bool)


def test_rules_and_scores_equal_the_same_rule_written_in_pandas(dd: DataDictionary, frame: pd.DataFrame) -> None:
    age = frame["age"].astype("Float64")
    levels = frame["planned_levels"].astype("Float64")
    k_line = frame["k_line"].astype("string")
    diabetes = frame["diabetes"]
    ratio = frame["occupying_ratio"].astype("Float64")
    # pandas' nullable booleans implement Kleene logic: an independent reference for and/or/not with NA.
    expected_rules = {
        "k_line == 'negative'": k_line == "negative",
        "age > 65 and planned_levels >= 3": (age > 65) & (levels >= 3),
        "age > 65 or diabetes": (age > 65) | diabetes,
        "not diabetes": ~diabetes,
        "40 <= occupying_ratio < 60": (ratio >= 40) & (ratio < 60),
        "approach in ['laminoplasty', 'posterior_fusion']": frame["approach"]
        .astype("string")
        .isin(["laminoplasty", "posterior_fusion"])
        .astype("boolean"),
        "planned_levels not in [1, 2]": (~levels.isin([1.0, 2.0])).mask(levels.isna()),
        "diabetes == False": diabetes == False,  # noqa: E712 - the rule's own spelling
        "(age - 60) / 5 * 2 + -1 > planned_levels ** 2": ((age - 60) / 5 * 2 - 1) > levels**2,
    }
    for text, reference in expected_rules.items():
        result = compile_expression(text, dd, "rule").evaluate(frame)
        flagged, known = _kleene(reference.astype("boolean"))
        np.testing.assert_array_equal(result.known, known, err_msg=text)
        np.testing.assert_array_equal(result.values, flagged, err_msg=text)
        assert result.n_unknown == int((~known).sum())
    score = compile_expression("18 - occupying_ratio / 10 + age ** 2 / 1000", dd, "score").evaluate(frame)
    reference = (18 - ratio / 10 + age**2 / 1000).to_numpy(dtype=float, na_value=np.nan)
    np.testing.assert_allclose(score.values, reference, equal_nan=True)
    np.testing.assert_array_equal(score.known, ~np.isnan(reference))


def test_kleene_logic_decides_without_the_missing_value_when_it_can(dd: DataDictionary) -> None:
    frame = pd.DataFrame(
        {
            "age": [50.0, 70.0, np.nan, np.nan],
            "planned_levels": pd.Series([pd.NA, pd.NA, 2, 5], dtype="Int64"),
        }
    )
    both = compile_expression("age > 65 and planned_levels >= 4", dd, "rule").evaluate(frame)
    assert both.known.tolist() == [True, False, True, False]  # 50 -> false whatever the levels; 2 levels -> false
    assert both.values.tolist() == [False, False, False, False]
    either = compile_expression("age > 65 or planned_levels >= 4", dd, "rule").evaluate(frame)
    assert either.known.tolist() == [False, True, False, True]  # 70 -> true whatever the levels
    assert either.values.tolist() == [False, True, False, True]


def test_division_by_zero_is_unknown_not_infinite(dd: DataDictionary) -> None:
    frame = pd.DataFrame({"age": [60.0, 60.0], "planned_levels": pd.Series([0, 3], dtype="Int64")})
    result = compile_expression("age / planned_levels", dd, "score").evaluate(frame)
    assert result.known.tolist() == [False, True]
    assert np.isnan(result.values[0]) and result.values[1] == 20.0


def _pipeline(tmp_path: Path, comparators: list[dict]) -> Path:
    spec = {
        "name": "with_rules",
        "outcome": "complication_any",
        "predictors": {"include": ["age", "k_line"]},
        "families": ["logistic"],
        "comparators": comparators,
    }
    path = tmp_path / "with_rules.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False), encoding="utf-8")
    return path


def test_a_bad_comparator_is_a_config_error_naming_file_comparator_and_token(tmp_path: Path) -> None:
    path = _pipeline(
        tmp_path,
        [
            {"name": "K-line (-)", "rule": "k_line == 'neg'", "source": "Fujiyoshi et al., Spine 2008;33:E990-E993"},
            {"name": "calls", "rule": "open('x')", "source": "none"},
        ],
    )
    with pytest.raises(ConfigError) as info:
        load_pipeline(path)
    message = str(info.value)
    assert str(path) in message and "comparator 'calls'" in message and "function calls are not allowed" in message
    path = _pipeline(
        tmp_path,
        [{"name": "K-line (-)", "rule": "k_line == 'neg'", "source": "Fujiyoshi et al., Spine 2008;33:E990-E993"}],
    )
    with pytest.raises(ConfigError) as info:
        load_pipeline(path)
    message = str(info.value)
    assert (
        str(path) in message and "'K-line (-)' (rule)" in message and "\"'neg'\": not a category of k_line" in message
    )


@pytest.mark.parametrize(
    ("entry", "why"),
    [
        ({"name": "both", "rule": "age > 65", "score": "age", "source": "x"}, "give exactly one of rule or score"),
        ({"name": "none", "source": "x"}, "give exactly one of rule or score"),
        ({"name": "no source", "rule": "age > 65"}, "source"),
        ({"name": "", "rule": "age > 65", "source": "x"}, "name"),
    ],
)
def test_the_schema_wants_one_expression_a_name_and_a_source(tmp_path: Path, entry: dict, why: str) -> None:
    with pytest.raises(ConfigError, match=why):
        load_pipeline(_pipeline(tmp_path, [entry]))


def test_comparator_names_are_unique(tmp_path: Path) -> None:
    rule = {"name": "old", "rule": "age > 65", "source": "x"}
    with pytest.raises(ConfigError, match="every comparator needs its own name"):
        load_pipeline(_pipeline(tmp_path, [rule, rule]))


def test_comparators_need_a_binary_family(tmp_path: Path) -> None:
    spec = {
        "name": "time_with_rules",
        "outcome": "progression_time",
        "predictors": {"include": ["age"]},
        "families": [],
        "survival_families": ["weibull_aft"],
        "comparators": [{"name": "old", "rule": "age > 65", "source": "x"}],
    }
    path = tmp_path / "time_with_rules.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False), encoding="utf-8")
    with pytest.raises(ConfigError, match="rules are compared with binary-outcome models"):
        load_pipeline(path)
