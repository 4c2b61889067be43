"""Raw post-operative data of the synthetic cohort, from which the outcome rules derive labels.

Four long tables, each a ``Frame`` (dictionary column name -> array, the key column holding the
patient's index within the block):

* PROMs: totals (items at item-level centres) at baseline and at nominal follow-up days with a
  jittered actual day, some visits outside the rule window, MAR-missing visits;
* complications: one row per event with type, Clavien-Dindo grade and onset day (some late);
* neurological examinations: deltoid/biceps MMT per side at scheduled days, with C5 palsies
  (a drop without worse myelopathy) and deteriorations (worse myelopathy, sometimes with a drop);
* CT follow-up: OPLL thickness and length on a 0.1 mm grid at the pre-operative CT and later
  visits, growing linearly in progressors.

A visit is recorded only if its whole possible day range lies before the end of contact
(``last_followup_day``), so recorded days never depend on the censoring time. Each function also
returns the generator's own labels (``nan`` = no adequate follow-up) for the summary.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.special import expit

from spineoutcome.data.synth_config import PromVisit
from spineoutcome.data.synth_model import CohortModel, PatientBlock, grid_limit, rounded_normal
from spineoutcome.dictionary import Instrument, prom_column

Frame = dict[str, np.ndarray]
Labels = dict[str, np.ndarray]
MUSCLES = ("deltoid", "biceps")  # neuro_exam roles; C5 palsy weakens the deltoid first


# --------------------------------------------------------------------------------------------- PROMs


def prom_change_mean(model: CohortModel, block: PatientBlock, instrument: str, timepoint: str) -> np.ndarray:
    """Expected change from baseline of ``instrument`` at ``timepoint`` (before rounding and clipping)."""
    spec = model.config.proms
    return spec.time_factor[timepoint] * spec.change[instrument].mean(block.state, block.n).astype(np.float64)


def _visit_days(rng: np.random.Generator, visit: PromVisit, nominal: int, n: int) -> np.ndarray:
    """Actual visit day: uniform in a preset range (baseline), or nominal + a rounded-normal offset,
    with a share of outliers drawn uniformly from the offset ranges outside the rule window."""
    if visit.days is not None:
        return rng.integers(visit.days[0], visit.days[1] + 1, n)
    offset = rounded_normal(rng, n, visit.sd, visit.max_offset)
    outlier = rng.random(n) < visit.outlier_rate
    ranges = np.array(visit.outlier_offsets or [(0, 0)])
    widths = ranges[:, 1] - ranges[:, 0] + 1
    pick = np.searchsorted(np.cumsum(widths), rng.random(n) * widths.sum(), side="right").clip(0, len(ranges) - 1)
    far = ranges[pick, 0] + np.floor(rng.random(n) * widths[pick]).astype(np.int64)
    return nominal + np.where(outlier, far, offset)


def _allocate(rng: np.random.Generator, totals: np.ndarray, instrument: Instrument) -> np.ndarray:
    """Split integer totals into item scores: a uniformly random placement of the points among the items."""
    lows = np.array([lo for lo, _ in instrument.items.values()], dtype=np.int64)
    capacity = np.array([hi - lo for lo, hi in instrument.items.values()], dtype=np.int64)
    labels = np.repeat(np.arange(len(capacity)), capacity)
    order = np.argsort(rng.random((len(totals), len(labels))), axis=1)
    taken = np.arange(len(labels)) < (totals.astype(np.int64) - lows.sum())[:, None]
    placed = labels[order]
    counts = np.stack([((placed == j) & taken).sum(axis=1) for j in range(len(capacity))], axis=1)
    return counts + lows


@dataclass
class _Scores:
    """Visit days per time point; per (instrument, time point) the score and whether it was recorded;
    the export slots (time point, instrument, item or '', values, recorded) in patient-major order."""

    days: dict[str, np.ndarray]
    values: dict[tuple[str, str], np.ndarray]
    recorded: dict[tuple[str, str], np.ndarray]
    slots: list[tuple[str, str, str, np.ndarray, np.ndarray]]


def _prom_visits(model: CohortModel, block: PatientBlock) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Actual day and presence of every time point's visit (MAR missingness, end of contact)."""
    spec, n = model.config.proms, block.n
    contact = block.state[model.dictionary.column("last_followup")]
    missing_lp = model.predictor("proms.missing", spec.missing, block)
    days, present = {}, {}
    for tp in model.dictionary.timepoints.values():
        visit = spec.visits[tp.code]
        rng = block.rng(f"proms:visit:{tp.code}")
        days[tp.code] = _visit_days(rng, visit, tp.day, n)
        last_day = visit.days[1] if visit.days is not None else tp.day + visit.offset_range()[1]
        present[tp.code] = (last_day <= contact) & (rng.random(n) >= expit(missing_lp + visit.missing_intercept))
    return days, present


