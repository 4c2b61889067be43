"""One bootstrap engine for every metric in the evaluation library.

A bootstrap replicate is represented by how many times each patient is drawn: the engine draws
an index matrix once (``n_boot`` x ``n``, numpy ``Generator``) and turns it into a matrix of
multiplicities ``weights``. Every metric in this package has a vectorised core
``core(y, p, weights) -> array`` that evaluates the statistic for all replicates at once
(a weight row of ones gives the point estimate), so no metric has its own resampling loop, all
metrics share the same replicates (differences between metrics or subgroups are paired), and a
subgroup's replicates are the columns of the same matrix.

Resampling is the ordinary bootstrap of patients by default: n patients drawn with replacement,
so the number of events varies between replicates as it varies between samples of the source
population, and intervals of calibration measures (O:E, calibration-in-the-large, Brier) include
that variability. With ``clusters`` (for example centres or surgeons) whole clusters are drawn
with replacement instead (Field & Welsh, JRSS B 2007), for patients that are not independent.

Outcome stratification (``stratify=True``: events drawn from events and non-events from
non-events) is an option for one situation only: a design that fixed the number of events, such
as case-control sampling or a validation set assembled to a fixed event count. Everywhere else it
treats the event count as known and makes the intervals of calibration measures far too narrow
(a perfectly calibrated model's O:E interval then covers 1 in about 40 % of samples).

Confidence intervals are percentile intervals of the replicates (Efron & Tibshirani 1993,
ch. 13). Replicates where a statistic is undefined (NaN) are left out and counted.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ._validation import InsufficientDataError, as_outcome, check_groups, check_level
from .results import Estimate

MIN_VALID_REPLICATES = 10
"""Fewer defined replicates than this and no bootstrap interval is reported."""


@dataclass(frozen=True, eq=False)
class Bootstrap:
    """Bootstrap replicates as a (n_boot, n) float matrix of multiplicities.

    Build with :meth:`Bootstrap.draw`; pass the same object to every metric so that all share
    the replicates. Intervals are percentile intervals at ``level``.
    """

    weights: np.ndarray = field(repr=False)
    level: float = 0.95
    seed: int | None = None
    stratified: bool = False
    clustered: bool = False

    @classmethod
    def draw(
        cls,
        y: Any,
        *,
        n_boot: int = 1000,
        seed: int | None = None,
        stratify: bool = False,
        clusters: Any = None,
        level: float = 0.95,
    ) -> Bootstrap:
        """Draw ``n_boot`` replicates for outcomes ``y`` with ``numpy.random.default_rng(seed)``.

        Ordinary bootstrap of patients; ``stratify=True`` keeps the event count fixed (only for
        designs that fixed it, see the module docstring); with ``clusters`` (one label per row)
        clusters are resampled whole and the stratification is not applied.
        """
        y_arr = as_outcome(y)
        check_level(level)
        if n_boot < 1:
            raise ValueError("n_boot must be at least 1")
        n = y_arr.size
        if n == 0:
            raise InsufficientDataError("no observations to resample")
        rng = np.random.default_rng(seed)
        if clusters is not None:
            labels = check_groups(clusters, n, name="clusters")
            _, cluster_of_row = np.unique(labels.astype(str), return_inverse=True)
            n_clusters = int(cluster_of_row.max()) + 1
            drawn = rng.integers(0, n_clusters, size=(n_boot, n_clusters))
            cluster_counts = _count_rows(drawn, n_clusters)
            weights = cluster_counts[:, cluster_of_row]
            return cls(weights.astype(float), level, seed, stratified=False, clustered=True)
        weights = np.zeros((n_boot, n))
        strata = [np.flatnonzero(y_arr == 1), np.flatnonzero(y_arr == 0)] if stratify else [np.arange(n)]
        for members in strata:
            if members.size == 0:
                continue
            drawn = rng.integers(0, members.size, size=(n_boot, members.size))
            weights[:, members] = _count_rows(drawn, members.size)
        return cls(weights, level, seed, stratified=stratify, clustered=False)

    @property
    def n_boot(self) -> int:
        return int(self.weights.shape[0])

    def interval(self, replicates: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Percentile interval over the replicate axis (axis 0), ignoring NaN replicates.

        Returns (low, high, n_valid); low and high are NaN where fewer than
        MIN_VALID_REPLICATES replicates are defined.
        """
        return percentile_interval(replicates, self.level)

    def estimate(self, value: float, replicates: np.ndarray) -> Estimate:
        """An Estimate of ``value`` with the percentile interval of scalar ``replicates``."""
        low, high, n_valid = self.interval(np.asarray(replicates, dtype=float))
        return Estimate(
            value=float(value),
            ci_low=float(low),
            ci_high=float(high),
            se=float(np.nanstd(replicates, ddof=1)) if int(n_valid) > 1 else None,
            ci_method="bootstrap-percentile",
            level=self.level,
            n_boot_valid=int(n_valid),
        )


def percentile_interval(replicates: np.ndarray, level: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Percentile interval (alpha/2, 1 - alpha/2 quantiles) along axis 0, NaN-aware."""
    reps = np.asarray(replicates, dtype=float)
    n_valid = np.sum(np.isfinite(reps), axis=0)
    alpha = 1.0 - level
    finite = np.where(np.isfinite(reps), reps, np.nan)
    enough = n_valid >= MIN_VALID_REPLICATES
    if not np.any(enough):
        nan = np.full(reps.shape[1:], np.nan)
        return nan, nan.copy(), n_valid
    with np.errstate(all="ignore"):
        low = np.nanquantile(np.where(enough, finite, 0.0), alpha / 2, axis=0)
        high = np.nanquantile(np.where(enough, finite, 0.0), 1 - alpha / 2, axis=0)
    return np.where(enough, low, np.nan), np.where(enough, high, np.nan), n_valid


def ones_weights(n: int) -> np.ndarray:
    """A single replicate of unit weights: metric cores evaluated on it give point estimates."""
    return np.ones((1, n))


def _count_rows(drawn: np.ndarray, size: int) -> np.ndarray:
    """Multiplicities of each index 0..size-1 in every row of an index matrix."""
    n_rows = drawn.shape[0]
    flat = (drawn + size * np.arange(n_rows)[:, None]).ravel()
    return np.bincount(flat, minlength=n_rows * size).reshape(n_rows, size).astype(float)
