"""How flexible the reference regression may be: spline knots from the effective sample size.

An unpenalised regression estimates every candidate parameter from the data, and with too many of
them for the events available it overfits: predictions too extreme, calibration slope well below
1. Harrell's rule of thumb (Regression Modeling Strategies, 2nd ed., section 4.4) is that a
model can reliably estimate about m / 15 parameters, where m is the effective sample size of a
binary outcome, the smaller of the numbers of events and non-events. :func:`spline_budget` spends
that budget on the design of the reference (unpenalised logistic) model:

1. the parameters of the linear design are counted exactly, by building the model's
   preprocessing on the data (one per continuous predictor and per missing indicator, K - 1 per
   categorical with K levels, one per radiomics column, or one rad-score);
2. restricted cubic splines with k knots add k - 2 parameters per continuous predictor; the
   largest k from ``max_knots`` down to 3 whose design fits within m / 15 parameters is used, the
   same for every continuous predictor (no predictor is favoured without prior knowledge);
3. when not even 3 knots fit, the continuous terms are linear.

``rule="riley"`` replaces m / 15 by Riley's criteria (Riley et al., Stat Med 2019;38:1276-96 and
BMJ 2020;368:m441): the most parameters for which the available n gives an expected shrinkage of at
least 0.9 and an optimism in Nagelkerke's R^2 of at most 0.05, with the Cox-Snell R^2 anticipated
from a C-statistic (0.75 by default, the value the Evidence's sample-size section anticipates) at
the observed outcome proportion (:func:`spineoutcome.evaluation.samplesize.max_parameters`). It
uses the whole sample and the expected strength of the model, where m / 15 uses only the smaller
outcome count; for rare outcomes and weak models it is usually the stricter of the two.

The decision uses only the counts of patients and events and the predictors' columns, never their
association with the outcome, so it is made once on the development data (as Harrell prescribes,
before looking at any fit) and then held fixed inside every resampling loop. Radiomics columns
chosen by an in-fold LASSO are counted as the number of candidate columns: a conservative count.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd

from ..dictionary import DataDictionary
from ..evaluation.samplesize import max_parameters as riley_max_parameters
from ..evaluation.samplesize import r2_cs_from_c_statistic
from .families import REGISTRY
from .preprocess import Imputation, build_preprocessor

EVENTS_PER_PARAMETER = 15
"""Harrell's m / 15 (RMS 4.4: 10 to 20 per candidate parameter; 15 is his usual figure)."""
MIN_KNOTS = 3
ANTICIPATED_C = 0.75
"""The C-statistic from which Riley's rule anticipates the model's Cox-Snell R^2 (the Evidence's
sample-size section anticipates the same)."""
BudgetRule = Literal["harrell", "riley", "fixed"]


@dataclass(frozen=True)
class SplineBudget:
    """The degrees-of-freedom decision for the reference regression, as the Evidence records it.

    ``rule``: ``harrell`` (m / 15), ``riley`` (Riley's criteria 1 and 2) or ``fixed``; ``allowance``:
    what the rule allows and its source, as the statement cites it; ``max_parameters``: what the rule allows
    (``anticipated_r2_cox_snell`` is the R^2 Riley's rule assumed, None for m / 15);
    ``knots`` is the number of knots per continuous predictor (None: linear terms);
    ``n_parameters`` the resulting design's parameter count (intercept excluded);
    ``candidates`` each knot choice considered with its parameter count.
    """

    rule: str
    allowance: str
    events: int
    non_events: int
    effective_sample_size: int
    events_per_parameter: float
    max_parameters: int
    anticipated_r2_cox_snell: float | None
    max_knots: int | None
    knots: int | None
    n_parameters: int
    candidates: tuple[dict[str, Any], ...]
    statement: str

    def to_dict(self) -> dict[str, Any]:
        """The budget, its rule and the designs considered, as plain data (for the Evidence)."""
        return asdict(self)


