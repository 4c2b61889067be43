"""The one number format, the TRIPOD+AI item list, limitations and the model card."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pandas as pd
import pytest

from spineoutcome.report import item_ids, model_card, write_model_card
from spineoutcome.report import numbers as fmt
from spineoutcome.report.limitations import derive_limitations

EXPECTED_ITEMS = [
    "1",
    "2",
    "3a",
    "3b",
    "3c",
    "4",
    "5a",
    "5b",
    "6a",
    "6b",
    "6c",
    "7",
    "8a",
    "8b",
    "8c",
    "9a",
    "9b",
    "9c",
    "10",
    "11",
    "12a",
    "12b",
    "12c",
    "12d",
    "12e",
    "12f",
    "12g",
    "13",
    "14",
    "15",
    "16",
    "17",
    "18a",
    "18b",
    "18c",
    "18d",
    "18e",
    "18f",
    "19",
    "20a",
    "20b",
    "20c",
    "21",
    "22",
    "23a",
    "23b",
    "24",
    "25",
    "26",
    "27a",
    "27b",
    "27c",
]


def test_tripod_ai_items() -> None:
    """27 items, 52 sub-items (Collins et al., BMJ 2024): 9a-c and open science 18a-f."""
    assert item_ids() == EXPECTED_ITEMS
    assert len({i.rstrip("abcdefg") for i in item_ids()}) == 27


@pytest.mark.parametrize(
    ("value", "low", "high", "kind", "expected"),
    [
        (0.7412, 0.6901, 0.7899, "auc", "0.74 (95 % CI 0.69 to 0.79)"),
        (-0.1234, -0.3, 0.05, "citl", "−0.12 (95 % CI −0.30 to 0.05)"),
        (0.0286, 0.0165, 0.0436, "ici", "0.029 (95 % CI 0.017 to 0.044)"),
        (1.0, None, None, "slope", "1.00"),
        (None, 0.1, 0.2, "auc", "–"),
        (-0.0001, None, None, "citl", "0.00"),
    ],
)
def test_estimate_format(value, low, high, kind, expected) -> None:
    assert fmt.estimate(value, low, high, kind) == expected


def test_other_formats() -> None:
    assert fmt.count_percent(44, 800) == "44 (5.5 %)"
    assert fmt.count_percent(44, share=0.055) == "44 (5.5 %)"
    assert fmt.integer(31414) == "31,414" and fmt.integer(2000) == "2000"
    assert fmt.median_iqr(63.4, 56.4, 71.5) == "63.4 (IQR 56.4 to 71.5)"
    assert fmt.median_iqr(5.0, 4.0, 5.0) == "5 (IQR 4 to 5)"
    assert (
        fmt.p_value(0.0004) == "P < 0.001" and fmt.p_value(0.889) == "P = 0.89" and fmt.p_value(0.0052) == "P = 0.005"
    )
    assert fmt.threshold(0.05) == "5 %" and fmt.threshold(0.125) == "12.5 %"
    assert fmt.est({"value": 0.5, "ci_low": 0.4, "ci_high": 0.6, "level": 0.9}, "auc") == "0.50 (90 % CI 0.40 to 0.60)"
    assert fmt.kind_of("sensitivity@0.1") == "sens"


def test_limitations_follow_the_evidence(binary_evidence: dict) -> None:
    ev = copy.deepcopy(binary_evidence)
    ev["families"]["logistic"]["cross_validation"]["calibration"]["slope"].update(value=0.5, ci_low=0.3, ci_high=0.7)
    ev["sample_size"]["available"].update(meets_criteria=False, epp=2.0)
    codes = {x["code"] for x in derive_limitations(ev)}
    assert {"miscalibration", "sample_size", "internal_validation_only"} <= codes
    ev["families"]["logistic"]["cross_validation"]["calibration"]["slope"].update(value=1.0)
    ev["families"]["logistic"]["cross_validation"]["calibration"]["oe_ratio"].update(value=1.0)
    ev["families"]["xgboost"]["cross_validation"]["calibration"]["slope"].update(value=1.0)
    ev["families"]["xgboost"]["cross_validation"]["calibration"]["oe_ratio"].update(value=1.0)
    assert "miscalibration" not in {x["code"] for x in derive_limitations(ev)}


def _keys(obj, out: set[str]) -> set[str]:
    if isinstance(obj, dict):
        for k, v in obj.items():
            out.add(k)
            _keys(v, out)
    elif isinstance(obj, list):
        for v in obj:
            _keys(v, out)
    return out


def test_model_card_is_strict_json_without_patient_keys(
    binary_evidence: dict, cohort_dir: Path, tmp_path: Path
) -> None:
    card = model_card(binary_evidence)
    text = json.dumps(card, allow_nan=False)
    for key in ("intended_use", "data", "metrics", "subgroup_metrics", "limitations", "model_details"):
        assert key in card
    best = binary_evidence["best_family"]
    assert (
        card["metrics"][best]["cross_validated"]["auc"]["value"]
        == binary_evidence["families"][best]["cross_validation"]["discrimination"]["auc"]["value"]
    )
    assert card["data"]["n"] == binary_evidence["data"]["n"]
    methods = {f: m["optimism_corrected"]["method"] for f, m in card["metrics"].items()}
    assert methods == {"logistic": "harrell", "xgboost": "632plus"}  # which correction each number is
    instability = binary_evidence["families"][best]["instability"]
    assert card["metrics"][best]["prediction_instability"] == {
        "replicates_used": instability["replicates_used"],
        "level": instability["level"],
        "mape": instability["mape"],
        "interval_width_median": instability["interval_width_median"],
        "difference": instability["difference"],
        "share_beyond_difference": instability["share_beyond_difference"],
    }
    assert 0 < instability["mape"] < instability["interval_width_median"] < 1
    assert card["subgroup_metrics"][best]
    assert not {"patient_id", "patient", "key"} & _keys(card, set())
    patient_keys = pd.read_csv(cohort_dir / "clinical.csv", dtype=str)["patient_id"]
    assert not any(f'"{k}"' in text for k in patient_keys)
    path = write_model_card(binary_evidence, tmp_path / "card.json")
    assert json.loads(path.read_text(encoding="utf-8")) == json.loads(text)


def test_model_card_for_time_to_event(survival_evidence: dict) -> None:
    card = model_card(survival_evidence)
    json.dumps(card, allow_nan=False)
    best = survival_evidence["best_family"]
    harrell = survival_evidence["families"][best]["cross_validation"]["harrell_c"]
    card_c = card["metrics"][best]["cross_validated"]["harrell_c"]
    keys = ("value", "ci_low", "ci_high")
    assert {k: card_c[k] for k in keys} == {k: harrell[k] for k in keys}


def test_optimism_disagreement_flags_tuned_families(binary_evidence: dict) -> None:
    ev = copy.deepcopy(binary_evidence)
    logistic = ev["families"]["logistic"]
    cv_auc = logistic["cross_validation"]["discrimination"]["auc"]["value"]
    net = ev["families"]["elastic_net"] = copy.deepcopy(logistic)
    net["optimism"] = {**(net.get("optimism") or {}), "mode": "fixed_hyperparameters"}
    net["optimism"]["corrected"] = {**(net["optimism"].get("corrected") or {}), "auc": cv_auc + 0.05}
    net["tuning"] = [{"family": "elastic_net", "n_trials": 105}]

    def flagged() -> dict[str, str]:
        return {
            x["values"]["family"]: x["text"] for x in derive_limitations(ev) if x["code"] == "optimism_disagreement"
        }

    assert (
        "the bootstrap correction can understate optimism (its hyperparameters were kept fixed"
        in (flagged()["elastic_net"])
    )
    net["optimism"]["mode"] = "full"  # re-tuned in every replicate: still flagged, without the fixed clause
    assert "can understate optimism;" in flagged()["elastic_net"]
    net["optimism"]["corrected"]["auc"] = cv_auc + 0.02  # within the tolerance
    assert "elastic_net" not in flagged()
    net["optimism"]["corrected"]["auc"] = cv_auc + 0.05
    net["tuning"] = [{"family": "elastic_net", "n_trials": 0}]  # nothing tuned: a plain regression
    assert "elastic_net" not in flagged()
