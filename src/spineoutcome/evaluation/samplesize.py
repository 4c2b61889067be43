"""Sample size for developing and for externally validating a binary-outcome prediction model.

Development (Riley et al., Stat Med 2019; 38:1276-96 and BMJ 2020; 368:m441), for p candidate
parameters, outcome proportion phi and anticipated Cox-Snell R^2 (R2):

    criterion 1 (expected shrinkage S >= 0.9):   n = p / ((S - 1) ln(1 - R2 / S))
    criterion 2 (optimism in Nagelkerke R^2 <= delta = 0.05):
        max R2 = 1 - exp(2 (phi ln phi + (1 - phi) ln(1 - phi))),
        S2 = R2 / (R2 + delta max R2),  n = p / ((S2 - 1) ln(1 - R2 / S2))
    criterion 3 (overall risk within +/- 0.05):  n = (z / 0.05)^2 phi (1 - phi)

and the required n is the largest. R2 may be given, derived from a Nagelkerke R^2
(R2 = R2_N max R2), or derived from an anticipated C-statistic (Riley, Van Calster & Collins,
Stat Med 2021; 40:859-64): with events' linear predictor N(mu, 1), non-events' N(0, 1) and
mu = sqrt(2) Phi^-1(C), R2 is the Cox-Snell R^2 of the logistic model of outcome on that linear
predictor. pmsampsize obtains it by fitting a logistic regression to one simulated sample of
1,000,000 patients (``method="simulation"`` here reproduces that); because the logistic model is
exactly right for two equal-variance normals, ``method="quadrature"`` (default) computes the same
quantity's large-sample value by numerical integration, without Monte Carlo error.

Note on rounding: pmsampsize (>= 1.1.1) rounds max R2 to 2 and S2 to 3 decimals, so for Riley's
worked example (R2 0.288, 24 parameters, phi 0.174) it reports 668 for criterion 2 where the
unrounded formulas of the BMJ paper give 662; this module does not round.

External validation (Riley et al., Stat Med 2021; 40:4230-51), for target interval widths:

    O:E      SE(ln O:E) = sqrt((1 - phi) / (n phi)), with SE solved exactly from the width of
             exp(ln O:E +/- z SE) (pmvalsampsize searches SE on a 0.0001 grid and can be 1 lower)
    slope    Var(slope) = I00 / (n (I00 I11 - I01^2)), I_ab = E[LP^(a+b) mu (1 - mu)],
             mu = expit(a0 + b0 LP) under the anticipated calibration (default a0 = 0, b0 = 1)
    C        SE(C) = sqrt(C (1 - C) (1 + (n/2 - 1)(1 - C)/(2 - C) + (n/2 - 1) C/(1 + C))
                          / (n^2 phi (1 - phi)))            (Newcombe, Stat Med 2006)
    sNB      Var(sNB) = (1/n) [Se(1 - Se)/phi + w^2 Sp(1 - Sp)/(1 - phi)
                               + w^2 (1 - Sp)^2/(phi (1 - phi))],  w = (1 - phi)/phi pt/(1 - pt)

The linear predictor (LP) distribution is normal (``lp_mean``, ``lp_sd``; expectations by
numerical integration) or an empirical sample ``lp_sample`` (expectations as sample means).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
from scipy import integrate, optimize, stats
from scipy.special import expit

from ._logistic import fit_logistic
from ._validation import check_level, critical_value
from .results import JsonResult


@dataclass(frozen=True)
class DevelopmentSampleSize(JsonResult):
    """Minimum development sample size by Riley's three criteria (binary outcome)."""

    n: int
    n_criterion_1: int
    n_criterion_2: int
    n_criterion_3: int
    events: float
    epp: float
    shrinkage_target: float
    shrinkage_criterion_2: float
    expected_shrinkage: float
    r2_cox_snell: float
    r2_cox_snell_max: float
    r2_nagelkerke: float
    r2_source: str
    n_parameters: int
    prevalence: float


