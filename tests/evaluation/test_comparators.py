"""A rule or score next to a model, against independent computations: net benefit by hand, the AUC of a
binary rule in closed form and by scikit-learn, the paired DeLong variance from the placement values of
DeLong et al. (1988) written out pair by pair, and the paired bootstrap of the net-benefit difference."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats
from scipy.special import expit
from sklearn.metrics import roc_auc_score

from spineoutcome.evaluation import Bootstrap, Estimate
from spineoutcome.evaluation.comparators import compare_rule, compare_score, net_benefit_verdict

THRESHOLDS = [0.05, 0.1, 0.2]


@pytest.fixture(scope="module")
def cohort() -> dict[str, np.ndarray]:
    """300 patients: a model's risks, a rule that flags a third of them (related to the outcome), and a score."""
    rng = np.random.default_rng(20)
    n = 300
    x = rng.normal(size=n)
    y = (rng.random(n) < expit(-2.2 + 1.1 * x)).astype(int)
    p_model = expit(-2.3 + 1.0 * x + rng.normal(0, 0.4, n))
    flagged = x + rng.normal(0, 1.0, n) > 0.6
    known = rng.random(n) > 0.05
    score = np.where(rng.random(n) < 0.1, np.nan, x + rng.normal(0, 0.8, n))
    return {"y": y, "p": p_model, "flagged": flagged, "known": known, "score": score}


def _placement_delong(y: np.ndarray, a: np.ndarray, b: np.ndarray) -> tuple[float, float, float]:
    """AUC(a), AUC(b) and Var(AUC(a) - AUC(b)) from DeLong's structural components, pair by pair."""
    events, non_events = y == 1, y == 0

    def psi(s: np.ndarray) -> np.ndarray:
        x, z = s[events][:, None], s[non_events][None, :]
        return (x > z) + 0.5 * (x == z)

    ka, kb = psi(a), psi(b)
    v10 = np.vstack([ka.mean(axis=1), kb.mean(axis=1)])
    v01 = np.vstack([ka.mean(axis=0), kb.mean(axis=0)])
    s = np.cov(v10) / events.sum() + np.cov(v01) / non_events.sum()
    return float(ka.mean()), float(kb.mean()), float(s[0, 0] + s[1, 1] - 2 * s[0, 1])


def test_rule_net_benefit_is_tp_over_n_minus_fp_over_n_times_the_odds(cohort) -> None:
    y, rule = cohort["y"], cohort["flagged"] & cohort["known"]
    boot = Bootstrap.draw(y, n_boot=200, seed=1)
    result = compare_rule(y, cohort["flagged"], cohort["known"], cohort["p"], THRESHOLDS, boot=boot)
    n = y.size
    tp, fp = int(np.sum(rule & (y == 1))), int(np.sum(rule & (y == 0)))
    for row, t in zip(result.net_benefit, THRESHOLDS, strict=True):
        assert row.comparator == pytest.approx(tp / n - fp / n * t / (1 - t), abs=1e-12)
        treated = cohort["p"] >= t
        m_tp, m_fp = np.sum(treated & (y == 1)), np.sum(treated & (y == 0))
        assert row.model == pytest.approx(m_tp / n - m_fp / n * t / (1 - t), abs=1e-12)
        prevalence = y.mean()
        assert row.treat_all == pytest.approx(prevalence - (1 - prevalence) * t / (1 - t))
        assert row.difference.value == pytest.approx(row.model - row.comparator)
    # the rule's curve on the 1 % grid is the same closed form at every threshold
    grid = np.asarray(result.decision_curve["thresholds"])
    np.testing.assert_allclose(result.decision_curve["nb"], tp / n - fp / n * grid / (1 - grid), atol=1e-12)


def test_the_paired_bootstrap_interval_is_the_percentile_of_per_replicate_differences(cohort) -> None:
    y, rule = cohort["y"], (cohort["flagged"] & cohort["known"]).astype(float)
    boot = Bootstrap.draw(y, n_boot=300, seed=5)
    result = compare_rule(y, cohort["flagged"], cohort["known"], cohort["p"], [0.1], boot=boot)
    odds = 0.1 / 0.9
    differences = []
    for w in boot.weights:  # each replicate recomputed from its resampled patients, one at a time
        idx = np.repeat(np.arange(y.size), w.astype(int))
        yy, pm, pr = y[idx], cohort["p"][idx], rule[idx]

        def nb(p: np.ndarray, yy: np.ndarray = yy) -> float:
            treated = p >= 0.1
            return (np.sum(treated & (yy == 1)) - np.sum(treated & (yy == 0)) * odds) / yy.size

        differences.append(nb(pm) - nb(pr))
    low, high = np.quantile(differences, [0.025, 0.975])
    assert result.net_benefit[0].difference.ci_low == pytest.approx(low, abs=1e-12)
    assert result.net_benefit[0].difference.ci_high == pytest.approx(high, abs=1e-12)


