"""Report sections as a registry: each section's declared TRIPOD+AI items are the items whose checklist
entry points at a heading the section writes, sections run for their task kinds only, and another
report (validation, monitoring) is built by the same machinery from its own list of sections."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from spineoutcome.report import blocks as B
from spineoutcome.report.checklist import item_ids, load_checklist
from spineoutcome.report.document import DEVELOPMENT_SECTIONS, build, participants
from spineoutcome.report.sections import BINARY, Document, ReportSection, build_document, task_kind

GOLDEN = Path(__file__).parents[1] / "golden"


@pytest.fixture(scope="module")
def evidences() -> dict[str, dict]:
    return {
        kind: json.loads((GOLDEN / f"evidence_{kind}.json").read_text(encoding="utf-8"))
        for kind in ("binary", "survival")
    }


def test_declared_items_are_the_items_of_the_headings_written(evidences, tmp_path: Path) -> None:
    written: dict[str, set[str]] = {}
    ran: dict[str, set[str]] = {}
    for kind, evidence in evidences.items():
        doc = Document(evidence, tmp_path / kind)
        for section in DEVELOPMENT_SECTIONS:
            if section.applies(evidence):
                before = set(doc.present)
                section.write(doc)
                written.setdefault(section.name, set()).update(doc.present - before)
                ran.setdefault(section.name, set()).add(task_kind(evidence))
    for section in DEVELOPMENT_SECTIONS:
        addressed = {item.id for item in load_checklist() if set(item.report) & written[section.name]}
        assert set(section.items) == addressed, section.name
        assert set(section.items) <= set(item_ids())
        assert ran[section.name] == set(section.kinds), section.name
    assert "performance" not in {s.name for s in DEVELOPMENT_SECTIONS if s.applies(evidences["survival"])}
    assert "survival_results" not in {s.name for s in DEVELOPMENT_SECTIONS if s.applies(evidences["binary"])}


def test_build_is_the_registry_in_order(evidences, tmp_path: Path) -> None:
    model = build(evidences["binary"], tmp_path)
    headings = [b["id"] for b in model["blocks"] if b.get("t") == "h" and b.get("level", 1) == 1 and b.get("id")]
    assert headings[0] == "summary" and headings[-1] == "sec-checklist"
    assert model["checklist"] and {r["id"] for r in model["checklist"]} == set(item_ids())


def test_another_report_reuses_the_machinery_with_its_own_sections(evidences, tmp_path: Path) -> None:
    def drift(doc: Document) -> None:
        doc.add(B.h(1, "Calibration drift", "sec-drift"), B.p("By period."))

    monitoring = (
        ReportSection("participants", participants, items=("20a",)),
        ReportSection("drift", drift, BINARY, ("23a",)),
    )
    doc = build_document(evidences["binary"], tmp_path, monitoring)
    assert {"sec-flow", "sec-drift"} <= doc.present and "sec-performance" not in doc.present
    survival = build_document(evidences["survival"], tmp_path, monitoring)
    assert "sec-drift" not in survival.present and "sec-flow" in survival.present
