"""PROM scoring: totals from items, EQ-5D-5L index from a value set, recovery rate, wide pivot.

The PROM table is long (one row per patient, instrument, time point and item; an empty item is a
total). Instruments, their items and ranges come from ``instruments.yaml``; nothing here names an
instrument or a column.

Scoring rules
-------------
* A recorded total is passed through unchanged; item rows of the same assessment are then ignored.
* Summed instruments (JOA, mJOA, NDI, ...) are the sum of their items (Japanese Orthopaedic
  Association 1994; Benzel et al. 1991; Vernon & Mior 1991). A complete item set is required,
  unless ``prorate`` allows up to *k* missing items for an instrument, in which case the total is
  ``sum(answered) * n_items / n_answered``. Vernon (J Manipulative Physiol Ther 2008;31:491-502)
  describes this for the NDI with one missing item: ``prorate={"ndi": 1}``.
* Value-set instruments (EQ-5D-5L; Herdman et al., Qual Life Res 2011) are scored from a value set
  (see :func:`read_value_set`); there is no proration.
* An incomplete assessment gives a missing total with ``scoring = "incomplete"`` and a reason.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pandas as pd

from spineoutcome.dictionary import DataDictionary, Instrument, prom_column
from spineoutcome.errors import SpineoutcomeError
from spineoutcome.outcomes.labels import REASON, DayWindow, table_with_role

PERCENT = "percent"
SCORING = "scoring"
PASSED, COMPUTED, INCOMPLETE = "passed", "computed", "incomplete"
RR_UNDEFINED = "pre-operative score at maximum; recovery rate undefined"
RR_MISSING = "pre- or post-operative score missing"
RATE = "recovery_rate"

DIMENSION, LEVEL, DECREMENT = "dimension", "level", "decrement"
CONSTANT = "constant"


class ValueSetRequiredError(SpineoutcomeError, ValueError):
    """Items of a value-set instrument were given without a value set to score them."""


def read_value_set(source: pd.DataFrame | str | Path, instrument: Instrument) -> pd.DataFrame:
    """Read and check a value set for ``instrument`` (EQ-5D-5L).

    Format (a DataFrame or a CSV file) with columns ``dimension``, ``level``, ``decrement``:
    one row per dimension (an item code of the instrument, e.g. ``mobility``) and level
    (1-5), whose decrement is subtracted from 1; level-1 rows may be omitted (decrement 0).
    An optional row with ``dimension = constant`` (level empty) is subtracted once for every
    health state other than full health (11111), as in value sets with an intercept. Index:
    ``1 - constant * [state != 11111] - sum of the five decrements``.
    Returns the decrements indexed by (dimension, level), with the constant under
    ``("constant", 0)``.
    """
    frame = pd.read_csv(source) if isinstance(source, (str, Path)) else source
    missing = {DIMENSION, LEVEL, DECREMENT} - set(frame.columns)
    if missing:
        raise ValueError(f"value set needs columns {DIMENSION}, {LEVEL}, {DECREMENT}; missing {sorted(missing)}")
    dims = frame[DIMENSION].astype(str)
    unknown = set(dims) - set(instrument.items) - {CONSTANT}
    if unknown:
        raise ValueError(f"value set for {instrument.code}: unknown dimensions {sorted(unknown)}")
    constant = frame.loc[dims == CONSTANT, DECREMENT].astype(float)
    rows = frame[dims != CONSTANT]
    table = pd.Series(
        rows[DECREMENT].astype(float).to_numpy(),
        index=pd.MultiIndex.from_arrays([rows[DIMENSION].astype(str), rows[LEVEL].astype(int)]),
    )
    for item, (low, high) in instrument.items.items():
        table.loc[(item, int(low))] = table.get((item, int(low)), 0.0)
        absent = [lv for lv in range(int(low) + 1, int(high) + 1) if (item, lv) not in table.index]
        if absent:
            raise ValueError(f"value set for {instrument.code}: no decrement for {item} level(s) {absent}")
    table.loc[(CONSTANT, 0)] = float(constant.iloc[0]) if len(constant) else 0.0
    return table.sort_index()


def score_totals(
    proms_long: pd.DataFrame,
    dictionary: DataDictionary,
    value_set: pd.DataFrame | str | Path | None = None,
    prorate: Mapping[str, int] | None = None,
) -> pd.DataFrame:
    """One total per (patient, instrument, time point), from recorded totals or from items.

    Returns a long frame with the dictionary's key, instrument, time point, day and value columns
    plus ``percent`` (the total as a percentage of the instrument's range, e.g. NDI % disability on
    0-100; missing for value-set instruments), ``scoring`` (``passed``, ``computed`` or
    ``incomplete``) and ``reason`` (why an incomplete total is missing). ``value_set`` scores
    value-set instruments (see :func:`read_value_set`); ``prorate`` maps an instrument to the
    largest number of missing items for which its total is prorated (default: none, complete
    item sets only). :func:`scoring_counts` tallies the result.
    """
    table = table_with_role(dictionary, "instrument")
    key, inst_col, tp_col, day_col, value_col = (
        table.column(r) for r in ("key", "instrument", "timepoint", "day", "value")
    )
    item_col = table.column("item")
    prorate = dict(prorate or {})
    unknown = set(prorate) - set(dictionary.instruments)
    if unknown:
        raise ValueError(f"prorate names unknown instruments {sorted(unknown)}")

    frame = proms_long.copy()
    frame[inst_col] = frame[inst_col].astype(str)
    frame[tp_col] = frame[tp_col].astype(str)
    items = frame[item_col] if item_col in frame else pd.Series(np.nan, index=frame.index)
    is_total = items.isna() | (items.astype(str).str.strip() == "")
    ids = [key, inst_col, tp_col]

    passed = frame.loc[is_total, [*ids, day_col, value_col]].assign(**{SCORING: PASSED, REASON: None})
    item_rows = frame.loc[~is_total]
    has_total = pd.MultiIndex.from_frame(passed[ids])
    item_rows = item_rows[~pd.MultiIndex.from_frame(item_rows[ids]).isin(has_total)]

    parts = [passed]
    for code, rows in item_rows.groupby(inst_col, sort=True):
        instrument = dictionary.instruments[str(code)]
        parts.append(
            _score_items(
                rows,
                instrument,
                (key, tp_col, day_col, item_col, value_col),
                value_set,
                prorate.get(instrument.code, 0),
            ).assign(**{inst_col: code})
        )
    non_empty = [p for p in parts if len(p)]
    totals = pd.concat(non_empty, ignore_index=True) if non_empty else passed

    minimum = totals[inst_col].map({c: i.range[0] for c, i in dictionary.instruments.items()})
    span = totals[inst_col].map({c: i.range[1] - i.range[0] for c, i in dictionary.instruments.items()})
    summed = totals[inst_col].map({c: i.item_scoring == "sum" for c, i in dictionary.instruments.items()})
    totals[PERCENT] = ((totals[value_col] - minimum) / span * 100).where(summed.astype(bool))
    totals[inst_col] = pd.Categorical(totals[inst_col], categories=list(dictionary.instruments))
    totals[tp_col] = pd.Categorical(totals[tp_col], categories=list(dictionary.timepoints))
    totals[day_col] = totals[day_col].astype("Int64")
    totals[value_col] = totals[value_col].astype("float64")
    columns = [*ids, day_col, value_col, PERCENT, SCORING, REASON]
    return totals[columns].sort_values(ids).reset_index(drop=True)


def _score_items(
    rows: pd.DataFrame,
    instrument: Instrument,
    columns: tuple[str, str, str, str, str],
    value_set: pd.DataFrame | str | Path | None,
    max_missing: int,
) -> pd.DataFrame:
    key, tp_col, day_col, item_col, value_col = columns
    if not instrument.items:
        raise ValueError(f"{instrument.code}: item rows given, but instruments.yaml defines no items for it")
    codes = rows[item_col].astype(str).str.strip()
    unknown = sorted(set(codes) - set(instrument.items))
    if unknown:
        raise ValueError(f"{instrument.code}: unknown item code(s) {unknown}; expected {list(instrument.items)}")
    wide = (
        rows.assign(**{item_col: codes})
        .pivot(index=[key, tp_col], columns=item_col, values=value_col)
        .reindex(columns=list(instrument.items))
    )
    day = rows.groupby([key, tp_col])[day_col].min().reindex(wide.index)
    n_items = wide.shape[1]
    n_missing = wide.isna().sum(axis=1)

    if instrument.item_scoring == "value_set":
        if value_set is None:
            raise ValueSetRequiredError(
                f"{instrument.code}: items were given without a precomputed index; supply a value set "
                f"(value_set=...) to score the {instrument.label}"
            )
        decrements = read_value_set(value_set, instrument)
        total = _value_set_index(wide, decrements, instrument)
        max_missing = 0
    else:
        total = wide.sum(axis=1, min_count=1) * n_items / (n_items - n_missing).replace(0, np.nan)
    complete = n_missing <= max_missing
    reason = pd.Series(
        [f"incomplete items ({m} of {n_items} missing)" for m in n_missing], index=wide.index, dtype=object
    )
    out = pd.DataFrame(
        {
            day_col: day,
            value_col: total.where(complete),
            SCORING: np.where(complete, COMPUTED, INCOMPLETE),
            REASON: reason.where(~complete, None),
        },
        index=wide.index,
    )
    return out.reset_index()


def _value_set_index(wide: pd.DataFrame, decrements: pd.Series, instrument: Instrument) -> pd.Series:
    """EQ-5D index = 1 - constant * [state != full health] - sum of dimension decrements."""
    total = pd.Series(1.0, index=wide.index)
    not_full_health = pd.Series(False, index=wide.index)
    for item, (low, _) in instrument.items.items():
        levels = wide[item]
        lookup = decrements.xs(item, level=0)
        total -= levels.map(lambda lv, lk=lookup: lk.get(int(lv), np.nan) if pd.notna(lv) else np.nan)
        not_full_health |= (levels > low).fillna(False)
    return total - decrements[(CONSTANT, 0)] * not_full_health


def scoring_counts(totals: pd.DataFrame, dictionary: DataDictionary) -> pd.DataFrame:
    """Per instrument, how many totals were passed through, computed from items, or incomplete."""
    inst_col = table_with_role(dictionary, "instrument").column("instrument")
    counts = pd.crosstab(totals[inst_col].astype(str), totals[SCORING])
    counts = counts.reindex(columns=[PASSED, COMPUTED, INCOMPLETE], fill_value=0)
    return counts.rename_axis(index=inst_col, columns=None)


def recovery_rate(pre: pd.Series | float, post: pd.Series | float, maximum: float) -> pd.DataFrame:
    """Hirabayashi recovery rate, ``(post - pre) / (maximum - pre) x 100`` (%).

    Hirabayashi et al., Spine 1981;6:354-64. ``maximum`` is the best attainable score (17 for
    the JOA score, 18 for the mJOA; for a lower-is-better scale pass its minimum and the same
    formula gives the share of the possible improvement achieved). A patient whose pre-operative
    score is already at the maximum has no room to recover: the rate is undefined, returned as NaN
    with the reason ``"pre-operative score at maximum; recovery rate undefined"`` rather than
    divided by zero. Returns columns ``recovery_rate`` and ``reason``, aligned to the inputs.
    """
    pre_s, post_s = _aligned(pre, post)
    room = maximum - pre_s
    at_maximum = np.isclose(room, 0.0) & pre_s.notna()
    missing = pre_s.isna() | post_s.isna()
    rate = ((post_s - pre_s) / room.where(~at_maximum)) * 100
    reason = pd.Series(np.full(len(pre_s), None, dtype=object), index=pre_s.index)
    reason[missing] = RR_MISSING
    reason[at_maximum] = RR_UNDEFINED
    return pd.DataFrame({RATE: rate.where(~missing & ~at_maximum), REASON: reason})


def _aligned(pre: pd.Series | float, post: pd.Series | float) -> tuple[pd.Series, pd.Series]:
    """Both arguments as float Series on one index (a scalar is broadcast)."""
    series = [x for x in (pre, post) if isinstance(x, pd.Series)]
    if series:
        index = series[0].index
    else:
        index = pd.RangeIndex(max(int(np.size(pre)), int(np.size(post))))

    def as_series(x: pd.Series | float) -> pd.Series:
        if isinstance(x, pd.Series):
            return x.astype("float64")
        return pd.Series(np.broadcast_to(np.asarray(x, dtype="float64"), len(index)), index=index)

    return as_series(pre), as_series(post)


def scores_in_window(
    totals: pd.DataFrame,
    dictionary: DataDictionary,
    instrument: str,
    timepoint: str,
    window: DayWindow,
) -> pd.DataFrame:
    """Each patient's total of ``instrument`` at ``timepoint`` whose assessment day lies in ``window``.

    The nominal time point and the actual day must both match: a 12-month visit on day 457 is not
    a 12-month assessment under a 274-456 window, and a 6-month visit that happened late is not one
    either. Rows with a missing day cannot be placed and do not count. Indexed by patient key, with
    the day, value, percent and reason columns of :func:`score_totals`.
    """
    table = table_with_role(dictionary, "instrument")
    key, inst_col, tp_col, day_col = (table.column(r) for r in ("key", "instrument", "timepoint", "day"))
    rows = totals[(totals[inst_col].astype(str) == instrument) & (totals[tp_col].astype(str) == timepoint)]
    rows = rows[window.contains(rows[day_col])]
    return rows.drop_duplicates(key, keep="last").set_index(key)


def pivot_totals(totals_long: pd.DataFrame, dictionary: DataDictionary) -> pd.DataFrame:
    """Wide totals: one row per patient, one column ``prom_column(instrument, timepoint)`` each.

    Every instrument x time point of the dictionary is a column (missing where not assessed), so
    the cohort's columns do not depend on the data. Windows are not applied here: the wide table
    is for predictors (baseline) and description; outcome rules use the long table's ``day``.
    """
    table = table_with_role(dictionary, "instrument")
    key, inst_col, tp_col, value_col = (table.column(r) for r in ("key", "instrument", "timepoint", "value"))
    column = [
        prom_column(i, t)
        for i, t in zip(totals_long[inst_col].astype(str), totals_long[tp_col].astype(str), strict=True)
    ]
    wide = (
        totals_long.assign(_column=column)
        .pivot_table(index=key, columns="_column", values=value_col, aggfunc="last", dropna=False)
        .reindex(columns=[v.name for v in dictionary.prom_variables])
        .astype("float64")
    )
    wide.columns.name = None
    return wide
