"""Validation schemes: which rows develop a model and which rows test it.

- repeated stratified k-fold cross-validation;
- internal-external cross-validation by centre (Steyerberg & Harrell, J Clin Epidemiol 2016):
  each centre in turn is the test set, the model is developed on all the others;
- temporal validation by surgery date (develop before a date, validate from it);
- bootstrap samples for Harrell's optimism correction (Regression Modeling Strategies, 5.3.5).

Every scheme yields :class:`Split` objects holding integer row positions, so that every family
of an experiment is developed and tested on exactly the same rows.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.model_selection import RepeatedStratifiedKFold


@dataclass(frozen=True)
class Split:
    """One development/test partition; ``label`` names it (fold, centre code or bootstrap replicate)."""

    scheme: str
    label: str
    train: np.ndarray
    test: np.ndarray


def cv_splits(y: np.ndarray, folds: int, repeats: int, seed: int) -> list[Split]:
    """Repeated stratified k-fold splits (outcome-stratified so each fold keeps the event rate)."""
    y = np.asarray(y)
    events = int(y.sum())
    if min(events, len(y) - events) < folds:
        raise ValueError(
            f"{folds}-fold cross-validation needs at least {folds} events and non-events; "
            f"found {events} events and {len(y) - events} non-events"
        )
    splitter = RepeatedStratifiedKFold(n_splits=folds, n_repeats=repeats, random_state=seed)
    return [
        Split("cv", f"repeat {i // folds + 1} fold {i % folds + 1}", train, test)
        for i, (train, test) in enumerate(splitter.split(np.zeros(len(y)), y))
    ]


def centre_splits(centres: pd.Series | np.ndarray, y: np.ndarray, min_events: int) -> tuple[list[Split], list[str]]:
    """Internal-external cross-validation: leave one centre out at a time.

    A centre with fewer than ``min_events`` events (or non-events) cannot be judged as a test set;
    it stays in every development set and is returned in the second list, so the report can say so.
    """
    centres = np.asarray(centres).astype(str)
    y = np.asarray(y)
    splits: list[Split] = []
    skipped: list[str] = []
    for centre in sorted(np.unique(centres)):
        test = np.flatnonzero(centres == centre)
        events = int(y[test].sum())
        if min(events, len(test) - events) < min_events:
            skipped.append(centre)
            continue
        splits.append(Split("iecv", centre, np.flatnonzero(centres != centre), test))
    return splits, skipped


def temporal_split(dates: pd.Series, split_date: str) -> Split:
    """Develop on operations before ``split_date``, validate on those from it onwards."""
    cut = pd.Timestamp(split_date)
    dates = pd.to_datetime(pd.Series(dates)).to_numpy()
    train, test = np.flatnonzero(dates < cut), np.flatnonzero(dates >= cut)
    if len(train) == 0 or len(test) == 0:
        raise ValueError(f"temporal split at {split_date} leaves an empty development or validation set")
    return Split("temporal", f"from {split_date}", train, test)


def bootstrap_samples(y: np.ndarray, replicates: int, seed: int) -> Iterator[Split]:
    """Outcome-stratified bootstrap samples; ``test`` is the whole original sample (Harrell's scheme)."""
    y = np.asarray(y)
    rng = np.random.default_rng(seed)
    everyone = np.arange(len(y))
    strata = [np.flatnonzero(y == v) for v in np.unique(y)]
    for b in range(replicates):
        train = np.concatenate([rng.choice(s, size=len(s), replace=True) for s in strata])
        yield Split("bootstrap", f"replicate {b + 1}", np.sort(train), everyone)
