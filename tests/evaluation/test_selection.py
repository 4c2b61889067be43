"""The one-SE rule on constructed losses with a known answer, and the closed-form SE of a paired mean."""

from __future__ import annotations

import math

import numpy as np
import pytest
from sklearn.metrics import brier_score_loss, log_loss

from spineoutcome.evaluation.selection import select_one_se

COMPLEXITY = {"linear": 0, "penalised": 1, "spline": 2, "trees": 3}


def world(n: int = 4000, seed: int = 1) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    risk = rng.beta(2, 18, n)
    return (rng.random(n) < risk).astype(int), risk


def test_simplest_family_within_one_se_wins_over_a_slightly_better_complex_one():
    y, risk = world()
    preds = {
        # The trees have the true risks; the linear model's are 3 % too high: its expected loss is
        # higher, by less than one SE of the paired difference at n = 4,000 (and by more than
        # three SEs when 30 % too high, next test).
        "trees": risk,
        "linear": risk * 1.03,
        # A useless model: the prevalence for everyone, many SEs worse.
        "penalised": np.full(y.size, y.mean()),
    }
    result = select_one_se(y, preds, COMPLEXITY, n_boot=500, seed=3)
    by = {c.family: c for c in result.families}
    assert result.lowest_loss == "trees"
    assert by["linear"].difference > 0 and by["linear"].within_one_se
    assert not by["penalised"].within_one_se
    assert result.winner == "linear"
    # The point losses are sklearn's log-loss.
    assert by["trees"].loss == pytest.approx(log_loss(y, risk))
    # The bootstrap SE of the paired difference approaches the closed form SD(d) / sqrt(n).
    d = -(y * np.log(preds["penalised"]) + (1 - y) * np.log1p(-preds["penalised"])) + (
        y * np.log(risk) + (1 - y) * np.log1p(-risk)
    )
    assert by["penalised"].se_difference == pytest.approx(np.std(d, ddof=1) / math.sqrt(y.size), rel=0.1)


def test_a_complex_family_better_by_more_than_one_se_wins():
    y, risk = world()
    preds = {"trees": risk, "linear": risk * 1.3}
    result = select_one_se(y, preds, COMPLEXITY, n_boot=300, seed=4)
    assert result.winner == "trees" == result.lowest_loss
    by = {c.family: c for c in result.families}
    assert by["linear"].difference > 3 * by["linear"].se_difference
    assert by["trees"].lowest_loss_frequency == 1.0 and by["trees"].selected_frequency >= 0.95


def test_identical_predictions_go_to_the_simplest_family_and_frequencies_sum_to_one():
    y, risk = world(1000)
    preds = {"spline": risk, "trees": risk, "penalised": risk}
    result = select_one_se(y, preds, COMPLEXITY, n_boot=200, seed=5)
    assert result.winner == "penalised"
    assert sum(c.lowest_loss_frequency for c in result.families) == pytest.approx(1.0)
    assert sum(c.selected_frequency for c in result.families) == pytest.approx(1.0)
    assert "1 standard error" not in result.statement() and "within one standard error" in result.statement()


def test_brier_loss_and_repeats_average_the_patient_losses():
    y, risk = world(800)
    repeats = np.vstack([risk, np.clip(risk * 1.1, 0, 1)])
    result = select_one_se(y, {"linear": repeats, "trees": risk}, COMPLEXITY, loss="brier", n_boot=50, seed=6)
    by = {c.family: c for c in result.families}
    expected = np.mean([brier_score_loss(y, r) for r in repeats])
    assert by["linear"].loss == pytest.approx(expected)


def test_bad_inputs_are_named():
    y, risk = world(100)
    with pytest.raises(ValueError, match="complexity rank"):
        select_one_se(y, {"other": risk}, COMPLEXITY)
    with pytest.raises(ValueError, match="patients"):
        select_one_se(y, {"linear": risk[:50]}, COMPLEXITY)
    with pytest.raises(ValueError, match="loss"):
        select_one_se(y, {"linear": risk}, COMPLEXITY, loss="auc")
