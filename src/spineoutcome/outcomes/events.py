"""Event outcomes from raw follow-up records: C5 palsy, complications, OPLL progression.

Every rule considers all patients of the patient table (or the ``patients`` given); a patient
without adequate follow-up is excluded with a counted reason, never dropped silently. Windows are
inclusive day ranges relative to surgery (:class:`~spineoutcome.outcomes.labels.DayWindow`).
Columns are found by role; the tables by the role only they carry (``myelopathy_worsened``,
``complication_type``, ``thickness``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from spineoutcome.dictionary import DataDictionary
from spineoutcome.outcomes.labels import (
    EVENT,
    LOWER,
    UPPER,
    DayWindow,
    OutcomeLabels,
    assign_reason,
    at_least,
    empty_reasons,
    patient_keys,
    split_labels,
    table_or_empty,
    table_with_role,
)

Tables = Mapping[str, pd.DataFrame]


def _considered(tables: Tables, dictionary: DataDictionary, patients: Sequence[str] | pd.Index | None) -> pd.Index:
    if patients is None:
        return patient_keys(tables, dictionary)
    return pd.Index(patients, name=dictionary.key).unique()


def c5_palsy_labels(
    tables: Tables,
    dictionary: DataDictionary,
    *,
    window: DayWindow = DayWindow(0, 21),
    muscles: Sequence[str] = ("deltoid", "biceps"),
    min_drop: int = 1,
    name: str = "c5_palsy",
    patients: Sequence[str] | pd.Index | None = None,
) -> OutcomeLabels:
    """C5 palsy: a new deltoid and/or biceps weakness after surgery without worsening myelopathy.

    Event when, at an examination within ``window`` days after surgery, a muscle's MRC grade is at
    least ``min_drop`` grades below the pre-operative grade of the same muscle on the same side.
    Examinations with worsening myelopathy are not counted: weakness explained by a general
    neurological deterioration is not C5 palsy (Sakaura et al., Spine 2003;28:2447-51; DOMAIN.md).
    A missing worsening flag counts as not worsened. ``muscles`` are roles of the neuro-exam table;
    the pre-operative grades are the patient-table roles ``<muscle>_pre_<side>``.

    Excluded: no pre-operative grade for any muscle; no examination within the window; no
    examination within the window with a grade that can be compared with a pre-operative one.
    """
    table = table_with_role(dictionary, "myelopathy_worsened")
    exams = table_or_empty(tables, table)
    key, day, side, worse = (table.column(r) for r in ("key", "day", "side", "myelopathy_worsened"))
    considered = _considered(tables, dictionary, patients)
    patient_rows = tables[dictionary.patient_table.name].set_index(dictionary.key)
    sides = table[side].categories or ()

    pre_columns = {(m, s): dictionary.column(f"{m}_pre_{s}") for m in muscles for s in sides}
    pre_grades = patient_rows[list(pre_columns.values())].reindex(considered)
    exams = exams[window.contains(exams[day]) & exams[key].isin(considered)]
    worsened = exams[worse].astype("boolean").fillna(False).astype(bool)

    findings = []
    for (muscle, side_code), pre_column in pre_columns.items():
        on_side = exams[side].astype(str) == side_code
        pre = exams[key].map(patient_rows[pre_column]).astype("Float64")
        post = exams[table.column(muscle)].astype("Float64")
        comparable = (pre.notna() & post.notna() & on_side).fillna(False).astype(bool)
        palsy = comparable & at_least(pre - post, min_drop).fillna(False).astype(bool) & ~worsened
        findings.append(pd.DataFrame({key: exams[key], "comparable": comparable, "palsy": palsy}))
    found = pd.concat(findings).groupby(key)[["comparable", "palsy"]].any().reindex(considered, fill_value=False)

    reasons = empty_reasons(considered)
    muscle_text = "/".join(muscles)
    assign_reason(reasons, pre_grades.isna().all(axis=1), f"no pre-operative {muscle_text} MMT grade")
    assign_reason(reasons, considered.difference(exams[key]), f"no neuro exam within {window.describe()}")
    assign_reason(reasons, ~found["comparable"], f"no comparable {muscle_text} MMT grade within {window.describe()}")
    palsy = found["palsy"]
    definition = {
        "name": name,
        "kind": "c5_palsy",
        "window_days": window.to_list(),
        "muscles": list(muscles),
        "min_drop": min_drop,
    }
    return split_labels(name, "binary", palsy.astype(int), reasons, key, definition)


def complication_labels(
    tables: Tables,
    dictionary: DataDictionary,
    *,
    window: DayWindow = DayWindow(0, 90),
    types: Sequence[str] | None = None,
    min_grade: str | None = None,
    name: str = "complication_any",
    patients: Sequence[str] | pd.Index | None = None,
) -> OutcomeLabels:
    """Any complication of ``types`` (default: every type) with onset within ``window`` days.

    With ``min_grade`` only complications of at least that Clavien-Dindo grade count (Dindo,
    Demartines & Clavien, Ann Surg 2004;240:205-13; grades ordered as in the dictionary).
    A patient with a qualifying event is labelled 1 whatever the follow-up; without one, the
    follow-up must reach the end of the window (role ``last_followup``), else the patient is
    excluded ("last follow-up before day 90 and no event"). An ungraded complication that could
    qualify leaves a patient without a qualifying event unlabelled.
    """
    table = table_with_role(dictionary, "complication_type")
    records = table_or_empty(tables, table)
    key, type_col, grade_col, day = (table.column(r) for r in ("key", "complication_type", "grade", "day"))
    considered = _considered(tables, dictionary, patients)
    known_types = table[type_col].categories or ()
    unknown = set(types or ()) - set(known_types)
    if unknown:
        raise ValueError(f"{name}: unknown complication type(s) {sorted(unknown)}; known: {list(known_types)}")
    grades = list(table[grade_col].categories or ())
    if min_grade is not None and min_grade not in grades:
        raise ValueError(f"{name}: min_grade {min_grade!r} is not a Clavien-Dindo grade {grades}")

    relevant = records[window.contains(records[day]) & records[key].isin(considered)]
    if types is not None:
        relevant = relevant[relevant[type_col].astype(str).isin(types)]
    ungraded = pd.Index([])
    if min_grade is not None:
        rank = relevant[grade_col].astype(object).map({g: i for i, g in enumerate(grades)})
        ungraded = pd.Index(relevant.loc[rank.isna(), key])
        relevant = relevant[rank >= grades.index(min_grade)]
    event = pd.Series(considered.isin(relevant[key]), index=considered)

    last_followup = tables[dictionary.patient_table.name].set_index(dictionary.key)[dictionary.column("last_followup")]
    followed = last_followup.reindex(considered).astype("Float64") >= window.end
    reasons = empty_reasons(considered)
    assign_reason(
        reasons, ~event & considered.isin(ungraded), f"complication of unknown grade within {window.describe()}"
    )
    assign_reason(
        reasons, ~event & ~followed.fillna(False).astype(bool), f"last follow-up before day {window.end} and no event"
    )
    definition = {
        "name": name,
        "kind": "complication",
        "window_days": window.to_list(),
        "types": None if types is None else list(types),
        "min_grade": min_grade,
    }
    return split_labels(name, "binary", event.astype(int), reasons, key, definition)


def ct_assessments(
    tables: Tables,
    dictionary: DataDictionary,
    *,
    min_growth_mm: float = 2.0,
    measures: Sequence[str] = ("thickness", "length"),
) -> tuple[pd.Index, pd.DataFrame]:
    """Growth of the ossified mass on each post-operative CT versus the pre-operative CT.

    The reference of each measure is its last recorded value on a CT with day <= 0. A follow-up
    CT (day > 0) shows progression when any measure grew by at least ``min_growth_mm`` (growth of
    2 mm in thickness or length is the definition most OPLL progression studies use). Returns the
    patients with a pre-operative CT and, per follow-up CT with at least one comparable measure,
    the key, day and ``progressed``.
    """
    table = table_with_role(dictionary, "thickness")
    ct = table_or_empty(tables, table)
    key, day = table.column("key"), table.column("day")
    columns = [table.column(m) for m in measures]
    days = ct[day].astype("Float64")
    is_pre = (days <= 0).fillna(False).astype(bool)
    pre = ct[is_pre].assign(_day=days[is_pre]).sort_values("_day")
    reference = pre.groupby(key)[columns].last().astype("float64").dropna(how="all")

    after = ct[(days > 0).fillna(False).astype(bool) & ct[key].isin(reference.index)]
    growth = after[columns].astype("float64") - reference.reindex(after[key]).to_numpy()
    assessable = growth.notna().any(axis=1)
    progressed = pd.concat([at_least(growth[c], min_growth_mm) for c in columns], axis=1).any(axis=1)
    visits = pd.DataFrame({key: after[key], day: after[day].astype("float64"), "progressed": progressed})[assessable]
    return pd.Index(reference.index, name=key), visits.sort_values([key, day]).reset_index(drop=True)


def progression_labels(
    tables: Tables,
    dictionary: DataDictionary,
    *,
    horizon_day: int = 730,
    tolerance_days: int = 180,
    min_growth_mm: float = 2.0,
    measures: Sequence[str] = ("thickness", "length"),
    name: str = "progression_24m",
    patients: Sequence[str] | pd.Index | None = None,
) -> OutcomeLabels:
    """OPLL progression at a horizon: growth >= ``min_growth_mm`` at the CT nearest the horizon.

    Only CTs within ``horizon_day +/- tolerance_days`` count; among them the one nearest the
    horizon is used (the later one on a tie). Excluded: no pre-operative CT; no comparable CT in
    the horizon window.
    """
    key = dictionary.key
    considered = _considered(tables, dictionary, patients)
    with_reference, visits = ct_assessments(tables, dictionary, min_growth_mm=min_growth_mm, measures=measures)
    day = table_with_role(dictionary, "thickness").column("day")
    window = DayWindow(horizon_day - tolerance_days, horizon_day + tolerance_days)
    near = visits[window.contains(visits[day])].assign(_distance=lambda f: (f[day] - horizon_day).abs())
    chosen = near.sort_values(["_distance", day], ascending=[True, False]).drop_duplicates(key).set_index(key)

    reasons = empty_reasons(considered)
    assign_reason(reasons, considered.difference(with_reference), "no pre-operative CT")
    assign_reason(reasons, considered.difference(chosen.index), f"no CT within {horizon_day} +/- {tolerance_days} days")
    labels = chosen["progressed"].reindex(considered, fill_value=False).astype(int)
    definition = {
        "name": name,
        "kind": "progression",
        "horizon_day": horizon_day,
        "tolerance_days": tolerance_days,
        "min_growth_mm": min_growth_mm,
        "measures": list(measures),
    }
    return split_labels(name, "binary", labels, reasons, key, definition)


def progression_intervals(
    tables: Tables,
    dictionary: DataDictionary,
    *,
    min_growth_mm: float = 2.0,
    measures: Sequence[str] = ("thickness", "length"),
    name: str = "progression_time",
    patients: Sequence[str] | pd.Index | None = None,
) -> OutcomeLabels:
    """Time to OPLL progression, interval-censored by CT visit.

    Progression is only seen at a CT, so the event time is known to lie in ``(lower, upper]``:
    ``upper`` is the day of the first CT showing progression and ``lower`` the day of the last CT
    before it without progression (0, the day of surgery, when there is none). A patient without
    progression is right-censored at the last CT: ``(last, inf)``, ``event = 0``. This is the form
    lifelines' ``fit_interval_censoring`` takes. Excluded: no pre-operative CT; no comparable
    post-operative CT.
    """
    key = dictionary.key
    considered = _considered(tables, dictionary, patients)
    with_reference, visits = ct_assessments(tables, dictionary, min_growth_mm=min_growth_mm, measures=measures)
    day = table_with_role(dictionary, "thickness").column("day")
    visits = visits[visits[key].isin(considered)]
    first = visits[visits["progressed"]].groupby(key)[day].min()
    first_day = visits[key].map(first).fillna(np.inf)
    lower = visits[~visits["progressed"] & (visits[day] < first_day)].groupby(key)[day].max()
    assessed = pd.Index(visits[key].unique())

    intervals = pd.DataFrame(index=considered)
    intervals[UPPER] = first.reindex(considered).fillna(np.inf).astype("float64")
    intervals[LOWER] = lower.reindex(considered).fillna(0.0).astype("float64")
    intervals[EVENT] = np.isfinite(intervals[UPPER]).astype(int)
    reasons = empty_reasons(considered)
    assign_reason(reasons, considered.difference(with_reference), "no pre-operative CT")
    assign_reason(reasons, considered.difference(assessed), "no post-operative CT")
    definition = {"name": name, "kind": "progression_time", "min_growth_mm": min_growth_mm, "measures": list(measures)}
    return split_labels(name, "interval_censored", intervals[[LOWER, UPPER, EVENT]], reasons, key, definition)
