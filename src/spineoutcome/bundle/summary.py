"""What a bundle knows about its training data: aggregates for extrapolation and novelty flags.

Two questions at scoring time, both answered from aggregates only (no training row is stored):

- *Is a value outside what the model has seen?* Per predictor: missing fraction, range and
  quantiles (numbers), level frequencies (categories and yes/no). The range is ``low`` to
  ``high``, the k-th smallest and k-th largest training values (k = the small-cell threshold of
  :mod:`spineoutcome.privacy`, default 5), not the exact minimum and maximum, which would each
  describe one patient (the bundle leaves the hospital with the MLflow store); quantiles are
  clipped to that range and ages capped at 90. A value below ``low``, above ``high``, or a level
  never seen in training is flagged as an extrapolation.
- *Is the patient as a whole unlike the training patients?* The Mahalanobis distance of the
  patient's preprocessed design row (imputed, encoded, as the model sees it) from the training
  design, with the covariance estimated by Ledoit-Wolf shrinkage on standardised columns (a
  one-hot or indicator design is near-singular, shrinkage keeps the inverse stable). The
  threshold is the 99th percentile of the training patients' own distances, so about 1 % of
  training-like patients are flagged; in-sample distances are slightly optimistic, so the flag
  errs towards flagging.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pandas as pd
from sklearn.covariance import LedoitWolf

from spineoutcome.bundle.contract import InputContract
from spineoutcome.privacy import AGE_CAP, min_cell

QUANTILES = (0.01, 0.05, 0.25, 0.5, 0.75, 0.95, 0.99)
OOD_QUANTILE = 0.99


@dataclass(frozen=True)
class MahalanobisNovelty:
    """Mahalanobis distance on the standardised preprocessed design, with its training threshold."""

    columns: list[str]
    mean: list[float]
    scale: list[float]
    precision: list[list[float]]
    threshold: float
    quantile: float = OOD_QUANTILE
    method: str = "Mahalanobis distance, Ledoit-Wolf shrinkage covariance of the standardised preprocessed design"

    @classmethod
    def fit(cls, design: pd.DataFrame) -> MahalanobisNovelty:
        """Fit on the training design; columns that are constant in training carry no distance and are left out."""
        scale = design.std(ddof=0)
        kept = scale.index[scale > 0]
        z = ((design[kept] - design[kept].mean()) / scale[kept]).to_numpy(dtype=float)
        precision = LedoitWolf().fit(z).precision_
        distances = np.sqrt(np.einsum("ij,jk,ik->i", z, precision, z))
        return cls(
            columns=list(kept),
            mean=design[kept].mean().tolist(),
            scale=scale[kept].tolist(),
            precision=precision.tolist(),
            threshold=float(np.quantile(distances, OOD_QUANTILE)),
        )

    def distance(self, design: pd.DataFrame) -> np.ndarray:
        z = (design[self.columns].to_numpy(dtype=float) - np.asarray(self.mean)) / np.asarray(self.scale)
        return np.sqrt(np.einsum("ij,jk,ik->i", z, np.asarray(self.precision), z))


@dataclass(frozen=True)
class TrainingSummary:
    """Per-predictor aggregates of the training data and the novelty model (JSON-serialisable)."""

    n: int
    predictors: dict[str, dict[str, Any]]
    novelty: MahalanobisNovelty

    @classmethod
    def from_training(
        cls, X: pd.DataFrame, contract: InputContract, design: pd.DataFrame, *, ages: tuple[str, ...] = ()
    ) -> TrainingSummary:
        """``X``: the analysed predictors (training dtypes); ``design``: the model's preprocessed ``X``;
        ``ages``: age variables (capped at 90)."""
        k = min_cell()
        return cls(
            n=len(X),
            predictors={p.name: _describe(X[p.name], p.dtype, k, p.name in ages) for p in contract.predictors},
            novelty=MahalanobisNovelty.fit(design),
        )

    def to_dict(self) -> dict[str, Any]:
        return {"n": self.n, "predictors": self.predictors, "novelty": asdict(self.novelty)}

    @classmethod
    def from_dict(cls, doc: dict[str, Any]) -> TrainingSummary:
        return cls(n=doc["n"], predictors=doc["predictors"], novelty=MahalanobisNovelty(**doc["novelty"]))

    def extrapolated(self, typed: pd.DataFrame) -> pd.Series:
        """Per row, the predictors whose value lies outside the training data (comma-separated, '' = none)."""
        out = pd.Series("", index=typed.index, dtype=object)
        for name, stats in self.predictors.items():
            values = typed[name]
            if "frequencies" in stats:
                unseen = [level for level, share in stats["frequencies"].items() if share == 0]
                outside = values.astype(object).astype(str).isin(unseen) & values.notna()
            elif (span := bounds(stats)) is not None:
                numbers = values.astype("Float64").astype("float64")
                outside = (numbers < span[0]) | (numbers > span[1])
            else:
                continue
            out = out.where(~outside.to_numpy(), out.where(out == "", out + ", ") + name)
        return out


def bounds(stats: dict[str, Any]) -> tuple[float, float] | None:
    """The training range of a numeric predictor's summary (``low``, ``high``), or None when it has none."""
    if stats.get("low") is not None and stats.get("high") is not None:
        return float(stats["low"]), float(stats["high"])
    return None


def _describe(values: pd.Series, dtype: str, k: int, age: bool) -> dict[str, Any]:
    """Aggregates of one training column (which has values: the task drops empty predictors).

    Levels of yes/no columns are named 'True' and 'False'. A numeric column with fewer than
    ``2 k`` values gets no range (nothing is flagged as outside it).
    """
    stats: dict[str, Any] = {"missing_fraction": float(values.isna().mean())}
    present = values.dropna()
    if dtype in ("category", "bool"):
        levels = list(values.cat.categories) if dtype == "category" else [True, False]
        counts = present.astype(object).value_counts()
        stats["frequencies"] = {str(level): float(counts.get(level, 0) / max(len(present), 1)) for level in levels}
        return stats
    numbers = np.sort(present.astype("float64").to_numpy())
    cap = AGE_CAP if age else np.inf
    if len(numbers) >= 2 * k:
        low, high = float(min(numbers[k - 1], cap)), float(min(numbers[-k], cap))
        quantiles = {f"q{round(q * 100):02d}": float(np.clip(np.quantile(numbers, q), low, high)) for q in QUANTILES}
    else:
        low = high = None
        quantiles = {}
    return {
        **stats,
        "low": low,
        "high": high,
        "range_rule": f"{k}th smallest to {k}th largest value",
        "mean": float(min(numbers.mean(), cap)),
        "sd": float(numbers.std(ddof=1)) if len(numbers) > 1 else 0.0,
        "quantiles": quantiles,
    }
