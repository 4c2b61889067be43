"""PDF reports of the lifecycle commands, typeset with Typst from their Evidence records only.

- the **validation report** follows TRIPOD+AI for a study that evaluates an existing model (Collins
  et al., BMJ 2024: the items marked E), each site estimate beside its development estimate;
- the **update report**: the closed test, the method used, the new parameters and the update's
  bootstrap-corrected performance;
- the **monitoring report**: input drift and calibration drift by period, and the CUSUM's advice.

Figures reuse the development report's plotting functions (:mod:`spineoutcome.report.figures`)
where the picture is the same (calibration and decision curves, centre forest plot). The text is
built in Typst's code mode with every value passed as a string literal, so nothing in the data can
be read as markup. Small cells (fewer than 5 patients or events) are shown as "<5".
"""

from __future__ import annotations

import json
import shutil
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt

from spineoutcome.report import ReportError, load_checklist
from spineoutcome.report.figures import STYLE, calibration_curves, centre_forest, decision_curves
from spineoutcome.report.render import font_paths

SMALL_CELL = 5
VALIDATION_PDF = "validation_report.pdf"
UPDATE_PDF = "update_report.pdf"
MONITORING_PDF = "monitoring_report.pdf"
PREAMBLE = """#set page(paper: "a4", margin: (x: 2cm, y: 2cm), numbering: "1 / 1")
#set text(font: ("Libertinus Serif", "DejaVu Sans"), size: 10pt)
#set par(justify: true)
#set heading(numbering: "1.")
#show heading: set block(above: 1.2em, below: 0.7em)
#show table: set text(size: 8.5pt)
#show table: set par(justify: false)
#show figure.caption: set text(size: 9pt)
"""
# Where the validation report addresses the TRIPOD+AI items that apply to evaluation (E).
VALIDATION_ITEMS = {
    "1": "title",
    "3b": "section 1",
    "4": "section 1",
    "5a": "sections 2, 3",
    "5b": "section 3",
    "6a": "section 3",
    "6b": "section 3",
    "7": "section 3",
    "8a": "section 2",
    "9b": "section 6",
    "10": "section 4",
    "11": "section 3 (rows breaking the input contract; missing predictor values imputed as in development)",
    "12d": "section 8",
    "12e": "section 5",
    "12f": "none in this study (spineoutcome update reports its own)",
    "12g": "section 2 (the registered model bundle)",
    "14": "section 7",
    "16": "section 6",
    "20a": "section 3",
    "20b": "sections 3, 6",
    "20c": "section 6",
    "21": "sections 3, 4",
    "23a": "sections 5, 7",
    "23b": "section 8",
}


def _s(text: Any) -> str:
    """A Typst string literal (code mode): data can never be read as markup."""
    return json.dumps("" if text is None else str(text), ensure_ascii=False)


def _para(text: str) -> str:
    return f"#par({_s(text)})\n"


def _heading(text: str, level: int = 1) -> str:
    return f"#heading(level: {level}, {_s(text)})\n"


def _table(header: Sequence[str], rows: Sequence[Sequence[Any]], widths: Sequence[str] | None = None) -> str:
    """A table; a header of empty strings gives none."""
    columns = "(" + ", ".join(widths) + ")" if widths else str(len(header))
    cells = [f"table.header({', '.join(f'strong({_s(h)})' for h in header)})"] if any(header) else []
    cells += [_s(c) for row in rows for c in row]
    return (
        f"#table(columns: {columns}, stroke: 0.4pt + luma(180), inset: 4pt, align: left,\n  "
        + ",\n  ".join(cells)
        + ")\n"
    )


def _figure(path: Path | None, caption: str, width: str = "100%") -> str:
    if path is None:
        return ""
    return f"#figure(image({_s(path.name)}, width: {width}), caption: {_s(caption)})\n"


def _num(value: Any, digits: int = 3) -> str:
    return "-" if value is None or (isinstance(value, float) and value != value) else f"{value:.{digits}f}"


