"""Result types shared by the evaluation library.

Every result is a frozen dataclass with ``to_dict()`` returning plain JSON types (dict, list,
str, int, float, bool, None): numpy scalars become Python numbers and non-finite floats become
None, so ``json.dumps(result.to_dict(), allow_nan=False)`` always works. These dictionaries are
what the Evidence record stores.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd


def to_jsonable(obj: Any) -> Any:
    """Convert a result (or any nesting of dataclasses, mappings, sequences, numpy and pandas
    objects) into plain JSON types; NaN and infinities become None."""
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: to_jsonable(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, pd.DataFrame):
        return [to_jsonable(row) for row in obj.to_dict(orient="records")]
    if isinstance(obj, dict):
        return {str(key): to_jsonable(value) for key, value in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [to_jsonable(value) for value in obj]
    if isinstance(obj, np.ndarray):
        return [to_jsonable(value) for value in obj.tolist()]
    if isinstance(obj, (bool, np.bool_)):
        return bool(obj)
    if isinstance(obj, (int, np.integer)):
        return int(obj)
    if isinstance(obj, (float, np.floating)):
        value = float(obj)
        return value if math.isfinite(value) else None
    if obj is None or isinstance(obj, str):
        return obj
    raise TypeError(f"cannot convert an object of type {type(obj).__name__} to JSON")


class JsonResult:
    """Mixin giving frozen result dataclasses a JSON-serialisable ``to_dict``."""

    def to_dict(self) -> dict[str, Any]:
        return to_jsonable(self)


@dataclass(frozen=True)
class Estimate(JsonResult):
    """A point estimate with an optional confidence interval.

    ``ci_method`` names how the interval was obtained ("delong", "wilson", "wald", "log-normal",
    "bootstrap-percentile", ...). ``n_boot_valid`` is the number of bootstrap replicates in which
    the statistic was defined (for example replicates with both outcome classes), when the
    interval is a bootstrap one.
    """

    value: float
    ci_low: float | None = None
    ci_high: float | None = None
    se: float | None = None
    ci_method: str | None = None
    level: float = 0.95
    n_boot_valid: int | None = None

