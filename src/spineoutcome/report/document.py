"""The development report: its sections, and the document model (blocks.py) they build from an Evidence.

One function per report section, registered in :data:`DEVELOPMENT_SECTIONS` with the task kinds it
applies to and the TRIPOD+AI items it addresses (:mod:`.sections`); each appends blocks and records
the section ids it created, so the checklist can only point at sections that exist. Binary and
time-to-event Evidence share the participant, predictor, missing-data, limitation and
reproducibility sections; their results sections differ.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from spineoutcome.modeling.families import is_flexible, is_reference

from . import blocks as B
from . import comparators as R
from . import figures as F
from . import numbers as fmt
from . import tables as T
from .checklist import checklist_rows, checklist_source
from .instability import instability
from .limitations import (
    care_choices,
    centre_calibration,
    derive_limitations,
    variable_label,
    within_level_auc,
)
from .sections import ALL_KINDS, BINARY, TIME_TO_EVENT, Document, ReportSection, build_document

# ---------------------------------------------------------------- helpers


def selection_text(ev: dict[str, Any], *, short: bool = False) -> str:
    """The model-selection rule with each family's share of lowest-loss bootstrap replicates under its
    readable name; ``short``: the rule in a few words (title page). Older Evidence: its stored sentence."""
    selection = ev.get("model_selection")
    if not selection:
        return str(ev.get("selection_rule") or "–")
    loss = str(selection.get("loss", "loss")).replace("_", "-")
    if short:
        return f"simplest family within one standard error of the lowest cross-validated {loss}; see Key results"
    shares = ", ".join(
        f"{F.family_name(c['family'])} {fmt.percent(c['lowest_loss_frequency'], 0)}" for c in selection["families"]
    )
    replicates = selection["n_boot"]
    lowest = f"share of {replicates} bootstrap replicates in which each family had the lowest {loss}"
    return f"{selection['rule']}; {lowest}: {shares}"


def _boosting_calibration_text(ev: dict[str, Any], families: list[str]) -> str:
    """One sentence on the boosted trees' logistic recalibration, with the final models' a and b."""
    finals = []
    for family in families:
        calibration = ((ev["families"][family].get("specification") or {}).get("tuning") or {}).get("calibration")
        if calibration:
            a, b = fmt.num(calibration["intercept"], "slope"), fmt.num(calibration["slope"], "slope")
            finals.append(
                f"{F.family_name(family)}: "
                + (f"applied, a = {a}, b = {b}" if calibration.get("applied") else "not applied")
                + f" ({fmt.p_value(calibration.get('p_value'))})"
            )
    if not finals:
        return ""
    return (
        "The boosted trees' risks may be recalibrated, logit p' = a + b logit p, by a logistic model fitted on the "
        "tuned model's inner cross-validated risks (Platt scaling on the log-odds; Niculescu-Mizil & Caruana "
        "2005), applied only if it fits those risks' outcomes significantly better (likelihood-ratio test, "
        "2 df, 5 % level; Vergouwe et al. 2017); it is part of every fit and so validated with it (final "
        "models: " + "; ".join(finals) + "). "
    )


OPTIMISM_METHODS = {
    "harrell": "apparent performance minus the mean optimism (Harrell)",
    "632plus": "Efron & Tibshirani's .632+ estimator from the patients each bootstrap model did not see "
    "(learners that memorise their rows, and fits that select among many candidate features)",
}
"""How the Evidence's optimism ``method`` corrected the apparent performance, for the methods section."""


