"""The fitted logistic model written down on the original units of every predictor (TRIPOD+AI item 12f/22).

The models are fit on a standardised design: each continuous predictor (after median imputation)
is expanded into Harrell's restricted cubic spline basis B_1(x) = x, B_2(x), ... (:mod:`spineoutcome.
modeling.splines`) and each basis column is standardised, z_j = (B_j(x) - m_j) / s_j. Because the
map is affine, the same model is, exactly,

    logit p = g_0 + sum_j g_j B_j(x) + sum (coefficients of 0/1 columns) * (0/1 columns)

with g_j = b_j / s_j for the continuous terms and g_0 = b_0 - sum_j b_j m_j / s_j; dummy, binary
and missing-indicator columns are not standardised and keep their coefficients. The Wald covariance
transforms with the same linear map, cov(g) = A cov(b) A^T, so the intervals are those of the fitted
model, re-expressed (Harrell, Regression Modeling Strategies, 2nd ed. 2015, section 2.4 and 10.5;
Collins et al., BMJ 2024;385:e078378, TRIPOD+AI item 22, full model presentation).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from scipy import stats
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline

from spineoutcome.modeling.preprocess import Preprocessor

SPLINE_BASIS = (
    "Harrell restricted cubic spline: B1(x) = x; B(j+1)(x) = [(x − t_j)+³ − (x − t_(k−1))+³ "
    "(t_k − t_j)/(t_k − t_(k−1)) + (x − t_k)+³ (t_(k−1) − t_j)/(t_k − t_(k−1))] / (t_k − t_1)², "
    "u+ = max(u, 0), knots t_1 < ... < t_k"
)


class RawScaleUnavailable(ValueError):
    """The model has a block that cannot be written on the original units (e.g. a radiomics selection)."""


def raw_scale_formula(
    pipeline: Pipeline, cov: np.ndarray | None = None, recalibration: tuple[float, float] | None = None
) -> dict[str, Any]:
    """Intercept and coefficients of a fitted ``Preprocessor -> LogisticRegression`` pipeline on the
    predictors' original units (module docstring), with Wald 95 % CIs when ``cov`` (the covariance of
    intercept and design coefficients, in design order) is given.

    Returns ``{"intercept", "terms", "splines", "imputation", "references", "basis", "recalibration"}``;
    each term names its ``variable``, ``kind`` (``linear``, ``spline``, ``level``, ``binary``,
    ``missing``) and, for a spline term, its ``index`` j in the basis.
    """
    pre: Preprocessor = pipeline.named_steps["preprocess"]
    model: LogisticRegression = pipeline.named_steps["model"]
    if list(pre.radiomics):
        raise RawScaleUnavailable("radiomics features pass a data-driven selection and have no raw-scale formula")
    names = list(pre.get_feature_names_out())
    beta = np.concatenate([np.atleast_1d(model.intercept_).astype(float), model.coef_.ravel().astype(float)])
    transform = np.eye(len(beta))
    terms: list[dict[str, Any]] = []
    splines: dict[str, list[float]] = {}
    imputation: dict[str, float] = {}
    continuous = _continuous_block(pre)
    for position, name in enumerate(names, start=1):
        source = pre.feature_sources_[name]
        term: dict[str, Any] = {"term": name, "variable": source}
        if name.startswith("missingindicator_"):
            term["kind"] = "missing"
        elif name in continuous:
            mean, scale, index, knots = continuous[name]
            transform[position, position] = 1.0 / scale
            transform[0, position] = -mean / scale
            term.update(kind="spline" if index else "linear", index=index + 1)
            if len(knots) >= 3:
                splines[source] = [float(k) for k in knots]
        elif source in (pre.categorical or {}):
            term.update(kind="level", level=name[len(source) + 1 :])
        else:
            term["kind"] = "binary"
        terms.append(term)
    gamma = transform @ beta
    se = np.sqrt(np.diag(transform @ cov @ transform.T)) if cov is not None else np.full(len(gamma), np.nan)
    z = stats.norm.ppf(0.975)
    estimates = [{"estimate": float(g), **_interval(g, s, z)} for g, s in zip(gamma, se, strict=True)]
    for name, var in zip(pre.continuous, _medians(pre), strict=True):
        imputation[name] = var
    references = {
        name: (levels[0] if pre.drop_first and levels else None) for name, levels in (pre.categorical or {}).items()
    }
    return {
        "intercept": estimates[0],
        "terms": [{**t, **e} for t, e in zip(terms, estimates[1:], strict=True)],
        "splines": splines,
        "imputation": imputation,
        "references": references,
        "basis": SPLINE_BASIS,
        "recalibration": None if recalibration is None else {"intercept": recalibration[0], "slope": recalibration[1]},
    }


def raw_scale_logit(formula: dict[str, Any], X: pd.DataFrame) -> np.ndarray:
    """The linear predictor of ``X`` computed from a :func:`raw_scale_formula` record alone (the check
    that the written-down model is the model: what a reader would do with the report's table)."""
    from spineoutcome.modeling.splines import rcs_basis

    logit = np.full(len(X), formula["intercept"]["estimate"])
    for term in formula["terms"]:
        column = X[term["variable"]]
        if term["kind"] == "missing":
            value = column.isna().to_numpy(dtype=float)
        elif term["kind"] in ("linear", "spline"):
            x = column.astype("float64").fillna(formula["imputation"][term["variable"]]).to_numpy()
            knots = formula["splines"].get(term["variable"])
            value = rcs_basis(x, knots)[:, term["index"] - 1] if knots else x
        elif term["kind"] == "level":
            value = (column.astype(object) == term["level"]).to_numpy(dtype=float)
        else:
            value = column.astype("float64").to_numpy()
        logit = logit + term["estimate"] * value
    recalibration = formula.get("recalibration")
    if recalibration:
        logit = recalibration["intercept"] + recalibration["slope"] * logit
    return logit


def _continuous_block(pre: Preprocessor) -> dict[str, tuple[float, float, int, np.ndarray]]:
    """Design name -> (mean, scale, basis index, knots) of every continuous value column."""
    if not list(pre.continuous):
        return {}
    branch = pre.transformer_.named_transformers_["continuous"]
    if "expand" not in branch.named_steps:
        return {name: (0.0, 1.0, 0, np.array([])) for name in pre.continuous}
    values = branch.named_steps["expand"].named_transformers_["values"]
    spline = values.named_steps.get("spline")
    scaler = values.named_steps.get("scale")
    out_names = list(values.get_feature_names_out())
    means = scaler.mean_ if scaler is not None else np.zeros(len(out_names))
    scales = scaler.scale_ if scaler is not None else np.ones(len(out_names))
    counts = spline.n_basis_ if spline is not None else [1] * len(pre.continuous)
    knots = spline.knots_ if spline is not None else [np.array([])] * len(pre.continuous)
    indices = [(j, k) for n, k in zip(counts, knots, strict=True) for j in range(n)]
    return {
        name: (float(m), float(s), j, k) for name, m, s, (j, k) in zip(out_names, means, scales, indices, strict=True)
    }


def _medians(pre: Preprocessor) -> list[float]:
    imputer = pre.transformer_.named_transformers_["continuous"].named_steps["impute"]
    statistics = getattr(imputer, "statistics_", None)
    if statistics is None:
        return [float("nan")] * len(pre.continuous)
    return [float(v) for v in statistics]


def _interval(estimate: float, se: float, z: float) -> dict[str, float | None]:
    if not np.isfinite(se):
        return {"se": None, "ci_low": None, "ci_high": None}
    return {"se": float(se), "ci_low": float(estimate - z * se), "ci_high": float(estimate + z * se)}
