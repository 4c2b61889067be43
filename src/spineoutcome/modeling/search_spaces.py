"""Hyperparameter search spaces, one small table per family.

The ranges suit development cohorts of a few hundred to a few thousand patients with tens to a
few hundred events: shallow trees, strong regularisation available, subsampling. The elastic
net's space is a grid (:class:`Grid`): it is searched exhaustively along its warm-started
regularisation path (:mod:`.elastic_net`), which costs less than a few Optuna trials. Unpenalised
logistic regression has nothing to tune (its flexibility is fixed in advance by the spline
knots, as Harrell recommends), so its space is empty.

===============  ======================  =============================================
family           parameter               range
===============  ======================  =============================================
elastic_net      C                       grid of 21: 1e-3 .. 1e2, 4 per decade
                 l1_ratio                grid: 0 (ridge), 0.25, 0.5, 0.75, 1 (lasso)
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

import numpy as np
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


@dataclass(frozen=True)
class Grid:
    """A hyperparameter taking one of a few listed values: searched exhaustively by a path search
    (:func:`.elastic_net.path_scores`), or sampled as a categorical by Optuna."""

    values: tuple[float, ...]

    @classmethod
    def log(cls, low: float, high: float, per_decade: int) -> Grid:
        """Values from ``low`` to ``high`` evenly spaced on the log scale, ``per_decade`` per factor of 10."""
        count = round(np.log10(high / low) * per_decade) + 1
        return cls(tuple(float(v) for v in np.logspace(np.log10(low), np.log10(high), count)))

    def suggest(self, trial: optuna.Trial, name: str) -> float:
        """The trial's value of ``name``."""
        return trial.suggest_categorical(name, self.values)


SearchSpace = dict[str, Distribution]

SEARCH_SPACES: dict[str, SearchSpace] = {
    "logistic": {},
    "elastic_net": {
        "C": Grid.log(1e-3, 1e2, per_decade=4),
        "l1_ratio": Grid((0.0, 0.25, 0.5, 0.75, 1.0)),
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
