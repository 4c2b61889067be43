"""Restricted (natural) cubic splines in Harrell's parameterisation.

For knots t_1 < ... < t_k the basis of a predictor x is x itself and, for j = 1, ..., k - 2,

    X_{j+1} = [ (x - t_j)_+^3
                - (x - t_{k-1})_+^3 (t_k - t_j) / (t_k - t_{k-1})
                + (x - t_k)_+^3 (t_{k-1} - t_j) / (t_k - t_{k-1}) ] / (t_k - t_1)^2

where u_+ = max(u, 0). The function is cubic between knots and linear beyond the outer knots,
so k knots cost k - 1 degrees of freedom. Dividing by (t_k - t_1)^2 puts the non-linear terms
on the scale of x (Hmisc ``rcspline.eval(..., norm=2)``).

Default knot locations are quantiles of x (Harrell's Table 2.3):

    k = 3: .10 .50 .90          k = 4: .05 .35 .65 .95          k = 5: .05 .275 .50 .725 .95
    k = 6: .05 .23 .41 .59 .77 .95                               k = 7: .025 .1833 ... .975

with the outer knots moved to the 5th smallest and 5th largest value when n < 100. When x has
few distinct values the interior distinct values are used instead (as Hmisc does); a predictor
left with fewer than 3 distinct knots enters linearly.

References
----------
Harrell FE. Regression Modeling Strategies, 2nd ed. Springer 2015, section 2.4.5 (basis) and
2.4.6 (knot number and placement).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import check_is_fitted, validate_data

KNOT_QUANTILES: dict[int, tuple[float, ...]] = {
    3: (0.10, 0.50, 0.90),
    4: (0.05, 0.35, 0.65, 0.95),
    5: (0.05, 0.275, 0.50, 0.725, 0.95),
    6: (0.05, 0.23, 0.41, 0.59, 0.77, 0.95),
    7: (0.025, 0.1833, 0.3417, 0.50, 0.6583, 0.8167, 0.975),
}


def rcs_basis(x: np.ndarray, knots: Sequence[float]) -> np.ndarray:
    """Harrell's restricted cubic spline basis of ``x`` (n,) for ``knots``: an (n, k - 1) array.

    The first column is ``x``; fewer than three knots give ``x`` alone.
    """
    x = np.asarray(x, dtype=float)
    t = np.asarray(knots, dtype=float)
    k = len(t)
    columns = [x]
    if k >= 3:
        norm = (t[-1] - t[0]) ** 2
        tail = np.maximum(x - t[-2], 0.0) ** 3, np.maximum(x - t[-1], 0.0) ** 3
        width = t[-1] - t[-2]
        for tj in t[:-2]:
            term = np.maximum(x - tj, 0.0) ** 3 - tail[0] * (t[-1] - tj) / width + tail[1] * (t[-2] - tj) / width
            columns.append(term / norm)
    return np.column_stack(columns)


def default_knots(x: np.ndarray, n_knots: int) -> np.ndarray:
    """Knots at Harrell's default quantiles of the non-missing values of ``x`` (see module docstring)."""
    x = np.sort(np.asarray(x, dtype=float)[~np.isnan(x)])
    distinct = np.unique(x)
    if len(distinct) - 2 <= n_knots:
        return distinct[1:-1]
    probs = KNOT_QUANTILES.get(n_knots) or tuple(np.linspace(0.05, 0.95, n_knots))
    knots = np.quantile(x, probs)
    if len(x) < 100:
        knots[0], knots[-1] = x[4], x[-5]
    return np.unique(knots)


class RestrictedCubicSpline(TransformerMixin, BaseEstimator):
    """Expand each column into Harrell's restricted cubic spline basis.

    Parameters
    ----------
    n_knots : number of knots per column, placed at Harrell's default quantiles in ``fit``.
    knots : optional fixed knots, one sequence per input column; when given, nothing is learned.

    Attributes
    ----------
    knots_ : list of arrays, the knots of each input column (fewer than 3 means linear).
    n_basis_ : list of int, the number of output columns of each input column.

    Output columns are named ``x``, ``x_rcs1``, ..., ``x_rcs{k-2}``.
    """

    def __init__(self, n_knots: int = 4, knots: Sequence[Sequence[float]] | None = None) -> None:
        self.n_knots = n_knots
        self.knots = knots

    def fit(self, X, y=None) -> RestrictedCubicSpline:
        X = validate_data(self, X, dtype=float, ensure_all_finite="allow-nan")
        if self.knots is not None:
            if len(self.knots) != X.shape[1]:
                raise ValueError(f"knots has {len(self.knots)} entries for {X.shape[1]} columns")
            self.knots_ = [np.asarray(k, dtype=float) for k in self.knots]
        else:
            if self.n_knots < 3:
                raise ValueError(f"a restricted cubic spline needs at least 3 knots, got n_knots={self.n_knots}")
            self.knots_ = [default_knots(X[:, j], self.n_knots) for j in range(X.shape[1])]
        for knots in self.knots_:
            if np.any(np.diff(knots) <= 0):
                raise ValueError(f"knots must be strictly increasing, got {knots.tolist()}")
        self.n_basis_ = [max(len(k) - 1, 1) for k in self.knots_]
        return self

    def transform(self, X) -> np.ndarray:
        check_is_fitted(self, "knots_")
        X = validate_data(self, X, dtype=float, ensure_all_finite="allow-nan", reset=False)
        return np.hstack([rcs_basis(X[:, j], knots) for j, knots in enumerate(self.knots_)])

    def get_feature_names_out(self, input_features=None) -> np.ndarray:
        check_is_fitted(self, "knots_")
        if input_features is None:
            input_features = getattr(self, "feature_names_in_", [f"x{j}" for j in range(self.n_features_in_)])
        if len(input_features) != self.n_features_in_:
            raise ValueError(f"expected {self.n_features_in_} input feature names, got {len(input_features)}")
        names = input_features
        return np.array(
            [
                f"{name}_rcs{i}" if i else str(name)
                for name, n in zip(names, self.n_basis_, strict=True)
                for i in range(n)
            ],
            dtype=object,
        )
