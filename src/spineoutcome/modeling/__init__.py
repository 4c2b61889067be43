"""Modelling: dictionary-typed preprocessing, model families, tuning, recalibration, survival.

Everything that learns from data is a scikit-learn estimator, so it can be cloned and refit
inside any resampling loop without seeing the test rows.
"""

from .estimators import ClassWeightedXGBClassifier
from .families import REGISTRY, FamilySpec, get_family
from .preprocess import Preprocessor, build_preprocessor, feature_sources
from .recalibration import LogisticRecalibration
from .search_spaces import SEARCH_SPACES, FloatRange, IntRange
from .splines import RestrictedCubicSpline, default_knots, rcs_basis
from .survival import (
    WeibullAFTModel,
    XGBoostAFTModel,
    check_labels,
    harrell_c,
    kaplan_meier_by_risk_group,
    point_times,
)
from .tuning import TunedClassifier
from .zoo import FAMILIES, disclosure, family_of, make_pipeline

__all__ = [
    "FAMILIES",
    "REGISTRY",
    "SEARCH_SPACES",
    "ClassWeightedXGBClassifier",
    "FamilySpec",
    "FloatRange",
    "IntRange",
    "LogisticRecalibration",
    "Preprocessor",
    "RestrictedCubicSpline",
    "TunedClassifier",
    "WeibullAFTModel",
    "XGBoostAFTModel",
    "build_preprocessor",
    "check_labels",
    "default_knots",
    "disclosure",
    "family_of",
    "get_family",
    "feature_sources",
    "harrell_c",
    "kaplan_meier_by_risk_group",
    "make_pipeline",
    "point_times",
    "rcs_basis",
]
