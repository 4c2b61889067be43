"""One Pipeline per model family: the dictionary-typed preprocessor, then the family's estimator.

The families (estimators, defaults, preprocessing, search spaces) are the entries of
:data:`.families.REGISTRY`.

Class imbalance is handled by nothing (the default, which keeps predicted risks calibrated)
or by ``class_weight="balanced"`` (w_c = n / (2 n_c)); there is never any resampling or
oversampling, which distorts calibration (van den Goorbergh et al., JAMIA 2022). The choice is
part of :func:`disclosure` (TRIPOD+AI item 13). Every random component is seeded by
``random_state`` and runs single-threaded unless ``params`` say otherwise, so the same seed on
the same data gives the same predictions.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sklearn.base import BaseEstimator
from sklearn.pipeline import Pipeline

from ..dictionary import DataDictionary
from ..jsonable import JsonValue, json_safe
from .estimators import ClassWeight, ClassWeightedXGBClassifier
from .families import REGISTRY, FamilySpec, family_of, get_family
from .preprocess import Preprocessor, build_preprocessor

__all__ = [
    "FAMILIES",
    "ClassWeight",
    "ClassWeightedXGBClassifier",
    "disclosure",
    "family_of",
    "family_spec",
    "make_pipeline",
]

FAMILIES: dict[str, FamilySpec] = {name: spec for name, spec in REGISTRY.items() if spec.task == "binary"}
"""The binary (classifier) families of :data:`.families.REGISTRY`."""


def make_pipeline(
    family: str,
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
    return Pipeline(
        [
            ("preprocess", build_preprocessor(dictionary, predictors, **options)),
            ("model", spec.estimator(dict(params or {}), class_weight, random_state)),
        ]
    )


def family_spec(name: str) -> FamilySpec:
    """The registry entry of a binary family (a ValueError names the known ones)."""
    return get_family(name, "binary")


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
        "preprocessing": json_safe(
            {
                **{
                    k: v
                    for k, v in preprocessor.get_params(deep=False).items()
                    if k not in ("continuous", "binary", "categorical", "radiomics")
                },
                "radiomics_selector": _selector_text(preprocessor),
            }
        ),
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
