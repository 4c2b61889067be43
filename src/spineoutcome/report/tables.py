"""Tables of the report, built from Evidence records; every number through ``numbers.py``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from spineoutcome import metrics
from spineoutcome.modeling.families import is_reference

from . import blocks as B
from . import numbers as fmt
from .figures import family_name
from .limitations import variable_label

PRE_OPERATIVE = "pre-operative"
MISSING_NOTE = f"{fmt.MISSING} {fmt.NOT_ESTIMABLE} from these data, or not part of this analysis."


def ordered_families(evidence: dict[str, Any]) -> list[str]:
    """The reference family (logistic regression, the Weibull AFT model) first, then the others in run order."""
    names = list(evidence.get("families", {}))
    return sorted(names, key=lambda f: (not is_reference(f), names.index(f)))


def model_label(family: str, best: str | None) -> str:
    """The family's display name, marked when it is the selected model."""
    return family_name(family) + (" (selected)" if family == best else "")


# ---------------------------------------------------------------- data


def join_audit(rows: list[dict[str, Any]]) -> dict[str, Any] | None:
    """How the export tables joined: patients, orphans and duplicates per table."""
    if not rows:
        return None
    header = [
        "Export",
        "Rows",
        "Patients",
        "Orphan patients",
        "Orphan rows",
        "Cohort patients absent",
        "Duplicate rows rejected",
    ]
    body = [
        [
            r.get("table", ""),
            fmt.integer(r.get("rows")),
            fmt.integer(r.get("patients")),
            fmt.integer(r.get("orphan_patients")),
            fmt.integer(r.get("orphan_rows")),
            fmt.integer(r.get("patients_without")),
            fmt.integer(r.get("duplicate_rows_rejected")),
        ]
        for r in rows
    ]
    return B.table(
        header,
        body,
        widths=["1.6fr"] + ["1fr"] * 6,
        caption="Join audit of the exports (one row per "
        "export): rows read, patients, rows without a patient in the patient table "
        f"({rows[0].get('table') if rows else 'first row'}; orphans), cohort "
        "patients absent from the export, duplicates rejected.",
        id="tab-join",
    )


def outcome_definition(defn: dict[str, Any]) -> dict[str, Any]:
    """The outcome definition as registered (name, version, rule, follow-up window)."""
    labels = {
        "name": "Name",
        "version": "Definition version",
        "kind": "Kind",
        "description": "Definition",
        "window_days": "Assessment window (days after surgery)",
        "muscles": "Muscles assessed",
        "min_drop": "Minimum drop (MRC grades)",
        "source": "Source",
        "dictionary_version": "Dictionary version",
        "population": "Population",
        "min_growth_mm": "Minimum growth (mm)",
        "measures": "Measures",
        "horizon_days": "Horizon (days)",
    }
    rows = []
    for key, value in defn.items():
        if isinstance(value, list):
            text = (
                " to ".join(fmt.integer(v) for v in value)
                if key == "window_days" and len(value) == 2
                else ", ".join(str(v) for v in value)
            )
        elif isinstance(value, dict):
            text = "; ".join(f"{k}: {', '.join(map(str, v)) if isinstance(v, list) else v}" for k, v in value.items())
        elif isinstance(value, float):
            text = fmt.num(value, digits=1)
        else:
            text = str(value)
        rows.append((labels.get(key, key.replace("_", " ").capitalize()), text))
    return B.keyvals(
        rows, caption="Outcome definition, as registered in the package's outcome registry.", id="tab-outcome"
    )


def predictors(evidence: dict[str, Any]) -> dict[str, Any]:
    """Item 7a: every predictor with its definition, type and coding, source export and timing."""
    rows = []
    for p in evidence.get("data", {}).get("predictors", []):
        definition = (p.get("description") or "") + (f" Source: {p['source']}." if p.get("source") else "")
        rows.append(
            [
                B.cell(f"{variable_label(evidence, p['name'])}\n({p['name']})"),
                definition,
                _coding(p),
                f"{p.get('group') or '–'} / {p.get('table') or '–'}",
                p.get("timing") or PRE_OPERATIVE,
            ]
        )
    return B.table(
        ["Predictor (column)", "Definition", "Type and coding", "Group / export", "Timing"],
        rows,
        widths=["3.3cm", "1fr", "3.1cm", "2.5cm", "2.2cm"],
        align=["l", "l", "l", "l", "l"],
        size=7.5,
        caption="Predictors, from the data dictionary (the single source of column names, types, units, "
        "allowed values and timing). Only variables known "
        f"{_prediction_time(evidence)} can be predictors.",
        id="tab-predictors",
    )


def _prediction_time(evidence: dict[str, Any]) -> str:
    return ((evidence.get("task") or {}).get("study") or {}).get("prediction_time") or "at the time of prediction"


_DTYPE_NAMES = {"float": "continuous", "int": "integer", "bool": "binary (yes / no)", "category": "categorical"}


def _coding(p: dict[str, Any]) -> str:
    """``continuous, years; 18 to 100`` or ``categorical: female, male`` from a predictor record."""
    kind = _DTYPE_NAMES.get(p.get("dtype") or "", p.get("dtype") or "")
    unit = p.get("unit")
    text = ", ".join(x for x in (kind, unit) if x) or "–"
    if p.get("categories"):
        return f"{text}: {', '.join(str(c) for c in p['categories'])}"
    value_range = p.get("range") or []
    if len(value_range) == 2:
        return f"{text}; {fmt.compact(value_range[0])} to {fmt.compact(value_range[1])}"
    return text


def accrual(acc: dict[str, Any], created: str = "") -> dict[str, Any]:
    """Key dates overall and per centre, to the month (TRIPOD+AI items 5b, 20b); an end of follow-up
    after the run date (``created``, ISO) is flagged: the dates of the data cannot be right."""

    def row(label: Any, record: dict[str, Any], n: Any) -> list[Any]:
        return [
            label,
            fmt.integer(n),
            fmt.month(record.get("first_surgery")),
            fmt.month(record.get("last_surgery")),
            fmt.month(record.get("end_of_follow_up")),
        ]

    centres = acc.get("by_centre") or []
    total = sum(c.get("n") or 0 for c in centres) if centres else None
    late = bool(created) and str(acc.get("end_of_follow_up") or "") > created[:7]
    body = [row(B.cell("All centres", b=True), acc, total)] + [row(c.get("centre", ""), c, c.get("n")) for c in centres]
    return B.table(
        ["Centre", "Patients", "First surgery", "Last surgery", "End of follow-up"],
        body,
        widths=["1fr", "2cm", "2.6cm", "2.6cm", "3.4cm"],
        id="tab-accrual",
        caption="Key study dates of the analysed patients, overall and by centre: first and last "
        "operation and last follow-up contact (to the month, so that no patient's dates can "
        "be recovered).",
        note=f"The end of follow-up is after the date of this run ({fmt.month(created[:7])}): check the "
        "follow-up dates of the exports."
        if late
        else None,
    )


