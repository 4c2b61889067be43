"""The "Prediction instability" section: its figures and tables from a real run's Evidence, the
limitation sentence that follows from the numbers, the note for Evidence without instability, and
the risk sheet's sentence."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

from spineoutcome.report.document import build
from spineoutcome.report.limitations import derive_limitations
from spineoutcome.scoring.sheets import instability_sentence

from .conftest import Rendered, normalise


def blocks_of(evidence: dict[str, Any], directory: Path) -> list[dict[str, Any]]:
    return build(evidence, directory)["blocks"]


def test_every_family_of_a_bootstrapped_run_has_an_instability_record(binary_evidence: dict[str, Any]) -> None:
    for family, record in binary_evidence["families"].items():
        inst = record["instability"]
        assert inst["replicates"] == 10, family
        assert 0 < inst["replicates_used"] <= 10
        assert sum(b["n"] for b in inst["bins"]) == binary_evidence["data"]["n"]
        assert [c["threshold"] for c in inst["classification"]] == [0.05, 0.10, 0.20]


def test_the_section_shows_its_figures_and_tables(binary_report: Rendered) -> None:
    text = normalise(binary_report.text)
    assert "Prediction instability" in text
    assert "Mean absolute prediction error" in text or "MAPE" in text
    names = {p.name for p in binary_report.figures.iterdir()}
    for figure in ("predictions", "mape", "calibration", "decision"):
        assert f"instability_{figure}.svg" in names
    best = binary_report.evidence["best_family"]
    share = binary_report.evidence["families"][best]["instability"]["share_beyond_difference"]
    assert f"For {100 * share:.1f} % of patients the predicted risk" in text


def test_evidence_without_instability_gets_a_note(binary_evidence: dict[str, Any], tmp_path: Path) -> None:
    older = copy.deepcopy(binary_evidence)
    for record in older["families"].values():
        record.pop("instability")
    blocks = blocks_of(older, tmp_path)
    start = next(i for i, b in enumerate(blocks) if b.get("id") == "sec-instability")
    assert blocks[start + 1]["t"] == "callout" and blocks[start + 1]["kind"] == "missing"
    assert not any((b.get("id") or "").startswith("fig-instability") for b in blocks)


def test_the_limitation_follows_from_the_numbers(binary_evidence: dict[str, Any]) -> None:
    evidence = copy.deepcopy(binary_evidence)
    best = evidence["best_family"]
    evidence["families"][best]["instability"]["share_beyond_difference"] = 0.23
    found = {item["code"]: item for item in derive_limitations(evidence)}
    assert "For 23.0 % of patients the predicted risk" in found["prediction_instability"]["text"]
    assert "more than 5 percentage points" in found["prediction_instability"]["text"]
    evidence["families"][best]["instability"]["share_beyond_difference"] = 0.01
    assert "prediction_instability" not in {item["code"] for item in derive_limitations(evidence)}


def test_the_risk_sheet_sentence_reads_the_bin_of_the_risk() -> None:
    record = {
        "replicates": 200,
        "bins": [
            {"lower": 0.0, "upper": 0.05, "n": 40, "offset_low": -0.01, "offset_high": 0.02},
            {"lower": 0.05, "upper": 1.0, "n": 12, "offset_low": -0.04, "offset_high": 0.06},
        ],
    }
    # 0.03 is in the first bin: 0.03 - 0.01 = 2 %, 0.03 + 0.02 = 5 %.
    assert "between 2.0 % and 5.0 %" in instability_sentence(record, 0.03)
    # 0.10 is in the second: 6 % to 16 %; the upper edge 1.0 belongs to the last bin too.
    assert "between 6.0 % and 16.0 %" in instability_sentence(record, 0.10)
    assert "between 96.0 % and 100.0 %" in instability_sentence(record, 1.0)
    assert instability_sentence(None, 0.1) is None
    assert instability_sentence({"bins": [{"lower": 0.0, "upper": 1.0, "offset_low": None}]}, 0.1) is None
