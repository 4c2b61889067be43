"""C5 palsy, complications and OPLL progression on hand-built records, boundaries included."""

from __future__ import annotations

import math

import pytest

from spineoutcome.outcomes.events import (
    c5_palsy_labels,
    complication_labels,
    progression_intervals,
    progression_labels,
)
from spineoutcome.outcomes.labels import DayWindow


def as_dict(result):
    labels = result.labels
    if result.kind == "binary":
        labelled = labels.astype(int).to_dict()
    else:
        labelled = {k: (row.lower, row.upper, row.event) for k, row in labels.iterrows()}
    return {**labelled, **dict(zip(result.exclusions.iloc[:, 0], result.exclusions.reason, strict=False))}


def exam(pid, day, side, deltoid=5, biceps=5, worse=False):
    return {
        "patient_id": pid,
        "day": day,
        "side": side,
        "deltoid_mmt": deltoid,
        "biceps_mmt": biceps,
        "myelopathy_worsened": worse,
    }


def test_c5_palsy_rules(make_table, patients, dd):
    ids = [
        "deltoid_drop",
        "with_myelopathy",
        "other_side_only",
        "right_drop",
        "biceps_drop",
        "day21",
        "day22",
        "no_exam",
        "no_preop",
        "missing_post",
        "weak_before",
        "recovered",
    ]
    clinical = patients(
        ids,
        deltoid_mmt_pre_left=[5, 5, 5, 5, 5, 5, 5, 5, None, 5, 3, 5],
        deltoid_mmt_pre_right=[5, 5, 4, 5, 5, 5, 5, 5, None, 5, 5, 5],
        biceps_mmt_pre_left=[5, 5, 5, 5, 5, 5, 5, 5, None, 5, 5, 5],
        biceps_mmt_pre_right=[5, 5, 5, 5, 5, 5, 5, 5, None, 5, 5, 5],
    )
    exams = make_table(
        "neuro_exam",
        [
            exam("deltoid_drop", 3, "left", deltoid=4),
            exam("deltoid_drop", 3, "right"),
            # weakness with worsening myelopathy: deterioration, not C5 palsy
            exam("with_myelopathy", 2, "left", deltoid=3, worse=True),
            exam("with_myelopathy", 2, "right", worse=True),
            # pre-op right deltoid 4, post-op right 4, left 5: no drop on either side (4 < left pre-op 5 is irrelevant)
            exam("other_side_only", 1, "left", deltoid=5),
            exam("other_side_only", 1, "right", deltoid=4),
            exam("right_drop", 5, "left"),
            exam("right_drop", 5, "right", deltoid=3),
            exam("biceps_drop", 4, "left", biceps=4),
            exam("day21", 21, "left", deltoid=4),
            exam("day22", 22, "left", deltoid=4),
            exam("no_preop", 2, "left", deltoid=3),
            exam("missing_post", 2, "left", deltoid=None, biceps=None),
            exam("weak_before", 2, "left", deltoid=2),  # 3 -> 2: a further drop of one grade
            exam("recovered", 1, "left", deltoid=4),
            exam("recovered", 14, "left", deltoid=5),
        ],
    )
    result = c5_palsy_labels({"clinical": clinical, "neuro_exam": exams}, dd)
    assert as_dict(result) == {
        "deltoid_drop": 1,
        "with_myelopathy": 0,
        "other_side_only": 0,
        "right_drop": 1,
        "biceps_drop": 1,
        "day21": 1,
        "day22": "no neuro exam within days 0 to 21",
        "no_exam": "no neuro exam within days 0 to 21",
        "no_preop": "no pre-operative deltoid/biceps MMT grade",
        "missing_post": "no comparable deltoid/biceps MMT grade within days 0 to 21",
        "weak_before": 1,
        "recovered": 1,
    }
    assert result.counts()["considered"] == len(ids)


