"""SHAP explanations of a fitted model pipeline, per source variable, in log-odds.

- Gradient boosting (XGBoost, LightGBM): exact TreeSHAP through the libraries' native
  contributions (Lundberg et al., Nat Mach Intell 2020), which are in log-odds.
- Random forest and histogram gradient boosting: exact TreeSHAP via ``shap.TreeExplainer``; a
  forest averages probabilities, so its contributions are on the probability scale (``units``
  says so), gradient boosting's are in log-odds.
- Logistic regression (unpenalised or elastic net): linear SHAP, phi_j = beta_j (x_j - E[x_j]) on
  the model's design (Lundberg & Lee, NeurIPS 2017), consistent with the coefficients by
  construction.

A model whose log-odds are recalibrated, logit p' = a + b logit p (TunedClassifier's
``calibration``, a bundle's ``Calibration``), is explained on the recalibrated scale: the map is
linear in the log-odds, so phi' = b phi and base' = a + b base keep additivity exactly.

Columns that the preprocessor derives from one predictor (one-hot levels, spline terms, missing
indicators) are summed back to that predictor. Additivity, base + sum(phi) = model output, is
checked and its largest error reported.

Summaries are aggregated, never per patient: mean |SHAP| per variable, and for each variable the
distribution of SHAP values by fifths of that variable's value (a binned beeswarm). The worked
example explains a constructed reference profile (median / most frequent value of each
predictor), not a real patient, so no row-level data leaves the run.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd
import xgboost
from sklearn.base import BaseEstimator
from sklearn.pipeline import Pipeline

from spineoutcome.evaluation.results import JsonResult
from spineoutcome.modeling import REGISTRY, family_of, feature_sources

ADDITIVITY_TOLERANCE = 1e-4
_QUANTILES = (0.05, 0.25, 0.5, 0.75, 0.95)


@dataclass(frozen=True)
class Contributions:
    """SHAP values per patient and source variable, with the base value, in ``units``."""

    values: pd.DataFrame
    base: float
    output: np.ndarray
    units: str

    @property
    def additivity_error(self) -> float:
        """The largest |base + sum(phi) - model output| over the explained rows."""
        return float(np.max(np.abs(self.base + self.values.sum(axis=1).to_numpy() - self.output)))


@dataclass(frozen=True)
class ShapSummary(JsonResult):
    """Global and worked-example explanation of one fitted pipeline (aggregates only)."""

    units: str
    base_value: float
    importance: list[dict[str, float | str]]
    binned: dict[str, list[dict[str, float | int | str | None]]]
    example: dict[str, object]
    additivity_max_error: float
    n_explained: int


def shap_contributions(
    pipeline: Pipeline,
    X: pd.DataFrame,
    *,
    background_mean: Mapping[str, float] | pd.Series | None = None,
    calibration: tuple[float, float] | None = None,
) -> Contributions:
    """Per-patient SHAP values of a fitted ``Pipeline([("preprocess", ...), ("model", ...)])``.

    ``background_mean``: for linear models, the design mean the contributions are centred on
    (design column -> mean; a model bundle stores the training design's as
    ``manifest["explanation"]["background_design_mean"]``). Default: the mean of ``X``'s own
    design, which makes a patient's values depend on the batch; scoring single patients needs
    the training mean. Tree models' native TreeSHAP (path-dependent, on the training covers)
    does not depend on the batch and ignores it. ``calibration``: (a, b) of a logistic
    recalibration of the model's log-odds (module docstring); not for probability-scale models.
    """
    pre, model = pipeline.named_steps["preprocess"], pipeline.named_steps["model"]
    design = pre.transform(X)
    design = design if isinstance(design, pd.DataFrame) else pd.DataFrame(design, columns=pre.get_feature_names_out())
    columns = list(design.columns)
    try:
        method = REGISTRY[family_of(model)].shap
    except ValueError:
        raise TypeError(f"no SHAP method for a {type(model).__name__} model step") from None
    if method.name not in SHAP_METHODS:
        raise TypeError(f"no SHAP method for a {type(model).__name__} model step")
    phi, base, output = SHAP_METHODS[method.name](model, design, columns, background_mean)
    units = method.units
    if calibration is not None:
        if units != "log-odds":
            raise ValueError(f"a logistic recalibration maps log-odds; this model's SHAP values are in {units}")
        intercept, slope = calibration
        phi, base, output = slope * phi, intercept + slope * base, intercept + slope * np.asarray(output)
    sources = feature_sources(pre)
    per_column = pd.DataFrame(phi, columns=columns, index=X.index)
    grouped = per_column.T.groupby([sources[c] for c in columns], sort=False).sum().T
    return Contributions(grouped[list(dict.fromkeys(sources[c] for c in columns))], base, np.asarray(output), units)


def _linear(
    model: BaseEstimator,
    design: pd.DataFrame,
    columns: list[str],
    background_mean: Mapping[str, float] | pd.Series | None,
) -> tuple[np.ndarray, float, np.ndarray]:
    """Linear SHAP, phi_j = beta_j (x_j - centre_j), centred on ``background_mean`` or the design's own mean."""
    matrix = design.to_numpy(dtype=float)
    beta = model.coef_.ravel()
    if background_mean is None:
        centre = matrix.mean(axis=0)
    else:
        background = pd.Series(background_mean, dtype=np.float64)
        absent = [c for c in columns if c not in background.index]
        if absent:
            raise ValueError(f"background_mean lacks design column(s) {absent}")
        centre = background[columns].to_numpy(dtype=np.float64)
    return (matrix - centre) * beta, float(model.intercept_[0] + centre @ beta), model.decision_function(design)


