"""Streaming an export in chunks, as text, with the line each row came from.

The same rules as :func:`spineoutcome.data.read_export` (encoding and delimiter detected unless
given, decimal comma declared, headers stripped and renamed by a column map, every cell read as
text), but in bounded memory: a CSV/TSV is read ``chunk_size`` rows at a time and only the columns
asked for are kept; Parquet is read by record batches; an XLSX sheet (at most 1,048,576 rows by
the format) is read whole and cut into chunks.

Line numbers are those a user sees in the file: the physical line on which a record starts
(header = line 1; blank and whitespace-only lines skipped, as pandas skips them; line breaks
inside quoted fields accounted for). They are computed by a second, streaming pass over the bytes
that runs alongside the parser, so they stay right across chunk boundaries. For XLSX and Parquet
the line is the sheet row / the 1-based row number + 1 (an implicit header).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from spineoutcome.data.sources import (
    SUPPORTED_SUFFIXES,
    ExportReadError,
    read_export,
    sniff_text,
)

TEXT_SUFFIXES = (".csv", ".tsv", ".txt")
_BLOCK_BYTES = 1 << 24
# Characters pandas treats as blank on a line of their own (a line holding only these is skipped).
_BLANK_BYTES = b" \t\r\f\v"


@dataclass(frozen=True)
class Chunk:
    """Consecutive rows of an export as text: dictionary column names, one line number per row."""

    frame: pd.DataFrame
    lines: np.ndarray

    def __len__(self) -> int:
        return len(self.frame)


@dataclass(frozen=True)
class ExportFile:
    """An export opened for streaming: its format, the detected text settings and its header.

    ``columns`` are the header names after stripping and the column map; ``raw`` maps each back
    to the header as written in the file.
    """

    path: Path
    kind: str
    columns: tuple[str, ...]
    raw: Mapping[str, str]
    encoding: str | None = None
    delimiter: str | None = None
    decimal: str = "."
    renamed: Mapping[str, str] | None = None
    sheet: str | int = 0

    def chunks(self, columns: Sequence[str], chunk_size: int = 50_000) -> Iterator[Chunk]:
        """The export ``chunk_size`` rows at a time, keeping only ``columns`` (dictionary names)."""
        if chunk_size < 1:
            raise ValueError("chunk_size must be at least 1")
        wanted = [c for c in dict.fromkeys(columns) if c in self.raw]
        if self.kind == "text":
            yield from self._text_chunks(wanted, chunk_size)
        elif self.kind == "parquet":
            yield from self._parquet_chunks(wanted, chunk_size)
        else:
            whole = read_export(self.path, column_map=self.renamed, sheet=self.sheet)
            frame = whole.frame[wanted]
            for start in range(0, len(frame), chunk_size):
                part = frame.iloc[start:start + chunk_size].reset_index(drop=True)
                yield Chunk(part, np.asarray(whole.lines[start:start + chunk_size]))

    def column(self, name: str, chunk_size: int = 200_000) -> Iterator[pd.Series]:
        """One column as text, in pieces, without line numbers (for a pass over the patient keys)."""
        if self.kind != "text":
            for chunk in self.chunks([name], chunk_size):
                yield chunk.frame[name]
            return
        raw_name = self.raw[name]
        reader = pd.read_csv(self.path, sep=self.delimiter, dtype=str, keep_default_na=False, na_filter=False,
                             encoding=self.encoding, skip_blank_lines=True, engine="c", chunksize=chunk_size,
                             usecols=lambda header: header == raw_name)
        try:
            for part in reader:
                yield part[raw_name].fillna("")
        except (pd.errors.ParserError, UnicodeDecodeError) as exc:
            raise ExportReadError(f"{self.path}: cannot be read as a {self.delimiter!r}-delimited {self.encoding} "
                                  f"text file ({type(exc).__name__})") from None

    def _text_chunks(self, wanted: list[str], chunk_size: int) -> Iterator[Chunk]:
        raw_names = {self.raw[c]: c for c in wanted}
        reader = pd.read_csv(
            self.path, sep=self.delimiter, dtype=str, keep_default_na=False, na_filter=False,
            encoding=self.encoding, skip_blank_lines=True, engine="c", chunksize=chunk_size,
            usecols=lambda name: name in raw_names,
        )
        lines = _LineFeed(record_lines(self.path, self.encoding or "utf-8", self.delimiter or ","))
        try:
            for part in reader:
                part = part.rename(columns=raw_names)[wanted].fillna("")
                yield Chunk(part.reset_index(drop=True), lines.take(len(part), self.path))
        except (pd.errors.ParserError, UnicodeDecodeError) as exc:
            raise ExportReadError(f"{self.path}: cannot be read as a {self.delimiter!r}-delimited {self.encoding} "
                                  f"text file ({type(exc).__name__})") from None
        lines.finish(self.path)

    def _parquet_chunks(self, wanted: list[str], chunk_size: int) -> Iterator[Chunk]:
        import pyarrow.parquet as pq

        raw_names = [self.raw[c] for c in wanted]
        start = 0
        for batch in pq.ParquetFile(self.path).iter_batches(batch_size=chunk_size, columns=raw_names):
            frame = batch.to_pandas()
            frame.columns = wanted
            text = pd.DataFrame({c: as_text(frame[c]) for c in wanted})
            yield Chunk(text, np.arange(start, start + len(text)) + 2)
            start += len(text)


def open_export(path: str | Path, *, column_map: Mapping[str, str] | None = None, encoding: str | None = None,
                delimiter: str | None = None, decimal: str = ".", sheet: str | int = 0) -> ExportFile:
    """Open an export for streaming: detect its text settings and read its header (no rows)."""
    path = Path(path)
    if not path.exists():
        raise ExportReadError(f"{path}: file not found")
    suffix = path.suffix.lower()
    if suffix in TEXT_SUFFIXES:
        encoding, delimiter, text = sniff_text(path, encoding, delimiter)
        if decimal == delimiter:
            raise ExportReadError(f"{path}: the decimal mark {decimal!r} cannot also be the delimiter")
        header = next(csv.reader(io.StringIO(text), delimiter=delimiter), [])
        kind = "text"
    elif suffix == ".parquet":
        import pyarrow.parquet as pq

        try:
            header = list(pq.ParquetFile(path).schema_arrow.names)
        except (OSError, ValueError) as exc:  # pyarrow's errors for a damaged file derive from these
            raise ExportReadError(f"{path}: cannot be read as Parquet ({type(exc).__name__})") from None
        kind = "parquet"
    elif suffix == ".xlsx":
        header = [str(c) for c in pd.read_excel(path, sheet_name=sheet, nrows=0, engine="openpyxl").columns]
        kind = "xlsx"
    else:
        raise ExportReadError(f"{path}: unsupported file type {suffix!r}; use one of {', '.join(SUPPORTED_SUFFIXES)}")
    if not [h for h in header if str(h).strip()]:
        raise ExportReadError(f"{path}: the file has no header line")
    raw: dict[str, str] = {}
    renamed: dict[str, str] = {}
    repeated: set[str] = set()
    for name in header:
        stripped = str(name).strip()
        column = (column_map or {}).get(stripped, stripped)
        if column != stripped:
            renamed[stripped] = column
        if column in raw:
            repeated.add(column)
        raw[column] = name
    if repeated:
        raise ExportReadError(f"{path}: column(s) {sorted(repeated)} appear more than once in the header "
                              "(after the column map)")
    return ExportFile(path, kind, tuple(raw), raw, encoding if kind == "text" else None,
                      delimiter if kind == "text" else None, decimal, renamed, sheet)


def as_text(values: pd.Series) -> pd.Series:
    """Typed values (Parquet) as export text: missing as '', whole floats without '.0', dates as ISO."""
    present = values.notna().to_numpy()
    out = np.full(len(values), "", dtype=object)
    if pd.api.types.is_datetime64_any_dtype(values):
        out[present] = values[present].dt.strftime("%Y-%m-%d").to_numpy()
    elif pd.api.types.is_bool_dtype(values):
        out[present] = np.where(values[present].to_numpy(dtype=bool), "true", "false")
    elif pd.api.types.is_float_dtype(values):
        numbers = values[present].to_numpy(dtype=float)
        whole = np.isfinite(numbers) & (numbers == np.round(numbers)) & (np.abs(numbers) < 2**53)
        text = numbers.astype(str).astype(object)
        text[whole] = numbers[whole].astype(np.int64).astype(str)
        out[present] = text
    else:
        out[present] = values[present].astype(str).to_numpy()
    return pd.Series(out, index=values.index, dtype=object)


def record_lines(path: Path, encoding: str, delimiter: str) -> Iterator[np.ndarray]:
    """Physical line numbers (1-based) on which data records start, in blocks, header excluded.

    A line of nothing but blanks (spaces, tabs other than the delimiter, a carriage return) is
    not a record, as for pandas. Files without a double quote are scanned as bytes (vectorised);
    with quotes, the csv module follows quoted line breaks.
    """
    blanks = bytes(b for b in _BLANK_BYTES if b != ord(delimiter)) if len(delimiter) == 1 else _BLANK_BYTES
    header_seen = False
    source = _quoted_record_lines(path, encoding, delimiter, blanks) if _has_quotes(path) \
        else _plain_record_lines(path, blanks)
    for block in source:
        if not header_seen and len(block):
            block, header_seen = block[1:], True
        if len(block):
            yield block


def _has_quotes(path: Path) -> bool:
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(_BLOCK_BYTES), b""):
            if b'"' in block:
                return True
    return False


def _plain_record_lines(path: Path, blanks: bytes) -> Iterator[np.ndarray]:
    """Non-blank physical lines of a file without quotes, by newline positions (numpy, streaming).

    A line is blank when every byte is a blank; only lines that start with a blank byte (rare)
    are looked at byte by byte.
    """
    is_blank = np.zeros(256, dtype=bool)
    is_blank[list(blanks)] = True
    carry = b""
    first_line = 1
    with path.open("rb") as fh:
        while True:
            block = fh.read(_BLOCK_BYTES)
            data = carry + block
            if not data:
                return
            buffer = np.frombuffer(data, dtype=np.uint8)
            breaks = np.flatnonzero(buffer == ord("\n"))
            if block:
                ends = breaks
                cut = int(breaks[-1]) + 1 if len(breaks) else 0
            else:  # end of file: the last line may have no newline
                ends = np.append(breaks, len(data))
                cut = len(data)
            if len(ends):
                starts = np.concatenate(([0], ends[:-1] + 1))
                empty = ends == starts
                suspect = ~empty & is_blank[buffer[np.minimum(starts, len(buffer) - 1)]]
                nonblank = ~empty & ~suspect
                for k in np.flatnonzero(suspect):
                    nonblank[k] = bool(data[starts[k]:ends[k]].strip(blanks))
                yield first_line + np.flatnonzero(nonblank)
                first_line += len(ends)
            carry = data[cut:]
            if not block:
                return


def _quoted_record_lines(path: Path, encoding: str, delimiter: str, blanks: bytes) -> Iterator[np.ndarray]:
    """Record start lines of a file with quotes (csv module; quoted fields may span lines)."""
    blank_chars = blanks.decode("ascii")
    out: list[int] = []
    with path.open(encoding=encoding, newline="") as fh:
        reader = csv.reader(fh, delimiter=delimiter)
        start = 1
        for record in reader:
            if record and not (len(record) == 1 and not record[0].strip(blank_chars)):
                out.append(start)
            start = reader.line_num + 1
            if len(out) >= 100_000:
                yield np.asarray(out)
                out = []
    yield np.asarray(out, dtype=np.int64)


class _LineFeed:
    """Hands out the next n record line numbers from a stream of blocks."""

    def __init__(self, blocks: Iterator[np.ndarray]) -> None:
        self._blocks = blocks
        self._buffer = np.empty(0, dtype=np.int64)

    def take(self, n: int, path: Path) -> np.ndarray:
        parts = [self._buffer]
        have = len(self._buffer)
        while have < n:
            block = next(self._blocks, None)
            if block is None:
                raise ExportReadError(f"{path}: parsed more rows than records were found; check quoting")
            parts.append(block)
            have += len(block)
        joined = np.concatenate(parts) if len(parts) > 1 else self._buffer
        self._buffer = joined[n:]
        return joined[:n]

    def finish(self, path: Path) -> None:
        left = len(self._buffer) + sum(len(b) for b in self._blocks)
        if left:
            raise ExportReadError(f"{path}: found {left} more record(s) than rows parsed; check quoting")
