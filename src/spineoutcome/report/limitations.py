"""Limitations that follow from the Evidence itself (TRIPOD+AI item 26).

Each finding has a stable ``code`` (for the model card and for tests), a sentence for the report
(numbers formatted by ``numbers.py``) and the raw ``values`` behind it. The rules:

- ``sample_size``: the development data do not meet Riley's minimum sample size (events per
  candidate parameter below the target, expected shrinkage below 0.9); the logistic regression's
  cross-validated calibration slope says whether the expected overfitting showed.
- ``local_calibration``: the O:E ratio of the selected model varied across held-out centres, so
  calibration must be checked locally before use (range, prediction interval, I²).
- ``care_choice``: a predictor that is a decision of care (pipeline ``care_choices``): discrimination
  within its levels, and the model cannot tell which choice lowers the risk (an association).
- ``subgroup_too_few_events``: subgroups too small to judge performance in (status "too_few_events").
- ``miscalibration``: cross-validated calibration slope or O:E ratio outside [0.8, 1.2].
- ``optimism_disagreement``: for a flexible learner (``flexible`` in the model-family registry) or any
  tuned family, the bootstrap optimism-corrected AUC and the nested cross-validated AUC differ by more
  than 0.03 (the bootstrap with fixed hyperparameters does not count tuning optimism, and tree
  ensembles nearly memorise their bootstrap samples). The repeated development cohorts of
  ``benchmarks/bench_honesty.py`` showed it for the tuned elastic net of OPLL progression, whose
  corrected AUC was optimistic whether or not the tuning was repeated in every replicate, while the
  nested cross-validated AUC was not.
- ``centres_not_tested``: centres pooled out of internal-external validation (too few events).
- ``centre_heterogeneity``: the 95 % prediction interval of the AUC in a new centre reaches 0.6 or below.
- ``no_advantage_over_logistic``: the paired AUC difference of the best learner against logistic
  regression has a CI that includes 0.
- ``prediction_instability``: for the selected model, at least 5 % of patients have a 95 % range of
  bootstrap-model risks reaching more than 5 percentage points from their risk (Riley & Collins 2023).
- ``missing_data``: predictors with more than 20 % missing values (single imputation with indicators).
- ``dropped_predictors``: pre-specified predictors that could not be used.
- ``class_weights``: class weights distort predicted risks.
- ``internal_validation_only``: no temporal or external validation.
- ``survival_uncertainty``: for time-to-event Evidence, calibration by fifths only, Harrell's C on interval midpoints.
"""

from __future__ import annotations

from typing import Any

from spineoutcome import metrics
from spineoutcome.modeling.families import is_flexible

from . import numbers as fmt
from .instability import difference_sentence

CALIBRATION_RANGE = (0.8, 1.2)
OPTIMISM_TOLERANCE = 0.03
MISSING_SHARE = 0.20
PI_AUC_FLOOR = 0.6
UNSTABLE_SHARE = 0.05


def centre_calibration(evidence: dict[str, Any], family: str) -> dict[str, Any] | None:
    """O:E across the held-out centres of internal-external validation: the lowest and highest centre,
    the pooled 95 % prediction interval for a new centre and I² (None without internal-external results)."""
    het = ((evidence.get("families", {}).get(family) or {}).get("internal_external") or {}).get("heterogeneity") or {}
    ratios = [(c.get("centre"), _value(c.get("oe_ratio"))) for c in het.get("centres") or []]
    ratios = [(c, r) for c, r in ratios if fmt.finite(r)]
    if len(ratios) < 2:
        return None
    low = min(ratios, key=lambda cr: cr[1])
    high = max(ratios, key=lambda cr: cr[1])
    return {
        "k": len(ratios),
        "low": low[1],
        "low_centre": low[0],
        "high": high[1],
        "high_centre": high[0],
        "prediction_interval": het.get("pooled_oe_prediction_interval"),
        "i2": ((het.get("pooled") or {}).get("log_oe") or {}).get("i2"),
        "pooled_auc": het.get("pooled_auc"),
        "auc_prediction_interval": het.get("pooled_auc_prediction_interval"),
    }


def _value(record: Any) -> Any:
    """The value of an estimate record ``{"value", "ci_low", ...}`` (or a bare number)."""
    return record.get("value") if isinstance(record, dict) else record


