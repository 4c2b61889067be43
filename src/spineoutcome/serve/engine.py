"""Scoring patients given as values (JSON from the API, text from the calculator) with every served model.

A patient is a mapping variable -> value. Values become the export text that the scoring path
parses (:func:`spineoutcome.scoring.parse_predictors`, the input contract's rules: the
dictionary's missing codes, yes/no spellings, categories, ranges, whole numbers): ``null`` is
missing; ``true``/``false`` are the dictionary's yes/no; a number is written as its shortest
round-trip decimal (a whole number without ``.0``); text is kept as given. Three more problems
are found here, before parsing:

- ``missing_field``: the patient does not name a predictor of the model. Send ``null`` for a value
  that was not recorded; a misspelt name is never silently imputed;
- ``not_a_number``: a non-finite number (``NaN``, ``Infinity``);
- ``not_a_single_value``: a list or an object.

Per model, a patient with a problem in one of that model's predictors gets no probability and
one problem entry per value (variable, value, rule, reason); the other patients are scored by the
model's :class:`~spineoutcome.scoring.TaskScorer`, so the risk is the MLflow pyfunc model's, with
its 95 % band, risk group, top-3 drivers in words and data flags. Names that no served model
reads are ignored and flagged. Nothing here logs anything.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from spineoutcome.scoring import ParsedPredictors, parse_predictors
from spineoutcome.scoring.task import TaskScores
from spineoutcome.serve.models import ServedModel

MISSING_FIELD = (
    "missing_field",
    "the request does not name this predictor; send null for a value that was not recorded",
)
NOT_FINITE = ("not_a_number", "not a finite number")
NOT_SCALAR = ("not_a_single_value", "a list or an object, not a single value")
_BAD = object()


@dataclass(frozen=True)
class ModelScores:
    """One model's results for a batch of patients.

    ``row[i]``: patient ``i``'s row in ``scores`` (-1 when it has a problem); ``problems[i]``: its
    problem entries for this model's predictors.
    """

    served: ServedModel
    parsed: ParsedPredictors
    row: np.ndarray
    scores: TaskScores
    problems: list[list[dict[str, Any]]]
    order: np.ndarray | None
    """Per scored row, the predictors of its top-3 |SHAP| (None without explanations)."""

    def typed(self, i: int) -> pd.Series:
        """Patient ``i``'s predictors in the training dtypes (for the risk sheet)."""
        return self.parsed.frame.iloc[i]

    def valid_frame(self) -> pd.DataFrame:
        """The parsed predictors of the patients that could be scored."""
        return self.parsed.frame[self.row >= 0]

    def entry(self, i: int) -> dict[str, Any]:
        """Patient ``i``'s result (the API's prediction entry, without ``patient`` and ``model``)."""
        r = int(self.row[i])
        if r < 0:
            return {
                "probability": None,
                "band_low": None,
                "band_high": None,
                "risk_group": None,
                "drivers": [],
                "flags": [],
                "problems": self.problems[i],
            }
        col = self.scores.columns
        return {
            "probability": float(col["probability"][r]),
            "band_low": _number(col["band_low"][r]),
            "band_high": _number(col["band_high"][r]),
            "risk_group": str(col["category"][r]),
            "drivers": self.drivers(r),
            "flags": self.flags(r),
            "problems": [],
        }

    def drivers(self, r: int) -> list[dict[str, Any]]:
        """The top-3 drivers of scored row ``r``: variable, sentence and SHAP value (log-odds)."""
        shap = self.scores.shap
        if shap is None or self.order is None:
            return []
        names = self.served.contract.names
        out = []
        for k, j in enumerate(self.order[r]):
            text = self.scores.columns[f"factor_{k + 1}"][r]
            if text:
                out.append({"variable": names[j], "text": str(text), "log_odds": float(shap[r, j])})
        return out

    def flags(self, r: int) -> list[dict[str, Any]]:
        """The data checks of scored row ``r`` that raised a flag."""
        col = self.scores.columns
        out = []
        missing = _names(col["missing_predictors"][r])
        if missing:
            out.append(
                {
                    "code": "imputed",
                    "variables": missing,
                    "message": f"not recorded, imputed by the model: {', '.join(missing)}",
                }
            )
        outside = _names(col["extrapolated"][r])
        if outside:
            out.append(
                {
                    "code": "extrapolated",
                    "variables": outside,
                    "message": f"outside the range of the development data (the model extrapolates): "
                    f"{', '.join(outside)}",
                }
            )
        if bool(col["out_of_distribution"][r]):
            threshold = self.served.model.bundle.summary.novelty.threshold
            out.append(
                {
                    "code": "out_of_distribution",
                    "variables": [],
                    "message": f"unusual combination of values: distance {float(col['mahalanobis'][r]):.1f} "
                    f"from the development patients, above their 99th percentile ({threshold:.1f})",
                }
            )
        return out


