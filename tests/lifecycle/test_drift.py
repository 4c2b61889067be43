"""Development bins, bin counts and the population stability index against hand computations."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from spineoutcome.lifecycle.drift import MISSING_BIN, OTHER_BIN, bin_counts_one, drift_reference, psi, psi_reading


def test_psi_equals_hand_computation() -> None:
    expected = [0.2, 0.3, 0.5]
    actual = [0.25, 0.25, 0.5]
    hand = (0.25 - 0.2) * math.log(0.25 / 0.2) + (0.25 - 0.3) * math.log(0.25 / 0.3) + 0.0
    assert psi(expected, actual) == pytest.approx(hand, abs=1e-15)
    assert psi([20, 30, 50], [5, 5, 10]) == pytest.approx(hand, abs=1e-15)  # counts are normalised
    assert psi(expected, expected) == 0.0


def test_psi_floors_an_empty_bin() -> None:
    value = psi([0.5, 0.5, 0.0], [0.4, 0.4, 0.2])
    e = np.array([0.5, 0.5, 1e-4])
    a = np.array([0.4, 0.4, 0.2])
    assert value == pytest.approx(float(np.sum((a - e) * np.log(a / e))), rel=1e-12)
    assert psi_reading(value) == "major shift"
    assert psi_reading(0.05) == "no material shift"


def test_bins_of_numbers_and_levels() -> None:
    x = pd.DataFrame(
        {
            "n": pd.array([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, None], dtype="Float64"),
            "c": pd.Categorical(["a", "b", "a", "a", None, "b", "a", "a", "b", "a", "a"], categories=["a", "b", "z"]),
        }
    )
    ref = drift_reference(x, {"n": "float", "c": "category"})
    numbers = ref["predictors"]["n"]
    assert numbers["cuts"] == pytest.approx(list(np.quantile(np.arange(1, 11), np.arange(1, 10) / 10)))
    assert numbers["labels"][-1] == MISSING_BIN
    # 10 values in 10 right-closed bins one each (decile cuts 1.9, 2.8, ... 9.1), one missing
    assert bin_counts_one(numbers, x["n"]) == [1] * 10 + [1]
    levels = ref["predictors"]["c"]
    assert levels["labels"] == ["a", "b", "z", OTHER_BIN, MISSING_BIN]
    assert levels["shares"] == pytest.approx([7 / 11, 3 / 11, 0, 0, 1 / 11], abs=1e-6)
    new = pd.Series(pd.Categorical(["q", "a", None], categories=["a", "q"]))
    assert bin_counts_one(levels, new) == [1, 0, 0, 1, 1]
