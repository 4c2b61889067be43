"""The TRIPOD+AI checklist (Collins et al., BMJ 2024): items, and where this report addresses each.

The items and their wording live in ``tripod_ai.yaml``. :func:`checklist_rows` resolves every item
against the sections that a given report actually contains (a time-to-event Evidence has no
subgroup section, a run without internal-external validation has no centre section, ...), so an
item is never pointed at a section that is not there; an item that neither the report nor a
``na`` reason covers is flagged for the authors.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from typing import Any

import yaml

SECTIONS = (
    "Title",
    "Abstract",
    "Introduction",
    "Methods",
    "Open science",
    "Patient and public involvement",
    "Results",
    "Discussion",
)


@dataclass(frozen=True)
class ChecklistItem:
    id: str
    section: str
    topic: str
    applies: str
    text: str
    report: tuple[str, ...] = ()
    authors: str | None = None
    na: str | None = None
    notes: tuple[str, ...] = field(default_factory=tuple)


@cache
def load_checklist() -> tuple[ChecklistItem, ...]:
    """All 52 sub-items of the 27 TRIPOD+AI items, in checklist order."""
    doc = yaml.safe_load(resources.files(__package__).joinpath("tripod_ai.yaml").read_text(encoding="utf-8"))
    items = tuple(
        ChecklistItem(
            id=str(i["id"]),
            section=i["section"],
            topic=i["topic"],
            applies=i["applies"],
            text=i["text"],
            report=tuple(i.get("report") or ()),
            authors=i.get("authors"),
            na=i.get("na"),
        )
        for i in doc["items"]
    )
    ids = [i.id for i in items]
    if len(set(ids)) != len(ids) or any(i.section not in SECTIONS for i in items):
        raise ValueError("tripod_ai.yaml: duplicate item ids or an unknown section")
    return items


def checklist_source() -> str:
    """The citation of the TRIPOD+AI statement the checklist wording is condensed from."""
    doc = yaml.safe_load(resources.files(__package__).joinpath("tripod_ai.yaml").read_text(encoding="utf-8"))
    return str(doc["source"])


def item_ids() -> list[str]:
    """The ids of all checklist sub-items, in checklist order."""
    return [i.id for i in load_checklist()]


def checklist_rows(evidence: dict[str, Any], present: set[str]) -> list[dict[str, Any]]:
    """One row per sub-item: the report sections (present in this report) that address it, whether
    the authors must supply information, or why it does not apply, adjusted to the Evidence."""
    families = evidence.get("families", {})
    iecv = any((f or {}).get("internal_external") for f in families.values())
    temporal = any((f or {}).get("temporal") for f in families.values())
    weighted = any(((f or {}).get("specification") or {}).get("class_weight") for f in families.values())
    rows = []
    for item in load_checklist():
        report = [s for s in item.report if s in present]
        authors, na, notes = item.authors, item.na, []
        if item.id in ("12d", "23b") and not iecv:
            notes.append("Heterogeneity across centres was not examined in this run (no internal-external validation).")
            report = [s for s in report if s != "sec-centres"]
        if item.id == "20c":
            if iecv or temporal:
                notes.append(
                    "Evaluation data are the held-out centres (internal-external validation)"
                    + (" and the later period (temporal validation)" if temporal else "")
                    + "; the baseline table by centre compares them."
                )
            else:
                report, na = [], "No separate evaluation data: development with internal validation only."
        if item.id == "16":
            notes.append(
                "Development and evaluation data come from the same cohort and the same data dictionary; "
                "differences between centres are in the baseline table by centre."
            )
        if item.id == "12g":
            notes.append(
                "Predictions are made by the fitted scikit-learn pipeline of the final model (preprocessing "
                "and model in one object), logged as an MLflow model with its input contract."
            )
        if item.id == "13":
            notes.append(
                "Class weights were used; see the disclosure."
                if weighted
                else "No class-imbalance method was used (no weights, no resampling)."
            )
        if not report and not na and not authors:
            authors = "Not addressed by this Evidence: to be supplied by the authors."
        rows.append(
            {
                "id": item.id,
                "section": item.section,
                "topic": item.topic,
                "applies": item.applies,
                "text": item.text,
                "report": report,
                "authors": authors if not na else None,
                "na": na,
                "notes": notes,
            }
        )
    return rows