def _capital(text: str) -> str:
    return text[:1].upper() + text[1:]


def _baseline_cell(c: dict[str, Any], kind: str, digits: int | None = None, show_mean: bool = False) -> str:
    if kind in ("continuous", "followup"):
        text = fmt.median_iqr(c.get("median"), c.get("q1"), c.get("q3"), digits=digits)
        if show_mean and fmt.finite(c.get("mean")):
            text += "\n" + fmt.mean_sd(c.get("mean"), c.get("sd"))
        return text
    pct = c.get("percent")
    return fmt.count_percent(c.get("count"), share=pct / 100.0 if fmt.finite(pct) else None)


def _digits(cells: list[dict[str, Any]]) -> int:
    """Whole numbers stay whole: 0 decimals when every median and quartile of the row is an integer."""
    values = [c.get(k) for c in cells for k in ("median", "q1", "q3") if fmt.finite(c.get(k))]
    return 0 if values and all(float(v).is_integer() for v in values) else fmt.DIGITS["median"]


def baseline(
    table: dict[str, Any],
    caption: str,
    id: str,
    *,
    column_label: Callable[[str], str] = lambda s: s,
    show_mean: bool = False,
    outcome_row: bool = True,
    names: Callable[[str], str] = lambda s: s.replace("_", " "),
) -> dict[str, Any]:
    """Baseline characteristics: the number with the outcome, follow-up in days, continuous predictors as
    median (IQR) (and mean (SD) with ``show_mean``), levels as n (%); missing counts shown."""
    columns = table["columns"]
    header = ["Characteristic"] + [
        f"{_capital(column_label(c['label']))}\n(n = {fmt.integer(c['n'])})" for c in columns
    ]
    body: list[list[Any]] = []
    previous = None
    for row in table["rows"]:
        name = str(row["variable"]).replace("_", " ") if row["kind"] == "outcome" else names(str(row["variable"]))
        unit = f", {row['unit']}" if row.get("unit") and str(row["unit"]).lower() not in name.lower() else ""
        if row["kind"] == "outcome":
            if outcome_row:
                body.append(
                    [B.cell(_capital(name) + ", n (%)", b=True)] + [_baseline_cell(c, "level") for c in row["cells"]]
                )
        elif row["kind"] == "followup":
            body.append(
                [B.cell("Follow-up" + unit + ", median (IQR)", b=True)]
                + [_baseline_cell(c, "followup", 0) for c in row["cells"]]
            )
        elif row["kind"] == "continuous":
            stats = "median (IQR)" + (" / mean (SD)" if show_mean else "")
            body.append(
                [B.cell(name + unit + ", " + stats)]
                + [_baseline_cell(c, "continuous", _digits(row["cells"]), show_mean) for c in row["cells"]]
            )
            if any((c.get("missing") or 0) > 0 for c in row["cells"]):
                body.append(
                    [B.cell("    missing, n (%)", muted=True)]
                    + [
                        fmt.count_percent(c.get("missing"), col["n"])
                        for c, col in zip(row["cells"], columns, strict=False)
                    ]
                )
        else:
            if row["variable"] != previous:
                body.append([B.cell(name + unit + ", n (%)", b=True, colspan=len(columns) + 1)])
            body.append([B.cell(f"    {row['level']}")] + [_baseline_cell(c, "level") for c in row["cells"]])
        previous = row["variable"]
    n = len(columns)
    first = "4.4cm" if n <= 4 else "3.6cm"
    return B.table(
        header, body, widths=[first] + ["1fr"] * n, caption=caption, id=id, size=7.6 if n <= 4 else 7.0, landscape=n > 4
    )


# ---------------------------------------------------------------- sample size and missing data


def sample_size(ss: dict[str, Any]) -> dict[str, Any]:
    """Riley's sample-size criteria: required against available."""
    req, avail = ss.get("required", {}), ss.get("available", {})
    rows = [
        ["Candidate parameters (logistic design)", fmt.integer(ss.get("n_parameters")), "", ""],
        [
            "Outcome proportion",
            fmt.percent(req.get("prevalence")),
            fmt.percent((avail.get("events") or 0) / avail["n"] if avail.get("n") else None),
            "",
        ],
        [
            "Anticipated C-statistic → Cox-Snell R²",
            f"{fmt.num(ss.get('anticipated_c_statistic'), 'c')} → {fmt.num(req.get('r2_cox_snell'), 'ici')}",
            "",
            f"max R² {fmt.num(req.get('r2_cox_snell_max'), 'ici')}",
        ],
        [
            "Criterion 1: expected shrinkage ≥ 0.9",
            fmt.integer(req.get("n_criterion_1")),
            "",
            f"shrinkage {fmt.num(req.get('expected_shrinkage'), 'shrinkage')}",
        ],
        [
            "Criterion 2: optimism in Nagelkerke R² ≤ 0.05",
            fmt.integer(req.get("n_criterion_2")),
            "",
            f"available: {fmt.num(avail.get('nagelkerke_optimism'), 'ici')}",
        ],
        [
            "Criterion 3: overall risk within ± 0.05",
            fmt.integer(req.get("n_criterion_3")),
            "",
            f"available margin: {fmt.num(avail.get('overall_risk_margin'), 'ici')}",
        ],
        [
            B.cell("Patients", b=True),
            B.cell(fmt.integer(req.get("n")), b=True),
            B.cell(fmt.integer(avail.get("n")), b=True),
            "",
        ],
        [B.cell("Events", b=True), fmt.integer(req.get("events")), fmt.integer(avail.get("events")), ""],
        [
            B.cell("Events per candidate parameter", b=True),
            fmt.num(req.get("epp"), "epp"),
            fmt.num(avail.get("epp"), "epp"),
            "",
        ],
        [
            "Expected shrinkage (van Houwelingen)",
            fmt.num(req.get("shrinkage_target"), "shrinkage"),
            fmt.num(avail.get("expected_shrinkage"), "shrinkage"),
            "",
        ],
        [B.cell("Meets all criteria", b=True), "", B.cell("yes" if avail.get("meets_criteria") else "no", b=True), ""],
    ]
    return B.table(
        ["Quantity", "Required", "Available", "Note"],
        rows,
        widths=["1fr", "2.2cm", "2.2cm", "4.2cm"],
        align=["l", "r", "r", "l"],
        id="tab-samplesize",
        caption="Minimum sample size for model development (Riley et al., BMJ 2020): the required n is the "
        "largest of the three criteria.",
    )


