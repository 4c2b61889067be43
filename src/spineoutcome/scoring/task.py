"""Scoring the valid rows of a chunk with one model: risk, band, category, drivers and flags.

Per patient (columns of the scores file, prefixed by the task name):

- ``probability``: the calibrated risk, computed as the MLflow pyfunc model computes it
  (identical numbers, tested);
- ``band_low``/``band_high``: the 95 % uncertainty band, the 2.5th and 97.5th percentiles of the
  calibrated risks of the bundle's bootstrap refits (the selected pipeline refit, with its tuned
  hyperparameters, on bootstrap samples of the training data). It shows how much the risk
  depends on the particular training sample (model-estimation uncertainty), not how uncertain the
  patient's outcome is: a risk of 8 % means about 8 in 100 such patients have the outcome, however
  narrow its band. Being percentiles of refits, it need not contain the point estimate for every
  patient;
- ``category``: the risk group at the run's configured thresholds, e.g. with thresholds 5 % and
  10 %: "low (< 5 %)", "intermediate (5-10 %)", "high (>= 10 %)" (a risk equal to a threshold
  belongs to the group above it);
- ``factor_1`` .. ``factor_3``: the main drivers in plain words (:mod:`.words`), from SHAP values
  in log-odds against the training design mean (the bundle's explanation background), so a
  patient's explanation does not depend on who else is in the export;
- ``missing_predictors``: predictors without a value, which the model imputed (scored, flagged);
- ``extrapolated``: predictors whose value lies outside the training data (below its k-th
  smallest or above its k-th largest value, k the small-cell threshold, or a category never seen
  in training; see :mod:`spineoutcome.bundle.summary`);
- ``mahalanobis`` and ``out_of_distribution``: the patient's distance from the training patients
  on the model's design (an unusual *combination* of values), and whether it exceeds the
  training 99th percentile.
"""

from __future__ import annotations

import itertools
import os
from dataclasses import dataclass

import numpy as np
import pandas as pd

from spineoutcome.bundle.model import BAND_PERCENTILES
from spineoutcome.bundle.summary import bounds
from spineoutcome.explain import shap_contributions
from spineoutcome.scoring.design import DesignCache, DistinctValues
from spineoutcome.scoring.model import ScoringModel
from spineoutcome.scoring.words import TOP, FactorWords

OUTPUTS = (
    "probability",
    "band_low",
    "band_high",
    "category",
    *(f"factor_{k + 1}" for k in range(TOP)),
    "missing_predictors",
    "extrapolated",
    "mahalanobis",
    "out_of_distribution",
)
_GROUP_NAMES = {1: ("low", "high"), 2: ("low", "intermediate", "high"), 3: ("low", "intermediate", "high", "very high")}


def category_labels(thresholds: tuple[float, ...]) -> list[str]:
    """Names of the risk groups cut at ``thresholds`` (ascending), with their ranges in per cent."""
    names = _GROUP_NAMES.get(len(thresholds)) or tuple(f"group {k + 1}" for k in range(len(thresholds) + 1))
    cuts = [f"{100 * t:g}" for t in thresholds]
    ranges = [f"< {cuts[0]} %", *[f"{a}-{b} %" for a, b in itertools.pairwise(cuts)], f">= {cuts[-1]} %"]
    return [f"{name} ({span})" for name, span in zip(names, ranges, strict=True)]


def categorise(probability: np.ndarray, thresholds: tuple[float, ...]) -> np.ndarray:
    """Index of each risk's group: 0 below the first threshold, k at or above the k-th."""
    return np.searchsorted(np.asarray(thresholds), probability, side="right")


def join_flags(flags: np.ndarray, names: list[str]) -> np.ndarray:
    """Per row, the names whose flag is set, comma-separated ('' = none); built once per distinct pattern."""
    out = np.full(flags.shape[0], "", dtype=object)
    any_flag = flags.any(axis=1)
    if not any_flag.any():
        return out
    patterns, inverse = np.unique(np.packbits(flags[any_flag], axis=1), axis=0, return_inverse=True)
    texts = np.asarray(
        [", ".join(names[j] for j in np.flatnonzero(np.unpackbits(p)[: len(names)])) for p in patterns], dtype=object
    )
    out[any_flag] = texts[np.ravel(inverse)]
    return out


@dataclass(frozen=True)
class TaskScores:
    """One model's outputs for the valid rows of a chunk; ``shap`` (rows x predictors) when explained."""

    columns: dict[str, np.ndarray]
    shap: np.ndarray | None