@dataclass(frozen=True)
class Batch:
    """Every served model's results for a batch of patients, and the names each patient sent that no model reads."""

    n: int
    models: list[ModelScores]
    ignored: list[list[str]]

    def predictions(self) -> list[dict[str, Any]]:
        """One entry per patient and model, patient by patient in request order, models in serving order."""
        out = []
        for i in range(self.n):
            for result in self.models:
                entry = {"patient": i, "model": result.served.name, **result.entry(i)}
                if self.ignored[i]:
                    entry["flags"] = [
                        *entry["flags"],
                        {
                            "code": "ignored_fields",
                            "variables": self.ignored[i],
                            "message": f"not a predictor of any served model, ignored: {', '.join(self.ignored[i])}",
                        },
                    ]
                out.append(entry)
        return out


class Engine:
    """Scores batches of patients with every served model (module docstring)."""

    def __init__(self, served: Sequence[ServedModel]) -> None:
        self.served = list(served)
        self.names = list(dict.fromkeys(n for s in self.served for n in s.contract.names))
        spelling: dict[str, tuple[str, str]] = {}
        for s in self.served:
            yes_no = (s.contract.true_values[0], s.contract.false_values[0])
            for name in s.contract.names:
                spelling.setdefault(name, yes_no)
        self._spelling = spelling

    def score(self, patients: Sequence[Mapping[str, Any]], *, explain: bool = True) -> Batch:
        """Results of every model for ``patients`` (mappings variable -> value)."""
        n = len(patients)
        text: dict[str, list[str]] = {}
        given: dict[str, list[Any]] = {}
        early: dict[str, dict[int, tuple[str, str]]] = {}
        for name in self.names:
            yes, no = self._spelling[name]
            values = [p.get(name, _BAD) if isinstance(p, Mapping) else _BAD for p in patients]
            column, issues = [], {}
            for i, value in enumerate(values):
                if value is _BAD:
                    issues[i] = MISSING_FIELD
                    column.append("")
                    continue
                converted = _text(value, yes, no)
                if converted is None:
                    issues[i] = NOT_SCALAR if isinstance(value, (list, dict, tuple, set)) else NOT_FINITE
                    converted = ""
                column.append(converted)
            text[name], given[name], early[name] = column, values, issues
        frame = (
            pd.DataFrame(text, index=pd.RangeIndex(n), dtype=object)
            if n
            else pd.DataFrame({name: pd.Series([], dtype=object) for name in self.names})
        )
        known = set(self.names)
        ignored = [sorted(extra) if isinstance(p, Mapping) and (extra := p.keys() - known) else [] for p in patients]
        results = [self._score_model(s, frame, given, early, explain) for s in self.served]
        return Batch(n, results, ignored)

    def _score_model(
        self,
        served: ServedModel,
        frame: pd.DataFrame,
        given: dict[str, list[Any]],
        early: dict[str, dict[int, tuple[str, str]]],
        explain: bool,
    ) -> ModelScores:
        n = len(frame)
        names = served.contract.names
        parsed = parse_predictors(frame[names], served.contract)
        problems: list[list[dict[str, Any]]] = [[] for _ in range(n)]
        for name in names:
            for i, (rule, reason) in early[name].items():
                problems[i].append(_problem(name, given[name][i], rule, reason))
        for problem in parsed.problems:
            for i in problem.positions:
                if int(i) not in early[problem.column]:
                    problems[i].append(_problem(problem.column, given[problem.column][i], problem.rule, problem.reason))
        for entries in problems:
            entries.sort(key=lambda e: names.index(e["variable"]))
        valid = np.fromiter((not p for p in problems), dtype=bool, count=n)
        row = np.full(n, -1, dtype=np.intp)
        row[valid] = np.arange(int(valid.sum()))
        with served.lock:
            scores = served.scorer.score(
                parsed.frame[valid], parsed.missing[valid], parsed.distinct.subset(valid), explain=explain
            )
        order = served.scorer.words.top(scores.shap) if scores.shap is not None else None
        return ModelScores(served, parsed, row, scores, problems, order)


def refit_risks(served: ServedModel, typed: pd.DataFrame) -> np.ndarray:
    """Calibrated risks of each bootstrap refit (refits x rows), as :meth:`.ModelBundle.band` computes them.

    Two scenarios scored by the same refits give a paired band for their difference.
    """
    bundle = served.model.bundle
    return np.vstack([bundle.risk(member.predict_proba(typed)[:, 1], i) for i, member in enumerate(bundle.ensemble)])


def _text(value: Any, yes: str, no: str) -> str | None:
    """A JSON value as export text; None when it cannot be one (module docstring)."""
    if type(value) is str:
        return value
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return yes if value else no
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            return None
        return str(int(value)) if value.is_integer() and abs(value) < 1e15 else repr(value)
    return None


def _problem(variable: str, value: Any, rule: str, reason: str) -> dict[str, Any]:
    shown = None if value is _BAD else value
    if isinstance(shown, float) and not math.isfinite(shown):
        shown = str(shown)  # JSON has no NaN or Infinity
    return {
        "variable": variable,
        "value": shown,
        "rule": rule,
        "message": f"{variable} = {shown!r}: {reason}" if value is not _BAD else f"{variable}: {reason}",
    }


def _names(joined: str) -> list[str]:
    return [n for n in str(joined).split(", ") if n]


def _number(value: float) -> float | None:
    value = float(value)
    return value if math.isfinite(value) else None