@dataclass(frozen=True)
class DevelopmentAdequacy(JsonResult):
    """What an available development sample of size n delivers: events per parameter (EPP),
    expected (van Houwelingen) shrinkage, expected optimism in Nagelkerke R^2, and the margin of
    error of the overall risk."""

    n: int
    events: float
    epp: float
    expected_shrinkage: float
    nagelkerke_optimism: float
    overall_risk_margin: float
    meets_criteria: bool


@dataclass(frozen=True)
class ValidationSampleSize(JsonResult):
    """Minimum external-validation sample size (Riley et al. 2021); ``n_net_benefit`` is None
    when no threshold was given."""

    n: int
    n_oe: int
    n_slope: int
    n_c_statistic: int
    n_net_benefit: int | None
    events: float
    se_ln_oe: float
    se_slope: float
    se_c_statistic: float
    se_standardized_nb: float | None
    sensitivity: float | None
    specificity: float | None
    prevalence: float


def r2_cs_max(prevalence: float) -> float:
    """Largest possible Cox-Snell R^2 for an outcome proportion: 1 - exp(2 lnL_null / n)."""
    _check_prevalence(prevalence)
    return 1.0 - math.exp(2.0 * _null_loglik(prevalence))


def r2_cs_from_c_statistic(
    c_statistic: float,
    prevalence: float,
    *,
    method: Literal["quadrature", "simulation"] = "quadrature",
    n_sim: int = 1_000_000,
    seed: int = 123456,
) -> float:
    """Anticipated Cox-Snell R^2 from a C-statistic (Riley, Van Calster & Collins 2021).

    ``quadrature``: large-sample value by numerical integration over the two normal LP
    distributions. ``simulation``: pmsampsize's approach, one simulated sample of ``n_sim``
    patients (round(prevalence * n_sim) events) with a logistic fit (seeded numpy Generator,
    so the draws differ from R's).
    """
    _check_prevalence(prevalence)
    if not 0.5 < c_statistic < 1.0:
        raise ValueError("c_statistic must lie in (0.5, 1)")
    mu = math.sqrt(2.0) * stats.norm.ppf(c_statistic)
    phi = prevalence
    if method == "quadrature":
        base = math.log(phi / (1.0 - phi)) - mu * mu / 2.0

        def log_posterior(x: float, event: bool) -> float:
            eta = base + mu * x
            return -float(np.logaddexp(0.0, -eta)) if event else -float(np.logaddexp(0.0, eta))

        e_events = integrate.quad(lambda x: log_posterior(x, True) * stats.norm.pdf(x, mu, 1.0), -np.inf, np.inf)[0]
        e_non = integrate.quad(lambda x: log_posterior(x, False) * stats.norm.pdf(x), -np.inf, np.inf)[0]
        lr_per_patient = 2.0 * (phi * e_events + (1.0 - phi) * e_non - _null_loglik(phi))
    elif method == "simulation":
        rng = np.random.default_rng(seed)
        n_events = int(round(phi * n_sim))
        lp = np.r_[rng.normal(mu, 1.0, n_events), rng.normal(0.0, 1.0, n_sim - n_events)]
        y = np.r_[np.ones(n_events), np.zeros(n_sim - n_events)]
        X = np.column_stack([np.ones(n_sim), lp])
        eta = X @ fit_logistic(X, y, np.ones((1, n_sim))).beta[0]
        loglik = float(np.sum(y * eta - np.logaddexp(0.0, eta))) / n_sim
        lr_per_patient = 2.0 * (loglik - _null_loglik(n_events / n_sim))
    else:
        raise ValueError("method must be 'quadrature' or 'simulation'")
    return float(1.0 - math.exp(-lr_per_patient))


