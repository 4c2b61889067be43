"""Hyperparameter tuning with Optuna as a scikit-learn meta-estimator.

``TunedClassifier.fit(X, y)`` runs a TPE study whose objective is the mean inner
cross-validated score of a :func:`.zoo.make_pipeline` pipeline, then refits the best
parameters on all of ``X, y``. A family tuned along its regularisation path (the elastic net:
``tuner="path"`` in :mod:`.families`, a grid search space) instead scores every grid point on
the same inner folds, warm-starting each fit from its neighbour (:func:`.elastic_net.path_scores`):
deterministic, no study and no storage, and cheaper than a few trials. Because tuning happens
inside ``fit``, nested cross-validation is ordinary resampling of the meta-estimator:
``clone(tuned).fit(X.iloc[outer_train], ...)`` tunes and refits on the outer training rows
only, and the outer test rows are only ever predicted. The default score is the log loss, a
strictly proper scoring rule, so tuning rewards calibrated risks and not only ranking
(Van Calster et al., J Clin Epidemiol 2016).

Pruning: after each inner fold the running mean score is reported, and Optuna's median pruner
stops a trial whose running mean is below the median of earlier trials at the same fold (all
trials share the same inner folds, so these are like-for-like).

Storage: in memory by default, or an RDB URL (``sqlite:///optuna.db``, PostgreSQL). The study
is named ``<study_name or spineoutcome-<family>>-<fingerprint>``, where the fingerprint hashes
the data and the tuning configuration. Each outer fold therefore gets its own study, a rerun
resumes its study instead of starting again, and several workers fitting the same estimator
on the same data share one study. ``n_trials`` is the study's budget across all workers: a
worker stops once ``n_trials`` trials of the study are complete or pruned, whoever ran them
(a trial still running elsewhere at that moment may finish as one more).

Lost workers: on an RDB storage with a heartbeat (by default on server databases such as
PostgreSQL), every running trial writes a heartbeat; a trial whose heartbeat is older than the
grace period (its worker was killed or lost its machine) is marked FAIL by the next worker that
starts a trial, and queued again with the same parameters (up to ``max_retry`` times). Failed
trials do not count towards the budget, so the study still finishes ``n_trials`` trials.
"""

from __future__ import annotations

import hashlib
import time
import warnings
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any, Literal

import numpy as np
import optuna
import pandas as pd
from optuna.study import MaxTrialsCallback
from optuna.trial import TrialState
from scipy.special import expit, logit
from scipy.stats import chi2
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.metrics import get_scorer
from sklearn.pipeline import Pipeline
from sklearn.utils.validation import check_is_fitted
from sqlalchemy.engine import make_url

from spineoutcome.credentials import mask_url

from ..dictionary import DataDictionary
from ..inner_cv import inner_folds, row_identity
from ..jsonable import JsonValue, json_safe
from .elastic_net import path_scores
from .recalibration import LOGIT_CLIP, LogisticRecalibration
from .search_spaces import Grid, SearchSpace
from .zoo import ClassWeight, family_spec, make_pipeline

METRICS = ("neg_log_loss", "roc_auc", "neg_brier_score")
BUDGET_STATES = (TrialState.COMPLETE, TrialState.PRUNED)
AUTO_HEARTBEAT_SECONDS = 60
CALIBRATION_ALPHA = 0.05
"""Significance level of the recalibration's likelihood-ratio test (TunedClassifier ``calibration``)."""


