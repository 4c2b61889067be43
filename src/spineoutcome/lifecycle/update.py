"""Updating a model for a new site, the method chosen by closed testing.

Updating methods (Steyerberg, Clinical Prediction Models, 2nd ed. 2019, chapter 20; Vergouwe Y,
Nieboer D, Oostenbrink R, et al. A closed testing procedure to select an appropriate method for
updating prediction models. Stat Med 2017;36:4529-39), with lp the model's linear predictor
(logit of its risk as developed):

- ``none``: the model as it is (0 parameters re-estimated);
- ``intercept``: logit P(y) = a + lp (1 parameter: recalibration in the large);
- ``recalibration``: logit P(y) = a + b lp (2 parameters: logistic recalibration);
- ``refit``: every coefficient re-estimated on the site's data (model revision). For a logistic
  family (logistic, elastic net) this is the maximum-likelihood logistic regression of y on the
  model's design as developed (the development preprocessing: imputation values, spline knots,
  coding; columns constant at the site left out): 1 + k parameters. For a tree family, the
  pipeline is refit with its tuned hyperparameters; it has no likelihood-ratio test.

Closed testing (Vergouwe et al. 2017), at level ``alpha``, with LR = 2 (logL_a - logL_b):
1. revision vs none (df = 1 + k): not significant -> ``none``;
2. revision vs intercept (df = k): not significant -> ``intercept``;
3. revision vs recalibration (df = k - 1): not significant -> ``recalibration``, else ``refit``.
Each model is tested against the most extensive one, so the family-wise error stays at ``alpha``.
When no revision has a likelihood (tree families), the same steps are run with recalibration as the
most extensive model (vs none, df 2; vs intercept, df 1).

The update's performance on the site's data is optimism-corrected by Harrell's bootstrap (Harrell,
Regression Modeling Strategies, 2nd ed., 5.3.5): in each replicate the whole update, including
the closed test when the method was chosen by it, is redone on a bootstrap sample; optimism is the
mean of its performance on that sample minus on the original data; corrected = apparent - optimism.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import asdict, dataclass, replace
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats
from sklearn.base import clone
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline

from spineoutcome.bundle import ENSEMBLE_SIZE, Calibration, ModelBundle, TrainingSummary
from spineoutcome.bundle.model import BAND_PERCENTILES
from spineoutcome.errors import SpineoutcomeError
from spineoutcome.evaluation import (
    PROBABILITY_CLIP,
    Bootstrap,
    auc_weighted,
    citl_weighted,
    oe_weighted,
    overall_weighted,
    slope_weighted,
)
from spineoutcome.lifecycle.casemix import linear_predictor
from spineoutcome.lifecycle.drift import drift_reference
from spineoutcome.lifecycle.evaluate import MIN_EVENTS, cell, model_record
from spineoutcome.lifecycle.records import UpdateEvidence, new_run_id, now
from spineoutcome.lifecycle.site import SiteData
from spineoutcome.modeling import LogisticRecalibration
from spineoutcome.scoring.model import ScoringModel

METHODS: tuple[str, ...] = ("none", "intercept", "recalibration", "refit")
LOGISTIC_FAMILIES = ("logistic", "elastic_net")
DEFAULT_ALPHA = 0.05
DEFAULT_BOOT = 200
MEASURES = ("auc", "oe_ratio", "citl", "slope", "brier")


class UpdateError(SpineoutcomeError, ValueError):
    """The model cannot be updated this way on these data."""


def log_likelihood(y: np.ndarray, p: np.ndarray) -> float:
    """Bernoulli log-likelihood of outcomes ``y`` under risks ``p`` (clipped as in the evaluation package)."""
    p = np.clip(np.asarray(p, dtype=float), PROBABILITY_CLIP, 1 - PROBABILITY_CLIP)
    return float(np.sum(y * np.log(p) + (1 - y) * np.log1p(-p)))


def fit_revision(design: np.ndarray, y: np.ndarray) -> LogisticRegression:
    """Maximum-likelihood logistic regression of ``y`` on ``design`` (no penalty); Newton's method converges
    in a few iterations when the maximum exists, so a fit that needs more than 100 is taken as separation."""
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        try:
            return LogisticRegression(C=np.inf, solver="newton-cholesky", tol=1e-10, max_iter=100).fit(design, y)
        except (ConvergenceWarning, ValueError, np.linalg.LinAlgError) as exc:
            raise UpdateError(
                f"the model revision (all coefficients re-estimated) cannot be fitted on these data "
                f"({type(exc).__name__}: separation or too few events for its parameters)"
            ) from None


def revision_model(design: pd.DataFrame, y: np.ndarray) -> LogisticRegression:
    """:func:`fit_revision` on the columns that vary, as a model of every column of ``design``
    (a column constant in these data gets coefficient 0: its effect is absorbed by the intercept)."""
    keep = np.ptp(design.to_numpy(dtype=float), axis=0) > 0
    model = fit_revision(design.to_numpy(dtype=float)[:, keep], y)
    coef = np.zeros((1, design.shape[1]))
    coef[0, keep] = model.coef_[0]
    model.coef_ = coef
    model.n_features_in_ = design.shape[1]
    model.feature_names_in_ = np.asarray(design.columns, dtype=object)
    return model


@dataclass(frozen=True)
class ClosedTest:
    """The candidate models' log-likelihoods and parameters, the likelihood-ratio tests run, and the choice."""

    models: dict[str, dict[str, float]]
    tests: list[dict[str, Any]]
    chosen: str
    alpha: float
    most_extensive: str

    def to_dict(self) -> dict[str, Any]:
        """The closed test's statistics and choice as plain data (for the Evidence)."""
        return asdict(self)