def _xgboost_native(
    model: BaseEstimator, design: pd.DataFrame, columns: list[str], background_mean: object
) -> tuple[np.ndarray, float, np.ndarray]:
    """XGBoost's exact TreeSHAP contributions (``pred_contribs``), in log-odds."""
    matrix = xgboost.DMatrix(design.to_numpy(dtype=float), feature_names=columns)
    raw = model.get_booster().predict(matrix, pred_contribs=True)
    return raw[:, :-1], float(raw[0, -1]), model.get_booster().predict(matrix, output_margin=True)


def _lightgbm_native(
    model: BaseEstimator, design: pd.DataFrame, columns: list[str], background_mean: object
) -> tuple[np.ndarray, float, np.ndarray]:
    """LightGBM's exact TreeSHAP contributions (``pred_contrib``), in log-odds."""
    raw = model.predict(design, pred_contrib=True)
    return raw[:, :-1], float(raw[0, -1]), model.predict(design, raw_score=True)


def _tree_explainer(
    model: BaseEstimator, design: pd.DataFrame, columns: list[str], background_mean: object
) -> tuple[np.ndarray, float, np.ndarray]:
    """Exact TreeSHAP through ``shap.TreeExplainer`` on the model's raw output: the positive class's
    probability for a forest (which averages probabilities), the log-odds for gradient boosting."""
    import shap

    explanation = shap.TreeExplainer(model)(design.to_numpy(dtype=float), check_additivity=True)
    values, base = explanation.values, np.ravel(explanation.base_values)
    if values.ndim == 3:
        return values[..., 1], float(base[1]), model.predict_proba(design)[:, 1]
    return values, float(base[0]), model.decision_function(design)


SHAP_METHODS: dict[str, Callable[..., tuple[np.ndarray, float, np.ndarray]]] = {
    "linear": _linear,
    "xgboost_native": _xgboost_native,
    "lightgbm_native": _lightgbm_native,
    "tree_explainer": _tree_explainer,
}
"""The implementation of each :class:`~spineoutcome.modeling.families.ShapMethod` name:
``(model, design, design columns, background mean) -> (phi, base value, model output)``."""


def reference_profile(X: pd.DataFrame) -> pd.DataFrame:
    """A constructed patient: the median of each numeric predictor, the most frequent level otherwise."""
    row = {}
    for col in X.columns:
        series = X[col]
        if pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_bool_dtype(series):
            value = series.astype("float64").median()
            row[col] = pd.array([round(value) if str(series.dtype) == "Int64" else value], dtype=series.dtype)
        else:
            mode = series.mode(dropna=True)
            row[col] = pd.array([mode.iloc[0] if len(mode) else pd.NA], dtype=series.dtype)
    return pd.DataFrame(row, index=pd.Index(["reference profile"]))


