"""Load every export of a data directory, validated, keyed by dictionary table name.

Files in one folder may differ (one written by a German system with a decimal comma, another by
an English one): the column-map file gives each table, next to its header renames, an
``options`` entry with that file's ``decimal``, ``encoding``, ``delimiter`` or ``sheet``::

    clinical:
      PatNr: patient_id
      options: {decimal: ",", encoding: cp1252}
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import yaml

from spineoutcome.data.sources import ExportReadError, find_export, read_column_map, read_export
from spineoutcome.data.validate import ValidationReport, validate_export
from spineoutcome.dictionary import DataDictionary

DECIMAL_MARKS = (".", ",")
FILE_OPTIONS = ("decimal", "encoding", "delimiter", "sheet")


def read_file_options(path: str | Path | None) -> dict[str, dict[str, str]]:
    """Per-table reading options from a column-map YAML (each table's ``options`` entry), checked."""
    if path is None:
        return {}
    read_column_map(path)  # the file's shape is checked there
    with Path(path).open(encoding="utf-8") as fh:
        doc = yaml.safe_load(fh) or {}
    out: dict[str, dict[str, str]] = {}
    for table, entry in doc.items() if isinstance(doc, dict) else ():
        options = entry.get("options") if isinstance(entry, dict) else None
        if options is None:
            continue
        if not isinstance(options, dict) or set(map(str, options)) - set(FILE_OPTIONS):
            raise ExportReadError(f"{path}: {table}.options may set only {', '.join(FILE_OPTIONS)}")
        out[str(table)] = {str(k): str(v) for k, v in options.items()}
        if out[str(table)].get("decimal", ".") not in DECIMAL_MARKS:
            raise ExportReadError(f"{path}: {table}.options.decimal must be '.' or ','")
    return out


@dataclass(frozen=True)
class LoadedTables:
    """Validated tables of one data directory, and the validation report of each."""

    tables: Mapping[str, pd.DataFrame]
    reports: Mapping[str, ValidationReport]
    missing_tables: tuple[str, ...]

    def __getitem__(self, name: str) -> pd.DataFrame:
        return self.tables[name]

    def __contains__(self, name: object) -> bool:
        return name in self.tables

    def summary(self) -> dict[str, object]:
        """Per-table counts (no row-level data)."""
        return {
            "tables": {n: r.summary() for n, r in self.reports.items()},
            "missing_tables": list(self.missing_tables),
        }


def load_tables(
    data_dir: str | Path,
    dictionary: DataDictionary | None = None,
    *,
    column_map: str | Path | Mapping[str, Mapping[str, str]] | None = None,
    decimal: str = ".",
    encoding: str | None = None,
    tables: list[str] | None = None,
    sheet: str | None = None,
) -> LoadedTables:
    """Read and validate ``<table>.csv|.tsv|.xlsx|.parquet`` for each dictionary table found in ``data_dir``.

    The patient table (role ``centre``) must be present; other tables are optional and listed in
    ``missing_tables`` when absent. Invalid rows are kept out of ``tables`` and listed in the
    reports' rejects.
    """
    dictionary = dictionary or DataDictionary.load()
    if decimal not in DECIMAL_MARKS:
        raise ExportReadError(f"the decimal mark must be '.' or ',', not {decimal[:5]!r}")
    mapping = read_column_map(column_map) if isinstance(column_map, (str, Path)) else (column_map or {})
    per_file = read_file_options(column_map) if isinstance(column_map, (str, Path)) else {}
    reports: dict[str, ValidationReport] = {}
    missing: list[str] = []
    for name in tables or list(dictionary.tables):
        path = find_export(data_dir, name)
        if path is None:
            missing.append(name)
            continue
        options: dict[str, str | None] = {"decimal": decimal, "encoding": encoding, "sheet": sheet}
        options |= per_file.get(name, {})
        raw = read_export(path, column_map=mapping.get(name), **options)
        reports[name] = validate_export(raw, name, dictionary)
    patient_table = dictionary.patient_table.name
    if patient_table in missing:
        raise ExportReadError(
            f"{data_dir}: no export for the patient table {patient_table!r} "
            f"(expected {patient_table}.csv, .tsv, .xlsx or .parquet)"
        )
    return LoadedTables({n: r.clean for n, r in reports.items()}, reports, tuple(missing))
