"""Weighted local polynomial regression (loess), vectorised over bootstrap replicates.

The data are given as nodes x_j with, per replicate r, a count c_rj of patients at the node and
a count e_rj of events among them (for exact fits the nodes are the distinct predictions; for
fast bootstrap fits they are the means of quantile bins). At an evaluation point x0, with
d_j = x_j - x0:

    h     = distance to the k-th nearest patient, k = floor(frac * sum_j c_rj) (at least 2),
    w_rj  = c_rj * (1 - (|d_j| / h)^3)^3 for |d_j| < h, else 0          (tricube),
    fit   = intercept of the weighted least-squares polynomial of degree 1 or 2 in d.

With unit counts this is Cleveland's (JASA 1979) lowess without robustness iterations and is
identical to ``statsmodels.nonparametric.lowess(y, x, frac=frac, it=0, delta=0)`` for degree 1
(same neighbourhood: k = int(frac * n)). Degree 2 with frac = 0.75 mirrors the defaults of R's
``loess`` used by Austin & Steyerberg (Stat Med 2019) for the ICI.
"""

from __future__ import annotations

import numpy as np

BLOCK_ELEMENTS = 2_000_000
"""Largest (replicates x evaluation points x nodes) block held in memory at once."""


def loess_fit(
    x_nodes: np.ndarray,
    counts: np.ndarray,
    events: np.ndarray,
    x_eval: np.ndarray,
    *,
    frac: float,
    degree: int,
) -> np.ndarray:
    """Loess fit of event proportion on x at ``x_eval`` for every replicate: (R, G).

    ``counts`` and ``events`` are (R, J) arrays over the J nodes ``x_nodes``.
    NaN where no node has positive weight.
    """
    if degree not in (1, 2):
        raise ValueError("degree must be 1 or 2")
    if not 0.0 < frac <= 1.0:
        raise ValueError("frac must lie in (0, 1]")
    n_rep, n_nodes = counts.shape
    n_eval = x_eval.size
    total = counts.sum(axis=1)
    k = np.clip(np.floor(frac * total + 1e-10), 2.0, total)
    out = np.empty((n_rep, n_eval))
    g_chunk = int(min(n_eval, max(1, BLOCK_ELEMENTS // n_nodes)))
    r_chunk = int(min(n_rep, max(1, BLOCK_ELEMENTS // (n_nodes * g_chunk))))
    for g0 in range(0, n_eval, g_chunk):
        gs = slice(g0, min(n_eval, g0 + g_chunk))
        d = x_nodes[None, :] - x_eval[gs, None]
        ad = np.abs(d)
        order = np.argsort(ad, axis=1, kind="stable")
        ad_sorted = np.take_along_axis(ad, order, axis=1)
        powers = [np.ones_like(d)]
        for _ in range(2 * degree):
            powers.append(powers[-1] * d)
        rows = np.arange(d.shape[0])[None, :]
        for r0 in range(0, n_rep, r_chunk):
            rs = slice(r0, min(n_rep, r0 + r_chunk))
            c = counts[rs]
            cum = np.cumsum(c[:, order], axis=2)
            pos = np.argmax(cum >= k[rs, None, None] - 1e-9, axis=2)
            h = ad_sorted[rows, pos]
            at_node = np.where(ad[None] > 0, 1.0, 0.0)
            with np.errstate(divide="ignore", invalid="ignore"):
                u = np.where(h[..., None] > 0, ad[None] / h[..., None], at_node)
            tri = (1.0 - np.clip(u, 0.0, 1.0) ** 3) ** 3
            wc = tri * c[:, None, :]
            we = tri * events[rs][:, None, :]
            s = [np.einsum("rgj,gj->rg", wc, powers[m]) for m in range(2 * degree + 1)]
            t = [np.einsum("rgj,gj->rg", we, powers[m]) for m in range(degree + 1)]
            out[rs, gs] = _intercept(s, t, degree)
    return out


def _intercept(s: list[np.ndarray], t: list[np.ndarray], degree: int) -> np.ndarray:
    """Intercept of the local weighted polynomial from moments s_m = sum w d^m, t_m = sum w y d^m,
    falling back to lower degree where the local design is singular."""
    with np.errstate(divide="ignore", invalid="ignore"):
        mean = t[0] / s[0]
        det1 = s[0] * s[2] - s[1] ** 2
        ok1 = det1 > 1e-12 * s[0] * s[2]
        linear = np.where(ok1, (s[2] * t[0] - s[1] * t[1]) / det1, mean)
        if degree == 1:
            return linear
        m00 = s[2] * s[4] - s[3] ** 2
        det2 = s[0] * m00 - s[1] * (s[1] * s[4] - s[2] * s[3]) + s[2] * (s[1] * s[3] - s[2] ** 2)
        num2 = t[0] * m00 - s[1] * (t[1] * s[4] - s[3] * t[2]) + s[2] * (t[1] * s[3] - s[2] * t[2])
        ok2 = ok1 & (det2 > 1e-10 * s[0] * m00)
        return np.where(ok2, num2 / det2, linear)
