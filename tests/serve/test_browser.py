"""The calculator in a real browser: Debian's chromium, headless, driven by Playwright, with JavaScript off.

The test fills the form of one synthetic patient, submits it, reads every model's risk and checks
it against the JSON API for the same values, runs a what-if (another approach, one more level),
checks both sides and the difference, downloads the risk-sheet PDF, and saves screenshots
(``SPINEOUTCOME_SCREENSHOTS``, else the test's temporary folder) for a person to look at.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import httpx
import pytest

from spineoutcome.report import numbers as fmt
from spineoutcome.serve import create_app, load_models

from .conftest import URIS, Store, running

CHROMIUM = "/usr/bin/chromium"
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def browser_context():
    if not Path(CHROMIUM).exists():
        if os.environ.get("CI"):
            pytest.fail("Debian's chromium is not installed (.ci/run installs it)")
        pytest.skip("Debian's chromium is not installed (apt-get install chromium)")
    try:
        from playwright import sync_api as playwright
    except ImportError:
        if os.environ.get("CI"):
            pytest.fail("playwright is not installed (pip install -e '.[test]')")
        pytest.skip("playwright is not installed")
    with tempfile.TemporaryDirectory(prefix="spineoutcome-chromium-") as profile, playwright.sync_playwright() as pw:
        context = pw.chromium.launch_persistent_context(
            profile,
            executable_path=CHROMIUM,
            headless=True,
            args=FLAGS,
            java_script_enabled=False,
            accept_downloads=True,
            viewport={"width": 1280, "height": 900},
        )
        try:
            yield context
        finally:
            context.close()


def patient_for_both(store: Store, served) -> dict[str, str]:
    """The first synthetic patient with every predictor of both models recorded, as form values."""
    names = list(dict.fromkeys(n for s in served for n in s.contract.names))
    contract = served[0].contract
    for row in store.patients[names].to_dict("records"):
        if all(v.strip() for v in row.values()):
            values = {}
            for s in served:
                for spec in s.contract.predictors:
                    value = row[spec.name]
                    if spec.dtype == "bool":
                        value = (
                            contract.true_values[0]
                            if value.lower() in {v.lower() for v in contract.true_values}
                            else contract.false_values[0]
                        )
                    values[spec.name] = value
            return values
    raise AssertionError("no complete patient in the cohort")


def api_risks(base: str, patient: dict[str, str]) -> dict[str, float]:
    body = httpx.post(f"{base}/api/v1/predict", json={"patients": [patient]}, timeout=60).json()
    return {p["model"]: p["probability"] for p in body["predictions"]}


def test_calculator_in_chromium(browser_context, store: Store, tmp_path: Path) -> None:
    served = load_models(URIS, tracking_uri=store.uri)
    patient = patient_for_both(store, served)
    shots = Path(os.environ.get("SPINEOUTCOME_SCREENSHOTS") or tmp_path)
    shots.mkdir(parents=True, exist_ok=True)
    with running(create_app(served)) as base:
        page = browser_context.new_page()
        page.goto(f"{base}/")
        form = page.locator("form#calculator")
        for s in served:
            for name in s.contract.names:
                assert form.locator(f'[name="{name}"]').count() == 1, name
        for name, value in patient.items():
            field = form.locator(f'[name="{name}"]')
            if field.evaluate("e => e.tagName") == "SELECT":
                field.select_option(value)
            else:
                field.fill(value)
        page.screenshot(path=str(shots / "calculator-form.png"), full_page=True)
        with page.expect_navigation():
            form.locator("#calculate").click()

        expected = api_risks(base, patient)
        for s in served:
            card = page.locator(f'#results .result[data-model="{s.name}"]')
            risk = card.locator(".risk")
            assert float(risk.get_attribute("data-probability")) == expected[s.name]
            assert risk.inner_text() == fmt.percent(expected[s.name])
            assert " to " in card.locator(".band").inner_text()
            assert card.locator(".group").inner_text().split(" ")[0] in {"low", "intermediate", "high", "very"}
            assert card.locator(".drivers li").count() == 3
            assert card.locator(".checks li").count() == 3
            assert card.locator(".subgroups tbody tr").count() >= 2
            assert "verified against" in card.locator(".model-line").inner_text()
        page.screenshot(path=str(shots / "calculator-result.png"), full_page=True)

        with page.expect_download() as download:
            page.locator("#download-sheet").click()
        pdf = tmp_path / "risk-sheet.pdf"
        download.value.save_as(pdf)
        assert pdf.read_bytes().startswith(b"%PDF")
        if shutil.which("pdftotext"):
            text = subprocess.run(["pdftotext", str(pdf), "-"], capture_output=True, text=True, check=True).stdout
            for s in served:
                assert fmt.percent(expected[s.name]) in text
            assert "Calculator (spineoutcome serve)" in text

        approaches = served[0].contract.predictors[served[0].contract.names.index("approach")].categories
        changed = {
            **patient,
            "approach": next(a for a in approaches if a != patient["approach"]),
            "planned_levels": str(int(patient["planned_levels"]) % 8 + 1),
        }
        whatif = page.locator("form#whatif-form")
        whatif.locator('[name="approach"]').select_option(changed["approach"])
        whatif.locator('[name="planned_levels"]').fill(changed["planned_levels"])
        with page.expect_navigation():
            whatif.locator("#compare").click()
        after = api_risks(base, changed)
        for s in served:
            article = page.locator(f'article.comparison[data-model="{s.name}"]')
            risks = article.locator(".risk")
            assert float(risks.nth(0).get_attribute("data-probability")) == expected[s.name]
            assert float(risks.nth(1).get_attribute("data-probability")) == after[s.name]
            difference = article.locator(".diff").inner_text()
            assert fmt.num(abs(100 * (after[s.name] - expected[s.name])), digits=1) in difference
            assert article.locator(".overlap").inner_text() in {"overlap", "do not overlap"}
            assert " to " in article.locator(".diff-band").inner_text()
        rows = page.locator("table.changed tbody tr")
        assert rows.count() == 2
        page.screenshot(path=str(shots / "calculator-whatif.png"), full_page=True)
        page.close()
