"""External validation of a model on a new site's data, each number beside its development estimate.

The evaluation is the evaluation package's (:func:`spineoutcome.evaluation.evaluate_predictions`),
with analytic intervals for AUC (DeLong), calibration-in-the-large and slope (Wald) and O:E
(log-normal: an outcome-stratified bootstrap fixes the number of events and so understates the
uncertainty of O:E), bootstrap percentile intervals for the rest:
discrimination, the calibration hierarchy (Van Calster et al., J Clin
Epidemiol 2016: O:E, calibration-in-the-large, slope, flexible curve with ICI/E50/E90), decision
curves and classification at the development thresholds; subgroups; per centre with random-effects
pooling and a prediction interval (Riley et al., BMJ 2011) when the site has several centres.

Development estimates are the development run's cross-validated ones (outer folds: what the
development study expected a new sample like its own to show) and, where available, its
internal-external pooled estimate with prediction interval (what it expected a new centre to show).

Riley's minimum sample size for external validation (Riley et al., Stat Med 2021; pmvalsampsize)
is computed with the site's outcome proportion, the model's linear predictor at the site and the
development c-statistic, for O:E (CI width 0.2 at O:E 1), slope (width 0.2), c (width 0.1) and
standardised net benefit at each development threshold (width 0.2); the site's n is compared with it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from spineoutcome.evaluation import (
    Bootstrap,
    InsufficientDataError,
    centre_heterogeneity,
    evaluate_predictions,
    subgroup_metrics,
    validation_sample_size,
)
from spineoutcome.lifecycle.casemix import (
    SMALL_CELL,
    linear_predictor,
    lp_summary,
    membership_model,
    predictor_distributions,
)
from spineoutcome.lifecycle.records import ValidationEvidence, new_run_id, now
from spineoutcome.lifecycle.site import SiteData
from spineoutcome.scoring.model import ScoringModel

DEFAULT_BOOT = 500
MIN_EVENTS = 10
"""Fewer events or non-events than this: no evaluation, only counts and the sample size needed."""
DEVELOPMENT_SOURCE = "development, cross-validated (outer folds)"
# (label, path in an Evaluation dict, path in the development cross-validation dict)
MEASURES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("AUC (c-statistic)", ("discrimination", "auc")),
    ("O:E ratio", ("calibration", "oe_ratio")),
    ("calibration-in-the-large", ("calibration", "citl")),
    ("calibration slope", ("calibration", "slope")),
    ("ICI", ("calibration_curve", "ici")),
    ("E50", ("calibration_curve", "e50")),
    ("E90", ("calibration_curve", "e90")),
    ("Brier score", ("overall", "brier")),
    ("scaled Brier score", ("overall", "scaled_brier")),
)


def model_record(model: ScoringModel) -> dict[str, Any]:
    """What was validated: URI, registry version, digest, family, development run and lineage (no patient data)."""
    manifest = model.bundle.manifest
    return {
        **model.describe(),
        "outcome": manifest.get("outcome"),
        "lineage": manifest.get("lineage"),
        "calibration_update": {
            "method": model.bundle.calibration.method,
            "intercept": model.bundle.calibration.intercept,
            "slope": model.bundle.calibration.slope,
        },
    }


def development_estimates(evidence: dict[str, Any]) -> dict[str, Any]:
    """The development run's estimates of the selected family: cross-validated, optimism-corrected, IECV."""
    family = (evidence.get("families") or {}).get(evidence.get("best_family")) or {}
    cv = family.get("cross_validation") or {}
    iecv = ((family.get("internal_external") or {}).get("heterogeneity")) or {}
    data = evidence.get("data") or {}
    return {
        "family": evidence.get("best_family"),
        "source": DEVELOPMENT_SOURCE,
        "n": data.get("n"),
        "events": data.get("events"),
        "prevalence": data.get("prevalence"),
        "centres": data.get("centres"),
        "cross_validation": cv,
        "optimism_corrected": (family.get("optimism") or {}).get("corrected"),
        "internal_external": {
            "pooled_auc": iecv.get("pooled_auc"),
            "pooled_auc_prediction_interval": iecv.get("pooled_auc_prediction_interval"),
            "pooled_oe_ratio": iecv.get("pooled_oe_ratio"),
            "pooled_oe_prediction_interval": iecv.get("pooled_oe_prediction_interval"),
        }
        if iecv
        else None,
    }


def _get(node: Any, path: Sequence[str]) -> Any:
    for key in path:
        if not isinstance(node, dict):
            return None
        node = node.get(key)
    return node


