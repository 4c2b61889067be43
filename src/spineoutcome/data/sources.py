"""Reading hospital exports (CSV/TSV, XLSX, Parquet) as text, with the line each row came from.

Everything is read as strings so that validation, not the reader, decides what is a number, a
date or a missing code, and can name the offending value. Each row keeps the line number the user
sees in the file (CSV: physical line, header = line 1, blank lines and quoted line breaks
accounted for; XLSX: the sheet row; Parquet: the 1-based row number + 1 for an implicit header).
"""

from __future__ import annotations

import codecs
import csv
import io
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import yaml
from charset_normalizer import from_bytes

from spineoutcome.errors import SpineoutcomeError

SUPPORTED_SUFFIXES: tuple[str, ...] = (".csv", ".tsv", ".txt", ".xlsx", ".parquet")
_DELIMITERS = ",;\t|"
_SNIFF_BYTES = 1 << 20
# Legacy encodings of hospital exports where UTF-8 fails: Western Windows, Japanese, Korean, Chinese.
_LEGACY_ENCODINGS = ("cp1252", "cp932", "euc_jp", "cp949", "gb18030", "big5")


class ExportReadError(SpineoutcomeError, ValueError):
    """An export could not be read at all (file-level problem)."""


@dataclass(frozen=True)
class RawExport:
    """An export read as text: columns renamed to dictionary names, one entry in ``lines`` per row."""

    source: str
    frame: pd.DataFrame
    lines: np.ndarray
    encoding: str | None = None
    delimiter: str | None = None
    renamed: Mapping[str, str] | None = None

    def __len__(self) -> int:
        return len(self.frame)


def read_export(
    path: str | Path,
    *,
    column_map: Mapping[str, str] | None = None,
    encoding: str | None = None,
    delimiter: str | None = None,
    decimal: str = ".",
    sheet: str | int = 0,
) -> RawExport:
    """Read one export as strings. Encoding and delimiter are detected unless given.

    ``decimal=","`` declares a decimal comma (it is never guessed: "1,5" could be a list).
    ``column_map`` renames export headers to dictionary names (see :func:`read_column_map`).
    """
    path = Path(path)
    if not path.exists():
        raise ExportReadError(f"{path}: file not found")
    suffix = path.suffix.lower()
    if suffix in (".csv", ".tsv", ".txt"):
        raw = _read_text_table(path, encoding, delimiter, decimal)
    elif suffix == ".xlsx":
        frame = pd.read_excel(path, sheet_name=sheet, dtype=object, engine="openpyxl")
        raw = RawExport(str(path), _as_text(frame), np.arange(len(frame)) + 2)
    elif suffix == ".parquet":
        frame = pd.read_parquet(path)
        raw = RawExport(str(path), _as_text(frame), np.arange(len(frame)) + 2)
    else:
        raise ExportReadError(f"{path}: unsupported file type {suffix!r}; use one of {', '.join(SUPPORTED_SUFFIXES)}")
    frame = raw.frame
    frame.columns = [str(c).strip() for c in frame.columns]
    renamed: dict[str, str] = {}
    if column_map:
        renamed = {c: column_map[c] for c in frame.columns if c in column_map}
        frame = frame.rename(columns=renamed)
    duplicated = frame.columns[frame.columns.duplicated()].tolist()
    if duplicated:
        raise ExportReadError(f"{path}: column(s) {sorted(set(duplicated))} appear more than once in the header")
    return RawExport(raw.source, frame, raw.lines, raw.encoding, raw.delimiter, renamed)


def read_column_map(path: str | Path) -> dict[str, dict[str, str]]:
    """Read a column-mapping YAML: ``{table: {export header: dictionary name}}``."""
    with Path(path).open(encoding="utf-8") as fh:
        doc = yaml.safe_load(fh) or {}
    if not isinstance(doc, dict) or not all(isinstance(v, dict) for v in doc.values()):
        raise ExportReadError(f"{path}: expected a mapping of table -> {{export header: dictionary name}}")
    return {str(t): {str(k): str(v) for k, v in m.items()} for t, m in doc.items()}


def find_export(directory: str | Path, table: str) -> Path | None:
    """The export file for ``table`` in ``directory`` (``<table>.csv``, ``.tsv``, ``.xlsx``, ...)."""
    for suffix in SUPPORTED_SUFFIXES:
        candidate = Path(directory) / f"{table}{suffix}"
        if candidate.exists():
            return candidate
    return None


def detect_encoding(sample: bytes) -> str:
    """The text encoding of a sample: UTF-8 (BOM tolerated), else the likeliest legacy encoding.

    Detection on a short file is a guess; pass ``encoding=`` when the hospital knows it.
    """
    if sample.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    try:
        sample.decode("utf-8")
        return "utf-8"
    except UnicodeDecodeError as exc:
        if exc.start > len(sample) - 4:
            return "utf-8"
    best = from_bytes(sample, cp_isolation=list(_LEGACY_ENCODINGS)).best()
    return best.encoding if best is not None else "latin-1"