def _families(ev: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {f: ev["families"][f] for f in T.ordered_families(ev)}


def _is_binary(ev: dict[str, Any]) -> bool:
    return ev.get("task", {}).get("kind", "binary") == "binary"


def outcome_name(ev: dict[str, Any]) -> str:
    """The outcome's name in running text."""
    return ev.get("task", {}).get("outcome", "outcome").replace("_", " ")


def study(ev: dict[str, Any], field: str, default: str) -> str:
    """A study field of the Evidence (``task.study``: from the dictionary and the pipeline), or ``default``."""
    value = ((ev.get("task") or {}).get("study") or {}).get(field)
    return str(value).strip().rstrip(".") if value else default


def centres_text(data: dict[str, Any]) -> str:
    """ "3 centres", "one centre" (a single-centre study)."""
    n = data.get("centres")
    return "one centre" if n == 1 else f"{fmt.integer(n)} centres"


def prediction_time(ev: dict[str, Any]) -> str:
    """When the prediction is made ("before surgery" for the built-in study)."""
    return study(ev, "prediction_time", "at the time the prediction is made")


def title_of(ev: dict[str, Any]) -> str:
    """Item 1: the outcome and target population (the task description) and the study type."""
    task = ev.get("task", {})
    subject = (task.get("description") or "").strip().rstrip(".").split(", ")[0]
    if not subject:
        subject = task.get("outcome", "outcome").replace("_", " ")
        subject = subject[:1].upper() + subject[1:]
    return f"{subject}: development and internal validation of prediction models"


def _join(items: list[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1] if items else ""


def _lower_first(text: str) -> str:
    """ "Risk of C5 palsy" -> "risk of C5 palsy" (acronyms such as "OPLL" keep their case)."""
    if len(text) > 1 and text[0].isupper() and not text[1].isupper():
        return text[0].lower() + text[1:]
    return text


def _cv_auc(ev: dict[str, Any], family: str) -> dict[str, Any] | None:
    return (ev["families"][family]["cross_validation"].get("discrimination") or {}).get("auc")


# ---------------------------------------------------------------- meta (title page)


def meta(ev: dict[str, Any]) -> dict[str, Any]:
    """The title page: title, key facts of the run (TRIPOD+AI item 1)."""
    data, task = ev.get("data", {}), ev.get("task", {})
    best = ev.get("best_family")
    facts = [
        ("Outcome", task.get("description") or outcome_name(ev)),
        (
            "Study type",
            "Development of prediction models with internal validation "
            + (
                "(cross-validation with nested tuning, bootstrap optimism correction, internal-external "
                "validation by centre)"
                if any(r.get("internal_external") for r in ev["families"].values())
                else "(cross-validation)"
            ),
        ),
        ("Patients analysed", f"{fmt.integer(data.get('n'))} from {centres_text(data)}"),
        ("Data", study(ev, "data_source", "not stated (data_source in the pipeline or the data dictionary)")),
        ("Outcome events", fmt.count_percent(data.get("events"), share=data.get("prevalence"))),
        ("Models compared", ", ".join(F.family_name(f) for f in T.ordered_families(ev))),
        ("Selected model", f"{F.family_name(best)} ({selection_text(ev, short=True)})"),
        ("Run", f"{ev.get('run_id', '')[:12]} · {ev.get('created', '')}"),
        ("Data digest (SHA-256)", data.get("digest", "")[:32] + "…"),
        ("Data dictionary", f"{(data.get('dictionary') or {}).get('version', '–')}"),
        (
            "Software",
            f"spineoutcome {ev.get('environment', {}).get('spineoutcome', '–')} · Evidence schema "
            f"{ev.get('schema_version', '–')}",
        ),
    ]
    key: list[tuple[str, str]] = []
    if _is_binary(ev):
        for family in T.ordered_families(ev):
            cv = ev["families"][family]["cross_validation"]
            cal = cv.get("calibration") or {}
            key.append(
                (
                    F.family_name(family) + (" (selected)" if family == best else ""),
                    f"AUC {fmt.est(_cv_auc(ev, family), 'auc')}; calibration slope "
                    f"{fmt.point(cal.get('slope'), 'slope')}; O:E {fmt.point(cal.get('oe_ratio'), 'oe')}; "
                    f"ICI {fmt.point((cv.get('calibration_curve') or {}).get('ici'), 'ici')}",
                )
            )
        key += R.key_rows(ev)
    else:
        for family in T.ordered_families(ev):
            cv = ev["families"][family]["cross_validation"]
            key.append(
                (
                    F.family_name(family) + (" (selected)" if family == best else ""),
                    f"Harrell's C {fmt.est(cv.get('harrell_c'), 'c')} at {fmt.days(cv.get('horizon_days'))}",
                )
            )
    return {
        "title": title_of(ev),
        "subtitle": "TRIPOD+AI report generated from the run's Evidence record",
        "facts": [list(f) for f in facts],
        "key_results": [list(k) for k in key],
        "run_id": ev.get("run_id", ""),
        "created": ev.get("created", ""),
        "short_title": f"{outcome_name(ev)} · run {ev.get('run_id', '')[:8]}",
    }


# ---------------------------------------------------------------- sections


def summary(doc: Document) -> None:
    """Key results: cohort, selected model, its discrimination and calibration (item 2)."""
    ev = doc.ev
    data = ev.get("data", {})
    best = ev.get("best_family")
    doc.add(B.h(1, "Key results", "summary"))
    runs: list[Any] = [
        f"{fmt.integer(data.get('n'))} patients from {centres_text(data)} were "
        f"analysed; {fmt.count_percent(data.get('events'), share=data.get('prevalence'))} had the outcome "
        f"({outcome_name(ev)}). "
    ]
    if _is_binary(ev):
        lr = "logistic" if "logistic" in ev["families"] else None
        runs.append(
            f"The selected model ({F.family_name(best)}) had a cross-validated "
            f"AUC of {fmt.est(_cv_auc(ev, best), 'auc')}"
        )
        if lr and lr != best:
            runs.append(f"; logistic regression {fmt.est(_cv_auc(ev, lr), 'auc')}")
            comp = (ev["families"][best].get("comparison_to_logistic") or {}).get("auc_delong") or {}
            if comp.get("difference"):
                runs.append(
                    f" (paired difference {fmt.est(comp['difference'], 'auc')}, {fmt.p_value(comp.get('p_value'))})"
                )
        cal = ev["families"][best]["cross_validation"].get("calibration") or {}
        runs.append(
            f". Its calibration slope was {fmt.est(cal.get('slope'), 'slope')} and O:E ratio "
            f"{fmt.est(cal.get('oe_ratio'), 'oe')}. "
        )
        if ev.get("selection_rule"):
            runs.append(f"Selection rule: {selection_text(ev)}. ")
        runs.extend(_transportability_runs(ev))
        runs.extend(_care_choice_runs(ev))
    else:
        c = ev["families"][best]["cross_validation"]
        runs.append(
            f"The selected model ({F.family_name(best)}) had a cross-validated Harrell's C of "
            f"{fmt.est(c.get('harrell_c'), 'c')} (horizon {fmt.days(c.get('horizon_days'))}). "
        )
    runs.append("Limitations that follow from the data are listed in ")
    runs.append(B.ref("sec-limitations"))
    runs.append(".")
    doc.add(B.p(*runs))
    doc.add(*R.key_results(ev))


def _transportability_runs(ev: dict[str, Any]) -> list[Any]:
    """Key results: how the selected model did in centres it was not developed in, and that calibration
    must be checked locally."""
    best = ev.get("best_family")
    centres = centre_calibration(ev, best) if best else None
    if not centres:
        return []
    pi_auc, pi_oe = centres["auc_prediction_interval"], centres["prediction_interval"]
    i2 = centres["i2"]
    return [
        "In internal-external validation (each centre predicted by a model developed without it) the selected "
        f"model's pooled AUC was {fmt.est(centres['pooled_auc'], 'auc')} against "
        f"{fmt.point(_cv_auc(ev, best), 'auc')} in cross-validation"
        + (f", 95 % prediction interval for a new centre {fmt.interval(pi_auc[0], pi_auc[1], 'auc')}" if pi_auc else "")
        + f"; the O:E ratio ranged from {fmt.num(centres['low'], 'oe')} ({centres['low_centre']}) to "
        f"{fmt.num(centres['high'], 'oe')} ({centres['high_centre']})"
        + (f", prediction interval {fmt.interval(pi_oe[0], pi_oe[1], 'oe')}" if pi_oe else "")
        + (f", I² {fmt.num(100 * i2, digits=0)} %" if fmt.finite(i2) else "")
        + " (",
        B.ref("sec-centres"),
        "). ",
        B.b("Calibration must be checked on a hospital's own patients before its predicted risks are used. "),
    ]


def _care_choice_runs(ev: dict[str, Any]) -> list[Any]:
    """Key results: discrimination within the levels of a decision of care, and the causal caveat."""
    best = ev.get("best_family")
    out: list[Any] = []
    for variable in care_choices(ev):
        aucs = [a for _, a in within_level_auc(ev, best, variable)] if best else []
        label = variable_label(ev, variable).lower()
        if aucs:
            out.append(
                f"Within each {label} the AUC was only {fmt.interval(min(aucs), max(aucs), 'auc')}: much of the "
                f"discrimination restates the {label}. "
            )
        out.append(
            f"The {label} is an input of the model, so the model cannot tell which {label} lowers the risk: its "
            "predictions are associations, not effects of a choice. "
        )
    return out


def plain_summary(doc: Document) -> None:
    """The report in plain words for a surgeon: how often the outcome happened, what the model can and cannot
    do, and what acting on it at the pre-specified thresholds means per 100 patients."""
    ev = doc.ev
    data = ev.get("data", {})
    best = ev.get("best_family")
    doc.add(B.h(1, "In plain words", "sec-plain"))
    rows = (ev["families"][best]["cross_validation"].get("classification") or {}).get("rows") or []
    auc = _cv_auc(ev, best)
    treatment = study(ev, "treatment", "")
    items: list[list[Any]] = [
        [
            f"Of every 100 patients analysed, about {fmt.num(100 * (data.get('prevalence') or 0), digits=0)} had "
            f"{outcome_name(ev)}. The data are: {_lower_first(study(ev, 'data_source', 'not stated'))}."
        ],
        [
            f"The model ({F.family_name(best)}) gives each patient a risk {prediction_time(ev)}. Given one patient "
            f"with and one without {outcome_name(ev)}, it gives the higher risk to the one with it "
            f"{fmt.num(100 * ((auc or {}).get('value') or 0), digits=0)} times in 100 (AUC "
            f"{fmt.point(auc, 'auc')}; 50 is chance, 100 perfect)."
        ],
    ]
    for r in rows:
        counts = T.confusion_counts(r)
        if counts is None or not (counts[0] + counts[3]):
            continue
        tp, fp, tn, fn = counts
        n = tp + fp + tn + fn
        items.append(
            [
                f"If every patient with a predicted risk of {fmt.threshold(r['threshold'])} or more were treated, "
                f"{fmt.num(100 * (tp + fp) / n, digits=0)} of every 100 patients would be treated; "
                f"{fmt.percent(tp / (tp + fn), digits=0)} of those who develop {outcome_name(ev)} would be among "
                f"them and {fmt.num(100 * fn / n, digits=1)} per 100 would be missed."
            ]
        )
    if treatment:
        items.append([f"Treat means: {treatment}."])
    items.append(
        [
            "The risks were checked in centres the model had not seen; they may be too high or too low in another "
            "hospital, so calibration must be checked locally before use (",
            B.ref("sec-limitations"),
            "). Terms such as AUC, O:E and net benefit are explained in the glossary (",
            B.ref("sec-glossary"),
            ").",
        ]
    )
    doc.add(B.bullets(*items))


def overview(doc: Document) -> None:
    """Objectives, data source and outcome definition (items 3b, 4, 5a, 6a, 7, 8a)."""
    ev = doc.ev
    task, pipe = ev.get("task", {}), ev.get("pipeline", {})
    doc.add(B.h(1, "Study overview", "sec-overview"))
    flexible = [F.family_name(f) for f in T.ordered_families(ev) if not is_reference(f)]
    reference = "logistic regression" if _is_binary(ev) else "a Weibull accelerated failure time model"
    predicted = _lower_first(task.get("description", "").rstrip(".")) or outcome_name(ev)
    doc.add(
        B.p(
            B.b("Objective. "),
            f"To develop and internally validate models that predict {predicted}, "
            f"using only information available {prediction_time(ev)}, and to compare {reference} with "
            f"{_join(flexible) or 'no other family'} under the same resampling, the same folds and the same "
            "performance measures (TRIPOD+AI item 4).",
        )
    )
    elig = pipe.get("eligibility") or {}
    population = (
        "; ".join(f"{k}: {', '.join(map(str, v))}" for k, v in elig.items())
        or "all patients of the cohort with a known outcome"
    )
    stated = "not stated (population in the pipeline or study.population in the data dictionary)"
    use = study(
        ev,
        "intended_use",
        "The intended use is not stated (intended_use in the pipeline or the data dictionary's study)",
    )
    setting = study(ev, "setting", "")
    doc.add(
        B.p(
            B.b("Target population and intended use. "),
            f"{study(ev, 'population', stated)} "
            f"(eligibility: {population}). " + (f"Setting: {setting}. " if setting else "") + f"{use}. "
            "Intended users and the place in the care pathway are for the authors to state (item 3b, ",
            B.ref("fill-3b"),
            ").",
        )
    )
    doc.add(B.h(2, "Outcome", "sec-outcome"))
    doc.add(B.p(f"{(task.get('outcome_definition') or {}).get('description', '')}"))
    doc.add(T.outcome_definition(task.get("outcome_definition") or {"name": task.get("outcome", "")}))
    doc.add(B.h(2, "Data sources", "sec-data"))
    data = ev.get("data", {})
    sources = study(ev, "data_source", "")
    doc.add(
        B.p(
            (f"{sources[:1].upper()}{sources[1:]}. " if sources else "")
            + "The exports were read and validated against the data dictionary "
            f"({(data.get('dictionary') or {}).get('name', '')}, version "
            f"{(data.get('dictionary') or {}).get('version', '–')}): every value was checked for type, unit range "
            f"and allowed categories, and rejected values were reported with their line number. Patients come "
            f"from {centres_text(data)}. The analysed data set is identified by its SHA-256 "
            "digest (",
            B.ref("sec-repro"),
            ").",
        )
    )
    if (data.get("key") or {}).get("line_number"):
        doc.add(B.p("The data have no patient key column: each row's line number in the export is its key."))
    for analysis, reason in (data.get("skipped_analyses") or {}).items():
        doc.add(B.callout("warn", f"Not done ({analysis.replace('_', '-')}): {reason}."))
    doc.add(T.join_audit(data.get("join_audit") or []))


def participants(doc: Document) -> None:
    """Participant flow, accrual dates and baseline characteristics (items 5b, 6, 16, 20)."""
    ev = doc.ev
    data = ev.get("data", {})
    doc.add(B.h(1, "Participants"))
    doc.add(B.h(2, "Participant flow", "sec-flow"))
    elig = (ev.get("pipeline") or {}).get("eligibility") or {}
    doc.add(
        B.p(
            "Every patient of the exports is accounted for: excluded by an eligibility rule, excluded by the "
            "outcome definition (with the reason), or analysed. Eligibility: "
            + (
                "; ".join(f"{k} in {', '.join(map(str, v))}" for k, v in elig.items())
                if elig
                else "no restriction beyond the outcome definition"
            )
            + "."
        )
    )
    steps: list[dict[str, Any]] = []
    for s in ev.get("flow", []):
        excluded = [[reason, fmt.integer(count)] for reason, count in (s.get("excluded") or {}).items()]
        if steps and not excluded and steps[-1]["n"] == fmt.integer(s["n"]):
            steps[-1]["label"] += f"; {s['label']}"
            continue
        steps.append({"label": s["label"][:1].upper() + s["label"][1:], "n": fmt.integer(s["n"]), "excluded": excluded})
    n, events = data.get("n"), data.get("events")
    if _is_binary(ev):
        final = [
            {"label": f"With {outcome_name(ev)}", "n": fmt.count_percent(events, n)},
            {"label": f"Without {outcome_name(ev)}", "n": fmt.count_percent((n or 0) - (events or 0), n)},
        ]
    else:
        final = [
            {"label": f"Event observed ({outcome_name(ev)})", "n": fmt.count_percent(events, n)},
            {"label": "Censored (no event seen)", "n": fmt.count_percent((n or 0) - (events or 0), n)},
        ]
    doc.add(B.flow(steps, final))
    doc.add(B.h(2, "Baseline characteristics", "sec-baseline"))
    base = ev.get("baseline")
    if not base:
        doc.add(
            B.callout(
                "missing",
                "Baseline characteristics are not available in this Evidence (no ",
                B.m("baseline"),
                " record). TRIPOD+AI item 20b needs them: overall, by outcome and by centre.",
            )
        )
        _key_dates(doc)
        return
    if base.get("by_outcome"):
        doc.add(
            T.baseline(
                base["by_outcome"],
                "Baseline characteristics overall and by outcome: median (IQR) and "
                "mean (SD) for continuous and n (%) for categorical predictors; follow-up is the time "
                "from surgery to the last contact.",
                "tab-baseline-outcome",
                column_label=lambda s: s.replace("_", " "),
                show_mean=True,
                outcome_row=False,
                names=lambda name: variable_label(ev, name),
            )
        )
    if base.get("by_centre"):
        doc.add(
            T.baseline(
                base["by_centre"],
                "Baseline characteristics by centre (TRIPOD+AI 20b): outcome events, "
                "follow-up and the case-mix that internal-external validation tests the models across.",
                "tab-baseline-centre",
                column_label=lambda s: s.replace("centre ", ""),
                names=lambda name: variable_label(ev, name),
            )
        )
    _key_dates(doc)


def _key_dates(doc: Document) -> None:
    """First and last operation and end of follow-up (after the baseline tables, which are long)."""
    accrual = (doc.ev.get("data") or {}).get("accrual")
    if accrual:
        doc.add(B.h(2, "Key dates", "sec-dates"))
        doc.add(T.accrual(accrual, str(doc.ev.get("created") or "")))


def predictors(doc: Document) -> None:
    """The predictors with their definitions, units and timing from the data dictionary (item 9)."""
    ev = doc.ev
    spec = (ev.get("pipeline") or {}).get("predictors") or {}
    doc.add(B.h(1, "Predictors", "sec-predictors"))
    parts = []
    if spec.get("groups"):
        parts.append(f"the predictor groups {', '.join(spec['groups'])} of the dictionary")
    if spec.get("include"):
        parts.append(f"{len(spec['include'])} named predictors")
    text = " plus ".join(parts) or "the dictionary's predictors"
    doc.add(
        B.p(
            "Candidate predictors were fixed in the pipeline file before the analysis (",
            text,
            (f"; excluded: {', '.join(spec['exclude'])}" if spec.get("exclude") else ""),
            "), following the published risk factors; no data-driven pre-selection was done outside the "
            "resampling loop. The dictionary's leakage guard admits only variables marked as known "
            f"{prediction_time(ev)}. How each predictor was measured, and by whom, is for the authors (",
            B.ref("fill-9b"),
            ").",
        )
    )
    doc.add(T.predictors(ev))
    dropped = (ev.get("data") or {}).get("dropped_predictors") or {}
    if dropped:
        doc.add(B.callout("warn", "Not used: " + "; ".join(f"{k} ({v})" for k, v in dropped.items()) + "."))


def sample_size(doc: Document) -> None:
    """Sample size against Riley's criteria (item 10)."""
    ev = doc.ev
    ss = ev.get("sample_size") or {}
    doc.add(B.h(1, "Sample size", "sec-samplesize"))
    if not ss.get("required"):
        doc.add(
            B.callout(
                "missing",
                "No sample-size assessment is available in this Evidence"
                + (" (Riley's criteria are implemented for binary outcomes only)." if not _is_binary(ev) else "."),
            )
        )
        return
    avail, req = ss.get("available", {}), ss["required"]
    verdict = "meets" if avail.get("meets_criteria") else "does not meet"
    doc.add(
        B.p(
            "The sample size was given by the available cohort; its adequacy was checked against Riley's criteria "
            f"for {fmt.integer(ss.get('n_parameters'))} candidate parameters of the logistic design (spline terms, "
            f"dummy levels and indicators counted), an outcome proportion of {fmt.percent(req.get('prevalence'))} and "
            f"an anticipated C-statistic of {fmt.num(ss.get('anticipated_c_statistic'), 'c')} ("
            + (
                f"from {ss['anticipated_c_source'].strip().rstrip('.')}"
                if ss.get("anticipated_c_source")
                else "value assumed; no published anchor found"
            )
            + "). The data ",
            B.b(verdict),
            f" the criteria: {fmt.integer(avail.get('n'))} patients and {fmt.integer(avail.get('events'))} "
            f"events ({fmt.num(avail.get('epp'), 'epp')} per parameter) against {fmt.integer(req.get('n'))} patients "
            f"and {fmt.integer(req.get('events'))} events required; expected shrinkage "
            f"{fmt.num(avail.get('expected_shrinkage'), 'shrinkage')}.",
        )
    )
    if ss.get("spline_budget"):
        doc.add(B.p(ss["spline_budget"]["statement"]))
    flexible = [F.family_name(f) for f in T.ordered_families(ev) if is_flexible(f)]
    if flexible:
        doc.add(
            B.p(
                f"Riley's criteria are for regression models; no comparable closed-form criteria exist for "
                f"{_join(flexible)}. Flexible learners need many more events than a regression of the same "
                "predictors to reach stable predictions (van der Ploeg et al., BMC Med Res Methodol "
                "2014;14:137), so the criteria above are a lower bound for them; their optimism and the "
                "spread of their performance across centres show how far they fall short."
            )
        )
    doc.add(T.sample_size(ss))


def missing_data(doc: Document) -> None:
    """Missing values per predictor and how they were handled (item 11)."""
    ev = doc.ev
    doc.add(B.h(1, "Missing data", "sec-missing"))
    fams = _families(ev)
    pre = next(
        (
            (r.get("specification") or {}).get("preprocessing")
            for r in fams.values()
            if (r.get("specification") or {}).get("preprocessing")
        ),
        None,
    )
    imputation = (ev.get("pipeline") or {}).get("imputation", "simple")
    doc.add(
        B.p(
            "No patient was excluded for a missing predictor. Missing values were imputed by "
            f"{T.IMPUTATION.get(imputation, imputation)}; the imputation was fitted inside every training fold and "
            "bootstrap sample (never on test data) and is part of the final model object, so the same values "
            "are imputed at deployment. The scoring command rejects a row with an implausible or out-of-range "
            "value with its reason rather than imputing it (item 27a)."
        )
    )
    if pre:
        doc.add(B.p(B.i("Preprocessing as fitted: "), T.preprocessing_text(pre)))
    doc.add(T.missing(ev))


def methods(doc: Document) -> None:
    """Statistical methods: preprocessing, models, tuning, validation, class imbalance, model output
    (items 12-16, 21)."""
    ev = doc.ev
    pipe = ev.get("pipeline") or {}
    val = pipe.get("validation") or {}
    tun = pipe.get("tuning") or {}
    fams = _families(ev)
    binary = _is_binary(ev)
    doc.add(B.h(1, "Analysis methods", "sec-methods"))
    doc.add(B.h(2, "Use of the data and internal validation"))
    items: list[Any] = []
    items.append(
        [
            f"Stratified {val.get('folds', '–')}-fold cross-validation"
            + (f", repeated {val.get('repeats')} times" if (val.get("repeats") or 1) > 1 else "")
            + ": every model family is developed on the same development folds and predicts the same held-out "
            "patients; everything that learns from data (imputation, scaling, splines, tuning) is inside the "
            "folds"
            + (
                f", with Optuna tuning ({tun.get('n_trials')} trials, {tun.get('inner_folds')}-fold inner "
                f"cross-validation, {tun.get('metric')}) nested in each development fold"
                if tun.get("n_trials") and binary
                else ""
            )
            + ". The pooled out-of-fold predictions give the cross-validated performance."
        ]
    )
    if binary:
        items.append(
            [
                "The final model of each family is tuned and fitted on all analysed patients; its apparent "
                "performance is on the same data."
            ]
        )
    boot = val.get("bootstrap") or {}
    if boot:
        mode = {
            "fixed_hyperparameters": "with the final hyperparameters (and any recalibration) fixed (tuning "
            "optimism not counted)",
            "full": "repeating the tuning in every replicate",
        }.get(boot.get("mode"), boot.get("mode"))
        by_method: dict[str, list[str]] = {}
        for family, record in fams.items():
            method = (record.get("optimism") or {}).get("method")
            if method:
                by_method.setdefault(method, []).append(F.family_name(family))
        corrections = [
            f"{text} for {_join(by_method[method])}" for method, text in OPTIMISM_METHODS.items() if method in by_method
        ]
        items.append(
            [
                f"Bootstrap optimism correction: {boot.get('replicates')} bootstrap samples stratified by outcome, "
                f"{mode}" + (f"; {'; '.join(corrections)}" if corrections else "") + "."
            ]
        )
    if val.get("internal_external"):
        items.append(
            [
                f"Internal-external cross-validation by centre (Steyerberg & Harrell 2016): each centre with at "
                f"least {val.get('min_centre_events')} events is held out in turn; centres with fewer events "
                "stay in development only"
                + (
                    f" (subgroups need {subgroup_min} events: the two rules differ, as the pipeline sets them)"
                    if (subgroup_min := ((pipe.get("subgroups") or {}).get("min_events")))
                    not in (None, val.get("min_centre_events"))
                    else ", the same minimum as for subgroups"
                )
                + ". Centre results are pooled by random-effects meta-analysis (REML) "
                "with a 95 % prediction interval for a new centre (Riley et al. 2011) (item 12d)."
            ]
        )
    if val.get("temporal_split"):
        items.append([f"Temporal validation: development before and validation from {val['temporal_split']}."])
    doc.add(B.bullets(*items))
    doc.add(B.h(2, "Models and predictor handling"))
    doc.add(
        B.p(
            "Logistic regression is the reference: unpenalised maximum likelihood with restricted cubic splines "
            "for continuous predictors, so non-linear effects are allowed without being searched for. The "
            "flexible learners see the same predictors without splines or scaling. "
            + (_boosting_calibration_text(ev, fams) if pipe.get("boosting_calibration") == "logistic" else "")
            + f"Model selection rule: {selection_text(ev)}."
            if binary
            else f"Survival families fitted to interval-censored times (interval midpoints). Selection rule: "
            f"{ev.get('selection_rule', '–')}."
        )
    )
    doc.add(T.models(ev))
    if binary:
        subgroups = pipe.get("subgroups") or {}
        doc.add(B.h(2, "Performance measures"))
        doc.add(
            B.bullets(
                ["Discrimination: AUC (c-statistic) with bootstrap 95 % CI (DeLong SE alongside); ROC curves."],
                [
                    "Calibration hierarchy (Van Calster et al. 2016): calibration in the large (CITL) and O:E ratio, "
                    "calibration slope, flexible (loess) calibration curve with ICI, E50 and E90 "
                    "(Austin & Steyerberg 2019)."
                ],
                ["Overall: Brier score, scaled Brier score, log-loss, Nagelkerke R²."],
                [
                    "Clinical utility: decision curve analysis, net benefit against treat-all and treat-none "
                    "(Vickers & Elkin 2006)."
                ],
                [
                    "Comparison with logistic regression: paired DeLong test of the AUC difference and paired "
                    "bootstrap differences in ICI and net benefit, on the same patients."
                ],
                [
                    f"Fairness and subgroups (item 14): every measure by {', '.join(subgroups.get('variables') or [])} "
                    f"with the difference from the overall value; groups with fewer than "
                    f"{subgroups.get('min_events', '–')} events (or non-events) are reported as too small "
                    "to judge rather than estimated."
                ],
            )
        )
    else:
        doc.add(B.h(2, "Performance measures"))
        doc.add(
            B.bullets(
                ["Discrimination: Harrell's C of the cross-validated risk at the horizon."],
                [
                    "Calibration at the horizon: mean predicted risk against the Kaplan-Meier risk per fifth of "
                    "predicted risk."
                ],
                ["Kaplan-Meier curves by tertile of predicted risk."],
            )
        )
    doc.add(B.h(2, "Hyperparameter tuning", "sec-tuning"))
    tuning = T.tuning(ev)
    doc.add(tuning if tuning else B.callout("info", "No hyperparameter tuning in this run."))
    doc.add(B.h(2, "Class imbalance", "sec-imbalance"))
    weighted = {
        f: (r.get("specification") or {}) for f, r in fams.items() if (r.get("specification") or {}).get("class_weight")
    }
    if weighted:
        doc.add(
            B.callout(
                "warn",
                "Class weights were used (TRIPOD+AI item 13): "
                + "; ".join(
                    f"{F.family_name(f)}: {s.get('imbalance_handling', s.get('class_weight'))}"
                    for f, s in weighted.items()
                )
                + ". Weighted models over-predict risk unless recalibrated; the calibration results show the "
                "consequence.",
            )
        )
    else:
        handling = next(
            (
                (r.get("specification") or {}).get("resampling_of_training_data")
                for r in fams.values()
                if (r.get("specification") or {}).get("resampling_of_training_data")
            ),
            None,
        )
        doc.add(
            B.p(
                "No class-imbalance method was used: no class weights and no resampling of the training data"
                + (
                    f" ({handling.removeprefix('none (').rstrip(')')})"
                    if handling and handling.startswith("none (")
                    else ""
                )
                + ". Oversampling and weighting distort predicted risks (calibration), so models were fitted to the "
                "data as they are and evaluated with measures that do not depend on balance (item 13)."
            )
        )
    doc.add(B.h(2, "Model output", "sec-output"))
    thresholds = pipe.get("thresholds") or []
    if not binary:
        doc.add(
            B.p(
                f"Each model outputs the probability of the event ({outcome_name(ev)}) by the horizon and a "
                "predicted time "
                "distribution. No classification thresholds are used in this analysis (item 15)."
            )
        )
    doc.add(
        B.p(
            "Each model outputs a probability of the outcome. "
            + (
                f"Classification is reported only to describe performance at prespecified thresholds "
                f"({', '.join(fmt.threshold(t) for t in thresholds)}), chosen before the analysis as clinically "
                "plausible levels of risk at which a surgeon might change the approach or the counselling; the "
                "decision curves cover the whole range (item 15)."
                if thresholds
                else ""
            )
        )
        if binary
        else None
    )
    doc.add(B.h(2, "Patients and events in each analysis", "sec-analysed"))
    doc.add(T.analysed(ev))


def performance(doc: Document) -> None:
    """Binary results: discrimination, calibration, decision curves, comparison, subgroups, centres,
    temporal validation (items 12d, 14, 23, 25)."""
    ev = doc.ev
    fams = _families(ev)
    best = ev.get("best_family")
    thresholds = (ev.get("pipeline") or {}).get("thresholds") or []
    doc.add(B.h(1, "Model performance", "sec-performance"))
    doc.add(
        B.p(
            "All results are for out-of-fold (cross-validated) predictions unless stated otherwise; intervals are "
            "95 % confidence intervals from resampling the patients with the fold models held fixed. They leave out "
            "how much the models themselves would differ in another sample, so with few events they can be "
            "narrower than they should be (Bates, Hastie & Tibshirani, J Am Stat Assoc 2024;119:1434-45)."
        )
    )
    doc.add(T.discrimination(ev))
    doc.add(B.h(2, "Discrimination: ROC curves", "sec-roc"))
    roc = F.roc_curves(fams, doc.fig_path("roc"))
    if roc is None:
        doc.add(
            B.callout("missing", "ROC points are not available in this Evidence (", B.m("cross_validation.roc"), ").")
        )
    doc.figure(
        roc,
        "Cross-validated ROC curves; markers show sensitivity and 1 − specificity at the prespecified thresholds.",
        "fig-roc",
        width="88%",
    )
    doc.add(T.classification(ev))
    doc.add(B.h(2, "Calibration", "sec-calibration"))
    doc.figure(
        F.calibration_curves(fams, doc.fig_path("calibration")),
        "Flexible calibration curves (loess) of the cross-validated predictions with 95 % bootstrap bands "
        "(clipped to 0–100 %); the dashed diagonal is perfect calibration. Under each curve, the distribution "
        "of predicted risks of "
        "patients with the outcome (up) and without it (down), each scaled to its own maximum; bins with "
        "fewer than 5 patients in either group are merged with their neighbours. Each risk axis ends near "
        "the 99th centile of that model's predicted risks.",
        "fig-calibration",
        missing="Calibration curves",
    )
    doc.add(T.calibration(ev))
    doc.add(B.h(2, "Clinical utility: decision curves", "sec-dca"))
    doc.figure(
        F.decision_curves(fams, thresholds, best, doc.fig_path("decision")),
        "Decision curves: net benefit of using each model to decide, against treating all and treating none. "
        "Dotted lines mark the prespecified thresholds.",
        "fig-dca",
        missing="Decision curves",
    )
    doc.add(T.net_benefit(ev, thresholds))
    treatment = study(ev, "treatment", "")
    doc.add(
        B.p(
            "Treat, in these curves, means "
            + (treatment or "the action the risk would trigger (not stated: treatment in the pipeline)")
            + ". The threshold is the risk at which a surgeon would take that action: it weighs the harm of "
            "treating a patient who would not develop the outcome against the benefit of treating one who would."
        )
    )
    doc.add(T.decision_impact(ev, thresholds, treatment or "the action the risk would trigger"))
    doc.add(B.h(2, "Comparison with logistic regression", "sec-comparison"))
    comp = T.comparison(ev, thresholds)
    if comp:
        doc.add(comp)
        doc.add(B.p(*_comparison_sentence(ev)))
    else:
        doc.add(
            B.callout(
                "info", "No paired comparison: logistic regression was not among the families or was the only one."
            )
        )
    doc.add(B.h(2, "Subgroups and fairness", "sec-subgroups"))
    shown = [f for f in (best, "logistic") if f in fams and fams[f].get("subgroups")]
    shown = list(dict.fromkeys(shown))
    if not shown:
        doc.add(B.callout("missing", "Subgroup results are not available in this Evidence."))
    else:
        doc.figure(
            F.subgroup_forest(
                {f: fams[f]["subgroups"] for f in shown}, doc.fig_path("subgroups"), lambda v: variable_label(ev, v)
            ),
            "Discrimination and calibration by subgroup ("
            + " and ".join(F.family_name(f) for f in shown)
            + "); dashed lines: the overall AUC and perfect calibration. Intervals are clipped to the panel "
            "and an arrowhead marks an estimate beyond it. Too few events: fewer than "
            + f"{((ev.get('pipeline') or {}).get('subgroups') or {}).get('min_events', '–')} events or non-events, "
            "not estimated (the same rule as for held-out centres); n.e.: not estimable.",
            "fig-subgroups",
            missing="Subgroup forest plot",
        )
        for f in shown:
            doc.add(T.subgroups(fams[f]["subgroups"], f, lambda v: variable_label(ev, v)))
    centres(doc)
    temporal = [(f, r["temporal"]) for f, r in fams.items() if r.get("temporal")]
    if temporal:
        doc.add(B.h(2, "Temporal validation", "sec-temporal"))
        rows = []
        for f, tmp in temporal:
            e = tmp.get("evaluation") or {}
            cal = e.get("calibration") or {}
            rows.append(
                [
                    F.family_name(f),
                    fmt.est((e.get("discrimination") or {}).get("auc"), "auc"),
                    fmt.est(cal.get("slope"), "slope"),
                    fmt.est(cal.get("oe_ratio"), "oe"),
                ]
            )
        doc.add(
            B.table(
                ["Model", "AUC", "Calibration slope", "O:E ratio"],
                rows,
                widths=["3cm", "1fr", "1fr", "1fr"],
                caption=f"Temporal validation ({temporal[0][1].get('split')}).",
                id="tab-temporal",
            )
        )


def _comparison_sentence(ev: dict[str, Any]) -> list[Any]:
    out: list[Any] = []
    for family in T.ordered_families(ev):
        comp = (ev["families"][family].get("comparison_to_logistic") or {}).get("auc_delong") or {}
        diff = comp.get("difference") or {}
        if not fmt.finite(diff.get("value")):
            continue
        low, high = diff.get("ci_low"), diff.get("ci_high")
        if not (fmt.finite(low) and fmt.finite(high)):
            verdict = f" — its interval was {fmt.NOT_ESTIMABLE}. "
        elif low > 0 or high < 0:
            verdict = " — the interval excludes no difference. "
        else:
            verdict = " — compatible with no difference. "
        out.append(f"{F.family_name(family)} vs logistic regression: AUC difference {fmt.est(diff, 'auc')}{verdict}")
    return out


def centres(doc: Document) -> None:
    """Heterogeneity across centres from internal-external validation (items 12d, 23b)."""
    ev = doc.ev
    fams = _families(ev)
    if not any(r.get("internal_external") for r in fams.values()):
        return
    best = ev.get("best_family")
    doc.add(B.h(2, "Heterogeneity across centres (internal-external validation)", "sec-centres"))
    untested = sorted(
        {c for r in fams.values() for c in ((r.get("internal_external") or {}).get("centres_not_tested") or [])}
    )
    iecv_any = next(r["internal_external"] for r in fams.values() if r.get("internal_external"))
    doc.add(
        B.p(
            f"{fmt.integer(iecv_any.get('n_tested'))} patients in held-out centres were predicted by models "
            "developed without their centre. "
            + (
                f"Not tested (fewer events than required, kept in development only): {', '.join(untested)}."
                if untested
                else ""
            )
        )
    )
    doc.add(T.heterogeneity(ev))
    for f in dict.fromkeys([best, "logistic"]):
        if f in fams and fams[f].get("internal_external"):
            doc.add(T.centre_results(ev, f))
            doc.figure(
                F.centre_forest(fams[f]["internal_external"]["heterogeneity"], f, doc.fig_path(f"centres_{f}")),
                f"{F.family_name(f)}: performance in each held-out centre (95 % CI), random-effects pooled "
                "estimate (diamond) and 95 % prediction interval for a new centre (bar); an arrowhead marks an "
                "estimate beyond the panel.",
                f"fig-centres-{f}",
                missing=f"{F.family_name(f)}: centre forest plot",
            )


def final_model(doc: Document) -> None:
    """The selected model and the logistic regression's odds ratios (items 12g, 22)."""
    ev = doc.ev
    fams = _families(ev)
    best = ev.get("best_family")
    doc.add(B.h(1, "The final model", "sec-model"))
    spec = fams[best].get("specification") or {}
    doc.add(
        B.p(
            f"The selected model is {F.family_name(best)} (",
            B.m(T.estimator_name(spec)),
            "), fitted on all "
            f"{fmt.integer(ev.get('data', {}).get('n'))} analysed patients. The complete model — preprocessing "
            "(imputation values, scaling, spline knots) and estimator in one scikit-learn pipeline — is logged with "
            "the run as an MLflow model with its input contract, so predictions for new patients are made by that "
            "object (items 12g, 22). Restrictions to access or reuse: ",
            B.ref("fill-22"),
            ".",
        )
    )
    if spec.get("preprocessing"):
        doc.add(B.p(B.i("Predictor handling: "), T.preprocessing_text(spec["preprocessing"])))
    if best not in ("logistic",):
        doc.add(B.h(2, f"{F.family_name(best)}: hyperparameters"))
        doc.add(T.hyperparameters(spec))
    lr = fams.get("logistic")
    if lr and (lr.get("specification") or {}).get("odds_ratios"):
        lspec = lr["specification"]
        doc.add(B.h(2, "Logistic regression" + (" (selected model)" if best == "logistic" else " (reference model)")))
        for note in dict.fromkeys(c["note"] for c in lspec.get("coefficients") or [] if c.get("note")):
            doc.add(
                B.callout(
                    "warn",
                    f"{note[:1].upper()}{note[1:]}: the odds ratios, coefficients and their intervals "
                    "below are not interpretable.",
                )
            )
        doc.add(T.odds_ratios(lspec, ev))
        doc.figure(
            F.odds_ratio_forest(lspec["odds_ratios"], doc.fig_path("odds_ratios"), lambda v: variable_label(ev, v)),
            "Adjusted odds ratios with 95 % CIs (log scale); an arrowhead marks an estimate or bound beyond the axis.",
            "fig-odds",
            width="80%",
            missing="Odds-ratio forest plot",
        )
        doc.add(T.coefficients(lspec))
    units = {p["name"]: p.get("unit") for p in (ev.get("data") or {}).get("predictors") or []}
    for f in [f for f in T.ordered_families(ev) if (fams[f].get("specification") or {}).get("raw_scale")]:
        table = T.raw_scale(fams[f]["specification"], F.family_name(f), units, lambda v: variable_label(ev, v))
        if table is not None:
            doc.add(B.h(2, f"{F.family_name(f)} on the original units"), table)
    for f, r in fams.items():
        if f not in (best, "logistic") and r.get("specification"):
            s = r["specification"]
            doc.add(
                B.p(
                    B.b(F.family_name(f) + ": "),
                    f"{T.estimator_name(s)}; "
                    + T.params_text(s.get("hyperparameters") or s.get("parameters") or {}, keep=None)
                    + ".",
                )
            )


def explanations(doc: Document) -> None:
    """SHAP summaries of the selected and the reference model (aggregates only)."""
    ev = doc.ev
    fams = _families(ev)
    best = ev.get("best_family")
    shaps = {f: fams[f].get("shap") for f in dict.fromkeys([best, "logistic"]) if f in fams and fams[f].get("shap")}
    doc.add(B.h(1, "Explanations (SHAP)", "sec-shap"))
    if not shaps:
        doc.add(B.callout("missing", "SHAP summaries are not available in this Evidence."))
        return
    doc.add(
        B.lead(
            "SHAP values split each prediction into additive contributions of the predictors (exact TreeSHAP for "
            "tree ensembles, linear SHAP for logistic regression; one-hot levels, spline terms and missing "
            "indicators summed back to their predictor). They describe the model, not causal effects."
        )
    )
    doc.figure(
        F.shap_importance(shaps, doc.fig_path("shap_importance"), names=lambda v: variable_label(ev, v)),
        "Global importance: mean absolute SHAP value per predictor.",
        "fig-shap-importance",
        missing="SHAP importance",
    )
    s = shaps.get(best)
    if s:
        doc.figure(
            F.shap_binned(s, best, doc.fig_path("shap_binned"), names=lambda v: variable_label(ev, v)),
            f"{F.family_name(best)}: binned SHAP summary. For each predictor, the SHAP values of the patients "
            "in each fifth of its value (Q1 lowest; grey numbers: the cut points between fifths) or "
            "category: box 25th–75th centile, line median, whiskers 5th–95th centile. Values above zero "
            "raise the predicted "
            "risk.",
            "fig-shap-binned",
            missing="Binned SHAP summary",
        )
        ex = s.get("example") or {}
        if ex.get("contributions"):
            doc.add(B.h(2, "Worked example"))
            doc.add(
                B.lead(
                    f"The example explains a {ex.get('description', 'constructed profile')}; it is not a real "
                    f"patient. Predicted risk {fmt.percent(ex.get('probability'))}. Each bar is one predictor's "
                    "contribution on the log-odds scale, from the average prediction to this profile's."
                )
            )
            doc.figure(
                F.shap_waterfall(
                    ex, s.get("units", "log-odds"), doc.fig_path("shap_example"), names=lambda v: variable_label(ev, v)
                ),
                f"{F.family_name(best)}: worked example (waterfall of SHAP contributions): orange bars raise, "
                "blue bars lower the predicted risk.",
                "fig-shap-example",
                width="85%",
                missing="Worked example",
            )


def _weighted_mean(rows: list[dict[str, Any]], key: str) -> float | None:
    """Mean of ``key`` over calibration fifths weighted by their n (fifths without both numbers left out)."""
    pairs = [(r.get(key), r.get("n")) for r in rows]
    pairs = [(v, n) for v, n in pairs if fmt.finite(v) and fmt.finite(n) and n > 0]
    total = sum(n for _, n in pairs)
    return sum(v * n for v, n in pairs) / total if total else None


def survival_results(doc: Document) -> None:
    """Time-to-event results: Harrell's C, calibration at the horizon, Kaplan-Meier curves, the models
    (items 12g, 22, 23a)."""
    ev = doc.ev
    fams = _families(ev)
    best = ev.get("best_family")
    doc.add(B.h(1, "Model performance", "sec-performance"))
    rows = []
    for f, r in fams.items():
        cv = r["cross_validation"]
        cal = cv.get("calibration_at_horizon") or []
        rows.append(
            [
                T.model_label(f, best),
                fmt.est(cv.get("harrell_c"), "c"),
                fmt.days(cv.get("horizon_days")),
                fmt.percent(_weighted_mean(cal, "predicted")),
                fmt.percent(_weighted_mean(cal, "observed")),
            ]
        )
    doc.add(
        B.table(
            ["Model", "Harrell's C (95 % CI)", "Horizon", "Mean predicted risk", "Mean observed risk (KM, by fifths)"],
            rows,
            widths=["3cm", "3.6cm", "1fr", "1fr", "1fr"],
            id="tab-harrell",
            caption="Discrimination (Harrell's C of the cross-validated risk at the horizon, with a bootstrap "
            "percentile 95 % CI from resampling the patients' out-of-fold risks) and mean calibration.",
        )
    )
    doc.add(B.h(2, "Calibration at the horizon", "sec-calibration"))
    doc.figure(
        F.calibration_at_horizon(fams, doc.fig_path("calibration_horizon")),
        "Mean predicted risk against the Kaplan-Meier observed risk at the horizon, by fifth of predicted risk.",
        "fig-cal-horizon",
        width="62%",
        missing="Calibration at the horizon",
    )
    cal_rows = []
    for f, r in fams.items():
        for c in r["cross_validation"].get("calibration_at_horizon") or []:
            cal_rows.append(
                [
                    F.family_name(f) if c.get("group") == 1 else "",
                    fmt.integer(c.get("group")),
                    fmt.integer(c.get("n")),
                    fmt.percent(c.get("predicted")),
                    fmt.percent(c.get("observed")),
                ]
            )
    doc.add(
        B.table(
            ["Model", "Fifth of predicted risk", "n", "Mean predicted", "Observed (KM)"],
            cal_rows,
            widths=["3cm", "1fr", "1fr", "1fr", "1fr"],
            id="tab-cal-horizon",
            size=7.5,
            caption="Calibration at the horizon by fifth of predicted risk (1 = lowest).",
        )
    )
    doc.add(B.h(2, "Kaplan-Meier curves by predicted risk group", "sec-km"))
    for f, r in fams.items():
        cv = r["cross_validation"]
        doc.figure(
            F.km_by_risk_group(
                cv.get("km_by_risk_group") or [],
                cv.get("horizon_days"),
                f,
                doc.fig_path(f"km_{f}"),
                at_risk=cv.get("km_at_risk"),
            ),
            f"{F.family_name(f)}: Kaplan-Meier event-free proportion by tertile of cross-validated "
            "predicted risk, with 95 % pointwise bands and the numbers at risk.",
            f"fig-km-{f}",
            width="80%",
            missing=f"{F.family_name(f)}: Kaplan-Meier curves",
        )
    survival_model(doc)


def survival_model(doc: Document) -> None:
    """The final survival models: estimator, parameters, predictor handling and Weibull coefficients."""
    fams = _families(doc.ev)
    best = doc.ev.get("best_family")
    doc.add(B.h(1, "The final model", "sec-model"))
    rows = []
    for f, r in fams.items():
        s = r.get("specification") or {}
        rows.append(
            [
                T.model_label(f, best),
                B.cell(s.get("estimator", "–"), m=True),
                T.params_text(s.get("parameters") or s.get("hyperparameters") or {}, keep=12),
                T.preprocessing_text(s["preprocessing"]) if s.get("preprocessing") else "–",
            ]
        )
    doc.add(
        B.table(
            ["Model", "Estimator", "Parameters", "Predictor handling"],
            rows,
            widths=["2.6cm", "3.2cm", "1fr", "1fr"],
            align=["l", "l", "l", "l"],
            size=7.5,
            id="tab-survival-spec",
            caption="Final survival models, fitted on all analysed patients; the "
            "fitted objects, preprocessing included, are logged with the run (item 22).",
        )
    )
    for f, r in fams.items():
        doc.add(T.weibull_coefficients({"family": f, **(r.get("specification") or {})}))


def limitations(doc: Document) -> list[dict[str, Any]]:
    """Limitations that follow from the Evidence (item 26); kept on ``doc`` for the model card and tests."""
    found = derive_limitations(doc.ev)
    doc.limitations = found
    doc.add(B.h(1, "Limitations", "sec-limitations"))
    doc.add(
        B.p(
            "Limitations that follow from the Evidence itself (item 26); limitations not visible in the data "
            "(selection, measurement, representativeness) are for the authors (",
            B.ref("fill-26"),
            ").",
        )
    )
    doc.add(B.bullets(*[[item["text"]] for item in found]) if found else B.p("None detected."))
    return found


def reproducibility(doc: Document) -> None:
    """Identification of the run: digest, dictionary, software and configuration (items 12g, 18f, 22)."""
    ev = doc.ev
    doc.add(B.h(1, "Reproducibility", "sec-repro"))
    data = ev.get("data", {})
    doc.add(
        B.keyvals(
            [
                ("Run id", ev.get("run_id", "")),
                ("Created", ev.get("created", "")),
                ("Data digest (SHA-256)", data.get("digest", "")),
                (
                    "Data dictionary",
                    f"{(data.get('dictionary') or {}).get('name', '')} "
                    f"{(data.get('dictionary') or {}).get('version', '')}",
                ),
                ("Evidence schema", ev.get("schema_version", "")),
                ("Run time", f"{fmt.num((ev.get('timings') or {}).get('total'), digits=0)} s"),
            ],
            caption="Identification of the run: the same pipeline file, data (digest) and software "
            "reproduce every number in this report.",
            id="tab-run",
        )
    )
    doc.add(T.environment(ev.get("environment") or {}))
    doc.add(
        B.keyvals(
            T.flat_config(ev.get("pipeline") or {}),
            caption="The pipeline configuration (pre-specified analysis plan) as run.",
            id="tab-config",
            widths=("5.2cm", "1fr"),
            size=7.5,
        )
    )
    doc.add(B.p("Availability of the analysis code and of the model: ", B.ref("fill-18f"), "."))
    if (ev.get("privacy") or {}).get("rule"):
        doc.add(B.p(ev["privacy"]["rule"]))


GLOSSARY: tuple[tuple[str, str], ...] = (
    (
        "AUC (C-statistic)",
        "The chance that a patient who has the outcome gets a higher predicted risk than one who "
        "does not: 0.5 is a coin toss, 1 is perfect ranking. It says nothing about whether the risks are right.",
    ),
    (
        "Calibration",
        "Whether predicted risks match what happens: of 100 patients given 10 %, about 10 should have the outcome.",
    ),
    (
        "O:E ratio",
        "Observed over expected events: 1 is right on average, above 1 the model under-predicts, below 1 "
        "it over-predicts.",
    ),
    (
        "CITL (calibration in the large)",
        "The same question on the log-odds scale: 0 is right on average, positive means the risks are too low.",
    ),
    (
        "Calibration slope",
        "1 is ideal; below 1 the risks are too extreme (too high for high-risk and too low for "
        "low-risk patients, typical of overfitting), above 1 too moderate.",
    ),
    (
        "ICI, E50, E90",
        "The mean, median and 90th centile of the absolute gap between the predicted risk and the "
        "observed risk (from the calibration curve): 0.01 means one percentage point.",
    ),
    (
        "Brier score, log-loss",
        "Overall error of the predicted risks (lower is better); log-loss punishes confident "
        "wrong predictions most and chose the selected model.",
    ),
    (
        "Net benefit",
        "The benefit of treating patients the model flags, in true positives per 100 patients, after "
        "subtracting the harm of treating those who would not have the outcome, weighted by the threshold.",
    ),
    (
        "Threshold",
        "The predicted risk at which a patient would be treated; it expresses how many unnecessary "
        "treatments one accepts to treat one patient who needs it (10 % means 9 to 1).",
    ),
    (
        "Prediction interval",
        "Where the performance in a new, similar hospital is expected to lie (95 %): wider "
        "than a confidence interval because hospitals differ.",
    ),
    ("I²", "The share of the variation between centres that is real rather than chance."),
    ("Log-odds", "The scale on which logistic models add up: log(risk / (1 − risk)); 0 is a risk of 50 %."),
    (
        "Odds ratio",
        "How much the odds of the outcome are multiplied between two values of a predictor, the others held fixed.",
    ),
    (
        "SHAP value",
        "How much one predictor moved one patient's prediction (on the log-odds scale) from the average "
        "prediction; it describes the model, not a cause.",
    ),
    (
        "Cross-validation, internal-external validation",
        "Estimating performance on patients the model was not "
        "developed on: held-out fifths of the data, or whole held-out centres.",
    ),
    ("Optimism", "How much better a model looks on the data it was developed on than on new patients."),
)
"""Terms a surgeon reading the report may not know, explained in plain words (the glossary section)."""


def glossary(doc: Document) -> None:
    """A glossary of the statistical terms of the report, in plain words."""
    doc.add(B.h(1, "Glossary", "sec-glossary"))
    doc.add(B.keyvals(list(GLOSSARY), widths=("4.4cm", "1fr"), size=8.5))


def author_fields(doc: Document, rows: list[dict[str, Any]]) -> None:
    """Fill-in fields for what only the authors can supply, one per checklist item that needs it."""
    doc.add(B.h(1, "Information to be supplied by the authors", "sec-authors"))
    doc.add(
        B.p("The Evidence cannot contain these items. Each field names its TRIPOD+AI item; the checklist points here.")
    )
    for row in rows:
        if row.get("authors"):
            doc.add(
                B.fillin(row["id"], row["topic"], row["authors"], lines=2 if row["id"] not in ("3a", "25", "26") else 4)
            )


def checklist(doc: Document) -> None:
    """The authors' fill-in fields and the TRIPOD+AI checklist, pointing at the sections present."""
    doc.present |= {"title"}
    rows = checklist_rows(doc.ev, doc.present)
    doc.checklist = rows
    author_fields(doc, rows)
    doc.add(B.pagebreak())
    doc.add(B.h(1, "TRIPOD+AI checklist", "sec-checklist"))
    doc.add(B.checklist(rows, checklist_source()))


DEVELOPMENT_SECTIONS: tuple[ReportSection, ...] = (
    ReportSection("summary", summary, ALL_KINDS, ("2",)),
    ReportSection("plain_summary", plain_summary, BINARY, ()),
    ReportSection("overview", overview, ALL_KINDS, ("3b", "4", "5a", "6a", "7", "8a")),
    ReportSection("participants", participants, ALL_KINDS, ("5b", "6a", "6b", "6c", "16", "20a", "20b", "20c")),
    ReportSection("predictors", predictors, ALL_KINDS, ("6c", "9a", "9b")),
    ReportSection("sample_size", sample_size, ALL_KINDS, ("10",)),
    ReportSection("missing_data", missing_data, ALL_KINDS, ("7", "11", "20b", "27a")),
    ReportSection(
        "methods", methods, ALL_KINDS, ("7", "12a", "12b", "12c", "12d", "12e", "13", "14", "15", "16", "21")
    ),
    ReportSection("performance", performance, BINARY, ("12d", "14", "23a", "23b", "25")),
    ReportSection("instability", instability, BINARY, ("12e", "23a")),
    ReportSection("comparators", R.section, BINARY, ("25",)),
    ReportSection("final_model", final_model, BINARY, ("12g", "22")),
    ReportSection("explanations", explanations, BINARY, ()),
    ReportSection("survival_results", survival_results, TIME_TO_EVENT, ("12g", "22", "23a")),
    ReportSection("limitations", limitations, ALL_KINDS, ("26", "27c")),
    ReportSection("reproducibility", reproducibility, ALL_KINDS, ("12g", "18f", "22")),
    ReportSection("glossary", glossary, ALL_KINDS, ()),
    ReportSection("checklist", checklist, ALL_KINDS, ("1",)),
)
"""The development report, in order. A validation or monitoring report is another tuple of sections
(reusing these functions or its own) given to :func:`~.sections.build_document`."""


def build(
    evidence: dict[str, Any],
    figures_dir: Path,
    figure_prefix: str = "figures",
    sections: tuple[ReportSection, ...] = DEVELOPMENT_SECTIONS,
) -> dict[str, Any]:
    """The complete document model of the development report (see module docstring)."""
    doc = build_document(evidence, figures_dir, sections, figure_prefix=figure_prefix)
    return {
        "meta": meta(evidence),
        "blocks": doc.blocks,
        "figures": [str(p) for p in doc.figures],
        "limitations": doc.limitations,
        "checklist": doc.checklist,
    }
