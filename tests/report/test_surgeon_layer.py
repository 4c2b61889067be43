"""The surgeon-readable layer of the report, checked against numbers worked out by hand: what acting on
the model means per 100 patients, the calibration-across-centres limitation, and the caveat for a
predictor that is a decision of care."""

from __future__ import annotations

from typing import Any

import pytest

from spineoutcome.report import tables as T
from spineoutcome.report.limitations import derive_limitations


def _row(threshold: float, tp: int | None, fp: int, tn: int, fn: int) -> dict[str, Any]:
    return {"threshold": threshold, "tp": tp, "fp": fp, "tn": tn, "fn": fn}


def _evidence(rows: list[dict[str, Any]]) -> dict[str, Any]:
    family = {
        "cross_validation": {"classification": {"rows": rows}, "discrimination": {"auc": {"value": 0.70}}},
        "subgroups": [
            {"grouping": "approach", "group": "anterior", "metric": "auc", "estimate": 0.60, "status": "ok"},
            {"grouping": "approach", "group": "laminoplasty", "metric": "auc", "estimate": 0.57, "status": "ok"},
            {
                "grouping": "approach",
                "group": "combined",
                "metric": "auc",
                "estimate": None,
                "status": "too_few_events",
                "n": 23,
                "n_events": None,
            },
        ],
        "internal_external": {
            "heterogeneity": {
                "centres": [
                    {"centre": "A", "oe_ratio": {"value": 0.41}},
                    {"centre": "B", "oe_ratio": {"value": 1.69}},
                    {"centre": "C", "oe_ratio": {"value": 1.02}},
                ],
                "pooled_oe_prediction_interval": [0.26, 3.71],
                "pooled": {"log_oe": {"i2": 0.82}},
            }
        },
    }
    return {
        "best_family": "lightgbm",
        "families": {"lightgbm": family},
        "pipeline": {"care_choices": ["approach"]},
        "data": {"predictors": [{"name": "approach", "label": "Planned approach"}]},
    }


def test_decision_impact_per_100_patients_by_hand() -> None:
    # 1000 patients, 80 events; at 10 %: 60 flagged with the outcome, 240 without, 20 missed.
    table = T.decision_impact(_evidence([_row(0.10, 60, 240, 680, 20)]), [0.10], "a precaution")
    assert table is not None
    row = table["rows"][1]
    flagged, caught, missed, share, nb = row[1:]
    assert flagged == "30"  # (60 + 240) / 1000 per 100
    assert caught == "6.0"  # 60 / 1000 per 100
    assert missed == "2.0"  # 20 / 1000 per 100
    assert share == "75 %"  # 60 / 80
    # net benefit: 60/1000 - 240/1000 * 0.1/0.9 = 0.0333..., per 100
    assert nb == "3.3"
    assert "a precaution" in table["caption"]


def test_decision_impact_skips_a_threshold_whose_counts_were_suppressed() -> None:
    assert T.decision_impact(_evidence([_row(0.20, None, 3, 900, 77)]), [0.20], "x") is None


def test_local_calibration_and_care_choice_limitations() -> None:
    found = {item["code"]: item for item in derive_limitations(_evidence([]))}
    local = found["local_calibration"]
    assert local["values"]["low"] == pytest.approx(0.41) and local["values"]["low_centre"] == "A"
    assert local["values"]["high"] == pytest.approx(1.69) and local["values"]["high_centre"] == "B"
    assert "0.26 to 3.71" in local["text"] and "I² 82 %" in local["text"]
    assert "check calibration on its own patients" in local["text"]
    care = found["care_choice"]
    assert care["values"]["within_level_auc"] == {"anterior": 0.60, "laminoplasty": 0.57}
    assert "0.57 to 0.60" in care["text"]
    assert "cannot tell which planned approach lowers the risk" in care["text"]
