"""The run records its spline budget and chooses its winner by the one-SE rule, with frequencies."""

from __future__ import annotations

import pytest

from spineoutcome.experiment import ExperimentResult
from spineoutcome.modeling.budget import complexity_rank


def test_spline_budget_is_recorded_and_applied_to_the_reference_model(reference_run: ExperimentResult) -> None:
    ev = reference_run.evidence
    budget = ev.sample_size["spline_budget"]
    assert budget["rule"] == "harrell" and budget["max_knots"] == 3
    assert budget["effective_sample_size"] == min(ev.data["events"], ev.data["n"] - ev.data["events"])
    assert budget["max_parameters"] == budget["effective_sample_size"] // 15
    fitted = reference_run.models["logistic"].best_estimator_.named_steps["preprocess"]
    assert fitted.spline_knots == budget["knots"]
    assert ev.sample_size["n_parameters"] == budget["n_parameters"]
    assert "m / 15" in budget["statement"]


def test_winner_is_the_one_se_choice_and_frequencies_are_recorded(reference_run: ExperimentResult) -> None:
    ev = reference_run.evidence
    selection = ev.model_selection
    assert selection is not None and ev.best_family == selection["winner"]
    comparisons = {c["family"]: c for c in selection["families"]}
    assert set(comparisons) == set(ev.families)
    assert sum(c["lowest_loss_frequency"] for c in comparisons.values()) == pytest.approx(1.0)
    best_loss = min(c["loss"] for c in comparisons.values())
    eligible = [f for f, c in comparisons.items() if c["loss"] - best_loss <= c["se_difference"]]
    budget = ev.sample_size["spline_budget"]
    within = budget["n_parameters"] <= budget["max_parameters"]
    assert ev.best_family == min(
        eligible, key=lambda f: (complexity_rank(f, budget["knots"], within), comparisons[f]["loss"])
    )
    for family, record in ev.families.items():
        assert record.cross_validation["selection"] == comparisons[family]
        assert record.cross_validation["selection"]["loss"] == pytest.approx(
            record.cross_validation["overall"]["log_loss"]["value"], rel=1e-6
        )
    assert "within one standard error" in ev.selection_rule
