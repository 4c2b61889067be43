"""Inner folds: plain stratified k-fold on ordinary data; copies of a row grouped on a replicate."""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.model_selection import StratifiedKFold

from spineoutcome.inner_cv import inner_folds, row_identity


def _frame(index: list[str]) -> pd.DataFrame:
    return pd.DataFrame({"x": np.arange(len(index), dtype=float)}, index=index)


def test_unique_index_gives_sklearns_stratified_kfold() -> None:
    y = np.array([0, 1] * 30)
    X = _frame([f"p{i}" for i in range(60)])
    expected = StratifiedKFold(5, shuffle=True, random_state=4).split(np.zeros(60), y)
    for (train, test), (ref_train, ref_test) in zip(inner_folds(X, y, 5, 4), expected, strict=True):
        np.testing.assert_array_equal(train, ref_train)
        np.testing.assert_array_equal(test, ref_test)
    assert row_identity(X) is None
    assert row_identity(X.to_numpy()) is None


def test_copies_of_a_row_never_straddle_a_split_and_folds_cover_every_row() -> None:
    rng = np.random.default_rng(0)
    y_base = rng.binomial(1, 0.3, 200)
    draw = rng.integers(0, 200, 200)
    X = _frame([f"p{i}" for i in draw])
    y = y_base[draw]
    np.testing.assert_array_equal(row_identity(X), pd.factorize(X.index)[0])
    folds = inner_folds(X, y, 5, 1)
    tested = np.concatenate([test for _, test in folds])
    assert sorted(tested.tolist()) == list(range(200))  # a partition of the rows
    for train, test in folds:
        assert not set(X.index[train]) & set(X.index[test])
        assert abs(y[test].mean() - y.mean()) < 0.08


def test_repeated_inner_folds_are_independent_partitions_starting_with_the_plain_one() -> None:
    from spineoutcome.inner_cv import RepeatedInnerFolds

    y = np.array([0, 0, 1] * 40)
    X = _frame([f"p{i}" for i in range(120)])
    folds = RepeatedInnerFolds(3, 4, random_state=7).split(X, y)
    assert len(folds) == 12 == RepeatedInnerFolds(3, 4, 7).get_n_splits()
    for (train, test), (ref_train, ref_test) in zip(folds[:3], inner_folds(X, y, 3, 7), strict=True):
        np.testing.assert_array_equal(train, ref_train)
        np.testing.assert_array_equal(test, ref_test)
    tests = [np.sort(np.concatenate([t for _, t in folds[3 * r : 3 * r + 3]])) for r in range(4)]
    assert all(np.array_equal(t, np.arange(120)) for t in tests)  # each repeat partitions the rows
    assert all(abs(y[t].mean() - 1 / 3) < 0.03 for _, t in folds)  # stratified
    first_tests = {tuple(t) for _, t in folds[:3]}
    assert all(tuple(t) not in first_tests for _, t in folds[3:])  # the other repeats are other partitions
    assert RepeatedInnerFolds(3, 4, 7).split(X, y)[5][1].tolist() == folds[5][1].tolist()  # seeded


def test_repeated_inner_folds_keep_copies_of_a_row_together() -> None:
    from spineoutcome.inner_cv import RepeatedInnerFolds

    rng = np.random.default_rng(1)
    draw = rng.integers(0, 150, 150)
    X = _frame([f"p{i}" for i in draw])
    y = rng.binomial(1, 0.3, 150)[draw]
    for train, test in RepeatedInnerFolds(3, 3, 2).split(X, y, row_identity(X)):
        assert not set(X.index[train]) & set(X.index[test])