def development_sample_size(
    *,
    n_parameters: int,
    prevalence: float,
    r2_cox_snell: float | None = None,
    r2_nagelkerke: float | None = None,
    c_statistic: float | None = None,
    shrinkage: float = 0.9,
    delta_r2: float = 0.05,
    margin: float = 0.05,
    level: float = 0.95,
) -> DevelopmentSampleSize:
    """Minimum sample size to develop a logistic prediction model (Riley et al. 2019/2020).

    Give exactly one of ``r2_cox_snell``, ``r2_nagelkerke`` or ``c_statistic`` (converted by
    :func:`r2_cs_from_c_statistic`, quadrature). Riley's worked example (R2 0.288, 24
    parameters, prevalence 0.174) gives 623, 662 and 221, so n = 662.
    """
    _check_prevalence(prevalence)
    check_level(level)
    if n_parameters < 1:
        raise ValueError("n_parameters must be at least 1")
    r2, source = _anticipated_r2(prevalence, r2_cox_snell, r2_nagelkerke, c_statistic)
    max_r2 = r2_cs_max(prevalence)
    if not 0.0 < r2 < min(shrinkage, max_r2):
        raise ValueError("the anticipated Cox-Snell R^2 must lie in (0, min(shrinkage, max R^2))")
    z = critical_value(level)
    s2 = r2 / (r2 + delta_r2 * max_r2)
    n1 = math.ceil(_shrinkage_n(n_parameters, r2, shrinkage))
    n2 = math.ceil(_shrinkage_n(n_parameters, r2, s2))
    n3 = math.ceil((z / margin) ** 2 * prevalence * (1.0 - prevalence))
    n = max(n1, n2, n3)
    return DevelopmentSampleSize(
        n=n,
        n_criterion_1=n1,
        n_criterion_2=n2,
        n_criterion_3=n3,
        events=n * prevalence,
        epp=n * prevalence / n_parameters,
        shrinkage_target=shrinkage,
        shrinkage_criterion_2=float(s2),
        expected_shrinkage=expected_shrinkage(n, n_parameters=n_parameters, r2_cox_snell=r2),
        r2_cox_snell=float(r2),
        r2_cox_snell_max=float(max_r2),
        r2_nagelkerke=float(r2 / max_r2),
        r2_source=source,
        n_parameters=n_parameters,
        prevalence=prevalence,
    )


def max_parameters(
    n: int,
    *,
    prevalence: float,
    r2_cox_snell: float,
    shrinkage: float = 0.9,
    delta_r2: float = 0.05,
) -> int:
    """The most candidate parameters that n patients support by Riley's criteria 1 and 2: the
    largest p with n >= p / ((S - 1) ln(1 - R2 / S)) for S = ``shrinkage`` and for S2 (criterion 2),
    i.e. :func:`development_sample_size` solved for p (its n for p parameters, at most n). Criterion 3
    (the overall risk) does not depend on p. Riley's worked example (R2 0.288, prevalence 0.174):
    662 patients support 24 parameters, 661 only 23."""
    _check_prevalence(prevalence)
    if n < 1:
        raise ValueError("n must be at least 1")
    max_r2 = r2_cs_max(prevalence)
    r2 = r2_cox_snell
    if not 0.0 < r2 < min(shrinkage, max_r2):
        raise ValueError("the anticipated Cox-Snell R^2 must lie in (0, min(shrinkage, max R^2))")
    s2 = r2 / (r2 + delta_r2 * max_r2)
    per_patient = min((s - 1.0) * math.log(1.0 - r2 / s) for s in (shrinkage, s2))
    return max(0, math.floor(n * per_patient))


def expected_shrinkage(n: int, *, n_parameters: int, r2_cox_snell: float) -> float:
    """Expected shrinkage S at sample size n: the root of (S - 1) ln(1 - R2 / S) = p / n
    (Riley et al. 2019, criterion 1 solved for S)."""
    if n < 1:
        raise ValueError("n must be at least 1")
    r2 = r2_cox_snell
    target = n_parameters / n

    def f(s: float) -> float:
        return (s - 1.0) * math.log(1.0 - r2 / s) - target

    low = r2 * (1.0 + 1e-12) + 1e-300
    high = 1.0 - 1e-15
    if f(high) >= 0:
        return high
    return float(optimize.brentq(f, low, high, xtol=1e-14))


