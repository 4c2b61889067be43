"""The instability record of a family is formed from the optimism bootstrap's replicate predictions (the
executor's R x n matrix, a failed replicate's row NaN) without refitting anything, and holds aggregates only.

Reference: every replicate's model refit independently with scikit-learn on the same rows, and the MAPE
written out with numpy over the usable replicates.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression

from spineoutcome.experiment.instability import instability_record


def data(n: int = 300, seed: int = 0) -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = pd.DataFrame({"a": rng.normal(size=n), "b": rng.normal(size=n)})
    y = (rng.random(n) < 1 / (1 + np.exp(-(-1.0 + X["a"] - 0.5 * X["b"])))).astype(int).to_numpy()
    return X, y


def test_the_record_uses_the_usable_replicates_and_holds_no_patient_level_values() -> None:
    X, y = data()
    rng = np.random.default_rng(1)
    p = LogisticRegression().fit(X, y).predict_proba(X)[:, 1]
    predictions = np.full((6, len(y)), np.nan)
    for b in (0, 1, 3, 4, 5):
        rows = rng.integers(0, len(y), len(y))
        predictions[b] = LogisticRegression().fit(X.iloc[rows], y[rows]).predict_proba(X)[:, 1]
    inst = instability_record(y, p, predictions, [0.3])
    assert inst is not None and inst["replicates"] == 6 and inst["replicates_used"] == 5
    manual = np.mean(np.abs(predictions[[0, 1, 3, 4, 5]] - p), axis=0).mean()
    assert inst["mape"] == pytest.approx(manual, abs=1e-5)
    text = json.dumps(inst, allow_nan=True)
    assert all(f"{v:.10f}" not in text for v in p[:20])


def test_no_record_without_a_bootstrap_or_without_a_usable_replicate() -> None:
    _, y = data(60)
    p = np.full(len(y), y.mean())
    assert instability_record(y, p, None, [0.3]) is None
    assert instability_record(y, p, np.full((3, len(y)), np.nan), [0.3]) is None
