"""Exact outcome probabilities of the synthetic cohort (``truth.csv``).

``p_<outcome>`` is the probability that the outcome rule, applied to the exported files, gives 1
for that patient, given the patient's whole latent state and adequate follow-up (the visit or
window the rule needs is present). Derivations, all in closed form:

* C5 palsy: the palsy probability ``q``. A palsy always shows as a drop at the always-recorded
  examination inside the rule window, never with worse myelopathy (deteriorations are drawn only
  in patients without a palsy), and nothing else lowers a post-operative MMT without a
  worse-myelopathy flag.
* Complications within the window, over a set of types S: ``1 - prod_k (1 - q_k')`` with
  ``q_k' = q_k (1 - q_x)`` when type k is drawn only without type x and x is not in S.
* Progression: OPLL grows ``g(t) = rint(rate * t / 365.25 / grid)`` grid steps in progressors
  (probability ``pi``), none otherwise; each CT adds an independent rounded-normal error in grid
  steps, so measured growth is ``g(t) + D`` with D the difference of two such errors (exact pmf
  by convolution). The CT day has the exact pmf of its rounded-normal offset, restricted to the
  rule window. ``p = pi * sum_t w(t) [1 - F_T(m - g_T(t) - 1) F_L(m - g_L(t) - 1)] + (1 - pi) [...]``.
* PROM rules: follow-up = ``round(clip(pre + delta))``, ``delta ~ N(mu, sd)``; reaching an integer
  improvement k is ``delta >= k - 1/2`` (higher is better) or ``delta <= -(k - 1/2)``, impossible
  when ``pre +/- k`` leaves the range (ceiling/floor effects); a recovery-rate rule needs
  ``k = ceil(rate * room / 100)`` and is undefined (nan) when the baseline is at the maximum.
"""

from __future__ import annotations

import numpy as np
from scipy.special import ndtr

from spineoutcome.data.synth_config import TRUE_PREFIX, PromRule
from spineoutcome.data.synth_followup import (
    Frame,
    Growth,
    complication_probabilities,
    growth_parameters,
    growth_steps,
    prom_change_mean,
)
from spineoutcome.data.synth_model import CohortModel, PatientBlock, grid_limit, rounded_normal_pmf
from spineoutcome.dictionary import prom_column

PROBABILITY_PREFIX = "p_"


def truth(model: CohortModel, block: PatientBlock) -> Frame:
    """The truth table of one block: key, p_<outcome>, latent parameters and true imaging values."""
    config, rules = model.config, model.config.rules
    frame: Frame = {model.dictionary.key: np.arange(block.n)}
    frame.update(_complication_truth(model, block))
    growth = growth_parameters(model, block)
    frame[PROBABILITY_PREFIX + rules.progression_outcome] = progression_probability(model, growth)
    for rule in rules.proms:
        frame[PROBABILITY_PREFIX + rule.outcome] = prom_probability(model, block, rule)
    eligible = growth.eligible
    frame["progressor_probability"] = np.where(eligible, growth.progressor_probability, np.nan)
    frame["thickness_rate_mm_per_year"] = np.where(eligible, growth.thickness_rate, np.nan)
    frame["length_rate_mm_per_year"] = np.where(eligible, growth.length_rate, np.nan)
    for rule in rules.proms:
        frame[f"mean_change_{rule.instrument}_{rule.timepoint}"] = prom_change_mean(
            model, block, rule.instrument, rule.timepoint
        )
    for node in config.nodes:
        if node.name.startswith(TRUE_PREFIX) or node.truth:
            frame[node.name] = block.state[node.name]
    return frame


