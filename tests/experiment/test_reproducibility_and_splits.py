"""Same seed and data give identical Evidence; nothing is ever fit on the rows it is tested on.

The reference pipeline is run a second time with spies on ``TunedClassifier.fit`` /
``TunedClassifier.predict_proba`` (every validation model: cross-validation folds, the final model,
internal-external folds) and on ``Preprocessor.fit`` (every pipeline fit, including each Optuna
trial's inner folds and the bootstrap refits). The spies only record; the second run's Evidence
must equal the first one's number for number.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.base import BaseEstimator, ClassifierMixin

from spineoutcome.experiment.validation import out_of_fold
from spineoutcome.modeling import TunedClassifier
from spineoutcome.modeling.preprocess import Preprocessor
from spineoutcome.modeling.resampling import centre_splits, cv_splits

from .conftest import REFERENCE

VOLATILE = frozenset({"run_id", "created", "timings", "seconds", "elapsed_seconds"})


def scrub(node: Any) -> Any:
    """The Evidence without the fields that legitimately differ between runs (ids, clocks)."""
    if isinstance(node, dict):
        return {k: scrub(v) for k, v in node.items() if k not in VOLATILE}
    if isinstance(node, list | tuple):
        return [scrub(v) for v in node]
    return node


def differences(a: Any, b: Any, path: str = "$", limit: int = 10) -> list[str]:
    """Paths where two JSON-like trees differ (for a readable failure message)."""
    out: list[str] = []
    if isinstance(a, dict) and isinstance(b, dict):
        for k in sorted(set(a) | set(b), key=str):
            if k not in a or k not in b:
                out.append(f"{path}.{k}: only in {'second' if k not in a else 'first'}")
            else:
                out += differences(a[k], b[k], f"{path}.{k}", limit)
            if len(out) >= limit:
                break
    elif isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            out += differences(x, y, f"{path}[{i}]", limit)
            if len(out) >= limit:
                break
    elif json.dumps(a) != json.dumps(b):
        out.append(f"{path}: {a!r} != {b!r}")
    return out[:limit]


def test_scrub_removes_only_volatile_fields():
    doc = {
        "run_id": "x",
        "a": [{"seconds": 1.0, "auc": 0.7, "tuning": [{"elapsed_seconds": 2, "n": 3}]}],
        "timings": {"total": 1},
        "created": "now",
    }
    assert scrub(doc) == {"a": [{"auc": 0.7, "tuning": [{"n": 3}]}]}
    assert differences({"a": [1, 2.0]}, {"a": [1, 2.5]}) == ["$.a[1]: 2.0 != 2.5"]


# ----------------------------------------------------------------------------------------------
# the spied second run
# ----------------------------------------------------------------------------------------------
@dataclass
class Spy:
    """What the spies saw: validation models' training and predicted rows, and every preprocessing fit."""

    fits: dict[int, tuple[TunedClassifier, frozenset]] = field(default_factory=dict)
    predictions: list[tuple[int, frozenset]] = field(default_factory=list)
    preprocess_fits: list[tuple[frozenset, frozenset | None]] = field(default_factory=list)
    context: list[frozenset] = field(default_factory=list)


@pytest.fixture(scope="module")
def spied(run):
    spy = Spy()
    real_fit, real_predict, real_pre_fit = TunedClassifier.fit, TunedClassifier.predict_proba, Preprocessor.fit

    def fit(self, X, y):
        rows = frozenset(X.index)
        spy.fits[id(self)] = (self, rows)  # the object is kept alive, so its id is never reused
        spy.context.append(rows)
        try:
            return real_fit(self, X, y)
        finally:
            spy.context.pop()

    def predict_proba(self, X):
        spy.predictions.append((id(self), frozenset(X.index)))
        return real_predict(self, X)

    def pre_fit(self, X, y=None):
        spy.preprocess_fits.append((frozenset(X.index), spy.context[-1] if spy.context else None))
        return real_pre_fit(self, X, y)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(TunedClassifier, "fit", fit)
        mp.setattr(TunedClassifier, "predict_proba", predict_proba)
        mp.setattr(Preprocessor, "fit", pre_fit)
        result = run(REFERENCE, name="reference_spied")
    return result, spy


def test_same_seed_same_data_gives_identical_evidence(reference_run, spied):
    first = scrub(reference_run.evidence.to_dict())
    second = scrub(spied[0].evidence.to_dict())
    assert first == second, differences(first, second)
    # the comparison is not vacuous: the records hold the numbers of every family
    assert set(first["families"]) == set(REFERENCE["families"])
    assert first["families"]["xgboost"]["optimism"]["corrected"]["auc"] is not None


def test_different_seed_gives_different_numbers(reference_run, run):
    other = run({**REFERENCE, "seed": REFERENCE["seed"] + 1}, name="reference_seed_plus_one")
    first, second = scrub(reference_run.evidence.to_dict()), scrub(other.evidence.to_dict())
    # same data, same patients ...
    assert first["data"]["digest"] == second["data"]["digest"]
    # ... different folds, tuning and bootstrap draws
    assert first != second
    for family in REFERENCE["families"]:
        a, b = first["families"][family], second["families"][family]
        assert (
            a["cross_validation"]["discrimination"]["auc"]["value"]
            != b["cross_validation"]["discrimination"]["auc"]["value"]
        )
        assert a["optimism"]["optimism"]["auc"] != b["optimism"]["optimism"]["auc"]


def _validation_models(result, spy: Spy) -> dict[int, frozenset]:
    """Models developed on part of the patients to predict the rest: not the final models (all
    patients) and not the bootstrap refits (fixed ``params``; Harrell's method scores them on everyone)."""
    everyone = frozenset(result.task.X.index)
    return {key: rows for key, (model, rows) in spy.fits.items() if rows != everyone and model.params is None}


