"""The optimism bootstrap keeps each replicate's predictions for the original patients (for the
instability analysis) without refitting anything, and never serialises them.

Reference: every replicate's model refit independently with scikit-learn on the same rows.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression

from spineoutcome.experiment.instability import instability_record
from spineoutcome.experiment.validation import bootstrap_optimism
from spineoutcome.modeling.resampling import Split


def data(n: int = 300, seed: int = 0) -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = pd.DataFrame({"a": rng.normal(size=n), "b": rng.normal(size=n)})
    y = (rng.random(n) < 1 / (1 + np.exp(-(-1.0 + X["a"] - 0.5 * X["b"])))).astype(int).to_numpy()
    return X, y


def test_bootstrap_predictions_are_the_replicate_models_predictions_and_stay_out_of_the_record() -> None:
    X, y = data()
    rng = np.random.default_rng(1)
    samples = [
        Split("bootstrap", f"replicate {b}", rng.integers(0, len(y), len(y)), np.arange(len(y))) for b in range(6)
    ]
    # A replicate drawn only from non-events cannot be fit (one class): its row must stay NaN.
    samples[2] = Split("bootstrap", "replicate 2", np.repeat(np.flatnonzero(y == 0)[:1], len(y)), np.arange(len(y)))
    final = LogisticRegression().fit(X, y)
    p = final.predict_proba(X)[:, 1]
    result = bootstrap_optimism(LogisticRegression, X, y, p, samples, mode="fixed_hyperparameters")
    assert result.predictions is not None and result.predictions.shape == (6, len(y))
    assert result.replicates_failed == 1
    assert np.isnan(result.predictions[2]).all()
    for b in (0, 1, 3, 4, 5):
        reference = LogisticRegression().fit(X.iloc[samples[b].train], y[samples[b].train]).predict_proba(X)[:, 1]
        assert result.predictions[b] == pytest.approx(reference, abs=1e-10)
    record = result.to_dict()
    assert "predictions" not in record
    json.dumps(record, allow_nan=False)
    inst = instability_record(y, p, result, [0.3])
    assert inst is not None and inst["replicates"] == 6 and inst["replicates_used"] == 5
    manual = np.mean(np.abs(result.predictions[[0, 1, 3, 4, 5]] - p), axis=0).mean()
    assert inst["mape"] == pytest.approx(manual, abs=1e-5)


def test_no_record_without_a_bootstrap_or_without_a_usable_replicate() -> None:
    X, y = data(60)
    p = np.full(len(y), y.mean())
    assert instability_record(y, p, None, [0.3]) is None
    one_class = [Split("bootstrap", "r", np.repeat(np.flatnonzero(y == 0)[:1], len(y)), np.arange(len(y)))]
    result = bootstrap_optimism(LogisticRegression, X, y, p, one_class, mode="fixed_hyperparameters")
    assert instability_record(y, p, result, [0.3]) is None
