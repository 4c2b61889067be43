"""Typed frames for hand-built cohorts, shaped as validated exports (dtypes from the dictionary)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import pandas as pd
import pytest

from spineoutcome.dictionary import DataDictionary

DTYPES = {"float": "float64", "int": "Int64", "bool": "boolean", "date": "datetime64[ns]", "string": "object"}

MakeTable = Callable[[str, Sequence[Mapping[str, Any]]], pd.DataFrame]


@pytest.fixture(scope="session")
def dd() -> DataDictionary:
    return DataDictionary.load()


@pytest.fixture(scope="session")
def make_table(dd: DataDictionary) -> MakeTable:
    """``make_table(table, rows)``: every dictionary column of ``table``, typed; absent cells are missing."""

    def make(name: str, rows: Sequence[Mapping[str, Any]]) -> pd.DataFrame:
        table = dd.table(name)
        frame = pd.DataFrame(list(rows), columns=table.names)
        for var in table.variables:
            if var.dtype == "category":
                frame[var.name] = pd.Categorical(frame[var.name], categories=list(var.categories), ordered=var.ordered)
            else:
                frame[var.name] = frame[var.name].astype(DTYPES[var.dtype])
        return frame

    return make


@pytest.fixture(scope="session")
def patients(make_table: MakeTable) -> Callable[..., pd.DataFrame]:
    """``patients(ids, **columns)``: the patient table with defaults (centre A, full strength, 2-year follow-up)."""

    def make(ids: Sequence[str], **columns: Sequence[Any]) -> pd.DataFrame:
        defaults = {
            "centre": "A",
            "surgery_date": "2022-01-01",
            "diagnosis": "OPLL",
            "last_followup_day": 730,
            "deltoid_mmt_pre_left": 5,
            "deltoid_mmt_pre_right": 5,
            "biceps_mmt_pre_left": 5,
            "biceps_mmt_pre_right": 5,
        }
        rows = []
        for i, pid in enumerate(ids):
            row = {"patient_id": pid, **defaults}
            row.update({col: values[i] for col, values in columns.items()})
            rows.append(row)
        return make_table("clinical", rows)

    return make


@pytest.fixture
def cohort(make_table: MakeTable, patients: Callable[..., pd.DataFrame]) -> dict[str, pd.DataFrame]:
    """Five patients with every follow-up table; p5 has DCM and only an EQ-5D item (no value set given)."""
    ids = ["p1", "p2", "p3", "p4", "p5"]
    clinical = patients(
        ids, diagnosis=["OPLL", "OPLL", "OPLL", "OPLL", "DCM"], last_followup_day=[800, 800, 60, 800, 800]
    )
    neuro = make_table(
        "neuro_exam",
        [
            {
                "patient_id": "p1",
                "day": 2,
                "side": "left",
                "deltoid_mmt": 4,
                "biceps_mmt": 5,
                "myelopathy_worsened": False,
            },
            {
                "patient_id": "p2",
                "day": 2,
                "side": "left",
                "deltoid_mmt": 5,
                "biceps_mmt": 5,
                "myelopathy_worsened": False,
            },
            {
                "patient_id": "p3",
                "day": 2,
                "side": "right",
                "deltoid_mmt": 3,
                "biceps_mmt": 5,
                "myelopathy_worsened": True,
            },
        ],
    )
    complications = make_table(
        "complications",
        [
            {"patient_id": "p1", "complication_type": "c5_palsy", "clavien_dindo_grade": "II", "day": 2},
            {"patient_id": "p2", "complication_type": "dysphagia", "clavien_dindo_grade": "I", "day": 90},
            {"patient_id": "p4", "complication_type": "infection", "clavien_dindo_grade": "IIIb", "day": 91},
        ],
    )
    ct = make_table(
        "ct_followup",
        [
            {"patient_id": pid, "day": day, "opll_thickness_mm": t, "opll_length_mm": 30.0}
            for pid, day, t in [
                ("p1", -5, 4.0),
                ("p1", 365, 4.5),
                ("p1", 730, 6.0),
                ("p2", -5, 4.0),
                ("p2", 365, 4.5),
                ("p2", 700, 5.0),
                ("p3", -5, 4.0),
                ("p3", 365, 6.5),
                ("p4", 365, 6.5),
            ]
        ],
    )
    mjoa_items = {"motor_upper": 3, "motor_lower": 4, "sensory_upper": 2, "bladder": 2}  # 11
    proms = []
    for pid, instrument, timepoint, day, value in [
        ("p1", "mjoa", "baseline", -3, 12),
        ("p1", "mjoa", "12m", 365, 14),
        ("p2", "mjoa", "12m", 370, 13),
        ("p3", "mjoa", "baseline", -3, 10),
        ("p3", "mjoa", "12m", 457, 15),
        ("p1", "ndi", "baseline", -3, 30),
        ("p1", "ndi", "12m", 365, 22.5),
        ("p2", "ndi", "baseline", -3, 30),
        ("p2", "ndi", "12m", 365, 25),
        ("p1", "joa", "baseline", -3, 17),
        ("p1", "joa", "12m", 365, 17),
        ("p2", "joa", "baseline", -3, 11),
        ("p2", "joa", "12m", 365, 14),
    ]:
        proms.append({"patient_id": pid, "instrument": instrument, "timepoint": timepoint, "day": day, "value": value})
    proms += [
        {"patient_id": "p2", "instrument": "mjoa", "timepoint": "baseline", "day": -3, "item": k, "value": v}
        for k, v in mjoa_items.items()
    ]
    # EQ-5D items without a value set must not stop other outcomes from being derived.
    proms.append(
        {"patient_id": "p5", "instrument": "eq5d", "timepoint": "baseline", "day": -3, "item": "mobility", "value": 2}
    )
    return {
        "clinical": clinical,
        "neuro_exam": neuro,
        "complications": complications,
        "ct_followup": ct,
        "proms": make_table("proms", proms),
    }
