"""Hand-written export fixtures: literal values a hospital export would hold."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from spineoutcome.dictionary import DataDictionary

CLINICAL_HEADER = [
    "patient_id",
    "centre",
    "surgery_date",
    "age",
    "sex",
    "bmi",
    "smoking",
    "diabetes",
    "hypertension",
    "asa_class",
    "diagnosis",
    "symptom_duration_months",
    "hoffmann_sign",
    "gait_disturbance",
    "hand_clumsiness",
    "preop_opioid_use",
    "deltoid_mmt_pre_left",
    "deltoid_mmt_pre_right",
    "biceps_mmt_pre_left",
    "biceps_mmt_pre_right",
    "approach",
    "planned_levels",
    "last_followup_day",
]


def clinical_row(pid: str, **overrides: str) -> dict[str, str]:
    row = {
        "patient_id": pid,
        "centre": "C01",
        "surgery_date": "2021-03-04",
        "age": "64",
        "sex": "male",
        "bmi": "24.5",
        "smoking": "never",
        "diabetes": "yes",
        "hypertension": "no",
        "asa_class": "2",
        "diagnosis": "OPLL",
        "symptom_duration_months": "14",
        "hoffmann_sign": "yes",
        "gait_disturbance": "yes",
        "hand_clumsiness": "no",
        "preop_opioid_use": "no",
        "deltoid_mmt_pre_left": "5",
        "deltoid_mmt_pre_right": "5",
        "biceps_mmt_pre_left": "5",
        "biceps_mmt_pre_right": "4",
        "approach": "laminoplasty",
        "planned_levels": "4",
        "last_followup_day": "731",
    }
    row.update(overrides)
    return row


def write_csv(
    path: Path, rows: list[dict[str, str]], header: list[str] | None = None, *, sep: str = ",", encoding: str = "utf-8"
) -> Path:
    header = header or list(rows[0])
    with path.open("w", newline="", encoding=encoding) as fh:
        writer = csv.DictWriter(fh, fieldnames=header, delimiter=sep, extrasaction="ignore", lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    return path


@pytest.fixture(scope="session")
def dictionary() -> DataDictionary:
    return DataDictionary.load()