def missing(evidence: dict[str, Any]) -> dict[str, Any]:
    """Missing values per predictor, most missing first."""
    n = evidence.get("data", {}).get("n")
    rows = [
        [
            variable_label(evidence, m["variable"]),
            fmt.integer(m.get("n_missing")),
            fmt.percent(m.get("fraction")),
            "",
        ]
        for m in sorted(evidence.get("missing_data", []), key=lambda m: -(m.get("fraction") or 0))
    ]
    for row in rows:
        row[3] = "complete" if row[1] == "0" else "imputed inside each training fold; missing indicator"
    return B.table(
        ["Predictor", "Missing", "Share", "Handling"],
        rows,
        widths=["4cm", "1.8cm", "1.8cm", "1fr"],
        align=["l", "r", "r", "l"],
        id="tab-missing",
        caption=f"Missing values among the {fmt.integer(n)} analysed patients, per predictor.",
    )


# ---------------------------------------------------------------- methods


IMPUTATION = {
    "simple": "median (continuous) or most frequent value (binary, categorical), with a missing "
    "indicator for each continuous and binary predictor with missing values",
    "iterative": "iterative imputation (Bayesian ridge, one deterministic imputation, continuous "
    "predictors only, never the outcome), with missing indicators",
}


def preprocessing_text(pre: dict[str, Any]) -> str:
    """The preprocessing of one model in words (imputation, splines, scaling, coding, radiomics selection)."""
    parts = [IMPUTATION.get(pre.get("imputation"), str(pre.get("imputation")))]
    if pre.get("spline_knots"):
        parts.append(f"restricted cubic splines with {pre['spline_knots']} knots for continuous predictors")
    parts.append("continuous predictors standardised" if pre.get("scale") else "no rescaling (trees are invariant)")
    parts.append(
        "categorical predictors one-hot encoded" + (" against a reference level" if pre.get("drop_first") else "")
    )
    if pre.get("radiomics_selector"):
        parts.append(f"radiomics selection: {pre['radiomics_selector']}")
    return "; ".join(parts) + "."


def param_value(value: Any) -> str | None:
    """A hyperparameter's value as printed: 4 significant figures (``tol = 1e-04``, not ``0.000``); None for
    a value that says nothing (unset, or a library's ``"deprecated"`` placeholder)."""
    if value is None or value == "deprecated":
        return None
    if isinstance(value, bool) or not isinstance(value, float):
        return str(value)
    if value.is_integer() and abs(value) < 1e15:
        return fmt.integer(value)
    return f"{value:.4g}".replace("-", fmt.MINUS)


def params_text(params: dict[str, Any], keep: int | None = 8) -> str:
    """Hyperparameters as ``name = value`` text (seeds, threads and verbosity left out); with ``keep``, the
    first ``keep`` of them and the number not shown."""
    out = []
    for k, v in params.items():
        text = param_value(v)
        if text is None or k in ("random_state", "n_jobs", "verbose", "verbosity", "missing", "class_weight"):
            continue
        out.append(f"{k} = {text}")
    if keep is None or len(out) <= keep:
        return ", ".join(out)
    return ", ".join(out[:keep]) + f" and {len(out) - keep} more (the final model: §9)"


def estimator_name(spec: dict[str, Any]) -> str:
    """The estimator's class as a reader knows it: the package's class-weighting wrapper is named only when
    class weights were used (``ClassWeightedXGBClassifier`` without weights is an ``XGBClassifier``)."""
    name = str(spec.get("estimator") or fmt.MISSING)
    prefix = "ClassWeighted"
    if name.startswith(prefix) and not spec.get("class_weight"):
        return name[len(prefix) :]
    return name


def models(evidence: dict[str, Any]) -> dict[str, Any]:
    """The model families compared, with preprocessing and final hyperparameters."""
    best = evidence.get("best_family")
    rows = []
    for family in ordered_families(evidence):
        spec = evidence["families"][family].get("specification") or {}
        tuning = spec.get("tuning") or {}
        hyper = spec.get("hyperparameters") or spec.get("parameters") or {}
        if family == "logistic" and str(hyper.get("C")) in ("inf", "None"):
            setting = "maximum likelihood, no penalty"
        else:
            setting = params_text(tuning.get("best_params") or hyper, keep=5)
        rows.append(
            [
                model_label(family, best),
                B.cell(estimator_name(spec), m=True),
                preprocessing_text(spec["preprocessing"]) if spec.get("preprocessing") else "–",
                setting,
            ]
        )
    return B.table(
        ["Model", "Estimator", "Predictor handling", "Final settings"],
        rows,
        widths=["2.4cm", "3.2cm", "1fr", "4.2cm"],
        align=["l", "l", "l", "l"],
        size=7.5,
        id="tab-models",
        caption="Model families and how predictors were handled (TRIPOD+AI 12b, 12c).",
    )


def tuning(evidence: dict[str, Any]) -> dict[str, Any] | None:
    """Hyperparameter tuning per family: sampler, budget, trials by state, best inner score."""
    rows = []
    for family in ordered_families(evidence):
        rec = evidence["families"][family]
        runs = rec.get("tuning") or []
        spec = rec.get("specification") or {}
        final = spec.get("tuning") or (runs[-1] if runs else {})
        if not runs and not final:
            continue
        trials = sum(r.get("n_trials") or 0 for r in runs)
        complete = sum(r.get("n_complete") or 0 for r in runs)
        pruned = sum(r.get("n_pruned") or 0 for r in runs)
        failed = sum(r.get("n_failed") or 0 for r in runs)
        if not final.get("n_trials"):
            rows.append([family_name(family), "none (no hyperparameters)", "–", "–", "–", "–"])
            continue
        rows.append(
            [
                family_name(family),
                f"{final.get('sampler', '–')}; {fmt.integer(final.get('n_trials'))} trials per study; "
                f"{fmt.integer(final.get('inner_cv'))}-fold inner CV; {final.get('metric', '–')}",
                fmt.integer(len(runs)),
                f"{fmt.integer(complete)} / {fmt.integer(pruned)} / {fmt.integer(failed)} of {fmt.integer(trials)}",
                fmt.num(
                    -final["best_value"]
                    if final.get("best_value") is not None and str(final.get("metric", "")).startswith("neg_")
                    else final.get("best_value"),
                    "log_loss",
                ),
                params_text(final.get("best_params") or {}, keep=7),
            ]
        )
    if not rows:
        return None
    return B.table(
        [
            "Model",
            "Search",
            "Studies",
            "Trials complete / pruned / failed",
            "Best inner score",
            "Final hyperparameters",
        ],
        rows,
        widths=["2.1cm", "3.6cm", "1.3cm", "2.4cm", "1.5cm", "1fr"],
        align=["l", "l", "r", "r", "r", "l"],
        size=7.5,
        id="tab-tuning",
        caption="Hyperparameter tuning: an Optuna study, or for a family tuned along its regularisation path "
        "the grid points of that warm-started path (counted as trials), per outer development fold and for the "
        "final model; the inner score of a negated metric is shown as the metric itself "
        "(e.g. log-loss, lower is better).",
    )