def summarise_shap(
    pipeline: Pipeline,
    X: pd.DataFrame,
    *,
    max_rows: int = 2000,
    seed: int = 0,
    calibration: tuple[float, float] | None = None,
) -> ShapSummary:
    """Mean |SHAP| ranking, binned beeswarm and a worked reference-profile example (``calibration``:
    see :func:`shap_contributions`)."""
    sample = X if len(X) <= max_rows else X.sample(max_rows, random_state=seed)
    contrib = shap_contributions(pipeline, sample, calibration=calibration)
    if contrib.additivity_error > ADDITIVITY_TOLERANCE * max(1.0, float(np.abs(contrib.output).max())):
        raise ArithmeticError(f"SHAP additivity violated (max error {contrib.additivity_error:.2e})")
    order = contrib.values.abs().mean().sort_values(ascending=False)
    binned = {var: _binned(sample[var], contrib.values[var]) for var in order.index if var in sample.columns}
    profile = reference_profile(X)
    example = shap_contributions(pipeline, profile, calibration=calibration)
    logit = example.base + float(example.values.iloc[0].sum())
    return ShapSummary(
        units=contrib.units,
        base_value=contrib.base,
        importance=[{"variable": str(k), "mean_abs_shap": float(v)} for k, v in order.items()],
        binned=binned,
        example={
            "description": "constructed reference profile: median or most frequent value of each predictor",
            "values": {c: _display(profile[c].iloc[0]) for c in profile.columns},
            "contributions": {k: float(v) for k, v in example.values.iloc[0].items()},
            "base_value": example.base,
            "output": logit,
            "probability": float(1 / (1 + np.exp(-logit))) if example.units == "log-odds" else logit,
        },
        additivity_max_error=contrib.additivity_error,
        n_explained=len(sample),
    )


def _binned(values: pd.Series, shap_values: pd.Series) -> list[dict[str, float | int | str | None]]:
    """SHAP quantiles by fifths of the variable (or by level); missing values form their own bin.

    A fifth also carries its value range: ``low`` and ``high`` are the 20 %-step centiles of the
    variable (3 significant digits); the lowest fifth has no ``low`` and the highest no ``high``
    (open-ended), so no patient's minimum or maximum value is disclosed.
    """
    frame = pd.DataFrame({"v": values.to_numpy(), "s": shap_values.to_numpy()})
    edges: dict[str, tuple[float | None, float | None]] = {}
    if pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values) and values.nunique() > 5:
        numeric = frame["v"].astype("float64")
        frame["bin"] = pd.qcut(numeric.rank(method="first"), 5, labels=False).astype("float64")
        frame["label"] = frame["bin"].map(lambda b: f"fifth {int(b) + 1}" if pd.notna(b) else "missing")
        edges = _fifth_edges(numeric)
    else:
        frame["label"] = frame["v"].astype(object).where(frame["v"].notna(), "missing").astype(str)
    out = []
    for label, group in frame.groupby("label", sort=True):
        qs = np.quantile(group["s"], _QUANTILES)
        record = {
            "bin": str(label),
            "n": len(group),
            **{f"q{int(q * 100):02d}": float(v) for q, v in zip(_QUANTILES, qs, strict=True)},
        }
        if label in edges:
            record["low"], record["high"] = edges[label]
        out.append(record)
    return out


def _fifth_edges(numeric: pd.Series) -> dict[str, tuple[float | None, float | None]]:
    """``{"fifth k": (low, high)}`` from the 20th, 40th, 60th and 80th centiles, rounded to 3 significant digits."""
    cuts = [float(f"{c:.3g}") for c in np.nanquantile(numeric, [0.2, 0.4, 0.6, 0.8])]
    bounds = [None, *cuts, None]
    return {f"fifth {k + 1}": (bounds[k], bounds[k + 1]) for k in range(5)}


def _display(value: object) -> str | float | None:
    if value is None or value is pd.NA or (isinstance(value, float) and np.isnan(value)):
        return None
    if isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool):
        return float(value)
    return str(value)
