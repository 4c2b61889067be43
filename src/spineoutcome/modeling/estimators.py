"""Estimators the model families need that their libraries do not ship as such."""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.utils.class_weight import compute_sample_weight
from threadpoolctl import threadpool_limits
from xgboost import XGBClassifier

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
        """XGBoost's parameters without ``class_weight`` (not a booster parameter)."""
        params = super().get_xgb_params()
        params.pop("class_weight", None)
        return params

    def fit(self, X: Any, y: Any, **kwargs: Any) -> ClassWeightedXGBClassifier:
        """Fit with balanced sample weights when ``class_weight`` asks for them."""
        if self.class_weight is not None:
            kwargs["sample_weight"] = compute_sample_weight(self.class_weight, y)
        return super().fit(X, y, **kwargs)


class SerialHistGradientBoostingClassifier(HistGradientBoostingClassifier):
    """``HistGradientBoostingClassifier`` that fits and predicts on one OpenMP thread.

    Like every other family (``n_jobs=1``), so that parallel folds, workers and pipelines do not
    oversubscribe the cores: on a busy 2-core machine the default thread pool made a fit about
    ten times slower than one thread. The model itself is the same (histograms are summed per
    feature, so the thread count does not change the fit).
    """

    def fit(self, X: Any, y: Any, sample_weight: Any = None) -> SerialHistGradientBoostingClassifier:
        """Fit on one thread (see class docstring)."""
        with threadpool_limits(1, user_api="openmp"):
            return super().fit(X, y, sample_weight=sample_weight)

    def decision_function(self, X: Any) -> np.ndarray:
        """The log-odds of the positive class, computed on one thread."""
        with threadpool_limits(1, user_api="openmp"):
            return super().decision_function(X)

    def predict_proba(self, X: Any) -> np.ndarray:
        """Class probabilities, computed on one thread."""
        with threadpool_limits(1, user_api="openmp"):
            return super().predict_proba(X)
