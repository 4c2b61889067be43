"""PROM scoring against hand sums, the recovery rate against seed 001, windows and the wide pivot."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from spineoutcome.outcomes.labels import DayWindow
from spineoutcome.outcomes.proms import (
    RR_UNDEFINED,
    ValueSetRequiredError,
    pivot_totals,
    recovery_rate,
    score_totals,
    scores_in_window,
    scoring_counts,
)

NDI_ITEMS = [f"q{i:02d}" for i in range(1, 11)]


def prom_rows(pid, instrument, timepoint, day, items=None, total=None):
    rows = [
        {"patient_id": pid, "instrument": instrument, "timepoint": timepoint, "day": day, "item": code, "value": value}
        for code, value in (items or {}).items()
    ]
    if total is not None:
        rows.append(
            {
                "patient_id": pid,
                "instrument": instrument,
                "timepoint": timepoint,
                "day": day,
                "item": None,
                "value": total,
            }
        )
    return rows


def total_of(totals, pid, instrument, timepoint="baseline"):
    row = totals[(totals.patient_id == pid) & (totals.instrument == instrument) & (totals.timepoint == timepoint)]
    assert len(row) == 1
    return row.iloc[0]


@pytest.fixture
def value_set():
    # Toy value set (not a published one): decrement 0.05 x (level - 1) for mobility, 0.04 x (level - 1)
    # for the other dimensions, constant 0.02 for any state other than 11111.
    rows = [{"dimension": "constant", "level": None, "decrement": 0.02}]
    for dim, step in [
        ("mobility", 0.05),
        ("self_care", 0.04),
        ("usual_activities", 0.04),
        ("pain_discomfort", 0.04),
        ("anxiety_depression", 0.04),
    ]:
        rows += [{"dimension": dim, "level": lv, "decrement": step * (lv - 1)} for lv in range(2, 6)]
    return pd.DataFrame(rows)


def test_item_sums_match_hand_sums(dd, make_table):
    joa = {"motor_upper": 3, "motor_lower": 2, "sensory_upper": 1, "sensory_trunk": 2, "sensory_lower": 1, "bladder": 2}
    mjoa = {"motor_upper": 4, "motor_lower": 5, "sensory_upper": 2, "bladder": 3}
    ndi = dict(zip(NDI_ITEMS, [2, 3, 1, 0, 4, 2, 1, 3, 2, 1], strict=False))
    proms = make_table(
        "proms",
        prom_rows("p1", "joa", "baseline", -5, joa)
        + prom_rows("p1", "mjoa", "baseline", -5, mjoa)
        + prom_rows("p1", "ndi", "baseline", -5, ndi),
    )
    totals = score_totals(proms, dd)
    assert total_of(totals, "p1", "joa").value == 11  # 3+2+1+2+1+2
    assert total_of(totals, "p1", "mjoa").value == 14  # 4+5+2+3
    ndi_row = total_of(totals, "p1", "ndi")
    assert ndi_row.value == 19  # 2+3+1+0+4+2+1+3+2+1
    assert ndi_row.percent == 38.0  # 19 / 50 x 100
    assert set(totals.scoring) == {"computed"}
    assert total_of(totals, "p1", "ndi").day == -5


def test_recorded_total_is_passed_through_and_wins_over_items(dd, make_table):
    proms = make_table(
        "proms",
        prom_rows("p1", "mjoa", "baseline", -3, {"motor_upper": 1}, total=12)
        + prom_rows("p2", "neck_pain", "12m", 360, total=4.5),
    )
    totals = score_totals(proms, dd)
    assert len(totals) == 2
    assert total_of(totals, "p1", "mjoa").value == 12
    assert total_of(totals, "p1", "mjoa").scoring == "passed"
    pain = total_of(totals, "p2", "neck_pain", "12m")
    assert (pain.value, pain.percent, pain.day) == (4.5, 45.0, 360)


def test_incomplete_item_set_gives_missing_total_with_reason(dd, make_table):
    ndi = dict(zip(NDI_ITEMS[:8], [1] * 8, strict=False))  # q09, q10 missing
    mjoa = {"motor_upper": 4, "motor_lower": 5, "sensory_upper": 2}  # bladder missing
    proms = make_table(
        "proms", prom_rows("p1", "ndi", "baseline", -1, ndi) + prom_rows("p1", "mjoa", "baseline", -1, mjoa)
    )
    totals = score_totals(proms, dd)
    ndi_row = total_of(totals, "p1", "ndi")
    assert math.isnan(ndi_row.value) and ndi_row.scoring == "incomplete"
    assert ndi_row.reason == "incomplete items (2 of 10 missing)"
    assert total_of(totals, "p1", "mjoa").reason == "incomplete items (1 of 4 missing)"


def test_ndi_proration_with_one_missing_item(dd, make_table):
    one_missing = dict(zip(NDI_ITEMS[:9], [2, 3, 1, 0, 4, 2, 1, 3, 2], strict=False))  # sum 18 over 9 items
    two_missing = dict(zip(NDI_ITEMS[:8], [1] * 8, strict=False))
    proms = make_table(
        "proms",
        prom_rows("p1", "ndi", "baseline", -1, one_missing) + prom_rows("p2", "ndi", "baseline", -1, two_missing),
    )
    totals = score_totals(proms, dd, prorate={"ndi": 1})
    assert total_of(totals, "p1", "ndi").value == pytest.approx(18 * 10 / 9)  # 20.0
    assert total_of(totals, "p1", "ndi").scoring == "computed"
    assert math.isnan(total_of(totals, "p2", "ndi").value)
    strict = score_totals(proms, dd)
    assert math.isnan(total_of(strict, "p1", "ndi").value)


def test_eq5d_index_from_value_set(dd, make_table, value_set):
    full = dict.fromkeys(["mobility", "self_care", "usual_activities", "pain_discomfort", "anxiety_depression"], 1)
    state = {"mobility": 2, "self_care": 1, "usual_activities": 3, "pain_discomfort": 4, "anxiety_depression": 5}
    proms = make_table(
        "proms",
        prom_rows("p1", "eq5d", "baseline", -2, full)
        + prom_rows("p2", "eq5d", "baseline", -2, state)
        + prom_rows("p3", "eq5d", "baseline", -2, total=0.731),
    )
    totals = score_totals(proms, dd, value_set=value_set)
    assert total_of(totals, "p1", "eq5d").value == pytest.approx(1.0)  # 11111: no constant
    # 1 - 0.02 - (0.05x1 + 0 + 0.04x2 + 0.04x3 + 0.04x4) = 1 - 0.02 - 0.41
    assert total_of(totals, "p2", "eq5d").value == pytest.approx(0.57)
    assert total_of(totals, "p3", "eq5d").value == pytest.approx(0.731)
    assert np.isnan(total_of(totals, "p2", "eq5d").percent)


def test_eq5d_value_set_from_csv(dd, make_table, value_set, tmp_path):
    path = tmp_path / "value_set.csv"
    value_set.to_csv(path, index=False)
    state = {"mobility": 5, "self_care": 5, "usual_activities": 5, "pain_discomfort": 5, "anxiety_depression": 5}
    totals = score_totals(make_table("proms", prom_rows("p1", "eq5d", "12m", 365, state)), dd, value_set=path)
    assert total_of(totals, "p1", "eq5d", "12m").value == pytest.approx(1 - 0.02 - (0.2 + 4 * 0.16))


def test_eq5d_items_without_value_set_name_the_instrument(dd, make_table, value_set):
    proms = make_table("proms", prom_rows("p1", "eq5d", "baseline", -2, {"mobility": 2}))
    with pytest.raises(ValueSetRequiredError, match="eq5d"):
        score_totals(proms, dd)
    precomputed = make_table("proms", prom_rows("p1", "eq5d", "baseline", -2, total=0.8))
    assert total_of(score_totals(precomputed, dd), "p1", "eq5d").value == 0.8
    incomplete_vs = value_set[value_set.dimension != "mobility"]
    with pytest.raises(ValueError, match="no decrement for mobility"):
        score_totals(proms, dd, value_set=incomplete_vs)


def test_unknown_item_code_is_an_error(dd, make_table):
    proms = make_table("proms", prom_rows("p1", "mjoa", "baseline", -2, {"motor_uper": 3}))
    with pytest.raises(ValueError, match="motor_uper"):
        score_totals(proms, dd)


def test_scoring_counts(dd, make_table):
    proms = make_table(
        "proms",
        prom_rows("p1", "ndi", "baseline", -1, dict(zip(NDI_ITEMS, [1] * 10, strict=False)))
        + prom_rows("p2", "ndi", "baseline", -1, {"q01": 1})
        + prom_rows("p3", "ndi", "baseline", -1, total=10)
        + prom_rows("p3", "ndi", "12m", 365, total=4)
        + prom_rows("p3", "mjoa", "12m", 365, total=15),
    )
    counts = scoring_counts(score_totals(proms, dd), dd)
    assert counts.loc["ndi"].to_dict() == {"passed": 2, "computed": 1, "incomplete": 1}
    assert counts.loc["mjoa"].to_dict() == {"passed": 1, "computed": 0, "incomplete": 0}


# Seed 001 (lines 413-446), Table III: pre-operative JOA and JOA "improvement rate" (%). With 17 as the
# maximum every listed rate is (post - pre) / (17 - pre) for an integer post-operative score, e.g.
# pre 4, 38.5 % -> post 9 (5/13); with 18 as the maximum they would not be (pre 1, 25 % -> post 5.25).
# So the seed used the 17-point JOA. (The table numbers 1-14 and 16-27: patient 15 is not listed.)
SEED_001 = [  # (number, pre-op JOA, reported rate %, post-op JOA implied by 17 as maximum)
    (1, 1, 25.0, 5),
    (2, 2, 33.3, 7),
    (3, 3, 7.1, 4),
    (4, 3, 28.6, 7),
    (7, 4, 15.4, 6),
    (8, 4, 38.5, 9),
    (9, 4, 7.7, 5),
    (10, 6, 27.3, 9),
    (11, 6, 36.4, 10),
    (12, 8, 66.7, 14),
    (13, 11, 33.3, 13),
    (14, 11, 50.0, 14),
    (16, 11, 66.7, 15),
    (20, 12, 40.0, 14),
    (21, 12, 60.0, 15),
    (25, 13, 50.0, 15),
    (27, 13, 75.0, 16),
]


def test_recovery_rate_reproduces_seed_001_table():
    pre = pd.Series([r[1] for r in SEED_001], dtype=float)
    post = pd.Series([r[3] for r in SEED_001], dtype=float)
    reported = np.array([r[2] for r in SEED_001])
    result = recovery_rate(pre, post, 17)
    np.testing.assert_allclose(result["recovery_rate"].to_numpy(), reported, atol=0.05)
    assert result["reason"].isna().all()


def test_recovery_rate_pre_at_maximum_is_undefined_not_a_division_by_zero():
    result = recovery_rate(pd.Series([17.0, 16.0, np.nan]), pd.Series([17.0, 17.0, 15.0]), 17)
    assert math.isnan(result["recovery_rate"][0]) and result["reason"][0] == RR_UNDEFINED
    assert result["recovery_rate"][1] == 100.0 and result["reason"][1] is None
    assert math.isnan(result["recovery_rate"][2]) and result["reason"][2] == "pre- or post-operative score missing"
    scalar = recovery_rate(10, 13.5, 17)  # (13.5 - 10) / 7 = 50 %
    assert scalar["recovery_rate"].iloc[0] == pytest.approx(50.0)
    mjoa = recovery_rate(pd.Series([12.0]), 15.0, 18)  # scalar post broadcast: 3 / 6
    assert mjoa["recovery_rate"].iloc[0] == pytest.approx(50.0)


def test_scores_in_window_uses_day_and_timepoint(dd, make_table):
    proms = make_table(
        "proms",
        prom_rows("in", "mjoa", "12m", 456, total=15)
        + prom_rows("out", "mjoa", "12m", 457, total=15)
        + prom_rows("early", "mjoa", "12m", 273, total=15)
        + prom_rows("first", "mjoa", "12m", 274, total=15)
        + prom_rows("wrong_tp", "mjoa", "6m", 300, total=15)
        + prom_rows("no_day", "mjoa", "12m", None, total=15),
    )
    found = scores_in_window(score_totals(proms, dd), dd, "mjoa", "12m", DayWindow(274, 456))
    assert sorted(found.index) == ["first", "in"]


def test_pivot_totals(dd, make_table):
    proms = make_table(
        "proms",
        prom_rows("p1", "ndi", "baseline", -1, total=20)
        + prom_rows("p1", "ndi", "12m", 365, total=8)
        + prom_rows("p2", "mjoa", "baseline", -1, total=13)
        + prom_rows("p2", "ndi", "baseline", -1, {"q01": 1}),
    )
    wide = pivot_totals(score_totals(proms, dd), dd)
    assert list(wide.columns) == [v.name for v in dd.prom_variables]
    assert "ndi_12m" in wide.columns and "mjoa_baseline" in wide.columns
    assert wide.loc["p1", "ndi_baseline"] == 20 and wide.loc["p1", "ndi_12m"] == 8
    assert wide.loc["p2", "mjoa_baseline"] == 13
    assert np.isnan(wide.loc["p2", "ndi_baseline"])  # incomplete items
    assert wide.index.name == "patient_id"
