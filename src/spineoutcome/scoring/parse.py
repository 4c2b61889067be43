"""Vectorised parsing of export text by a model's input contract, with one reject record per problem.

The rules are the contract's (:meth:`spineoutcome.bundle.InputContract.parse`): values are
stripped; each predictor's own missing codes mean missing (never a value inside its range);
categories and yes/no values are matched case-insensitively; numbers must parse, integers must be
whole, values must lie in the dictionary's range; a predictor the dictionary declares non-nullable
must have a value. On valid rows the typed frame equals the contract's (tested), so a score here is
the score the MLflow model gives. Three additions for exports: a declared decimal comma; infinite
numbers (``inf``), which the contract would pass on, are refused as not a number; a whole number
beyond 2**53, which cannot be held exactly, is out of range.

Each column is parsed once per distinct text (pandas' hash factorisation) and the results are
gathered back to the rows, which keeps parsing vectorised and cheap at registry scale; the codes
are kept (:class:`~spineoutcome.scoring.design.DistinctValues`) for the design of the model.

Unlike the contract, which writes one problem text per row, each problem here is a record
(positions, column, rule, reason) with the rule names of :mod:`spineoutcome.data.validate`, so the
rejects file can give line, patient key, column, value and reason.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from spineoutcome.bundle import InputContract, PredictorSpec
from spineoutcome.data.validate import RULES
from spineoutcome.scoring.design import DistinctValues


@dataclass(frozen=True)
class Problem:
    """Rows (positions in the chunk) where ``column`` breaks ``rule``."""

    positions: np.ndarray
    column: str
    rule: str
    reason: str


@dataclass(frozen=True)
class ParsedPredictors:
    """Typed predictor columns (training dtypes), which values were missing, the problems, and the
    columns as codes into their distinct parsed values."""

    frame: pd.DataFrame
    missing: np.ndarray
    problems: list[Problem]
    distinct: DistinctValues


def parse_predictors(text: pd.DataFrame, contract: InputContract, *, decimal: str = ".") -> ParsedPredictors:
    """Parse the contract's predictor columns of ``text`` (strings, '' for empty)."""
    true_values = {v.lower() for v in contract.true_values}
    false_values = {v.lower() for v in contract.false_values}
    columns: dict[str, pd.Series] = {}
    codes: dict[str, np.ndarray] = {}
    uniques: dict[str, pd.Series] = {}
    missing = np.zeros((len(text), len(contract.predictors)), dtype=bool)
    problems: list[Problem] = []
    for j, spec in enumerate(contract.predictors):
        code, distinct = pd.factorize(text[spec.name].to_numpy(dtype=object), use_na_sentinel=False)
        values = pd.Series([v.strip() if isinstance(v, str) else "" for v in distinct], dtype=object)
        is_missing = values.isin(list(contract.codes_for(spec))).to_numpy()
        typed, found = _parse_column(spec, values, is_missing, true_values, false_values, decimal)
        column = typed.take(code)
        column.index = text.index
        columns[spec.name] = column
        codes[spec.name], uniques[spec.name] = code, typed.reset_index(drop=True)
        missing[:, j] = is_missing[code]
        if spec.required:
            found.append(Problem(np.flatnonzero(is_missing), spec.name, "missing_value", RULES["missing_value"]))
        problems += [
            Problem(np.flatnonzero(np.isin(code, p.positions)), p.column, p.rule, p.reason)
            for p in found
            if len(p.positions)
        ]
    frame = pd.DataFrame(columns, index=text.index)
    return ParsedPredictors(frame, missing, problems, DistinctValues(codes, uniques, len(text)))


def _parse_column(
    spec: PredictorSpec,
    values: pd.Series,
    is_missing: np.ndarray,
    true_values: set[str],
    false_values: set[str],
    decimal: str,
) -> tuple[pd.Series, list[Problem]]:
    name = spec.name
    if spec.dtype == "category":
        categories = list(spec.categories or ())
        canonical = {c.lower(): c for c in categories}
        levels = values.str.lower().map(canonical)
        unknown = levels.isna().to_numpy() & ~is_missing
        typed = pd.Series(
            pd.Categorical(levels.where(~unknown & ~is_missing), categories=categories), index=values.index
        )
        allowed = ", ".join(canonical.values())
        return typed, [
            Problem(np.flatnonzero(unknown), name, "unknown_category", f"not one of the allowed categories ({allowed})")
        ]
    if spec.dtype == "bool":
        lowered = values.str.lower()
        yes = lowered.isin(true_values).to_numpy()
        no = lowered.isin(false_values).to_numpy()
        unparsed = ~yes & ~no & ~is_missing
        typed = pd.Series(pd.array(yes, dtype="boolean"), index=values.index)
        typed[~(yes | no)] = pd.NA
        accepted = ", ".join(sorted(true_values | false_values))
        return typed, [
            Problem(np.flatnonzero(unparsed), name, "not_a_boolean", f"not a yes/no value (accepted: {accepted})")
        ]
    present = values.where(~is_missing)
    if decimal != ".":
        present = present.str.replace(decimal, ".", regex=False)
    numbers = pd.to_numeric(present, errors="coerce").astype("float64").to_numpy(copy=True)
    unparsed = ~np.isfinite(numbers) & ~is_missing
    numbers[unparsed] = np.nan
    problems = [Problem(np.flatnonzero(unparsed), name, "not_a_number", RULES["not_a_number"])]
    if spec.dtype == "int":
        huge = np.abs(np.nan_to_num(numbers)) >= 2.0**53
        problems.append(
            Problem(np.flatnonzero(huge), name, "out_of_range", "too large to be a whole number of this predictor")
        )
        numbers[huge] = np.nan
        fractional = ~np.isnan(numbers) & (numbers != np.round(numbers))
        problems.append(Problem(np.flatnonzero(fractional), name, "not_a_whole_number", RULES["not_a_whole_number"]))
        numbers[fractional] = np.nan
    if spec.range is not None:
        lo, hi = spec.range
        outside = ~np.isnan(numbers) & ((numbers < lo) | (numbers > hi))
        problems.append(
            Problem(np.flatnonzero(outside), name, "out_of_range", f"outside the allowed range [{lo:g}, {hi:g}]")
        )
    series = pd.Series(numbers, index=values.index)
    typed = series.round().astype("Int64") if spec.dtype == "int" else series
    return typed, problems