# ---------------------------------------------------------------- performance


def _auc(cv: dict[str, Any]) -> dict[str, Any] | None:
    return (cv.get("discrimination") or {}).get("auc")


def _by_family(
    evidence: dict[str, Any], spec: list[tuple[str, Any]], caption: str, id: str, size: float = 7.4
) -> dict[str, Any]:
    """Measures as rows, models as columns; a spec entry is (label, fn(record) -> str) or a group heading
    (label, None). Rows where no model has a value are left out."""
    fams = ordered_families(evidence)
    best = evidence.get("best_family")
    rows: list[list[Any]] = []
    pending = None
    for label, fn in spec:
        if fn is None:
            pending = [B.cell(label, b=True, colspan=len(fams) + 1)]
            continue
        cells = [fn(evidence["families"][f]) for f in fams]
        if all(c == fmt.MISSING for c in cells):
            continue
        if pending:
            rows.append(pending)
            pending = None
        rows.append([label, *cells])
    wide = len(fams) >= 4
    return B.table(
        ["Measure", *[model_label(f, best) for f in fams]],
        rows,
        widths=["2.6cm" if wide else "4.2cm"] + ["1fr"] * len(fams),
        align=["l"] + ["r"] * len(fams),
        size=min(size, 7.0) if wide else size,
        caption=caption,
        id=id,
        note=MISSING_NOTE if any(fmt.MISSING in row[1:] for row in rows) else None,
    )


def _het(rec: dict[str, Any]) -> dict[str, Any]:
    return (rec.get("internal_external") or {}).get("heterogeneity") or {}


def _pi(pi: list[Any] | None, kind: str) -> str:
    return fmt.interval(pi[0], pi[1], kind) if pi else fmt.MISSING


def _optimism(record: dict[str, Any], part: str, name: str) -> str:
    """A family's optimism-bootstrap value of metric ``name``: ``apparent``, ``optimism`` or ``corrected``."""
    return fmt.num(metrics.point((record.get("optimism") or {}).get(part), name), metrics.kind(name))


def _metric(record: dict[str, Any], name: str) -> str:
    """A family's cross-validated estimate of metric ``name`` (:mod:`spineoutcome.metrics`), formatted."""
    return fmt.est(metrics.estimate(record.get("cross_validation"), name), metrics.kind(name))


def discrimination(evidence: dict[str, Any]) -> dict[str, Any]:
    """Discrimination and overall performance of every family."""
    spec = [
        ("Discrimination (AUC)", None),
        ("Cross-validated (nested tuning)", lambda r: fmt.est(_auc(r["cross_validation"]), "auc")),
        ("Apparent (final model on its own data)", lambda r: _optimism(r, "apparent", "auc")),
        ("Bootstrap optimism", lambda r: _optimism(r, "optimism", "auc")),
        ("Optimism-corrected", lambda r: _optimism(r, "corrected", "auc")),
        ("Internal-external: pooled over centres", lambda r: fmt.est(_het(r).get("pooled_auc"), "auc")),
        (
            "Internal-external: 95 % prediction interval, new centre",
            lambda r: _pi(_het(r).get("pooled_auc_prediction_interval"), "auc"),
        ),
        ("Overall performance", None),
        ("Brier score (lower is better)", lambda r: _metric(r, "brier")),
        ("Scaled Brier score (higher is better)", lambda r: _metric(r, "scaled_brier")),
        ("Log-loss (selection criterion)", lambda r: _metric(r, "log_loss")),
        ("Nagelkerke R²", lambda r: _metric(r, "r2_nagelkerke")),
    ]
    return _by_family(
        evidence,
        spec,
        id="tab-discrimination",
        caption="Discrimination and overall performance of every model: cross-validated with tuning "
        "nested in each development fold (bootstrap 95 % CIs), apparent and bootstrap "
        "optimism-corrected (Harrell), and internal-external validation by centre "
        "(random-effects pooled, with the 95 % prediction interval for a new centre).",
    )


def calibration(evidence: dict[str, Any]) -> dict[str, Any]:
    """The calibration hierarchy of every family."""
    spec = [
        ("Mean calibration", None),
        ("Calibration in the large, CITL (ideal 0)", lambda r: _metric(r, "calibration_intercept")),
        ("O:E ratio (ideal 1)", lambda r: _metric(r, "oe_ratio")),
        ("Internal-external: pooled O:E", lambda r: fmt.est(_het(r).get("pooled_oe_ratio"), "oe")),
        ("Weak calibration", None),
        ("Calibration slope (ideal 1)", lambda r: _metric(r, "calibration_slope")),
        ("Optimism-corrected slope (bootstrap)", lambda r: _optimism(r, "corrected", "calibration_slope")),
        ("Moderate calibration (loess curve)", None),
        ("ICI, integrated calibration index", lambda r: _metric(r, "ici")),
        ("E50, median absolute error", lambda r: _metric(r, "e50")),
        ("E90, 90th centile absolute error", lambda r: _metric(r, "e90")),
    ]
    return _by_family(
        evidence,
        spec,
        id="tab-calibration",
        caption="Calibration hierarchy (Van Calster et al. 2016) of the cross-validated predictions: "
        "mean, weak (slope) and moderate (flexible curve; absolute errors as in Austin & "
        "Steyerberg 2019), with bootstrap 95 % CIs.",
    )


