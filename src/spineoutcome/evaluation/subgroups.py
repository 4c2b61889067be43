"""Performance per subgroup and per intersection of subgroups, modelled on fairlearn's
MetricFrame: ``.overall``, ``.by_group``, ``.difference()``, and ``.to_frame()`` for a tidy table.

Every metric of this package can be computed per group: it is the same vectorised core as in
the overall analysis, applied to the group's rows. With a Bootstrap the group's replicates are
the same replicates restricted to the group's columns, so the difference from the overall value
is paired replicate by replicate and gets its own percentile interval.

ICI, E50, E90 and Emax get the same bias-aware interval as the overall analysis
(:func:`.calibration.error_estimate`): the percentile interval, extended down to 0 when the
group's estimate does not exceed the 1 - alpha/2 quantile of its distribution under perfect
calibration (outcomes drawn from the group's own predictions, the same replicate count and
binning). A plain percentile interval of these upward-biased errors almost never contains 0, the
value of a perfectly calibrated model (tests/evaluation/test_subgroups.py measures it).

A group with fewer than ``min_events`` events or ``min_non_events`` non-events is reported with
status "too_few_events" and no estimates (a result, not an exception). A metric that is
undefined in an estimable group (for example a calibration slope with constant predictions) has
status "undefined".
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd

from ._validation import check_groups, check_level, check_outcome_and_probability
from .bootstrap import Bootstrap, ones_weights
from .calibration import (
    ERROR_METRICS,
    citl_weighted,
    error_estimate,
    loess_errors_weighted,
    oe_weighted,
    perfect_calibration_errors,
    slope_weighted,
)
from .decision_curve import net_benefit_weighted
from .discrimination import auc_weighted
from .overall import OVERALL_METRICS, overall_weighted
from .results import Estimate, JsonResult

DEFAULT_METRICS = (
    "auc",
    *OVERALL_METRICS,
    "citl",
    "slope",
    "oe_ratio",
    *ERROR_METRICS,
)
THRESHOLD_METRICS = ("net_benefit", "sensitivity", "specificity", "ppv", "npv")
"""Metrics computed at each of the frame's ``thresholds``, named e.g. "net_benefit@0.1"."""

Core = Callable[[np.ndarray, np.ndarray, np.ndarray], dict[str, np.ndarray]]


@dataclass(frozen=True)
class MetricValue(JsonResult):
    """One metric in one group: estimate, difference from the overall value, status."""

    metric: str
    estimate: Estimate | None
    difference: Estimate | None
    status: str


@dataclass(frozen=True)
class GroupResult(JsonResult):
    """All metrics of one group; ``grouping`` names the columns, ``group`` their labels."""

    grouping: tuple[str, ...]
    group: tuple[str, ...]
    n: int
    n_events: int
    status: str
    message: str | None
    metrics: dict[str, MetricValue]


@dataclass(frozen=True)
class SubgroupFrame(JsonResult):
    """Metrics overall and per (intersectional) subgroup.

    Fields are the JSON record; ``overall``, ``by_group``, ``difference()`` and ``to_frame()``
    give pandas views.
    """

    metrics: tuple[str, ...]
    overall_estimates: dict[str, Estimate]
    groups: tuple[GroupResult, ...]
    n: int
    n_events: int
    min_events: int
    min_non_events: int
    level: float

    @property
    def overall(self) -> pd.Series:
        """Overall value of each metric."""
        return pd.Series({m: self.overall_estimates[m].value for m in self.metrics}, name="overall")

    @property
    def by_group(self) -> pd.DataFrame:
        """Metric values (columns) per group (rows indexed by grouping and group labels);
        NaN where not estimable."""
        return self._table(lambda mv: mv.estimate)

    def difference(self, method: Literal["to_overall", "between_groups"] = "to_overall") -> pd.DataFrame:
        """``to_overall``: group minus overall, per group and metric. ``between_groups``: per
        grouping, the largest minus the smallest group value of each metric (as fairlearn)."""
        if method == "to_overall":
            return self._table(lambda mv: mv.difference)
        if method == "between_groups":
            table = self.by_group
            return table.groupby(level="grouping", sort=False).agg(lambda s: s.max() - s.min())
        raise ValueError("method must be 'to_overall' or 'between_groups'")

    def to_frame(self) -> pd.DataFrame:
        """Tidy table: one row per group and metric with estimate, interval, difference from
        overall with its interval, counts and status; overall rows have grouping "overall"."""
        records = []
        for metric in self.metrics:
            est = self.overall_estimates[metric]
            status = "ok" if math.isfinite(est.value) else "undefined"
            records.append(_record(("overall",), ("all",), metric, est, None, self.n, self.n_events, status))
        for g in self.groups:
            for metric in self.metrics:
                mv = g.metrics[metric]
                records.append(
                    _record(g.grouping, g.group, metric, mv.estimate, mv.difference, g.n, g.n_events, mv.status)
                )
        return pd.DataFrame.from_records(records)

    def _table(self, pick: Callable[[MetricValue], Estimate | None]) -> pd.DataFrame:
        index = pd.MultiIndex.from_tuples(
            [(" x ".join(g.grouping), " x ".join(g.group)) for g in self.groups],
            names=["grouping", "group"],
        )
        data = [[_value(pick(g.metrics[m])) for m in self.metrics] for g in self.groups]
        return pd.DataFrame(data, index=index, columns=list(self.metrics))


