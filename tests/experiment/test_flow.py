"""Participant flow: every patient of the exports is accounted for, in every box (TRIPOD+AI 20a).

The session cohort has one clinical row that fails validation (age 250), the reference pipeline
restricts eligibility to OPLL and its outcome (mJOA MCID at 12 months) excludes patients without a
12-month or a baseline mJOA. Counts are checked against each other and against independent counts
from the exports and the assembled cohort.
"""

from __future__ import annotations

import pandas as pd

from .conftest import N_PATIENTS, REJECTED_KEY


def _steps(result) -> dict[str, dict]:
    return {step["label"]: step for step in result.evidence.to_dict()["flow"]}


def test_flow_boxes_are_in_order(reference_run):
    labels = [step["label"] for step in reference_run.evidence.to_dict()["flow"]]
    assert labels == [
        "patients in the clinical export",
        "patients in the assembled cohort",
        "eligible",
        "analysed (outcome known)",
    ]


def test_every_exported_patient_is_accounted_for(reference_run, synth, cohort):
    steps = _steps(reference_run)
    export = steps["patients in the clinical export"]
    assembled = steps["patients in the assembled cohort"]
    eligible = steps["eligible"]
    analysed = steps["analysed (outcome known)"]

    # rows in the export = rows rejected at validation + patients in the cohort
    assert export["n"] == len(pd.read_csv(synth.path / "clinical.csv")) == N_PATIENTS + 1
    assert sum(export["excluded"].values()) == 1
    assert export["n"] - sum(export["excluded"].values()) == assembled["n"] == len(cohort.wide) == N_PATIENTS
    assert REJECTED_KEY not in cohort.wide.index

    # eligible + not eligible = cohort
    assert eligible["n"] + sum(eligible["excluded"].values()) == assembled["n"]
    assert eligible["n"] == int((cohort.wide["diagnosis"].astype(str) == "OPLL").sum())
    assert 0 < eligible["n"] < assembled["n"]

    # analysed + outcome exclusions = eligible; outcome exclusions really happen here
    assert analysed["n"] + sum(analysed["excluded"].values()) == eligible["n"]
    assert sum(analysed["excluded"].values()) > 0
    assert all(n > 0 for n in analysed["excluded"].values())

    # the analysed box is the data the models saw
    data = reference_run.evidence.data
    assert analysed["n"] == data["n"] == reference_run.task.n == len(reference_run.task.X)


def test_analysed_patients_are_eligible_and_labelled(reference_run, cohort):
    task = reference_run.task
    assert (cohort.wide.loc[task.X.index, "diagnosis"].astype(str) == "OPLL").all()
    assert task.X.index.is_unique
    labelled = task.labels.labels.index
    excluded = pd.Index(task.labels.exclusions.iloc[:, 0])
    assert set(task.X.index) == set(labelled)
    # the outcome rule saw exactly the eligible patients: each is labelled or excluded, once
    eligible = cohort.wide.index[cohort.wide["diagnosis"].astype(str) == "OPLL"]
    assert labelled.intersection(excluded).empty
    assert set(labelled).union(excluded) == set(eligible)
