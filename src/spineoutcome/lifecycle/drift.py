"""Input drift: development bins per predictor, bin counts of new data, population stability index.

The development bins are fixed when the bundle is built (:func:`drift_reference`) and travel in
its manifest: for a number, the cut points are the development deciles (rounded to 4 significant
digits, ties merged; intervals closed on the right); for a category or yes/no, the levels. Every
predictor has a bin for missing values, a category one for levels never seen in development.
Only the development share of each bin is stored (aggregates, no extreme value).

Scoring counts its rows into the same bins (:func:`bin_counts`), without keys, so a monitoring
run compares periods to development without any row-level data.

Population stability index (Siddiqi, Credit Risk Scorecards, Wiley 2006; Yurdakul, Statistical
properties of the population stability index, 2018):

    PSI = sum_i (a_i - e_i) * ln(a_i / e_i)

with e_i the development and a_i the new share of bin i; a share of 0 is replaced by
:data:`PSI_FLOOR` (the index is undefined otherwise). Conventional reading: < 0.10 no material
shift, 0.10-0.25 moderate, > 0.25 major.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

DECILES = tuple(q / 10 for q in range(1, 10))
MISSING_BIN = "(missing)"
OTHER_BIN = "(other level)"
PSI_FLOOR = 1e-4
PSI_MODERATE, PSI_MAJOR = 0.10, 0.25
REFERENCE_METHOD = (
    "numbers: development deciles (4 significant digits, ties merged), right-closed; categories: "
    "levels, plus a bin for unseen levels; every predictor: a bin for missing values"
)


def drift_reference(X: pd.DataFrame, dtypes: Mapping[str, str]) -> dict[str, Any]:
    """The development bins and shares of every predictor of ``X`` (``dtypes``: name -> contract dtype)."""
    predictors = {}
    for name, dtype in dtypes.items():
        values = X[name]
        if dtype in ("category", "bool"):
            levels = [str(c) for c in values.cat.categories] if dtype == "category" else ["True", "False"]
            spec: dict[str, Any] = {"kind": "levels", "levels": levels}
        else:
            numbers = values.astype("Float64").astype("float64").dropna()
            cuts = sorted({float(f"{q:.4g}") for q in np.quantile(numbers, DECILES)}) if len(numbers) else []
            spec = {"kind": "cuts", "cuts": cuts}
        counts = bin_counts_one(spec, values)
        spec["labels"] = bin_labels(spec)
        spec["shares"] = (np.asarray(counts) / max(len(values), 1)).round(6).tolist()
        predictors[name] = spec
    return {"method": REFERENCE_METHOD, "n": len(X), "predictors": predictors}


def bin_labels(spec: Mapping[str, Any]) -> list[str]:
    """Readable names of the bins of one predictor, in order."""
    if spec["kind"] == "levels":
        return [*spec["levels"], OTHER_BIN, MISSING_BIN]
    cuts = [f"{c:g}" for c in spec["cuts"]]
    if not cuts:
        return ["(all values)", MISSING_BIN]
    inner = [f"({a}, {b}]" for a, b in zip(cuts, cuts[1:], strict=False)]
    return [f"<= {cuts[0]}", *inner, f"> {cuts[-1]}", MISSING_BIN]


def bin_counts_one(spec: Mapping[str, Any], values: pd.Series) -> list[int]:
    """How many of ``values`` (training dtypes, as :meth:`.InputContract.parse` gives) fall in each bin."""
    missing = values.isna().to_numpy()
    if spec["kind"] == "levels":
        levels = list(spec["levels"])
        text = values.astype(object).where(~missing, None).map(lambda v: None if v is None else str(v))
        index = text.map({level: i for i, level in enumerate(levels)}).fillna(len(levels)).to_numpy(dtype=int)
        index[missing] = len(levels) + 1
        return np.bincount(index, minlength=len(levels) + 2).tolist()
    numbers = values.astype("Float64").astype("float64").to_numpy()
    cuts = np.asarray(spec["cuts"], dtype=float)
    index = np.searchsorted(cuts, numbers[~missing], side="left")
    counts = np.bincount(index, minlength=len(cuts) + 1).tolist()
    return [*counts, int(missing.sum())]


def bin_counts(reference: Mapping[str, Any], typed: pd.DataFrame) -> dict[str, list[int]]:
    """Bin counts of every predictor of ``reference`` in ``typed`` (rows in the training dtypes)."""
    return {name: bin_counts_one(spec, typed[name]) for name, spec in reference["predictors"].items()}


def add_counts(total: dict[str, list[int]], more: Mapping[str, Sequence[int]]) -> dict[str, list[int]]:
    """Bin counts of two batches together."""
    for name, counts in more.items():
        total[name] = [int(a) + int(b) for a, b in zip(total.get(name, [0] * len(counts)), counts, strict=True)]
    return total


def psi(expected: Sequence[float], actual: Sequence[float], *, floor: float = PSI_FLOOR) -> float:
    """Population stability index of two share (or count) vectors over the same bins (module docstring)."""
    e = np.asarray(expected, dtype=float)
    a = np.asarray(actual, dtype=float)
    if e.shape != a.shape or e.sum() <= 0 or a.sum() <= 0:
        raise ValueError("expected and actual need the same bins and a positive total each")
    e = np.maximum(e / e.sum(), floor)
    a = np.maximum(a / a.sum(), floor)
    return float(np.sum((a - e) * np.log(a / e)))


def psi_reading(value: float) -> str:
    """The conventional reading of a PSI value."""
    if value < PSI_MODERATE:
        return "no material shift"
    return "moderate shift" if value <= PSI_MAJOR else "major shift"
