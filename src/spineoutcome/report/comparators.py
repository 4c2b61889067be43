"""Comparison with clinical rules: the rules and scores surgeons use today, next to the selected model.

Reads the Evidence's ``comparators`` record (:mod:`spineoutcome.experiment.comparators`): a table of
discrimination and classification (AUC with the paired DeLong test against the model, sensitivity,
specificity, share flagged), a table of net benefit at the prespecified thresholds with the model's
paired difference and a plain verdict, and a figure of the rules' net benefit next to the model's
decision curve. The key results state whether the model beats each rule on net benefit, and the
deployment rule that a model that does not beat the rule should not be deployed.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib import rc_context
from matplotlib.figure import Figure

from spineoutcome.evaluation.comparators import not_beaten

from . import blocks as B
from . import numbers as fmt
from .figures import GREY, STYLE, TEXT_WIDTH, decision_axes, family_colour, family_name, floats
from .sections import Document

COMPARATOR_COLOURS = ["#D55E00", "#CC79A7", "#009E73", "#56B4E9", "#F0E442", "#000000"]
VERDICT = {
    "model_better": "model better",
    "comparator_better": "{kind} better",
    "no_clear_difference": "no clear difference",
    "not_estimable": fmt.NOT_ESTIMABLE,
}


def _evaluated(ev: dict[str, Any]) -> list[dict[str, Any]]:
    return [c for c in ((ev.get("comparators") or {}).get("comparators") or []) if c.get("result")]


def _verdict(row: dict[str, Any], kind: str) -> str:
    return VERDICT.get(row.get("verdict", "not_estimable"), fmt.NOT_ESTIMABLE).format(kind=kind)


def key_results(ev: dict[str, Any]) -> list[dict[str, Any]]:
    """Key-results blocks: whether the model beats each rule on net benefit at the prespecified thresholds,
    and what that means for deployment at the first threshold (the one the promotion gate uses)."""
    record = ev.get("comparators") or {}
    evaluated = _evaluated(ev)
    thresholds = [t for t in record.get("thresholds") or [] if fmt.finite(t)]
    if not evaluated or not thresholds:
        return []
    items = []
    for comparator in evaluated:
        kind = comparator.get("kind", "rule")
        by_verdict: dict[str, list[str]] = {}
        for row in comparator["result"].get("net_benefit") or []:
            by_verdict.setdefault(_verdict(row, kind), []).append(fmt.threshold(row.get("threshold")))
        said = "; ".join(f"{verdict} at {', '.join(ts)}" for verdict, ts in by_verdict.items())
        items.append([B.b(comparator["name"]), f": {said}."])
    first = thresholds[0]
    behind, _ = not_beaten(record, first)
    unclear = [
        c["name"]
        for c in evaluated
        for row in c["result"].get("net_benefit") or []
        if fmt.finite(row.get("threshold"))
        and abs(row["threshold"] - first) < 1e-9
        and row.get("verdict") != "model_better"
    ]
    gate = f"At {fmt.threshold(first)}, the threshold the deployment gate uses, the model's net benefit is "
    if behind:
        closing = (
            gate + f"not above that of {', '.join(behind)}: a model that does not beat the rule should not be "
            "deployed for this decision."
        )
    elif unclear:
        closing = (
            gate + "above every rule's, but the interval includes no difference for "
            f"{', '.join(unclear)}: the gain over these is uncertain."
        )
    else:
        closing = gate + "above every rule's, with every interval above zero."
    return [
        B.p(
            "Compared with the rules clinicians use today (",
            B.ref("sec-rules"),
            "), on the same patients, by net benefit (model minus rule, paired bootstrap 95 % intervals) at the "
            f"prespecified thresholds of {', '.join(fmt.threshold(t) for t in thresholds)}:",
        ),
        B.bullets(*items),
        B.p(closing),
    ]


def key_rows(ev: dict[str, Any]) -> list[tuple[str, str]]:
    """One title-page row: the comparators the model does or does not beat on net benefit at the first threshold."""
    record = ev.get("comparators") or {}
    thresholds = [t for t in record.get("thresholds") or [] if fmt.finite(t)]
    if not _evaluated(ev) or not thresholds:
        return []
    behind, _ = not_beaten(record, thresholds[0])
    names = [c["name"] for c in _evaluated(ev)]
    at = f"net benefit at {fmt.threshold(thresholds[0])}"
    if behind:
        return [("Clinical rules", f"{at}: not above {', '.join(behind)} (not to be deployed for this decision)")]
    return [("Clinical rules", f"{at}: above {', '.join(names)}")]


def section(doc: Document) -> None:
    """Comparison with clinical rules (item 25: interpretation against current practice)."""
    ev = doc.ev
    record = ev.get("comparators") or {}
    doc.add(B.h(1, "Comparison with clinical rules", "sec-rules"))
    if not record.get("comparators"):
        doc.add(
            B.callout(
                "info",
                "The pipeline named no clinical rule or score to compare the model with (field ",
                B.m("comparators"),
                "). A model should be compared with the rule used in clinic before it replaces it.",
            )
        )
        return
    family = family_name(record.get("family", ev.get("best_family", "")))
    doc.add(
        B.p(
            f"Each rule or score named in the pipeline was evaluated on the same {fmt.integer(ev['data'].get('n'))} "
            f"patients as the models and compared with the selected model ({family}) on its cross-validated "
            "predictions. A rule learns nothing, so it is its own out-of-fold prediction; a score was turned into "
            "risks by a one-variable logistic model fitted inside the same cross-validation folds. As a treatment "
            "policy a rule treats whom it flags: its net benefit at threshold t is TP/n − FP/n × t/(1 − t). "
            f"Differences in net benefit have paired bootstrap 95 % intervals ({fmt.integer(record.get('replicates'))} "
            "replicates); the verdict reads the interval. ",
            record.get("missing_values", ""),
        )
    )
    doc.add(_sources(record))
    doc.add(_discrimination(record))
    doc.add(_net_benefit(record))
    doc.figure(
        decision_figure(ev, doc.fig_path("rules_decision")),
        f"Net benefit of the selected model ({family}) and of each clinical rule or score as a treatment policy, "
        "against treating all and treating none; dotted lines mark the prespecified thresholds.",
        "fig-rules",
        missing="Decision curves of the clinical rules",
    )
    skipped = [c for c in record["comparators"] if c.get("not_evaluated")]
    if skipped:
        doc.add(
            B.callout("missing", "Not evaluated: " + "; ".join(f"{c['name']} ({c['not_evaluated']})" for c in skipped))
        )


def _sources(record: dict[str, Any]) -> dict[str, Any]:
    rows = [
        [
            B.cell(c["name"], b=True),
            B.cell(c.get("kind", "")),
            B.cell(c.get("expression", ""), i=True),
            B.cell(" ".join(x for x in (c.get("description", ""), c.get("source", "")) if x)),
        ]
        for c in record["comparators"]
    ]
    return B.table(
        ["Comparator", "Kind", "Definition", "Description and source"],
        rows,
        widths=["2.8cm", "1.1cm", "3.4cm", "1fr"],
        align=["l", "l", "l", "l"],
        size=7.5,
        id="tab-rules-sources",
        caption="The clinical rules and scores, as written in the pipeline (values in the data dictionary's units).",
    )


def _discrimination(record: dict[str, Any]) -> dict[str, Any] | None:
    rows = []
    for c in _evaluated({"comparators": record}):
        result = c["result"]
        auc = result.get("auc") or {}
        first = (result.get("classification") or [{}])[0]
        rule = c.get("kind") == "rule"
        rows.append(
            [
                B.cell(c["name"], b=True),
                fmt.est(auc.get("auc_b"), "auc") if auc else f"{fmt.NOT_ESTIMABLE} ({result.get('auc_note', '')})",
                (f"{fmt.est(auc.get('difference'), 'auc')}; {fmt.p_value(auc.get('p_value'))}" if auc else fmt.MISSING),
                fmt.est(first.get("sensitivity"), "sens") if rule else "by threshold",
                fmt.est(first.get("specificity"), "spec") if rule else "by threshold",
                fmt.est(first.get("ppv"), "ppv") if rule else "by threshold",
                fmt.est(first.get("npv"), "npv") if rule else "by threshold",
                fmt.percent((result.get("share_flagged") or {}).get("value")) if rule else "–",
                fmt.integer(result.get("n_missing")),
            ]
        )
    if not rows:
        return None
    return B.table(
        [
            "Comparator",
            "AUC",
            "Model − comparator AUC (DeLong)",
            "Sensitivity",
            "Specificity",
            "PPV",
            "NPV",
            "Flagged",
            "Not evaluable",
        ],
        rows,
        widths=["2.0cm", "1fr", "1.2fr", "1fr", "1fr", "1fr", "1fr", "1.5cm", "1.6cm"],
        align=["l", "r", "r", "r", "r", "r", "r", "r", "r"],
        size=7,
        id="tab-rules-auc",
        caption="Discrimination of each comparator and paired DeLong comparison with the selected model on the same "
        "patients (for a score: the patients with a score). A rule's AUC is (sensitivity + specificity) / 2; PPV and "
        "NPV: the share with the outcome among the patients it flags and among those it does not (Wilson 95 % CIs). "
        "Not evaluable: patients the rule or score could not be computed for (a rule then flags no one).",
    )


def _net_benefit(record: dict[str, Any]) -> dict[str, Any] | None:
    rows = []
    for c in _evaluated({"comparators": record}):
        for i, row in enumerate(c["result"].get("net_benefit") or []):
            rows.append(
                [
                    B.cell(c["name"] if i == 0 else "", b=True),
                    fmt.threshold(row.get("threshold")),
                    fmt.num(row.get("comparator"), "nb"),
                    fmt.num(row.get("model"), "nb"),
                    fmt.num(row.get("treat_all"), "nb"),
                    fmt.est(row.get("difference"), "nb"),
                    B.cell(_verdict(row, c.get("kind", "rule")), b=row.get("verdict") == "model_better"),
                ]
            )
    if not rows:
        return None
    return B.table(
        ["Comparator", "Threshold", "NB comparator", "NB model", "NB treat all", "Model − comparator", "Verdict"],
        rows,
        widths=["2.6cm", "1.3cm", "1fr", "1fr", "1fr", "2fr", "1.5fr"],
        align=["l", "r", "r", "r", "r", "r", "l"],
        size=7,
        id="tab-rules-nb",
        caption="Net benefit (net true positives per patient) of each comparator as a treatment policy and of the "
        "selected model at the prespecified thresholds; model minus comparator with a paired bootstrap 95 % CI. "
        "Verdict: model better when the interval lies above 0, comparator better when below.",
    )


def decision_figure(ev: dict[str, Any], path: Path) -> Path | None:
    """The selected model's decision curve with each comparator's net-benefit curve (dashed)."""
    record = ev.get("comparators") or {}
    family = record.get("family") or ev.get("best_family")
    model = ((ev.get("families") or {}).get(family) or {}).get("cross_validation", {}).get("decision_curve")
    evaluated = _evaluated(ev)
    if not model or not evaluated:
        return None
    t = floats(model.get("thresholds"))
    nb_model = floats(model.get("nb_model"))
    nb_all = floats(model.get("nb_all"))
    prevalence = model.get("prevalence") if fmt.finite(model.get("prevalence")) else 0.1
    thresholds = [x for x in record.get("thresholds") or [] if fmt.finite(x)]
    x_max = min(1.0, math.ceil(max([*thresholds, prevalence * 2, 0.1]) * 1.6 / 0.05 + 1e-9) * 0.05)
    keep = np.isfinite(t) & (t <= x_max)
    with rc_context(STYLE):
        fig = Figure(figsize=(TEXT_WIDTH, 3.0))  # no pyplot: no global figure registry
        ax = fig.subplots()
        ax.axhline(0, color="black", lw=1, label="Treat none")
        if nb_all.size == t.size:
            ax.plot(t[keep], nb_all[keep], color=GREY, lw=1.2, ls="--", label="Treat all")
        if nb_model.size == t.size:
            ax.plot(
                t[keep], nb_model[keep], color=family_colour(family), lw=1.8, label=f"{family_name(family)} (selected)"
            )
        for i, comparator in enumerate(evaluated):
            curve = comparator["result"].get("decision_curve") or {}
            ct, nb = floats(curve.get("thresholds")), floats(curve.get("nb"))
            if ct.size != nb.size or not ct.size:
                continue
            inside = np.isfinite(ct) & (ct <= x_max)
            colour = COMPARATOR_COLOURS[i % len(COMPARATOR_COLOURS)]
            ax.plot(ct[inside], nb[inside], color=colour, lw=1.3, ls=(0, (4, 2)), label=comparator["name"])
            rows = comparator["result"].get("net_benefit") or []
            points = [r for r in rows if fmt.finite(r.get("comparator")) and fmt.finite(r.get("threshold"))]
            ax.plot(
                [r["threshold"] for r in points],
                [r["comparator"] for r in points],
                ls="none",
                marker="o",
                ms=3.5,
                color=colour,
            )
        decision_axes(ax, thresholds, prevalence, x_max)
        ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0))
        path.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(path, format="svg", bbox_inches="tight", pad_inches=0.04, metadata={"Date": None})
        return path