def test_c5_palsy_window_and_muscles_are_configurable(make_table, patients, dd):
    clinical = patients(["late", "biceps_only"])
    exams = make_table("neuro_exam", [exam("late", 30, "left", deltoid=4), exam("biceps_only", 3, "left", biceps=4)])
    tables = {"clinical": clinical, "neuro_exam": exams}
    wide = c5_palsy_labels(tables, dd, window=DayWindow(0, 42), muscles=("deltoid",))
    assert as_dict(wide) == {"late": 1, "biceps_only": 0}
    assert wide.definition["window_days"] == [0, 42]


def complication(pid, kind, day, grade="II"):
    return {"patient_id": pid, "complication_type": kind, "clavien_dindo_grade": grade, "day": day}


def test_complication_window_day_90_vs_91_and_follow_up(make_table, patients, dd):
    ids = ["day90", "day91", "none_short", "none_full", "early_event_short", "fu_exactly_90"]
    clinical = patients(ids, last_followup_day=[365, 365, 60, 365, 40, 90])
    records = make_table(
        "complications",
        [
            complication("day90", "infection", 90),
            complication("day91", "hematoma", 91),
            complication("early_event_short", "dysphagia", 30),
        ],
    )
    result = complication_labels({"clinical": clinical, "complications": records}, dd)
    assert as_dict(result) == {
        "day90": 1,
        "day91": 0,
        "none_short": "last follow-up before day 90 and no event",
        "none_full": 0,
        "early_event_short": 1,
        "fu_exactly_90": 0,
    }


def test_complication_class_and_grade(make_table, patients, dd):
    ids = ["c5", "neuro", "dysphagia", "grade_ii", "grade_iiib", "ungraded", "ungraded_and_iva"]
    clinical = patients(ids)
    records = make_table(
        "complications",
        [
            complication("c5", "c5_palsy", 3),
            complication("neuro", "neurological_deterioration", 1),
            complication("dysphagia", "dysphagia", 5),
            complication("grade_ii", "infection", 10, "II"),
            complication("grade_iiib", "infection", 10, "IIIb"),
            complication("ungraded", "hematoma", 2, None),
            complication("ungraded_and_iva", "hematoma", 2, None),
            complication("ungraded_and_iva", "airway", 1, "IVa"),
        ],
    )
    tables = {"clinical": clinical, "complications": records}
    neuro = complication_labels(tables, dd, types=("c5_palsy", "neurological_deterioration"), name="neuro")
    assert as_dict(neuro) == {
        "c5": 1,
        "neuro": 1,
        "dysphagia": 0,
        "grade_ii": 0,
        "grade_iiib": 0,
        "ungraded": 0,
        "ungraded_and_iva": 0,
    }
    major = complication_labels(tables, dd, min_grade="IIIa", name="major")
    assert as_dict(major) == {
        "c5": 0,
        "neuro": 0,
        "dysphagia": 0,
        "grade_ii": 0,
        "grade_iiib": 1,
        "ungraded": "complication of unknown grade within days 0 to 90",
        "ungraded_and_iva": 1,
    }
    with pytest.raises(ValueError, match="csf"):
        complication_labels(tables, dd, types=("csf",))
    with pytest.raises(ValueError, match="IIIc"):
        complication_labels(tables, dd, min_grade="IIIc")


def ct(pid, day, thickness, length=30.0):
    return {"patient_id": pid, "day": day, "opll_thickness_mm": thickness, "opll_length_mm": length}


