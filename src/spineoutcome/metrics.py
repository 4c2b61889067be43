"""The one metric vocabulary of the package, and the accessors that read a metric from Evidence.

The evaluation library keeps its own short names inside its records (``calibration.citl``,
``calibration.slope``, subgroup rows named ``slope``), and the point-metric records of the optimism
bootstrap, the cross-validation repeats and internal-external pooling use ``calibration_slope``.
Those stored names are part of the Evidence schema and stay as they are; every reader (report,
model card, CLI, tracking) names a metric by its :class:`Metric` name here and reads it through
:func:`estimate`, :func:`point` or :func:`subgroup_name`, never by walking the record itself.
Adding a metric is one :class:`Metric` entry (plus computing it in the evaluation library).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Metric:
    """One performance measure: its name, how it is printed and where each kind of record keeps it.

    ``evaluation``: path inside an evaluation record (Evidence ``cross_validation``, temporal
    ``evaluation``); ``point``: key in point-metric records (``optimism.apparent``/``corrected``,
    ``cv_repeats`` rows, ``internal_external.pooled_predictions``); ``subgroup``: the metric name in
    subgroup rows; ``kind``: its number format (:data:`spineoutcome.report.numbers.DIGITS`);
    ``ideal``: the value of a perfect model, when there is one.
    """

    name: str
    label: str
    kind: str
    evaluation: tuple[str, ...] | None = None
    point: str | None = None
    subgroup: str | None = None
    ideal: float | None = None


METRICS: dict[str, Metric] = {
    m.name: m
    for m in (
        Metric("auc", "AUC (C-statistic)", "auc", ("discrimination", "auc"), "auc", "auc", 1.0),
        Metric("harrell_c", "Harrell's C", "c", ("harrell_c",), ideal=1.0),
        Metric(
            "calibration_intercept",
            "Calibration in the large (CITL)",
            "citl",
            ("calibration", "citl"),
            "calibration_intercept",
            "citl",
            0.0,
        ),
        Metric(
            "calibration_slope",
            "Calibration slope",
            "slope",
            ("calibration", "slope"),
            "calibration_slope",
            "slope",
            1.0,
        ),
        Metric("oe_ratio", "O:E ratio", "oe", ("calibration", "oe_ratio"), subgroup="oe_ratio", ideal=1.0),
        Metric("ici", "Integrated calibration index", "ici", ("calibration_curve", "ici"), "ici", "ici", 0.0),
        Metric("e50", "E50", "e50", ("calibration_curve", "e50"), subgroup="e50", ideal=0.0),
        Metric("e90", "E90", "e90", ("calibration_curve", "e90"), subgroup="e90", ideal=0.0),
        Metric("emax", "Emax", "emax", ("calibration_curve", "emax"), subgroup="emax", ideal=0.0),
        Metric("brier", "Brier score", "brier", ("overall", "brier"), "brier", "brier", 0.0),
        Metric(
            "scaled_brier",
            "Scaled Brier score",
            "scaled_brier",
            ("overall", "scaled_brier"),
            subgroup="scaled_brier",
            ideal=1.0,
        ),
        Metric("log_loss", "Log-loss", "log_loss", ("overall", "log_loss"), subgroup="log_loss", ideal=0.0),
        Metric("r2_cox_snell", "Cox-Snell R²", "r2", ("overall", "r2_cox_snell"), subgroup="r2_cox_snell"),
        Metric("r2_nagelkerke", "Nagelkerke R²", "r2", ("overall", "r2_nagelkerke"), subgroup="r2_nagelkerke"),
        Metric("net_benefit", "Net benefit", "nb", subgroup="net_benefit"),
        Metric("sensitivity", "Sensitivity", "sens", subgroup="sensitivity"),
        Metric("specificity", "Specificity", "spec", subgroup="specificity"),
        Metric("ppv", "Positive predictive value", "ppv", subgroup="ppv"),
        Metric("npv", "Negative predictive value", "npv", subgroup="npv"),
    )
}
"""Every metric by its name (module docstring)."""

_BY_STORED_NAME: dict[str, Metric] = {
    **{m.subgroup: m for m in METRICS.values() if m.subgroup},
    **{m.point: m for m in METRICS.values() if m.point},
    **{m.evaluation[-1]: m for m in METRICS.values() if m.evaluation},
    **METRICS,
}


def metric(name: str) -> Metric:
    """The metric called ``name``, or stored under ``name`` in some record (``"citl"``, ``"slope"``,
    ``"sensitivity@0.1"``); a ValueError names the known ones."""
    found = _BY_STORED_NAME.get(name.split("@")[0])
    if found is None:
        raise ValueError(f"unknown metric {name!r}; choose one of {sorted(METRICS)}")
    return found


def estimate(record: Mapping[str, Any] | None, name: str) -> dict[str, Any] | None:
    """The estimate (``value``, ``ci_low``, ``ci_high``, ...) of metric ``name`` in an evaluation record
    (a family's ``cross_validation``, a temporal ``evaluation``); None where it was not recorded."""
    path = metric(name).evaluation
    node: Any = record
    for key in path or ():
        node = node.get(key) if isinstance(node, Mapping) else None
    return node if path and isinstance(node, Mapping) else None


def point(record: Mapping[str, Any] | None, name: str) -> float | None:
    """The value of metric ``name`` in a point-metric record (optimism ``apparent``/``corrected``,
    a ``cv_repeats`` row, IECV ``pooled_predictions``); None where it was not recorded."""
    key = metric(name).point
    value = record.get(key) if key and isinstance(record, Mapping) else None
    return value if isinstance(value, int | float) and not isinstance(value, bool) else None


def subgroup_name(name: str) -> str:
    """The name subgroup rows give metric ``name`` (``"calibration_slope"`` -> ``"slope"``)."""
    stored = metric(name).subgroup
    if stored is None:
        raise ValueError(f"metric {name!r} is not computed by subgroup")
    return stored


def kind(name: str) -> str:
    """The number format of a metric named by any of its names (``"default"`` for another key)."""
    try:
        return metric(name).kind
    except ValueError:
        return "default"
