"""Result types shared by the evaluation library.

Every result is a frozen dataclass with ``to_dict()`` returning plain JSON types (dict, list,
str, int, float, bool, None): numpy scalars become Python numbers and non-finite floats become
None, so ``json.dumps(result.to_dict(), allow_nan=False)`` always works. These dictionaries are
what the Evidence record stores.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from spineoutcome.jsonable import to_jsonable


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
