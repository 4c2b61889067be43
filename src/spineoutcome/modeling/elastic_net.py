"""Elastic-net logistic regression by proximal Newton steps, and its warm-started regularisation path.

:class:`ElasticNetLogistic` minimises scikit-learn's elastic-net logistic objective

    F(b, w) = C * sum_i s_i * log(1 + exp(-t_i (b + x_i'w))) + (1 - rho)/2 * ||w||^2 + rho * ||w||_1

(t_i = +-1, s_i the class weights, ``rho = l1_ratio``, intercept b unpenalised), the objective of
``LogisticRegression(solver="saga", l1_ratio=rho, C=C)``, but with the GLMNET algorithm instead of a
stochastic one: each outer step forms the quadratic (Newton) model of the log-likelihood, with the
exact Hessian X'WX of the few columns a clinical model has, minimises quadratic + penalty by cyclic
coordinate descent with soft-thresholding, and moves along that direction with a backtracking line
search on F (Friedman, Hastie & Tibshirani, J Stat Softw 2010;33(1); proximal Newton line search:
Lee, Sun & Saunders, SIAM J Optim 2014;24:1420-43). Newton steps converge quadratically, so a fit is
a few milliseconds where saga needed thousands of epochs on ill-conditioned designs, and from a
neighbouring solution (``warm_start``) one or two steps suffice.

:func:`path_scores` uses that: on each inner training fold the preprocessing is fit once, and for
each ``l1_ratio`` the model walks ``C`` from the strongest to the weakest penalty, each fit starting
from the previous one (the regularisation path of Friedman et al. 2010, section 2.5), scoring every
point on the fold's held-out rows. The chosen point maximises the mean inner-CV score.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from functools import cache
from typing import Any

import numpy as np
from scipy.special import expit, log_expit
from sklearn.base import clone
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.pipeline import Pipeline
from sklearn.utils import Tags
from sklearn.utils.class_weight import compute_sample_weight
from sklearn.utils.validation import validate_data
from threadpoolctl import ThreadpoolController

from .estimators import ClassWeight

LINE_SEARCH_SLOPE = 1e-4
"""Armijo constant: a step must achieve this fraction of the decrease its quadratic model predicts."""
MAX_CONDITION = 1e10
"""Largest condition number of an active-set system solved exactly (a collinear lasso design is not)."""
MAX_SWEEPS = 10_000
"""Cap on the coordinate-descent sweeps of one quadratic subproblem."""


class ElasticNetLogistic(LogisticRegression):
    """Elastic-net penalised logistic regression (binary), fit by proximal Newton coordinate descent.

    Same model, parameters (``C``, ``l1_ratio``, ``class_weight``) and fitted attributes (``coef_``,
    ``intercept_``, ``classes_``, ``n_iter_``) as ``LogisticRegression(solver="saga")``, so everything
    that reads a fitted logistic model (linear SHAP, the raw-scale formula, the bundle, model
    updating) reads it unchanged; only the optimiser differs (module docstring).

    Parameters
    ----------
    C : inverse penalty strength (larger: weaker penalty), > 0.
    l1_ratio : rho in [0, 1]: 0 is the ridge (L2) penalty, 1 the lasso (L1).
    tol : convergence when no coefficient moves by more than ``tol`` in a Newton step.
    max_iter : maximum Newton steps (a ConvergenceWarning says when it is reached).
    class_weight : None or ``"balanced"`` (w_c = n / (2 n_c)).
    warm_start : start from the previous fit's coefficients (the regularisation path).
    """

    def __init__(
        self,
        *,
        C: float = 1.0,
        l1_ratio: float = 0.5,
        tol: float = 1e-8,
        max_iter: int = 100,
        class_weight: ClassWeight = None,
        warm_start: bool = False,
    ) -> None:
        self.C = C
        self.l1_ratio = l1_ratio
        self.tol = tol
        self.max_iter = max_iter
        self.class_weight = class_weight
        self.warm_start = warm_start

    def __sklearn_tags__(self) -> Tags:
        """scikit-learn's tags of a binary linear classifier on dense input (LogisticRegression's own
        tags read its ``solver``, which this class does not have)."""
        tags = super(LogisticRegression, self).__sklearn_tags__()
        tags.classifier_tags.multi_class = False
        return tags

    def fit(self, X: Any, y: Any, sample_weight: Any = None) -> ElasticNetLogistic:
        """Minimise the penalised log-likelihood (module docstring) on ``X, y``."""
        if not (np.isfinite(self.C) and self.C > 0):
            raise ValueError(f"C must be a positive finite number, got {self.C!r}")
        if not 0.0 <= self.l1_ratio <= 1.0:
            raise ValueError(f"l1_ratio must be in [0, 1], got {self.l1_ratio!r}")
        X, y = validate_data(self, X, y, dtype=np.float64, reset=True)
        classes = np.unique(y)
        if len(classes) != 2:
            raise ValueError(f"ElasticNetLogistic needs exactly 2 classes, got {len(classes)}")
        target = (y == classes[1]).astype(np.float64)
        weight = np.ones(len(y)) if sample_weight is None else np.asarray(sample_weight, dtype=np.float64)
        if self.class_weight is not None:
            weight = weight * compute_sample_weight(self.class_weight, y)
        weight = weight * self.C
        design = np.column_stack([np.ones(len(y)), X])
        previous = getattr(self, "coef_", None)
        if self.warm_start and previous is not None and previous.shape == (1, X.shape[1]):
            beta = np.concatenate([self.intercept_, previous[0]])
        else:
            beta = np.zeros(design.shape[1])
            beta[0] = np.log(np.average(target, weights=weight) / (1 - np.average(target, weights=weight)))
        l1 = np.r_[0.0, np.full(X.shape[1], self.l1_ratio)]
        l2 = np.r_[0.0, np.full(X.shape[1], 1.0 - self.l1_ratio)]
        # One BLAS thread, like every family (n_jobs=1): on these small matrices threads only contend.
        with _threadpools().limit(limits=1, user_api="blas"):
            beta, steps = _proximal_newton(design, target, weight, l1, l2, beta, self.tol, self.max_iter)
        self.classes_ = classes
        self.intercept_ = beta[:1].copy()
        self.coef_ = beta[1:].reshape(1, -1).copy()
        self.n_iter_ = np.array([steps], dtype=np.int32)
        return self


def objective(
    design: np.ndarray, target: np.ndarray, weight: np.ndarray, l1: np.ndarray, l2: np.ndarray, beta: np.ndarray
) -> float:
    """F at ``beta`` (module docstring): weighted negative log-likelihood (weights include C) plus the
    penalty, with ``design`` holding the intercept column and ``l1``/``l2`` the per-column penalties."""
    eta = design @ beta
    loss = -np.sum(weight * (target * log_expit(eta) + (1.0 - target) * log_expit(-eta)))
    return float(loss + 0.5 * np.sum(l2 * beta**2) + np.sum(l1 * np.abs(beta)))


def _proximal_newton(
    design: np.ndarray,
    target: np.ndarray,
    weight: np.ndarray,
    l1: np.ndarray,
    l2: np.ndarray,
    beta: np.ndarray,
    tol: float,
    max_iter: int,
) -> tuple[np.ndarray, int]:
    current = objective(design, target, weight, l1, l2, beta)
    for step in range(1, max_iter + 1):
        p = expit(design @ beta)
        gradient = design.T @ (weight * (p - target))
        hessian = (design * (weight * p * (1.0 - p))[:, None]).T @ design
        direction = _quadratic_subproblem(gradient, hessian, l1, l2, beta, tol) - beta
        decrease = (
            gradient @ direction
            + 0.5 * np.sum(l2 * ((beta + direction) ** 2 - beta**2))
            + np.sum(l1 * (np.abs(beta + direction) - np.abs(beta)))
        )
        t = 1.0
        while True:
            candidate = beta + t * direction
            value = objective(design, target, weight, l1, l2, candidate)
            if value <= current + LINE_SEARCH_SLOPE * t * decrease or t < 1e-10:
                break
            t *= 0.5
        moved = float(np.max(np.abs(candidate - beta)))
        beta, current = candidate, min(value, current)
        if moved <= tol:
            return beta, step
    warnings.warn(
        f"ElasticNetLogistic did not converge in {max_iter} Newton steps; increase max_iter",
        ConvergenceWarning,
        stacklevel=3,
    )
    return beta, max_iter


def _quadratic_subproblem(
    gradient: np.ndarray, hessian: np.ndarray, l1: np.ndarray, l2: np.ndarray, beta: np.ndarray, tol: float
) -> np.ndarray:
    """argmin_z g'(z - beta) + (z - beta)'H(z - beta)/2 + sum l2 z^2/2 + sum l1 |z|.

    Cyclic coordinate descent with soft-thresholding (Friedman et al. 2010, eq. 10) finds the active
    set and the signs; on them the minimiser solves a linear system, (H_AA + diag l2_A) z_A =
    (H beta - g)_A - l1_A sign(z_A), which is accepted when it keeps its signs and the other
    coordinates satisfy |(g + H(z - beta))_j| <= l1_j (the optimality conditions). Coordinate descent
    alone crawls on the nearly collinear columns of a clinical design (dummies, splines); the exact
    solve ends it after a few sweeps.
    """
    z = beta.copy()
    target = hessian @ beta - gradient
    diagonal = np.diag(hessian) + l2
    slack = 1e-9 * max(1.0, float(np.max(np.abs(gradient))))
    for sweep in range(1, MAX_SWEEPS + 1):
        residual = hessian @ z - target
        largest = 0.0
        for j in range(len(z)):
            if diagonal[j] <= 0.0:
                new = 0.0
            else:
                u = hessian[j, j] * z[j] - residual[j]
                new = np.sign(u) * max(abs(u) - l1[j], 0.0) / diagonal[j]
            delta = new - z[j]
            if delta != 0.0:
                residual += hessian[:, j] * delta
                z[j] = new
                largest = max(largest, abs(delta))
        if largest <= 0.1 * tol:
            return z
        if sweep % 5 == 0:
            exact = _solve_on_active_set(hessian, target, l1, l2, z, slack)
            if exact is not None:
                return exact
    return z


def _solve_on_active_set(
    hessian: np.ndarray, target: np.ndarray, l1: np.ndarray, l2: np.ndarray, z: np.ndarray, slack: float
) -> np.ndarray | None:
    """The subproblem's exact minimiser found from ``z``'s active set and signs, or None.

    A coordinate whose sign the solve flips leaves the active set, a zero one that violates its
    optimality condition joins it with the sign that lowers the objective, and the system is solved
    again (an active-set method for the lasso quadratic program), a few times at most; None when that
    does not settle (coordinate descent continues).
    """
    active = (z != 0.0) | (l1 == 0.0)
    signs = np.sign(z)
    for _ in range(len(z)):
        index = np.flatnonzero(active)
        system = hessian[np.ix_(index, index)] + np.diag(l2[index])
        if np.linalg.cond(system) > MAX_CONDITION:
            return None  # a flat direction: the minimiser is not unique on these signs
        solution = np.linalg.solve(system, target[index] - l1[index] * signs[index])
        flipped = (l1[index] > 0.0) & (np.sign(solution) != signs[index])
        if np.any(flipped):
            active[index[flipped]] = False
            continue
        exact = np.zeros_like(z)
        exact[index] = solution
        residual = hessian @ exact - target
        violated = ~active & (np.abs(residual) > l1 + slack)
        if not np.any(violated):
            return exact
        active |= violated
        signs[violated] = -np.sign(residual[violated])
    return None


def path_scores(
    pipeline: Pipeline,
    X: Any,
    y: np.ndarray,
    folds: Sequence[tuple[np.ndarray, np.ndarray]],
    Cs: Sequence[float],
    l1_ratios: Sequence[float],
    metric: str = "neg_log_loss",
) -> np.ndarray:
    """Inner-CV scores of ``pipeline`` (preprocessing then an :class:`ElasticNetLogistic` step ``model``)
    over the grid, shape (len(l1_ratios), len(Cs), len(folds)).

    Per fold the preprocessing is fit once on the training rows (it does not depend on C or
    l1_ratio); per ``l1_ratio`` the model walks ``Cs`` in increasing order (strong to weak penalty),
    warm-started from the previous point, and each point is scored on the transformed held-out rows by
    ``metric`` (scikit-learn's scorer names: ``neg_log_loss``, ``roc_auc``, ``neg_brier_score``),
    computed from the linear predictor (:func:`score`).
    """
    order = np.argsort(Cs)
    scores = np.empty((len(l1_ratios), len(Cs), len(folds)))
    for k, (train, test) in enumerate(folds):
        preprocess = clone(pipeline[:-1]).fit(_rows(X, train), y[train])
        # Plain arrays: the model's input checks on a DataFrame would cost more than its fit.
        train_design = np.asarray(preprocess.transform(_rows(X, train)), dtype=np.float64)
        test_design = np.asarray(preprocess.transform(_rows(X, test)), dtype=np.float64)
        for i, rho in enumerate(l1_ratios):
            model = clone(pipeline[-1]).set_params(l1_ratio=rho, warm_start=True)
            for j in order:
                model.set_params(C=Cs[j]).fit(train_design, y[train])
                scores[i, j, k] = score(metric, y[test] == model.classes_[1], model.decision_function(test_design))
    return scores


def score(metric: str, positive: np.ndarray, eta: np.ndarray) -> float:
    """scikit-learn's scorer ``metric`` from the outcomes and the linear predictor ``eta``, without the
    scorer's per-call input validation (a path scores hundreds of points): the log-loss as
    -mean log expit(+-eta), exact where a probability would round to 0 or 1; AUC on ``eta``; Brier."""
    if metric == "neg_log_loss":
        return float(np.mean(np.where(positive, log_expit(eta), log_expit(-eta))))
    if metric == "roc_auc":
        return float(roc_auc_score(positive, eta))
    if metric == "neg_brier_score":
        return float(-np.mean((expit(eta) - positive) ** 2))
    raise ValueError(f"unknown metric {metric!r}")


@cache
def _threadpools() -> ThreadpoolController:
    """The process's thread pools, found once (looking them up costs more than a small fit)."""
    return ThreadpoolController()


def _rows(X: Any, index: np.ndarray) -> Any:
    return X.iloc[index] if hasattr(X, "iloc") else X[index]