def spline_budget(
    dictionary: DataDictionary,
    predictors: Sequence[str],
    X: pd.DataFrame,
    y: Any,
    *,
    max_knots: int | None,
    rule: BudgetRule = "harrell",
    events_per_parameter: float = EVENTS_PER_PARAMETER,
    imputation: Imputation = "simple",
    radiomics_selection: str = "none",
    anticipated_c: float = ANTICIPATED_C,
) -> SplineBudget:
    """Knots per continuous predictor for the unpenalised reference model (see module docstring).

    ``max_knots`` is the most the pipeline allows (None: linear terms only); ``rule="harrell"``
    allows m / ``events_per_parameter`` parameters, ``rule="riley"`` what Riley's criteria allow for
    a model of C-statistic ``anticipated_c``; ``rule="fixed"`` keeps ``max_knots`` whatever the sample
    size (the m / 15 budget is still computed and reported).
    """
    y_arr = np.asarray(y).astype(int)
    events = int(y_arr.sum())
    non_events = int(y_arr.size - events)
    m = min(events, non_events)
    if rule not in ("harrell", "riley", "fixed"):
        raise ValueError(f"the spline budget rule must be 'harrell', 'riley' or 'fixed', got {rule!r}")
    if events_per_parameter <= 0:
        raise ValueError("events_per_parameter must be positive")
    r2 = None
    if rule == "riley":
        if m == 0:
            raise ValueError("Riley's criteria need both events and non-events")
        prevalence = events / y_arr.size
        r2 = r2_cs_from_c_statistic(anticipated_c, prevalence)
        max_parameters = riley_max_parameters(int(y_arr.size), prevalence=prevalence, r2_cox_snell=r2)
    else:
        max_parameters = math.floor(m / events_per_parameter)
    options = [k for k in range(max_knots, MIN_KNOTS - 1, -1)] if max_knots else []
    radiomics = {"selection": "rad_score"} if radiomics_selection == "rad_score" else None
    counts = {k: _n_parameters(dictionary, predictors, X, k, imputation, radiomics) for k in [*options, None]}
    candidates = tuple({"knots": k, "n_parameters": n, "within_budget": n <= max_parameters} for k, n in counts.items())
    if rule == "fixed":
        knots = max_knots
    else:
        knots = next((k for k in options if counts[k] <= max_parameters), None)
    n_parameters = counts[knots]
    allowance = _allowance(rule, y_arr.size, m, events_per_parameter, max_parameters, anticipated_c, r2)
    return SplineBudget(
        rule=rule,
        allowance=allowance,
        events=events,
        non_events=non_events,
        effective_sample_size=m,
        events_per_parameter=float(events_per_parameter),
        max_parameters=max_parameters,
        anticipated_r2_cox_snell=r2,
        max_knots=max_knots,
        knots=knots,
        n_parameters=n_parameters,
        candidates=candidates,
        statement=_statement(rule, allowance, max_knots, knots, n_parameters, counts[None] > max_parameters),
    )


def _n_parameters(
    dictionary: DataDictionary,
    predictors: Sequence[str],
    X: pd.DataFrame,
    knots: int | None,
    imputation: Imputation,
    radiomics: dict[str, str] | None,
) -> int:
    """Columns of the reference design (reference levels dropped) built on X."""
    pre = build_preprocessor(
        dictionary, predictors, imputation=imputation, spline_knots=knots, drop_first=True, radiomics=radiomics
    )
    return len(pre.fit(X).get_feature_names_out())


def _allowance(
    rule: str, n: int, m: int, epp: float, max_parameters: int, anticipated_c: float, r2: float | None
) -> str:
    """What the rule allows and why, in the words the statement uses."""
    if rule == "riley":
        return (
            f"Riley's criteria (expected shrinkage >= 0.9, optimism in Nagelkerke R^2 <= 0.05; Riley et al., "
            f"BMJ 2020;368:m441) allow {max_parameters} parameters for n = {n} with a Cox-Snell R^2 of "
            f"{r2:.3f} anticipated from a C-statistic of {anticipated_c:g}"
        )
    return (
        f"effective sample size m = {m} (the smaller of events and non-events) allows about "
        f"m / {epp:g} = {max_parameters} parameters (Harrell, Regression Modeling Strategies, 4.4)"
    )


def _statement(
    rule: str,
    budget: str,
    max_knots: int | None,
    knots: int | None,
    n_parameters: int,
    linear_exceeds: bool,
) -> str:
    terms = "linear terms" if knots is None else f"restricted cubic splines with {knots} knots"
    if rule == "fixed":
        return (
            f"Continuous predictors of the reference regression: {terms} as configured ({n_parameters} "
            f"parameters); {budget}." + (" The linear design alone exceeds the budget." if linear_exceeds else "")
        )
    if linear_exceeds:
        return (
            f"Continuous predictors of the reference regression: {terms} ({n_parameters} parameters); {budget}. "
            "Even the linear design exceeds the budget: prefer the penalised regression's estimates."
        )
    allowed = "linear terms only" if max_knots is None else f"at most {max_knots} knots"
    return (
        f"Continuous predictors of the reference regression: {terms} ({n_parameters} parameters), the most "
        f"flexible design ({allowed}) within the budget: {budget}."
    )


COMPLEXITY_ORDER = ("linear regression", "penalised regression", "spline regression", "tree ensemble")
"""The order of simplicity used when choosing among families of equal performance (the one-SE rule):
a linear unpenalised logistic regression, then a penalised linear one, then the spline regression,
then tree ensembles."""


def complexity_rank(family: str, spline_knots: int | None, within_budget: bool = True) -> int:
    """Position of ``family`` in :data:`COMPLEXITY_ORDER`, read from the family registry.

    The reference (unpenalised logistic) family counts as the simple linear model only when its
    budget left it without splines (``spline_knots`` None) and its design fits the budget
    (``within_budget``); an unpenalised design with more parameters than m / 15 is more complex in
    effect than the penalised regression (it overfits; Riley et al., BMJ 2020), so it ranks with the
    spline regression. Flexible learners (tree ensembles) rank last; other families are penalised
    regressions.
    """
    if family not in REGISTRY:
        raise ValueError(f"no complexity rank for model family {family!r}")
    spec = REGISTRY[family]
    if spec.reference:
        return 0 if spline_knots is None and within_budget else 2
    return 3 if spec.flexible else 1
