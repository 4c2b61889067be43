"""The model-family registry: everything the package knows about a family, in one entry.

A :class:`FamilySpec` says how to build the family's estimator and its preprocessing, what to tune
(:mod:`.search_spaces`), how to explain it (SHAP method and units), how to correct its optimism
(Harrell's bootstrap for regression models, .632+ for tree ensembles; Steyerberg, Clinical
Prediction Models 2019, ch. 17), whether its log-odds get the pipeline's logistic recalibration,
whether the report treats it as a flexible learner, and its display name and colour (Okabe-Ito,
colour-blind safe). Configuration validation, the model zoo, tuning, the experiment, SHAP, the
model bundle and the report all read this table, so adding a family is one entry here and, when it
is tuned, one search space in :mod:`.search_spaces`.

=============  ==========================================================================
family         estimator (defaults; tuned parameters in :mod:`.search_spaces`)
=============  ==========================================================================
logistic       unpenalised logistic regression (``C=inf``, Newton-Cholesky), restricted
               cubic splines with 4 knots on continuous predictors (Harrell, RMS 2.4.6:
               4 knots are a good compromise for n of a few hundred to a few thousand),
               reference level of each categorical dropped
elastic_net    :class:`.elastic_net.ElasticNetLogistic` (``C``, ``l1_ratio``: the objective of
               ``LogisticRegression(solver="saga")``, solved by proximal Newton steps),
               standardised inputs; tuned over its warm-started regularisation path
xgboost        ``XGBClassifier(tree_method="hist")``
lightgbm       ``LGBMClassifier`` (deterministic, row-wise histograms)
random_forest  ``RandomForestClassifier(n_estimators=300, min_samples_leaf=5)``
hist_gradient  ``HistGradientBoostingClassifier`` (native missing-value handling, no early
_boosting      stopping so every fit uses all its rows; one OpenMP thread like the others)
weibull_aft    lifelines' ``WeibullAFTFitter`` on interval-censored times (time to event)
xgboost_aft    XGBoost's accelerated failure time objective (time to event)
=============  ==========================================================================

``C=inf`` is scikit-learn's spelling of "no penalty" since 1.8 (``penalty=None`` is deprecated).

Binary families build ``estimator(params, class_weight, seed)``; time-to-event families build
``survival_estimator(preprocessor, seed)`` on interval-censored labels.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
from lightgbm import LGBMClassifier
from sklearn.base import BaseEstimator
from sklearn.ensemble import HistGradientBoostingClassifier, RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from xgboost import XGBClassifier

from .elastic_net import ElasticNetLogistic
from .estimators import ClassWeight, ClassWeightedXGBClassifier, SerialHistGradientBoostingClassifier
from .preprocess import Preprocessor
from .search_spaces import SEARCH_SPACES, SearchSpace
from .survival import WeibullAFTModel, XGBoostAFTModel

TaskKind = Literal["binary", "time_to_event"]
ShapName = Literal["linear", "xgboost_native", "lightgbm_native", "tree_explainer", "none"]


@dataclass(frozen=True)
class ShapMethod:
    """How a family's predictions are explained: the method (see :mod:`spineoutcome.explain`), the
    scale of its SHAP values and the sentence a model bundle states."""

    name: ShapName
    units: Literal["log-odds", "probability"] | None
    description: str


LINEAR_SHAP = ShapMethod("linear", "log-odds", "linear SHAP on the model design: beta_j * (x_j - training mean of x_j)")
NO_SHAP = ShapMethod("none", None, "not explained by SHAP")


@dataclass(frozen=True)
class FamilySpec:
    """One model family (see module docstring).

    ``task``: ``binary`` or ``time_to_event``; ``preprocess``: :func:`.preprocess.build_preprocessor`
    defaults (the pipeline's imputation and radiomics choices override them); ``shap``: how it is
    explained; ``optimism``: Harrell's correction or .632+ in the optimism bootstrap; ``recalibrated``:
    its log-odds get the pipeline's ``boosting_calibration``; ``flexible``: the report treats it as a
    flexible learner (its optimism correction is compared with cross-validation); ``reference``: its
    task's reference model (paired comparisons, listed first); ``estimator(params, class_weight,
    seed)`` or ``survival_estimator(preprocessor, seed)``: the unfitted model; ``is_model``: whether
    a fitted model step is of this family; ``search_space``: what is tuned (empty: nothing);
    ``tuner``: ``"optuna"`` (TPE trials) or ``"path"`` (a grid of ``C`` and ``l1_ratio`` scored along
    the warm-started regularisation path, :func:`.elastic_net.path_scores`; any other space given
    for such a family is searched by Optuna).
    """

    name: str
    display_name: str
    colour: str
    task: TaskKind
    preprocess: Mapping[str, Any]
    shap: ShapMethod
    optimism: Literal["harrell", "632plus"] = "632plus"
    recalibrated: bool = False
    flexible: bool = False
    reference: bool = False
    estimator: Callable[[dict[str, Any], ClassWeight, int], BaseEstimator] | None = None
    survival_estimator: Callable[[Preprocessor, int], BaseEstimator] | None = None
    is_model: Callable[[BaseEstimator], bool] = field(default=lambda _: False)
    search_space: SearchSpace = field(default_factory=dict)
    tuner: Literal["optuna", "path"] = "optuna"

    @property
    def tuned(self) -> bool:
        """Whether the family has hyperparameters to tune."""
        return bool(self.search_space)


def _logistic(params: dict[str, Any], class_weight: ClassWeight, seed: int) -> BaseEstimator:
    return LogisticRegression(
        **{
            "C": np.inf,
            "solver": "newton-cholesky",
            "tol": 1e-8,
            "max_iter": 200,
            "class_weight": class_weight,
            **params,
        }
    )


def _elastic_net(params: dict[str, Any], class_weight: ClassWeight, seed: int) -> BaseEstimator:
    """Deterministic (no random component): ``seed`` is not needed."""
    return ElasticNetLogistic(**{"C": 1.0, "l1_ratio": 0.5, "class_weight": class_weight, **params})


def _xgboost(params: dict[str, Any], class_weight: ClassWeight, seed: int) -> BaseEstimator:
    return ClassWeightedXGBClassifier(
        **{
            "n_estimators": 200,
            "learning_rate": 0.05,
            "max_depth": 3,
            "tree_method": "hist",
            "n_jobs": 1,
            "eval_metric": "logloss",
            "random_state": seed,
            "class_weight": class_weight,
            **params,
        }
    )


def _lightgbm(params: dict[str, Any], class_weight: ClassWeight, seed: int) -> BaseEstimator:
    return LGBMClassifier(
        **{
            "n_estimators": 200,
            "learning_rate": 0.05,
            "num_leaves": 15,
            "min_child_samples": 20,
            "subsample_freq": 1,
            "n_jobs": 1,
            "deterministic": True,
            "force_row_wise": True,
            "verbose": -1,
            "random_state": seed,
            "class_weight": class_weight,
            **params,
        }
    )


def _random_forest(params: dict[str, Any], class_weight: ClassWeight, seed: int) -> BaseEstimator:
    return RandomForestClassifier(
        **{
            "n_estimators": 300,
            "min_samples_leaf": 5,
            "n_jobs": 1,
            "random_state": seed,
            "class_weight": class_weight,
            **params,
        }
    )


def _hist_gradient_boosting(params: dict[str, Any], class_weight: ClassWeight, seed: int) -> BaseEstimator:
    """Histogram gradient boosting; ``early_stopping=False`` so every fit uses all its training rows
    (no hidden validation split) and the same seed gives the same model."""
    return SerialHistGradientBoostingClassifier(
        **{
            "max_iter": 200,
            "learning_rate": 0.05,
            "max_leaf_nodes": 15,
            "min_samples_leaf": 20,
            "early_stopping": False,
            "random_state": seed,
            "class_weight": class_weight,
            **params,
        }
    )


def _is_unpenalised_logistic(model: BaseEstimator) -> bool:
    return isinstance(model, LogisticRegression) and bool(np.isinf(model.C))


def _is_penalised_logistic(model: BaseEstimator) -> bool:
    return isinstance(model, LogisticRegression) and not np.isinf(model.C)


def _instance_of(cls: type) -> Callable[[BaseEstimator], bool]:
    return lambda model: isinstance(model, cls)


REGISTRY: dict[str, FamilySpec] = {
    spec.name: spec
    for spec in (
        FamilySpec(
            "logistic",
            "Logistic regression",
            "#0072B2",
            "binary",
            {"spline_knots": 4, "scale": True, "drop_first": True},
            LINEAR_SHAP,
            optimism="harrell",
            reference=True,
            estimator=_logistic,
            is_model=_is_unpenalised_logistic,
            search_space=SEARCH_SPACES["logistic"],
        ),
        FamilySpec(
            "elastic_net",
            "Elastic net",
            "#56B4E9",
            "binary",
            {"scale": True},
            LINEAR_SHAP,
            optimism="harrell",
            estimator=_elastic_net,
            is_model=_is_penalised_logistic,
            search_space=SEARCH_SPACES["elastic_net"],
            tuner="path",
        ),
        FamilySpec(
            "xgboost",
            "XGBoost",
            "#D55E00",
            "binary",
            {"scale": False},
            ShapMethod("xgboost_native", "log-odds", "exact TreeSHAP, XGBoost native contributions"),
            recalibrated=True,
            flexible=True,
            estimator=_xgboost,
            is_model=_instance_of(XGBClassifier),
            search_space=SEARCH_SPACES["xgboost"],
        ),
        FamilySpec(
            "lightgbm",
            "LightGBM",
            "#009E73",
            "binary",
            {"scale": False},
            ShapMethod("lightgbm_native", "log-odds", "exact TreeSHAP, LightGBM native contributions"),
            recalibrated=True,
            flexible=True,
            estimator=_lightgbm,
            is_model=_instance_of(LGBMClassifier),
            search_space=SEARCH_SPACES["lightgbm"],
        ),
        FamilySpec(
            "random_forest",
            "Random forest",
            "#CC79A7",
            "binary",
            {"scale": False},
            ShapMethod("tree_explainer", "probability", "exact TreeSHAP, shap.TreeExplainer"),
            flexible=True,
            estimator=_random_forest,
            is_model=_instance_of(RandomForestClassifier),
            search_space=SEARCH_SPACES["random_forest"],
        ),
        FamilySpec(
            "hist_gradient_boosting",
            "HistGradientBoosting",
            "#E69F00",
            "binary",
            {"scale": False},
            ShapMethod("tree_explainer", "log-odds", "exact TreeSHAP, shap.TreeExplainer"),
            recalibrated=True,
            flexible=True,
            estimator=_hist_gradient_boosting,
            is_model=_instance_of(HistGradientBoostingClassifier),
            search_space=SEARCH_SPACES["hist_gradient_boosting"],
        ),
        FamilySpec(
            "weibull_aft",
            "Weibull AFT",
            "#0072B2",
            "time_to_event",
            {"drop_first": True},
            NO_SHAP,
            reference=True,
            survival_estimator=lambda pre, seed: WeibullAFTModel(pre, penalizer=0.01),
            is_model=_instance_of(WeibullAFTModel),
        ),
        FamilySpec(
            "xgboost_aft",
            "XGBoost AFT",
            "#D55E00",
            "time_to_event",
            {"scale": False},
            NO_SHAP,
            flexible=True,
            survival_estimator=lambda pre, seed: XGBoostAFTModel(pre, random_state=seed),
            is_model=_instance_of(XGBoostAFTModel),
        ),
    )
}
"""Every family by name, in the order the report lists them after the reference."""


def get_family(name: str, task: TaskKind | None = None) -> FamilySpec:
    """The registry entry of ``name`` (of ``task``'s families, when given); a ValueError names the
    choices and the closest match."""
    spec = REGISTRY.get(name)
    if spec is None or (task is not None and spec.task != task):
        choices = family_names(task)
        close = difflib.get_close_matches(name, choices, n=2, cutoff=0.6)
        hint = f" (did you mean {' or '.join(repr(c) for c in close)}?)" if close else ""
        raise ValueError(f"unknown model family {name!r}{hint}; choose one of {choices}")
    return spec


def family_names(task: TaskKind | None = None) -> list[str]:
    """The registered families (of ``task``), sorted."""
    return sorted(n for n, s in REGISTRY.items() if task is None or s.task == task)


def family_of(model: BaseEstimator) -> str:
    """The family of a fitted or unfitted model step (binary or time-to-event)."""
    for spec in REGISTRY.values():
        if spec.is_model(model):
            return spec.name
    raise ValueError(f"{type(model).__name__} is not a model of any family")


def display_name(name: str) -> str:
    """The family's name in reports; an unknown family (an older Evidence) by its own name."""
    spec = REGISTRY.get(name)
    return spec.display_name if spec else name.replace("_", " ")


def colour(name: str, i: int = 0) -> str:
    """The family's colour in every figure; an unknown family cycles through spare colours."""
    spec = REGISTRY.get(name)
    return spec.colour if spec else ["#000000", "#E69F00", "#999999"][i % 3]


def is_reference(name: str) -> bool:
    """Whether the family is its task's reference model (logistic regression, the Weibull AFT model)."""
    spec = REGISTRY.get(name)
    return bool(spec and spec.reference)


def is_flexible(name: str) -> bool:
    """Whether the report treats the family as a flexible learner (tree ensembles)."""
    spec = REGISTRY.get(name)
    return bool(spec and spec.flexible)