def development_adequacy(
    n: int,
    *,
    n_parameters: int,
    prevalence: float,
    r2_cox_snell: float,
    shrinkage: float = 0.9,
    delta_r2: float = 0.05,
    margin: float = 0.05,
    level: float = 0.95,
) -> DevelopmentAdequacy:
    """Events per parameter, expected shrinkage, expected Nagelkerke optimism
    (R2 / S - R2) / max R2, and overall-risk margin z sqrt(phi (1 - phi) / n) for an available
    n; ``meets_criteria`` says whether all three of Riley's criteria hold."""
    _check_prevalence(prevalence)
    s = expected_shrinkage(n, n_parameters=n_parameters, r2_cox_snell=r2_cox_snell)
    max_r2 = r2_cs_max(prevalence)
    optimism = (r2_cox_snell / s - r2_cox_snell) / max_r2
    risk_margin = critical_value(level) * math.sqrt(prevalence * (1 - prevalence) / n)
    return DevelopmentAdequacy(
        n=n,
        events=n * prevalence,
        epp=n * prevalence / n_parameters,
        expected_shrinkage=s,
        nagelkerke_optimism=float(optimism),
        overall_risk_margin=float(risk_margin),
        meets_criteria=bool(s >= shrinkage and optimism <= delta_r2 and risk_margin <= margin),
    )


def validation_sample_size(
    *,
    prevalence: float,
    c_statistic: float,
    lp_mean: float | None = None,
    lp_sd: float | None = None,
    lp_sample: Any = None,
    oe: float = 1.0,
    oe_ci_width: float = 0.2,
    calibration_intercept: float = 0.0,
    calibration_slope: float = 1.0,
    slope_ci_width: float = 0.2,
    c_ci_width: float = 0.1,
    threshold: float | None = None,
    sensitivity: float | None = None,
    specificity: float | None = None,
    nb_ci_width: float = 0.2,
    level: float = 0.95,
) -> ValidationSampleSize:
    """Minimum sample size for external validation (Riley et al., Stat Med 2021).

    The LP distribution is N(``lp_mean``, ``lp_sd``) or the empirical ``lp_sample``. With
    ``threshold``, the standardized-net-benefit criterion is added; sensitivity and specificity
    are taken as given or derived from the LP distribution assuming risks expit(LP) (as
    pmvalsampsize does). Interval widths are full widths (upper minus lower).
    """
    _check_prevalence(prevalence)
    check_level(level)
    z = critical_value(level)
    phi = prevalence
    expect = _lp_expectation(lp_mean, lp_sd, lp_sample)

    se_oe = math.asinh(oe_ci_width / (2.0 * oe)) / z
    n_oe = math.ceil((1.0 - phi) / (phi * se_oe**2))

    def info(power: int) -> float:
        def integrand(x: np.ndarray) -> np.ndarray:
            mu = expit(calibration_intercept + calibration_slope * x)
            return x**power * mu * (1.0 - mu)

        return expect(integrand)

    i00, i01, i11 = info(0), info(1), info(2)
    se_slope = slope_ci_width / (2.0 * z)
    n_slope = math.ceil(i00 / (se_slope**2 * (i00 * i11 - i01**2)))

    if not 0.5 < c_statistic < 1.0:
        raise ValueError("c_statistic must lie in (0.5, 1)")
    c = c_statistic
    se_c = c_ci_width / (2.0 * z)
    a_term = (1.0 - c) / (2.0 - c)
    b_term = c / (1.0 + c)
    qa = se_c**2 * phi * (1.0 - phi)
    qb = -c * (1.0 - c) * (a_term + b_term) / 2.0
    qc = -c * (1.0 - c) * (1.0 - a_term - b_term)
    n_c = math.ceil((-qb + math.sqrt(qb * qb - 4.0 * qa * qc)) / (2.0 * qa))

    n_nb = se_nb = None
    if threshold is not None:
        if not 0.0 < threshold < 1.0:
            raise ValueError("threshold must lie in (0, 1)")
        if sensitivity is None or specificity is None:
            cut = math.log(threshold / (1.0 - threshold))
            mean_risk = expect(expit)
            sensitivity = expect(lambda x: expit(x) * (x >= cut), (cut,)) / mean_risk
            specificity = expect(lambda x: (1.0 - expit(x)) * (x < cut), (cut,)) / (1 - mean_risk)
        w = (1.0 - phi) / phi * threshold / (1.0 - threshold)
        se_nb = nb_ci_width / (2.0 * z)
        var_unit = (
            sensitivity * (1 - sensitivity) / phi
            + w * w * specificity * (1 - specificity) / (1 - phi)
            + w * w * (1 - specificity) ** 2 / (phi * (1 - phi))
        )
        n_nb = math.ceil(var_unit / se_nb**2)
    n = max(n_oe, n_slope, n_c, n_nb or 0)
    return ValidationSampleSize(
        n=n,
        n_oe=n_oe,
        n_slope=n_slope,
        n_c_statistic=n_c,
        n_net_benefit=n_nb,
        events=n * phi,
        se_ln_oe=float(se_oe),
        se_slope=float(se_slope),
        se_c_statistic=float(se_c),
        se_standardized_nb=se_nb,
        sensitivity=None if sensitivity is None else float(sensitivity),
        specificity=None if specificity is None else float(specificity),
        prevalence=phi,
    )