def within_level_auc(evidence: dict[str, Any], family: str, variable: str) -> list[tuple[str, float]]:
    """The cross-validated AUC within each level of ``variable`` that had enough events to estimate it."""
    rows = (evidence.get("families", {}).get(family) or {}).get("subgroups") or []
    return [
        (str(r["group"]), float(r["estimate"]))
        for r in rows
        if r.get("grouping") == variable and r.get("metric") == "auc" and fmt.finite(r.get("estimate"))
    ]


def care_choices(evidence: dict[str, Any]) -> list[str]:
    """The pipeline's predictors that are decisions of care (``care_choices``)."""
    return list((evidence.get("pipeline") or {}).get("care_choices") or [])


def variable_label(evidence: dict[str, Any], name: str) -> str:
    """A predictor's readable name: the dictionary's label, else the column name with spaces."""
    for p in (evidence.get("data") or {}).get("predictors") or []:
        if p.get("name") == name and p.get("label"):
            return str(p["label"])
    return name.replace("_", " ")


def family_label(family: str) -> str:
    """The family's display name in a limitation sentence."""
    from .figures import family_name

    return family_name(family)


def derive_limitations(evidence: dict[str, Any]) -> list[dict[str, Any]]:
    """Limitations visible in the Evidence, most important first."""
    out: list[dict[str, Any]] = []
    families: dict[str, dict[str, Any]] = evidence.get("families", {})
    best = evidence.get("best_family")
    survival = evidence.get("task", {}).get("kind") not in (None, "binary")
    data = evidence.get("data", {})

    ss = evidence.get("sample_size") or {}
    if ss.get("available") and ss.get("required"):
        avail, req = ss["available"], ss["required"]
        if not avail.get("meets_criteria", True) or (avail.get("epp") or 0) < (req.get("epp") or 0):
            out.append(
                {
                    "code": "sample_size",
                    "values": {
                        "n": avail.get("n"),
                        "events": avail.get("events"),
                        "epp": avail.get("epp"),
                        "required_n": req.get("n"),
                        "required_events": req.get("events"),
                        "required_epp": req.get("epp"),
                        "expected_shrinkage": avail.get("expected_shrinkage"),
                        "n_parameters": ss.get("n_parameters"),
                    },
                    "text": (
                        f"The development data are below Riley's minimum sample size: {fmt.integer(avail.get('n'))} "
                        f"patients with {fmt.integer(avail.get('events'))} events for "
                        f"{fmt.integer(ss.get('n_parameters'))} "
                        f"candidate parameters ({fmt.num(avail.get('epp'), 'epp')} events per parameter; "
                        f"required {fmt.integer(req.get('n'))} patients, {fmt.integer(req.get('events'))} events, "
                        f"{fmt.num(req.get('epp'), 'epp')} per parameter). Expected shrinkage "
                        f"{fmt.num(avail.get('expected_shrinkage'), 'shrinkage')} (target "
                        f"{fmt.num(req.get('shrinkage_target'), 'shrinkage')}): a regression model fitted to data "
                        "of this size is expected to overfit, with predictions too extreme in new patients."
                        + _logistic_slope_text(families)
                    ),
                }
            )
    elif not survival:
        out.append(
            {"code": "sample_size", "values": {}, "text": "No sample-size assessment is available in this Evidence."}
        )

    if best and best in families:
        small = [
            r
            for r in families[best].get("subgroups", [])
            if r.get("status") == "too_few_events" and r.get("metric") == "auc"
        ]
        if small:
            names = [
                f"{r['grouping'].replace('_', ' ')} {r['group']} ("
                + (f"{fmt.integer(r['n_events'])} events)" if fmt.finite(r.get("n_events")) else "too few to report)")
                for r in small
            ]
            out.append(
                {
                    "code": "subgroup_too_few_events",
                    "values": {
                        "subgroups": [
                            {"grouping": r["grouping"], "group": r["group"], "n": r["n"], "n_events": r["n_events"]}
                            for r in small
                        ]
                    },
                    "text": "Too few events to judge performance in: "
                    + "; ".join(names)
                    + ". Performance in these groups is unknown, not shown to be adequate.",
                }
            )

    if best and (centres := centre_calibration(evidence, best)):
        pi, i2 = centres["prediction_interval"], centres["i2"]
        out.append(
            {
                "code": "local_calibration",
                "values": {"family": best} | centres,
                "text": f"Calibration differs between hospitals: the selected model's O:E ratio ranged from "
                f"{fmt.num(centres['low'], 'oe')} ({centres['low_centre']}) to {fmt.num(centres['high'], 'oe')} "
                f"({centres['high_centre']}) across {centres['k']} held-out centres"
                + (f" (95 % prediction interval for a new centre {fmt.interval(pi[0], pi[1], 'oe')}" if pi else " (")
                + (f", I² {fmt.num(100 * i2, digits=0)} %)" if fmt.finite(i2) else ")")
                + ". A hospital must check calibration on its own patients (and recalibrate if needed) before "
                "using the predicted risks.",
            }
        )

    for variable in care_choices(evidence):
        levels = within_level_auc(evidence, best, variable) if best else []
        overall = (metrics.estimate((families.get(best) or {}).get("cross_validation"), "auc") or {}).get("value")
        label = variable_label(evidence, variable)
        aucs = [a for _, a in levels]
        within = (
            f" Within each level of {label.lower()} the AUC was {fmt.interval(min(aucs), max(aucs), 'auc')} "
            f"against {fmt.num(overall, 'auc')} overall: much of the discrimination restates the {label.lower()}."
            if aucs and fmt.finite(overall)
            else ""
        )
        out.append(
            {
                "code": "care_choice",
                "values": {"variable": variable, "within_level_auc": dict(levels), "overall_auc": overall},
                "text": f"{label} is a decision of care and an input of the model: its association with the risk is "
                f"not the effect of choosing it, so the model cannot tell which {label.lower()} lowers the risk."
                + within,
            }
        )

    lo, hi = CALIBRATION_RANGE
    for family, rec in families.items():
        slope_estimate = metrics.estimate(rec.get("cross_validation"), "calibration_slope")
        oe_estimate = metrics.estimate(rec.get("cross_validation"), "oe_ratio")
        slope = (slope_estimate or {}).get("value")
        oe = (oe_estimate or {}).get("value")
        bad = []
        if slope is not None and not lo <= slope <= hi:
            bad.append(f"calibration slope {fmt.est(slope_estimate, 'slope')}")
        if oe is not None and not lo <= oe <= hi:
            bad.append(f"O:E ratio {fmt.est(oe_estimate, 'oe')}")
        if bad:
            direction = ""
            if slope is not None and slope < lo:
                direction = " A slope below 1 means predictions are too extreme (overfitting)."
            elif slope is not None and slope > hi:
                direction = " A slope above 1 means predictions are too moderate."
            out.append(
                {
                    "code": "miscalibration",
                    "values": {"family": family, "slope": slope, "oe_ratio": oe},
                    "text": f"{family_label(family)}: cross-validated {' and '.join(bad)} outside "
                    f"[{fmt.num(lo, 'slope')}, {fmt.num(hi, 'slope')}].{direction}",
                }
            )

    for family, rec in families.items():
        opt = rec.get("optimism") or {}
        corrected = metrics.point(opt.get("corrected"), "auc")
        cv = (metrics.estimate(rec.get("cross_validation"), "auc") or {}).get("value")
        fixed = opt.get("mode") == "fixed_hyperparameters"
        tuned = any((t or {}).get("n_trials") for t in rec.get("tuning") or [])
        if (
            (is_flexible(family) or tuned)
            and corrected is not None
            and cv is not None
            and abs(corrected - cv) > OPTIMISM_TOLERANCE
        ):
            cause = (
                "For a flexible learner the bootstrap correction"
                + (" with fixed hyperparameters" if fixed else "")
                + " understates optimism"
                if is_flexible(family)
                else "For a tuned model the bootstrap correction can understate optimism"
                + (" (its hyperparameters were kept fixed in the bootstrap)" if fixed else "")
            )
            out.append(
                {
                    "code": "optimism_disagreement",
                    "values": {
                        "family": family,
                        "optimism_corrected_auc": corrected,
                        "cross_validated_auc": cv,
                        "bootstrap_mode": opt.get("mode"),
                    },
                    "text": f"{family_label(family)}: the optimism-corrected AUC ({fmt.num(corrected, 'auc')}) and "
                    f"the cross-validated AUC ({fmt.num(cv, 'auc')}) disagree. {cause}; the nested "
                    "cross-validated value, which repeats the tuning in every fold, is the honest estimate.",
                }
            )

    untested = sorted(
        {c for rec in families.values() for c in ((rec.get("internal_external") or {}).get("centres_not_tested") or [])}
    )
    if untested:
        out.append(
            {
                "code": "centres_not_tested",
                "values": {"centres": untested},
                "text": f"Centres not tested in internal-external validation (too few events to evaluate): "
                f"{', '.join(untested)}. Performance there was not assessed separately.",
            }
        )

    for family, rec in families.items():
        het = (rec.get("internal_external") or {}).get("heterogeneity") or {}
        pi = het.get("pooled_auc_prediction_interval")
        if pi and pi[0] is not None and pi[0] <= PI_AUC_FLOOR and family in (best, "logistic"):
            out.append(
                {
                    "code": "centre_heterogeneity",
                    "values": {"family": family, "prediction_interval": pi},
                    "text": f"{family_label(family)}: the 95 % prediction interval for the AUC in a new centre is "
                    f"{fmt.interval(pi[0], pi[1], 'auc')}; discrimination in a new hospital may be poor.",
                }
            )

    if best and best != "logistic" and best in families:
        comp = (families[best].get("comparison_to_logistic") or {}).get("auc_delong") or {}
        diff = comp.get("difference") or {}
        if (
            fmt.finite(diff.get("ci_low"))
            and fmt.finite(diff.get("ci_high"))
            and diff["ci_low"] <= 0 <= diff["ci_high"]
        ):
            out.append(
                {
                    "code": "no_advantage_over_logistic",
                    "values": {"family": best, "auc_difference": diff},
                    "text": f"The selected model ({family_label(best)}) does not discriminate better than logistic "
                    f"regression: AUC difference {fmt.est(diff, 'auc')} on the same patients.",
                }
            )

    instability = (families.get(best) or {}).get("instability") or {}
    share = instability.get("share_beyond_difference")
    if fmt.finite(share) and share >= UNSTABLE_SHARE:
        out.append(
            {
                "code": "prediction_instability",
                "values": {"family": best, "share": share, "difference": instability.get("difference")},
                "text": difference_sentence(instability, best)
                + ". An individual's risk should be read with that uncertainty (prediction instability section).",
            }
        )

    heavy = [m for m in evidence.get("missing_data", []) if (m.get("fraction") or 0) > MISSING_SHARE]
    if heavy:
        out.append(
            {
                "code": "missing_data",
                "values": {"variables": [m["variable"] for m in heavy]},
                "text": "More than 20 % missing: "
                + ", ".join(f"{m['variable']} ({fmt.percent(m['fraction'])})" for m in heavy)
                + ". Single imputation with missing indicators; predictions for patients with these values "
                "missing rely on the imputation model.",
            }
        )

    dropped = data.get("dropped_predictors") or {}
    if dropped:
        out.append(
            {
                "code": "dropped_predictors",
                "values": dropped,
                "text": "Pre-specified predictors not used: "
                + "; ".join(f"{k} ({v})" for k, v in dropped.items())
                + ".",
            }
        )

    weighted = [f for f, r in families.items() if (r.get("specification") or {}).get("class_weight")]
    if weighted:
        out.append(
            {
                "code": "class_weights",
                "values": {"families": weighted},
                "text": "Class weights were used for "
                + ", ".join(family_label(f) for f in weighted)
                + ": predicted risks are shifted upwards unless recalibrated.",
            }
        )

    if not any(r.get("temporal") for r in families.values()):
        out.append(
            {
                "code": "internal_validation_only",
                "values": {},
                "text": "Validation is internal"
                + (
                    " (cross-validation, bootstrap, internal-external by centre)"
                    if any(r.get("internal_external") for r in families.values())
                    else " (cross-validation)"
                )
                + "; there is no temporal or fully external validation. External validation is the next step.",
            }
        )

    if survival:
        out.append(
            {
                "code": "survival_uncertainty",
                "values": {},
                "text": "Time-to-event Evidence: calibration is assessed only by fifths of predicted risk at the "
                "horizon, Harrell's C is computed on interval midpoints, and no sample-size, subgroup, "
                "optimism or SHAP analysis is available.",
            }
        )
    return out


def _logistic_slope_text(families: dict[str, dict[str, Any]]) -> str:
    """Whether the expected overfitting showed in the logistic regression's cross-validated slope."""
    slope = metrics.estimate((families.get("logistic") or {}).get("cross_validation"), "calibration_slope")
    if not fmt.finite((slope or {}).get("value")):
        return ""
    shown = "below 1: the overfitting showed" if slope["value"] < 1 else "not below 1: no sign of it"
    return f" The logistic regression's cross-validated calibration slope was {fmt.est(slope, 'slope')} ({shown})."
