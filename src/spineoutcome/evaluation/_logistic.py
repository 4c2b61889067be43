"""Weighted logistic regression by Newton-Raphson (IRLS), vectorised over bootstrap replicates.

Fits logit P(y = 1) = offset + X beta for every row of a weight matrix at once: the linear
predictor is a (replicates x n) matrix, and gradient and Hessian are matrix products with the
weights, so 1,000 calibration-slope fits cost about as much as a handful of numpy passes over a
(1,000 x n) array. Step halving guards against deviance increases; replicates that do not
converge (for example under complete separation) are returned as NaN and flagged.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.special import expit

ROW_BLOCK = 100_000
"""Replicates are fitted in blocks of about this many (replicate x patient) cells."""


@dataclass(frozen=True, eq=False)
class LogisticFit:
    """Coefficients (R, k), their inverse-information covariance (R, k, k) and convergence (R,)."""

    beta: np.ndarray
    cov: np.ndarray
    converged: np.ndarray


def fit_logistic(
    X: np.ndarray,
    y: np.ndarray,
    weights: np.ndarray,
    *,
    offset: np.ndarray | None = None,
    start: np.ndarray | None = None,
    max_iter: int = 50,
    tol: float = 1e-10,
) -> LogisticFit:
    """Maximum-likelihood logistic regression of ``y`` on ``X`` for each weight row.

    X is (n, k) and includes the intercept column when one is wanted; weights is (R, n);
    ``start`` (k,) is the starting value for every replicate (default zeros). Replicates are
    processed in blocks of about ROW_BLOCK (replicate x patient) cells so that the work arrays
    stay small enough for the CPU cache.
    """
    n, k = X.shape
    n_rep = weights.shape[0]
    off = np.zeros(n) if offset is None else offset
    beta0 = np.zeros(k) if start is None else np.asarray(start, dtype=float)
    xx = (X[:, :, None] * X[:, None, :]).reshape(n, k * k)
    beta = np.empty((n_rep, k))
    cov = np.full((n_rep, k, k), np.nan)
    converged = np.zeros(n_rep, dtype=bool)
    rows_per_block = max(1, ROW_BLOCK // max(n, 1))
    for r0 in range(0, n_rep, rows_per_block):
        rs = slice(r0, min(n_rep, r0 + rows_per_block))
        beta[rs], cov[rs], converged[rs] = _newton(X, xx, y, weights[rs], off, beta0, max_iter, tol)
    return LogisticFit(beta=beta, cov=cov, converged=converged)


def _newton(
    X: np.ndarray,
    xx: np.ndarray,
    y: np.ndarray,
    w: np.ndarray,
    off: np.ndarray,
    beta0: np.ndarray,
    max_iter: int,
    tol: float,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    n_rep, k = w.shape[0], X.shape[1]
    wy = w * y
    beta = np.tile(beta0, (n_rep, 1))
    eta = off + beta @ X.T
    deviance = _deviance(eta, w, wy)
    converged = np.zeros(n_rep, dtype=bool)
    active = np.ones(n_rep, dtype=bool)
    for _ in range(max_iter):
        idx = np.flatnonzero(active)
        if idx.size == 0:
            break
        mu = expit(eta[idx])
        wm = w[idx] * mu
        grad = (wy[idx] - wm) @ X
        hess = ((wm - wm * mu) @ xx).reshape(idx.size, k, k)
        step = _solve(hess, grad)
        bad = ~np.all(np.isfinite(step), axis=1)
        step[bad] = 0.0
        new_eta = eta[idx] + step @ X.T
        new_dev = _deviance(new_eta, w[idx], wy[idx])
        for _halving in range(30):
            worse = new_dev > deviance[idx] + 1e-12 * (1.0 + np.abs(deviance[idx]))
            if not worse.any():
                break
            step[worse] *= 0.5
            new_eta[worse] = eta[idx][worse] + step[worse] @ X.T
            new_dev[worse] = _deviance(new_eta[worse], w[idx][worse], wy[idx][worse])
        beta[idx] += step
        eta[idx] = new_eta
        deviance[idx] = new_dev
        done = np.max(np.abs(step), axis=1) < tol * (1.0 + np.max(np.abs(beta[idx]), axis=1))
        done &= ~bad
        converged[idx[done]] = True
        active[idx[done | bad]] = False
    mu = expit(eta)
    wm = w * mu
    info = ((wm - wm * mu) @ xx).reshape(n_rep, k, k)
    cov = np.full((n_rep, k, k), np.nan)
    ok = converged & (np.abs(np.linalg.det(info)) > 1e-300)
    if ok.any():
        cov[ok] = np.linalg.inv(info[ok])
    return np.where(converged[:, None], beta, np.nan), cov, converged


def _deviance(eta: np.ndarray, weights: np.ndarray, wy: np.ndarray) -> np.ndarray:
    return -2.0 * (np.einsum("rn,rn->r", wy, eta) - np.einsum("rn,rn->r", weights, np.logaddexp(0.0, eta)))


def _solve(hess: np.ndarray, grad: np.ndarray) -> np.ndarray:
    """Solve hess @ step = grad row by row; singular systems give NaN steps."""
    try:
        return np.linalg.solve(hess, grad[..., None])[..., 0]
    except np.linalg.LinAlgError:
        out = np.full_like(grad, np.nan)
        for i in range(hess.shape[0]):
            try:
                out[i] = np.linalg.solve(hess[i], grad[i])
            except np.linalg.LinAlgError:
                continue
        return out
