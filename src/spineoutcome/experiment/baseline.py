"""Baseline characteristics of the analysed patients, overall, by outcome and by centre (TRIPOD+AI 20b).

Aggregates only: for a continuous predictor the median, quartiles, mean, SD and number missing;
for a categorical or binary one, and an integer one with few values, the count and percentage of each
level; for every column the number with the outcome and the follow-up time (median and quartiles, in
days). Cells are
computed the same way for every column of the table, so the report can lay them out without
recomputing anything.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from spineoutcome.dictionary import DataDictionary, Variable

MISSING_LABEL = "(missing)"
ALL_PATIENTS = "all patients"
FOLLOW_UP = "follow-up"
ORDINAL_LEVELS = 6
"""An integer predictor with at most this many distinct values (a muscle grade, an ASA class) is shown
level by level, n (%): its median and quartiles would hide the distribution (e.g. "5 (IQR 5 to 5)")."""


def baseline_table(
    X: pd.DataFrame,
    columns: dict[str, np.ndarray],
    dictionary: DataDictionary,
    *,
    outcome: str,
    y: np.ndarray,
    followup_days: pd.Series,
) -> dict[str, Any]:
    """Characteristics of every predictor, the outcome and follow-up in each column (a boolean row mask).

    Returns ``{"columns": [{"label", "n"}], "rows": [{"variable", "unit", "dtype", "kind", "level", "cells"}]}``.
    The first row (kind ``outcome``) counts patients with ``outcome`` (cells ``{"count", "percent"}``); the
    second (kind ``followup``) summarises days of follow-up (``{"median", "q1", "q3"}``); then a continuous
    predictor has one row with cells ``{"median", "q1", "q3", "mean", "sd", "missing"}`` and a categorical
    or binary one a row per level with cells ``{"count", "percent"}``.
    """
    masks = list(columns.values())
    events = pd.Series(np.asarray(y) == 1)
    days = followup_days.astype("float64")
    rows: list[dict[str, Any]] = [
        {
            "variable": outcome,
            "unit": None,
            "dtype": "bool",
            "kind": "outcome",
            "level": None,
            "cells": [_level(events[mask], True) for mask in masks],
        },
        {
            "variable": FOLLOW_UP,
            "unit": "days",
            "dtype": "float",
            "kind": "followup",
            "level": None,
            "cells": [_quartiles(days[mask]) for mask in masks],
        },
    ]
    for var in X.columns:
        rows.extend(_predictor_rows(X[var], dictionary.variable(var), masks))
    return {"columns": [{"label": k, "n": int(m.sum())} for k, m in columns.items()], "rows": rows}


def baseline_columns(y: np.ndarray, centres: np.ndarray, outcome_label: str) -> dict[str, dict[str, np.ndarray]]:
    """Column masks: all patients and by outcome; all patients and one per centre."""
    y = np.asarray(y)
    everyone = np.ones(len(y), dtype=bool)
    by_outcome = {ALL_PATIENTS: everyone, f"{outcome_label}: no": y == 0, f"{outcome_label}: yes": y == 1}
    by_centre = {ALL_PATIENTS: everyone, **{f"centre {c}": centres == c for c in sorted(np.unique(centres))}}
    return {"by_outcome": by_outcome, "by_centre": by_centre}


def _predictor_rows(series: pd.Series, spec: Variable, masks: list[np.ndarray]) -> list[dict[str, Any]]:
    """One row for a continuous predictor, one per level present for a categorical or binary one."""
    head = {"variable": series.name, "unit": spec.unit, "dtype": spec.dtype}
    grades = series.dropna().unique()
    if spec.dtype == "int" and 1 < len(grades) <= ORDINAL_LEVELS:
        text = series.astype("Int64").astype(str).where(series.notna(), MISSING_LABEL)
        return [
            {**head, "kind": "level", "level": level, "cells": [_level(text[mask], level) for mask in masks]}
            for level in [*(str(int(g)) for g in sorted(grades)), MISSING_LABEL]
            if (text == level).any()
        ]
    if spec.dtype in ("float", "int") and spec.group != "radiomics":
        values = series.astype("float64")
        return [{**head, "kind": "continuous", "level": None, "cells": [_continuous(values[mask]) for mask in masks]}]
    if spec.dtype not in ("category", "bool"):
        return []
    text = series.astype(object).where(series.notna(), MISSING_LABEL).astype(str)
    levels = [str(c) for c in (spec.categories or ("True", "False"))] + [MISSING_LABEL]
    return [
        {
            **head,
            "kind": "level",
            "level": _level_name(level, spec.dtype),
            "cells": [_level(text[mask], level) for mask in masks],
        }
        for level in levels
        if (text == level).any()
    ]


def _quartiles(values: pd.Series) -> dict[str, float | None]:
    present = values.dropna()
    if present.empty:
        return {"median": None, "q1": None, "q3": None}
    q1, median, q3 = np.quantile(present, [0.25, 0.5, 0.75])
    return {"median": float(median), "q1": float(q1), "q3": float(q3)}


def _continuous(values: pd.Series) -> dict[str, float | int | None]:
    present = values.dropna()
    sd = float(present.std(ddof=1)) if len(present) > 1 else None
    return {
        **_quartiles(values),
        "mean": float(present.mean()) if len(present) else None,
        "sd": sd,
        "missing": int(values.isna().sum()),
    }


def _level(values: pd.Series, level: Any) -> dict[str, float | int]:
    count = int((values == level).sum())
    return {"count": count, "percent": 100.0 * count / len(values) if len(values) else 0.0}


def _level_name(level: str, dtype: str) -> str:
    if dtype == "bool" and level in ("True", "False"):
        return "yes" if level == "True" else "no"
    return level