def _est(estimate: dict[str, Any] | None, digits: int = 3) -> str:
    if not estimate or estimate.get("value") is None:
        return "-"
    text = _num(estimate["value"], digits)
    if estimate.get("ci_low") is not None and estimate.get("ci_high") is not None:
        text += f" ({_num(estimate['ci_low'], digits)} to {_num(estimate['ci_high'], digits)})"
    return text


def _count(n: Any) -> str:
    return "-" if n is None else ("<5" if 0 < int(n) < SMALL_CELL else f"{int(n):,}")


def _compile(source: str, figures: list[Path], out_pdf: Path) -> Path:
    import typst

    with tempfile.TemporaryDirectory(prefix="spineoutcome-lifecycle-report-") as tmp:
        work = Path(tmp)
        for figure in figures:
            shutil.copyfile(figure, work / figure.name)
        (work / "main.typ").write_text(PREAMBLE + source, encoding="utf-8")
        try:
            typst.compile(
                str(work / "main.typ"),
                output=str(out_pdf),
                root=str(work),
                font_paths=font_paths(),
                ignore_system_fonts=True,
            )
        except Exception as exc:  # typst.TypstError carries the diagnostics
            raise ReportError(f"Typst could not typeset {out_pdf.name}: {exc}") from exc
    return out_pdf


def _title(title: str, subtitle: str) -> str:
    return (
        f'#align(center)[#text(size: 16pt, weight: "bold", {_s(title)})\\\n'
        f"#text(size: 10pt, {_s(subtitle)})]\n#v(0.6em)\n"
    )


def _model_lines(model: dict[str, Any]) -> list[list[str]]:
    lineage = model.get("lineage") or {}
    rows = [
        ["model", str(model.get("uri"))],
        ["registry version", str(model.get("version") or "-")],
        ["family", str(model.get("family"))],
        ["bundle SHA-256", str(model.get("model_sha256"))[:16] + "..."],
        ["development run", str(model.get("evidence_run_id"))],
    ]
    update = model.get("calibration_update") or {}
    if update.get("method") not in (None, "identity"):
        rows.append(
            [
                "calibration update",
                f"{update['method']}: intercept {_num(update.get('intercept'))}, slope {_num(update.get('slope'))}",
            ]
        )
    if lineage:
        rows.append(
            [
                "lineage",
                f"updated from version {lineage.get('parent_version')} by {lineage.get('method')} "
                f"on site data {str(lineage.get('site_data_digest'))[:12]}... "
                f"(n {lineage.get('site_n')}, events {_count(lineage.get('site_events'))})",
            ]
        )
    return rows


# ---------------------------------------------------------------- validation


def validation_figures(record: dict[str, Any], folder: Path) -> dict[str, Path | None]:
    """Calibration and decision curves (site beside development) and the centre forest plot."""
    folder.mkdir(parents=True, exist_ok=True)
    evaluation = record.get("evaluation")
    development = (record.get("development") or {}).get("cross_validation") or {}
    if evaluation is None:
        return {"calibration": None, "decision": None, "centres": None}
    families = {"this site": {"cross_validation": evaluation}}
    if development.get("calibration_curve"):
        families["development (cross-validated)"] = {"cross_validation": development}
    out = {
        "calibration": calibration_curves(families, folder / "validation_calibration.svg"),
        "decision": decision_curves(
            {k: v for k, v in families.items()},
            record["settings"]["thresholds"],
            "this site",
            folder / "validation_decision_curve.svg",
        ),
        "centres": None,
    }
    if record.get("centres") and record["centres"].get("centres"):
        out["centres"] = centre_forest(record["centres"], "this site", folder / "validation_centres.svg")
    plt.close("all")
    return out