def classification(evidence: dict[str, Any]) -> dict[str, Any] | None:
    """Sensitivity, specificity, PPV and NPV at the prespecified thresholds."""
    per_threshold: dict[float, list[list[Any]]] = {}
    for family in ordered_families(evidence):
        table = (evidence["families"][family]["cross_validation"].get("classification") or {}).get("rows") or []
        for r in table:
            counts = (
                f"TP {fmt.integer(r['tp'])} · FP {fmt.integer(r['fp'])} · FN {fmt.integer(r['fn'])} · "
                f"TN {fmt.integer(r['tn'])}"
            )
            per_threshold.setdefault(r["threshold"], []).append(
                [
                    B.cell(f"{family_name(family)}\n{counts}"),
                    fmt.est(r.get("sensitivity"), "sens"),
                    fmt.est(r.get("specificity"), "spec"),
                    fmt.est(r.get("ppv"), "ppv"),
                    fmt.est(r.get("npv"), "npv"),
                ]
            )
    if not per_threshold:
        return None
    rows: list[list[Any]] = []
    for t, block in per_threshold.items():
        rows.append([B.cell(f"Risk threshold {fmt.threshold(t)}", b=True, colspan=5)])
        rows.extend(block)
    return B.table(
        ["Model", "Sensitivity", "Specificity", "PPV", "NPV"],
        rows,
        widths=["3.3cm", "1fr", "1fr", "1fr", "1fr"],
        size=7.2,
        id="tab-classification",
        caption="Classification at the prespecified risk thresholds (cross-validated predictions; Wilson "
        "95 % CIs). Thresholds describe performance; they are not a recommended decision rule.",
    )


def _nearest(grid: list[Any], t: Any) -> int | None:
    """Index of the grid point closest to threshold ``t`` (points that are not numbers are skipped)."""
    candidates = [(abs(g - t), k) for k, g in enumerate(grid or []) if fmt.finite(g)]
    return min(candidates)[1] if candidates and fmt.finite(t) else None


def _at(values: list[Any] | None, j: int | None) -> Any:
    return values[j] if j is not None and values and j < len(values) else None


PER_100 = 100.0
"""Net benefit and shares are shown per 100 patients: a surgeon reads "3 more patients per 100"."""


def _per_100(value: Any) -> Any:
    return value * PER_100 if fmt.finite(value) else None


def net_benefit(evidence: dict[str, Any], thresholds: list[float]) -> dict[str, Any] | None:
    """Net benefit at the prespecified thresholds, per 100 patients, with bootstrap intervals."""
    rows = []
    first = None
    for family in ordered_families(evidence):
        dc = evidence["families"][family]["cross_validation"].get("decision_curve")
        if not dc:
            continue
        first = first or dc
        ci = (dc.get("ci") or {}).get("nb_model") or [[], []]
        cells = []
        for t in thresholds:
            j = _nearest(dc.get("thresholds"), t)
            cells.append(
                fmt.estimate(
                    _per_100(_at(dc.get("nb_model"), j)),
                    _per_100(_at(ci[0], j)),
                    _per_100(_at(ci[1], j)),
                    "nb_100",
                )
            )
        rows.append([model_label(family, evidence.get("best_family")), *cells])
    if not rows or first is None:
        return None
    treat_all = [
        fmt.num(_per_100(_at(first.get("nb_all"), _nearest(first.get("thresholds"), t))), "nb_100") for t in thresholds
    ]
    rows.append([B.cell("Treat all", i=True), *treat_all])
    rows.append([B.cell("Treat none", i=True), *[fmt.num(0.0, "nb_100")] * len(thresholds)])
    return B.table(
        ["Strategy", *[f"Net benefit per 100 at {fmt.threshold(t)}" for t in thresholds]],
        rows,
        widths=["2.6cm"] + ["1fr"] * len(thresholds),
        size=7.5,
        id="tab-netbenefit",
        note=MISSING_NOTE if any(fmt.MISSING in r[1:] for r in rows) else None,
        caption="Net benefit (Vickers & Elkin 2006) at the prespecified thresholds, with bootstrap 95 % CIs, "
        "per 100 patients: 100 × (TP/n − FP/n × pt/(1 − pt)). A net benefit of 2 per 100 is worth as much as "
        "treating 2 of every 100 patients, all of whom develop the outcome, with no unnecessary treatment; "
        "treat all and treat none are the strategies without a model.",
    )


def confusion_counts(row: dict[str, Any]) -> tuple[int, int, int, int] | None:
    """TP, FP, TN and FN of a classification row; None when a count was suppressed (small cell) or is missing."""
    tp, fp, tn, fn = (row.get(k) for k in ("tp", "fp", "tn", "fn"))
    if not all(isinstance(c, int) and not isinstance(c, bool) for c in (tp, fp, tn, fn)):
        return None
    return tp, fp, tn, fn


def decision_impact(evidence: dict[str, Any], thresholds: list[float], treatment: str) -> dict[str, Any] | None:
    """What acting on the model at each threshold means, per 100 patients: how many are flagged (risk at or
    above the threshold), how many of those have the outcome, how many with the outcome are caught and
    missed, for the selected model and logistic regression (cross-validated predictions)."""
    best = evidence.get("best_family")
    shown = [f for f in dict.fromkeys([best, "logistic"]) if f in evidence.get("families", {})]
    body: list[list[Any]] = []
    for t in thresholds:
        body.append([B.cell(f"Treat when the predicted risk is {fmt.threshold(t)} or more", b=True, colspan=6)])
        for family in shown:
            rows = (evidence["families"][family]["cross_validation"].get("classification") or {}).get("rows") or []
            r = next((r for r in rows if fmt.finite(r.get("threshold")) and abs(r["threshold"] - t) < 1e-9), None)
            counts = confusion_counts(r) if r else None
            if counts is None or not sum(counts):
                continue
            tp, fp, tn, fn = counts
            n, events = tp + fp + tn + fn, tp + fn
            body.append(
                [
                    f"    {model_label(family, best)}",
                    fmt.num(PER_100 * (tp + fp) / n, digits=0),
                    fmt.num(PER_100 * tp / n, digits=1),
                    fmt.num(PER_100 * fn / n, digits=1),
                    fmt.percent(tp / events if events else None, digits=0),
                    fmt.num(PER_100 * (tp / n - fp / n * t / (1 - t)), "nb_100"),
                ]
            )
    if len(body) <= len(thresholds):
        return None
    return B.table(
        [
            "Threshold and model",
            "Flagged per 100",
            "Flagged with the outcome, per 100",
            "Missed with the outcome, per 100",
            "Share of events caught",
            "Net benefit per 100",
        ],
        body,
        widths=["1fr", "1.8cm", "2.4cm", "2.4cm", "2cm", "2cm"],
        align=["l", "r", "r", "r", "r", "r"],
        size=7.5,
        id="tab-decision-impact",
        caption=f"What acting on the model means, per 100 patients like those analysed. Treat: {treatment}. "
        "Flagged: predicted risk at or above the threshold; share of events caught: the flagged among those who "
        "develop the outcome (sensitivity). Cross-validated predictions.",
    )