def closed_test(y: np.ndarray, p: np.ndarray, design: np.ndarray | None, *, alpha: float = DEFAULT_ALPHA) -> ClosedTest:
    """Closed testing among no update, intercept update, logistic recalibration and (with a
    ``design``) model revision (module docstring). ``p``: the model's risks as developed."""
    y = np.asarray(y, dtype=int)
    models = {"none": {"parameters": 0, "loglik": log_likelihood(y, p)}}
    for name, method in (("intercept", "intercept"), ("recalibration", "logistic")):
        fitted = LogisticRecalibration(method).fit(p, y)
        models[name] = {
            "parameters": 1 if method == "intercept" else 2,
            "loglik": log_likelihood(y, fitted.transform(p)),
        }
    top = "recalibration"
    if design is not None:
        design = _informative(design)
        revision = fit_revision(design, y)
        models["refit"] = {
            "parameters": 1 + design.shape[1],
            "loglik": log_likelihood(y, revision.predict_proba(design)[:, 1]),
        }
        top = "refit"
    tests = []
    chosen = top
    for simpler in [m for m in ("none", "intercept", "recalibration") if m != top]:
        lr = 2.0 * (models[top]["loglik"] - models[simpler]["loglik"])
        df = int(models[top]["parameters"] - models[simpler]["parameters"])
        p_value = float(stats.chi2.sf(max(lr, 0.0), df))
        significant = p_value < alpha
        tests.append(
            {"compare": f"{top} vs {simpler}", "lr": lr, "df": df, "p_value": p_value, "significant": significant}
        )
        if not significant:
            chosen = simpler
            break
    return ClosedTest(models, tests, chosen, alpha, top)


def _informative(design: np.ndarray) -> np.ndarray:
    """Design columns that vary in these data (a constant column has no estimable coefficient)."""
    design = np.asarray(design, dtype=float)
    return design[:, np.ptp(design, axis=0) > 0]


