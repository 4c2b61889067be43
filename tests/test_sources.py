"""Every source the package ships is a citation a reader can check: no internal note, seed file or
"verify" flag in the dictionary, outcome, MCID, landmark and synthetic-cohort files, in the pipeline
files (comments included) or in the rendered example report."""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
SHIPPED_YAML = sorted((ROOT / "data_dictionary").glob("*.yaml"))
PIPELINES = sorted((ROOT / "pipelines").glob("*.yaml"))
EXAMPLE_REPORT = ROOT / "reports" / "example_c5_palsy.pdf"
EXAMPLE_CARD = ROOT / "reports" / "example_c5_palsy.model_card.json"

INTERNAL = re.compile(
    r"DOMAIN|\bseeds?[ _]?0\d\d\b|\.md\b|\bverify\b|\bTODO\b|\bFIXME\b|\bXXX\b|lines?\s+\d+\s*-\s*\d+",
    re.IGNORECASE,
)
"""What a reader of a journal supplement cannot check: internal notes (DOMAIN.md, any .md file), the
team's seed papers by file number, line ranges of a text file, and to-do flags."""
ZERO_WIDTH = "\u200b"


def _sources(node: Any, path: str = "") -> Iterator[tuple[str, str]]:
    """Every (path, text) of a key naming a source or a note, at any depth."""
    if isinstance(node, dict):
        for key, value in node.items():
            where = f"{path}.{key}" if path else str(key)
            if isinstance(value, str) and (str(key).endswith("source") or key in ("notes", "note")):
                yield where, value
            else:
                yield from _sources(value, where)
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from _sources(value, f"{path}[{i}]")


def test_the_pattern_catches_what_it_must() -> None:
    for bad in ("DOMAIN.md (C5 palsy)", "Kim et al. 2022 (seed 000)", "value 0.8, verify", "seed 003 lines 900-926"):
        assert INTERNAL.search(bad), bad
    for good in (
        "Kim SH, Lee SH, Shin DA. Clin Spine Surg 2022;35(5):E419-25",
        "value assumed; no published anchor found",
        "TPESampler(seed=2026)",
    ):
        assert not INTERNAL.search(good), good


@pytest.mark.parametrize("path", SHIPPED_YAML, ids=lambda p: p.name)
def test_shipped_sources_are_checkable_citations(path: Path) -> None:
    found = list(_sources(yaml.safe_load(path.read_text(encoding="utf-8"))))
    bad = [f"{where}: {text}" for where, text in found if INTERNAL.search(text)]
    assert not bad, f"{path.name}: sources a reader cannot check:\n" + "\n".join(bad)


def test_every_shipped_file_with_sources_was_read() -> None:
    counts = {p.name: len(list(_sources(yaml.safe_load(p.read_text(encoding="utf-8"))))) for p in SHIPPED_YAML}
    for name in ("variables.yaml", "outcomes.yaml", "mcid.yaml", "landmarks.yaml", "instruments.yaml"):
        assert counts.get(name, 0) > 0, f"no source found in {name}: the test would pass vacuously"


@pytest.mark.parametrize("path", PIPELINES, ids=lambda p: p.name)
def test_pipeline_files_cite_the_literature(path: Path) -> None:
    bad = [line for line in path.read_text(encoding="utf-8").splitlines() if INTERNAL.search(line)]
    assert not bad, f"{path.name}: " + "\n".join(bad)


def test_example_model_card_names_no_internal_file() -> None:
    text = EXAMPLE_CARD.read_text(encoding="utf-8")
    assert not INTERNAL.search(text), INTERNAL.search(text)


@pytest.mark.skipif(shutil.which("pdftotext") is None, reason="poppler-utils (pdftotext) not installed")
def test_example_report_text_names_no_internal_file() -> None:
    text = subprocess.run(
        ["pdftotext", "-layout", str(EXAMPLE_REPORT), "-"], check=True, capture_output=True, text=True
    ).stdout
    hits = sorted({m.group(0) for m in INTERNAL.finditer(text)})
    assert not hits, f"the example report names internal files or flags: {hits}"
    assert ZERO_WIDTH not in text, "a zero-width space inside a name breaks copying it from the PDF"
