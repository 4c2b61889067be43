"""Shared synthetic data for the evaluation tests: small, seeded, fast."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest
from scipy.special import expit


@dataclass(frozen=True)
class Predictions:
    y: np.ndarray
    p: np.ndarray
    lp: np.ndarray


def simulate(n: int, seed: int, *, intercept: float = 0.0, slope: float = 1.0) -> Predictions:
    """Outcomes from true risks expit(lp) and predictions expit(intercept + slope * lp), so the
    calibration intercept / slope of the predictions are known in the limit."""
    rng = np.random.default_rng(seed)
    lp = rng.normal(-1.2, 1.1, n)
    y = (rng.random(n) < expit(lp)).astype(int)
    return Predictions(y=y, p=expit(intercept + slope * lp), lp=lp)


@pytest.fixture
def data() -> Predictions:
    return simulate(400, seed=11, intercept=0.3, slope=0.8)
