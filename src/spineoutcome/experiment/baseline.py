"""Baseline characteristics of the analysed patients, overall, by outcome and by centre (TRIPOD+AI 20b).

Aggregates only: for a continuous predictor the median, quartiles and number missing; for a
categorical or binary one the count and percentage of each level. Cells are computed the same
way for every column of the table, so the report can lay them out without recomputing anything.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from spineoutcome.dictionary import DataDictionary

MISSING_LABEL = "(missing)"


def baseline_table(X: pd.DataFrame, columns: dict[str, np.ndarray], dictionary: DataDictionary) -> dict[str, Any]:
    """Characteristics of every predictor in each column (a column is a boolean row mask).

    Returns ``{"columns": [{"label", "n"}], "rows": [{"variable", "unit", "kind", "level", "cells": [...]}]}``
    where a continuous cell is ``{"median", "q1", "q3", "missing"}`` and a level cell ``{"count", "percent"}``.
    """
    labels = list(columns)
    rows: list[dict[str, Any]] = []
    for var in X.columns:
        spec = dictionary.variable(var)
        series = X[var]
        if spec.dtype in ("float", "int") and spec.group != "radiomics":
            values = series.astype("float64")
            rows.append({"variable": var, "unit": spec.unit, "kind": "continuous", "level": None,
                         "cells": [_continuous(values[mask]) for mask in columns.values()]})
        elif spec.dtype in ("category", "bool"):
            text = series.astype(object).where(series.notna(), MISSING_LABEL).astype(str)
            levels = [str(c) for c in (spec.categories or ("True", "False"))] + [MISSING_LABEL]
            for level in levels:
                if (text == level).any():
                    rows.append({"variable": var, "unit": spec.unit, "kind": "level", "level": _level_name(level, spec.dtype),
                                 "cells": [_level(text[mask], level) for mask in columns.values()]})
    return {"columns": [{"label": k, "n": int(m.sum())} for k, m in zip(labels, columns.values(), strict=True)],
            "rows": rows}


def baseline_columns(y: np.ndarray, centres: np.ndarray, outcome_label: str) -> dict[str, dict[str, np.ndarray]]:
    """Column masks: overall and by outcome; and one per centre."""
    y = np.asarray(y)
    by_outcome = {"all patients": np.ones(len(y), dtype=bool), f"{outcome_label}: no": y == 0,
                  f"{outcome_label}: yes": y == 1}
    by_centre = {f"centre {c}": centres == c for c in sorted(np.unique(centres))}
    return {"by_outcome": by_outcome, "by_centre": by_centre}


def _continuous(values: pd.Series) -> dict[str, float | int | None]:
    present = values.dropna()
    if present.empty:
        return {"median": None, "q1": None, "q3": None, "missing": int(values.isna().sum())}
    q1, median, q3 = np.quantile(present, [0.25, 0.5, 0.75])
    return {"median": float(median), "q1": float(q1), "q3": float(q3), "missing": int(values.isna().sum())}


def _level(text: pd.Series, level: str) -> dict[str, float | int]:
    count = int((text == level).sum())
    return {"count": count, "percent": 100.0 * count / len(text) if len(text) else 0.0}


def _level_name(level: str, dtype: str) -> str:
    if dtype == "bool" and level in ("True", "False"):
        return "yes" if level == "True" else "no"
    return level
