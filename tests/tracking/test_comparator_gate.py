"""The promotion gate "a model that does not beat the rule on net benefit should not be deployed": read
from the Evidence's comparators at the gate threshold, named when it fails, absent without comparators."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from spineoutcome.bundle.gates import Gates, check_gates

GOLDEN = Path(__file__).parents[1] / "golden" / "evidence_binary.json"


def _evidence(record: dict[str, Any]) -> SimpleNamespace:
    """The attributes check_gates reads, from a stored Evidence record."""
    families = {k: SimpleNamespace(cross_validation=v["cross_validation"]) for k, v in record["families"].items()}
    return SimpleNamespace(
        best_family=record["best_family"],
        families=families,
        pipeline=record["pipeline"],
        comparators=record.get("comparators"),
    )


@pytest.fixture(scope="module")
def record() -> dict[str, Any]:
    return json.loads(GOLDEN.read_text(encoding="utf-8"))


def _differences(record: dict[str, Any], threshold: float) -> dict[str, float]:
    return {
        c["name"]: next(r["difference"]["value"] for r in c["result"]["net_benefit"] if r["threshold"] == threshold)
        for c in record["comparators"]["comparators"]
    }


def test_the_gate_is_the_smallest_model_minus_rule_difference_at_the_gate_threshold(record) -> None:
    threshold = record["pipeline"]["thresholds"][0]
    differences = _differences(record, threshold)
    check = next(c for c in check_gates(_evidence(record)).checks if c.name.startswith("beats_clinical_rules"))
    assert check.name == f"beats_clinical_rules_t{threshold:g}"
    assert check.value == pytest.approx(min(differences.values()))
    assert check.passed == all(d > 0 for d in differences.values())


def test_a_model_that_does_not_beat_a_rule_fails_the_gate_and_the_rule_is_named(record) -> None:
    changed = copy.deepcopy(record)
    threshold = changed["pipeline"]["thresholds"][1]
    target = changed["comparators"]["comparators"][0]
    for row in target["result"]["net_benefit"]:
        if row["threshold"] == threshold:
            row["difference"]["value"] = -0.004
    decision = check_gates(_evidence(changed), Gates(threshold=threshold))
    check = next(c for c in decision.checks if c.name == f"beats_clinical_rules_t{threshold:g}")
    assert not check.passed and not decision.passed
    assert check.value == pytest.approx(-0.004)
    assert target["name"] in check.rule and target["name"] in decision.summary()


def test_without_comparators_there_is_no_rule_gate(record) -> None:
    bare = {**record, "comparators": None}
    assert not any(c.name.startswith("beats_clinical_rules") for c in check_gates(_evidence(bare)).checks)