def _at_threshold(curve: dict[str, Any] | None, name: str, threshold: float) -> dict[str, Any] | None:
    """Net benefit of the model at ``threshold`` from a decision-curve dict (with its interval if any)."""
    if not curve:
        return None
    grid = np.asarray(curve.get("thresholds") or [], dtype=float)
    hits = np.flatnonzero(np.isclose(grid, threshold, atol=1e-9))
    if not hits.size:
        return None
    i = int(hits[0])
    out = {"value": curve[name][i]}
    ci = (curve.get("ci") or {}).get(name)
    if ci:
        out["ci_low"], out["ci_high"] = ci[0][i], ci[1][i]
    return out


def comparison_table(
    site: dict[str, Any] | None, development: dict[str, Any], thresholds: Sequence[float]
) -> list[dict[str, Any]]:
    """One row per measure: the site's estimate beside the development estimate (dicts of Estimates)."""
    cv = development.get("cross_validation") or {}
    rows = [{"measure": label, "site": _get(site, path), "development": _get(cv, path)} for label, path in MEASURES]
    for t in thresholds:
        rows.append(
            {
                "measure": f"net benefit at {t:.0%}",
                "site": _at_threshold(_get(site, ("decision_curve",)), "nb_model", t),
                "development": _at_threshold(cv.get("decision_curve"), "nb_model", t),
            }
        )
        for metric in ("sensitivity", "specificity"):
            site_row = next((r for r in _get(site, ("classification", "rows")) or [] if r["threshold"] == t), None)
            dev_row = next((r for r in _get(cv, ("classification", "rows")) or [] if r["threshold"] == t), None)
            rows.append(
                {
                    "measure": f"{metric} at {t:.0%}",
                    "site": (site_row or {}).get(metric),
                    "development": (dev_row or {}).get(metric),
                }
            )
    iecv = development.get("internal_external")
    if iecv and iecv.get("pooled_oe_ratio"):
        rows.append(
            {
                "measure": "O:E ratio, new centre (development IECV pooled, 95% prediction interval)",
                "site": _get(site, ("calibration", "oe_ratio")),
                "development": {
                    "value": iecv["pooled_oe_ratio"]["value"],
                    "ci_low": (iecv.get("pooled_oe_prediction_interval") or [None, None])[0],
                    "ci_high": (iecv.get("pooled_oe_prediction_interval") or [None, None])[1],
                    "ci_method": "prediction interval",
                },
            }
        )
    return rows


def minimum_sample_size(
    p: np.ndarray, y: np.ndarray, development: dict[str, Any], thresholds: Sequence[float]
) -> dict[str, Any]:
    """Riley's minimum sample size for external validation at this site (module docstring)."""
    events = int(np.sum(y))
    prevalence = events / len(y) if 0 < events < len(y) else (development.get("prevalence") or 0.05)
    c_dev = _get(development, ("cross_validation", "discrimination", "auc", "value")) or 0.7
    c_dev = float(min(max(c_dev, 0.51), 0.99))
    lp = linear_predictor(p)
    criteria = [validation_sample_size(prevalence=prevalence, c_statistic=c_dev, lp_sample=lp).to_dict()]
    criteria += [
        {
            **validation_sample_size(
                prevalence=prevalence, c_statistic=c_dev, lp_sample=lp, threshold=float(t)
            ).to_dict(),
            "threshold": float(t),
        }
        for t in thresholds
    ]
    required = max(c["n"] for c in criteria)
    events_required = math.ceil(required * prevalence)
    return {
        "method": "Riley et al., Stat Med 2021 (pmvalsampsize): O:E CI width 0.2, slope CI width 0.2, c CI width "
        "0.1, standardised net benefit CI width 0.2 at each development threshold",
        "assumptions": {
            "prevalence": prevalence,
            "c_statistic": c_dev,
            "lp": "the model's linear predictor at this site (empirical)",
        },
        "criteria": criteria,
        "required_n": int(required),
        "required_events": int(events_required),
        "available_n": int(len(y)),
        "available_events": events,
        "enough": bool(len(y) >= required),
    }