def centre_results(evidence: dict[str, Any], family: str) -> dict[str, Any] | None:
    """Each held-out centre of internal-external validation: patients, events, AUC, O:E, calibration slope."""
    het = ((evidence["families"].get(family) or {}).get("internal_external") or {}).get("heterogeneity") or {}
    centres = het.get("centres") or []
    if not centres:
        return None
    body = []
    for c in centres:
        counts = f"{fmt.integer(c.get('n'))} ({fmt.integer(c.get('n_events'))})"
        if c.get("status") not in (None, "ok"):
            body.append([c.get("centre", ""), counts, B.cell("too few events to estimate", i=True, colspan=3)])
            continue
        body.append(
            [
                c.get("centre", ""),
                counts,
                fmt.est(c.get("auc"), "auc"),
                fmt.est(c.get("oe_ratio"), "oe"),
                fmt.est(c.get("slope"), "slope"),
            ]
        )
    pi_auc, pi_oe = het.get("pooled_auc_prediction_interval"), het.get("pooled_oe_prediction_interval")
    slope = (het.get("pooled") or {}).get("slope") or {}
    pi_slope = slope.get("prediction_interval")
    body.append(
        [
            B.cell("Pooled (random effects)", b=True),
            "",
            fmt.est(het.get("pooled_auc"), "auc"),
            fmt.est(het.get("pooled_oe_ratio"), "oe"),
            fmt.est(slope.get("estimate"), "slope"),
        ]
    )
    body.append(
        [
            B.cell("95 % prediction interval for a new centre", i=True),
            "",
            fmt.interval(pi_auc[0], pi_auc[1], "auc") if pi_auc else fmt.MISSING,
            fmt.interval(pi_oe[0], pi_oe[1], "oe") if pi_oe else fmt.MISSING,
            fmt.interval(pi_slope[0], pi_slope[1], "slope") if pi_slope else fmt.MISSING,
        ]
    )
    return B.table(
        ["Held-out centre", "n (events)", "AUC", "O:E ratio", "Calibration slope"],
        body,
        widths=["3.4cm", "1.8cm", "1fr", "1fr", "1fr"],
        size=7.4,
        id=f"tab-centres-{family}",
        caption=f"{family_name(family)}: performance in each held-out centre of internal-external validation "
        "(a model developed without the centre predicts its patients; 95 % CIs), the random-effects pooled "
        "estimate and the 95 % prediction interval for a new centre.",
    )


def comparison(evidence: dict[str, Any], thresholds: list[float]) -> dict[str, Any] | None:
    """Paired differences against logistic regression on the same patients."""
    fams = [f for f in ordered_families(evidence) if evidence["families"][f].get("comparison_to_logistic")]
    if not fams:
        return None

    def comp(r: dict[str, Any]) -> dict[str, Any]:
        return r.get("comparison_to_logistic") or {}

    def nb(t: float) -> Callable[[dict[str, Any]], str]:
        def cell(r: dict[str, Any]) -> str:
            x = next(
                (
                    x
                    for x in comp(r).get("net_benefit_difference") or []
                    if fmt.finite(x.get("threshold")) and abs(x["threshold"] - t) < 1e-9
                ),
                None,
            )
            if x is None:
                return fmt.MISSING
            low, high = _per_100(x.get("ci_low")), _per_100(x.get("ci_high"))
            return fmt.estimate(_per_100(x.get("value")), low, high, "nb_100")

        return cell

    rows = [
        ("AUC difference (DeLong)", lambda r: fmt.est((comp(r).get("auc_delong") or {}).get("difference"), "auc")),
        ("P (DeLong test)", lambda r: fmt.p_value((comp(r).get("auc_delong") or {}).get("p_value"))),
        ("ICI difference (bootstrap)", lambda r: fmt.est(comp(r).get("ici_difference"), "ici")),
        *[(f"Net benefit difference per 100 at {fmt.threshold(t)}", nb(t)) for t in thresholds],
    ]
    best = evidence.get("best_family")
    body = [[label, *[fn(evidence["families"][f]) for f in fams]] for label, fn in rows]
    return B.table(
        ["Model minus logistic regression", *[model_label(f, best) for f in fams]],
        body,
        widths=["4.2cm"] + ["1fr"] * len(fams),
        align=["l"] + ["r"] * len(fams),
        size=7.4,
        id="tab-comparison",
        caption="Paired comparison with logistic regression on the same patients and the same "
        "cross-validated predictions: positive AUC and net-benefit differences and negative ICI "
        "differences favour the flexible model.",
    )


def subgroups(
    rows: list[dict[str, Any]], family: str, names: Callable[[str], str] = lambda s: s.replace("_", " ")
) -> dict[str, Any] | None:
    """Discrimination and calibration by subgroup; a group with too few events says so across its row and
    a measure that could not be computed in an adequate group is "not estimable"."""
    wanted = {"auc": "auc", "oe_ratio": "oe", "slope": "slope"}
    groups: dict[tuple[str, str], dict[str, Any]] = {}
    for r in rows:
        g = groups.setdefault(
            (r["grouping"], r["group"]), {"n": r.get("n"), "events": r.get("n_events"), "status": "ok"}
        )
        if r["metric"] in wanted and fmt.finite(r.get("estimate")):
            g[r["metric"]] = fmt.estimate(r["estimate"], r.get("ci_low"), r.get("ci_high"), wanted[r["metric"]])
        if r.get("status") == "too_few_events":
            g["status"] = "too_few_events"
    if not groups:
        return None
    body, previous = [], None
    not_estimable = B.cell(fmt.NOT_ESTIMABLE, i=True, muted=True)
    for (grouping, group), g in groups.items():
        if grouping != previous and grouping != "overall":
            body.append([B.cell(names(grouping), b=True, colspan=5)])
        previous = grouping
        label = "All patients" if grouping == "overall" else f"    {group}"
        counts = f"{fmt.integer(g['n'])} ({fmt.integer(g['events'])})"
        if g["status"] == "too_few_events":
            body.append([label, counts, B.cell("too few events to estimate", i=True, muted=True, colspan=3, align="c")])
        else:
            body.append([label, counts, *[g.get(m, not_estimable) for m in wanted]])
    return B.table(
        ["Subgroup", "n (events)", "AUC", "O:E ratio", "Calibration slope"],
        body,
        widths=["2.9cm", "1.7cm", "1fr", "1fr", "1fr"],
        size=7.4,
        id=f"tab-subgroups-{family}",
        caption=f"{family_name(family)}: discrimination and calibration by subgroup (cross-validated "
        f"predictions, bootstrap 95 % CIs).",
    )


