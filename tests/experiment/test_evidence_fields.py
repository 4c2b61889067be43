"""Evidence fields the report needs for TRIPOD+AI items 5b, 7a, 20b and the survival and calibration sections:
baseline outcome and follow-up rows, accrual months, predictor coding, the histogram of predicted risks,
natural subgroup order, SHAP fifth edges, Harrell's C with its interval, numbers at risk and the Weibull
coefficients. Tiny runs (one family each, no tuning, no bootstrap) on the session cohort."""

from __future__ import annotations

import json
import re
from collections.abc import Callable

import numpy as np
import pytest

from spineoutcome.experiment import ExperimentResult
from spineoutcome.experiment.survival import AT_RISK_DAYS
from spineoutcome.experiment.validation import MIN_CELL, prediction_distribution

BINARY = {
    "name": "fields_binary",
    "outcome": "complication_any",
    "predictors": {"include": ["age", "sex", "diabetes", "approach", "occupying_ratio", "mjoa_baseline"]},
    "families": ["logistic"],
    "validation": {"folds": 3, "repeats": 1, "bootstrap": None, "internal_external": False},
    "subgroups": {"variables": ["age_group", "sex", "approach"], "min_events": 5},
    "seed": 5,
}
SURVIVAL = {
    "name": "fields_survival",
    "outcome": "progression_time",
    "eligibility": {"diagnosis": ["OPLL"]},
    "predictors": {"include": ["age", "sex", "diabetes", "occupying_ratio"]},
    "families": [],
    "survival_families": ["weibull_aft"],
    "horizon_days": 730,
    "validation": {"folds": 3, "repeats": 1, "bootstrap": None, "internal_external": False},
    "seed": 5,
}
MONTH = re.compile(r"^\d{4}-(0[1-9]|1[0-2])$")


@pytest.fixture(scope="module")
def binary(run: Callable[..., ExperimentResult]) -> ExperimentResult:
    return run(BINARY)


@pytest.fixture(scope="module")
def survival(run: Callable[..., ExperimentResult]) -> ExperimentResult:
    return run(SURVIVAL)


def test_new_fields_keep_evidence_strict_json(binary: ExperimentResult, survival: ExperimentResult) -> None:
    for result in (binary, survival):
        json.dumps(result.evidence.to_dict(), allow_nan=False)


@pytest.mark.parametrize("table", ["by_outcome", "by_centre"])
def test_baseline_outcome_row_counts_the_events(binary: ExperimentResult, table: str) -> None:
    evidence, task = binary.evidence, binary.task
    base = evidence.baseline[table]
    assert base["columns"][0] == {"label": "all patients", "n": task.n}
    outcome, followup = base["rows"][:2]
    assert outcome["variable"] == BINARY["outcome"] and outcome["kind"] == "outcome"
    counts = [c["count"] for c in outcome["cells"]]
    assert counts[0] == task.events == evidence.data["events"]
    if table == "by_centre":
        assert sum(counts[1:]) == task.events
        assert sum(c["n"] for c in base["columns"][1:]) == task.n
    else:
        assert counts[1:] == [0, task.events]
    assert followup["kind"] == "followup" and followup["unit"] == "days"
    for cell in followup["cells"]:
        assert 0 <= cell["q1"] <= cell["median"] <= cell["q3"]


def test_baseline_rows_carry_dtype_and_mean_sd(binary: ExperimentResult) -> None:
    rows = binary.evidence.baseline["by_outcome"]["rows"]
    assert all(r["dtype"] for r in rows)
    age = next(r for r in rows if r["variable"] == "age")
    assert age["kind"] == "continuous" and age["dtype"] == "float"
    ages = binary.task.X["age"].astype(float)
    assert age["cells"][0]["mean"] == pytest.approx(ages.mean())
    assert age["cells"][0]["sd"] == pytest.approx(ages.std(ddof=1))


def test_accrual_is_months_overall_and_per_centre(binary: ExperimentResult) -> None:
    accrual = binary.evidence.data["accrual"]
    records = [accrual, *accrual["by_centre"]]
    for record in records:
        months = [record["first_surgery"], record["last_surgery"], record["end_of_follow_up"]]
        assert all(MONTH.match(m) for m in months), months
        assert months == sorted(months)
    assert sorted(c["centre"] for c in accrual["by_centre"]) == sorted(set(binary.task.centres))
    assert sum(c["n"] for c in accrual["by_centre"]) == binary.task.n
    assert accrual["first_surgery"] == min(c["first_surgery"] for c in accrual["by_centre"])


