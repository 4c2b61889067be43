"""The fitted preprocessor as plain NumPy column operations: the same numbers without sklearn's overhead.

A bundle's preprocessor is a tree of a few sklearn steps (ColumnTransformer, Pipeline, the
dtype casts of :mod:`spineoutcome.modeling.preprocess`, SimpleImputer with missing indicators,
:class:`~spineoutcome.modeling.splines.RestrictedCubicSpline`, StandardScaler, OneHotEncoder).
Each of them is elementwise per column, and :func:`compile_preprocess` reads their fitted
attributes (imputation values, knots, means and scales, categories) into the same operations in
the same order, so the result is equal, number for number, to ``transform``. What it saves is
sklearn's fixed cost per call (validation, pandas containers), which dominates when a model and
its 30-odd bootstrap refits each transform a few hundred distinct values per chunk.

Any other step (an iterative imputer, a radiomics selector, a function other than the package's
casts) raises :class:`NotCompilable`, and the caller uses ``transform``. The design cache also
checks the compiled result against ``transform`` on the first values it sees and falls back to
``transform`` for good if they differ in any bit, so a change of the preprocessor elsewhere in
the package can cost speed, never correctness.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer, OneHotEncoder, StandardScaler

from spineoutcome.errors import SpineoutcomeError
from spineoutcome.modeling.preprocess import to_float, to_object
from spineoutcome.modeling.splines import RestrictedCubicSpline, rcs_basis

Columns = list[np.ndarray]


class NotCompilable(SpineoutcomeError, TypeError):
    """The preprocessor holds a step this module does not translate."""


def compile_preprocess(preprocess: object) -> Callable[[pd.DataFrame], np.ndarray]:
    """A function ``frame -> design`` (rows x design columns, float64) equal to ``preprocess.transform(frame)``."""
    inner = getattr(preprocess, "transformer_", None)
    if not isinstance(inner, ColumnTransformer):
        raise NotCompilable(f"{type(preprocess).__name__} is not the package's Preprocessor")
    expected = [str(c) for c in preprocess.get_feature_names_out()]
    inputs = [str(n) for n in inner.feature_names_in_]
    checked = []

    def run(frame: pd.DataFrame) -> np.ndarray:
        columns = [frame[name] for name in inputs]
        out, names = _apply(inner, columns, inputs, check=not checked)
        if not checked:  # the output names are those of the preprocessor, step by step (checked once)
            if names != expected:
                raise NotCompilable("the compiled design has other columns than the preprocessor")
            checked.append(True)
        return np.column_stack([np.asarray(c, dtype=np.float64) for c in out]) if out else np.zeros((len(frame), 0))

    return run


def _apply(step: object, columns: Columns, names: list[str], check: bool) -> tuple[Columns, list[str]]:
    if isinstance(step, Pipeline):
        for _, inner in step.steps:
            columns, names = _apply(inner, columns, names, check)
        return columns, names
    if isinstance(step, ColumnTransformer):
        return _column_transformer(step, columns, names, check)
    if isinstance(step, FunctionTransformer):
        return _function(step, columns, names)
    if isinstance(step, SimpleImputer):
        return _imputer(step, columns, names, check)
    if isinstance(step, RestrictedCubicSpline):
        out: Columns = []
        out_names: list[str] = []
        for name, column, knots in zip(names, columns, step.knots_, strict=True):
            basis = rcs_basis(np.asarray(column, dtype=np.float64), knots)
            out += [basis[:, k] for k in range(basis.shape[1])]
            out_names += [f"{name}_rcs{k}" if k else name for k in range(basis.shape[1])]
        if check and [str(n) for n in step.get_feature_names_out(names)] != out_names:
            raise NotCompilable("spline output names differ from the compiled ones")
        return out, out_names
    if isinstance(step, StandardScaler):
        out = []
        for j, column in enumerate(columns):
            value = np.array(column, dtype=np.float64, copy=True)
            if step.with_mean:
                value -= step.mean_[j]
            if step.with_std:
                value /= step.scale_[j]
            out.append(value)
        return out, names
    if isinstance(step, OneHotEncoder):
        return _one_hot(step, columns, names, check)
    raise NotCompilable(f"no NumPy translation of {type(step).__name__}")


def _column_transformer(
    step: ColumnTransformer, columns: Columns, names: list[str], check: bool
) -> tuple[Columns, list[str]]:
    position = {name: i for i, name in enumerate(names)}
    out: Columns = []
    out_names: list[str] = []
    for _, inner, selected in step.transformers_:
        if isinstance(inner, str) and inner == "drop":
            continue
        if not isinstance(selected, (list, tuple, np.ndarray)) or not all(isinstance(s, str) for s in selected):
            raise NotCompilable("a ColumnTransformer selects columns by something other than their names")
        if not len(selected):
            continue
        picked = [columns[position[s]] for s in selected]
        if isinstance(inner, str) and inner == "passthrough":
            result, result_names = picked, list(selected)
        else:
            result, result_names = _apply(inner, picked, list(selected), check)
        out += result
        out_names += result_names
    if check and [str(n) for n in step.get_feature_names_out()] != out_names:
        raise NotCompilable("ColumnTransformer output names differ from the compiled ones")
    return out, out_names


def _function(step: FunctionTransformer, columns: Columns, names: list[str]) -> tuple[Columns, list[str]]:
    if step.func is None:
        return columns, names
    if step.func is to_float:
        return [_as_series(c).to_numpy(dtype=np.float64, na_value=np.nan) for c in columns], names
    if step.func is to_object:
        out = []
        for column in columns:
            series = _as_series(column)
            out.append(series.astype(object).where(series.notna(), np.nan).to_numpy())
        return out, names
    raise NotCompilable(f"no NumPy translation of the function {getattr(step.func, '__name__', step.func)!r}")


def _imputer(step: SimpleImputer, columns: Columns, names: list[str], check: bool) -> tuple[Columns, list[str]]:
    if not (isinstance(step.missing_values, float) and np.isnan(step.missing_values)):
        raise NotCompilable("SimpleImputer with a missing-value marker other than NaN")
    out: Columns = []
    masks = []
    for j, column in enumerate(columns):
        values = np.asarray(column)
        mask = pd.isna(values) if values.dtype == object else np.isnan(values)
        filled = values.copy()
        filled[mask] = step.statistics_[j]
        out.append(filled)
        masks.append(mask)
    out_names = list(names)
    if step.add_indicator:
        if step.indicator_.features != "missing-only":
            raise NotCompilable("missing indicator for all features")
        for j in step.indicator_.features_:
            out.append(masks[j].astype(np.float64))
            out_names.append(f"missingindicator_{names[j]}")
    if check and [str(n) for n in step.get_feature_names_out(names)] != out_names:
        raise NotCompilable("SimpleImputer output names differ from the compiled ones")
    return out, out_names


def _one_hot(step: OneHotEncoder, columns: Columns, names: list[str], check: bool) -> tuple[Columns, list[str]]:
    if getattr(step, "_infrequent_enabled", False) or step.handle_unknown not in ("ignore", "error"):
        raise NotCompilable("OneHotEncoder with infrequent categories")
    drops = step.drop_idx_ if step.drop_idx_ is not None else [None] * len(columns)
    out: Columns = []
    out_names: list[str] = []
    for name, column, categories, drop in zip(names, columns, step.categories_, drops, strict=True):
        values = np.asarray(column, dtype=object)
        for k, category in enumerate(categories):
            if drop is not None and k == drop:
                continue
            out.append((values == category).astype(np.float64))
            out_names.append(f"{name}_{category}")
    if check and [str(n) for n in step.get_feature_names_out(names)] != out_names:
        raise NotCompilable("one-hot output names differ from the compiled ones")
    return out, out_names


def _as_series(column: object) -> pd.Series:
    return column if isinstance(column, pd.Series) else pd.Series(column)