def test_progression_at_24_months(make_table, patients, dd):
    ids = [
        "exactly_2mm",
        "just_below",
        "length_growth",
        "no_preop_ct",
        "ct_day_549",
        "ct_day_550",
        "ct_day_910",
        "nearest_wins",
        "tie_later_wins",
        "preop_ct_missing_values",
    ]
    clinical = patients(ids)
    scans = make_table(
        "ct_followup",
        [
            ct("exactly_2mm", -10, 3.3),
            ct("exactly_2mm", 730, 5.3),  # 5.3 - 3.3 = 2.0 (in floating point 1.9999...)
            ct("just_below", -10, 3.3),
            ct("just_below", 730, 5.2),
            ct("length_growth", -3, 4.0, 30.0),
            ct("length_growth", 700, 4.0, 32.0),
            ct("no_preop_ct", 730, 9.0),
            ct("ct_day_549", -1, 4.0),
            ct("ct_day_549", 549, 8.0),
            ct("ct_day_550", -1, 4.0),
            ct("ct_day_550", 550, 8.0),
            ct("ct_day_910", 0, 4.0),
            ct("ct_day_910", 910, 8.0),
            ct("nearest_wins", -1, 4.0),
            ct("nearest_wins", 600, 7.0),
            ct("nearest_wins", 720, 4.5),
            ct("tie_later_wins", -1, 4.0),
            ct("tie_later_wins", 700, 4.0),
            ct("tie_later_wins", 760, 7.0),
            ct("preop_ct_missing_values", -1, None, None),
            ct("preop_ct_missing_values", 730, 9.0),
        ],
    )
    result = progression_labels({"clinical": clinical, "ct_followup": scans}, dd)
    assert as_dict(result) == {
        "exactly_2mm": 1,
        "just_below": 0,
        "length_growth": 1,
        "no_preop_ct": "no pre-operative CT",
        "ct_day_549": "no CT within 730 +/- 180 days",
        "ct_day_550": 1,
        "ct_day_910": 1,
        "nearest_wins": 0,
        "tie_later_wins": 1,
        "preop_ct_missing_values": "no pre-operative CT",
    }


def test_progression_interval_censoring_by_visit(make_table, patients, dd):
    ids = [
        "event_between",
        "right_censored",
        "first_ct_progressed",
        "regressed_later",
        "no_followup_ct",
        "latest_preop_reference",
    ]
    clinical = patients(ids)
    scans = make_table(
        "ct_followup",
        [
            ct("event_between", -10, 4.0),
            ct("event_between", 180, 4.5),
            ct("event_between", 365, 5.0),
            ct("event_between", 730, 6.5),
            ct("event_between", 1095, 7.0),
            ct("right_censored", -10, 4.0),
            ct("right_censored", 180, 4.2),
            ct("right_censored", 365, 5.9),
            ct("first_ct_progressed", -5, 4.0),
            ct("first_ct_progressed", 365, 6.0),
            ct("regressed_later", -5, 4.0),
            ct("regressed_later", 180, 6.1),
            ct("regressed_later", 365, 5.5),
            ct("no_followup_ct", -5, 4.0),
            # the reference is the CT nearest surgery (day -20: 5.0), not the older one (day -200: 3.0)
            ct("latest_preop_reference", -200, 3.0),
            ct("latest_preop_reference", -20, 5.0),
            ct("latest_preop_reference", 400, 6.0),
            ct("latest_preop_reference", 800, 7.0),
        ],
    )
    result = progression_intervals({"clinical": clinical, "ct_followup": scans}, dd)
    assert result.kind == "interval_censored"
    assert as_dict(result) == {
        "event_between": (365.0, 730.0, 1),
        "right_censored": (365.0, math.inf, 0),
        "first_ct_progressed": (0.0, 365.0, 1),
        "regressed_later": (0.0, 180.0, 1),
        "no_followup_ct": "no post-operative CT",
        "latest_preop_reference": (400.0, 800.0, 1),
    }
    counts = result.counts()
    assert (counts["considered"], counts["labelled"], counts["events"]) == (6, 5, 4)


def test_absent_follow_up_tables_mean_no_records(patients, dd):
    tables = {"clinical": patients(["a", "b"], last_followup_day=[365, 30])}
    assert as_dict(c5_palsy_labels(tables, dd)) == dict.fromkeys(["a", "b"], "no neuro exam within days 0 to 21")
    assert as_dict(complication_labels(tables, dd)) == {"a": 0, "b": "last follow-up before day 90 and no event"}
    assert as_dict(progression_labels(tables, dd)) == dict.fromkeys(["a", "b"], "no pre-operative CT")
    assert as_dict(progression_intervals(tables, dd)) == dict.fromkeys(["a", "b"], "no pre-operative CT")