def test_a_binary_rule_auc_is_half_sensitivity_plus_specificity_and_delong_matches_the_placements(cohort) -> None:
    y, rule = cohort["y"], cohort["flagged"] & cohort["known"]
    result = compare_rule(y, cohort["flagged"], cohort["known"], cohort["p"], THRESHOLDS, boot=Bootstrap.draw(y))
    row = result.classification[0]
    sens = np.sum(rule & (y == 1)) / np.sum(y == 1)
    spec = np.sum(~rule & (y == 0)) / np.sum(y == 0)
    assert row["sensitivity"]["value"] == pytest.approx(sens)
    assert row["specificity"]["value"] == pytest.approx(spec)
    assert result.auc["auc_b"]["value"] == pytest.approx((sens + spec) / 2)
    assert result.auc["auc_b"]["value"] == pytest.approx(roc_auc_score(y, rule.astype(float)))
    assert result.auc["auc_a"]["value"] == pytest.approx(roc_auc_score(y, cohort["p"]))
    auc_a, auc_b, var = _placement_delong(y, cohort["p"], rule.astype(float))
    assert result.auc["difference"]["value"] == pytest.approx(auc_a - auc_b)
    assert result.auc["difference"]["se"] == pytest.approx(math.sqrt(var), rel=1e-10)
    z = (auc_a - auc_b) / math.sqrt(var)
    assert result.auc["p_value"] == pytest.approx(2 * stats.norm.sf(abs(z)), rel=1e-8)
    assert result.share_flagged.value == pytest.approx(rule.mean())
    assert result.n_missing == int((~cohort["known"]).sum())
    assert row["tp"] + row["fp"] == int(rule.sum())  # a rule that cannot be applied flags no one


def test_a_score_auc_uses_the_score_as_written_on_the_patients_who_have_one(cohort) -> None:
    y, score = cohort["y"], cohort["score"]
    scored = np.isfinite(score)
    p_score = expit(-2.0 + 0.8 * np.nan_to_num(score))  # stands in for the out-of-fold risks
    result = compare_score(y, score, p_score, cohort["p"], THRESHOLDS, boot=Bootstrap.draw(y, n_boot=50))
    assert result.n_missing == int((~scored).sum())
    assert result.auc["n"] == int(scored.sum())
    assert result.auc["auc_b"]["value"] == pytest.approx(roc_auc_score(y[scored], score[scored]))
    assert result.auc["auc_a"]["value"] == pytest.approx(roc_auc_score(y[scored], cohort["p"][scored]))
    _, _, var = _placement_delong(y[scored], cohort["p"][scored], score[scored])
    assert result.auc["difference"]["se"] == pytest.approx(math.sqrt(var), rel=1e-10)
    treated = p_score >= 0.2
    n = y.size
    expected = (np.sum(treated & (y == 1)) - np.sum(treated & (y == 0)) * 0.25) / n
    assert result.net_benefit[2].comparator == pytest.approx(expected)
    assert [r["threshold"] for r in result.classification] == THRESHOLDS


def test_too_few_events_leave_the_auc_unestimated_with_a_reason() -> None:
    y = np.array([1, 0, 0, 0, 0, 0, 0, 0])
    p = np.linspace(0.1, 0.8, 8)
    rule = np.array([1, 1, 0, 0, 0, 0, 0, 0], dtype=bool)
    result = compare_rule(y, rule, np.ones(8, bool), p, [0.1], boot=Bootstrap.draw(y, n_boot=20))
    assert result.auc is None and "event" in result.auc_note


@pytest.mark.parametrize(
    ("low", "high", "verdict"),
    [
        (0.001, 0.02, "model_better"),
        (-0.02, -0.001, "comparator_better"),
        (-0.01, 0.01, "no_clear_difference"),
        (0.0, 0.01, "no_clear_difference"),
        (None, 0.01, "not_estimable"),
        (float("nan"), 0.01, "not_estimable"),
    ],
)
def test_the_verdict_reads_the_interval(low, high, verdict) -> None:
    assert net_benefit_verdict(Estimate(0.005, low, high)) == verdict


def test_a_small_count_of_patients_the_rule_cannot_be_applied_to_is_suppressed_before_it_leaves(cohort) -> None:
    from spineoutcome.privacy import disclose

    y = cohort["y"]
    known = np.ones(y.size, dtype=bool)
    known[:3] = False  # three patients: a small cell
    record = compare_rule(y, cohort["flagged"], known, cohort["p"], THRESHOLDS, boot=Bootstrap.draw(y, n_boot=20))
    shown = disclose({"result": record.to_dict()})["result"]
    assert record.n_missing == 3 and shown["n_missing"] is None
    assert shown["auc"] == record.to_dict()["auc"] and shown["n"] == y.size  # only the small count is hidden
