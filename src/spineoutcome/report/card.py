"""Model card (JSON) of a run: intended use, data, metrics, subgroup metrics, limitations.

Built from the Evidence alone, like the PDF: aggregates only (counts, metrics with intervals,
definitions), never a patient key or a patient's row. Numbers are kept as numbers (not formatted
text) so the card can be read by programs; non-finite values become null, and the result always
passes ``json.dumps(card, allow_nan=False)``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from spineoutcome import metrics
from spineoutcome.jsonable import to_jsonable

from .figures import family_name
from .limitations import derive_limitations
from .render import prepare_evidence
from .tables import ordered_families

CARD_SCHEMA = "spineoutcome-model-card/1.0"
AUTHORS = "to be completed by the authors"
_ESTIMATE_KEYS = ("value", "ci_low", "ci_high", "level", "ci_method")


CARD_METRICS = (
    "auc",
    "calibration_intercept",
    "calibration_slope",
    "oe_ratio",
    "ici",
    "e50",
    "e90",
    "brier",
    "scaled_brier",
    "log_loss",
)
"""The cross-validated metrics a model card states (names of :mod:`spineoutcome.metrics`)."""
CARD_SUBGROUP_METRICS = ("auc", "oe_ratio", "calibration_intercept", "calibration_slope", "ici")
CARD_INSTABILITY = (
    "replicates_used",
    "level",
    "mape",
    "interval_width_median",
    "difference",
    "share_beyond_difference",
)
"""The prediction-instability summary a model card states (Riley & Collins, Biom J 2023): how far the
bootstrap models' risks stray from the final model's (mean absolute difference, median width of the
``level`` range) and the share of patients whose range reaches beyond ``difference``; aggregates only."""
CARD_NAMES = {"calibration_intercept": "calibration_in_the_large"}
"""Where the model card schema (1.0) names a metric otherwise than the package's vocabulary."""


def _card_name(name: str) -> str:
    return CARD_NAMES.get(name, name)


def _estimate(record: dict[str, Any] | None) -> dict[str, Any] | None:
    if not record:
        return None
    return {k: record.get(k) for k in _ESTIMATE_KEYS if k in record}


def _interval(pi: list[float] | None) -> dict[str, Any] | None:
    return {"low": pi[0], "high": pi[1], "level": 0.95} if pi else None


def _binary_metrics(rec: dict[str, Any]) -> dict[str, Any]:
    cv = rec.get("cross_validation") or {}
    out: dict[str, Any] = {
        "cross_validated": {_card_name(m): _estimate(metrics.estimate(cv, m)) for m in CARD_METRICS},
        "classification": [
            {
                "threshold": r["threshold"],
                **{k: _estimate(r.get(k)) for k in ("sensitivity", "specificity", "ppv", "npv")},
            }
            for r in (cv.get("classification") or {}).get("rows", [])
        ],
    }
    opt = rec.get("optimism")
    if opt:
        out["optimism_corrected"] = {
            "replicates": opt.get("replicates"),
            "mode": opt.get("mode"),
            "method": opt.get("method"),
            "apparent": opt.get("apparent"),
            "corrected": opt.get("corrected"),
        }
    unstable = rec.get("instability")
    if unstable:
        out["prediction_instability"] = {k: unstable.get(k) for k in CARD_INSTABILITY}
    iecv = rec.get("internal_external")
    if iecv:
        het = iecv.get("heterogeneity") or {}
        out["internal_external"] = {
            "n_tested": iecv.get("n_tested"),
            "centres_tested": len(het.get("centres") or []),
            "centres_not_tested": iecv.get("centres_not_tested") or [],
            "pooled_auc": _estimate(het.get("pooled_auc")),
            "auc_prediction_interval": _interval(het.get("pooled_auc_prediction_interval")),
            "pooled_oe_ratio": _estimate(het.get("pooled_oe_ratio")),
            "oe_prediction_interval": _interval(het.get("pooled_oe_prediction_interval")),
            "per_centre": [
                {
                    "centre": c["centre"],
                    "n": c["n"],
                    "n_events": c["n_events"],
                    "status": c["status"],
                    "auc": _estimate(c.get("auc")),
                    "oe_ratio": _estimate(c.get("oe_ratio")),
                    "calibration_slope": _estimate(c.get("slope")),
                }
                for c in het.get("centres") or []
            ],
        }
    comp = rec.get("comparison_to_logistic")
    if comp:
        delong = comp.get("auc_delong") or {}
        out["comparison_to_logistic"] = {
            "auc_difference": _estimate(delong.get("difference")),
            "p_value": delong.get("p_value"),
            "ici_difference": _estimate(comp.get("ici_difference")),
            "net_benefit_difference": [
                {"threshold": r["threshold"], **_estimate(r)} for r in comp.get("net_benefit_difference") or []
            ],
        }
    return out


def _survival_metrics(rec: dict[str, Any]) -> dict[str, Any]:
    cv = rec.get("cross_validation") or {}
    return {
        "cross_validated": {
            "harrell_c": _estimate(cv.get("harrell_c")),
            "horizon_days": cv.get("horizon_days"),
            "calibration_at_horizon": cv.get("calibration_at_horizon") or [],
        }
    }