def _complication_truth(model: CohortModel, block: PatientBlock) -> Frame:
    config, rules = model.config, model.config.rules
    q = complication_probabilities(model, block)
    types = [c.name for c in config.complications]
    frame: Frame = {PROBABILITY_PREFIX + "c5_palsy": q[:, types.index(config.neuro.palsy_complication)]}
    for outcome in rules.complication_windows:
        selected = rules.complication_types[outcome] or tuple(types)
        none = np.ones(block.n)
        for name in selected:
            comp = config.complications[types.index(name)]
            qk = q[:, types.index(name)]
            if comp.exclusive_with and comp.exclusive_with not in selected:
                qk = qk * (1.0 - q[:, types.index(comp.exclusive_with)])
            none = none * (1.0 - qk)
        frame[PROBABILITY_PREFIX + outcome] = 1.0 - none
    return frame


def _difference_cdf(sd: float, grid: float, truncate_sd: float) -> tuple[int, np.ndarray]:
    """Lowest value and CDF of the difference of two independent grid errors."""
    limit = grid_limit(sd, grid, truncate_sd)
    _, pmf = rounded_normal_pmf(sd / grid, limit)
    return -2 * limit, np.cumsum(np.convolve(pmf, pmf))


def _below(threshold: np.ndarray, low: int, cdf: np.ndarray) -> np.ndarray:
    """P(D < threshold) for integer thresholds."""
    index = threshold - 1 - low
    return np.where(index < 0, 0.0, cdf[np.clip(index, 0, len(cdf) - 1)])


def progression_probability(model: CohortModel, growth: Growth) -> np.ndarray:
    """P(growth >= the rule's minimum in any measure at the target CT | CT inside the window)."""
    ct, rules = model.config.ct, model.config.rules
    visit = next(v for v in ct.visits if v.day == rules.progression_target_day)
    offsets, pmf = rounded_normal_pmf(visit.sd, visit.max_offset)
    inside = np.abs(offsets) <= rules.progression_window_days
    days, weights = visit.day + offsets[inside], pmf[inside] / pmf[inside].sum()
    need = round(rules.progression_min_growth_mm / ct.grid_mm)
    sds = {"thickness": ct.thickness_sd_mm, "length": ct.length_sd_mm}
    rates = {"thickness": growth.thickness_rate, "length": growth.length_rate}
    stay_progressor = np.ones((len(growth.eligible), len(days)))
    stay_other = np.ones(1)
    for measure in rules.progression_measures:
        low, cdf = _difference_cdf(sds[measure], ct.grid_mm, ct.truncate_sd)
        grown = growth_steps(rates[measure][:, None], days[None, :], ct.grid_mm)
        stay_progressor = stay_progressor * _below(need - grown, low, cdf)
        stay_other = stay_other * _below(np.array(need), low, cdf)
    progressed = (1.0 - stay_progressor) @ weights
    pi = growth.progressor_probability
    return np.where(growth.eligible, pi * progressed + (1.0 - pi) * (1.0 - stay_other), np.nan)


def prom_probability(model: CohortModel, block: PatientBlock, rule: PromRule) -> np.ndarray:
    """P(the PROM rule holds at the rule's time point), from the normal change model."""
    dictionary = model.dictionary
    inst = dictionary.instruments[rule.instrument]
    baseline = next(tp for tp in dictionary.timepoints.values() if tp.preoperative)
    pre = block.state[prom_column(inst.code, baseline.code)]
    mu = prom_change_mean(model, block, inst.code, rule.timepoint)
    sd = model.config.proms.change[inst.code].sd
    room = (inst.range[1] - pre) if inst.higher_is_better else (pre - inst.range[0])
    if rule.min_improvement is not None:
        need = np.full(block.n, np.ceil(rule.min_improvement - 1e-9))
        defined = np.ones(block.n, bool)
    else:
        assert rule.min_recovery_rate is not None
        need = np.ceil(rule.min_recovery_rate * room / 100.0 - 1e-9)
        defined = room > 0
    direction = 1.0 if inst.higher_is_better else -1.0
    reach = ndtr((direction * mu - (need - 0.5)) / sd)
    p = np.where(need <= room, reach, 0.0)
    return np.where(defined, p, np.nan)
