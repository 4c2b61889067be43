"""The report's comparison with clinical rules: its tables print the Evidence's numbers, the key results say
whether the model beats each rule at the thresholds, and an older Evidence without comparators still builds."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from spineoutcome.evidence import upgrade_evidence
from spineoutcome.report import numbers as fmt
from spineoutcome.report.document import build

GOLDEN = Path(__file__).parents[1] / "golden" / "evidence_binary.json"


@pytest.fixture(scope="module")
def evidence() -> dict[str, Any]:
    return json.loads(GOLDEN.read_text(encoding="utf-8"))


def _text(blocks: list[dict[str, Any]]) -> str:
    return json.dumps(blocks, ensure_ascii=False)


def _table(blocks: list[dict[str, Any]], id: str) -> dict[str, Any]:
    return next(b for b in blocks if b.get("id") == id)


def test_the_net_benefit_table_prints_the_evidence_numbers_and_verdicts(evidence, tmp_path: Path) -> None:
    model = build(evidence, tmp_path)
    rows = _table(model["blocks"], "tab-rules-nb")["rows"]
    first = evidence["comparators"]["comparators"][0]["result"]["net_benefit"]
    for row, stored in zip(rows, first, strict=False):
        assert row[1] == fmt.threshold(stored["threshold"])
        assert row[2] == fmt.num(stored["comparator"], "nb") and row[3] == fmt.num(stored["model"], "nb")
        assert row[5] == fmt.est(stored["difference"], "nb")
    assert len(rows) == sum(len(c["result"]["net_benefit"]) for c in evidence["comparators"]["comparators"])
    assert any(b.get("id") == "fig-rules" for b in model["blocks"])


def test_the_rules_table_prints_each_rules_predictive_values(evidence, tmp_path: Path) -> None:
    """PPV and NPV beside sensitivity and specificity: what a surgeon reads off a rule."""
    table = _table(build(evidence, tmp_path)["blocks"], "tab-rules-auc")
    columns = [str(h) for h in table["header"][-1]]
    assert columns[3:7] == ["Sensitivity", "Specificity", "PPV", "NPV"]
    rules = [c for c in evidence["comparators"]["comparators"] if c["kind"] == "rule" and "result" in c]
    assert rules
    for comparator in rules:
        row = next(r for r in table["rows"] if comparator["name"] in json.dumps(r[0], ensure_ascii=False))
        stored = comparator["result"]["classification"][0]
        assert row[5] == fmt.est(stored["ppv"], "ppv") != fmt.MISSING
        assert row[6] == fmt.est(stored["npv"], "npv")


def test_key_results_say_whether_the_model_beats_each_rule(evidence, tmp_path: Path) -> None:
    model = build(evidence, tmp_path)
    summary_end = next(i for i, b in enumerate(model["blocks"]) if b.get("id") == "sec-overview")
    key = _text(model["blocks"][:summary_end])
    for comparator in evidence["comparators"]["comparators"]:
        assert comparator["name"] in key
    assert "the threshold the deployment gate uses" in key
    assert any(row[0] == "Clinical rules" for row in model["meta"]["key_results"])


def test_the_key_results_name_a_rule_the_model_does_not_beat(evidence, tmp_path: Path) -> None:
    changed = copy.deepcopy(evidence)
    target = changed["comparators"]["comparators"][0]
    target["result"]["net_benefit"][0]["difference"]["value"] = -0.01
    key = _text(build(changed, tmp_path)["blocks"][:6])
    assert f"not above that of {target['name']}" in key
    assert "should not be deployed" in key


def test_an_evidence_without_comparators_says_none_were_named(evidence, tmp_path: Path) -> None:
    old = copy.deepcopy(evidence)
    old.pop("comparators")
    old["schema_version"] = "1.1"
    model = build(upgrade_evidence(old), tmp_path)
    text = _text(model["blocks"])
    assert "named no clinical rule or score" in text and "tab-rules-nb" not in text
    assert not any(row[0] == "Clinical rules" for row in model["meta"]["key_results"])