class TunedClassifier(ClassifierMixin, BaseEstimator):
    """A model family whose hyperparameters are tuned by Optuna inside ``fit``.

    The study maximises the mean over ``inner_cv`` stratified folds of ``metric`` (scikit-learn
    scorer names: ``neg_log_loss`` by default, ``roc_auc``, ``neg_brier_score``). TPE sampling
    is seeded with ``random_state``, which also seeds the inner folds and the models, so the
    same seed on the same data gives the same best parameters, whatever the storage.

    Parameters
    ----------
    family : a binary family of :data:`.families.REGISTRY`.
    dictionary, predictors : passed to :func:`.zoo.make_pipeline`.
    n_trials : trials to finish; 0 (or a family without a search space) means a plain fit. A path
        search (module docstring) scores its whole grid whatever n_trials > 0 is.
    inner_cv : number of stratified inner folds, or a scikit-learn splitter.
    metric : scorer to maximise.
    storage : None (in memory) or an Optuna RDB URL.
    study_name : prefix of the study name in ``storage``.
    random_state : seed of the sampler, the inner folds and the models.
    heartbeat_interval : seconds between heartbeats of a running trial on an RDB storage (module
        docstring); ``"auto"``: 60 for a server database (PostgreSQL, MySQL), off for SQLite and
        in memory; None: off.
    grace_period : seconds without a heartbeat after which a running trial counts as lost;
        None means twice ``heartbeat_interval``.
    max_retry : how many times a lost trial is queued again (None: without limit).
    sampler_seed : seed of the TPE sampler, None meaning ``random_state``. Not part of the study
        name: workers sharing a study should each get their own, or they propose the same trials.
    pruner : an Optuna pruner; None means ``MedianPruner(n_startup_trials=5, n_warmup_steps=1)``.
    timeout : seconds after which no new trial starts.
    class_weight, preprocess : passed to :func:`.zoo.make_pipeline`.
    search_space : overrides the family's registered search space.
    params : fixed hyperparameters: no search, a plain fit with these (e.g. a bootstrap replicate
        refit with the final model's tuned values).
    calibration : ``"logistic"``: after tuning, the best parameters' out-of-fold risks on the same
        inner folds fit a logistic recalibration, logit p' = a + b logit p (Cox 1958; Platt scaling
        on the logit, as scikit-learn's ``CalibratedClassifierCV(ensemble=False)`` does on the
        decision function), applied to every prediction. Boosted trees tuned on a few hundred
        events are often under-dispersed (cross-validated calibration slope > 1); Niculescu-Mizil &
        Caruana, ICML 2005. It is applied only when it fits the out-of-fold outcomes significantly
        better than the risks as they are (likelihood-ratio test, 2 df, at ``CALIBRATION_ALPHA``: the
        first step of Vergouwe et al.'s closed testing procedure, Stat Med 2017;36:4529-39), because
        out-of-fold risks come from models fit on fewer patients and a weak signal makes them
        noisier, which would shrink the final model too much. A significant slope <= 0 (no positive
        association out of fold: a model of noise) leaves no usable ranking, so the risks become the
        prevalence (b = 0). Costs one fit per inner fold. ``"none"``: risks as the model gives them.
        A pair (a, b): apply that recalibration as given (a refit with a final model's fixed
        settings, e.g. a bootstrap replicate in ``fixed_hyperparameters`` mode); with b = 0 the
        risk is the prevalence of the rows the refit sees, so a is recomputed from them.

    Attributes
    ----------
    best_estimator_ : Pipeline refitted on all the data with ``best_params_``.
    best_params_ : dict of the best trial's parameters ({} without tuning).
    best_score_ : the best mean inner-CV score (NaN without tuning).
    study_summary_ : JSON-safe dict: study name, storage, n_trials, n_complete, n_pruned,
        n_failed, best value, best params, metric, elapsed seconds.
    calibration_ : (a, b) of the applied recalibration, or None (none asked for, or not significant).
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
        heartbeat_interval: int | Literal["auto"] | None = "auto",
        grace_period: int | None = None,
        max_retry: int | None = 3,
        sampler_seed: int | None = None,
        params: Mapping[str, Any] | None = None,
        calibration: Literal["none", "logistic"] | tuple[float, float] = "none",
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
        self.heartbeat_interval = heartbeat_interval
        self.grace_period = grace_period
        self.max_retry = max_retry
        self.sampler_seed = sampler_seed
        self.params = params
        self.calibration = calibration

    def fit(self, X: pd.DataFrame, y: Any) -> TunedClassifier:
        """Tune on inner folds of ``(X, y)`` (Optuna), refit the best pipeline on all of it, then test and
        apply the recalibration."""
        y = np.asarray(y)
        family_spec(self.family)
        if self.metric not in METRICS:
            raise ValueError(f"metric must be one of {METRICS}, got {self.metric!r}")
        space = self.resolved_search_space()
        start = time.perf_counter()
        fixed = isinstance(self.calibration, tuple | list)
        if not fixed and self.calibration not in ("none", "logistic"):
            raise ValueError(f"calibration must be 'none', 'logistic' or a pair (a, b), got {self.calibration!r}")
        if self.params is None and self.n_trials > 0 and space and self._searches_path(space):
            self.best_params_, self.best_score_, summary = self._path_search(X, y, space)
        elif self.params is None and self.n_trials > 0 and space:
            storage = self._rdb_storage()
            try:
                study = self._optimise(X, y, space, storage)
                self.best_params_ = dict(study.best_trial.params)
                self.best_score_ = float(study.best_value)
                summary = _summary(study, self._storage_label())
            finally:
                if storage is not None:  # close this fit's connections now, not at garbage collection
                    storage.engine.dispose()
        else:
            self.best_params_, self.best_score_ = dict(self.params or {}), float("nan")
            summary = {
                "study_name": None,
                "storage": None,
                "n_trials": 0,
                "n_complete": 0,
                "n_pruned": 0,
                "n_failed": 0,
                "best_value": None,
                "best_params": json_safe(self.best_params_),
            }
        self.best_estimator_ = self._pipeline(self.best_params_).fit(X, y)
        self.classes_ = self.best_estimator_.classes_
        if fixed:
            intercept, slope = (float(v) for v in self.calibration)
            if slope == 0.0:
                intercept = float(logit(np.mean(y == self.classes_[1])))
            test = {"method": "fixed (given)", "intercept": intercept, "slope": slope, "applied": True}
        else:
            test = self._calibration_test(X, y) if self.calibration == "logistic" else None
        self.calibration_ = (test["intercept"], test["slope"]) if test and test["applied"] else None
        self.study_summary_ = {
            "family": self.family,
            "metric": self.metric,
            "inner_cv": _cv_label(self.inner_cv),
            "sampler": f"TPESampler(seed={self._sampler_seed()})",
            **summary,
            "calibration": test,
            "elapsed_seconds": round(time.perf_counter() - start, 3),
        }
        return self

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        """Class probabilities of the refitted best pipeline, recalibrated when the calibration is applied."""
        check_is_fitted(self, "best_estimator_")
        p = self.best_estimator_.predict_proba(X)
        if self.calibration_ is None:
            return p
        intercept, slope = self.calibration_
        positive = expit(intercept + slope * logit(np.clip(p[:, 1].astype(np.float64), LOGIT_CLIP, 1.0 - LOGIT_CLIP)))
        return np.column_stack([1.0 - positive, positive])

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        """Predicted class: risk of at least 0.5 (prefer ``predict_proba``; thresholds are the user's)."""
        return self.classes_[(self.predict_proba(X)[:, 1] >= 0.5).astype(int)]

    def calibration_params(self) -> tuple[float, float] | None:
        """(a, b) of the recalibration logit p' = a + b logit p, or None without one."""
        check_is_fitted(self, "best_estimator_")
        return self.calibration_

    def _calibration_test(self, X: pd.DataFrame, y: np.ndarray) -> dict[str, JsonValue]:
        """Logistic recalibration of the best parameters' out-of-fold risks and its test (``calibration``)."""
        oof = np.empty(len(y))
        for train, test in self._inner_folds(X, y):
            model = self._pipeline(self.best_params_).fit(X.iloc[train], y[train])
            oof[test] = model.predict_proba(X.iloc[test])[:, 1]
        target = (y == self.classes_[1]).astype(int)
        fitted = LogisticRecalibration("logistic").fit(oof, target)
        statistic = max(0.0, 2.0 * (_log_likelihood(target, fitted.transform(oof)) - _log_likelihood(target, oof)))
        p_value = float(chi2.sf(statistic, df=2))
        intercept, slope = (
            (fitted.intercept_, fitted.slope_) if fitted.slope_ > 0 else (float(logit(target.mean())), 0.0)
        )
        return {
            "method": "logistic recalibration on inner out-of-fold risks, applied if the likelihood-ratio "
            f"test (2 df) has p < {CALIBRATION_ALPHA}",
            "intercept": intercept,
            "slope": slope,
            "lr_statistic": statistic,
            "p_value": p_value,
            "applied": p_value < CALIBRATION_ALPHA,
        }

    def _searches_path(self, space: SearchSpace) -> bool:
        return (
            family_spec(self.family).tuner == "path"
            and set(space) == {"C", "l1_ratio"}
            and all(isinstance(d, Grid) for d in space.values())
        )

    def _path_search(self, X: pd.DataFrame, y: np.ndarray, space: SearchSpace) -> tuple[dict, float, dict]:
        """The grid point with the best mean inner-CV score along the warm-started path (module docstring)."""
        Cs, ratios = space["C"].values, space["l1_ratio"].values
        scores = path_scores(self._pipeline({}), X, y, self._inner_folds(X, y), Cs, ratios, self.metric).mean(axis=2)
        i, j = np.unravel_index(int(np.argmax(scores)), scores.shape)
        best = {"C": Cs[j], "l1_ratio": ratios[i]}
        summary: dict[str, JsonValue] = {
            "sampler": f"warm-started regularisation path, {len(ratios)} l1_ratio x {len(Cs)} C "
            f"({min(Cs):g} to {max(Cs):g})",
            "study_name": None,
            "storage": None,
            "n_trials": int(scores.size),
            "n_complete": int(scores.size),
            "n_pruned": 0,
            "n_failed": 0,
            "best_value": json_safe(float(scores[i, j])),
            "best_params": json_safe(best),
        }
        return best, float(scores[i, j]), summary

    def _inner_folds(self, X: pd.DataFrame, y: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
        # Copies of a patient (a bootstrap replicate) stay in one inner fold: see spineoutcome.inner_cv.
        if isinstance(self.inner_cv, int):
            return inner_folds(X, y, self.inner_cv, self.random_state)
        return list(self.inner_cv.split(X, y, row_identity(X)))

    def _pipeline(self, params: Mapping[str, Any]) -> Pipeline:
        return make_pipeline(
            self.family,
            self.dictionary,
            self.predictors,
            params,
            class_weight=self.class_weight,
            random_state=self.random_state,
            preprocess=self.preprocess,
        )

    def _optimise(
        self, X: pd.DataFrame, y: np.ndarray, space: SearchSpace, storage: optuna.storages.RDBStorage | None
    ) -> optuna.Study:
        folds = self._inner_folds(X, y)
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
                storage=storage,
                study_name=self._study_name(X, y, space),
                direction="maximize",
                # constant_liar: parallel workers do not all propose points next to a running trial;
                # it changes nothing when trials run one after another.
                sampler=optuna.samplers.TPESampler(seed=self._sampler_seed(), constant_liar=self.storage is not None),
                pruner=self.pruner
                if self.pruner is not None
                else optuna.pruners.MedianPruner(n_startup_trials=5, n_warmup_steps=1),
                load_if_exists=True,
            )
            # The budget counts what every worker finished; failed (lost) trials are not counted.
            done = len(study.get_trials(deepcopy=False, states=BUDGET_STATES))
            if done < self.n_trials:
                study.optimize(
                    objective,
                    n_trials=self.n_trials - done,
                    timeout=self.timeout,
                    callbacks=[MaxTrialsCallback(self.n_trials, states=BUDGET_STATES)],
                )
        if not any(t.state == TrialState.COMPLETE for t in study.trials):
            raise RuntimeError(f"no {self.family} trial completed in study {study.study_name!r}")
        return study

    def resolved_search_space(self) -> SearchSpace:
        """The space searched: ``search_space`` if given, else the family's registered one."""
        return self.search_space if self.search_space is not None else family_spec(self.family).search_space

    def study_name_for(self, X: pd.DataFrame, y: Any) -> str:
        """The name of the study a fit on ``(X, y)`` uses: the same for every process fitting the same
        estimator on the same data, so workers and ``train`` share it."""
        return self._study_name(X, np.asarray(y), self.resolved_search_space())

    def _study_name(self, X: pd.DataFrame, y: np.ndarray, space: SearchSpace) -> str:
        digest = hashlib.sha256()
        digest.update(pd.util.hash_pandas_object(X, index=True).to_numpy().tobytes())
        digest.update(np.ascontiguousarray(y).tobytes())
        config = (
            self.family,
            list(self.predictors),
            self.metric,
            _cv_label(self.inner_cv),
            self.random_state,
            self.class_weight,
            sorted((self.preprocess or {}).items()),
            sorted(space.items()),
        )
        digest.update(repr(config).encode())
        return f"{self.study_name or f'spineoutcome-{self.family}'}-{digest.hexdigest()[:16]}"

    def _sampler_seed(self) -> int:
        return self.random_state if self.sampler_seed is None else self.sampler_seed

    def _rdb_storage(self) -> optuna.storages.RDBStorage | None:
        """The RDB storage of ``storage`` (None in memory), with heartbeat and retry of lost trials when on."""
        if self.storage is None:
            return None
        interval = self.heartbeat_interval
        if interval == "auto":
            interval = AUTO_HEARTBEAT_SECONDS if make_url(self.storage).get_backend_name() != "sqlite" else None
        with _quiet_optuna():
            if interval is None:
                return optuna.storages.RDBStorage(self.storage)
            return optuna.storages.RDBStorage(
                self.storage,
                heartbeat_interval=int(interval),
                grace_period=self.grace_period,
                heartbeat_stale_trial_callback=optuna.storages.RetryHeartbeatStaleTrialCallback(
                    max_retry=self.max_retry
                ),
            )

    def _storage_label(self) -> str:
        if self.storage is None:
            return "in-memory"
        return mask_url(self.storage)


def _log_likelihood(y: np.ndarray, p: np.ndarray) -> float:
    p = np.clip(np.asarray(p, dtype=np.float64), LOGIT_CLIP, 1.0 - LOGIT_CLIP)
    return float(np.sum(y * np.log(p) + (1 - y) * np.log1p(-p)))


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
        with warnings.catch_warnings():
            # Heartbeats, their retry callback and constant_liar are marked experimental by Optuna.
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            yield
    finally:
        optuna.logging.set_verbosity(previous)