def validation_source(record: dict[str, Any], figures: dict[str, Path | None]) -> str:
    """The Typst source of the external-validation report, from its record and figure files."""
    model, site = record["model"], record["site"]
    definition = record.get("outcome_definition") or {}
    development = record.get("development") or {}
    doc = [
        _title(
            f"External validation of the {model.get('task')} model",
            f"TRIPOD+AI report of a model evaluation study - created {record['created']} - run {record['run_id'][:12]}",
        )
    ]
    doc.append(_heading("Summary and objective"))
    doc.append(
        _para(
            f"Objective: to evaluate the existing prediction model {model.get('uri')} "
            f"(outcome {model.get('outcome')!s}) in the data of a new site, without refitting it "
            f"(external validation). {site['n']:,} patients were analysed, {_count(site['events'])} with the "
            f"outcome. Each estimate below is shown beside the development study's cross-validated "
            "estimate."
        )
    )
    for note in record.get("notes") or []:
        doc.append(f"#block(fill: luma(240), inset: 6pt, radius: 2pt, width: 100%, {_s(note)})\n")
    doc.append(_heading("Model and outcome"))
    doc.append(_table(["", ""], _model_lines(model), ["auto", "1fr"]))
    doc.append(
        _para(
            f"Outcome definition (derived from the site's follow-up exports exactly as in development): "
            f"{definition.get('name')} version {definition.get('version')}: "
            f"{definition.get('description') or ''}"
        )
    )
    doc.append(
        _para(
            f"Development data: {development.get('n')} patients, {_count(development.get('events'))} "
            f"events, {development.get('centres')} centre(s); family {development.get('family')}."
        )
    )
    doc.append(_heading("Participants"))
    period = site.get("surgery_period") or {}
    doc.append(
        _para(
            f"Surgery dates at the site: {period.get('first_surgery', '-')} to "
            f"{period.get('last_surgery', '-')}; {site.get('centres')} centre(s); data digest "
            f"{site['data_digest'][:16]}... (identifies the analysed data without revealing it). "
            "Eligibility rules are the development pipeline's."
        )
    )
    rows = []
    for step in record["flow"]:
        excluded = "; ".join(f"{k}: {_count(v)}" for k, v in (step.get("excluded") or {}).items()) or "-"
        rows.append([step["label"], f"{step['n']:,}", excluded])
    doc.append(_table(["step", "patients", "excluded (reason: n)"], rows, ["2fr", "auto", "2fr"]))
    doc.append(_heading("Sample size"))
    size = record["sample_size"]
    doc.append(
        _para(
            f"{size['method']}. Assumptions: outcome proportion {_num(size['assumptions']['prevalence'])}, "
            f"c-statistic {_num(size['assumptions']['c_statistic'])} (development), linear predictor as at "
            f"this site. Required: {size['required_n']:,} patients (about {size['required_events']:,} "
            f"events); available: {size['available_n']:,} ({_count(size['available_events'])} events): "
            + ("enough." if size["enough"] else "fewer than required, so intervals are wider than targeted.")
        )
    )
    crit = [
        [
            "all (no threshold)" if c.get("threshold") is None else f"{c['threshold']:.0%}",
            f"{c['n_oe']:,}",
            f"{c['n_slope']:,}",
            f"{c['n_c_statistic']:,}",
            "-" if c.get("n_net_benefit") is None else f"{c['n_net_benefit']:,}",
        ]
        for c in size["criteria"]
    ]
    doc.append(_table(["threshold", "n for O:E", "n for slope", "n for c", "n for net benefit"], crit))
    doc.append(_heading("Performance at this site beside development"))
    comparison = [
        [r["measure"], _est(r["site"]), _est(r["development"])]
        for r in record["comparison"]
        if r["site"] is not None or r["development"] is not None
    ]
    if comparison:
        doc.append(
            _table(
                ["measure", "this site (95% CI)", "development (95% CI or PI)"], comparison, ["2fr", "1.4fr", "1.4fr"]
            )
        )
        doc.append(
            _para(
                "Site intervals: AUC DeLong, calibration-in-the-large and slope Wald, O:E log-normal, "
                "sensitivity and specificity Wilson, the others bootstrap percentile "
                f"({record['settings']['n_boot']} replicates, seed {record['settings']['seed']}). "
                "The last row compares the site's O:E with the 95% prediction "
                "interval for a new centre from the development study's internal-external validation."
            )
        )
    doc.append(
        _figure(
            figures.get("calibration"),
            "Calibration at this site and in development: flexible (loess) curves with 95% bootstrap bands.",
        )
    )
    doc.append(
        _figure(
            figures.get("decision"),
            "Decision curves at this site and in development; dotted lines: the development thresholds.",
        )
    )
    doc.append(_heading("Case-mix: this site compared with development"))
    casemix = record["casemix"]
    lp = casemix["linear_predictor"]
    dev_lp = lp.get("development") or {}
    doc.append(
        _para(
            f"Linear predictor (logit of the model's risk): mean {_num(lp['site']['mean'], 2)}, SD "
            f"{_num(lp['site']['sd'], 2)} at this site; mean {_num(dev_lp.get('mean'), 2)}, SD "
            f"{_num(dev_lp.get('sd'), 2)} in {lp.get('reference') or 'the development data'}. "
            "A wider spread makes discrimination easier, a "
            "narrower one harder (Debray et al., J Clin Epidemiol 2015)."
        )
    )
    member = casemix.get("membership")
    if member:
        doc.append(
            _para(
                f"Membership model c-statistic {_est(member['c_statistic'])}: {member['reading']} "
                f"({member['penalty']})."
            )
        )
    else:
        doc.append(_para(casemix.get("membership_note", "")))
    rows = []
    for p in casemix["predictors"]:
        if p["kind"] == "numbers":
            dev, here = p.get("development") or {}, p.get("site") or {}
            rows.append(
                [
                    p["name"],
                    f"mean {_num(dev.get('mean'), 2)} (SD {_num(dev.get('sd'), 2)}); median {_num(dev.get('q50'), 2)}",
                    "-"
                    if not here
                    else f"mean {_num(here.get('mean'), 2)} (SD {_num(here.get('sd'), 2)}); "
                    f"median {_num(here.get('q50'), 2)}",
                    _num(p.get("standardised_difference"), 2),
                ]
            )
        else:
            dev = ", ".join(f"{lv['level']} {lv['development']:.0%}" for lv in p["levels"])
            here = ", ".join(
                f"{lv['level']} " + ("<5 pts" if lv["site"] is None else f"{lv['site']:.0%}") for lv in p["levels"]
            )
            rows.append([p["name"], dev, here, ""])
    doc.append(_table(["predictor", "development", "this site", "std. diff."], rows, ["1.2fr", "2fr", "2fr", "auto"]))
    if record.get("subgroups"):
        doc.append(_heading("Subgroups"))
        rows = []
        for g in record["subgroups"]["groups"]:
            metrics = g.get("metrics") or {}
            small = g["n_events"] < SMALL_CELL or g["n"] - g["n_events"] < SMALL_CELL
            rows.append(
                [
                    " x ".join(g["grouping"]),
                    " x ".join(g["group"]),
                    _count(g["n"]),
                    _count(g["n_events"]),
                    *(
                        "-" if small else _est((metrics.get(m) or {}).get("estimate"), 2)
                        for m in ("auc", "oe_ratio", "slope")
                    ),
                ]
            )
        doc.append(_table(["grouping", "group", "n", "events", "AUC", "O:E", "slope"], rows))
        doc.append(
            _para(
                f"Groups with fewer than {record['subgroups']['min_events']} events are reported as too "
                "few to estimate."
            )
        )
    if record.get("centres"):
        doc.append(_heading("Centres"))
        doc.append(
            _figure(
                figures.get("centres"),
                "Per-centre AUC, O:E and slope at this site, random-effects "
                "pooled estimate and 95% prediction interval for a new centre.",
            )
        )
        pooled = record["centres"]
        doc.append(
            _para(
                f"Pooled AUC {_est(pooled.get('pooled_auc'))}, prediction interval "
                f"{_interval(pooled.get('pooled_auc_prediction_interval'))}; pooled O:E "
                f"{_est(pooled.get('pooled_oe_ratio'))}, prediction interval "
                f"{_interval(pooled.get('pooled_oe_prediction_interval'))} (REML, Riley et al. 2011)."
            )
        )
    doc.append(_heading("TRIPOD+AI checklist (items that apply to model evaluation)"))
    rows = []
    for item in load_checklist():
        if "E" not in item.applies:
            continue
        where = VALIDATION_ITEMS.get(item.id)
        rows.append([item.id, item.topic, item.text, where or "to be supplied by the authors"])
    doc.append(_table(["item", "topic", "recommendation (condensed)", "where"], rows, ["auto", "1fr", "3fr", "1fr"]))
    doc.append(
        _para("Source: Collins GS, et al. TRIPOD+AI statement. BMJ 2024;385:e078378 (CC BY 4.0); wording condensed.")
    )
    return "".join(doc)


