"""One converter from Python, numpy and pandas objects to plain JSON values.

Evidence, model cards, MLflow parameters and the distributed workers' reports all go through
:func:`to_jsonable`, so a value is written the same way everywhere. Two rules are chosen per use:

- ``nonfinite``: ``"null"`` (the default: a NaN or infinite *measurement* is not estimable, and
  strict JSON has no NaN) or ``"text"`` (an infinite *setting*, such as ``C=inf`` for "no
  penalty", keeps its meaning as the string ``"inf"``);
- ``unknown``: ``"error"`` (the default: Evidence never stores an object it cannot describe) or
  ``"text"`` (settings: an estimator by its class name, anything else by ``str``).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence
from typing import Any, Literal

import numpy as np
import pandas as pd

JsonValue = None | bool | int | float | str | list["JsonValue"] | dict[str, "JsonValue"]


def to_jsonable(
    obj: Any, *, nonfinite: Literal["null", "text"] = "null", unknown: Literal["error", "text"] = "error"
) -> Any:
    """``obj`` (dataclasses, mappings, sequences, arrays, data frames as records, numpy scalars,
    nested) as plain JSON types under the module's two rules."""

    def convert(value: Any) -> Any:
        if dataclasses.is_dataclass(value) and not isinstance(value, type):
            return {f.name: convert(getattr(value, f.name)) for f in dataclasses.fields(value)}
        if isinstance(value, pd.DataFrame):
            return [convert(row) for row in value.to_dict(orient="records")]
        if isinstance(value, np.generic):
            value = value.item()
        if value is None or isinstance(value, (bool, str)):
            return value
        if isinstance(value, int):
            return int(value)
        if isinstance(value, float):
            if math.isfinite(value):
                return value
            return None if nonfinite == "null" else str(value)
        if isinstance(value, Mapping):
            return {str(k): convert(v) for k, v in value.items()}
        if isinstance(value, np.ndarray):
            return [convert(v) for v in value.tolist()]
        if isinstance(value, (list, tuple)) or (unknown == "text" and isinstance(value, Sequence)):
            return [convert(v) for v in value]
        if unknown == "text":
            return type(value).__name__ if hasattr(value, "get_params") else str(value)
        raise TypeError(f"cannot convert an object of type {type(value).__name__} to JSON")

    return convert(obj)


def json_safe(value: Any) -> JsonValue:
    """A setting (parameters, preprocessing options) as JSON: infinities as text, estimators by class name."""
    return to_jsonable(value, nonfinite="text", unknown="text")