class TaskScorer:
    """Scores chunk after chunk with one :class:`.ScoringModel` (module docstring)."""

    def __init__(self, model: ScoringModel, *, band: bool = True, threads: int | None = None) -> None:
        self.model = model
        bundle = model.bundle
        self.contract = bundle.contract
        self.names = self.contract.names
        self.band = band
        threads = threads or (len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count())
        for pipeline in [bundle.pipeline, *bundle.ensemble]:
            _use_threads(pipeline, threads)
        pipelines = [bundle.pipeline, *(bundle.ensemble if band else [])]
        self.cache = DesignCache(pipelines, self.names)
        self.words = FactorWords(self.contract.predictors)
        self.labels = np.asarray(category_labels(model.thresholds), dtype=object)
        mean = (bundle.manifest.get("explanation") or {}).get("background_design_mean")
        self.background = pd.Series(mean, dtype=np.float64) if mean else None
        self._ranges = _training_ranges(bundle.summary.predictors, self.names)

    def score(
        self, frame: pd.DataFrame, missing: np.ndarray, distinct: DistinctValues, *, explain: bool = True
    ) -> TaskScores:
        """Outputs for ``frame`` (valid rows, training dtypes); ``missing``: which values were missing."""
        n = len(frame)
        if n == 0:
            return TaskScores(self._empty(), None)
        bundle = self.model.bundle
        rows = self.cache.rows(frame, distinct)
        design = self.cache.design(0, frame, rows)
        probability = bundle.risk(self.cache.pipelines[0].predict_proba(design))
        out: dict[str, np.ndarray] = {"probability": probability}
        if self.band:
            draws = np.vstack(
                [
                    bundle.risk(self.cache.probability(i, frame, rows), i - 1)
                    for i in range(1, len(self.cache.pipelines))
                ]
            )
            out["band_low"], out["band_high"] = np.percentile(draws, BAND_PERCENTILES, axis=0)
        else:
            out["band_low"] = out["band_high"] = np.full(n, np.nan)
        out["category"] = self.labels[categorise(probability, self.model.thresholds)]
        shap = None
        if explain:
            shap = self.contributions(frame, design)
            for k, words in enumerate(self.words.sentences(shap, distinct.codes, distinct.uniques)):
                out[f"factor_{k + 1}"] = words
        else:
            for k in range(TOP):
                out[f"factor_{k + 1}"] = np.full(n, "", dtype=object)
        out["missing_predictors"] = join_flags(missing, self.names)
        out["extrapolated"] = join_flags(self.extrapolated(frame, distinct), self.names)
        distance = bundle.summary.novelty.distance(design)
        out["mahalanobis"] = distance
        out["out_of_distribution"] = distance > bundle.summary.novelty.threshold
        return TaskScores(out, shap)

    def _empty(self) -> dict[str, np.ndarray]:
        text = {"category", "missing_predictors", "extrapolated", *(f"factor_{k + 1}" for k in range(TOP))}
        return {
            name: np.zeros(0, dtype=object if name in text else bool if name == "out_of_distribution" else float)
            for name in OUTPUTS
        }

    def contributions(self, frame: pd.DataFrame, design: pd.DataFrame | None = None) -> np.ndarray:
        """SHAP values (log-odds for logistic and boosting) per predictor, contract order, training-mean background.

        ``design``: the selected pipeline's design of ``frame`` when already at hand; a logistic
        model's linear SHAP, (design - background mean) x coefficients summed per predictor, is then
        taken from it (as :func:`~spineoutcome.explain.shap_contributions` computes it, without
        running the preprocessing again).
        """
        pipeline = self.cache.pipelines[0]
        if (
            design is not None
            and pipeline.linear
            and self.background is not None
            and list(design.columns) == pipeline.columns
            and set(pipeline.columns) <= set(self.background.index)
        ):
            centre = self.background[pipeline.columns].to_numpy(dtype=np.float64)
            phi = (design.to_numpy(dtype=np.float64) - centre) * pipeline.model.coef_.ravel()
            out = np.zeros((len(frame), len(self.names)))
            for j, name in enumerate(self.names):
                if name in pipeline.blocks:
                    out[:, j] = phi[:, pipeline.blocks[name]].sum(axis=1)
            return out
        values = shap_contributions(self.model.bundle.pipeline, frame, background_mean=self.background).values
        return values.reindex(columns=self.names, fill_value=0.0).to_numpy(dtype=np.float64)

    def extrapolated(self, frame: pd.DataFrame, distinct: DistinctValues) -> np.ndarray:
        """Rows x predictors: the value lies outside the training data (as :meth:`.TrainingSummary.extrapolated`)."""
        flags = np.zeros((len(frame), len(self.names)), dtype=bool)
        for j, name in enumerate(self.names):
            kind, bounds = self._ranges[j]
            if kind == "levels" and bounds:
                levels = distinct.uniques[name]
                unseen = levels.astype(object).astype(str).isin(bounds).to_numpy() & levels.notna().to_numpy()
                flags[:, j] = unseen[distinct.codes[name]]
            elif kind == "range":
                numbers = frame[name].to_numpy(dtype=np.float64, na_value=np.nan)
                with np.errstate(invalid="ignore"):
                    flags[:, j] = (numbers < bounds[0]) | (numbers > bounds[1])
        return flags


def _training_ranges(stats: dict[str, dict], names: list[str]) -> list[tuple[str, object]]:
    out: list[tuple[str, object]] = []
    for name in names:
        entry = stats.get(name, {})
        if "frequencies" in entry:
            out.append(("levels", [level for level, share in entry["frequencies"].items() if share == 0]))
        elif (span := bounds(entry)) is not None:
            out.append(("range", span))
        else:
            out.append(("none", None))
    return out


def _use_threads(pipeline: object, threads: int | None) -> None:
    """Let tree boosters predict on every core (results do not depend on the thread count)."""
    model = getattr(pipeline, "named_steps", {}).get("model")
    if threads and model is not None and type(model).__name__ in ("XGBClassifier", "LGBMClassifier"):
        model.set_params(n_jobs=threads)
