"""Older Evidence files render through the schema upgrade step; a newer schema is refused by name."""

from __future__ import annotations

import copy
import json
import subprocess
from pathlib import Path

import pytest

from spineoutcome.evidence import (
    SCHEMA_VERSION,
    EvidenceError,
    EvidenceSchemaError,
    load_evidence,
    upgrade_evidence,
)
from spineoutcome.report import render_report, write_model_card

GOLDEN = Path(__file__).parents[1] / "golden" / "evidence_survival.json"


def schema_1_0(record: dict) -> dict:
    """``record`` as schema 1.0 wrote it: no version field, Harrell's C a bare number."""
    old = copy.deepcopy(record)
    old.pop("schema_version", None)
    for family in old["families"].values():
        family["cross_validation"]["harrell_c"] = family["cross_validation"]["harrell_c"]["value"]
    return old


def test_upgrade_rewrites_a_1_0_record_and_leaves_the_input_alone() -> None:
    current = json.loads(GOLDEN.read_text(encoding="utf-8"))
    old = schema_1_0(current)
    frozen = copy.deepcopy(old)
    upgraded = upgrade_evidence(old)
    assert old == frozen
    assert upgraded["schema_version"] == SCHEMA_VERSION
    for name, family in upgraded["families"].items():
        c = family["cross_validation"]["harrell_c"]
        assert c == {
            "value": current["families"][name]["cross_validation"]["harrell_c"]["value"],
            "ci_low": None,
            "ci_high": None,
        }
    assert upgrade_evidence(current) == current  # the current schema passes unchanged


def test_a_newer_schema_is_refused_with_its_version() -> None:
    with pytest.raises(EvidenceSchemaError, match="'9.0' is not known"):
        upgrade_evidence({"schema_version": "9.0"})


def test_an_unreadable_or_newer_file_is_named(tmp_path: Path) -> None:
    (tmp_path / "evidence.json").write_text('{"schema_version": "9.0"}', encoding="utf-8")
    with pytest.raises(EvidenceSchemaError, match=r"evidence.json: Evidence schema '9.0'"):
        load_evidence(tmp_path)
    (tmp_path / "evidence.json").write_text("not json", encoding="utf-8")
    with pytest.raises(EvidenceError, match=r"evidence.json: not an Evidence file"):
        load_evidence(tmp_path)


def test_a_1_0_evidence_file_renders(tmp_path: Path) -> None:
    old = schema_1_0(json.loads(GOLDEN.read_text(encoding="utf-8")))
    (tmp_path / "evidence.json").write_text(json.dumps(old), encoding="utf-8")
    assert load_evidence(tmp_path)["schema_version"] == SCHEMA_VERSION
    pdf = render_report(tmp_path, tmp_path / "report.pdf")
    text = " ".join(
        subprocess.run(["pdftotext", str(pdf), "-"], check=True, capture_output=True, text=True).stdout.split()
    )
    assert "Harrell's C" in text
    card = json.loads(write_model_card(tmp_path, tmp_path / "model_card.json").read_text(encoding="utf-8"))
    text = json.dumps(card)
    assert f'"evidence_schema": "{SCHEMA_VERSION}"' in text