def detect_delimiter(text_sample: str) -> str:
    """The field delimiter among , ; tab | from the first lines of a text export."""
    lines = [line for line in text_sample.splitlines()[:50] if line.strip()]
    if not lines:
        return ","
    try:
        return csv.Sniffer().sniff("\n".join(lines), delimiters=_DELIMITERS).delimiter
    except csv.Error:
        counts = {d: lines[0].count(d) for d in _DELIMITERS}
        return max(counts, key=lambda d: counts[d]) if max(counts.values()) > 0 else ","


def sniff_text(path: Path, encoding: str | None = None, delimiter: str | None = None) -> tuple[str, str, str]:
    """(encoding, delimiter, sample text without BOM) of a text export: the given values, or detected
    from its first bytes (a UTF-8 BOM makes the encoding ``utf-8-sig``; ``.tsv`` means tab)."""
    with path.open("rb") as fh:
        sample = fh.read(_SNIFF_BYTES)
    encoding = encoding or detect_encoding(sample)
    text = sample.decode(encoding, errors="replace")
    if encoding == "utf-8" and text.startswith("\ufeff"):
        encoding = "utf-8-sig"
    text = text.lstrip("\ufeff")
    if delimiter is None:
        delimiter = "\t" if path.suffix.lower() == ".tsv" else detect_delimiter(text)
    return encoding, delimiter, text


def _read_text_table(path: Path, encoding: str | None, delimiter: str | None, decimal: str) -> RawExport:
    encoding, delimiter, text_sample = sniff_text(path, encoding, delimiter)
    header = next(csv.reader(io.StringIO(text_sample), delimiter=delimiter), [])
    repeated = sorted({h.strip() for h in header if [x.strip() for x in header].count(h.strip()) > 1})
    if repeated:
        raise ExportReadError(f"{path}: column(s) {repeated} appear more than once in the header")
    if decimal == delimiter:
        raise ExportReadError(f"{path}: the decimal mark {decimal!r} cannot also be the delimiter")
    try:
        frame = pd.read_csv(
            path,
            sep=delimiter,
            dtype=str,
            keep_default_na=False,
            na_filter=False,
            encoding=encoding,
            skip_blank_lines=True,
            engine="c",
        )
    except (pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise ExportReadError(f"{path}: cannot be read as a {delimiter!r}-delimited {encoding} text file ({exc})") from None
    if decimal != ".":
        frame.attrs["decimal"] = decimal
    lines = _record_lines(path, encoding, delimiter, len(frame))
    return RawExport(str(path), frame, lines, encoding, delimiter)


def _record_lines(path: Path, encoding: str, delimiter: str, n_rows: int) -> np.ndarray:
    """Physical line number (1-based) on which each data record starts."""
    with path.open("rb") as fh:
        data = fh.read()
    if b'"' not in data:
        breaks = np.flatnonzero(np.frombuffer(data, dtype=np.uint8) == ord("\n"))
        starts = np.concatenate(([0], breaks + 1))
        starts = starts[starts < len(data)]
        ends = np.concatenate((starts[1:] - 1, [len(data)]))
        buffer = np.frombuffer(data + b"\n", dtype=np.uint8)
        blank = (ends == starts) | ((ends - starts == 1) & (buffer[starts] == ord("\r")))
        line_numbers = np.flatnonzero(~blank) + 1
    else:
        reader = csv.reader(io.StringIO(data.decode(encoding)), delimiter=delimiter)
        line_numbers_list: list[int] = []
        start = 1
        for record in reader:
            if any(field.strip() for field in record):
                line_numbers_list.append(start)
            start = reader.line_num + 1
        line_numbers = np.asarray(line_numbers_list)
    records = line_numbers[1:]
    if len(records) != n_rows:
        raise ExportReadError(f"{path}: found {len(records)} records but parsed {n_rows} rows; check quoting")
    return records


def _as_text(frame: pd.DataFrame) -> pd.DataFrame:
    """Cells as strings (missing as ''); dates as ISO; whole floats without a trailing .0."""

    def cell(value: object) -> str:
        if value is None or (isinstance(value, float) and np.isnan(value)) or value is pd.NaT:
            return ""
        if isinstance(value, pd.Timestamp):
            return value.strftime("%Y-%m-%d")
        if hasattr(value, "isoformat") and not isinstance(value, str):
            return value.isoformat()[:10]
        if isinstance(value, float) and value.is_integer():
            return str(int(value))
        return str(value)

    return frame.map(cell).astype(object)
