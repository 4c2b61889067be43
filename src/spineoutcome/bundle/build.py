"""Build a :class:`.ModelBundle` from an experiment's result: the selected family, ready to deploy."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import clone
from sklearn.pipeline import Pipeline

from spineoutcome import __version__
from spineoutcome.bundle.clinical import clinical_summary
from spineoutcome.bundle.contract import InputContract
from spineoutcome.bundle.model import BAND_PERCENTILES, Calibration, ModelBundle
from spineoutcome.bundle.summary import TrainingSummary
from spineoutcome.evaluation import PROBABILITY_CLIP, Bootstrap
from spineoutcome.experiment import ExperimentResult
from spineoutcome.experiment.plan import SEED_STREAMS
from spineoutcome.lifecycle.drift import drift_reference
from spineoutcome.modeling import REGISTRY, TunedClassifier
from spineoutcome.privacy import age_variables

ENSEMBLE_SIZE = 30
BUNDLE_FORMAT = "spineoutcome-bundle/1"


def build_bundle(result: ExperimentResult, *, ensemble_size: int = ENSEMBLE_SIZE) -> ModelBundle:
    """The bundle of ``result``'s selected (best) family, with a bootstrap ensemble of ``ensemble_size`` refits.

    The input contract is derived from the data dictionary the experiment ran with.
    """
    evidence, task = result.evidence, result.task
    if evidence.task["kind"] != "binary":
        raise ValueError(
            f"a model bundle predicts probabilities of a binary outcome; {evidence.task['name']!r} "
            f"is {evidence.task['kind']!r}"
        )
    family = evidence.best_family
    tuned = result.best_model
    pipeline: Pipeline = tuned.best_estimator_
    contract = InputContract.from_dictionary(tuned.dictionary, task.predictors)
    design = pipeline.named_steps["preprocess"].transform(task.X)
    seed = evidence.pipeline["seed"] + SEED_STREAMS["bundle_ensemble"]
    manifest = {
        "format": BUNDLE_FORMAT,
        "task": evidence.task["name"],
        "description": evidence.task["description"],
        "outcome": evidence.task["outcome"],
        "outcome_definition": dict(evidence.task["outcome_definition"]),
        "eligibility": dict(evidence.pipeline.get("eligibility") or {}),
        "output": {
            "column": "probability",
            "meaning": f"calibrated probability of the outcome {evidence.task['outcome']!r}",
        },
        "family": family,
        "estimator": type(pipeline.named_steps["model"]).__name__,
        "selection_rule": evidence.selection_rule,
        "evidence_run_id": evidence.run_id,
        "data": {"digest": evidence.data["digest"], "n": task.n, "events": task.events},
        "dictionary": contract.dictionary,
        "spineoutcome_version": __version__,
        "uncertainty": {
            "method": "bootstrap ensemble: the selected pipeline refit with its tuned hyperparameters "
            "on simple bootstrap samples (not stratified: the number of events varies as it "
            "would in a new sample); band = percentiles of the refits' "
            "predictions through the bundle's calibration",
            "replicates": ensemble_size,
            "seed": seed,
            "percentiles": list(BAND_PERCENTILES),
        },
        "explanation": {
            "function": "spineoutcome.explain.shap_contributions",
            "method": REGISTRY[family].shap.description,
            "units": (evidence.families[family].shap or {}).get("units"),
            "background_design_mean": {str(c): float(v) for c, v in design.mean().items()},
        },
    }
    ensemble = bootstrap_ensemble(tuned, task.X, task.y, ensemble_size, seed)
    manifest["development_calibration"] = asdict(_development_calibration(tuned, task.y))
    manifest["development"] = development_record(
        pipeline, Calibration(**manifest["development_calibration"]), task.X, contract
    )
    manifest["ensemble_development_calibration"] = [
        asdict(_development_calibration(member, task.y[sample])) for member, sample in ensemble
    ]
    return ModelBundle(
        manifest=manifest,
        contract=contract,
        summary=TrainingSummary.from_training(task.X, contract, design, ages=age_variables(tuned.dictionary)),
        calibration=Calibration(),
        pipeline=pipeline,
        ensemble=[member.best_estimator_ for member, _ in ensemble],
        clinical=clinical_summary(evidence),
    )


def development_record(
    pipeline: Pipeline, calibration: Calibration, X: pd.DataFrame, contract: InputContract
) -> dict[str, Any]:
    """What monitoring and validation compare a new site with: the mean and SD of the linear predictor
    (logit of the calibrated risk) in the training data, and the development bins of every predictor
    (:func:`spineoutcome.lifecycle.drift.drift_reference`). Aggregates only."""
    risk = np.clip(calibration.apply(pipeline.predict_proba(X)[:, 1]), PROBABILITY_CLIP, 1 - PROBABILITY_CLIP)
    lp = np.log(risk / (1 - risk))
    return {
        "linear_predictor": {"mean": float(lp.mean()), "sd": float(lp.std(ddof=1)), "n": len(lp)},
        "drift_reference": drift_reference(X, {p.name: p.dtype for p in contract.predictors}),
    }


def _development_calibration(tuned: TunedClassifier, y: np.ndarray) -> Calibration:
    """The tuned model's own recalibration (boosted trees: inner out-of-fold logistic), else identity."""
    params = tuned.calibration_params()
    if params is None:
        return Calibration()
    return Calibration("logistic", params[0], params[1], len(y), int(np.sum(y)))


def bootstrap_ensemble(
    tuned: TunedClassifier, X: pd.DataFrame, y: np.ndarray, size: int, seed: int
) -> list[tuple[TunedClassifier, np.ndarray]]:
    """``size`` refits of ``tuned`` with its tuned hyperparameters and recalibration on simple bootstrap
    samples (not outcome-stratified, so that the band carries the uncertainty of the event count too,
    which alone is left for a model that predicts the prevalence); each with its sample's rows."""
    rows = np.arange(len(y))
    draws = Bootstrap.draw(y, n_boot=size, seed=seed, stratify=False)
    samples = [np.repeat(rows, counts.astype(int)) for counts in draws.weights]
    fixed = clone(tuned).set_params(params=dict(tuned.best_params_), calibration=tuned.calibration_params() or "none")
    return [(clone(fixed).fit(X.iloc[sample], y[sample]), sample) for sample in samples]
