"""A self-describing model bundle: fitted pipeline, input contract, calibration, uncertainty, novelty.

Directory layout (every file but the two pickles is JSON, readable without Python)::

    bundle.json            manifest: task, outcome definition, family, data digest, versions, and
                           how uncertainty and explanations are computed
    contract.json          the input contract (see :mod:`.contract`)
    training_summary.json  training aggregates for extrapolation and novelty flags (:mod:`.summary`)
    calibration.json       update of the risks for a new centre or period (identity until one is fitted)
    clinical.json          what scoring shows clinicians: risk thresholds, subgroup results, intended use
                           (:mod:`.clinical`)
    pipeline.joblib        the selected family's final fitted Pipeline(preprocess, model)
    ensemble.joblib        bootstrap refits of that pipeline, for the uncertainty band

Predictions are calibrated probabilities in two steps, each p -> expit(a + b * logit(p)): the
development calibration (the tuned model's own logistic recalibration, fitted on its inner
out-of-fold risks, for boosted trees; identity otherwise; kept in the manifest, for the pipeline
as ``development_calibration`` and for each ensemble member as ``ensemble_development_calibration``),
then ``calibration.json``, the update for a new centre or period (identity until
:meth:`ModelBundle.recalibrated` fits one).

Uncertainty band: the selected pipeline, with its tuned hyperparameters, was refit on bootstrap
samples of the training data (seeded, not stratified by outcome); the 95 % band of a patient is the
2.5th-97.5th percentile of those refits' calibrated predictions (each with the development
recalibration). It reflects the sampling variability of model fitting (not of tuning or of the
recalibration, and not patient-level outcome noise).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

import joblib
import numpy as np
import pandas as pd
from scipy.special import expit, logit
from sklearn.pipeline import Pipeline

from spineoutcome.bundle.contract import InputContract
from spineoutcome.bundle.integrity import IntegrityError, ModelLoadError, Verification, signed_digest, verify
from spineoutcome.bundle.summary import TrainingSummary
from spineoutcome.modeling import LogisticRecalibration
from spineoutcome.modeling.recalibration import LOGIT_CLIP

BAND_PERCENTILES = (2.5, 97.5)
FILES = {
    "manifest": "bundle.json",
    "contract": "contract.json",
    "summary": "training_summary.json",
    "calibration": "calibration.json",
    "clinical": "clinical.json",
    "pipeline": "pipeline.joblib",
    "ensemble": "ensemble.joblib",
}


@dataclass(frozen=True)
class Calibration:
    """p = expit(intercept + slope * logit(p)): a development calibration or a new centre's update."""

    method: Literal["identity", "intercept", "logistic"] = "identity"
    intercept: float = 0.0
    slope: float = 1.0
    n: int | None = None
    events: int | None = None

    def apply(self, p: np.ndarray) -> np.ndarray:
        p = np.clip(np.asarray(p, dtype=np.float64), LOGIT_CLIP, 1.0 - LOGIT_CLIP)
        return expit(self.intercept + self.slope * logit(p))


