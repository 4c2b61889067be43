"""Model families: the same preprocessing contract, five estimators, one Pipeline each.

=============  ==========================================================================
family         estimator (defaults; tuned parameters in :mod:`.search_spaces`)
=============  ==========================================================================
logistic       unpenalised logistic regression (``C=inf``, Newton-Cholesky), restricted
               cubic splines with 4 knots on continuous predictors (Harrell, RMS 2.4.6:
               4 knots are a good compromise for n of a few hundred to a few thousand),
               reference level of each categorical dropped
elastic_net    ``LogisticRegression(solver="saga", l1_ratio, C)``, standardised inputs
xgboost        ``XGBClassifier(tree_method="hist")``
lightgbm       ``LGBMClassifier`` (deterministic, row-wise histograms)
random_forest  ``RandomForestClassifier(n_estimators=300, min_samples_leaf=5)``
=============  ==========================================================================

Class imbalance is handled by nothing (the default, which keeps predicted risks calibrated)
or by ``class_weight="balanced"`` (w_c = n / (2 n_c)); there is never any resampling or
oversampling, which distorts calibration (van den Goorbergh et al., JAMIA 2022). The choice is
part of :func:`disclosure` (TRIPOD+AI item 13). Every random component is seeded by
``random_state`` and runs single-threaded unless ``params`` say otherwise, so the same seed on
the same data gives the same predictions.

``C=inf`` is scikit-learn's spelling of "no penalty" since 1.8 (``penalty=None`` is deprecated).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
from lightgbm import LGBMClassifier
from sklearn.base import BaseEstimator
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.utils.class_weight import compute_sample_weight
from xgboost import XGBClassifier

from ..dictionary import DataDictionary
from ._json import JsonValue, json_safe
from .preprocess import Preprocessor, build_preprocessor

FamilyName = Literal["logistic", "elastic_net", "xgboost", "lightgbm", "random_forest"]
ClassWeight = Literal["balanced"] | None


class ClassWeightedXGBClassifier(XGBClassifier):
    """``XGBClassifier`` with scikit-learn's ``class_weight``: weights computed from ``y`` in ``fit``.

    ``class_weight="balanced"`` gives each row the weight n / (2 n_class), exactly as the other
    families' ``class_weight="balanced"``; None fits the plain model.
    """

    def __init__(self, *, class_weight: ClassWeight = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.class_weight = class_weight

    def get_xgb_params(self) -> dict[str, Any]:
        params = super().get_xgb_params()
        params.pop("class_weight", None)
        return params

    def fit(self, X: Any, y: Any, **kwargs: Any) -> ClassWeightedXGBClassifier:
        if self.class_weight is not None:
            kwargs["sample_weight"] = compute_sample_weight(self.class_weight, y)
        return super().fit(X, y, **kwargs)


def _logistic(params: dict[str, Any], class_weight: ClassWeight, seed: int) -> BaseEstimator:
    return LogisticRegression(**{"C": np.inf, "solver": "newton-cholesky", "tol": 1e-8, "max_iter": 200,
                                 "class_weight": class_weight, **params})


def _elastic_net(params: dict[str, Any], class_weight: ClassWeight, seed: int) -> BaseEstimator:
    return LogisticRegression(**{"solver": "saga", "C": 1.0, "l1_ratio": 0.5, "max_iter": 5000, "tol": 1e-4,
                                 "class_weight": class_weight, "random_state": seed, **params})


def _xgboost(params: dict[str, Any], class_weight: ClassWeight, seed: int) -> BaseEstimator:
    return ClassWeightedXGBClassifier(**{
        "n_estimators": 200, "learning_rate": 0.05, "max_depth": 3, "tree_method": "hist", "n_jobs": 1,
        "eval_metric": "logloss", "random_state": seed, "class_weight": class_weight, **params})


def _lightgbm(params: dict[str, Any], class_weight: ClassWeight, seed: int) -> BaseEstimator:
    return LGBMClassifier(**{
        "n_estimators": 200, "learning_rate": 0.05, "num_leaves": 15, "min_child_samples": 20, "subsample_freq": 1,
        "n_jobs": 1, "deterministic": True, "force_row_wise": True, "verbose": -1, "random_state": seed,
        "class_weight": class_weight, **params})


def _random_forest(params: dict[str, Any], class_weight: ClassWeight, seed: int) -> BaseEstimator:
    return RandomForestClassifier(**{"n_estimators": 300, "min_samples_leaf": 5, "n_jobs": 1, "random_state": seed,
                                     "class_weight": class_weight, **params})


@dataclass(frozen=True)
class Family:
    """How to build one family: its estimator and its preprocessing defaults."""

    estimator: Callable[[dict[str, Any], ClassWeight, int], BaseEstimator]
    preprocess: Mapping[str, Any]


FAMILIES: dict[str, Family] = {
    "logistic": Family(_logistic, {"spline_knots": 4, "scale": True, "drop_first": True}),
    "elastic_net": Family(_elastic_net, {"scale": True}),
    "xgboost": Family(_xgboost, {"scale": False}),
    "lightgbm": Family(_lightgbm, {"scale": False}),
    "random_forest": Family(_random_forest, {"scale": False}),
}


def make_pipeline(
    family: FamilyName,
    dictionary: DataDictionary,
    predictors: Sequence[str],
    params: Mapping[str, Any] | None = None,
    *,
    class_weight: ClassWeight = None,
    random_state: int = 0,
    preprocess: Mapping[str, Any] | None = None,
) -> Pipeline:
    """``Pipeline([("preprocess", Preprocessor), ("model", estimator)])`` for a named family.

    ``params`` override the estimator's defaults (e.g. tuned hyperparameters); ``preprocess``
    overrides the family's :func:`build_preprocessor` options (imputation, spline_knots, scale,
    radiomics, drop_first, categorical_missing).
    """
    spec = family_spec(family)
    if class_weight not in (None, "balanced"):
        raise ValueError(f"class_weight must be None or 'balanced', got {class_weight!r}")
    options = {**spec.preprocess, "random_state": random_state, **(preprocess or {})}
    return Pipeline([
        ("preprocess", build_preprocessor(dictionary, predictors, **options)),
        ("model", spec.estimator(dict(params or {}), class_weight, random_state)),
    ])


def family_spec(family: str) -> Family:
    try:
        return FAMILIES[family]
    except KeyError:
        raise ValueError(f"unknown model family {family!r}; choose one of {sorted(FAMILIES)}") from None


def family_of(estimator: BaseEstimator) -> str:
    """The family name of a model step built by :func:`make_pipeline`."""
    if isinstance(estimator, LogisticRegression):
        return "logistic" if np.isinf(estimator.C) else "elastic_net"
    for name, cls in (("xgboost", XGBClassifier), ("lightgbm", LGBMClassifier),
                      ("random_forest", RandomForestClassifier)):
        if isinstance(estimator, cls):
            return name
    raise ValueError(f"{type(estimator).__name__} is not a model of any family")


def disclosure(model: Pipeline | BaseEstimator) -> dict[str, JsonValue]:
    """What a report must state about a model (TRIPOD+AI items 8, 12, 13): JSON-safe.

    Accepts a Pipeline from :func:`make_pipeline` or a fitted ``TunedClassifier`` (then the
    refitted best pipeline and the tuning summary are described).
    """
    tuning = getattr(model, "study_summary_", None)
    pipeline: Pipeline = getattr(model, "best_estimator_", model)
    estimator = pipeline.named_steps["model"]
    preprocessor: Preprocessor = pipeline.named_steps["preprocess"]
    class_weight = estimator.get_params().get("class_weight")
    record: dict[str, JsonValue] = {
        "family": family_of(estimator),
        "estimator": type(estimator).__name__,
        "class_weight": class_weight,
        "imbalance_handling": "class weights (balanced: n / (2 n_class))" if class_weight else "none",
        "resampling_of_training_data": "none (no oversampling, undersampling or SMOTE)",
        "preprocessing": json_safe({**{k: v for k, v in preprocessor.get_params(deep=False).items()
                                       if k not in ("continuous", "binary", "categorical", "radiomics")},
                                    "radiomics_selector": _selector_text(preprocessor)}),
        "hyperparameters": json_safe(estimator.get_params(deep=False)),
    }
    if tuning is not None:
        record["tuning"] = tuning
    return record


def _selector_text(preprocessor: Preprocessor) -> str | None:
    """The radiomics selection steps by name (e.g. ``NearZeroVarianceFilter -> LassoSelector``), or None
    when the model has no radiomics predictors or no selection."""
    selector = preprocessor.radiomics_selector
    if not preprocessor.radiomics or selector is None:
        return None
    steps = selector.steps if isinstance(selector, Pipeline) else [("", selector)]
    return " -> ".join(type(step).__name__ for _, step in steps)
