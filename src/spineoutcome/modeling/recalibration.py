"""Recalibration of a model's risks for a new centre or period.

With lp = logit(p) the original model's linear predictor on the new data,

- ``method="intercept"`` (recalibration in the large, "update the intercept"):
      logit P(y = 1) = a + lp,   lp an offset; a = 0 when the mean risk is right;
- ``method="logistic"`` (logistic recalibration, Cox 1958):
      logit P(y = 1) = a + b lp; b < 1 means the original risks were too extreme.

Both are maximum-likelihood fits by Newton-Raphson; the recalibrated risk is
expit(a + b logit(p)) with b = 1 for the intercept update. Neither changes the ranking of
patients (the AUC), only the calibration.

References
----------
Steyerberg EW. Clinical Prediction Models, 2nd ed. Springer 2019, chapter 20 (updating a
prediction model: methods 1-2).
Van Calster B, Nieboer D, Vergouwe Y, et al. A calibration hierarchy for risk models was
defined: from utopia to empirical data. J Clin Epidemiol 2016;74:167-76.
Cox DR. Two further applications of a model for binary regression. Biometrika 1958;45:562-5.
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
from scipy.special import expit, logit
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import check_is_fitted

from spineoutcome.evaluation import PROBABILITY_CLIP

LOGIT_CLIP = PROBABILITY_CLIP
"""Risks are clipped to [LOGIT_CLIP, 1 - LOGIT_CLIP] before a logit wherever a model's risks are
recalibrated (here, in :class:`~spineoutcome.modeling.tuning.TunedClassifier` and in a model bundle's
calibration): the package's one clip, the evaluation library's ``PROBABILITY_CLIP`` (a risk of
exactly 0 or 1 becomes logit -/+18.4, not an infinity)."""


class LogisticRecalibration(TransformerMixin, BaseEstimator):
    """Intercept update or logistic recalibration of predicted risks (see module docstring).

    ``fit(p, y)`` takes the original model's risks ``p`` (n,) and the observed outcomes ``y``
    (n,) at the new centre; ``transform(p)`` returns recalibrated risks (n,).

    Parameters
    ----------
    method : ``"intercept"`` or ``"logistic"``.
    eps : risks are clipped to [eps, 1 - eps] before the logit.
    max_iter, tol : Newton-Raphson limits (convergence when every step is below ``tol``).

    Attributes
    ----------
    intercept_ : a.
    slope_ : b (1.0 for the intercept update).
    n_iter_ : Newton iterations used.
    """

    def __init__(
        self,
        method: Literal["intercept", "logistic"] = "logistic",
        *,
        eps: float = LOGIT_CLIP,
        max_iter: int = 100,
        tol: float = 1e-10,
    ) -> None:
        self.method = method
        self.eps = eps
        self.max_iter = max_iter
        self.tol = tol

    def fit(self, p: Any, y: Any) -> LogisticRecalibration:
        """Fit the intercept (and slope) on the logit of ``p`` against ``y`` by Newton-Raphson."""
        if self.method not in ("intercept", "logistic"):
            raise ValueError(f"method must be 'intercept' or 'logistic', got {self.method!r}")
        lp = self._linear_predictor(p)
        y = np.asarray(y, dtype=float).ravel()
        if y.shape != lp.shape:
            raise ValueError(f"p has {lp.size} values but y has {y.size}")
        if not np.isin(y, (0.0, 1.0)).all() or y.min() == y.max():
            raise ValueError("y must be 0/1 and contain both outcomes")
        if self.method == "intercept":
            design, offset = np.ones((lp.size, 1)), lp
        else:
            design, offset = np.column_stack([np.ones_like(lp), lp]), np.zeros_like(lp)
        beta, self.n_iter_ = _newton(design, y, offset, self.max_iter, self.tol)
        self.intercept_ = float(beta[0])
        self.slope_ = float(beta[1]) if self.method == "logistic" else 1.0
        return self

    def transform(self, p: Any) -> np.ndarray:
        """Recalibrated risks: expit(a + b logit p)."""
        check_is_fitted(self, "intercept_")
        return expit(self.intercept_ + self.slope_ * self._linear_predictor(p))

    def _linear_predictor(self, p: Any) -> np.ndarray:
        p = np.asarray(p, dtype=float).ravel()
        if np.isnan(p).any() or (p < 0).any() or (p > 1).any():
            raise ValueError("p must hold probabilities in [0, 1] without missing values")
        return logit(np.clip(p, self.eps, 1.0 - self.eps))


def _newton(X: np.ndarray, y: np.ndarray, offset: np.ndarray, max_iter: int, tol: float) -> tuple[np.ndarray, int]:
    """Logistic regression of y on X with an offset, by Newton-Raphson with step halving."""
    beta = np.zeros(X.shape[1])

    def loglik(b: np.ndarray) -> float:
        eta = offset + X @ b
        return float(np.sum(y * eta - np.logaddexp(0.0, eta)))

    current = loglik(beta)
    for iteration in range(1, max_iter + 1):
        mu = expit(offset + X @ beta)
        step = np.linalg.solve((X * (mu * (1.0 - mu))[:, None]).T @ X, X.T @ (y - mu))
        while loglik(beta + step) < current - 1e-12 and np.max(np.abs(step)) > tol:
            step /= 2.0
        beta = beta + step
        current = loglik(beta)
        if np.max(np.abs(step)) < tol:
            return beta, iteration
    raise RuntimeError(f"recalibration did not converge in {max_iter} Newton iterations")
