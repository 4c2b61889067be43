"""Reading hospital exports (CSV/TSV, XLSX, Parquet) whole, as text, with the line each row came from.

:func:`read_export` is :func:`spineoutcome.data.reader.open_export` read to the end: the same rows,
line numbers and row-level faults as the streaming reader that ``score`` uses (see
:mod:`spineoutcome.data.reader` for the rules). Everything is read as strings so that validation,
not the reader, decides what is a number, a date or a missing code.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from spineoutcome.data.reader import (
    SUPPORTED_SUFFIXES,
    ExportReadError,
    detect_delimiter,
    detect_encoding,
    open_export,
)
from spineoutcome.data.textparse import Faults

__all__ = [
    "SUPPORTED_SUFFIXES",
    "ExportReadError",
    "RawExport",
    "detect_delimiter",
    "detect_encoding",
    "find_export",
    "read_column_map",
    "read_export",
]


@dataclass(frozen=True)
class RawExport:
    """An export read as text: columns renamed to dictionary names, one entry in ``lines`` per row.

    ``faults`` lists the records that could not become rows (line, column, value, rule, reason);
    ``blank_lines`` counts the blank lines skipped. Rows read = ``len(frame)`` + faulty records.
    """

    source: str
    frame: pd.DataFrame
    lines: np.ndarray
    encoding: str | None = None
    delimiter: str | None = None
    renamed: Mapping[str, str] | None = None
    faults: pd.DataFrame = field(default_factory=lambda: Faults().frame())
    blank_lines: int = 0
    decimal: str = "."
    sheet: str | None = None
    repeated: tuple[str, ...] = ()

    def __len__(self) -> int:
        return len(self.frame)

    @property
    def rows_read(self) -> int:
        """Data records in the file: rows plus records rejected by the reader."""
        return len(self.frame) + int(self.faults["line"].nunique())


def read_export(
    path: str | Path,
    *,
    column_map: Mapping[str, str] | None = None,
    encoding: str | None = None,
    delimiter: str | None = None,
    decimal: str = ".",
    sheet: str | None = None,
) -> RawExport:
    """Read one export as strings. Encoding and delimiter are detected unless given.

    ``decimal=","`` declares a decimal comma (it is never guessed: "1,5" could be a list).
    ``column_map`` renames export headers to dictionary names (see :func:`read_column_map`);
    ``sheet`` names the workbook sheet (required when several sheets hold data).
    """
    export = open_export(
        path, column_map=column_map, encoding=encoding, delimiter=delimiter, decimal=decimal, sheet=sheet
    )
    chunks = list(export.chunks(None, chunk_size=1 << 62))
    frame = pd.concat([c.frame for c in chunks], ignore_index=True) if len(chunks) > 1 else chunks[0].frame
    lines = np.concatenate([c.lines for c in chunks])
    faults = pd.concat([c.faults for c in chunks], ignore_index=True) if len(chunks) > 1 else chunks[0].faults
    return RawExport(
        str(export.path),
        frame,
        lines,
        export.encoding,
        export.delimiter,
        dict(export.renamed or {}),
        faults,
        export.blank_lines,
        decimal,
        export.sheet,
        export.repeated,
    )


def read_column_map(path: str | Path) -> dict[str, dict[str, str]]:
    """Read a column-mapping YAML: ``{table: {export header: dictionary name}}``.

    A table's ``options`` entry (a mapping: that file's decimal mark, encoding, delimiter or sheet)
    is not a header; :func:`spineoutcome.data.loading.read_file_options` reads it.
    """
    try:
        with Path(path).open(encoding="utf-8") as fh:
            doc = yaml.safe_load(fh) or {}
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise ExportReadError(f"{path}: cannot be read as a column map ({type(exc).__name__})") from None
    if not isinstance(doc, dict) or not all(isinstance(v, dict) for v in doc.values()):
        raise ExportReadError(f"{path}: expected a mapping of table -> {{export header: dictionary name}}")
    return {str(t): {str(k): str(v) for k, v in m.items() if not isinstance(v, dict)} for t, m in doc.items()}


def find_export(directory: str | Path, table: str) -> Path | None:
    """The export file for ``table`` in ``directory`` (``<table>.csv``, ``.tsv``, ``.xlsx``, ...)."""
    for suffix in SUPPORTED_SUFFIXES:
        candidate = Path(directory) / f"{table}{suffix}"
        if candidate.exists():
            return candidate
    return None
