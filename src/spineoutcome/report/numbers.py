"""The one number format of the report and the model card's text.

Every number printed in the PDF passes through this module, so the same quantity always looks
the same: an estimate with its interval is ``0.74 (95 % CI 0.69 to 0.79)``; a count with its
share is ``44 (5.5 %)``; a median with its quartiles is ``63.4 (IQR 56.4 to 71.5)``. Intervals use
"to" rather than a dash so that negative bounds stay unambiguous (``−0.12 to 0.30``), and
negative numbers carry a true minus sign (U+2212).

The number of decimals is a property of the quantity (``DIGITS``): discrimination, calibration
slope and intercept, O:E and odds ratios with 2 decimals; absolute calibration errors, Brier
score and net benefit with 3; percentages with 1.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from numbers import Real
from typing import Any

from spineoutcome import metrics

MINUS = "\u2212"
MISSING = "–"  # en dash: a value that was not estimable or not recorded
NOT_ESTIMABLE = "not estimable"
"""What the report writes where a whole result (a curve, a panel, a subgroup) could not be estimated."""
LARGE = 1e6
_SUPERSCRIPT = str.maketrans("-0123456789", "\u207b\u2070\u00b9\u00b2\u00b3\u2074\u2075\u2076\u2077\u2078\u2079")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")

DIGITS: dict[str, int] = {
    "auc": 2,
    "c": 2,
    "slope": 2,
    "citl": 2,
    "intercept": 2,
    "oe": 2,
    "or": 2,
    "coef": 2,
    "se": 2,
    "scaled_brier": 2,
    "r2": 2,
    "shap": 2,
    "shrinkage": 2,
    "epp": 1,
    "z": 2,
    "tau2": 3,
    "i2": 0,
    "ici": 3,
    "e50": 3,
    "e90": 3,
    "emax": 3,
    "brier": 3,
    "log_loss": 3,
    "nb": 3,
    "nb_100": 1,
    "prob": 3,
    "sens": 2,
    "spec": 2,
    "ppv": 2,
    "npv": 2,
    "median": 1,
    "default": 2,
}
"""Decimals per kind of quantity (the keys are the ``kind`` argument of the functions below)."""


def kind_of(metric: str) -> str:
    """The formatting kind of an Evidence metric name (``"sensitivity@0.1"`` -> ``"sens"``)."""
    return metrics.kind(metric)


def finite(value: Any) -> bool:
    """True for a usable number (Python or NumPy): not None, not NaN or infinite, not a bool."""
    return isinstance(value, Real) and not isinstance(value, bool) and math.isfinite(value)


def num(value: Any, kind: str = "default", digits: int | None = None) -> str:
    """A number with the decimals of its kind, a true minus sign, and "–" when missing.

    A magnitude of a million or more (only a degenerate fit produces one, e.g. an odds ratio under
    separation) is written ``1.7 × 10⁷`` rather than as a row of digits."""
    if not finite(value):
        return MISSING
    if abs(float(value)) >= LARGE:
        return _scientific(float(value))
    d = DIGITS.get(kind, DIGITS["default"]) if digits is None else digits
    text = f"{float(value):.{d}f}"
    if text.startswith("-"):
        text = text[1:] if float(text[1:]) == 0 else MINUS + text[1:]  # no "−0.00"
    return text


def _scientific(value: float) -> str:
    mantissa, exponent = f"{value:.1e}".split("e")
    text = f"{mantissa} × 10{str(int(exponent)).translate(_SUPERSCRIPT)}"
    return MINUS + text[1:] if text.startswith("-") else text


def integer(value: Any) -> str:
    """A count: no decimals; a thousands separator from 10 000 on (BMJ style)."""
    if not finite(value):
        return MISSING
    n = int(round(float(value)))
    text = f"{abs(n):,}" if abs(n) >= 10_000 else str(abs(n))
    return (MINUS if n < 0 else "") + text


def percent(value: Any, digits: int = 1) -> str:
    """A proportion (0-1) as a percentage: ``5.5 %``."""
    if not finite(value):
        return MISSING
    return f"{num(100.0 * float(value), digits=digits)} %"


def count_percent(count: Any, total: Any = None, *, share: Any = None) -> str:
    """``44 (5.5 %)`` from a count and its denominator, or from a count and a proportion."""
    if not finite(count):
        return MISSING
    if share is None and finite(total) and float(total) > 0:
        share = float(count) / float(total)
    return f"{integer(count)} ({percent(share)})" if finite(share) else integer(count)


def interval(low: Any, high: Any, kind: str = "default") -> str:
    """``0.69 to 0.79``."""
    if not (finite(low) and finite(high)):
        return MISSING
    return f"{num(low, kind)} to {num(high, kind)}"


def level_text(level: Any) -> str:
    """``95 %`` from 0.95."""
    level = 0.95 if not finite(level) else float(level)
    return f"{100 * level:g} %"


def estimate(
    value: Any, low: Any = None, high: Any = None, kind: str = "default", *, level: Any = 0.95, label: str = "CI"
) -> str:
    """``0.74 (95 % CI 0.69 to 0.79)``; just ``0.74`` when there is no interval."""
    text = num(value, kind)
    if text == MISSING or not (finite(low) and finite(high)):
        return text
    return f"{text} ({level_text(level)} {label} {interval(low, high, kind)})"


def est(record: Mapping[str, Any] | None, kind: str = "default") -> str:
    """Format an Evidence ``Estimate`` dict (value, ci_low, ci_high, level)."""
    if not record:
        return MISSING
    return estimate(
        record.get("value"), record.get("ci_low"), record.get("ci_high"), kind, level=record.get("level", 0.95)
    )


def point(record: Mapping[str, Any] | float | None, kind: str = "default") -> str:
    """The point value of an Estimate dict (or a bare number)."""
    if isinstance(record, Mapping):
        return num(record.get("value"), kind)
    return num(record, kind)


def median_iqr(median: Any, q1: Any, q3: Any, digits: int | None = None) -> str:
    """``63.4 (IQR 56.4 to 71.5)``; integers stay integers when all three are whole numbers."""
    if not finite(median):
        return MISSING
    if digits is None:
        values = [v for v in (median, q1, q3) if finite(v)]
        digits = 0 if all(float(v).is_integer() for v in values) else DIGITS["median"]
    text = num(median, digits=digits)
    if finite(q1) and finite(q3):
        text += f" (IQR {num(q1, digits=digits)} to {num(q3, digits=digits)})"
    return text


def mean_sd(mean: Any, sd: Any, digits: int = 1) -> str:
    """``63.4 (SD 9.8)``."""
    if not finite(mean):
        return MISSING
    return f"{num(mean, digits=digits)} (SD {num(sd, digits=digits)})" if finite(sd) else num(mean, digits=digits)


def compact(value: Any, digits: int = 3) -> str:
    """A value with at most ``digits`` significant digits (``54.9``, ``0.43``, ``1230``): for bin edges."""
    if not finite(value):
        return MISSING
    text = f"{float(value):.{digits}g}"
    if "e" in text:
        text = f"{float(value):.0f}"
    return MINUS + text[1:] if text.startswith("-") else text


def month(value: Any) -> str:
    """``Feb 2012`` from the Evidence's ``2012-02``."""
    try:
        year, number = str(value).split("-")
        return f"{_MONTHS[int(number) - 1]} {int(year)}"
    except (ValueError, IndexError):
        return MISSING


def p_value(p: Any) -> str:
    """``P = 0.89``, ``P = 0.012``, ``P < 0.001``."""
    if not finite(p):
        return MISSING
    p = float(p)
    if p < 0.001:
        return "P < 0.001"
    return f"P = {p:.3f}" if p < 0.01 else f"P = {p:.2f}"


def threshold(value: Any) -> str:
    """A risk threshold as a percentage without trailing zeros: ``5 %``, ``12.5 %``."""
    if not finite(value):
        return MISSING
    return f"{100 * float(value):.4g} %"


def days(value: Any) -> str:
    """``730 days (24 months)``."""
    if not finite(value):
        return MISSING
    months = float(value) / 30.4375
    return f"{integer(value)} days ({num(months, digits=0)} months)"