def _interval(pair: Sequence[Any] | None) -> str:
    if not pair or pair[0] is None:
        return "-"
    return f"{_num(pair[0])} to {_num(pair[1])}"


def render_validation_report(record: dict[str, Any], out: Path) -> list[Path]:
    """The validation report PDF and its figures in ``out``; returns their paths."""
    folder = out / "figures"
    figures = validation_figures(record, folder)
    pdf = _compile(validation_source(record, figures), [f for f in figures.values() if f], out / VALIDATION_PDF)
    return [pdf, *(f for f in figures.values() if f)]


# ---------------------------------------------------------------- update


def render_update_report(record: dict[str, Any], out: Path) -> list[Path]:
    """The update report PDF (closed test, parameters, before/after performance)."""
    parent = record["parent"]
    doc = [
        _title(
            f"Update of the {parent.get('task')} model for a new site",
            f"created {record['created']} - run {record['run_id'][:12]}",
        )
    ]
    doc.append(_heading("What was done"))
    doc.append(
        _para(
            f"The model {parent.get('uri')} was updated on {record['site']['n']:,} patients of the site "
            f"({_count(record['site']['events'])} events). Requested method: {record['requested_method']}; "
            f"method used: {record['method']}. Methods: Steyerberg, Clinical Prediction Models (2nd ed., "
            "2019), chapter 20; closed testing: Vergouwe et al., Stat Med 2017;36:4529-39."
        )
    )
    for note in record.get("notes") or []:
        doc.append(f"#block(fill: luma(240), inset: 6pt, radius: 2pt, width: 100%, {_s(note)})\n")
    doc.append(_heading("Model before the update"))
    doc.append(_table(["", ""], _model_lines(parent), ["auto", "1fr"]))
    doc.append(_heading("Closed testing"))
    test = record["closed_testing"]
    doc.append(
        _table(
            ["candidate", "parameters re-estimated", "log-likelihood"],
            [[k, str(v["parameters"]), _num(v["loglik"], 2)] for k, v in test["models"].items()],
        )
    )
    doc.append(
        _table(
            ["likelihood-ratio test", "LR", "df", "p-value", "significant"],
            [
                [
                    t["compare"],
                    _num(t["lr"], 2),
                    str(t["df"]),
                    _num(t["p_value"], 4),
                    "yes" if t["significant"] else "no",
                ]
                for t in test["tests"]
            ],
        )
    )
    doc.append(
        _para(
            f"Level {test['alpha']:g}. Each simpler update is tested against the most extensive one "
            f"({test['most_extensive']}); the first that is not significantly worse is chosen: "
            f"{test['chosen']}."
        )
    )
    doc.append(_heading("Updated parameters"))
    params = record["parameters"]
    rows = [[k, _num(v, 4) if isinstance(v, float) else str(v)] for k, v in params.items() if k != "coefficients"]
    rows += [[f"coefficient: {k}", _num(v, 4)] for k, v in (params.get("coefficients") or {}).items()]
    doc.append(_table(["parameter", "value"], rows, ["2fr", "1fr"]))
    doc.append(_heading("Performance on the site's data"))
    v = record["validation"]
    names = {
        "auc": "AUC",
        "oe_ratio": "O:E ratio",
        "citl": "calibration-in-the-large",
        "slope": "calibration slope",
        "brier": "Brier score",
    }
    doc.append(
        _table(
            ["measure", "before the update", "after (apparent)", "optimism", "after (bootstrap-corrected)"],
            [
                [
                    names[k],
                    _num(v["before_update"][k]),
                    _num(v["apparent"][k]),
                    _num(v["optimism"][k]),
                    _num(v["corrected"][k]),
                ]
                for k in names
            ],
        )
    )
    chosen = v.get("methods_chosen_in_replicates")
    doc.append(
        _para(
            f"{v['method']}; {v['replicates']} replicates (seed {v['seed']}, {v['failed_replicates']} "
            "failed)"
            + (
                f"; methods chosen in the replicates: {', '.join(f'{k} {n}' for k, n in chosen.items())}."
                if chosen
                else "."
            )
            + " The corrected values estimate the updated model's performance in new patients of this site; "
            "confirm them with spineoutcome evaluate on patients not used for the update."
        )
    )
    doc.append(_heading("Lineage"))
    doc.append(_table(["", ""], [[k, str(val)] for k, val in record["lineage"].items()], ["auto", "1fr"]))
    pdf = _compile("".join(doc), [], out / UPDATE_PDF)
    return [pdf]


