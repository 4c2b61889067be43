"""The input contract of a model bundle: which columns a model reads, and how values are parsed.

The contract is derived from the data dictionary when the bundle is built and stored in it as
JSON, so a bundle parses its input by the dictionary's rules (missing codes, yes/no spellings,
category spellings, ranges, whole numbers) without needing the dictionary at scoring time.

Values may be raw export text (``"72.6"``, ``"yes"``, ``"NA"``) or typed (numbers, booleans,
categories). A value that cannot be used is never guessed: its row gets a ``problem`` text
(column and rule, never the value) and no prediction.

Through MLflow the input must also satisfy the model signature, which MLflow enforces before the
model sees the data: numeric predictors, including nullable integers and booleans (1 = yes,
0 = no), are declared ``double`` (DESIGN.md: a nullable integer cannot be an MLflow ``long``),
categories ``string``. :meth:`InputContract.conform` turns raw export rows into that format.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pandas as pd
from mlflow.types.schema import ColSpec, Schema

from spineoutcome.dictionary import DataDictionary, usable_missing_codes

PREDICTOR_DTYPES = ("float", "int", "bool", "category")


@dataclass(frozen=True)
class PredictorSpec:
    """One predictor column: its dictionary type, unit and allowed values.

    ``required``: a value must be given (the dictionary's ``nullable: false``); otherwise a missing
    value is allowed and imputed by the model. The column itself must always be present.
    """

    name: str
    dtype: str
    unit: str | None
    range: tuple[float, float] | None
    categories: tuple[str, ...] | None
    required: bool
    description: str
    missing_codes: tuple[str, ...] | None = None  # None (bundles before per-variable codes): the contract's

    @property
    def mlflow_type(self) -> str:
        return "string" if self.dtype == "category" else "double"


@dataclass(frozen=True)
class ParsedInput:
    """Input rows in the training dtypes, and per row the problems that block a prediction ('' = none)."""

    frame: pd.DataFrame
    problems: pd.Series

    @property
    def valid(self) -> pd.Series:
        return self.problems == ""


@dataclass(frozen=True)
class InputContract:
    """The predictors a model reads, in order, with the dictionary's parsing rules."""

    predictors: tuple[PredictorSpec, ...]
    missing_codes: tuple[str, ...]
    true_values: tuple[str, ...]
    false_values: tuple[str, ...]
    dictionary: dict[str, str]

    @classmethod
    def from_dictionary(cls, dictionary: DataDictionary, predictors: Sequence[str]) -> InputContract:
        specs = []
        for name in predictors:
            var = dictionary.variable(name)
            if var.dtype not in PREDICTOR_DTYPES:
                raise ValueError(f"predictor {name!r} has dtype {var.dtype!r}; a contract holds {PREDICTOR_DTYPES}")
            specs.append(
                PredictorSpec(
                    name=name,
                    dtype=var.dtype,
                    unit=var.unit,
                    range=var.range,
                    categories=var.categories,
                    required=not var.nullable,
                    description=var.description,
                    missing_codes=var.missing_codes,
                )
            )
        return cls(
            tuple(specs),
            dictionary.missing_codes,
            dictionary.true_values,
            dictionary.false_values,
            {
                "name": dictionary.name,
                "version": dictionary.version,
                "key": dictionary.key,
                "line_number_key": str(dictionary.line_number_key).lower(),
            },
        )

    @property
    def names(self) -> list[str]:
        return [p.name for p in self.predictors]

    def to_dict(self) -> dict[str, Any]:
        return {
            "predictors": [{**asdict(p), "mlflow_type": p.mlflow_type} for p in self.predictors],
            "missing_codes": list(self.missing_codes),
            "true_values": list(self.true_values),
            "false_values": list(self.false_values),
            "dictionary": dict(self.dictionary),
        }

    @classmethod
    def from_dict(cls, doc: dict[str, Any]) -> InputContract:
        specs = tuple(
            PredictorSpec(
                name=p["name"],
                dtype=p["dtype"],
                unit=p["unit"],
                range=tuple(p["range"]) if p["range"] is not None else None,
                categories=tuple(p["categories"]) if p["categories"] is not None else None,
                required=p["required"],
                description=p["description"],
                missing_codes=tuple(p["missing_codes"]) if p.get("missing_codes") is not None else None,
            )
            for p in doc["predictors"]
        )
        return cls(
            specs,
            tuple(doc["missing_codes"]),
            tuple(doc["true_values"]),
            tuple(doc["false_values"]),
            dict(doc["dictionary"]),
        )

    def mlflow_schema(self) -> Schema:
        """The MLflow input schema: every predictor column must be present; values may be missing."""
        return Schema([ColSpec(p.mlflow_type, p.name) for p in self.predictors])

    def parse(self, frame: pd.DataFrame) -> ParsedInput:
        """Typed predictor columns (training dtypes) and each row's problems; other columns are ignored."""
        absent = [name for name in self.names if name not in frame.columns]
        if absent:
            raise ValueError(
                f"the input lacks predictor column(s) {absent}; the model needs every column of its "
                "contract (a value may be empty)"
            )
        columns: dict[str, pd.Series] = {}
        problems = pd.Series("", index=frame.index, dtype=object)
        for spec in self.predictors:
            typed, issues = self._parse_column(spec, frame[spec.name])
            columns[spec.name] = typed
            for mask, reason in issues:
                problems = _append(problems, mask, f"{spec.name}: {reason}")
        return ParsedInput(pd.DataFrame(columns, index=frame.index), problems)

    def conform(self, frame: pd.DataFrame) -> tuple[pd.DataFrame, pd.Series]:
        """Rows in the MLflow signature's format (numbers as float64, categories as text) and their problems.

        A value that cannot be parsed is missing in the returned frame, where the model would
        impute it: rows with a problem must be reported, not scored from this frame.
        """
        parsed = self.parse(frame)
        out = {}
        for spec in self.predictors:
            column = parsed.frame[spec.name]
            out[spec.name] = (
                column.astype(object).where(column.notna(), None)
                if spec.dtype == "category"
                else column.astype("Float64").to_numpy(dtype=np.float64, na_value=np.nan)
            )
        return pd.DataFrame(out, index=frame.index), parsed.problems

    def _parse_column(self, spec: PredictorSpec, values: pd.Series) -> tuple[pd.Series, list[tuple[pd.Series, str]]]:
        raw = values.astype(object)
        text = raw.map(lambda v: v.strip() if isinstance(v, str) else v)
        codes = set(self.codes_for(spec))
        missing = raw.isna() | text.map(lambda v: isinstance(v, str) and v in codes).astype(bool)
        present = text.where(~missing)
        issues: list[tuple[pd.Series, str]] = []
        if spec.dtype == "category":
            canonical = {c.lower(): c for c in spec.categories or ()}
            levels = present.map(lambda v: canonical.get(str(v).lower()) if pd.notna(v) else None)
            allowed = ", ".join(canonical.values())
            issues.append((levels.isna() & ~missing, f"not one of the allowed categories ({allowed})"))
            typed = pd.Series(pd.Categorical(levels, categories=list(spec.categories or ())), index=values.index)
        elif spec.dtype == "bool":
            flags = present.map(self._boolean)
            issues.append((flags.isna() & ~missing, "not a yes/no value (or 1/0)"))
            typed = pd.Series(pd.array(flags.tolist(), dtype="boolean"), index=values.index)
        else:
            numbers = pd.to_numeric(
                present.map(lambda v: float(v) if isinstance(v, (bool, np.bool_)) else v), errors="coerce"
            ).astype("float64")
            issues.append((numbers.isna() & ~missing, "not a number"))
            if spec.dtype == "int":
                fractional = numbers.notna() & (numbers != np.round(numbers))
                issues.append((fractional, "not a whole number"))
                numbers = numbers.where(~fractional)
            if spec.range is not None:
                lo, hi = spec.range
                outside = numbers.notna() & ~numbers.between(lo, hi)
                issues.append((outside, f"outside the allowed range [{lo:g}, {hi:g}]"))
            typed = numbers.round().astype("Int64") if spec.dtype == "int" else numbers
        if spec.required:
            issues.append((missing, "a value is required here"))
        return typed, issues

    def codes_for(self, spec: PredictorSpec) -> tuple[str, ...]:
        """The missing codes of one predictor: its own, or the contract's minus its valid values."""
        if spec.missing_codes is not None:
            return spec.missing_codes
        return usable_missing_codes(
            self.missing_codes, spec.dtype, spec.range, spec.categories, self.true_values, self.false_values
        )

    def _boolean(self, value: Any) -> bool | None:
        if isinstance(value, (bool, np.bool_)):
            return bool(value)
        if isinstance(value, str):
            lowered = value.lower()
            if lowered in {v.lower() for v in self.true_values}:
                return True
            if lowered in {v.lower() for v in self.false_values}:
                return False
            return None
        if isinstance(value, (int, float, np.number)) and value in (0, 1):
            return bool(value)
        return None


def _append(problems: pd.Series, mask: pd.Series, reason: str) -> pd.Series:
    mask = mask.fillna(False).astype(bool)
    return problems.where(~mask, problems.where(problems == "", problems + "; ") + reason)