def heterogeneity(evidence: dict[str, Any]) -> dict[str, Any] | None:
    """Random-effects pooled performance across centres with prediction intervals."""
    rows = []
    for family in ordered_families(evidence):
        iecv = evidence["families"][family].get("internal_external")
        if not iecv:
            continue
        het = iecv.get("heterogeneity") or {}
        pooled = het.get("pooled") or {}
        for key, label, kind in (
            ("logit_auc", "AUC", "auc"),
            ("log_oe", "O:E ratio", "oe"),
            ("citl", "CITL", "citl"),
            ("slope", "Calibration slope", "slope"),
        ):
            meta = pooled.get(key)
            if not meta:
                continue
            if key == "logit_auc":
                estimate, pi = fmt.est(het.get("pooled_auc"), "auc"), het.get("pooled_auc_prediction_interval")
            elif key == "log_oe":
                estimate, pi = fmt.est(het.get("pooled_oe_ratio"), "oe"), het.get("pooled_oe_prediction_interval")
            else:
                estimate, pi = fmt.est(meta.get("estimate"), kind), meta.get("prediction_interval")
            rows.append(
                [
                    family_name(family) if key == "logit_auc" else "",
                    label,
                    fmt.integer(meta.get("k")),
                    estimate,
                    fmt.interval(pi[0], pi[1], kind) if pi else fmt.MISSING,
                    fmt.num(meta.get("tau2"), "tau2"),
                    f"{fmt.num(100 * (meta.get('i2') or 0), digits=0)} %"
                    if meta.get("i2") is not None
                    else fmt.MISSING,
                    fmt.p_value(meta.get("q_p_value")),
                ]
            )
    if not rows:
        return None
    return B.table(
        ["Model", "Measure", "Centres", "Pooled (95 % CI)", "95 % prediction interval", "τ²", "I²", "Q test"],
        rows,
        widths=["2.2cm", "2.2cm", "1.2cm", "1fr", "2.5cm", "1.1cm", "0.9cm", "1.7cm"],
        align=["l", "l", "r", "r", "r", "r", "r", "r"],
        size=7.0,
        id="tab-heterogeneity",
        caption="Heterogeneity across centres in internal-external validation: random-effects (REML) "
        "pooled estimates (AUC on the logit scale, O:E on the log scale, back-transformed), "
        "between-centre variance τ² (on the pooling scale), I² and Cochran's Q.",
    )


def analysed(evidence: dict[str, Any]) -> dict[str, Any]:
    """How many patients and events each analysis step developed and tested on."""
    data = evidence.get("data", {})
    pipe = evidence.get("pipeline", {})
    val = pipe.get("validation") or {}
    n, events = data.get("n"), data.get("events")
    rows = [["Model development (final models, apparent performance)", fmt.integer(n), fmt.integer(events)]]
    folds = val.get("folds")
    tuned = any(evidence["families"][f].get("tuning") for f in evidence.get("families", {}))
    if folds and n:
        rows.append(
            [
                f"Cross-validation: each of {folds} development folds" + (" (tuning nested inside)" if tuned else ""),
                f"≈ {fmt.integer(n * (folds - 1) / folds)}",
                f"≈ {fmt.integer((events or 0) * (folds - 1) / folds)}",
            ]
        )
        rows.append(
            [
                f"Cross-validation: each test fold (predictions pooled over {val.get('repeats', 1)} × {folds} folds)",
                f"≈ {fmt.integer(n / folds)}",
                f"≈ {fmt.integer((events or 0) / folds)}",
            ]
        )
        tun = pipe.get("tuning") or {}
        if tun.get("inner_folds") and tun.get("n_trials") and tuned:
            inner = tun["inner_folds"]
            rows.append(
                [
                    f"Hyperparameter tuning: each of {inner} inner training folds",
                    f"≈ {fmt.integer(n * (folds - 1) / folds * (inner - 1) / inner)}",
                    f"≈ {fmt.integer((events or 0) * (folds - 1) / folds * (inner - 1) / inner)}",
                ]
            )
    boot = val.get("bootstrap") or {}
    if boot and boot.get("replicates"):
        rows.append(
            [
                f"Bootstrap optimism: {fmt.integer(boot['replicates'])} resamples of the development data",
                fmt.integer(n),
                fmt.integer(events),
            ]
        )
    for family in ordered_families(evidence):
        iecv = evidence["families"][family].get("internal_external")
        if iecv:
            centres = (iecv.get("heterogeneity") or {}).get("centres") or []
            ev = sum(c.get("n_events") or 0 for c in centres)
            rows.append(
                [
                    f"Internal-external validation: {len(centres)} held-out centres (all models)",
                    fmt.integer(iecv.get("n_tested")),
                    fmt.integer(ev),
                ]
            )
            break
    for family in ordered_families(evidence):
        tmp = evidence["families"][family].get("temporal")
        if tmp:
            ev = tmp.get("evaluation", {}).get("discrimination", {}).get("n_events")
            rows.append(
                [
                    f"Temporal validation: development / validation ({tmp.get('split')})",
                    f"{fmt.integer(tmp.get('n_development'))} / {fmt.integer(tmp.get('n_validation'))}",
                    f"– / {fmt.integer(ev)}",
                ]
            )
            break
    return B.table(
        ["Analysis", "Patients", "Events"],
        rows,
        widths=["1fr", "2.4cm", "2.4cm"],
        id="tab-analysed",
        caption="Patients and outcome events in each analysis (TRIPOD+AI item 21). "
        "≈: fold sizes are approximate (folds stratified by outcome); the optimism bootstrap is stratified by "
        "outcome, so every resample has the events shown.",
    )


# ---------------------------------------------------------------- model specification


def odds_ratios(spec: dict[str, Any], evidence: dict[str, Any]) -> dict[str, Any] | None:
    """Odds ratios of the logistic model for clinically meaningful contrasts."""
    rows = spec.get("odds_ratios") or []
    if not rows:
        return None
    body = [
        [
            variable_label(evidence, r["variable"]),
            r["contrast"],
            fmt.estimate(r["odds_ratio"], r["ci_low"], r["ci_high"], "or"),
        ]
        for r in rows
    ]
    return B.table(
        ["Predictor", "Contrast", "Adjusted odds ratio"],
        body,
        widths=["3.6cm", "1fr", "5.2cm"],
        align=["l", "l", "r"],
        id="tab-odds",
        caption="Logistic regression: adjusted odds ratios with 95 % CIs (delta method) for every predictor: "
        "an interquartile-range change of continuous predictors (through their spline terms; the 10th to "
        "90th centile, or one unit, when most patients share one value), each level against the reference "
        "for categorical ones, other predictors at the reference profile.",
    )


