"""Small synthetic cohorts with the assembled cohort's dtypes (Int64, boolean, Categorical, float64)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from spineoutcome.dictionary import DataDictionary

PREDICTORS = ["age", "bmi", "asa_class", "diabetes", "smoking", "approach"]


@pytest.fixture(scope="session")
def dictionary() -> DataDictionary:
    return DataDictionary.load()


def make_cohort(n: int, seed: int, *, missing: bool = True) -> tuple[pd.DataFrame, np.ndarray]:
    """A cohort with a non-linear age effect, a categorical effect and values missing at random."""
    rng = np.random.default_rng(seed)
    age = rng.normal(62, 11, n)
    bmi = rng.normal(25, 4, n)
    asa = rng.integers(1, 5, n)
    diabetes = rng.random(n) < 0.3
    smoking = rng.choice(["never", "former", "current"], n, p=[0.5, 0.3, 0.2])
    approach = rng.choice(["anterior", "laminoplasty", "posterior_fusion", "combined"], n)
    lp = -1.2 + 0.002 * (age - 62) ** 2 + 0.4 * diabetes + 0.5 * (smoking == "current") + 0.3 * (asa - 2)
    y = rng.binomial(1, 1 / (1 + np.exp(-lp)))
    X = pd.DataFrame(
        {
            "patient_id": [f"P{i:04d}" for i in range(n)],
            "age": age,
            "bmi": bmi,
            "asa_class": pd.array(asa, dtype="Int64"),
            "diabetes": pd.array(diabetes, dtype="boolean"),
            "smoking": pd.Categorical(smoking, categories=["never", "former", "current"]),
            "approach": pd.Categorical(
                approach, categories=["anterior", "laminoplasty", "posterior_fusion", "combined"]
            ),
        }
    )
    if missing:
        X.loc[rng.random(n) < 0.08, "bmi"] = np.nan
        X.loc[rng.random(n) < 0.05, "asa_class"] = pd.NA
        X.loc[rng.random(n) < 0.05, "diabetes"] = pd.NA
        X.loc[rng.random(n) < 0.05, "smoking"] = np.nan
    return X, y


@pytest.fixture(scope="session")
def cohort() -> tuple[pd.DataFrame, np.ndarray]:
    return make_cohort(600, seed=1)
