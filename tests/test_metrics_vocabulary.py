"""One metric vocabulary: every metric the Evidence stores is found under its one name, whatever the
record calls it; every name a record uses resolves to a registered metric."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from spineoutcome import metrics
from spineoutcome.evaluation.subgroups import DEFAULT_METRICS, THRESHOLD_METRICS

GOLDEN = Path(__file__).parent / "golden"


@pytest.fixture(scope="module")
def binary() -> dict:
    return json.loads((GOLDEN / "evidence_binary.json").read_text(encoding="utf-8"))


def test_every_stored_name_resolves() -> None:
    for name in (*DEFAULT_METRICS, *(f"{m}@0.1" for m in THRESHOLD_METRICS)):
        assert metrics.metric(name).name in metrics.METRICS
    assert metrics.metric("citl").name == "calibration_intercept"
    assert metrics.metric("slope").name == metrics.metric("calibration_slope").name == "calibration_slope"
    with pytest.raises(ValueError, match="unknown metric 'accuracy'"):
        metrics.metric("accuracy")
    assert metrics.kind("sensitivity@0.2") == "sens" and metrics.kind("not_a_metric") == "default"


def test_accessors_read_every_record_kind(binary: dict) -> None:
    record = binary["families"]["xgboost"]
    cv = record["cross_validation"]
    assert metrics.estimate(cv, "calibration_slope") == cv["calibration"]["slope"]
    assert metrics.estimate(cv, "calibration_intercept") == cv["calibration"]["citl"]
    for m in metrics.METRICS.values():
        if m.evaluation and m.name != "harrell_c":
            assert metrics.estimate(cv, m.name)["value"] is not None, m.name
        if m.point:
            assert metrics.point(record["optimism"]["corrected"], m.name) == record["optimism"]["corrected"][m.point]
            assert metrics.point(record["cv_repeats"][0], m.name) == record["cv_repeats"][0][m.point]
    assert metrics.estimate(cv, "net_benefit") is None and metrics.estimate(None, "auc") is None
    stored = {row["metric"] for row in record["subgroups"]}
    assert stored and all(metrics.subgroup_name(metrics.metric(s).name) == s.split("@")[0] for s in stored)