def test_predictors_carry_dictionary_coding_and_timing(binary: ExperimentResult, cohort) -> None:
    predictors = {p["name"]: p for p in binary.evidence.data["predictors"]}
    assert predictors["sex"]["dtype"] == "category"
    assert predictors["sex"]["categories"] == list(cohort.dictionary.variable("sex").categories)
    assert predictors["age"]["range"] == list(cohort.dictionary.variable("age").range)
    assert predictors["age"]["timing"] == "pre-operative"
    assert predictors["mjoa_baseline"]["timing"] == "pre-operative (baseline PROM)"
    assert predictors["mjoa_baseline"]["source"]


def test_prediction_distribution_has_no_small_cells(binary: ExperimentResult) -> None:
    dist = binary.evidence.families["logistic"].cross_validation["prediction_distribution"]
    events, non_events, edges = dist["events"], dist["non_events"], dist["edges"]
    assert sum(events) == binary.task.events
    assert sum(events) + sum(non_events) == binary.task.n
    assert len(edges) == len(events) + 1 >= 3
    assert edges[0] == 0.0 and edges[-1] == 1.0 and edges == sorted(set(edges))
    assert min(events + non_events) >= MIN_CELL
    assert 0.0 <= dist["q01"] <= dist["q50"] <= dist["q99"] <= 1.0


def test_too_few_events_for_two_bins_leave_one_bin() -> None:
    y = np.array([1, 1, 0, 0, 0, 0, 0, 0, 0, 0])
    dist = prediction_distribution(y, np.linspace(0.05, 0.95, 10))
    assert dist["edges"] == [0.0, 1.0] and dist["events"] == [2] and dist["non_events"] == [8]


def test_subgroups_are_in_natural_order(binary: ExperimentResult, cohort) -> None:
    rows = binary.evidence.families["logistic"].subgroups
    groups: dict[str, list[str]] = {}
    for r in rows:
        if r["group"] not in groups.setdefault(r["grouping"], []):
            groups[r["grouping"]].append(r["group"])
    assert list(groups) == ["overall", "age_group", "sex", "approach"]
    assert groups["age_group"] == [g for g in ["<65", "65-75", ">=75"] if g in groups["age_group"]]
    for name in ("sex", "approach"):
        order = [c for c in cohort.dictionary.variable(name).categories if c in groups[name]]
        assert groups[name][: len(order)] == order


def test_shap_fifths_carry_their_edges(binary: ExperimentResult) -> None:
    fifths = [b for b in binary.evidence.families["logistic"].shap["binned"]["age"] if b["bin"].startswith("fifth")]
    assert [b["bin"] for b in fifths] == [f"fifth {k}" for k in range(1, 6)]
    assert fifths[0]["low"] is None and fifths[-1]["high"] is None
    cuts = [b["high"] for b in fifths[:-1]]
    assert cuts == sorted(cuts) and cuts == [b["low"] for b in fifths[1:]]


def test_harrell_c_has_a_bootstrap_interval(survival: ExperimentResult) -> None:
    c = survival.evidence.families["weibull_aft"].cross_validation["harrell_c"]
    assert c["ci_method"] == "bootstrap-percentile"
    assert 0.0 <= c["ci_low"] <= c["value"] <= c["ci_high"] <= 1.0


def test_numbers_at_risk_start_with_each_risk_group(survival: ExperimentResult) -> None:
    rows = survival.evidence.families["weibull_aft"].cross_validation["km_at_risk"]
    groups = sorted({r["group"] for r in rows})
    assert sum(r["n_at_risk"] for r in rows if r["time"] == 0) == survival.task.n
    for g in groups:
        series = [r for r in rows if r["group"] == g]
        assert [r["time"] for r in series] == list(AT_RISK_DAYS)
        counts = [r["n_at_risk"] for r in series]
        assert counts == sorted(counts, reverse=True)


def test_weibull_specification_has_preprocessing_and_coefficients(survival: ExperimentResult) -> None:
    spec = survival.evidence.families["weibull_aft"].specification
    assert spec["preprocessing"]["imputation"] == "simple"
    coefficients = spec["coefficients"]
    assert {c["parameter"] for c in coefficients} == {"lambda_", "rho_"}
    assert any(c["covariate"] == "age" for c in coefficients)
    for c in coefficients:
        assert c["ci_low"] <= c["coef"] <= c["ci_high"] and c["se"] > 0