def coefficients(spec: dict[str, Any]) -> dict[str, Any] | None:
    """Coefficients of a linear model with their Wald intervals."""
    rows = spec.get("coefficients") or []
    if not rows:
        return None
    body = [
        [
            B.cell(r["term"], m=True),
            fmt.num(r["estimate"], "coef"),
            fmt.num(r["se"], "se"),
            fmt.interval(r["ci_low"], r["ci_high"], "coef"),
        ]
        for r in rows
    ]
    return B.table(
        ["Term (model design)", "Coefficient (log-odds)", "SE", "95 % CI"],
        body,
        widths=["1fr", "2.6cm", "1.6cm", "3.6cm"],
        align=["l", "r", "r", "r"],
        id="tab-coefficients",
        caption="Logistic regression: the full model on its design scale (intercept and every term, "
        "standardised continuous predictors and their restricted cubic spline terms, missing "
        "indicators, one-hot levels). Risk = 1 / (1 + exp(−linear predictor)). The fitted "
        "preprocessing (medians, scaling, knots) is part of the logged model object.",
    )


def raw_scale(
    spec: dict[str, Any], family: str, units: dict[str, str | None], names: Callable[[str], str] = lambda s: s
) -> dict[str, Any] | None:
    """The model on the predictors' original units (:mod:`spineoutcome.experiment.rawscale`): intercept and
    every term, spline terms numbered with their knots, levels against their reference (TRIPOD+AI item 22)."""
    formula = spec.get("raw_scale") or {}
    if not formula.get("terms"):
        return None
    references = formula.get("references") or {}

    def label(t: dict[str, Any]) -> str:
        var, unit = names(t["variable"]), units.get(t["variable"])
        if t["kind"] == "linear":
            return f"{var} (per {unit})" if unit else var
        if t["kind"] == "spline":
            return f"{var}: spline term B{t['index']}(x)"
        if t["kind"] == "level":
            ref = references.get(var)
            return f"{var} = {t['level']}" + (f" (vs {ref})" if ref else "")
        return f"{var} missing" if t["kind"] == "missing" else f"{var} (yes vs no)"

    rows = [formula["intercept"] | {"label": "(intercept)"}, *[t | {"label": label(t)} for t in formula["terms"]]]
    body = [
        [
            r["label"],
            _significant(r.get("estimate")),
            f"{_significant(r.get('ci_low'))} to {_significant(r.get('ci_high'))}"
            if fmt.finite(r.get("ci_low"))
            else fmt.MISSING,
        ]
        for r in rows
    ]
    knots = "; ".join(
        f"{names(v)}: {', '.join(_significant(k) for k in ks or [])}"
        for v, ks in (formula.get("splines") or {}).items()
    )
    medians = "; ".join(f"{names(v)} {_significant(m)}" for v, m in (formula.get("imputation") or {}).items())
    return B.table(
        ["Term (original units)", "Coefficient (log-odds)", "95 % CI"],
        body,
        widths=["1fr", "3cm", "4cm"],
        align=["l", "r", "r"],
        id=f"tab-raw-scale-{family}",
        size=7.5,
        caption=f"{family}: the model on the predictors' original units. Risk = 1 / (1 + "
        "exp(−(intercept + Σ coefficient × term))). Spline terms: "
        + formula.get("basis", "")
        + "; knots: "
        + (knots or "none")
        + ". A missing continuous value is replaced by its median ("
        + (medians or "–")
        + ") and its missing indicator is 1. Intervals: Wald, from the "
        "unpenalised fit (none for penalised models).",
    )


def _significant(value: Any) -> str:
    """Six significant figures (raw-scale coefficients of spline terms can be of order 1e-6), true minus."""
    if not fmt.finite(value):
        return fmt.MISSING
    return f"{float(value):.6g}".replace("-", fmt.MINUS)


WEIBULL_PARAMETERS = {"lambda_": "log λ (scale: log time)", "rho_": "log ρ (shape)"}


def weibull_coefficients(spec: dict[str, Any]) -> dict[str, Any] | None:
    """The Weibull AFT model on its design scale: log-scale and log-shape coefficients with Wald CIs."""
    rows = spec.get("coefficients") or []
    if not rows:
        return None
    body, previous = [], None
    for r in rows:
        parameter = r.get("parameter")
        label = WEIBULL_PARAMETERS.get(parameter, str(parameter)) if parameter != previous else ""
        previous = parameter
        body.append(
            [
                label,
                B.cell(str(r.get("covariate", "")), m=True),
                fmt.num(r.get("coef"), "coef"),
                fmt.num(r.get("se"), "se"),
                fmt.interval(r.get("ci_low"), r.get("ci_high"), "coef"),
            ]
        )
    return B.table(
        ["Parameter", "Term (model design)", "Coefficient", "SE", "95 % CI"],
        body,
        widths=["3.4cm", "1fr", "2.2cm", "1.6cm", "3.6cm"],
        align=["l", "l", "r", "r", "r"],
        size=7.5,
        id=f"tab-coefficients-{spec.get('family', 'survival')}",
        caption="Weibull accelerated failure time model fitted on all analysed patients: "
        "S(t | x) = exp(−(t / λ(x))^ρ) with log λ(x) = intercept + coefficients × design "
        "(positive coefficients: longer time to the event). Wald 95 % CIs (lifelines).",
    )


def hyperparameters(spec: dict[str, Any]) -> dict[str, Any]:
    """The final hyperparameters of one model."""
    params = spec.get("hyperparameters") or spec.get("parameters") or {}
    rows = []
    for k, v in params.items():
        text = param_value(v)
        if text is not None:
            rows.append((k, text))
    return B.keyvals(
        rows,
        id="tab-hyper",
        widths=("5cm", "1fr"),
        size=8.0,
        caption=f"{estimator_name(spec)}: every hyperparameter of the final model (unset library defaults omitted).",
    )


def environment(env: dict[str, Any]) -> dict[str, Any]:
    """Python, platform and package versions of the run."""
    rows = [
        ("spineoutcome", str(env.get("spineoutcome", "–"))),
        ("Python", str(env.get("python", "–"))),
        ("Platform", str(env.get("platform", "–"))),
    ]
    rows += [(k, str(v)) for k, v in (env.get("packages") or {}).items()]
    return B.keyvals(
        rows, id="tab-environment", caption="Software versions of the run.", widths=("4cm", "1fr"), size=8.0
    )


def flat_config(config: dict[str, Any], prefix: str = "") -> list[tuple[str, str]]:
    """The pipeline configuration as dotted key-value rows."""
    rows: list[tuple[str, str]] = []
    for k, v in config.items():
        key = f"{prefix}.{k}" if prefix else str(k)
        if isinstance(v, dict) and v:
            rows += flat_config(v, key)
        elif isinstance(v, list):
            rows.append((key, ", ".join(str(x) for x in v) if v else "[]"))
        else:
            rows.append((key, "–" if v is None else str(v)))
    return rows