def test_validation_models_never_predict_a_row_they_were_fit_on(spied):
    result, spy = spied
    validation = _validation_models(result, spy)
    n_iecv = len(centre_splits(result.task.centres, result.task.y, REFERENCE["validation"]["min_centre_events"])[0])
    families = len(REFERENCE["families"])
    # every CV fold and every IECV fold of every family was seen (the spy is not vacuous)
    assert n_iecv >= 2
    assert len(validation) == families * (REFERENCE["validation"]["folds"] + n_iecv)
    checked = 0
    for model, predicted in spy.predictions:
        if model in validation:
            assert not predicted & validation[model], "a model predicted rows it was trained on"
            checked += 1
    assert checked >= len(validation)


def test_cv_models_are_fit_on_exactly_the_development_folds(spied):
    result, spy = spied
    keys = result.task.X.index
    splits = cv_splits(result.task.y, REFERENCE["validation"]["folds"], 1, REFERENCE["seed"])
    train_sets = [rows for rows in _validation_models(result, spy).values()]
    for split in splits:
        train, test = frozenset(keys[split.train]), frozenset(keys[split.test])
        assert not train & test
        assert train_sets.count(train) == len(REFERENCE["families"])
    # the test folds partition the analysed patients
    tests = np.concatenate([s.test for s in splits])
    assert sorted(tests) == list(range(len(keys)))


def test_internal_external_never_trains_on_the_held_out_centre(spied):
    result, spy = spied
    centre_of = pd.Series(result.task.centres, index=result.task.X.index)
    splits, skipped = centre_splits(result.task.centres, result.task.y, REFERENCE["validation"]["min_centre_events"])
    validation = _validation_models(result, spy)
    seen = 0
    for model, predicted in spy.predictions:
        if model not in validation:
            continue
        centres = set(centre_of[list(predicted)])
        held_out = {s.label for s in splits}
        if (
            len(centres) == 1
            and centres <= held_out
            and predicted == frozenset(centre_of.index[centre_of == next(iter(centres))])
        ):
            centre = next(iter(centres))
            assert not set(centre_of[list(validation[model])]) & {centre}, f"trained on held-out centre {centre}"
            # every other centre, including those too small to be tested, stays in development
            assert set(centre_of[list(validation[model])]) == set(centre_of) - {centre}
            seen += 1
    assert seen == len(REFERENCE["families"]) * len(splits)
    assert not set(skipped) & {s.label for s in splits}


def test_every_preprocessing_and_tuning_fit_inside_a_model_uses_only_its_training_rows(spied):
    _result, spy = spied
    inside = [(rows, context) for rows, context in spy.preprocess_fits if context is not None]
    # every Optuna trial's inner folds and the refit on all development rows, for every tuned model
    tuning = REFERENCE["tuning"]
    models = [model for model, _ in spy.fits.values() if model.params is None]
    refits = [model for model, _ in spy.fits.values() if model.params is not None]  # bootstrap, fixed hyperparameters
    tuned = sum(model.family != "logistic" for model in models)
    assert tuned == len(models) // 2
    assert len(refits) == len(REFERENCE["families"]) * REFERENCE["validation"]["bootstrap"]["replicates"]
    assert len(inside) >= tuned * (tuning["n_trials"] * tuning["inner_folds"] + 1) + (len(models) - tuned) + len(refits)
    for rows, context in inside:
        assert rows <= context, "an inner (tuning) fit used rows outside its model's training set"


# ----------------------------------------------------------------------------------------------
# out_of_fold itself, with an estimator that refuses to predict a row it has seen
# ----------------------------------------------------------------------------------------------
class Memoriser(ClassifierMixin, BaseEstimator):
    """Remembers its training rows; predicting one of them is an error."""

    def fit(self, X, y):
        self.rows_ = frozenset(X.index)
        self.classes_ = np.array([0, 1])
        return self

    def predict_proba(self, X):
        seen = self.rows_ & frozenset(X.index)
        if seen:
            raise AssertionError(f"predicting {len(seen)} training rows")
        p = np.full(len(X), 0.5)
        return np.column_stack([1 - p, p])


def test_out_of_fold_predicts_every_row_once_from_a_model_that_never_saw_it():
    rng = np.random.default_rng(0)
    n = 120
    X = pd.DataFrame({"x": rng.normal(size=n)}, index=[f"K{i}" for i in range(n)])
    y = rng.binomial(1, 0.3, n)
    splits = cv_splits(y, 4, 2, seed=1)
    oof, fitted = out_of_fold(Memoriser(), X, y, splits)
    assert oof.shape == (2, n) and not np.isnan(oof).any()
    assert len(fitted) == 8 and len({id(m) for m in fitted}) == 8  # a fresh clone per split
    for model, split in zip(fitted, splits, strict=True):
        assert model.rows_ == frozenset(X.index[split.train])

    centres = np.array(["A"] * 50 + ["B"] * 60 + ["C"] * 10)
    y_c = np.r_[np.tile([0, 1], 25), np.tile([0, 1], 30), np.ones(10, dtype=int)]
    iecv, skipped = centre_splits(centres, y_c, min_events=5)
    assert skipped == ["C"]
    oof_c, fitted_c = out_of_fold(Memoriser(), X, y_c, iecv)
    assert np.isnan(oof_c[0][centres == "C"]).all() and not np.isnan(oof_c[0][centres != "C"]).any()
    for model, split in zip(fitted_c, iecv, strict=True):
        assert not set(centres[[X.index.get_loc(k) for k in model.rows_]]) & {split.label}