def subgroup_metrics(
    y: Any,
    p: Any,
    groups: Any,
    *,
    metrics: Sequence[str] = DEFAULT_METRICS,
    thresholds: Sequence[float] = (),
    intersections: bool = True,
    min_events: int = 10,
    min_non_events: int = 10,
    boot: Bootstrap | None = None,
    n_bins: int = 100,
    level: float = 0.95,
) -> SubgroupFrame:
    """Every requested metric overall, per group of each grouping column and (with
    ``intersections``) per intersection of two or more columns.

    ``groups`` is a DataFrame or mapping of columns, or one array (named "group"); missing
    labels form their own group "(missing)". ``metrics`` are names from DEFAULT_METRICS;
    ``thresholds`` add THRESHOLD_METRICS at each threshold. Intervals and differences are
    bootstrap percentile intervals when ``boot`` is given (loess errors use ``n_bins`` bins in
    the replicates, and their intervals are extended to 0 when perfect calibration is not
    rejected: module docstring), otherwise only point estimates are reported.
    """
    y_arr, p_arr = check_outcome_and_probability(y, p)
    check_level(level if boot is None else boot.level)
    columns = _group_columns(groups, y_arr.size)
    names = [*metrics, *(f"{m}@{t:g}" for t in thresholds for m in THRESHOLD_METRICS)]
    unknown = [m for m in metrics if m not in DEFAULT_METRICS]
    if unknown:
        raise ValueError(f"unknown metric name(s): {', '.join(unknown)}")
    cores = _cores(tuple(metrics), tuple(float(t) for t in thresholds), n_bins)
    overall_point, overall_reps = _evaluate(cores, y_arr, p_arr, None, boot)
    null = _null_errors(p_arr, metrics, boot, n_bins)
    overall_estimates = {
        m: _estimate(overall_point[m], overall_reps[m] if overall_reps else None, boot, null.get(m)) for m in names
    }
    combos: list[tuple[str, ...]] = [(c,) for c in columns]
    if intersections:
        for size in range(2, len(columns) + 1):
            combos.extend(itertools.combinations(columns, size))
    results = []
    for combo in combos:
        parts = zip(*(columns[c] for c in combo), strict=True)
        keys = np.array([" | ".join(labels) for labels in parts])
        for key in sorted(np.unique(keys)):
            mask = keys == key
            label = tuple(str(columns[c][np.flatnonzero(mask)[0]]) for c in combo)
            results.append(
                _group_result(
                    combo,
                    label,
                    mask,
                    y_arr,
                    p_arr,
                    cores,
                    names,
                    overall_point,
                    overall_reps,
                    boot,
                    min_events,
                    min_non_events,
                    n_bins,
                )
            )
    return SubgroupFrame(
        metrics=tuple(names),
        overall_estimates=overall_estimates,
        groups=tuple(results),
        n=int(y_arr.size),
        n_events=int(y_arr.sum()),
        min_events=min_events,
        min_non_events=min_non_events,
        level=boot.level if boot is not None else level,
    )


def _group_result(
    combo: tuple[str, ...],
    label: tuple[str, ...],
    mask: np.ndarray,
    y: np.ndarray,
    p: np.ndarray,
    cores: list[Core],
    names: list[str],
    overall_point: dict[str, float],
    overall_reps: dict[str, np.ndarray] | None,
    boot: Bootstrap | None,
    min_events: int,
    min_non_events: int,
    n_bins: int,
) -> GroupResult:
    yg, pg = y[mask], p[mask]
    n_events = int(yg.sum())
    n_non = int(yg.size - n_events)
    if n_events < min_events or n_non < min_non_events:
        message = (
            f"{n_events} event(s) and {n_non} non-event(s); at least {min_events} and "
            f"{min_non_events} are needed to estimate"
        )
        empty = {m: MetricValue(m, None, None, "too_few_events") for m in names}
        return GroupResult(combo, label, int(yg.size), n_events, "too_few_events", message, empty)
    point, reps = _evaluate(cores, yg, pg, mask, boot)
    null = _null_errors(pg, [m for m in names if m in ERROR_METRICS], boot, n_bins)
    values = {}
    for m in names:
        est = _estimate(point[m], reps[m] if reps else None, boot, null.get(m))
        diff_reps = reps[m] - overall_reps[m] if reps and overall_reps else None
        diff = _estimate(point[m] - overall_point[m], diff_reps, boot)
        status = "ok" if math.isfinite(point[m]) else "undefined"
        values[m] = MetricValue(m, est, diff, status)
    return GroupResult(combo, label, int(yg.size), n_events, "ok", None, values)