class Updater:
    """Fits an update method on some rows of a site's data and predicts for all of them.

    Holds the model's risks as developed and (logistic families) its design for the site's rows,
    computed once, so that the bootstrap only refits the update.
    """

    def __init__(self, bundle: ModelBundle, X: pd.DataFrame, y: np.ndarray) -> None:
        self.bundle, self.X, self.y = bundle, X, np.asarray(y, dtype=int)
        self.developed = bundle.development_calibration().apply(bundle.pipeline.predict_proba(X)[:, 1])
        self.family = str(bundle.manifest.get("family"))
        self.design = None
        if self.family in LOGISTIC_FAMILIES:
            self.design = bundle.pipeline.named_steps["preprocess"].transform(X).to_numpy(dtype=float)

    def choose(self, rows: np.ndarray, alpha: float) -> ClosedTest:
        """The closed-testing choice on the patients ``rows`` (a bootstrap replicate or all of them)."""
        design = self.design[rows] if self.design is not None else None
        return closed_test(self.y[rows], self.developed[rows], design, alpha=alpha)

    def fit_predict(self, method: str, rows: np.ndarray) -> np.ndarray:
        """Risks of every site row after fitting ``method`` on ``rows``."""
        y = self.y[rows]
        if method == "none":
            return self.developed
        if method in ("intercept", "recalibration"):
            fitted = LogisticRecalibration("intercept" if method == "intercept" else "logistic")
            return fitted.fit(self.developed[rows], y).transform(self.developed)
        if self.design is not None:
            keep = np.ptp(self.design[rows], axis=0) > 0
            return fit_revision(self.design[rows][:, keep], y).predict_proba(self.design[:, keep])[:, 1]
        return clone(self.bundle.pipeline).fit(self.X.iloc[rows], y).predict_proba(self.X)[:, 1]


def performance(y: np.ndarray, p: np.ndarray, weights: np.ndarray) -> dict[str, np.ndarray]:
    """AUC, O:E, CITL, slope and Brier score for every weight row (the evaluation package's cores)."""
    return {
        "auc": auc_weighted(y, p, weights),
        "oe_ratio": oe_weighted(y, p, weights),
        "citl": citl_weighted(y, p, weights),
        "slope": slope_weighted(y, p, weights),
        "brier": overall_weighted(y, p, weights)["brier"],
    }


def bootstrap_validation(
    updater: Updater, method: str, *, auto: bool, alpha: float, n_boot: int, seed: int
) -> dict[str, Any]:
    """Apparent, optimism and corrected performance of the update on the site's data (module docstring)."""
    y = updater.y
    everyone = np.arange(len(y))
    ones = np.ones((1, len(y)))
    apparent_p = updater.fit_predict(method, everyone)
    apparent = {k: float(v[0]) for k, v in performance(y, apparent_p, ones).items()}
    boot = Bootstrap.draw(y, n_boot=n_boot, seed=seed)
    optimism_rows: list[dict[str, float]] = []
    chosen: dict[str, int] = {}
    failed = 0
    for weights in boot.weights:
        rows = np.repeat(everyone, weights.astype(int))
        try:
            replicate_method = updater.choose(rows, alpha).chosen if auto else method
            p = updater.fit_predict(replicate_method, rows)
        except (UpdateError, ValueError, RuntimeError):
            failed += 1
            continue
        chosen[replicate_method] = chosen.get(replicate_method, 0) + 1
        on_sample = performance(y, p, weights[None, :])
        on_original = performance(y, p, ones)
        optimism_rows.append({k: float(on_sample[k][0] - on_original[k][0]) for k in MEASURES})
    optimism = {k: float(np.nanmean([r[k] for r in optimism_rows])) if optimism_rows else math.nan for k in MEASURES}
    return {
        "method": "Harrell's bootstrap optimism correction; the update (and, for method auto, the closed "
        "test) redone in every replicate",
        "apparent": apparent,
        "optimism": optimism,
        "corrected": {k: apparent[k] - optimism[k] for k in MEASURES},
        "replicates": n_boot,
        "failed_replicates": failed,
        "seed": seed,
        "methods_chosen_in_replicates": chosen if auto else None,
    }


