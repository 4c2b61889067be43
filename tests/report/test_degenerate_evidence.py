"""The report renders degenerate but legitimate Evidence without crashing.

Real runs leave statistics undefined (JSON null): an unpenalised logistic regression with separation
has no calibration slope, centres with few events have no slope, a bootstrap optimism can be NaN,
subgroup measures can be "undefined". Here a real Evidence record is "poisoned": every number
outside the pipeline configuration and the software versions is set to None with a probability
(seeded), and measures with status "ok" become "undefined" with the same probability. The report
must still render, say "not estimable" where a result is missing, and the model card must stay
strict JSON.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from spineoutcome.report import model_card, render_report
from spineoutcome.report import numbers as fmt
from spineoutcome.report.document import build

from .conftest import normalise, pages, pdf_text

pytestmark = pytest.mark.slow
NOT_POISONED = frozenset({"pipeline", "environment"})


def poison(node: Any, rng: np.random.Generator, p: float) -> Any:
    """``node`` with each number replaced by None, and each "ok" status by "undefined", with probability p."""
    if isinstance(node, dict):
        out = {k: poison(v, rng, p) for k, v in node.items()}
        if out.get("status") == "ok" and rng.random() < p:
            out["status"] = "undefined"
        return out
    if isinstance(node, list):
        return [poison(v, rng, p) for v in node]
    if isinstance(node, (int, float)) and not isinstance(node, bool):
        return None if rng.random() < p else node
    return node


def poisoned(evidence: dict[str, Any], seed: int, p: float) -> dict[str, Any]:
    rng = np.random.default_rng(seed)
    return {k: v if k in NOT_POISONED else poison(v, rng, p) for k, v in evidence.items()}


def count_nones(node: Any) -> int:
    if isinstance(node, dict):
        return sum(count_nones(v) for v in node.values())
    if isinstance(node, list):
        return sum(count_nones(v) for v in node)
    return node is None


def render_text(evidence: dict[str, Any], directory: Path) -> str:
    pdf = render_report(evidence, directory / "report.pdf", figures_dir=directory / "figures")
    assert pages(pdf) >= 5
    json.dumps(model_card(evidence), allow_nan=False)
    return normalise(pdf_text(pdf))


def test_the_poison_reaches_every_kind_of_number(binary_evidence: dict[str, Any]) -> None:
    bad = poisoned(binary_evidence, seed=1, p=0.3)
    assert count_nones(bad) > count_nones(binary_evidence) + 1000
    assert bad["pipeline"] == binary_evidence["pipeline"]
    assert bad != poisoned(binary_evidence, seed=2, p=0.3)


@pytest.mark.parametrize("seed", [1, 2])
def test_binary_report_renders_with_numbers_missing(binary_evidence: dict[str, Any], tmp_path: Path, seed: int) -> None:
    text = render_text(poisoned(binary_evidence, seed=seed, p=0.3), tmp_path)
    assert fmt.NOT_ESTIMABLE in text
    assert "TRIPOD+AI checklist" in text


def test_binary_report_renders_when_nothing_is_estimable(binary_evidence: dict[str, Any], tmp_path: Path) -> None:
    text = render_text(poisoned(binary_evidence, seed=0, p=1.0), tmp_path)
    assert f"calibration curve {fmt.NOT_ESTIMABLE}" in text
    assert f"cross-validated AUC of {fmt.MISSING}" in text


@pytest.mark.parametrize(("seed", "p"), [(3, 0.3), (0, 1.0)])
def test_survival_report_renders_with_numbers_missing(
    survival_evidence: dict[str, Any], tmp_path: Path, seed: int, p: float
) -> None:
    text = render_text(poisoned(survival_evidence, seed=seed, p=p), tmp_path)
    assert "Harrell's C" in text
    if p == 1.0:
        assert fmt.NOT_ESTIMABLE in text


def test_undefined_subgroup_measures_say_not_estimable(binary_evidence: dict[str, Any], tmp_path: Path) -> None:
    """The pattern of a separated logistic fit: slopes undefined everywhere, AUCs fine."""
    evidence = json.loads(json.dumps(binary_evidence))
    for record in evidence["families"].values():
        for row in record["subgroups"]:
            if row["metric"] == "slope":
                row.update(estimate=None, ci_low=None, ci_high=None, status="undefined")
    model = build(evidence, tmp_path)
    tables = [b for b in model["blocks"] if b["t"] == "table" and str(b.get("id", "")).startswith("tab-subgroups-")]
    assert tables
    for table in tables:
        last_cells = [row[-1] for row in table["rows"] if len(row) == 5]
        assert last_cells and all(isinstance(c, dict) and c["text"] == fmt.NOT_ESTIMABLE for c in last_cells)