def _prom_scores(model: CohortModel, block: PatientBlock) -> _Scores:
    """Scores at every visit: baseline nodes, then round(clip(baseline + correlated normal change))."""
    dictionary, spec, n = model.dictionary, model.config.proms, block.n
    centre = block.state[model.centre_column]
    days, present = _prom_visits(model, block)
    baseline = next(tp for tp in dictionary.timepoints.values() if tp.preoperative)
    a = np.sqrt(spec.correlation_between_instruments)
    b = np.sqrt(spec.correlation_between_timepoints - spec.correlation_between_instruments)
    c = np.sqrt(1.0 - spec.correlation_between_timepoints)
    shared = block.rng("proms:shared").standard_normal(n)
    scores = _Scores(days, {}, {}, [])
    for inst in dictionary.instruments.values():
        change = spec.change[inst.code]
        sign = 1.0 if inst.higher_is_better else -1.0
        persistent = block.rng(f"proms:{inst.code}").standard_normal(n)
        pre = block.state[prom_column(inst.code, baseline.code)]
        skipped = np.isin(centre, [code for code, codes in spec.not_collected.items() if inst.code in codes])
        itemised = np.isin(centre, spec.item_level_centres) & bool(inst.items) & (inst.item_scoring == "sum")
        for tp in dictionary.timepoints.values():
            rng = block.rng(f"proms:{inst.code}:{tp.code}")
            if tp.preoperative:
                value = block.state[prom_column(inst.code, tp.code)]
            else:
                noise = a * shared + b * persistent + c * rng.standard_normal(n)
                delta = prom_change_mean(model, block, inst.code, tp.code) + change.sd * sign * noise
                value = np.round(np.clip(pre + delta, *inst.range), change.decimals) + 0.0
            ok = present[tp.code] & ~skipped & (rng.random(n) >= spec.instrument_missing)
            scores.values[(inst.code, tp.code)], scores.recorded[(inst.code, tp.code)] = value, ok
            scores.slots.append((tp.code, inst.code, "", value, ok & ~itemised))
            if itemised.any():
                items = _allocate(rng, value, inst)
                for j, item in enumerate(inst.items):
                    scores.slots.append((tp.code, inst.code, item, items[:, j].astype(np.float64), ok & itemised))
    return scores


def _prom_frame(model: CohortModel, scores: _Scores, n: int) -> Frame:
    """Long format, patient-major: one row per recorded total or item."""
    table = model.dictionary.table("proms")
    mask = np.stack([slot[4] for slot in scores.slots], axis=1)
    timepoint = [slot[0] for slot in scores.slots]
    return {
        table.column("key"): np.broadcast_to(np.arange(n)[:, None], mask.shape)[mask],
        table.column("instrument"): np.broadcast_to(np.array([slot[1] for slot in scores.slots]), mask.shape)[mask],
        table.column("timepoint"): np.broadcast_to(np.array(timepoint), mask.shape)[mask],
        table.column("day"): np.stack([scores.days[tp] for tp in timepoint], axis=1)[mask],
        table.column("item"): np.broadcast_to(np.array([slot[2] for slot in scores.slots]), mask.shape)[mask],
        table.column("value"): np.stack([slot[3] for slot in scores.slots], axis=1)[mask],
    }


