"""Hyperparameter search spaces, one small table per family.

The ranges suit development cohorts of a few hundred to a few thousand patients with tens to a
few hundred events: shallow trees, strong regularisation available, subsampling. Unpenalised
logistic regression has nothing to tune (its flexibility is fixed in advance by the spline
knots, as Harrell recommends), so its space is empty.

===============  ======================  =============================================
family           parameter               range
===============  ======================  =============================================
elastic_net      C                       1e-3 .. 1e2, log scale
                 l1_ratio                0 (ridge) .. 1 (lasso)
xgboost          max_depth               2 .. 6
                 learning_rate           0.01 .. 0.3, log
                 n_estimators            50 .. 500, step 25
                 min_child_weight        1 .. 20, log
                 subsample               0.5 .. 1
                 colsample_bytree        0.5 .. 1
                 reg_lambda              1e-3 .. 10, log
lightgbm         num_leaves              4 .. 64, log
                 min_child_samples       5 .. 100, log
                 learning_rate           0.01 .. 0.3, log
                 n_estimators            50 .. 500, step 25
                 subsample               0.5 .. 1 (bagging every iteration)
                 colsample_bytree        0.5 .. 1
                 reg_lambda              1e-3 .. 10, log
random_forest    max_depth               2 .. 12
                 min_samples_leaf        1 .. 50, log
                 max_features            0.1 .. 1 (fraction of columns per split)
hist_gradient_   max_leaf_nodes          4 .. 64, log
boosting         min_samples_leaf        5 .. 100, log
                 learning_rate           0.01 .. 0.3, log
                 max_iter                50 .. 500, step 25
                 l2_regularization       1e-3 .. 10, log
                 max_features            0.5 .. 1 (fraction of columns per split)
===============  ======================  =============================================
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

import optuna


class Distribution(Protocol):
    """A range Optuna can sample one hyperparameter from."""

    def suggest(self, trial: optuna.Trial, name: str) -> Any:
        """The trial's value of hyperparameter ``name``."""


@dataclass(frozen=True)
class FloatRange:
    """A float hyperparameter in [low, high], optionally on the log scale."""

    low: float
    high: float
    log: bool = False

    def suggest(self, trial: optuna.Trial, name: str) -> float:
        """The trial's value of ``name``."""
        return trial.suggest_float(name, self.low, self.high, log=self.log)


@dataclass(frozen=True)
class IntRange:
    """An integer hyperparameter in [low, high] by ``step``, optionally on the log scale."""

    low: int
    high: int
    log: bool = False
    step: int = 1

    def suggest(self, trial: optuna.Trial, name: str) -> int:
        """The trial's value of ``name``."""
        return trial.suggest_int(name, self.low, self.high, log=self.log, step=self.step)


SearchSpace = dict[str, Distribution]

SEARCH_SPACES: dict[str, SearchSpace] = {
    "logistic": {},
    "elastic_net": {
        "C": FloatRange(1e-3, 1e2, log=True),
        "l1_ratio": FloatRange(0.0, 1.0),
    },
    "xgboost": {
        "max_depth": IntRange(2, 6),
        "learning_rate": FloatRange(0.01, 0.3, log=True),
        "n_estimators": IntRange(50, 500, step=25),
        "min_child_weight": FloatRange(1.0, 20.0, log=True),
        "subsample": FloatRange(0.5, 1.0),
        "colsample_bytree": FloatRange(0.5, 1.0),
        "reg_lambda": FloatRange(1e-3, 10.0, log=True),
    },
    "lightgbm": {
        "num_leaves": IntRange(4, 64, log=True),
        "min_child_samples": IntRange(5, 100, log=True),
        "learning_rate": FloatRange(0.01, 0.3, log=True),
        "n_estimators": IntRange(50, 500, step=25),
        "subsample": FloatRange(0.5, 1.0),
        "colsample_bytree": FloatRange(0.5, 1.0),
        "reg_lambda": FloatRange(1e-3, 10.0, log=True),
    },
    "random_forest": {
        "max_depth": IntRange(2, 12),
        "min_samples_leaf": IntRange(1, 50, log=True),
        "max_features": FloatRange(0.1, 1.0),
    },
    "hist_gradient_boosting": {
        "max_leaf_nodes": IntRange(4, 64, log=True),
        "min_samples_leaf": IntRange(5, 100, log=True),
        "learning_rate": FloatRange(0.01, 0.3, log=True),
        "max_iter": IntRange(50, 500, step=25),
        "l2_regularization": FloatRange(1e-3, 10.0, log=True),
        "max_features": FloatRange(0.5, 1.0),
    },
}
