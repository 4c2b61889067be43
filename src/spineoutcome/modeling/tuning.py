"""Hyperparameter tuning with Optuna as a scikit-learn meta-estimator.

``TunedClassifier.fit(X, y)`` runs a TPE study whose objective is the mean inner
cross-validated score of a :func:`.zoo.make_pipeline` pipeline, then refits the best
parameters on all of ``X, y``. Because tuning happens inside ``fit``, nested cross-validation
is ordinary resampling of the meta-estimator: ``clone(tuned).fit(X.iloc[outer_train], ...)``
tunes and refits on the outer training rows only, and the outer test rows are only ever
predicted. The default score is the log loss, a strictly proper scoring rule, so tuning
rewards calibrated risks and not only ranking (Van Calster et al., J Clin Epidemiol 2016).

Pruning: after each inner fold the running mean score is reported, and Optuna's median pruner
stops a trial whose running mean is below the median of earlier trials at the same fold (all
trials share the same inner folds, so these are like-for-like).

Storage: in memory by default, or an RDB URL (``sqlite:///optuna.db``, PostgreSQL). The study
is named ``<study_name or spineoutcome-<family>>-<fingerprint>``, where the fingerprint hashes
the data and the tuning configuration. Each outer fold therefore gets its own study, a rerun
resumes its study instead of starting again, and several workers fitting the same estimator
on the same data share one study, stopping once ``n_trials`` trials have finished.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

import numpy as np
import optuna
import pandas as pd
from optuna.study import MaxTrialsCallback
from optuna.trial import TrialState
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.metrics import get_scorer
from sklearn.model_selection import StratifiedKFold
from sklearn.pipeline import Pipeline
from sklearn.utils.validation import check_is_fitted
from sqlalchemy.engine import make_url

from ..dictionary import DataDictionary
from ._json import JsonValue, json_safe
from .search_spaces import SEARCH_SPACES, SearchSpace
from .zoo import ClassWeight, family_spec, make_pipeline

METRICS = ("neg_log_loss", "roc_auc", "neg_brier_score")


class TunedClassifier(ClassifierMixin, BaseEstimator):
    """A model family whose hyperparameters are tuned by Optuna inside ``fit``.

    The study maximises the mean over ``inner_cv`` stratified folds of ``metric`` (scikit-learn
    scorer names: ``neg_log_loss`` by default, ``roc_auc``, ``neg_brier_score``). TPE sampling
    is seeded with ``random_state``, which also seeds the inner folds and the models, so the
    same seed on the same data gives the same best parameters, whatever the storage.

    Parameters
    ----------
    family : a :data:`.zoo.FAMILIES` name.
    dictionary, predictors : passed to :func:`.zoo.make_pipeline`.
    n_trials : trials to finish; 0 (or a family without a search space) means a plain fit.
    inner_cv : number of stratified inner folds, or a scikit-learn splitter.
    metric : scorer to maximise.
    storage : None (in memory) or an Optuna RDB URL.
    study_name : prefix of the study name in ``storage``.
    random_state : seed of the sampler, the inner folds and the models.
    pruner : an Optuna pruner; None means ``MedianPruner(n_startup_trials=5, n_warmup_steps=1)``.
    timeout : seconds after which no new trial starts.
    class_weight, preprocess : passed to :func:`.zoo.make_pipeline`.
    search_space : overrides :data:`.search_spaces.SEARCH_SPACES` for the family.

    Attributes
    ----------
    best_estimator_ : Pipeline refitted on all the data with ``best_params_``.
    best_params_ : dict of the best trial's parameters ({} without tuning).
    best_score_ : the best mean inner-CV score (NaN without tuning).
    study_summary_ : JSON-safe dict: study name, storage, n_trials, n_complete, n_pruned,
        n_failed, best value, best params, metric, elapsed seconds.
    classes_ : the class labels.
    """

    def __init__(
        self,
        family: str,
        dictionary: DataDictionary,
        predictors: Sequence[str],
        n_trials: int = 50,
        *,
        inner_cv: int | Any = 5,
        metric: str = "neg_log_loss",
        storage: str | None = None,
        study_name: str | None = None,
        random_state: int = 0,
        pruner: optuna.pruners.BasePruner | None = None,
        timeout: float | None = None,
        class_weight: ClassWeight = None,
        preprocess: Mapping[str, Any] | None = None,
        search_space: SearchSpace | None = None,
    ) -> None:
        self.family = family
        self.dictionary = dictionary
        self.predictors = predictors
        self.n_trials = n_trials
        self.inner_cv = inner_cv
        self.metric = metric
        self.storage = storage
        self.study_name = study_name
        self.random_state = random_state
        self.pruner = pruner
        self.timeout = timeout
        self.class_weight = class_weight
        self.preprocess = preprocess
        self.search_space = search_space

    def fit(self, X: pd.DataFrame, y: Any) -> TunedClassifier:
        y = np.asarray(y)
        family_spec(self.family)
        if self.metric not in METRICS:
            raise ValueError(f"metric must be one of {METRICS}, got {self.metric!r}")
        space = self.search_space if self.search_space is not None else SEARCH_SPACES[self.family]
        start = time.perf_counter()
        if self.n_trials > 0 and space:
            study = self._optimise(X, y, space)
            self.best_params_ = dict(study.best_trial.params)
            self.best_score_ = float(study.best_value)
            summary = _summary(study, self._storage_label())
        else:
            self.best_params_, self.best_score_ = {}, float("nan")
            summary = {"study_name": None, "storage": None, "n_trials": 0, "n_complete": 0, "n_pruned": 0,
                       "n_failed": 0, "best_value": None, "best_params": {}}
        self.best_estimator_ = self._pipeline(self.best_params_).fit(X, y)
        self.classes_ = self.best_estimator_.classes_
        self.study_summary_ = {
            "family": self.family, "metric": self.metric, "inner_cv": _cv_label(self.inner_cv),
            "sampler": f"TPESampler(seed={self.random_state})", **summary,
            "elapsed_seconds": round(time.perf_counter() - start, 3),
        }
        return self

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        check_is_fitted(self, "best_estimator_")
        return self.best_estimator_.predict_proba(X)

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        check_is_fitted(self, "best_estimator_")
        return self.best_estimator_.predict(X)

    def _pipeline(self, params: Mapping[str, Any]) -> Pipeline:
        return make_pipeline(self.family, self.dictionary, self.predictors, params,
                             class_weight=self.class_weight, random_state=self.random_state,
                             preprocess=self.preprocess)

    def _optimise(self, X: pd.DataFrame, y: np.ndarray, space: SearchSpace) -> optuna.Study:
        cv = (StratifiedKFold(self.inner_cv, shuffle=True, random_state=self.random_state)
              if isinstance(self.inner_cv, int) else self.inner_cv)
        folds = list(cv.split(X, y))
        scorer = get_scorer(self.metric)

        def objective(trial: optuna.Trial) -> float:
            params = {name: dist.suggest(trial, name) for name, dist in space.items()}
            scores: list[float] = []
            for step, (train, test) in enumerate(folds):
                model = self._pipeline(params).fit(X.iloc[train], y[train])
                scores.append(scorer(model, X.iloc[test], y[test]))
                trial.report(float(np.mean(scores)), step)
                if trial.should_prune():
                    raise optuna.TrialPruned()
            return float(np.mean(scores))

        with _quiet_optuna():
            study = optuna.create_study(
                storage=self.storage,
                study_name=self._study_name(X, y, space),
                direction="maximize",
                sampler=optuna.samplers.TPESampler(seed=self.random_state),
                pruner=self.pruner if self.pruner is not None else optuna.pruners.MedianPruner(
                    n_startup_trials=5, n_warmup_steps=1),
                load_if_exists=True,
            )
            finished = sum(t.state.is_finished() for t in study.trials)
            if finished < self.n_trials:
                study.optimize(
                    objective, n_trials=self.n_trials - finished, timeout=self.timeout,
                    callbacks=[MaxTrialsCallback(self.n_trials, states=(TrialState.COMPLETE, TrialState.PRUNED))],
                )
        if not any(t.state == TrialState.COMPLETE for t in study.trials):
            raise RuntimeError(f"no {self.family} trial completed in study {study.study_name!r}")
        return study

    def _study_name(self, X: pd.DataFrame, y: np.ndarray, space: SearchSpace) -> str:
        digest = hashlib.sha256()
        digest.update(pd.util.hash_pandas_object(X, index=True).to_numpy().tobytes())
        digest.update(np.ascontiguousarray(y).tobytes())
        config = (self.family, list(self.predictors), self.metric, _cv_label(self.inner_cv), self.random_state,
                  self.class_weight, sorted((self.preprocess or {}).items()), sorted(space.items()))
        digest.update(repr(config).encode())
        return f"{self.study_name or f'spineoutcome-{self.family}'}-{digest.hexdigest()[:16]}"

    def _storage_label(self) -> str:
        if self.storage is None:
            return "in-memory"
        return make_url(self.storage).render_as_string(hide_password=True)


def _summary(study: optuna.Study, storage: str) -> dict[str, JsonValue]:
    states = [t.state for t in study.trials]
    return {
        "study_name": study.study_name,
        "storage": storage,
        "n_trials": len(states),
        "n_complete": states.count(TrialState.COMPLETE),
        "n_pruned": states.count(TrialState.PRUNED),
        "n_failed": states.count(TrialState.FAIL),
        "best_value": json_safe(study.best_value),
        "best_params": json_safe(study.best_trial.params),
    }


def _cv_label(cv: int | Any) -> JsonValue:
    return cv if isinstance(cv, int) else repr(cv)


@contextmanager
def _quiet_optuna() -> Iterator[None]:
    previous = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    try:
        yield
    finally:
        optuna.logging.set_verbosity(previous)