def proms(model: CohortModel, block: PatientBlock) -> tuple[Frame, Labels]:
    """The long PROM table and the PROM-rule labels."""
    dictionary = model.dictionary
    scores = _prom_scores(model, block)
    baseline = next(tp.code for tp in dictionary.timepoints.values() if tp.preoperative)
    labels = {}
    for rule in model.config.rules.proms:
        inst = dictionary.instruments[rule.instrument]
        before, after = (inst.code, baseline), (inst.code, rule.timepoint)
        on_time = np.abs(scores.days[rule.timepoint] - dictionary.timepoints[rule.timepoint].day) <= rule.window_days
        adequate = scores.recorded[before] & scores.recorded[after] & on_time
        hit, defined = prom_rule(
            rule.min_improvement, rule.min_recovery_rate, inst, scores.values[before], scores.values[after]
        )
        labels[rule.outcome] = np.where(adequate & defined, hit, np.nan)
    return _prom_frame(model, scores, block.n), labels


def prom_rule(
    min_improvement: float | None, min_recovery_rate: float | None, inst: Instrument, pre: np.ndarray, post: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """The generator's own PROM rule: (label, defined) from integer baseline and follow-up scores."""
    improvement = (post - pre) if inst.higher_is_better else (pre - post)
    if min_improvement is not None:
        return (improvement >= min_improvement).astype(np.float64), np.ones(len(pre), bool)
    room = (inst.range[1] - pre) if inst.higher_is_better else (pre - inst.range[0])
    defined = room > 0
    rate = 100.0 * improvement / np.where(defined, room, 1.0)
    return (rate >= min_recovery_rate).astype(np.float64), defined


# ------------------------------------------------------------------------------------ complications


@dataclass
class Events:
    """Complication events of a block: per type (columns, parameter-file order) early and late events."""

    types: tuple[str, ...]
    early: np.ndarray
    early_day: np.ndarray
    late: np.ndarray
    late_day: np.ndarray
    grade: np.ndarray

    def column(self, name: str) -> int:
        return self.types.index(name)


def complication_probabilities(model: CohortModel, block: PatientBlock) -> np.ndarray:
    """Per patient and type, the probability of the early-event draw (before ``exclusive_with``)."""
    return np.stack(
        [expit(model.predictor(f"complications.{c.name}", c.linear, block)) for c in model.config.complications],
        axis=1,
    )


def complication_events(model: CohortModel, block: PatientBlock) -> Events:
    config, n = model.config, block.n
    q = complication_probabilities(model, block)
    types = tuple(c.name for c in config.complications)
    early = np.zeros((n, len(types)), bool)
    early_day = np.zeros((n, len(types)), np.int64)
    late = np.zeros((n, len(types)), bool)
    late_day = np.zeros((n, len(types)), np.int64)
    grade = np.empty((n, 2 * len(types)), dtype=object)
    for k, comp in enumerate(config.complications):
        rng = block.rng(f"complications:{comp.name}")
        early[:, k] = rng.random(n) < q[:, k]
        if comp.exclusive_with:
            early[:, k] &= ~early[:, types.index(comp.exclusive_with)]
        early_day[:, k] = rng.integers(comp.onset_days[0], comp.onset_days[1] + 1, n)
        late[:, k] = rng.random(n) < comp.late_probability
        late_day[:, k] = rng.integers(config.late_days[0], config.late_days[1] + 1, n)
        names = np.array([*comp.grades, ""])
        drawn = rng.choice(len(comp.grades), size=(n, 2), p=list(comp.grades.values()))
        drawn[rng.random((n, 2)) < config.grade_missing] = len(comp.grades)
        grade[:, [k, len(types) + k]] = names[drawn]
    return Events(types, early, early_day, late, late_day, grade.astype(str))


def complications(model: CohortModel, block: PatientBlock, events: Events) -> tuple[Frame, Labels]:
    """The complications table (one row per recorded event) and the complication-rule labels."""
    dictionary, rules = model.dictionary, model.config.rules
    contact = block.state[dictionary.column("last_followup")][:, None]
    occurs = np.concatenate([events.early, events.late], axis=1)
    day = np.concatenate([events.early_day, events.late_day], axis=1)
    keep = occurs & (day <= contact)
    patient = np.broadcast_to(np.arange(block.n)[:, None], keep.shape)[keep]
    order = np.lexsort((day[keep], patient))
    table = dictionary.table("complications")
    type_names = np.array(events.types * 2)
    frame: Frame = {
        table.column("key"): patient[order],
        table.column("complication_type"): np.broadcast_to(type_names, keep.shape)[keep][order],
        table.column("grade"): events.grade[keep][order],
        table.column("day"): day[keep][order],
    }
    labels: Labels = {}
    contact_days = contact[:, 0]
    for outcome, window in rules.complication_windows.items():
        selected = rules.complication_types[outcome] or events.types
        hit = events.early[:, [events.column(t) for t in selected]].any(axis=1)
        labels[outcome] = np.where(contact_days >= window[1], hit.astype(np.float64), np.nan)
    labels["c5_palsy"] = events.early[:, events.column(model.config.neuro.palsy_complication)].astype(np.float64)
    return frame, labels


# ----------------------------------------------------------------------------------- neuro examinations


@dataclass
class _Exams:
    """Examination days, which were recorded, and MMT arrays (patient x examination x side)."""

    day: np.ndarray
    recorded: np.ndarray
    last: np.ndarray
    sides: list[str]
    pre: dict[str, np.ndarray]
    mmt: dict[str, np.ndarray]
    worsened: np.ndarray


def _schedule(model: CohortModel, block: PatientBlock, rng: np.random.Generator) -> _Exams:
    """Scheduled examinations with the pre-operative grades, improved by one at the last one sometimes."""
    dictionary, spec, n = model.dictionary, model.config.neuro, block.n
    table = dictionary.table("neuro_exam")
    sides = list(table[table.column("side")].categories or ())
    contact = block.state[dictionary.column("last_followup")]
    day = np.stack([e.day + rng.integers(-e.jitter, e.jitter + 1, n) for e in spec.schedule], axis=1)
    recorded = np.stack([(e.day + e.jitter <= contact) & (rng.random(n) >= e.missing) for e in spec.schedule], axis=1)
    last = np.array([e.day for e in spec.schedule]) == max(e.day for e in spec.schedule)
    pre = {m: np.stack([block.state[dictionary.column(f"{m}_pre_{s}")] for s in sides], axis=1) for m in MUSCLES}
    mmt = {m: np.repeat(pre[m][:, None, :], len(spec.schedule), axis=1) for m in MUSCLES}
    for m in MUSCLES:
        grades = table[table.column(m)].range
        top = grades[1] if grades else np.inf
        improved = (pre[m] < top) & (rng.random((n, len(sides))) < spec.improvement_probability)
        mmt[m][:, last, :] = np.minimum(pre[m] + improved, top)[:, None, :]
    return _Exams(day, recorded, last, sides, pre, mmt, np.zeros(day.shape, bool))


def _add_palsies(exams: _Exams, events: Events, model: CohortModel, rng: np.random.Generator) -> None:
    """C5 palsy: deltoid (sometimes biceps) drops on one or both sides from onset, myelopathy not worse."""
    spec = model.config.neuro
    n = len(exams.day)
    k = events.column(spec.palsy_complication)
    palsy, onset = events.early[:, k], events.early_day[:, k]
    side_names = np.array(list(spec.palsy_side))
    weights = np.array(list(spec.palsy_side.values()))
    side = side_names[rng.choice(len(side_names), n, p=weights / weights.sum())]
    affected = np.stack([np.isin(side, [s, "both"]) for s in exams.sides], axis=1)
    grades = np.array(list(spec.palsy_drop_grades))
    drop = grades[rng.choice(len(grades), n, p=list(spec.palsy_drop_grades.values()))]
    biceps_too = rng.random(n) < spec.palsy_biceps_probability
    recovered = rng.random(n) < spec.palsy_recovered_at_last_exam
    active = palsy[:, None] & (exams.day >= onset[:, None]) & ~(exams.last[None, :] & recovered[:, None])
    hit = active[:, :, None] & affected[:, None, :]
    deltoid, biceps = MUSCLES
    exams.mmt[deltoid] = np.where(
        hit, np.maximum(exams.pre[deltoid][:, None, :] - drop[:, None, None], 0), exams.mmt[deltoid]
    )
    weaker = np.maximum(exams.pre[biceps][:, None, :] - np.maximum(drop - 1, 1)[:, None, None], 0)
    exams.mmt[biceps] = np.where(hit & biceps_too[:, None, None], weaker, exams.mmt[biceps])


def _add_deteriorations(exams: _Exams, events: Events, model: CohortModel, rng: np.random.Generator) -> None:
    """Neurological deterioration: myelopathy worse from onset, sometimes with a one-grade MMT drop."""
    spec = model.config.neuro
    n = len(exams.day)
    k = events.column(spec.deterioration_complication)
    worse, start = events.early[:, k], events.early_day[:, k]
    weaker = rng.random(n) < spec.deterioration_mmt_drop_probability
    recovered = rng.random(n) < spec.deterioration_recovered_at_last_exam
    exams.worsened = worse[:, None] & (exams.day >= start[:, None]) & ~(exams.last[None, :] & recovered[:, None])
    for m in MUSCLES:
        drop = (exams.worsened & weaker[:, None])[:, :, None]
        exams.mmt[m] = np.where(drop, np.maximum(exams.mmt[m] - 1, 0), exams.mmt[m])


def neuro_exams(model: CohortModel, block: PatientBlock, events: Events) -> Frame:
    """Deltoid/biceps MMT per side at each scheduled examination, with palsies and deteriorations."""
    rng = block.rng("neuro_exam")
    exams = _schedule(model, block, rng)
    _add_palsies(exams, events, model, rng)
    _add_deteriorations(exams, events, model, rng)
    table = model.dictionary.table("neuro_exam")
    rows = np.broadcast_to(exams.recorded[:, :, None], exams.mmt[MUSCLES[0]].shape)
    frame: Frame = {
        table.column("key"): np.broadcast_to(np.arange(block.n)[:, None, None], rows.shape)[rows],
        table.column("day"): np.broadcast_to(exams.day[:, :, None], rows.shape)[rows],
        table.column("side"): np.broadcast_to(np.array(exams.sides), rows.shape)[rows],
        table.column("myelopathy_worsened"): np.broadcast_to(exams.worsened[:, :, None], rows.shape)[rows],
    }
    for m in MUSCLES:
        frame[table.column(m)] = exams.mmt[m][rows].astype(np.float64)
    return frame


# ----------------------------------------------------------------------------------------- CT growth


@dataclass
class Growth:
    """Per patient: eligible for CT follow-up, progressor probability, growth rates (mm/year)."""

    eligible: np.ndarray
    progressor_probability: np.ndarray
    thickness_rate: np.ndarray
    length_rate: np.ndarray


def growth_parameters(model: CohortModel, block: PatientBlock) -> Growth:
    spec, ct = model.config.progression, model.config.ct
    return Growth(
        eligible=ct.when(block.state, block.n).astype(bool),
        progressor_probability=expit(model.predictor("progression.progressor", spec.progressor, block)),
        thickness_rate=np.exp(model.predictor("progression.thickness_rate_log", spec.thickness_rate_log, block)),
        length_rate=np.exp(model.predictor("progression.length_rate_log", spec.length_rate_log, block)),
    )


def grid_decimals(grid_mm: float) -> int:
    """Decimals that print every multiple of the grid exactly (0.1 -> 1)."""
    return max(0, int(np.ceil(-np.log10(grid_mm) - 1e-9)))


def growth_steps(rate_mm_per_year: np.ndarray, day: np.ndarray, grid_mm: float) -> np.ndarray:
    """True growth since the pre-operative CT, in whole grid steps."""
    return np.rint(rate_mm_per_year * np.maximum(day, 0) / 365.25 / grid_mm).astype(np.int64)


def ct_followup(model: CohortModel, block: PatientBlock) -> tuple[Frame, Labels]:
    """CT thickness/length at the pre-operative CT and follow-up visits, and the progression label."""
    dictionary, ct, rules, n = model.dictionary, model.config.ct, model.config.rules, block.n
    state = block.state
    growth = growth_parameters(model, block)
    rng = block.rng("ct_followup")
    progressor = rng.random(n) < growth.progressor_probability
    thickness0 = np.rint(state[ct.true_thickness] / ct.grid_mm).astype(np.int64)
    length0 = np.rint(state[ct.true_length] / ct.grid_mm).astype(np.int64)
    t_limit = grid_limit(ct.thickness_sd_mm, ct.grid_mm, ct.truncate_sd)
    l_limit = grid_limit(ct.length_sd_mm, ct.grid_mm, ct.truncate_sd)
    missing_lp = model.predictor("ct_followup.missing", ct.missing, block)
    contact = state[dictionary.column("last_followup")]

    days = [rng.integers(ct.preop_days[0], ct.preop_days[1] + 1, n)]
    thickness = [np.rint(state[ct.preop_thickness] / ct.grid_mm).astype(np.int64)]
    length = [length0 + rounded_normal(rng, n, ct.length_sd_mm / ct.grid_mm, l_limit)]
    recorded = [growth.eligible]
    for visit in ct.visits:
        day = visit.day + rounded_normal(rng, n, visit.sd, visit.max_offset)
        grows = progressor.astype(np.int64)
        days.append(day)
        thickness.append(
            thickness0
            + grows * growth_steps(growth.thickness_rate, day, ct.grid_mm)
            + rounded_normal(rng, n, ct.thickness_sd_mm / ct.grid_mm, t_limit)
        )
        length.append(
            length0
            + grows * growth_steps(growth.length_rate, day, ct.grid_mm)
            + rounded_normal(rng, n, ct.length_sd_mm / ct.grid_mm, l_limit)
        )
        missing = rng.random(n) < expit(missing_lp + visit.missing_intercept)
        recorded.append(growth.eligible & (visit.day + visit.max_offset <= contact) & ~missing)

    table = dictionary.table("ct_followup")
    mask = np.stack(recorded, axis=1)
    frame: Frame = {table.column("key"): np.broadcast_to(np.arange(n)[:, None], mask.shape)[mask]}
    frame[table.column("day")] = np.stack(days, axis=1)[mask]
    for role, steps in (("thickness", thickness), ("length", length)):
        column = table.column(role)
        bounds = table[column].range or (-np.inf, np.inf)
        frame[column] = (
            np.round(np.clip(np.stack(steps, axis=1)[mask] * ct.grid_mm, *bounds), grid_decimals(ct.grid_mm)) + 0.0
        )

    target = next(i for i, v in enumerate(ct.visits, start=1) if v.day == rules.progression_target_day)
    adequate = recorded[target] & (np.abs(days[target] - rules.progression_target_day) <= rules.progression_window_days)
    need = round(rules.progression_min_growth_mm / ct.grid_mm)
    grown = {"thickness": thickness[target] - thickness[0], "length": length[target] - length[0]}
    hit = np.any([grown[m] >= need for m in rules.progression_measures], axis=0)
    return frame, {rules.progression_outcome: np.where(adequate, hit.astype(np.float64), np.nan)}