@dataclass(frozen=True)
class ModelBundle:
    """A fitted model with everything needed to score, flag and explain new patients (module docstring)."""

    manifest: dict[str, Any]
    contract: InputContract
    summary: TrainingSummary
    calibration: Calibration
    pipeline: Pipeline
    ensemble: list[Pipeline]
    clinical: dict[str, Any] = field(default_factory=dict)

    def save(self, directory: str | Path) -> Path:
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        for key, doc in (
            ("manifest", self.manifest),
            ("contract", self.contract.to_dict()),
            ("summary", self.summary.to_dict()),
            ("calibration", asdict(self.calibration)),
            ("clinical", self.clinical),
        ):
            (directory / FILES[key]).write_text(json.dumps(doc, indent=1, allow_nan=False), encoding="utf-8")
        joblib.dump(self.pipeline, directory / FILES["pipeline"])
        joblib.dump(self.ensemble, directory / FILES["ensemble"])
        return directory

    @classmethod
    def load(
        cls, directory: str | Path, *, verified: Verification | None = None, allow_unverified: bool = False
    ) -> ModelBundle:
        """Load a saved bundle; its pickles only once its files are checked (:mod:`.integrity`).

        ``verified``: the check a loader already made of the model folder that holds ``directory``
        (:func:`spineoutcome.scoring.load_verified`, :class:`.BundleModel`). Without it, the folder
        must carry a valid site signature, or ``allow_unverified`` must be given.
        """
        directory = Path(directory).resolve()
        if verified is None:
            verified = verify(
                directory,
                signed_digest(directory),
                "the site signature",
                uri=str(directory),
                allow_unverified=allow_unverified,
            )

        def read(key: str) -> dict[str, Any]:
            return json.loads((directory / FILES[key]).read_text(encoding="utf-8"))

        try:
            parts = {
                "manifest": read("manifest"),
                "contract": InputContract.from_dict(read("contract")),
                "summary": TrainingSummary.from_dict(read("summary")),
                "calibration": Calibration(**read("calibration")),
                "clinical": read("clinical") if (directory / FILES["clinical"]).is_file() else {},
            }
            return cls(
                **parts,
                pipeline=joblib.load(directory / FILES["pipeline"]),
                ensemble=joblib.load(directory / FILES["ensemble"]),
            )
        except IntegrityError:
            raise
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise ModelLoadError(f"{directory}: the model bundle cannot be loaded ({type(exc).__name__})") from None

    def predict(self, frame: pd.DataFrame, *, band: bool = False, flags: bool = False) -> pd.DataFrame:
        """One output row per input row, same index: ``probability`` (calibrated) and ``problem``.

        A row whose values break the contract gets no probability and says why in ``problem``
        ('' when the row was scored). ``band`` adds ``band_low``/``band_high`` (95 % bootstrap
        band); ``flags`` adds ``extrapolated`` (predictors outside the training data),
        ``mahalanobis`` and ``out_of_distribution`` (distance above the training 99th percentile).
        """
        parsed = self.contract.parse(frame)
        ok = parsed.valid.to_numpy()
        rows = parsed.frame[ok]
        out = pd.DataFrame({"probability": np.nan}, index=frame.index)
        if ok.any():
            out.loc[ok, "probability"] = self.probabilities(rows)
        if band:
            out["band_low"], out["band_high"] = np.nan, np.nan
            if ok.any():
                low, high = self.band(rows)
                out.loc[ok, "band_low"], out.loc[ok, "band_high"] = low, high
        if flags:
            out["extrapolated"], out["mahalanobis"], out["out_of_distribution"] = "", np.nan, False
            if ok.any():
                distance = self.summary.novelty.distance(self.pipeline.named_steps["preprocess"].transform(rows))
                out.loc[ok, "extrapolated"] = self.summary.extrapolated(rows).to_numpy()
                out.loc[ok, "mahalanobis"] = distance
                out.loc[ok, "out_of_distribution"] = distance > self.summary.novelty.threshold
        out["problem"] = parsed.problems
        return out

    def risk(self, p_model: np.ndarray, member: int | None = None) -> np.ndarray:
        """Calibrated risks from a model's raw probabilities: the pipeline's (``member`` None) or the
        ``member``-th ensemble refit's, through its development calibration, then the update."""
        return self.calibration.apply(self.development_calibration(member).apply(p_model))

    def development_calibration(self, member: int | None = None) -> Calibration:
        """The development calibration of the pipeline (``member`` None) or of an ensemble member."""
        if member is None:
            return Calibration(**self.manifest.get("development_calibration", {}))
        members = self.manifest.get("ensemble_development_calibration")
        return Calibration(**members[member]) if members else Calibration()

    def probabilities(self, typed: pd.DataFrame) -> np.ndarray:
        """Calibrated probabilities for rows already in the training dtypes (see :meth:`.InputContract.parse`)."""
        return self.risk(self.pipeline.predict_proba(typed)[:, 1])

    def band(self, typed: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
        """The 2.5th and 97.5th percentiles of the bootstrap refits' calibrated probabilities."""
        draws = np.vstack([self.risk(m.predict_proba(typed)[:, 1], i) for i, m in enumerate(self.ensemble)])
        low, high = np.percentile(draws, BAND_PERCENTILES, axis=0)
        return low, high

    def recalibrated(
        self, frame: pd.DataFrame, y: np.ndarray, method: Literal["intercept", "logistic"] = "logistic"
    ) -> ModelBundle:
        """The bundle updated for a new centre: a recalibration fitted on that centre's rows and outcomes.

        The update is fitted to the risks as developed (development calibration applied; not on top
        of an earlier update), by :class:`~spineoutcome.modeling.LogisticRecalibration`; the
        ranking of patients (AUC) does not change. Rows that break the contract are refused.
        """
        parsed = self.contract.parse(frame)
        if not parsed.valid.all():
            raise ValueError(f"{int((~parsed.valid).sum())} row(s) break the input contract; fix or drop them first")
        y = np.asarray(y, dtype=int)
        developed = self.development_calibration().apply(self.pipeline.predict_proba(parsed.frame)[:, 1])
        fitted = LogisticRecalibration(method).fit(developed, y)
        return replace(self, calibration=Calibration(method, fitted.intercept_, fitted.slope_, len(y), int(y.sum())))
