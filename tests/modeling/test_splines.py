"""Restricted cubic splines against Harrell's closed form, computed by hand."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone

from spineoutcome.modeling.splines import RestrictedCubicSpline, default_knots, rcs_basis

KNOTS = (1.0, 2.0, 4.0, 7.0)


def test_basis_matches_hand_computed_values() -> None:
    # k = 4 knots (1, 2, 4, 7): (t_k - t_1)^2 = 36, (t_k - t_j)/(t_k - t_{k-1}) = 2 and 5/3,
    # (t_{k-1} - t_j)/(t_k - t_{k-1}) = 1 and 2/3. E.g. at x = 5:
    # X2 = (4^3 - 1^3 * 2) / 36 = 62/36,  X3 = (3^3 - 1^3 * 5/3) / 36 = 76/108.
    x = np.array([0.0, 1.5, 3.0, 5.0, 8.0])
    expected = np.array(
        [
            [0.0, 0.0, 0.0],
            [1.5, 0.125 / 36, 0.0],
            [3.0, 8 / 36, 1 / 36],
            [5.0, 62 / 36, 76 / 108],
            [8.0, (343 - 64 * 2 + 1) / 36, (216 - 64 * 5 / 3 + 2 / 3) / 36],
        ]
    )
    np.testing.assert_allclose(rcs_basis(x, KNOTS), expected, rtol=1e-12, atol=1e-15)


def test_three_knots_hand_computed() -> None:
    # knots (0, 1, 3): X2 = [x^3 - (x-1)^3 * 3/2 + (x-3)^3 * 1/2] / 9; at x = 4: (64 - 40.5 + 0.5) / 9.
    np.testing.assert_allclose(rcs_basis(np.array([4.0, 2.0]), (0.0, 1.0, 3.0))[:, 1], [24 / 9, (8 - 1.5) / 9])


def test_basis_is_linear_beyond_the_outer_knots_and_zero_below() -> None:
    above = np.linspace(7.5, 30.0, 10)
    below = np.linspace(-20.0, 1.0, 10)
    basis_above, basis_below = rcs_basis(above, KNOTS), rcs_basis(below, KNOTS)
    np.testing.assert_allclose(np.diff(basis_above, n=2, axis=0), 0.0, atol=1e-9)
    np.testing.assert_allclose(basis_below[:, 1:], 0.0)


def test_transformer_uses_given_knots_and_names_columns() -> None:
    X = pd.DataFrame({"age": [0.0, 3.0, 5.0, 8.0]})
    spline = RestrictedCubicSpline(knots=[KNOTS]).fit(X)
    np.testing.assert_allclose(spline.transform(X), rcs_basis(X["age"].to_numpy(), KNOTS))
    assert spline.get_feature_names_out().tolist() == ["age", "age_rcs1", "age_rcs2"]
    assert spline.n_basis_ == [3]


def test_default_knots_are_harrells_quantiles() -> None:
    x = np.random.default_rng(0).normal(size=500)
    np.testing.assert_allclose(default_knots(x, 4), np.quantile(x, [0.05, 0.35, 0.65, 0.95]))
    np.testing.assert_allclose(default_knots(x, 3), np.quantile(x, [0.10, 0.50, 0.90]))
    np.testing.assert_allclose(default_knots(x, 5), np.quantile(x, [0.05, 0.275, 0.5, 0.725, 0.95]))


def test_small_samples_put_outer_knots_at_fifth_extremes() -> None:
    x = np.arange(50, dtype=float)
    knots = default_knots(x, 4)
    assert knots[0] == 4.0 and knots[-1] == 45.0
    np.testing.assert_allclose(knots[1:3], np.quantile(x, [0.35, 0.65]))


def test_few_distinct_values_use_interior_values_or_enter_linearly() -> None:
    X = pd.DataFrame({"asa": np.tile([1.0, 2.0, 3.0, 4.0, 5.0], 30), "flag": np.tile([0.0, 1.0], 75)})
    spline = RestrictedCubicSpline(n_knots=4).fit(X)
    np.testing.assert_array_equal(spline.knots_[0], [2.0, 3.0, 4.0])
    assert spline.get_feature_names_out().tolist() == ["asa", "asa_rcs1", "flag"]


def test_learns_knots_only_in_fit_and_clones() -> None:
    rng = np.random.default_rng(1)
    train, test = pd.DataFrame({"x": rng.normal(size=200)}), pd.DataFrame({"x": rng.normal(5, 1, size=200)})
    spline = RestrictedCubicSpline(n_knots=5).fit(train)
    knots = spline.knots_[0].copy()
    spline.transform(test)
    np.testing.assert_array_equal(spline.knots_[0], knots)
    assert clone(spline).get_params() == {"n_knots": 5, "knots": None}
    with pytest.raises(ValueError, match="at least 3 knots"):
        RestrictedCubicSpline(n_knots=2).fit(train)