# ---------------------------------------------------------------- monitoring


def monitoring_figures(record: dict[str, Any], folder: Path) -> dict[str, Path | None]:
    """PSI per predictor by period; O:E and slope by period with intervals; the CUSUM by period."""
    folder.mkdir(parents=True, exist_ok=True)
    drift = record["input_drift"]
    periods = [r["period"] for r in drift]
    out: dict[str, Path | None] = {"psi": None, "calibration": None, "cusum": None}
    with plt.rc_context(STYLE):
        names = sorted({n for r in drift for n in (r.get("psi") or {})})
        if names:
            fig, ax = plt.subplots(figsize=(6.3, 3.0))
            for name in names:
                ax.plot(periods, [(r.get("psi") or {}).get(name) for r in drift], marker="o", ms=3, lw=1, label=name)
            ax.axhline(record["settings"]["psi_moderate"], color="#E69F00", ls="--", lw=0.8)
            ax.axhline(record["settings"]["psi_major"], color="#D55E00", ls="--", lw=0.8)
            ax.set_ylabel("PSI vs development")
            ax.set_xlabel("period")
            ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=6.5)
            fig.tight_layout()
            out["psi"] = folder / "monitoring_psi.svg"
            fig.savefig(out["psi"])
        performance = [r for r in record.get("performance") or [] if r.get("status") == "ok"]
        if performance:
            fig, axes = plt.subplots(1, 2, figsize=(6.3, 2.6))
            for ax, key, ref, label in (
                (axes[0], "oe_ratio", 1.0, "O:E ratio"),
                (axes[1], "slope", 1.0, "calibration slope"),
            ):
                x = [r["period"] for r in performance]
                y = [r[key]["value"] for r in performance]
                lo = [r[key]["value"] - r[key]["ci_low"] for r in performance]
                hi = [r[key]["ci_high"] - r[key]["value"] for r in performance]
                ax.errorbar(x, y, yerr=[lo, hi], fmt="o", ms=4, capsize=3, color="#0072B2")
                ax.axhline(ref, color="#999999", ls="--", lw=0.8)
                ax.set_title(label)
                ax.tick_params(axis="x", rotation=45)
            fig.tight_layout()
            out["calibration"] = folder / "monitoring_calibration.svg"
            fig.savefig(out["calibration"])
        chart = record.get("cusum")
        if chart:
            fig, ax = plt.subplots(figsize=(6.3, 2.6))
            for c in chart["charts"].values():
                ax.plot(
                    [r["period"] for r in c["by_period"]],
                    [r["max"] for r in c["by_period"]],
                    marker="o",
                    ms=3,
                    label=f"odds ratio {c['odds_ratio']:g}: {c['detects']}",
                )
            ax.axhline(chart["limit"], color="#D55E00", ls="--", lw=0.8, label=f"limit h = {chart['limit']:g}")
            ax.set_ylabel("CUSUM (maximum in period)")
            ax.legend(loc="upper left", fontsize=6.5)
            fig.tight_layout()
            out["cusum"] = folder / "monitoring_cusum.svg"
            fig.savefig(out["cusum"])
    plt.close("all")
    return out


