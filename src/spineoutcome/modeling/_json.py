"""JSON-safe copies of parameter values (numpy scalars, infinities, estimators)."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

JsonValue = None | bool | int | float | str | list["JsonValue"] | dict[str, "JsonValue"]


def json_safe(value: Any) -> JsonValue:
    """``value`` as plain JSON: numpy scalars unwrapped, non-finite floats and other objects as strings."""
    if isinstance(value, np.generic):
        value = value.item()
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if isinstance(value, Mapping):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, (Sequence, np.ndarray)):
        return [json_safe(v) for v in value]
    return type(value).__name__ if hasattr(value, "get_params") else str(value)
