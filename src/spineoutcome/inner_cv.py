"""Inner cross-validation folds that keep every copy of a patient on one side of a split.

A model's own data-driven steps (Optuna tuning, the LASSO radiomics selector) choose their
settings by an inner stratified k-fold CV on the rows they are fit on. On a bootstrap replicate
those rows contain copies of the same patient; split freely, one copy trains and another tests, the
inner CV rewards memorising, and the replicate's model is more overfit than the procedure is on a
real sample, which inflates Harrell's optimism (Harrell, Regression Modeling Strategies 2nd ed.,
5.3.5, assumes the procedure behaves on a replicate as on a new sample). Row identity is the
DataFrame index (the patient key, unique in a cohort; ``X.iloc[sample]`` repeats it for each
copy), so copies are grouped with scikit-learn's ``StratifiedGroupKFold``. Without repeated
labels (ordinary data) the folds are plain ``StratifiedKFold``, unchanged.

:class:`RepeatedInnerFolds` repeats the split with other random partitions. Tuning scores every
candidate on all of them and averages: one partition of a few hundred patients gives a noisy score
curve, and where it is flat (a penalised regression's log-loss near its best penalty) the noise
decides the penalty, and with it the calibration slope (Van Calster et al., Stat Methods Med Res
2020;29:3166-78; Riley et al., J Clin Epidemiol 2021;132:88-96). Averaging over r partitions reduces
that noise (repeated cross-validation; Kim, Comput Stat Data Anal 2009;53:3735-45).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from sklearn.model_selection import StratifiedGroupKFold, StratifiedKFold


def row_identity(X: Any) -> np.ndarray | None:
    """Group codes of the rows of ``X`` by index label when some label repeats, else None."""
    if not isinstance(X, pd.DataFrame | pd.Series) or X.index.is_unique:
        return None
    return pd.factorize(X.index)[0]


def inner_folds(
    X: Any, y: np.ndarray, n_splits: int, random_state: int | None, groups: np.ndarray | None = None
) -> list[tuple[np.ndarray, np.ndarray]]:
    """Stratified ``n_splits``-fold (train, test) positions; copies of a row never straddle a split.

    ``groups`` (from :func:`row_identity`) defaults to the identity read from ``X``'s index.
    """
    groups = row_identity(X) if groups is None else groups
    if groups is None:
        splitter = StratifiedKFold(n_splits=n_splits, shuffle=True, random_state=random_state)
        return list(splitter.split(np.zeros(len(y)), y))
    splitter = StratifiedGroupKFold(n_splits=n_splits, shuffle=True, random_state=random_state)
    return list(splitter.split(np.zeros(len(y)), y, groups))


class RepeatedInnerFolds:
    """``n_repeats`` independent partitions into stratified ``n_splits`` folds (:func:`inner_folds`,
    copies of a row kept together): a splitter for ``TunedClassifier(inner_cv=...)``.

    The first repeat is ``inner_folds(X, y, n_splits, random_state)`` itself, so one repeat is the
    plain inner CV; repeat i > 0 is seeded from ``SeedSequence([random_state, i])``.
    """

    def __init__(self, n_splits: int, n_repeats: int, random_state: int) -> None:
        if n_splits < 2 or n_repeats < 1:
            raise ValueError("RepeatedInnerFolds needs n_splits >= 2 and n_repeats >= 1")
        self.n_splits = n_splits
        self.n_repeats = n_repeats
        self.random_state = random_state

    def split(self, X: Any, y: Any, groups: np.ndarray | None = None) -> list[tuple[np.ndarray, np.ndarray]]:
        """(train, test) positions of every fold of every repeat, repeat after repeat."""
        y = np.asarray(y)
        folds: list[tuple[np.ndarray, np.ndarray]] = []
        for i in range(self.n_repeats):
            seed = self.random_state if i == 0 else _derived_seed(self.random_state, i)
            folds.extend(inner_folds(X, y, self.n_splits, seed, groups))
        return folds

    def get_n_splits(self, X: Any = None, y: Any = None, groups: Any = None) -> int:
        """Folds over all repeats (scikit-learn's splitter interface)."""
        return self.n_splits * self.n_repeats

    def __repr__(self) -> str:
        return (
            f"RepeatedInnerFolds(n_splits={self.n_splits}, n_repeats={self.n_repeats}, "
            f"random_state={self.random_state})"
        )


def _derived_seed(seed: int, stream: int) -> int:
    return int(np.random.SeedSequence([seed, stream]).generate_state(1)[0])
