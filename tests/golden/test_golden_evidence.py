"""The Evidence of the seeded reference runs equals the stored one, number for number.

A refactor may add fields (a key absent from the stored file is allowed) but may not change, drop or
reorder any stored value. Floats are compared to 1e-9 relative (summation order across library
versions), everything else exactly. Regenerate the stored files only for a deliberate change of the
statistics: ``PYTHONPATH=src python -m tests.golden.reference_run`` (see that module).
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest

from .reference_run import HERE, PIPELINES, evidence_of, reference_cohort

REL_TOL = 1e-9


def mismatches(stored: Any, new: Any, path: str = "$", limit: int = 20) -> list[str]:
    """Paths where ``new`` departs from ``stored``; keys only in ``new`` (added fields) are allowed."""
    if isinstance(stored, dict):
        if not isinstance(new, dict):
            return [f"{path}: {type(new).__name__} instead of an object"]
        out = []
        for key, value in stored.items():
            out += [f"{path}.{key}: missing"] if key not in new else mismatches(value, new[key], f"{path}.{key}")
            if len(out) >= limit:
                break
        return out[:limit]
    if isinstance(stored, list):
        if not isinstance(new, list) or len(new) != len(stored):
            return [f"{path}: list of {len(stored)} became {new!r:.80}"]
        out = []
        for i, (a, b) in enumerate(zip(stored, new, strict=True)):
            out += mismatches(a, b, f"{path}[{i}]")
            if len(out) >= limit:
                break
        return out[:limit]
    if isinstance(stored, float) and isinstance(new, int | float) and not isinstance(new, bool):
        return [] if math.isclose(stored, new, rel_tol=REL_TOL, abs_tol=1e-12) else [f"{path}: {stored!r} -> {new!r}"]
    if type(stored) is not type(new) or stored != new:
        return [f"{path}: {stored!r} -> {new!r}"]
    return []


def test_mismatches_allows_added_fields_only():
    stored = {"a": [1, 2.0], "b": {"c": "x"}}
    assert mismatches(stored, {"a": [1, 2.0 + 1e-13], "b": {"c": "x", "new": 1}, "d": 0}) == []
    assert mismatches(stored, {"a": [1, 2.1], "b": {"c": "x"}}) == ["$.a[1]: 2.0 -> 2.1"]
    assert mismatches(stored, {"a": [1, 2.0], "b": {}}) == ["$.b.c: missing"]
    assert mismatches(stored, {"a": [1], "b": {"c": "x"}})[0].startswith("$.a: list of 2")
    assert mismatches({"n": 1}, {"n": True}) == ["$.n: 1 -> True"]


@pytest.fixture(scope="module")
def cohort(tmp_path_factory: pytest.TempPathFactory):
    return reference_cohort(tmp_path_factory.mktemp("golden") / "cohort")


@pytest.mark.parametrize("kind", sorted(PIPELINES))
def test_seeded_evidence_matches_the_stored_evidence(kind: str, cohort, tmp_path: Path):
    stored = json.loads((HERE / f"evidence_{kind}.json").read_text(encoding="utf-8"))
    new = evidence_of(kind, cohort, tmp_path)
    problems = mismatches(stored, new)
    assert not problems, "\n".join(problems)
