"""The result type every outcome rule returns, and the small pieces the rules share.

An outcome rule never drops a patient silently: each patient it considers is either labelled or
listed in ``exclusions`` with a reason, so that ``considered = labelled + excluded`` holds and the
reasons can feed the TRIPOD+AI participant flow (Collins et al., BMJ 2024, item 20a).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd

from spineoutcome.dictionary import DataDictionary, DictionaryError, Table

REASON = "reason"
LOWER, UPPER, EVENT = "lower", "upper", "event"
# Scores and CT measurements are recorded to a few decimals; differences such as 5.3 - 3.3 are not
# exactly 2.0 in binary floating point. Thresholds are compared with this tolerance so that a
# change exactly at the threshold counts as achieved (the convention everywhere is ">=").
TOLERANCE = 1e-9

Kind = Literal["binary", "interval_censored"]


def at_least(values: pd.Series, threshold: float | pd.Series) -> pd.Series:
    """``values >= threshold`` with the floating-point tolerance above (missing values give False)."""
    return values.astype("float64") >= threshold - TOLERANCE


@dataclass(frozen=True)
class DayWindow:
    """An inclusive window of days relative to surgery, e.g. 12 months +/- 3 months = days 274-456."""

    start: int
    end: int

    def __post_init__(self) -> None:
        if self.start > self.end:
            raise ValueError(f"day window start {self.start} is after its end {self.end}")

    @classmethod
    def parse(cls, value: Any) -> DayWindow:
        """From ``[start, end]`` or ``{"start": .., "end": ..}`` (YAML) or another ``DayWindow``."""
        if isinstance(value, DayWindow):
            return value
        if isinstance(value, Mapping):
            return cls(int(value["start"]), int(value["end"]))
        start, end = value
        return cls(int(start), int(end))

    def contains(self, day: pd.Series) -> pd.Series:
        """True for days inside the window; a missing day is never inside."""
        day = day.astype("Float64")
        return ((day >= self.start) & (day <= self.end)).fillna(False).astype(bool)

    def describe(self) -> str:
        return f"days {self.start} to {self.end}"

    def to_list(self) -> list[int]:
        return [self.start, self.end]


@dataclass(frozen=True)
class OutcomeLabels:
    """Labels of one outcome for the eligible patients, and every other patient with a reason.

    ``labels`` is, for ``kind == "binary"``, a 0/1 ``Int64`` Series indexed by the patient key;
    for ``kind == "interval_censored"``, a DataFrame indexed by the patient key with columns
    ``lower`` and ``upper`` (days; the event happened in ``(lower, upper]``, ``upper = inf`` when
    right-censored at ``lower``) and ``event`` (1 when ``upper`` is finite). ``exclusions`` has
    one row per excluded patient: the key column and ``reason``. ``definition`` is the resolved,
    JSON-serialisable definition that produced the labels.
    """

    name: str
    kind: Kind
    labels: pd.Series | pd.DataFrame
    exclusions: pd.DataFrame
    definition: Mapping[str, Any]

    def __post_init__(self) -> None:
        labelled = self.labels.index
        excluded = pd.Index(self.exclusions.iloc[:, 0])
        if labelled.has_duplicates or excluded.has_duplicates:
            raise ValueError(f"{self.name}: a patient is labelled or excluded more than once")
        both = labelled.intersection(excluded)
        if len(both):
            raise ValueError(f"{self.name}: {len(both)} patient(s) are both labelled and excluded")

    @property
    def key(self) -> str:
        """Name of the patient key column."""
        return str(self.exclusions.columns[0])

    @property
    def events(self) -> pd.Series:
        """0/1 event indicator per labelled patient (the label itself for a binary outcome)."""
        return self.labels if self.kind == "binary" else self.labels[EVENT]

    def counts(self) -> dict[str, Any]:
        """Patients considered, labelled, with the event, and excluded by reason (JSON-ready).

        Binary outcomes also give the ``prevalence`` among the labelled; interval-censored ones the
        number ``censored`` (right-censored, no event observed).
        """
        labelled = len(self.labels)
        events = int(self.events.sum())
        by_reason = self.exclusions[REASON].value_counts(sort=False)
        summary: dict[str, Any] = {
            "considered": labelled + len(self.exclusions),
            "labelled": labelled,
            "events": events,
        }
        if self.kind == "binary":
            summary["prevalence"] = events / labelled if labelled else None
        else:
            summary["censored"] = labelled - events
        summary["excluded"] = {str(reason): int(n) for reason, n in by_reason.sort_index().items()}
        return summary


def split_labels(
    name: str,
    kind: Kind,
    values: pd.Series | pd.DataFrame,
    reasons: pd.Series,
    key: str,
    definition: Mapping[str, Any],
) -> OutcomeLabels:
    """Build :class:`OutcomeLabels` from values and reasons over every considered patient.

    ``reasons`` is indexed by all considered patients and holds a reason for the excluded ones
    and a missing value for the eligible ones; ``values`` holds the label of (at least) every
    eligible patient.
    """
    excluded = reasons.notna()
    eligible = reasons.index[~excluded]
    labels = values.loc[eligible]
    if kind == "binary":
        labels = labels.astype("Int64")
    labels.index.name = key
    exclusions = pd.DataFrame({key: reasons.index[excluded].to_numpy(), REASON: reasons[excluded].to_numpy()})
    return OutcomeLabels(name=name, kind=kind, labels=labels, exclusions=exclusions, definition=definition)


def patient_keys(tables: Mapping[str, pd.DataFrame], dictionary: DataDictionary) -> pd.Index:
    """Every patient of the patient table: the patients an outcome rule considers."""
    patients = tables[dictionary.patient_table.name]
    return pd.Index(patients[dictionary.key].unique(), name=dictionary.key)


def table_with_role(dictionary: DataDictionary, role: str) -> Table:
    """The one table that has a column with ``role`` (e.g. ``thickness`` -> the follow-up CT table)."""
    found = [t for t in dictionary.tables.values() if t.has_role(role)]
    if len(found) != 1:
        names = [t.name for t in found]
        raise DictionaryError(f"expected exactly one table with a column of role {role!r}, found {names}")
    return found[0]


def table_or_empty(tables: Mapping[str, pd.DataFrame], table: Table) -> pd.DataFrame:
    """The export of ``table``, or an empty frame with its dictionary columns when it was not exported.

    A patient absent from a follow-up table has no records there; so has every patient when the
    whole table is absent.
    """
    if table.name in tables:
        return tables[table.name]
    return pd.DataFrame({v.name: pd.Series(dtype="object") for v in table.variables})


def empty_reasons(patients: pd.Index) -> pd.Series:
    return pd.Series(np.full(len(patients), None, dtype=object), index=patients, name=REASON)


def assign_reason(reasons: pd.Series, which: pd.Series | pd.Index, reason: str) -> None:
    """Give ``reason`` to the patients in ``which`` that have no reason yet (the first reason wins)."""
    mask = reasons.index.isin(which if isinstance(which, pd.Index) else which[which].index)
    reasons.loc[mask & reasons.isna().to_numpy()] = reason