def _subgroups(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    groups: dict[tuple[str, str], dict[str, Any]] = {}
    for r in rows:
        if r.get("grouping") == "overall":
            continue
        g = groups.setdefault(
            (r["grouping"], r["group"]),
            {
                "grouping": r["grouping"],
                "group": r["group"],
                "n": r["n"],
                "n_events": r["n_events"],
                "status": r["status"],
            },
        )
        if r["status"] != "ok":
            g["status"] = r["status"]
        name = metrics.metric(r["metric"]).name
        if name in CARD_SUBGROUP_METRICS and r["status"] == "ok":
            g[_card_name(name)] = {
                "value": r["estimate"],
                "ci_low": r["ci_low"],
                "ci_high": r["ci_high"],
                "difference_from_overall": r.get("difference"),
            }
    return list(groups.values())


def model_card(evidence: dict[str, Any] | str | Path) -> dict[str, Any]:
    """The model card of a run as plain JSON data (see module docstring)."""
    ev = prepare_evidence(evidence)
    task, data, pipe = ev.get("task", {}), ev.get("data", {}), ev.get("pipeline", {})
    best = ev.get("best_family")
    binary = task.get("kind", "binary") == "binary"
    families = ordered_families(ev)
    spec = (ev["families"].get(best) or {}).get("specification") or {}
    ss = ev.get("sample_size") or {}
    horizon = None if binary else (ev["families"][best]["cross_validation"] or {}).get("horizon_days")
    card = {
        "schema": CARD_SCHEMA,
        "model_details": {
            "name": task.get("name"),
            "run_id": ev.get("run_id"),
            "created": ev.get("created"),
            "selected_model": {
                "family": best,
                "name": family_name(best) if best else None,
                "estimator": spec.get("estimator"),
                "class_weight": spec.get("class_weight"),
                "imbalance_handling": spec.get("imbalance_handling"),
                "preprocessing": spec.get("preprocessing"),
            },
            "selection_rule": ev.get("selection_rule"),
            "families_compared": families,
            "software": ev.get("environment"),
            "evidence_schema": ev.get("schema_version"),
            "data_digest_sha256": data.get("digest"),
            "data_dictionary": data.get("dictionary"),
            "licence_and_access": AUTHORS,
        },
        "intended_use": {
            "purpose": task.get("description"),
            "outcome": task.get("outcome_definition"),
            "output": (
                "predicted probability of the outcome" if binary else f"predicted risk of the event by day {horizon}"
            ),
            "prespecified_thresholds": pipe.get("thresholds") or [],
            "action_at_threshold": (task.get("study") or {}).get("treatment") or AUTHORS,
            "population": {
                "eligibility": pipe.get("eligibility") or {},
                **{
                    k: v
                    for k, v in (task.get("study") or {}).items()
                    if k in ("population", "setting", "prediction_time", "data_source")
                },
            },
            "use": (task.get("study") or {}).get("intended_use") or AUTHORS,
            "intended_users": AUTHORS,
            "out_of_scope": [
                "patients outside the eligibility criteria or the predictors' validated ranges",
                "use of post-operative information as input",
                "use as a stand-alone decision rule; thresholds describe performance only",
                "centres or populations unlike the development centres without local validation",
            ],
        },
        "data": {
            "source": (task.get("study") or {}).get("data_source") or AUTHORS,
            "n": data.get("n"),
            "events": data.get("events"),
            "prevalence": data.get("prevalence"),
            "centres": data.get("centres"),
            "flow": [
                {"label": s["label"], "n": s["n"], "excluded": s.get("excluded") or {}} for s in ev.get("flow", [])
            ],
            "predictors": [
                {k: p.get(k) for k in ("name", "description", "unit", "dtype", "group", "table", "timing")}
                for p in data.get("predictors", [])
            ],
            "accrual": data.get("accrual"),
            "dropped_predictors": data.get("dropped_predictors") or {},
            "missing_data": [
                {"variable": m["variable"], "fraction": m.get("fraction")} for m in ev.get("missing_data", [])
            ],
            "missing_data_handling": pipe.get("imputation"),
            "sample_size": {
                "n_parameters": ss.get("n_parameters"),
                "required": (ss.get("required") or {}).get("n"),
                "required_events": (ss.get("required") or {}).get("events"),
                "events_per_parameter": (ss.get("available") or {}).get("epp"),
                "expected_shrinkage": (ss.get("available") or {}).get("expected_shrinkage"),
                "meets_criteria": (ss.get("available") or {}).get("meets_criteria"),
            }
            if ss
            else None,
        },
        "validation": {
            "folds": (pipe.get("validation") or {}).get("folds"),
            "repeats": (pipe.get("validation") or {}).get("repeats"),
            "tuning": pipe.get("tuning"),
            "bootstrap": (pipe.get("validation") or {}).get("bootstrap"),
            "internal_external": (pipe.get("validation") or {}).get("internal_external"),
            "temporal_split": (pipe.get("validation") or {}).get("temporal_split"),
        },
        "metrics": {f: (_binary_metrics if binary else _survival_metrics)(ev["families"][f]) for f in families},
        "subgroup_metrics": {
            f: _subgroups(ev["families"][f].get("subgroups") or [])
            for f in dict.fromkeys([best, "logistic"])
            if f in ev["families"]
        },
        "limitations": [{"code": x["code"], "text": x["text"], "values": x["values"]} for x in derive_limitations(ev)],
        "ethical_considerations": {
            "fairness": "performance and calibration reported by the subgroups in subgroup_metrics; groups with too "
            "few events are marked, not estimated",
            "privacy": "this card and the Evidence hold aggregates only; no patient key or patient-level row. "
            + ((ev.get("privacy") or {}).get("rule") or ""),
            "ethics_approval": AUTHORS,
        },
    }
    return to_jsonable(card)


def write_model_card(evidence: dict[str, Any] | str | Path, path: str | Path) -> Path:
    """Write the model card as strict JSON (no NaN) to ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(model_card(evidence), indent=1, ensure_ascii=False, allow_nan=False), encoding="utf-8")
    return path