def _evaluate(
    cores: list[Core],
    y: np.ndarray,
    p: np.ndarray,
    mask: np.ndarray | None,
    boot: Bootstrap | None,
) -> tuple[dict[str, float], dict[str, np.ndarray] | None]:
    one = ones_weights(y.size)
    point: dict[str, float] = {}
    reps: dict[str, np.ndarray] | None = {} if boot is not None else None
    with np.errstate(all="ignore"):
        for core in cores:
            point.update({k: float(v[0]) for k, v in core(y, p, one).items()})
            if boot is not None and reps is not None:
                w = boot.weights if mask is None else boot.weights[:, mask]
                reps.update(core(y, p, w))
    return point, reps


def _cores(metrics: tuple[str, ...], thresholds: tuple[float, ...], n_bins: int) -> list[Core]:
    wanted = set(metrics)
    cores: list[Core] = []
    if "auc" in wanted:
        cores.append(lambda y, p, w: {"auc": auc_weighted(y, p, w)})
    if wanted & set(OVERALL_METRICS):
        cores.append(overall_weighted)
    if "citl" in wanted:
        cores.append(lambda y, p, w: {"citl": citl_weighted(y, p, w)})
    if "slope" in wanted:
        cores.append(lambda y, p, w: {"slope": slope_weighted(y, p, w)})
    if "oe_ratio" in wanted:
        cores.append(lambda y, p, w: {"oe_ratio": oe_weighted(y, p, w)})
    if wanted & set(ERROR_METRICS):
        cores.append(lambda y, p, w: loess_errors_weighted(y, p, w, n_bins=None if w.shape[0] == 1 else n_bins))
    if thresholds:
        t = np.asarray(thresholds)
        cores.append(lambda y, p, w: _threshold_core(y, p, w, t))
    return cores


def _threshold_core(y: np.ndarray, p: np.ndarray, w: np.ndarray, thresholds: np.ndarray) -> dict[str, np.ndarray]:
    nb = net_benefit_weighted(y, p, w, thresholds)["nb_model"]
    out = {}
    for j, t in enumerate(thresholds):
        positive = (p >= t).astype(float)
        tp = w @ (y * positive)
        fp = w @ ((1 - y) * positive)
        fn = w @ (y * (1 - positive))
        tn = w @ ((1 - y) * (1 - positive))
        with np.errstate(divide="ignore", invalid="ignore"):
            out[f"net_benefit@{t:g}"] = nb[:, j]
            out[f"sensitivity@{t:g}"] = tp / (tp + fn)
            out[f"specificity@{t:g}"] = tn / (tn + fp)
            out[f"ppv@{t:g}"] = tp / (tp + fp)
            out[f"npv@{t:g}"] = tn / (tn + fn)
    return out


def _null_errors(p: np.ndarray, metrics: Sequence[str], boot: Bootstrap | None, n_bins: int) -> dict[str, np.ndarray]:
    """The calibration errors' replicates under perfect calibration of predictions ``p`` (module
    docstring); empty without a bootstrap or without error metrics."""
    if boot is None or not set(metrics) & set(ERROR_METRICS):
        return {}
    with np.errstate(all="ignore"):
        return perfect_calibration_errors(p, boot.n_boot, boot.seed, n_bins=n_bins)


def _estimate(
    value: float, replicates: np.ndarray | None, boot: Bootstrap | None, null: np.ndarray | None = None
) -> Estimate:
    if boot is None or replicates is None:
        return Estimate(float(value))
    if null is not None and math.isfinite(value):
        return error_estimate(boot, value, replicates, null)
    return boot.estimate(value, replicates)


def _group_columns(groups: Any, n: int) -> dict[str, np.ndarray]:
    if isinstance(groups, pd.DataFrame):
        raw = {str(c): groups[c].to_numpy() for c in groups.columns}
    elif isinstance(groups, Mapping):
        raw = {str(k): np.asarray(v, dtype=object) for k, v in groups.items()}
    elif isinstance(groups, pd.Series):
        raw = {str(groups.name) if groups.name is not None else "group": groups.to_numpy()}
    else:
        raw = {"group": np.asarray(groups, dtype=object)}
    if not raw:
        raise ValueError("groups has no columns")
    return {k: check_groups(v, n, name=f"groups[{k!r}]").astype(str) for k, v in raw.items()}


def _value(est: Estimate | None) -> float:
    return math.nan if est is None else est.value


def _record(
    grouping: tuple[str, ...],
    group: tuple[str, ...],
    metric: str,
    est: Estimate | None,
    diff: Estimate | None,
    n: int,
    n_events: int,
    status: str,
) -> dict[str, Any]:
    return {
        "grouping": " x ".join(grouping),
        "group": " x ".join(group),
        "metric": metric,
        "estimate": _value(est),
        "ci_low": None if est is None else est.ci_low,
        "ci_high": None if est is None else est.ci_high,
        "difference": _value(diff),
        "difference_ci_low": None if diff is None else diff.ci_low,
        "difference_ci_high": None if diff is None else diff.ci_high,
        "n": n,
        "n_events": n_events,
        "status": status,
    }
