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