def _lp_expectation(lp_mean: float | None, lp_sd: float | None, lp_sample: Any) -> Callable[..., float]:
    """E[f(LP)] under a normal LP (adaptive quadrature split at the mean, +/- 4 and 12 SD and
    at any ``breaks`` where f jumps) or a sample mean."""
    if lp_sample is not None:
        if lp_mean is not None or lp_sd is not None:
            raise ValueError("give either lp_mean/lp_sd or lp_sample, not both")
        sample = np.asarray(lp_sample, dtype=float)
        if sample.ndim != 1 or sample.size < 2 or not np.all(np.isfinite(sample)):
            raise ValueError("lp_sample must be a 1-D array of at least 2 finite values")

        def sample_mean(f: Callable[[np.ndarray], np.ndarray], breaks: tuple[float, ...] = ()) -> float:
            return float(np.mean(f(sample)))

        return sample_mean
    if lp_mean is None or lp_sd is None or lp_sd <= 0:
        raise ValueError("give lp_mean and a positive lp_sd, or lp_sample")

    def expectation(f: Callable[[np.ndarray], np.ndarray], breaks: tuple[float, ...] = ()) -> float:
        def integrand(x: float) -> float:
            return float(f(np.asarray(x))) * stats.norm.pdf(x, lp_mean, lp_sd)

        ends = [lp_mean + k * lp_sd for k in (-12.0, -4.0, 0.0, 4.0, 12.0)]
        points = sorted(set(ends) | {b for b in breaks if ends[0] < b < ends[-1]})
        total = 0.0
        for lo, hi in zip(points[:-1], points[1:], strict=True):
            total += integrate.quad(integrand, lo, hi, limit=200)[0]
        return total

    return expectation


def _anticipated_r2(
    prevalence: float,
    r2_cox_snell: float | None,
    r2_nagelkerke: float | None,
    c_statistic: float | None,
) -> tuple[float, str]:
    given = [v is not None for v in (r2_cox_snell, r2_nagelkerke, c_statistic)]
    if sum(given) != 1:
        raise ValueError("give exactly one of r2_cox_snell, r2_nagelkerke, c_statistic")
    if r2_cox_snell is not None:
        return float(r2_cox_snell), "cox_snell"
    if r2_nagelkerke is not None:
        return float(r2_nagelkerke) * r2_cs_max(prevalence), "nagelkerke"
    return r2_cs_from_c_statistic(float(c_statistic), prevalence), "c_statistic"


def _shrinkage_n(n_parameters: int, r2: float, shrinkage: float) -> float:
    return n_parameters / ((shrinkage - 1.0) * math.log(1.0 - r2 / shrinkage))


def _null_loglik(phi: float) -> float:
    """Log-likelihood per patient of the intercept-only model: phi ln phi + (1-phi) ln(1-phi)."""
    return phi * math.log(phi) + (1.0 - phi) * math.log(1.0 - phi)


def _check_prevalence(prevalence: float) -> None:
    if not 0.0 < prevalence < 1.0:
        raise ValueError("prevalence must lie in (0, 1)")
