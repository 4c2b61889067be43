"""Disclosure rules for everything that leaves the hospital: MLflow store, model card, report, model bundle.

One function, :func:`disclose`, applied at each boundary (not inside individual tables), so a
new table is covered without anyone remembering to:

- **Small cells.** A record (a table row or cell: a JSON object) that counts fewer than
  ``min_cell`` patients (default 5) in any of its counts, or leaves fewer than ``min_cell`` in a
  complement (``n - events``), is suppressed: its numbers become ``null`` and it gains
  ``"suppressed": "fewer than 5 patients"``; labels stay, so readers see that a row exists and why
  it is empty. A small count of missing values hides only itself and its share (the median of the
  others is not computed from them). Zero counts are kept (an empty cell identifies nobody). A mapping of counts by
  label (``excluded`` in the cohort flow) has each small count suppressed. This follows the
  minimum-cell-size rule of statistical disclosure control (e.g. the CMS cell-size suppression
  policy, counts 1-10; NHS England, 1-7; 5 is the common default in research outputs).
  Confusion-matrix tallies at decision thresholds are not cells in this sense (see
  :data:`COUNT_KEYS`).
- **No exact extremes.** Minimum and maximum values (keys ``min``, ``max``, ``minimum``,
  ``maximum``) are removed; the records keep their quantiles. Extremes single out one patient
  (an age of 92, a length of stay of 181 days).
- **Ages capped at 90** (HIPAA Safe Harbor, 45 CFR 164.514(b)(2)(i)(C)): any number describing
  an age variable is reported as at most 90.

The threshold is configurable (``min_cell``, or ``SPINEOUTCOME_MIN_CELL`` in the environment),
and :func:`rule_text` states the rule for the report and the model card.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Iterable
from typing import Any, TypeVar

from spineoutcome.errors import SpineoutcomeError

DEFAULT_MIN_CELL = 5
MIN_CELL_ENV = "SPINEOUTCOME_MIN_CELL"
AGE_CAP = 90.0
COUNT_KEYS = frozenset(
    {
        "n",
        "n_events",
        "n_non_events",
        "events",
        "non_events",
        "count",
        "n_missing",
        "missing",
        "n_patients",
        "patients",
        "at_risk",
        "n_at_risk",
    }
)
"""Keys whose integer value counts patients of a group defined by their characteristics or outcome.

