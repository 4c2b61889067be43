"""Validation schemes: partitions are complete, disjoint, stratified and reproducible."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from spineoutcome.modeling.resampling import bootstrap_samples, centre_splits, cv_splits, temporal_split


def test_cv_folds_partition_every_row_once_per_repeat_and_keep_the_event_rate():
    y = np.array([1] * 20 + [0] * 80)
    splits = cv_splits(y, folds=5, repeats=2, seed=3)
    assert len(splits) == 10
    for r in range(2):
        tests = np.concatenate([s.test for s in splits[r * 5 : (r + 1) * 5]])
        assert sorted(tests) == list(range(100))
    assert all(y[s.test].sum() == 4 for s in splits)
    assert all(len(np.intersect1d(s.train, s.test)) == 0 for s in splits)
    again = cv_splits(y, folds=5, repeats=2, seed=3)
    assert all(np.array_equal(a.test, b.test) for a, b in zip(splits, again, strict=True))


def test_cv_refuses_fewer_events_than_folds():
    with pytest.raises(ValueError, match="at least 5 events"):
        cv_splits(np.array([1, 1, 0, 0, 0, 0, 0, 0]), folds=5, repeats=1, seed=0)


def test_iecv_leaves_each_centre_out_and_pools_small_centres():
    centres = np.array(["A"] * 40 + ["B"] * 40 + ["C"] * 10)
    y = np.array(([1] * 10 + [0] * 30) * 2 + [1] * 2 + [0] * 8)
    splits, skipped = centre_splits(centres, y, min_events=5)
    assert [s.label for s in splits] == ["A", "B"] and skipped == ["C"]
    a = splits[0]
    assert set(centres[a.test]) == {"A"} and set(centres[a.train]) == {"B", "C"}


def test_temporal_split_on_surgery_date():
    dates = pd.Series(pd.to_datetime(["2019-05-01", "2020-12-31", "2021-01-01", "2022-03-03"]))
    split = temporal_split(dates, "2021-01-01")
    assert split.train.tolist() == [0, 1] and split.test.tolist() == [2, 3]
    with pytest.raises(ValueError, match="empty"):
        temporal_split(dates, "2030-01-01")


def test_bootstrap_samples_are_stratified_and_seeded():
    y = np.array([1] * 10 + [0] * 90)
    samples = list(bootstrap_samples(y, replicates=3, seed=1))
    assert all(y[s.train].sum() == 10 and len(s.train) == 100 for s in samples)
    assert all(len(s.test) == 100 for s in samples)
    assert not np.array_equal(samples[0].train, samples[1].train)
    assert np.array_equal(samples[0].train, next(bootstrap_samples(y, replicates=1, seed=1)).train)
