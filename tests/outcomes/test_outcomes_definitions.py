"""Named outcomes through the single entry point: every name, the counting invariant, populations."""

from __future__ import annotations

import json

import pytest

from spineoutcome.dictionary import UnknownVariableError
from spineoutcome.outcomes import OutcomeLabels, derive_outcome, load_outcome_definitions

NAMES = {
    "c5_palsy",
    "complication_any",
    "complication_neurological",
    "progression_24m",
    "progression_time",
    "mcid_mjoa_12m",
    "mcid_ndi_12m",
    "joa_rr50_12m",
}


def as_dict(result: OutcomeLabels):
    labels = result.labels
    if result.kind == "binary":
        labelled = labels.astype(int).to_dict()
    else:
        labelled = {k: (row.lower, row.upper, row.event) for k, row in labels.iterrows()}
    return {**labelled, **dict(zip(result.exclusions.iloc[:, 0], result.exclusions.reason, strict=False))}


def test_outcome_names_are_the_agreed_ones(dd):
    definitions = load_outcome_definitions(dd)
    assert set(definitions) == NAMES
    assert {d["kind"] for d in definitions.values()} == {
        "c5_palsy",
        "complication",
        "progression",
        "progression_time",
        "mcid",
    }


@pytest.mark.parametrize("name", sorted(NAMES))
def test_every_patient_is_labelled_or_excluded_with_a_reason(cohort, dd, name):
    result = derive_outcome(name, cohort, dd)
    counts = result.counts()
    assert counts["considered"] == 5 == counts["labelled"] + sum(counts["excluded"].values())
    assert set(result.labels.index) | set(result.exclusions[dd.key]) == {"p1", "p2", "p3", "p4", "p5"}
    assert result.exclusions[dd.key].is_unique
    assert result.name == name
    json.dumps(result.definition)
    json.dumps(counts)


def test_named_outcomes_on_the_crafted_cohort(cohort, dd):
    outside = "outside population: diagnosis not in [OPLL]"
    expected = {
        "c5_palsy": {
            "p1": 1,
            "p2": 0,
            "p3": 0,
            "p4": "no neuro exam within days 0 to 21",
            "p5": "no neuro exam within days 0 to 21",
        },
        "complication_any": {"p1": 1, "p2": 1, "p3": "last follow-up before day 90 and no event", "p4": 0, "p5": 0},
        "complication_neurological": {
            "p1": 1,
            "p2": 0,
            "p3": "last follow-up before day 90 and no event",
            "p4": 0,
            "p5": 0,
        },
        "progression_24m": {
            "p1": 1,
            "p2": 0,
            "p3": "no CT within 730 +/- 180 days",
            "p4": "no pre-operative CT",
            "p5": outside,
        },
        "progression_time": {
            "p1": (365.0, 730.0, 1),
            "p2": (700.0, float("inf"), 0),
            "p3": (0.0, 365.0, 1),
            "p4": "no pre-operative CT",
            "p5": outside,
        },
        "mcid_mjoa_12m": {
            "p1": 1,
            "p2": 1,
            "p3": "no 12m mjoa within days 274 to 456",
            "p4": "no baseline mjoa within days -365 to 0",
            "p5": "no baseline mjoa within days -365 to 0",
        },
        "mcid_ndi_12m": {
            "p1": 1,
            "p2": 0,
            "p3": "no baseline ndi within days -365 to 0",
            "p4": "no baseline ndi within days -365 to 0",
            "p5": "no baseline ndi within days -365 to 0",
        },
        "joa_rr50_12m": {
            "p1": "pre-operative score at maximum; recovery rate undefined",
            "p2": 1,
            "p3": "no baseline joa within days -365 to 0",
            "p4": "no baseline joa within days -365 to 0",
            "p5": "no baseline joa within days -365 to 0",
        },
    }
    assert {name: as_dict(derive_outcome(name, cohort, dd)) for name in expected} == expected


def test_resolved_definition_names_its_mcid(cohort, dd):
    result = derive_outcome("mcid_mjoa_12m", cohort, dd)
    mcid = result.definition["mcid"]
    assert (mcid["name"], mcid["instrument"], mcid["method"], mcid["threshold"]) == (
        "mjoa_abs2_12m",
        "mjoa",
        "absolute_change",
        2.0,
    )
    assert mcid["followup"] == {"timepoint": "12m", "days": [274, 456]}
    assert result.definition["direction"] == "higher is better"
    assert derive_outcome("mcid_ndi_12m", cohort, dd).definition["direction"] == "lower is better"
    assert result.definition["dictionary_version"] == dd.version


def test_inline_definitions(cohort, dd):
    severity = derive_outcome({"name": "mjoa_by_severity", "kind": "mcid", "mcid": "mjoa_severity_12m"}, cohort, dd)
    # p1 12 -> 14 (moderate, needs 2): 1; p2 11 -> 13 (severe, needs 3): 0
    assert severity.labels.to_dict() == {"p1": 1, "p2": 0}
    short = derive_outcome({"name": "complication_30d", "kind": "complication", "window_days": [0, 30]}, cohort, dd)
    # p2's dysphagia on day 90 is outside 30 days; p3 followed to day 60 >= 30 now counts as complete
    assert as_dict(short) == {"p1": 1, "p2": 0, "p3": 0, "p4": 0, "p5": 0}


def test_bad_definitions_are_rejected(cohort, dd):
    with pytest.raises(UnknownVariableError, match="c5_palsy"):
        derive_outcome("c5_pasly", cohort, dd)
    with pytest.raises(ValueError, match="horizon_day"):
        derive_outcome({"name": "x", "kind": "complication", "horizon_day": 3}, cohort, dd)
    with pytest.raises(UnknownVariableError):
        derive_outcome({"name": "x", "kind": "progression", "population": {"diagnosys": ["OPLL"]}}, cohort, dd)
