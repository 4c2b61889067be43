"""The spline budget: Harrell's m / 15 against parameter counts worked out by hand."""

from __future__ import annotations

import numpy as np
import pytest

from spineoutcome.modeling.budget import complexity_rank, spline_budget

from .conftest import PREDICTORS

# The cohort's linear reference design, counted by hand: age, bmi, asa_class (continuous) 3;
# missing indicators of bmi and asa_class 2; diabetes and its indicator 2; smoking (3 levels,
# reference dropped) 2; approach (4 levels) 3. A k-knot spline adds k - 2 parameters for age and
# for bmi; asa_class (4 distinct values, 2 interior) stays linear, as in modeling.splines.
LINEAR = 12


def outcomes(n: int, events: int) -> np.ndarray:
    y = np.zeros(n, dtype=int)
    y[np.random.default_rng(0).choice(n, events, replace=False)] = 1
    return y


@pytest.mark.parametrize(
    ("events", "knots", "n_parameters"),
    [
        (300, 5, LINEAR + 2 * 3),  # m = 300 -> 20 parameters: 5 knots (18) fit
        (250, 4, LINEAR + 2 * 2),  # m = 250 -> 16: 5 knots (18) too many, 4 knots (16) fit
        (215, 3, LINEAR + 2 * 1),  # m = 215 -> 14: 3 knots (14)
        (400, None, LINEAR),  # m = min(400, 200) = 200 -> 13: even 3 knots (14) too many
        (100, None, LINEAR),  # m = 100 -> 6: linear, and the statement says the budget is exceeded
    ],
)
def test_harrell_rule_picks_the_most_knots_within_m_over_15(dictionary, cohort, events, knots, n_parameters):
    X, _ = cohort
    y = outcomes(len(X), events)
    budget = spline_budget(dictionary, PREDICTORS, X, y, max_knots=5)
    assert budget.effective_sample_size == min(events, len(X) - events)
    assert budget.max_parameters == budget.effective_sample_size // 15
    assert budget.knots == knots
    assert budget.n_parameters == n_parameters
    assert {c["knots"]: c["n_parameters"] for c in budget.candidates} == {
        5: LINEAR + 6,
        4: LINEAR + 4,
        3: LINEAR + 2,
        None: LINEAR,
    }
    assert ("exceeds the budget" in budget.statement) == (LINEAR > budget.max_parameters)
    assert "m / 15" in budget.statement


def test_fixed_rule_keeps_the_configured_knots_and_reports_the_budget(dictionary, cohort):
    X, _ = cohort
    budget = spline_budget(dictionary, PREDICTORS, X, outcomes(len(X), 100), max_knots=4, rule="fixed")
    assert budget.knots == 4 and budget.n_parameters == LINEAR + 4 and budget.max_parameters == 6


def test_no_knots_allowed_means_linear_terms(dictionary, cohort):
    X, _ = cohort
    budget = spline_budget(dictionary, PREDICTORS, X, outcomes(len(X), 300), max_knots=None)
    assert budget.knots is None and budget.n_parameters == LINEAR
    assert budget.to_dict()["candidates"] == ({"knots": None, "n_parameters": LINEAR, "within_budget": True},)


def test_unpenalised_logistic_is_the_simplest_family_only_when_linear_and_within_budget():
    assert complexity_rank("logistic", None) == 0 < complexity_rank("elastic_net", None) == 1
    assert complexity_rank("logistic", 3) == 2 == complexity_rank("logistic", None, within_budget=False)
    assert complexity_rank("lightgbm", None) == 3
    with pytest.raises(ValueError, match="no complexity rank"):
        complexity_rank("svm", None)


def test_riley_rule_allows_what_rileys_criteria_allow(dictionary, cohort):
    """rule="riley": the most parameters with expected shrinkage >= 0.9 and Nagelkerke optimism
    <= 0.05 at the observed n and prevalence, R^2 anticipated from C = 0.75; the knots follow."""
    from spineoutcome.evaluation.samplesize import development_sample_size, r2_cs_from_c_statistic

    X, _ = cohort
    y = outcomes(len(X), 250)
    budget = spline_budget(dictionary, PREDICTORS, X, y, max_knots=5, rule="riley")
    prevalence = 250 / len(X)
    r2 = r2_cs_from_c_statistic(0.75, prevalence)
    assert budget.rule == "riley" and budget.anticipated_r2_cox_snell == pytest.approx(r2)
    # the allowance is the largest p whose required n (Riley's criteria 1 and 2) the sample meets
    need = {p: development_sample_size(n_parameters=p, prevalence=prevalence, r2_cox_snell=r2) for p in (1, 50)}
    assert need[1].n_criterion_2 <= len(X)
    p = budget.max_parameters
    at = development_sample_size(n_parameters=p, prevalence=prevalence, r2_cox_snell=r2)
    above = development_sample_size(n_parameters=p + 1, prevalence=prevalence, r2_cox_snell=r2)
    assert max(at.n_criterion_1, at.n_criterion_2) <= len(X) < max(above.n_criterion_1, above.n_criterion_2)
    fitting = [k for k, n in ((5, LINEAR + 6), (4, LINEAR + 4), (3, LINEAR + 2)) if n <= p]
    assert budget.knots == (fitting[0] if fitting else None)
    assert "Riley" in budget.statement and "m / 15" not in budget.statement


def test_riley_max_parameters_reproduces_rileys_worked_example():
    """Riley et al. (BMJ 2020), R^2 0.288, prevalence 0.174: 24 parameters need 662 patients
    (criterion 2, unrounded), so 662 patients allow 24 and 661 only 23."""
    from spineoutcome.evaluation.samplesize import max_parameters

    assert max_parameters(662, prevalence=0.174, r2_cox_snell=0.288) == 24
    assert max_parameters(661, prevalence=0.174, r2_cox_snell=0.288) == 23
    assert max_parameters(623, prevalence=0.174, r2_cox_snell=0.288, delta_r2=1.0) == 24  # criterion 1 alone