def updated_bundle(
    bundle: ModelBundle,
    X: pd.DataFrame,
    y: np.ndarray,
    method: str,
    lineage: dict[str, Any],
    *,
    ensemble_size: int,
    seed: int,
) -> ModelBundle:
    """The bundle after ``method`` (not ``none``), its manifest carrying ``lineage``.

    ``intercept``/``recalibration``: the bundle's calibration update (:meth:`.ModelBundle.recalibrated`).
    ``refit``: a new fitted pipeline (module docstring), an ensemble of ``ensemble_size`` refits on
    bootstrap samples of the site's data for its uncertainty band, the site's training summary.
    """
    y = np.asarray(y, dtype=int)
    manifest = {**bundle.manifest, "lineage": lineage}
    if method in ("intercept", "recalibration"):
        updated = bundle.recalibrated(X, y, "intercept" if method == "intercept" else "logistic")
        return with_reference(replace(updated, manifest=manifest), X)
    if method != "refit":
        raise UpdateError(f"no updated bundle for method {method!r}")
    rows = np.arange(len(y))
    samples = [
        np.repeat(rows, w.astype(int))
        for w in Bootstrap.draw(y, n_boot=ensemble_size, seed=seed, stratify=False).weights
    ]
    if bundle.manifest.get("family") in LOGISTIC_FAMILIES:
        preprocess = bundle.pipeline.named_steps["preprocess"]
        design = preprocess.transform(X)

        def refit(sample: np.ndarray) -> Pipeline:
            return Pipeline([("preprocess", preprocess), ("model", revision_model(design.iloc[sample], y[sample]))])
    else:

        def refit(sample: np.ndarray) -> Pipeline:
            return clone(bundle.pipeline).fit(X.iloc[sample], y[sample])

    pipeline = refit(rows)
    ensemble = []
    for sample in samples:
        try:
            ensemble.append(refit(sample))
        except UpdateError:
            continue
    design = pipeline.named_steps["preprocess"].transform(X)
    identity = asdict(Calibration())
    manifest.update(
        {
            "development_calibration": identity,
            "ensemble_development_calibration": [identity] * len(ensemble),
            "estimator": type(pipeline.named_steps["model"]).__name__,
            "explanation": {
                **manifest.get("explanation", {}),
                "background_design_mean": {str(c): float(v) for c, v in design.mean().items()},
            },
            "uncertainty": {
                **manifest.get("uncertainty", {}),
                "replicates": len(ensemble),
                "seed": seed,
                "percentiles": list(BAND_PERCENTILES),
                "method": "the revised model refit on simple bootstrap samples of the site's data",
            },
        }
    )
    return with_reference(
        replace(
            bundle,
            manifest=manifest,
            pipeline=pipeline,
            ensemble=ensemble,
            calibration=Calibration(),
            summary=TrainingSummary.from_training(X, bundle.contract, design),
        ),
        X,
    )


def with_reference(bundle: ModelBundle, X: pd.DataFrame) -> ModelBundle:
    """``bundle`` whose monitoring and case-mix reference (``manifest["development"]``) is the site data it
    was updated on: the linear predictor of its updated risks, and the predictors' bins there."""
    lp = linear_predictor(bundle.probabilities(X))
    reference = {
        "source": "the site data of the update",
        "linear_predictor": {"mean": float(lp.mean()), "sd": float(lp.std(ddof=1)), "n": len(lp)},
        "drift_reference": drift_reference(X, {p.name: p.dtype for p in bundle.contract.predictors}),
    }
    return replace(bundle, manifest={**bundle.manifest, "development": reference})


def update_parameters(bundle: ModelBundle, method: str) -> dict[str, Any]:
    """What the update estimated, for the record (no patient data)."""
    if method == "none":
        return {"method": "none"}
    if method in ("intercept", "recalibration"):
        c = bundle.calibration
        return {
            "method": method,
            "intercept": c.intercept,
            "slope": c.slope,
            "formula": "risk = expit(intercept + slope * logit(risk as developed))",
        }
    model = bundle.pipeline.named_steps["model"]
    out: dict[str, Any] = {"method": "refit", "estimator": type(model).__name__}
    if isinstance(model, LogisticRegression):
        names = getattr(model, "feature_names_in_", None)
        out["intercept"] = float(model.intercept_[0])
        out["coefficients"] = {
            str(n): float(b)
            for n, b in zip(names if names is not None else range(model.coef_.shape[1]), model.coef_[0], strict=True)
        }
    return out


