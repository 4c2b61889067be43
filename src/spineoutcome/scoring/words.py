"""The main drivers of one patient's risk, in plain words: "Age at surgery: 78 years raises the risk".

The drivers are the predictors with the largest absolute SHAP values of the patient (log-odds
for logistic regression and gradient boosting; :func:`spineoutcome.explain.shap_contributions`),
in decreasing order; ties go to the predictor listed first in the model's input contract. A
predictor whose SHAP value is exactly zero does not drive anything and is not named.

A sentence is the predictor's label, the patient's value and the direction. The label is the
data dictionary's description up to its first colon, semicolon or full stop, without
parentheses (``"Planned surgical approach"``); a description longer than
:data:`MAX_LABEL` characters gives way to the variable name in words (``"Occupying ratio"``);
two predictors with the same label get their variable names added.
Numbers carry the dictionary's unit (after the number, or before it for a grade or class:
"MRC grade 4"); a missing value reads "not recorded" (the model imputed it,
and with a missing indicator the missingness itself carries information).

Everything is vectorised: sentences are built once per (predictor, distinct value, direction)
and gathered to the rows.
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

from spineoutcome.bundle import PredictorSpec

TOP = 3
MAX_LABEL = 48
RAISES, LOWERS = "raises the risk", "lowers the risk"
NOT_RECORDED = "not recorded"
_UNITS_LEFT_OUT = frozenset({"ratio"})
_SCALE_UNIT = re.compile(r"\b(grade|class|score|stage)\b", re.IGNORECASE)


def label(spec: PredictorSpec) -> str:
    """A short plain-words name of a predictor (module docstring)."""
    text = re.sub(r"\s*\([^)]*(?:\)|$)", "", spec.description or "")
    text = re.split(r":|;|\.(?:\s|$)", text, maxsplit=1)[0].strip()
    if not text or len(text) > MAX_LABEL:
        text = spec.name.replace("_", " ").strip().capitalize()
    return text


def labels(predictors: tuple[PredictorSpec, ...]) -> list[str]:
    """:func:`label` of each predictor; labels that two predictors share get the variable name added."""
    short = [label(p) for p in predictors]
    return [f"{text} ({p.name})" if short.count(text) > 1 else text for text, p in zip(short, predictors, strict=True)]


def value_text(spec: PredictorSpec, values: pd.Series) -> np.ndarray:
    """The patient's value as words, for each entry of ``values`` (training dtype of ``spec``)."""
    out = np.full(len(values), NOT_RECORDED, dtype=object)
    present = values.notna().to_numpy()
    if not present.any():
        return out
    kept = values[present]
    if spec.dtype == "category":
        out[present] = kept.astype(str).str.replace("_", " ", regex=False).to_numpy()
    elif spec.dtype == "bool":
        out[present] = np.where(kept.to_numpy(dtype=bool), "yes", "no")
    else:
        numbers = [np.format_float_positional(x, trim="-") for x in kept.to_numpy(dtype=np.float64)]
        unit = spec.unit if spec.unit and spec.unit not in _UNITS_LEFT_OUT else ""
        if unit and _SCALE_UNIT.search(unit):  # "MRC grade 4", "ASA class 2"
            out[present] = [f"{unit} {x}" for x in numbers]
        else:
            out[present] = [f"{x} {unit}".strip() for x in numbers]
    return out


class FactorWords:
    """Builds the top-:data:`TOP` driver sentences of many patients from their SHAP values."""

    def __init__(self, predictors: tuple[PredictorSpec, ...]) -> None:
        self.predictors = predictors
        self.labels = labels(predictors)

    def top(self, shap: np.ndarray, top: int = TOP) -> np.ndarray:
        """Indices (into the predictors) of each row's ``top`` largest |SHAP|, largest first; stable on ties."""
        order = np.argsort(-np.abs(shap), axis=1, kind="stable")
        return order[:, : min(top, shap.shape[1])]

    def sentences(
        self, shap: np.ndarray, codes: dict[str, np.ndarray], uniques: dict[str, pd.Series], top: int = TOP
    ) -> list[np.ndarray]:
        """``top`` arrays of sentences ('' where fewer predictors drive the risk).

        ``shap``: rows x predictors (contract order); ``codes``/``uniques``: each predictor's
        values as codes into its distinct values (see :class:`~spineoutcome.scoring.design.DistinctValues`).
        """
        index = self.top(shap, top)
        rows = np.arange(len(shap))
        out = []
        for k in range(index.shape[1]):
            chosen = index[:, k]
            phi = shap[rows, chosen]
            words = np.full(len(shap), "", dtype=object)
            for j, spec in enumerate(self.predictors):
                mask = (chosen == j) & (phi != 0)
                if not mask.any():
                    continue
                distinct = value_text(spec, uniques[spec.name])
                stem = np.asarray([f"{self.labels[j]}: {v} " for v in distinct], dtype=object)
                picked = stem[codes[spec.name][mask]]
                words[mask] = picked + np.where(phi[mask] > 0, RAISES, LOWERS)
            out.append(words)
        return out
