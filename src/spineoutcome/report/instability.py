"""The report's "Prediction instability" section (Riley & Collins, Biometrical Journal 2023;
65:2200302): would another development sample of the same size have told a patient something
different?

It reads each family's ``instability`` record (the optimism bootstrap's models applied to the
original patients; see :mod:`spineoutcome.evaluation.instability`) and shows, for the selected model
and the reference model, the prediction instability plot, MAPE and classification instability by
risk, and the calibration and decision-curve instability plots; a table gives every family's
summary and one the decision thresholds. Older Evidence, or a run without a bootstrap, gets a note.
"""

from __future__ import annotations

from typing import Any

from spineoutcome.modeling.families import is_reference

from . import blocks as B
from . import instability_figures as IF
from . import numbers as fmt
from .figures import family_name
from .sections import Document


def instability_records(ev: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Each family's instability record, the selected family first; families without one are left out."""
    families = ev.get("families") or {}
    best = ev.get("best_family")
    order = [f for f in [best, *families] if f in families]
    return {f: families[f]["instability"] for f in dict.fromkeys(order) if families[f].get("instability")}


def shown_families(ev: dict[str, Any], records: dict[str, dict[str, Any]]) -> list[str]:
    """The families drawn: the selected model and the reference model (logistic regression)."""
    best = ev.get("best_family")
    return [f for f in records if f == best or is_reference(f)]


def difference_sentence(record: dict[str, Any], family: str) -> str:
    """The sentence "For 23.0 % of patients the predicted risk ... could differ by more than 5 percentage
    points in another development sample of this size (...)", without its full stop."""
    d = record.get("difference")
    points = fmt.num(100 * d, digits=0) if fmt.finite(d) else fmt.MISSING
    return (
        f"For {fmt.percent(record.get('share_beyond_difference'))} of patients the predicted risk of the "
        f"{family_name(family)} model could differ by more than {points} percentage points in another development "
        f"sample of this size (the 95 % range of {fmt.integer(record.get('replicates_used'))} bootstrap models' "
        "predictions reaches further than that from the final model's)"
    )


def summary_table(records: dict[str, dict[str, Any]], best: str | None) -> dict[str, Any]:
    """One row per family: bootstrap models, MAPE, median width of the 95 % range, share beyond d."""
    rows = []
    for family, r in records.items():
        q = r.get("mape_quantiles") or {}
        rows.append(
            [
                family_name(family) + (" (selected)" if family == best else ""),
                f"{fmt.integer(r.get('replicates_used'))} of {fmt.integer(r.get('replicates'))}",
                fmt.num(r.get("mape"), "ici"),
                f"{fmt.num(q.get('q50'), 'ici')} ({fmt.num(q.get('q90'), 'ici')})",
                fmt.percent(r.get("interval_width_median")),
                fmt.percent(r.get("share_beyond_difference")),
            ]
        )
    return B.table(
        [
            "Model",
            "Bootstrap models",
            "MAPE",
            "Patient MAPE: median (90th centile)",
            "Median width of a patient's 95 % range",
            "Patients whose risk could differ by > 5 points",
        ],
        rows,
        widths=["3.2cm", "1.9cm", "1.2cm", "1fr", "1fr", "1fr"],
        align=["l", "r", "r", "r", "r", "r"],
        caption="Prediction instability of every model: mean absolute prediction error (MAPE, mean over patients "
        "of the mean absolute difference between the bootstrap models' and the final model's risk), the width "
        "of a patient's 95 % range of bootstrap risks, and the share of patients whose range reaches more than "
        "5 percentage points from their risk.",
        id="tab-instability",
    )


def threshold_table(records: dict[str, dict[str, Any]], shown: list[str]) -> dict[str, Any] | None:
    """At each decision threshold: share classified high risk, mean CII, patients with CII > 0.1 and
    > 0.2, and the net benefit with the bootstrap models' 95 % range."""
    rows = []
    for family in shown:
        r = records[family]
        nb = {row.get("threshold"): row for row in r.get("net_benefit_at_thresholds") or []}
        for c in r.get("classification") or []:
            t = c.get("threshold")
            above = c.get("share_above") or {}
            benefit = nb.get(t) or {}
            rows.append(
                [
                    family_name(family),
                    fmt.threshold(t),
                    fmt.percent(c.get("share_treated")),
                    fmt.num(c.get("mean"), digits=3),
                    fmt.percent(above.get("0.1")),
                    fmt.percent(above.get("0.2")),
                    f"{fmt.num(benefit.get('original'), 'nb')} "
                    f"({fmt.interval(benefit.get('low'), benefit.get('high'), 'nb')})",
                ]
            )
    if not rows:
        return None
    return B.table(
        [
            "Model",
            "Threshold",
            "At or above it",
            "Mean CII",
            "CII > 0.1",
            "CII > 0.2",
            "Net benefit (range of bootstrap models)",
        ],
        rows,
        widths=["3.2cm", "1.5cm", "1.6cm", "1.4cm", "1.3cm", "1.3cm", "1fr"],
        align=["l", "r", "r", "r", "r", "r", "r"],
        caption="Classification instability at the prespecified thresholds: the classification instability index "
        "(CII) of a patient is the share of bootstrap models that put the patient on the other side of the "
        "threshold than the final model; the columns give its mean and the shares of patients above 0.1 and 0.2. "
        "Net benefit in the development patients, of the final model and (95 % range) of the bootstrap models.",
        id="tab-instability-thresholds",
    )


def instability(doc: Document) -> None:
    """Prediction, classification, calibration and decision-curve instability (items 12e, 23a)."""
    ev = doc.ev
    best = ev.get("best_family")
    doc.add(B.h(1, "Prediction instability", "sec-instability"))
    records = instability_records(ev)
    if not records:
        doc.add(
            B.callout(
                "missing",
                "Prediction instability needs the models of the optimism bootstrap, which this run did not fit or "
                "this Evidence does not hold (",
                B.m("families.*.instability"),
                ").",
            )
        )
        return
    shown = shown_families(ev, records)
    doc.add(
        B.p(
            "Would another development sample of the same size have told a patient something different? Following "
            "Riley and Collins (Biometrical Journal 2023;65:2200302), each model of the optimism bootstrap, developed "
            "in the same way on a bootstrap sample of the development data, was applied to the original patients "
            "and its predicted risks compared with the final model's. A stable model's bootstrap risks stay close "
            "to the final model's; wide ranges mean that an individual's risk depends on the particular sample. "
            "Per-patient values are not shown: patients are grouped by their risk into bins of at least "
            f"{fmt.integer(next(iter(records.values())).get('min_cell'))} patients."
        )
    )
    if best in records:
        doc.add(B.p(difference_sentence(records[best], best) + "."))
    doc.add(summary_table(records, best))
    chosen = {f: records[f] for f in shown}
    names = " and ".join(family_name(f) for f in shown)
    doc.figure(
        IF.prediction_instability(chosen, doc.fig_path("instability_predictions")),
        f"Prediction instability plot ({names}): each bootstrap model's predicted risk for each development "
        "patient against the final model's, as a shaded two-dimensional histogram (cells with fewer than "
        f"{fmt.integer(next(iter(chosen.values())).get('min_cell'))} patients are blank), with the median and "
        "the 2.5th and 97.5th percentiles of the bootstrap risks in each bin of the final model's risk.",
        "fig-instability-predictions",
        missing="Prediction instability plot",
    )
    doc.figure(
        IF.mape_by_risk(chosen, doc.fig_path("instability_mape")),
        "Mean absolute prediction error (MAPE) and classification instability index (CII) at the prespecified "
        "thresholds (dotted vertical lines), by bin of the final model's risk. The CII is highest near a "
        "threshold; a high CII far from it means an unstable model.",
        "fig-instability-mape",
        missing="MAPE and classification instability by risk",
    )
    doc.add(threshold_table(records, shown))
    doc.figure(
        IF.calibration_instability(chosen, doc.fig_path("instability_calibration")),
        "Calibration instability: loess calibration curves of the bootstrap models in the development patients "
        "(a sample in grey), their pointwise 95 % range (dashed) and the final model's curve, between the 1st and "
        "99th centiles of the final model's risks.",
        "fig-instability-calibration",
        missing="Calibration instability plot",
    )
    thresholds = (ev.get("pipeline") or {}).get("thresholds") or []
    doc.figure(
        IF.decision_instability(
            chosen, thresholds, (ev.get("data") or {}).get("prevalence"), doc.fig_path("instability_decision")
        ),
        "Decision-curve instability: net benefit of the bootstrap models in the development patients (a sample "
        "in grey), their pointwise 95 % range (dashed) and the final model's; dotted lines mark the prespecified "
        "thresholds.",
        "fig-instability-decision",
        missing="Decision-curve instability plot",
    )