def render_monitoring_report(record: dict[str, Any], out: Path) -> list[Path]:
    """The short monitoring report PDF and its figures."""
    figures = monitoring_figures(record, out / "figures")
    model = record["model"]
    doc = [
        _title(
            f"Monitoring of the {model.get('task')} model in use",
            f"created {record['created']} - run {record['run_id'][:12]}",
        )
    ]
    doc.append(_heading("Conclusion"))
    for note in record.get("notes") or ["No shift and no outcome data yet."]:
        doc.append(f"#block(fill: luma(240), inset: 6pt, radius: 2pt, width: 100%, {_s(note)})\n")
    doc.append(_table(["", ""], _model_lines(model), ["auto", "1fr"]))
    doc.append(_heading("Input drift by period"))
    rows = []
    for r in record["input_drift"]:
        top = sorted((r.get("psi") or {}).items(), key=lambda kv: -kv[1])[:3]
        rows.append(
            [
                r["period"],
                f"{r['n']:,}",
                "-" if r["ood_share"] is None else f"{r['ood_share']:.1%}",
                "-" if r["extrapolated_share"] is None else f"{r['extrapolated_share']:.1%}",
                ", ".join(f"{k} {v:.2f}" for k, v in top) or "-",
            ]
        )
    doc.append(_table(["period", "scored", "out of distribution", "outside training ranges", "largest PSI"], rows))
    doc.append(
        _para(
            f"PSI: population stability index against the development bins "
            f"({record['settings'].get('drift_reference') or 'not recorded'}); below "
            f"{record['settings']['psi_moderate']:g} no material shift, above "
            f"{record['settings']['psi_major']:g} a major one. Out of distribution: Mahalanobis distance "
            "above the development 99th percentile (about 1% expected)."
        )
    )
    doc.append(_figure(figures["psi"], "PSI of every predictor by period; dashed: 0.10 and 0.25."))
    if record.get("performance") is not None:
        doc.append(_heading("Calibration drift by period"))
        rows = [
            [
                r["period"],
                _count(r["n"]),
                _count(r["events"]) if r["status"] == "ok" else "<5",
                _est(r.get("oe_ratio"), 2),
                _est(r.get("citl"), 2),
                _est(r.get("slope"), 2),
            ]
            for r in record["performance"]
        ]
        doc.append(_table(["period", "patients", "events", "O:E", "calibration-in-the-large", "slope"], rows))
        doc.append(
            _figure(
                figures["calibration"], "O:E and calibration slope by period with 95% intervals (log-normal and Wald)."
            )
        )
        if record.get("cusum"):
            doc.append(
                _para(
                    f"{record['cusum']['method']}, limit h = {record['cusum']['limit']:g}. "
                    + record["cusum"]["recommendation"]
                )
            )
            doc.append(_figure(figures["cusum"], "Risk-adjusted CUSUM, its maximum within each period."))
    pdf = _compile("".join(doc), [f for f in figures.values() if f], out / MONITORING_PDF)
    return [pdf, *(f for f in figures.values() if f)]
