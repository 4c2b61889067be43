"""Cohort assembly: join the validated tables per patient, with a join audit.

The patient table (one row per patient, role ``centre``) defines the cohort. Other wide tables
(imaging, radiomics) and the wide PROM totals are left-joined to it; long follow-up tables stay
long for outcome derivation. The audit counts patients per table, orphans (keys with no patient
row), patients absent from each table, rows rejected as duplicates at validation, and missingness
per column: the raw material of the TRIPOD+AI participant flow (item 20a).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import pandas as pd

from spineoutcome.data.validate import ValidationReport
from spineoutcome.dictionary import DataDictionary

_DUPLICATE_RULES = ("duplicate_key", "duplicate_record")


@dataclass(frozen=True)
class TableAudit:
    """Join counts of one table against the patient table."""

    table: str
    rows: int
    patients: int
    orphan_patients: int
    orphan_rows: int
    patients_without: int
    duplicate_rows_rejected: int

    def to_dict(self) -> dict[str, int | str]:
        return dict(self.__dict__)


@dataclass(frozen=True)
class JoinAudit:
    """What happened to every patient key when the tables were joined."""

    patients: int
    tables: tuple[TableAudit, ...]
    missingness: pd.DataFrame = field(repr=False)

    def table(self, name: str) -> TableAudit:
        return next(t for t in self.tables if t.table == name)

    def to_dict(self) -> dict[str, object]:
        """JSON-serialisable counts (no patient keys, no values)."""
        return {
            "patients": self.patients,
            "tables": [t.to_dict() for t in self.tables],
            "missingness": [
                {"column": str(r.column), "n_missing": int(r.n_missing), "fraction": float(r.fraction)}
                for r in self.missingness.itertuples(index=False)
            ],
        }


@dataclass(frozen=True)
class Cohort:
    """The assembled cohort: one wide row per patient, the long tables, and the join audit."""

    dictionary: DataDictionary
    wide: pd.DataFrame
    tables: Mapping[str, pd.DataFrame]
    audit: JoinAudit
    validation_flow: list = field(default_factory=list)

    @property
    def key(self) -> str:
        return self.dictionary.key

    def __len__(self) -> int:
        return len(self.wide)


def assemble_cohort(
    tables: Mapping[str, pd.DataFrame],
    dictionary: DataDictionary,
    *,
    prom_wide: pd.DataFrame | None = None,
    reports: Mapping[str, ValidationReport] | None = None,
) -> Cohort:
    """Join validated tables per patient into one wide frame indexed by the patient key.

    ``prom_wide`` holds PROM totals already pivoted to ``<instrument>_<timepoint>`` columns and
    indexed by the patient key (see :func:`spineoutcome.outcomes.proms.pivot_totals`).
    """
    key = dictionary.key
    patient_name = dictionary.patient_table.name
    if patient_name not in tables:
        raise ValueError(f"the patient table {patient_name!r} is required to assemble a cohort")
    wide = tables[patient_name].set_index(key)
    patients = wide.index
    audits = [_audit(patient_name, tables[patient_name], patients, key, reports)]
    for name, frame in tables.items():
        if name == patient_name:
            continue
        audits.append(_audit(name, frame, patients, key, reports))
        if dictionary.table(name).layout == "wide":
            other = frame.set_index(key)
            wide = wide.join(other[[c for c in other.columns if c not in wide.columns]], how="left")
    if prom_wide is not None:
        audits.append(_audit("proms (wide totals)", prom_wide.reset_index(), patients, key, None))
        wide = wide.join(prom_wide[[c for c in prom_wide.columns if c not in wide.columns]], how="left")
    missing = wide.isna().sum()
    missingness = pd.DataFrame(
        {
            "column": missing.index,
            "n_missing": missing.to_numpy(),
            "fraction": (missing / max(len(wide), 1)).to_numpy(),
        }
    )
    audit = JoinAudit(patients=len(patients), tables=tuple(audits), missingness=missingness)
    return Cohort(dictionary=dictionary, wide=wide, tables=dict(tables), audit=audit)


def _audit(
    name: str, frame: pd.DataFrame, patients: pd.Index, key: str, reports: Mapping[str, ValidationReport] | None
) -> TableAudit:
    keys = frame[key]
    present = keys.isin(patients)
    table_patients = pd.Index(keys.unique())
    duplicates = 0
    if reports and name in reports and len(reports[name].rejects):
        rejects = reports[name].rejects
        duplicates = int(rejects.loc[rejects["rule"].isin(_DUPLICATE_RULES), "line"].nunique())
    return TableAudit(
        table=name,
        rows=len(frame),
        patients=int(table_patients.isin(patients).sum()),
        orphan_patients=int((~table_patients.isin(patients)).sum()),
        orphan_rows=int((~present).sum()),
        patients_without=int((~patients.isin(table_patients)).sum()),
        duplicate_rows_rejected=duplicates,
    )
