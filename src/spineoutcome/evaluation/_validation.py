"""Input checks shared by every evaluation function.

Error messages name the problem and give counts, never values: the inputs are patient-level
data, and an exception text can end up in a log or a report.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from spineoutcome.errors import SpineoutcomeError

PROBABILITY_CLIP = 1e-8
"""Probabilities are clipped to [PROBABILITY_CLIP, 1 - PROBABILITY_CLIP] wherever a logit or a
logarithm is taken (calibration intercept and slope, log-loss, R-squared, spline curves), so a
prediction of exactly 0 or 1 becomes logit -/+18.4 instead of an infinity. Brier score, AUC, O:E
and net benefit use the probabilities unclipped."""


class InsufficientDataError(SpineoutcomeError, ValueError):
    """The data cannot support the requested estimate (for example only one outcome class)."""


def as_outcome(y: Any, name: str = "y") -> np.ndarray:
    """Return a 1-D int array of 0/1 outcomes or raise ValueError (counts only, no values)."""
    values = _numeric_vector(y, name)
    n_missing = int(np.isnan(values).sum())
    if n_missing:
        raise ValueError(f"{name} has {n_missing} missing (NaN) value(s) of {values.size}")
    n_bad = int(((values != 0) & (values != 1)).sum())
    if n_bad:
        raise ValueError(f"{name} has {n_bad} value(s) other than 0 and 1 of {values.size}")
    return values.astype(np.int64)


def as_probability(p: Any, name: str = "p") -> np.ndarray:
    """Return a 1-D float array of probabilities in [0, 1] or raise ValueError (counts only)."""
    values = _numeric_vector(p, name)
    n_missing = int(np.isnan(values).sum())
    if n_missing:
        raise ValueError(f"{name} has {n_missing} missing (NaN) value(s) of {values.size}")
    n_bad = int(((values < 0) | (values > 1)).sum())
    if n_bad:
        raise ValueError(f"{name} has {n_bad} value(s) outside [0, 1] of {values.size}")
    return values


def _numeric_vector(values: Any, name: str) -> np.ndarray:
    """A 1-D float array; pandas missing values (NaN, None, pd.NA) become NaN."""
    if isinstance(values, (pd.Series, pd.Index, pd.api.extensions.ExtensionArray)):
        try:
            arr = values.to_numpy(dtype=float, na_value=np.nan)
        except (TypeError, ValueError):
            raise ValueError(f"{name} must be numeric") from None
    else:
        arr = np.asarray(values)
        if not (np.issubdtype(arr.dtype, np.number) or arr.dtype == bool):
            raise ValueError(f"{name} must be numeric")
        arr = arr.astype(float)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be one-dimensional (got {arr.ndim} dimensions)")
    return arr


def check_outcome_and_probability(
    y: Any, p: Any, *, min_events: int = 1, min_non_events: int = 1
) -> tuple[np.ndarray, np.ndarray]:
    """Validate outcomes and predictions together: same length, enough of each class."""
    y_arr = as_outcome(y)
    p_arr = as_probability(p)
    if y_arr.size != p_arr.size:
        raise ValueError(f"y and p have different lengths ({y_arr.size} and {p_arr.size})")
    if y_arr.size == 0:
        raise InsufficientDataError("no observations")
    require_classes(y_arr, min_events=min_events, min_non_events=min_non_events)
    return y_arr, p_arr


def require_classes(y: np.ndarray, *, min_events: int = 1, min_non_events: int = 1) -> None:
    """Raise InsufficientDataError unless y has enough events and non-events."""
    n_events = int(y.sum())
    n_non_events = int(y.size - n_events)
    if n_events < min_events or n_non_events < min_non_events:
        raise InsufficientDataError(
            f"{n_events} event(s) and {n_non_events} non-event(s); this estimate needs at least "
            f"{min_events} event(s) and {min_non_events} non-event(s)"
        )


def check_groups(groups: Any, n: int, name: str = "groups") -> np.ndarray:
    """Return group labels as a 1-D object array of length n; missing labels become '(missing)'."""
    arr = np.asarray(groups, dtype=object)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be one-dimensional (got {arr.ndim} dimensions)")
    if arr.size != n:
        raise ValueError(f"{name} has length {arr.size}, expected {n}")
    missing = pd.isna(arr)
    arr = arr.copy()
    arr[missing] = "(missing)"
    return arr


def check_level(level: float) -> float:
    """Confidence level must lie strictly between 0 and 1."""
    if not 0.0 < level < 1.0:
        raise ValueError("level must be strictly between 0 and 1")
    return float(level)


def critical_value(level: float) -> float:
    """Two-sided standard-normal critical value z for a confidence level (1.96 for 0.95)."""
    return float(stats.norm.ppf(0.5 + check_level(level) / 2))


def clipped_logit(p: np.ndarray) -> np.ndarray:
    """logit(p) after clipping p to [PROBABILITY_CLIP, 1 - PROBABILITY_CLIP]."""
    q = np.clip(p, PROBABILITY_CLIP, 1.0 - PROBABILITY_CLIP)
    return np.log(q) - np.log1p(-q)


def n_clipped(p: np.ndarray) -> int:
    """Number of probabilities that clipped_logit moves."""
    return int(((p < PROBABILITY_CLIP) | (p > 1.0 - PROBABILITY_CLIP)).sum())