def validate_model(
    model: ScoringModel,
    site: SiteData,
    *,
    development_data: SiteData | None = None,
    n_boot: int = DEFAULT_BOOT,
    seed: int = 2026,
    level: float = 0.95,
) -> ValidationEvidence:
    """The external validation of ``model`` on ``site`` (module docstring) as a :class:`.ValidationEvidence`.

    ``development_data``: the development rows, when available, for the membership model.
    With fewer than :data:`MIN_EVENTS` events or non-events nothing is estimated; the record says so
    and gives the sample size needed.
    """
    bundle = model.bundle
    thresholds = list(model.thresholds)
    p = bundle.probabilities(site.X)
    y = site.y
    development = development_estimates(model.evidence)
    notes: list[str] = []
    lineage = bundle.manifest.get("lineage")
    if lineage:
        notes.append(
            f"This model was updated from version {lineage.get('parent_version')} by "
            f"{lineage.get('method')} on site data {str(lineage.get('site_data_digest'))[:12]}...; the "
            "development column shows the original development estimates."
            + (
                " The data validated here are the data it was updated on: an apparent, not an external, validation."
                if lineage.get("site_data_digest") == site.digest()
                else ""
            )
        )
    sample_size = minimum_sample_size(p, y, development, thresholds)
    events, non_events = site.events, site.n - site.events
    evaluation = subgroups = centres = None
    if min(events, non_events) < MIN_EVENTS:
        notes.append(
            f"Too few events for a meaningful validation: {cell(events)} event(s) and {cell(non_events)} "
            f"non-event(s) among {site.n} patients (at least {MIN_EVENTS} of each are needed to estimate "
            "anything). "
            f"Riley's minimum sample size for this validation is {sample_size['required_n']} patients "
            f"(about {sample_size['required_events']} events)."
        )
    else:
        try:
            evaluation = evaluate_predictions(
                y, p, thresholds=thresholds, n_boot=n_boot, seed=seed, level=level, ci_method="analytic"
            ).to_dict()
        except InsufficientDataError as exc:
            notes.append(f"The evaluation could not be estimated: {exc}")
        subgroup_spec = (model.evidence.get("pipeline") or {}).get("subgroups") or {}
        min_events = int(subgroup_spec.get("min_events", MIN_EVENTS))
        if evaluation is not None and site.groups.shape[1]:
            boot = Bootstrap.draw(y, n_boot=n_boot, seed=seed + 1, level=level)
            subgroups = subgroup_metrics(
                y,
                p,
                site.groups,
                thresholds=thresholds,
                intersections=False,
                min_events=min_events,
                min_non_events=min_events,
                boot=boot,
            ).to_dict()
        if evaluation is not None and len(np.unique(site.centres)) > 1:
            centres = centre_heterogeneity(
                y, p, site.centres, min_events=min_events, min_non_events=min_events, level=level
            ).to_dict()
        if not sample_size["enough"]:
            notes.append(
                f"The site has {site.n} patients ({cell(events)} events); Riley's minimum sample size for a "
                f"precise external validation is {sample_size['required_n']} (about "
                f"{sample_size['required_events']} events): intervals are wider than targeted, read them "
                "before the point estimates."
            )
        else:
            notes.append(
                f"The site has {site.n} patients ({cell(events)} events), at least Riley's minimum "
                f"sample size for external validation ({sample_size['required_n']})."
            )
    dev_lp = (bundle.manifest.get("development") or {}).get("linear_predictor")
    casemix: dict[str, Any] = {
        "linear_predictor": {
            "site": lp_summary(p),
            "development": dev_lp,
            "reference": (bundle.manifest.get("development") or {}).get("source", "the development data"),
        },
        "predictors": predictor_distributions(bundle.summary.predictors, site.X),
        "membership": None,
    }
    if development_data is not None:
        casemix["membership"] = membership_model(bundle, development_data.X, development_data.y, site.X, y)
    else:
        casemix["membership_note"] = (
            "The membership model (Debray et al. 2015) needs the development rows, which a "
            "model bundle never carries; supply them with --development-data to compute it."
        )
    return ValidationEvidence(
        run_id=new_run_id(),
        created=now(),
        model=model_record(model),
        outcome_definition=site.definition,
        site={
            "n": site.n,
            "events": events,
            "prevalence": events / site.n if site.n else None,
            "centres": int(len(np.unique(site.centres))),
            "data_digest": site.digest(),
            "mean_predicted_risk": float(np.mean(p)) if site.n else None,
            "dictionary_version": site.dictionary_version,
            "surgery_period": _period(site),
        },
        flow=site.flow,
        sample_size=sample_size,
        evaluation=evaluation,
        comparison=comparison_table(evaluation, development, thresholds),
        subgroups=subgroups,
        centres=centres,
        casemix=casemix,
        development=development,
        settings={"n_boot": n_boot, "seed": seed, "level": level, "thresholds": thresholds, "min_events": MIN_EVENTS},
        notes=notes,
    )


def cell(count: int) -> str:
    """A count as shown in text that leaves the site: fewer than 5 (but some) as "<5" (small-cell rule)."""
    return "<5" if 0 < count < SMALL_CELL else str(count)


def _period(site: SiteData) -> dict[str, str] | None:
    """First and last month of surgery (months, not dates: no exact extreme of a patient)."""
    dates = site.surgery_dates.dropna()
    if dates.empty:
        return None
    months = dates.astype("datetime64[ns]").dt.strftime("%Y-%m")
    return {"first_surgery": str(months.min()), "last_surgery": str(months.max())}
