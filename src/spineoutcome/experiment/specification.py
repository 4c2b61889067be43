"""The final model's specification (TRIPOD+AI item 12f / 22): what was fit, in reportable form.

For logistic regression: the intercept and every design coefficient with Wald CIs (statsmodels
maximum likelihood on the model's own design), and per predictor an odds ratio with a delta-method
CI in the style of Harrell's ``summary.rms``: interquartile-range change for continuous predictors
(through their spline terms, so non-linearity is respected), each level against the reference for
categorical ones, yes against no for binary ones, other predictors at the reference profile.
For every logistic family (penalised too): the model on the predictors' original units
(:mod:`.rawscale`), with CIs for the unpenalised one. For tree models: the estimator,
hyperparameters and tuning record (``disclosure``).
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import pandas as pd
import statsmodels.api as sm
from scipy import stats
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline

from spineoutcome.dictionary import DataDictionary
from spineoutcome.evaluation.results import to_jsonable
from spineoutcome.experiment.rawscale import RawScaleUnavailable, raw_scale_formula
from spineoutcome.explain import reference_profile
from spineoutcome.modeling import disclosure


def specification(model: Any, X: pd.DataFrame, y: np.ndarray, dictionary: DataDictionary) -> dict[str, Any]:
    """Disclosure of any fitted model; coefficients and odds ratios for an unpenalised logistic model."""
    record = disclosure(model)
    pipeline: Pipeline = getattr(model, "best_estimator_", model)
    estimator = pipeline.named_steps["model"]
    if not isinstance(estimator, LogisticRegression):
        return to_jsonable(record)
    cov = None
    if record.get("family") == "logistic":
        record["coefficients"], record["odds_ratios"], cov = _logistic_tables(pipeline, X, y, dictionary)
    calibration = getattr(model, "calibration_params", lambda: None)()
    try:
        record["raw_scale"] = raw_scale_formula(pipeline, cov, calibration)
    except RawScaleUnavailable as exc:
        record["raw_scale"] = {"unavailable": str(exc)}
    return to_jsonable(record)


def _logistic_tables(
    pipeline: Pipeline,
    X: pd.DataFrame,
    y: np.ndarray,
    dictionary: DataDictionary,
) -> tuple[list[dict[str, Any]], list[dict[str, Any]], np.ndarray | None]:
    pre = pipeline.named_steps["preprocess"]
    design = pd.DataFrame(pre.transform(X), columns=pre.get_feature_names_out())
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fit = sm.Logit(np.asarray(y, dtype=float), sm.add_constant(design.to_numpy(), has_constant="add")).fit(
            disp=0, method="newton", maxiter=200
        )
    beta, cov = np.asarray(fit.params), np.asarray(fit.cov_params())
    z = stats.norm.ppf(0.975)
    names = ["(intercept)", *design.columns]
    with np.errstate(invalid="ignore"):
        se = np.sqrt(np.diag(cov))
    if caught or not np.all(np.isfinite(se)):
        fit_warning = "the maximum-likelihood fit is unstable (separation or collinearity); intervals are unreliable"
        coefficients_note = [
            {"term": "(warning)", "estimate": None, "se": None, "ci_low": None, "ci_high": None, "note": fit_warning}
        ]
    else:
        coefficients_note = []
    coefficients = coefficients_note + [
        {"term": n, "estimate": float(b), "se": float(s), "ci_low": float(b - z * s), "ci_high": float(b + z * s)}
        for n, b, s in zip(names, beta, se, strict=True)
    ]
    profile = reference_profile(X)
    rows = []
    for var in X.columns:
        for label, low, high in _contrasts(X[var], dictionary.variable(var).dtype):
            a, b = profile.copy(), profile.copy()
            a[var] = pd.array([low], dtype=X[var].dtype)
            b[var] = pd.array([high], dtype=X[var].dtype)
            diff = np.concatenate(
                [[0.0], pre.transform(b).to_numpy(dtype=float)[0] - pre.transform(a).to_numpy(dtype=float)[0]]
            )
            with np.errstate(invalid="ignore"):
                log_or, log_se = float(diff @ beta), float(np.sqrt(diff @ cov @ diff))
            rows.append(
                {
                    "variable": var,
                    "contrast": label,
                    "odds_ratio": float(np.exp(log_or)),
                    "ci_low": float(np.exp(log_or - z * log_se)),
                    "ci_high": float(np.exp(log_or + z * log_se)),
                }
            )
    return coefficients, rows, (None if coefficients_note else cov)


def _contrasts(series: pd.Series, dtype: str) -> list[tuple[str, Any, Any]]:
    if dtype in ("float", "int"):
        return [_numeric_contrast(series.astype("float64").dropna(), dtype == "int")]
    if dtype == "bool":
        return [("yes vs no", False, True)]
    levels = (
        list(series.cat.categories)
        if isinstance(series.dtype, pd.CategoricalDtype)
        else sorted(series.dropna().unique())
    )
    present = [lv for lv in levels if (series == lv).any()]
    if len(present) < 2:
        return []
    return [(f"{lv} vs {present[0]}", present[0], lv) for lv in present[1:]]


def _numeric_contrast(values: pd.Series, integer: bool) -> tuple[str, float, float]:
    """Harrell's interquartile-range contrast; when most patients share one value (IQR of zero, e.g. a
    muscle grade of 5), the 10th to 90th centile, and failing that one unit below the median, so that
    every predictor of the model has its odds ratio (TRIPOD+AI item 22: every predictor reported)."""
    for low_q, high_q, label in ((0.25, 0.75, "interquartile range"), (0.10, 0.90, "10th to 90th centile")):
        low, high = values.quantile([low_q, high_q]) if len(values) else (0.0, 0.0)
        if integer:
            low, high = round(low), round(high)
        if high > low:
            return f"{high:.3g} vs {low:.3g} ({label})", low, high
    median = float(values.median()) if len(values) else 0.0
    median = round(median) if integer else median
    return f"{median - 1:.3g} vs {median:.3g} (one unit lower)", median, median - 1
