"""The TRIPOD+AI report rendered from a real (tiny) run: pages, checklist, numbers, layout."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from spineoutcome.privacy import disclose
from spineoutcome.report import item_ids
from spineoutcome.report import numbers as fmt
from spineoutcome.report.document import build

from .conftest import Rendered, normalise, pages, tool

pytestmark = pytest.mark.slow
MARGIN_PT = 2 * 72 / 2.54  # 2 cm page margins


def checklist_ids(layout: str) -> list[str]:
    part = layout[layout.rindex("TRIPOD+AI checklist\n") :]
    return re.findall(r"(?m)^\s{0,3}(\d{1,2}[a-g]?)\s{2,}\S", part)


def test_pages_render_to_png(binary_report: Rendered, tmp_path: Path) -> None:
    n = pages(binary_report.pdf)
    assert n >= 18
    subprocess.run(
        [tool("pdftoppm"), "-r", "50", "-png", str(binary_report.pdf), str(tmp_path / "p")],
        check=True,
        capture_output=True,
    )
    images = sorted(tmp_path.glob("p-*.png"))
    assert len(images) == n
    for image in images:
        pixels = np.asarray(Image.open(image).convert("L"))
        assert (pixels < 128).mean() > 0.002, f"{image.name} looks blank"


def test_every_tripod_item_is_in_the_checklist(binary_report: Rendered) -> None:
    assert len(item_ids()) == 52
    assert checklist_ids(binary_report.layout) == item_ids()
    part = normalise(binary_report.text[binary_report.text.rindex("TRIPOD+AI checklist") :])
    assert "AUTHORS’ INPUT" in part or "AUTHORS' INPUT" in part
    assert "(not in this report)" not in part


def test_numbers_in_the_pdf_are_the_evidence_numbers(binary_report: Rendered) -> None:
    ev = binary_report.evidence
    text = normalise(binary_report.text)
    data, best = ev["data"], ev["best_family"]
    auc = ev["families"][best]["cross_validation"]["discrimination"]["auc"]
    formatted = fmt.est(auc, "auc")
    assert re.fullmatch(r"−?\d\.\d\d \(95 % CI −?\d\.\d\d to −?\d\.\d\d\)", formatted)
    assert f"cross-validated AUC of {formatted}" in text
    assert f"Patients analysed {fmt.integer(data['n'])} from {fmt.integer(data['centres'])} centres" in text
    assert f"n = {fmt.integer(data['n'])}" in text
    assert f"{fmt.count_percent(data['events'], share=data['prevalence'])} had the outcome" in text
    lr = ev["families"]["logistic"]
    slope = lr["cross_validation"]["calibration"]["slope"]
    assert fmt.est(slope, "slope") in text
    first_or = lr["specification"]["odds_ratios"][0]
    assert fmt.estimate(first_or["odds_ratio"], first_or["ci_low"], first_or["ci_high"], "or") in text
    ss = ev["sample_size"]
    assert f"{fmt.num(ss['available']['epp'], 'epp')} per parameter" in text


def test_figures_are_written(binary_report: Rendered) -> None:
    names = {p.stem for p in binary_report.figures.glob("*.svg")}
    assert {
        "roc",
        "calibration",
        "decision",
        "subgroups",
        "shap_importance",
        "shap_binned",
        "shap_example",
        "odds_ratios",
    } <= names
    assert (binary_report.figures / "report.json").is_file()


def test_no_text_runs_into_the_margins(binary_report: Rendered, tmp_path: Path) -> None:
    """Overflowing table cells or labels would put words outside the 2 cm margins."""
    html = tmp_path / "bbox.html"
    subprocess.run([tool("pdftotext"), "-bbox", str(binary_report.pdf), str(html)], check=True, capture_output=True)
    doc = html.read_text(encoding="utf-8")
    problems = []
    for k, (width, body) in enumerate(
        re.findall(r'<page width="([\d.]+)" height="[\d.]+">(.*?)</page>', doc, re.DOTALL), 1
    ):
        right = float(width) - MARGIN_PT + 2.0
        for x0, x1, word in re.findall(
            r'<word xMin="([\d.]+)" yMin="[\d.]+" xMax="([\d.]+)" yMax="[\d.]+">([^<]*)</word>', body
        ):
            if float(x1) > right or float(x0) < MARGIN_PT - 2.0:
                problems.append(f"page {k}: {word!r} at x {float(x0):.0f}-{float(x1):.0f}")
    assert not problems, problems[:10]


def test_survival_report(survival_report: Rendered) -> None:
    ev = survival_report.evidence
    text = normalise(survival_report.text)
    assert pages(survival_report.pdf) >= 10
    assert checklist_ids(survival_report.layout) == item_ids()
    best = ev["best_family"]
    assert f"Harrell's C {fmt.est(ev['families'][best]['cross_validation']['harrell_c'], 'c')}" in text
    assert "Kaplan-Meier" in text
    assert "Number at risk" in text
    assert "Weibull accelerated failure time model fitted on all analysed patients" in text
    assert {"calibration_horizon", f"km_{best}"} <= {p.stem for p in survival_report.figures.glob("*.svg")}


def test_missing_baseline_is_announced(binary_evidence: dict, tmp_path: Path) -> None:
    evidence = {k: v for k, v in binary_evidence.items() if k != "baseline"}
    model = build(evidence, tmp_path)
    callouts = [b for b in model["blocks"] if b["t"] == "callout" and b["kind"] == "missing"]
    assert any("Baseline characteristics are not available" in str(b["runs"]) for b in callouts)


def test_key_dates_follow_up_and_events_are_reported(binary_report: Rendered) -> None:
    """Item 20b: key dates overall and by centre, follow-up time, and events per centre."""
    ev = binary_report.evidence
    text = normalise(binary_report.text)
    accrual = ev["data"]["accrual"]
    assert (
        f"All centres {fmt.integer(ev['data']['n'])} {fmt.month(accrual['first_surgery'])} "
        f"{fmt.month(accrual['last_surgery'])} {fmt.month(accrual['end_of_follow_up'])}" in text
    )
    by_centre = disclose(ev)["baseline"]["by_centre"]  # centres with 1-4 events are suppressed
    outcome = next(r for r in by_centre["rows"] if r["kind"] == "outcome")
    events = [
        fmt.MISSING if c["count"] is None else fmt.count_percent(c["count"], share=c["percent"] / 100)
        for c in outcome["cells"]
    ]
    assert fmt.MISSING in events  # the run has such centres
    # the landscape table's columns are read in order from the layout text
    assert "C5 palsy, n (%)" in text and " ".join(events) in normalise(binary_report.layout)
    assert "Follow-up, days, median" in text  # "(IQR)" wraps to the cell's next line


def test_predictor_table_gives_type_coding_and_timing(binary_report: Rendered) -> None:
    text = normalise(binary_report.text)
    assert "categorical: female, male" in text
    assert "continuous, years; 18 to 100" in text
    assert "pre-operative (baseline PROM)" in text


def test_calibration_figure_shows_the_distribution_of_predicted_risks(binary_report: Rendered) -> None:
    svg = (binary_report.figures / "calibration.svg").read_text(encoding="utf-8")
    assert "Predicted risks: with the outcome (up)" in svg


def test_methods_name_the_optimism_correction_of_each_family(binary_report: Rendered) -> None:
    """The Evidence's optimism ``method`` per family, not one name for all: Harrell's correction for the
    regression, .632+ for the booster (the fixture's run records which it used)."""
    methods = {f: r["optimism"]["method"] for f, r in binary_report.evidence["families"].items()}
    assert methods == {"logistic": "harrell", "xgboost": "632plus"}
    text = normalise(binary_report.text)
    assert "minus the mean optimism (Harrell) for Logistic regression" in text
    assert ".632+ estimator from the patients each bootstrap model did not see" in text
    assert "(learners that memorise their rows, and fits that select among many candidate features) for XGBoost" in (
        text
    )


def test_performance_intervals_say_what_they_leave_out(binary_report: Rendered) -> None:
    """The cross-validated intervals resample patients with the fold models fixed; the repeated cohorts of
    benchmarks/bench_honesty.py found them narrower than the errors' spread with few events (c5 palsy)."""
    text = normalise(binary_report.text)
    assert "95 % confidence intervals from resampling the patients with the fold models held fixed" in text
    assert "Bates, Hastie & Tibshirani" in text