Not among them: the confusion-matrix tallies of the model at a decision threshold (``tp``, ``fp``,
``tn``, ``fn``), which describe the model's classification of the whole analysed cohort (TRIPOD+AI
item 23a; net benefit is computed from them) rather than a group of patients defined by a
characteristic; they are reported as they are."""
EVENT_KEYS = ("n_events", "events")
SUBCOUNT_KEYS = frozenset({"missing", "n_missing"})
"""Counts of a subset (missing values) whose small value hides only itself and its share, not the record."""
SHARE_KEYS = frozenset({"fraction", "percent", "missing_fraction", "missing_percent"})
COUNT_MAPS = frozenset({"excluded"})
"""Keys whose value is a mapping label -> count of patients."""
EXTREME_KEYS = frozenset({"min", "max", "minimum", "maximum"})
LABEL_KEYS = frozenset(
    {
        "variable",
        "level",
        "grouping",
        "group",
        "metric",
        "label",
        "bin",
        "centre",
        "name",
        "status",
        "unit",
        "dtype",
        "kind",
        "threshold",
        "period",
        "column",
    }
)
SUPPRESSED = "suppressed"

T = TypeVar("T")


class PrivacyError(SpineoutcomeError, ValueError):
    """A disclosure setting is invalid."""


def min_cell(value: int | None = None) -> int:
    """The small-cell threshold: ``value``, else ``SPINEOUTCOME_MIN_CELL``, else 5 (at least 1)."""
    if value is None:
        text = os.environ.get(MIN_CELL_ENV, "").strip()
        try:
            value = int(text) if text else DEFAULT_MIN_CELL
        except ValueError:
            raise PrivacyError(f"{MIN_CELL_ENV}={text!r}: the small-cell threshold must be a whole number") from None
    if value < 1:
        raise PrivacyError(f"the small-cell threshold must be at least 1, got {value}")
    return value


def age_variables(dictionary: Any) -> tuple[str, ...]:
    """Names of the variables with the role ``age`` in a data dictionary (none when it has no such role)."""
    from spineoutcome.dictionary import DictionaryError

    try:
        return (dictionary.column("age"),)
    except (DictionaryError, AttributeError):
        return ()


def rule_text(threshold: int | None = None) -> str:
    """The rule in one sentence, for the report and the model card."""
    k = min_cell(threshold)
    return (
        f"Disclosure control: counts of 1 to {k - 1} patients (and any row or cell computed from them) are "
        f"suppressed and shown as '-'; no exact minimum or maximum of any predictor is reported; ages above "
        f"{AGE_CAP:g} are reported as {AGE_CAP:g}."
    )


def is_small(value: Any, threshold: int) -> bool:
    """A count of 1 to ``threshold - 1`` patients."""
    return isinstance(value, int) and not isinstance(value, bool) and 0 < value < threshold


def disclose(value: T, *, threshold: int | None = None, ages: Iterable[str] = ()) -> T:
    """``value`` (an Evidence record, a dataclass of results, or plain JSON data) with the rules applied.

    Dataclasses are rebuilt field by field (same type), plain data are copied; ``ages``: names of
    age variables whose numbers are capped at 90. The result records the rule under the key
    ``privacy`` when ``value`` is a dict or a dataclass with such a field.
    """
    k = min_cell(threshold)
    age_names = frozenset(ages)
    out = _walk(value, k, age_names, None)
    if isinstance(out, dict):
        out["privacy"] = {"min_cell": k, "age_cap": AGE_CAP, "rule": rule_text(k)}
    return out


def _walk(value: Any, k: int, ages: frozenset[str], variable: str | None) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        changes = {
            f.name: _walk(getattr(value, f.name), k, ages, variable) for f in dataclasses.fields(value) if f.init
        }
        return dataclasses.replace(value, **changes)
    if isinstance(value, dict):
        return _record(value, k, ages, variable)
    if isinstance(value, list):
        return [_walk(item, k, ages, variable) for item in value]
    if isinstance(value, tuple):
        return tuple(_walk(item, k, ages, variable) for item in value)
    return value


def _record(record: dict[str, Any], k: int, ages: frozenset[str], variable: str | None) -> dict[str, Any]:
    named = record.get("variable") if isinstance(record.get("variable"), str) else None
    variable = named or variable
    small_keys = {key for key in COUNT_KEYS if is_small(record.get(key), k)}
    partial = bool(small_keys) and small_keys <= SUBCOUNT_KEYS
    small = bool(small_keys) and not partial
    total = record.get("n")
    events = next((record[key] for key in EVENT_KEYS if isinstance(record.get(key), int)), None)
    if isinstance(total, int) and isinstance(events, int) and not isinstance(total, bool):
        small = small or is_small(total - events, k)
    out: dict[str, Any] = {}
    for key, child in record.items():
        if key in EXTREME_KEYS:
            continue
        if key in COUNT_MAPS and isinstance(child, dict):
            out[key] = {label: None if is_small(count, k) else count for label, count in child.items()}
            continue
        child = _walk(child, k, ages, key if variable is None and key in ages else variable)
        if small and key not in LABEL_KEYS and _is_number(child):
            child = None
        elif partial and key in SUBCOUNT_KEYS | SHARE_KEYS:
            child = None
        elif variable in ages and _is_number(child) and not isinstance(child, int) and child > AGE_CAP:
            child = AGE_CAP
        out[key] = child
    if small or partial:
        out[SUPPRESSED] = f"fewer than {k} patients"
    return out


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)
