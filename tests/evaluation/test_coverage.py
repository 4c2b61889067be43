"""Coverage of the 95 % intervals: repeated samples of n = 2,000 patients from a known world.

True risks pi ~ Beta(2, 26.5) (mean about 7 %), outcomes y ~ Bernoulli(pi). A calibrated model
predicts p = pi; a miscalibrated one predicts p = expit(0.3 + 0.8 logit pi) (too high and too
modest). The true population values are computed independently of the package, by integration
over an equal-probability grid of the Beta distribution: O:E = E pi / E p; CITL solves
E pi = E expit(a + logit p); the slope is the population logistic regression of y on logit p
(statsmodels GLM of the fractional response pi); AUC = P(p_event > p_non-event) with event and
non-event densities proportional to pi f and (1 - pi) f; Brier = E (p^2 - 2 p pi + pi); net
benefit at t = E 1{p >= t} (pi - (1 - pi) t / (1 - t)); the error summaries from |p - pi|
(the true calibration curve of a monotone model is pi).

The analytic intervals (log-normal O:E, Wald CITL and slope, DeLong AUC) and the ordinary
bootstrap (percentile) intervals must cover in 92-98 % of 500 samples (binomial SE of a 95 %
coverage over 500 samples: 1 percentage point). The outcome-stratified bootstrap is shown to
fail for O:E, which is why it is no longer the default. The ICI, E50 and E90 intervals (200
samples, SE 1.5 points) must cover in 88-99 % for both models, where the plain percentile
interval covers perfect calibration in no sample at all.

Print the table: ``python -c "from tests.evaluation.test_coverage import main; main()"``.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache

import numpy as np
import pytest
import statsmodels.api as sm
from scipy import optimize, stats
from scipy.special import expit, logit
from statsmodels.tools.sm_exceptions import PerfectSeparationWarning

from spineoutcome.evaluation import (
    Bootstrap,
    Estimate,
    calibration_curve,
    calibration_metrics,
    overall_performance,
    roc_auc,
)
from spineoutcome.evaluation.calibration import loess_errors_weighted, oe_weighted
from spineoutcome.evaluation.decision_curve import net_benefit_weighted

pytestmark = pytest.mark.slow

N = 2000
SAMPLES = 500
N_BOOT = 200
ICI_SAMPLES = 200
THRESHOLD = 0.1
BETA = (2.0, 26.5)
GRID = 400_000
MODELS: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "calibrated": lambda pi: pi,
    "miscalibrated": lambda pi: expit(0.3 + 0.8 * logit(pi)),
}


@cache
def truth(model: str) -> dict[str, float]:
    """Population values of every measure for ``model``, by integration over the Beta grid."""
    pi = stats.beta.ppf((np.arange(GRID) + 0.5) / GRID, *BETA)
    p = MODELS[model](pi)
    lp = logit(p)
    citl = optimize.brentq(lambda a: np.mean(expit(a + lp)) - pi.mean(), -5, 5, xtol=1e-12)
    with warnings.catch_warnings():  # a fractional response near 0 trips statsmodels' separation check
        warnings.simplefilter("ignore", PerfectSeparationWarning)
        glm = sm.GLM(pi, sm.add_constant(lp), family=sm.families.Binomial()).fit(tol=1e-12)
    order = np.argsort(p)
    w1, w0 = pi[order] / pi.sum(), (1 - pi[order]) / (1 - pi).sum()
    auc = float(np.sum(w1 * (np.cumsum(w0) - w0)))
    odds = THRESHOLD / (1 - THRESHOLD)
    err = np.abs(p - pi)
    return {
        "oe": pi.mean() / p.mean(),
        "citl": citl,
        "slope": float(glm.params[1]),
        "auc": auc,
        "brier": float(np.mean(p**2 - 2 * p * pi + pi)),
        "net_benefit": float(np.mean((p >= THRESHOLD) * (pi - (1 - pi) * odds))),
        "ici": float(err.mean()),
        "e50": float(np.quantile(err, 0.5)),
        "e90": float(np.quantile(err, 0.9)),
    }


@dataclass(frozen=True)
class Coverage:
    """Fraction of samples whose interval contained the true value, per measure and method."""

    rates: dict[str, float]
    samples: int


def _sample(rng: np.random.Generator, model: str, n: int = N) -> tuple[np.ndarray, np.ndarray]:
    pi = rng.beta(*BETA, n)
    return (rng.random(n) < pi).astype(int), MODELS[model](pi)


def _covers(low: float | None, high: float | None, value: float) -> bool:
    return low is not None and high is not None and low <= value <= high


@cache
def coverage(model: str, samples: int = SAMPLES, seed: int = 20260) -> Coverage:
    """Coverage of analytic and ordinary-bootstrap intervals, and of the stratified bootstrap O:E."""
    true = truth(model)
    rng = np.random.default_rng(seed)
    hits: dict[str, int] = {}

    def count(name: str, low: float | None, high: float | None, value: float) -> None:
        hits[name] = hits.get(name, 0) + _covers(low, high, value)

    t = np.array([THRESHOLD])
    for s in range(samples):
        y, p = _sample(rng, model)
        analytic = calibration_metrics(y, p, ci_method="analytic")
        count("oe analytic", analytic.oe_ratio.ci_low, analytic.oe_ratio.ci_high, true["oe"])
        count("citl analytic", analytic.citl.ci_low, analytic.citl.ci_high, true["citl"])
        count("slope analytic", analytic.slope.ci_low, analytic.slope.ci_high, true["slope"])
        auc = roc_auc(y, p).auc
        count("auc analytic", auc.ci_low, auc.ci_high, true["auc"])
        boot = Bootstrap.draw(y, n_boot=N_BOOT, seed=s)
        booted = calibration_metrics(y, p, ci_method="bootstrap", boot=boot)
        count("oe bootstrap", booted.oe_ratio.ci_low, booted.oe_ratio.ci_high, true["oe"])
        count("citl bootstrap", booted.citl.ci_low, booted.citl.ci_high, true["citl"])
        count("slope bootstrap", booted.slope.ci_low, booted.slope.ci_high, true["slope"])
        auc_b = roc_auc(y, p, ci_method="bootstrap", boot=boot).auc
        count("auc bootstrap", auc_b.ci_low, auc_b.ci_high, true["auc"])
        brier = overall_performance(y, p, boot=boot).brier
        count("brier bootstrap", brier.ci_low, brier.ci_high, true["brier"])
        nb = net_benefit_weighted(y, p, np.vstack([np.ones((1, N)), boot.weights]), t)["nb_model"][:, 0]
        nb_est = boot.estimate(nb[0], nb[1:])
        count("net_benefit bootstrap", nb_est.ci_low, nb_est.ci_high, true["net_benefit"])
        strat = Bootstrap.draw(y, n_boot=N_BOOT, seed=s, stratify=True)
        oe = strat.estimate(analytic.oe_ratio.value, oe_weighted(y, p, strat.weights))
        count("oe stratified bootstrap", oe.ci_low, oe.ci_high, true["oe"])
    return Coverage({name: k / samples for name, k in hits.items()}, samples)


@cache
def error_coverage(model: str, samples: int = ICI_SAMPLES, seed: int = 7) -> Coverage:
    """Coverage of the ICI, E50 and E90 intervals of :func:`calibration_curve` (percentile, extended
    to 0 when perfect calibration is not rejected) and of the plain percentile intervals."""
    true = truth(model)
    rng = np.random.default_rng(seed)
    hits: dict[str, int] = {}
    for s in range(samples):
        y, p = _sample(rng, model)
        boot = Bootstrap.draw(y, n_boot=N_BOOT, seed=s)
        curve = calibration_curve(y, p, boot=boot)
        reps = loess_errors_weighted(y, p, boot.weights, n_bins=100)
        for name in ("ici", "e50", "e90"):
            est: Estimate = getattr(curve, name)
            pct = boot.estimate(est.value, reps[name])
            hits[name] = hits.get(name, 0) + _covers(est.ci_low, est.ci_high, true[name])
            hits[f"{name} percentile"] = hits.get(f"{name} percentile", 0) + _covers(
                pct.ci_low, pct.ci_high, true[name]
            )
    return Coverage({name: k / samples for name, k in hits.items()}, samples)


def test_true_values_of_the_calibrated_model_are_the_ideal_ones():
    true = truth("calibrated")
    assert true["oe"] == pytest.approx(1.0, abs=1e-9)
    assert true["citl"] == pytest.approx(0.0, abs=1e-9)
    assert true["slope"] == pytest.approx(1.0, abs=1e-6)
    assert true["ici"] == 0.0
    # Brier of a calibrated model = E pi (1 - pi), from the Beta moments.
    a, b = BETA
    mean, var = a / (a + b), a * b / ((a + b) ** 2 * (a + b + 1))
    assert true["brier"] == pytest.approx(mean - (var + mean**2), rel=1e-4)


def test_true_auc_matches_a_monte_carlo_pairwise_estimate():
    rng = np.random.default_rng(0)
    y, p = _sample(rng, "miscalibrated", 400_000)
    cases, controls = rng.choice(p[y == 1], 200_000), rng.choice(p[y == 0], 200_000)
    assert truth("miscalibrated")["auc"] == pytest.approx(np.mean(cases > controls), abs=0.003)


@pytest.mark.parametrize("model", sorted(MODELS))
def test_analytic_and_ordinary_bootstrap_intervals_cover_in_92_to_98_percent(model):
    rates = coverage(model).rates
    checked = {name: rate for name, rate in rates.items() if "stratified" not in name}
    assert len(checked) == 10
    outside = {name: rate for name, rate in checked.items() if not 0.92 <= rate <= 0.98}
    assert not outside, f"coverage outside 92-98 % for {model}: {outside}"


def test_outcome_stratified_bootstrap_under_covers_the_oe_ratio():
    assert coverage("calibrated").rates["oe stratified bootstrap"] < 0.6


@pytest.mark.parametrize("model", sorted(MODELS))
def test_calibration_error_intervals_cover_calibrated_and_miscalibrated_models(model):
    rates = error_coverage(model).rates
    for name in ("ici", "e50", "e90"):
        assert 0.88 <= rates[name] <= 0.99, rates


def test_plain_percentile_interval_never_covers_perfect_calibration():
    assert error_coverage("calibrated").rates["ici percentile"] == 0.0


def main() -> None:
    """Print the coverage table (markdown) of every measure, method and model."""
    print("| model | measure and interval | coverage | samples |")
    print("|---|---|---:|---:|")
    for model in sorted(MODELS):
        for result in (coverage(model), error_coverage(model)):
            for name, rate in result.rates.items():
                print(f"| {model} | {name} | {rate:.3f} | {result.samples} |")