def update_model(
    model: ScoringModel,
    site: SiteData,
    *,
    method: str = "auto",
    alpha: float = DEFAULT_ALPHA,
    n_boot: int = DEFAULT_BOOT,
    seed: int = 2026,
    ensemble_size: int = ENSEMBLE_SIZE,
) -> tuple[UpdateEvidence, ModelBundle | None]:
    """Update ``model`` on ``site`` by ``method`` (``auto``: closed testing) and validate the update.

    Returns the :class:`.UpdateEvidence` and the updated bundle (None when no update is chosen).
    """
    if method not in ("auto", *METHODS):
        raise UpdateError(f"method must be auto or one of {', '.join(METHODS)}; got {method!r}")
    if min(site.events, site.n - site.events) < MIN_EVENTS:
        raise UpdateError(
            f"too few events to update the model: {cell(site.events)} event(s) and "
            f"{cell(site.n - site.events)} non-event(s) among {site.n} patients (at least {MIN_EVENTS} "
            "of each are needed); no update was made"
        )
    updater = Updater(model.bundle, site.X, site.y)
    everyone = np.arange(site.n)
    notes: list[str] = []
    try:
        test = updater.choose(everyone, alpha)
    except UpdateError as exc:
        notes.append(f"Closed testing without the model revision: {exc}.")
        test = closed_test(site.y, updater.developed, None, alpha=alpha)
        updater.design = None
    chosen = test.chosen if method == "auto" else method
    if updater.design is None and model.bundle.manifest.get("family") not in LOGISTIC_FAMILIES:
        notes.append(
            "The model is a tree ensemble: its revision (refit with the tuned hyperparameters) has no "
            "likelihood-ratio test, so closed testing chose among no update, intercept update and "
            "logistic recalibration."
        )
    run_id = new_run_id()
    digest = site.digest()
    lineage = {
        "parent_uri": model.uri,
        "parent_version": model.version,
        "parent_bundle_sha256": model.digest,
        "parent_evidence_run_id": model.bundle.manifest.get("evidence_run_id"),
        "method": chosen,
        "site_data_digest": digest,
        "site_n": site.n,
        "site_events": site.events,
        "update_run_id": run_id,
    }
    bundle = None
    if chosen != "none":
        bundle = updated_bundle(model.bundle, site.X, site.y, chosen, lineage, ensemble_size=ensemble_size, seed=seed)
    else:
        notes.append(
            "No update: the closed test found no significant improvement over the model as it is, so no "
            "new version is made."
        )
    if chosen == "refit" and model.bundle.manifest.get("family") not in LOGISTIC_FAMILIES:
        notes.append(
            "The refit tree ensemble memorises its training rows, so its apparent performance is near perfect "
            "and Harrell's bootstrap correction stays optimistic (Efron & Tibshirani 1997); judge this update "
            "by spineoutcome evaluate on patients not used for it (--part second)."
        )
    before = {k: float(v[0]) for k, v in performance(site.y, updater.developed, np.ones((1, site.n))).items()}
    validation = bootstrap_validation(updater, chosen, auto=method == "auto", alpha=alpha, n_boot=n_boot, seed=seed)
    validation["before_update"] = before
    record = UpdateEvidence(
        run_id=run_id,
        created=now(),
        parent=model_record(model),
        site={
            "n": site.n,
            "events": site.events,
            "prevalence": site.events / site.n,
            "data_digest": digest,
            "centres": int(len(np.unique(site.centres))),
        },
        flow=site.flow,
        requested_method=method,
        method=chosen,
        closed_testing=test.to_dict(),
        parameters=update_parameters(bundle if bundle is not None else model.bundle, chosen),
        validation=validation,
        lineage=lineage,
        notes=notes,
    )
    return record, bundle
