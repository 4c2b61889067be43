"""The one reader of hospital exports (CSV/TSV/TXT, XLSX, Parquet): text cells, line numbers, faults.

``validate``, ``score``, ``spark-score`` and the Python API all read through :func:`open_export`,
so the same bytes give the same rows, line numbers and problems everywhere. Everything is read as
text so that validation, not the reader, decides what is a number, a date or a missing code.

- **Streaming**: :meth:`ExportFile.chunks` yields :class:`Chunk` objects of at most ``chunk_size``
  rows and only the columns asked for, in bounded memory.
- **Line numbers** are those a user sees: CSV: the physical line on which a record starts
  (header = its own line, blank lines and quoted line breaks counted); XLSX: the sheet row;
  Parquet: the row number + 1 (an implicit header on line 1).
- **Row-level faults stay row-level**: a record that cannot become a row (wrong number of fields,
  unterminated quote, undecodable bytes, a control character, a formula without a saved value)
  is reported in :attr:`Chunk.faults` with its line and rule, and the rest of the file is read
  (:mod:`.textparse`). Blank lines are skipped and counted (:attr:`ExportFile.blank_lines`).
- **File-level refusals** (:class:`ExportReadError`, exit 3 on the command line) only when the
  file cannot be a table: missing, empty, binary, not decodable at all, no header, an unreadable
  workbook or Parquet file, several data sheets and no sheet named. A header naming a column
  twice is recorded (:attr:`ExportFile.repeated`) for the caller, who knows the dictionary, to
  refuse: a header-less file's first row often repeats values, which must not be printed.
"""

from __future__ import annotations

import codecs
import contextlib
import csv
import sys
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from charset_normalizer import from_bytes

from spineoutcome.data.textparse import FAULT_RULES, BlockParser, Faults, Layout, split_lines
from spineoutcome.errors import SpineoutcomeError

SUPPORTED_SUFFIXES: tuple[str, ...] = (".csv", ".tsv", ".txt", ".xlsx", ".parquet")
TEXT_SUFFIXES: tuple[str, ...] = (".csv", ".tsv", ".txt")
BLOCK_BYTES = 1 << 24
READER_RULES: dict[str, str] = {
    **FAULT_RULES,
    "formula_without_value": "a workbook formula without a saved result",
}
_DELIMITERS = ",;\t|"
_SNIFF_BYTES = 1 << 20
# Legacy encodings of hospital exports where UTF-8 fails: Western Windows, Japanese, Korean, Chinese.
_LEGACY_ENCODINGS = ("cp1252", "cp932", "euc_jp", "cp949", "gb18030", "big5")
_MAGIC = {
    b"PK\x03\x04": "a ZIP archive (an Excel workbook saved with a text suffix?)",
    b"PAR1": "a Parquet file",
    b"%PDF": "a PDF document",
    b"\x1f\x8b": "a gzip archive",
    b"\xd0\xcf\x11\xe0": "an old Excel (.xls) workbook",
    b"\x89PNG": "a PNG image",
    b"\xff\xd8\xff": "a JPEG image",
}
_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)
_TEXT_CONTROL = {chr(c) for c in (*range(0, 9), 11, 12, *range(14, 32), 127)}
Piece = tuple[pd.DataFrame, np.ndarray, Faults, int]  # rows, their lines, faults, blank lines skipped


class ExportReadError(SpineoutcomeError, ValueError):
    """An export cannot be read as a table at all (a file-level problem); the message names file and reason."""


@dataclass(frozen=True)
class Chunk:
    """Consecutive rows of an export as text, one line number per row, and the faults met on the way.

    ``faults`` holds the records, between the previous chunk and the end of this one, that could
    not become rows (columns line, column, value, rule, reason); they count as rows read.
    """

    frame: pd.DataFrame
    lines: np.ndarray
    faults: pd.DataFrame = field(default_factory=lambda: Faults().frame())

    def __len__(self) -> int:
        return len(self.frame)


@dataclass
class ReadCounts:
    """What a full pass over an export found besides rows (filled in as chunks are read)."""

    blank_lines: int = 0


@dataclass(frozen=True)
class ExportFile:
    """An export opened for reading: its format, text settings and header (no rows read yet).

    ``columns`` are the header names after stripping and the column map; ``raw`` maps each to its
    position in the record. ``encoding``/``delimiter`` are the text settings (``None`` for XLSX
    and Parquet); ``sheet`` is the workbook sheet read.
    """

    path: Path
    kind: str
    columns: tuple[str, ...]
    raw: Mapping[str, int]
    encoding: str | None = None
    delimiter: str | None = None
    decimal: str = "."
    renamed: Mapping[str, str] | None = None
    sheet: str | None = None
    width: int = 0
    data_offset: int = 0
    first_line: int = 2
    counts: ReadCounts = field(default_factory=ReadCounts)
    block_bytes: int = BLOCK_BYTES
    headers: tuple[str, ...] = ()
    leading_blank: int = 0
    repeated: tuple[str, ...] = ()

    @property
    def blank_lines(self) -> int:
        """Blank lines (and empty sheet rows) skipped so far; complete once every chunk was read."""
        return self.counts.blank_lines

    def chunks(self, columns: Sequence[str] | None = None, chunk_size: int = 50_000) -> Iterator[Chunk]:
        """The rows ``chunk_size`` at a time, keeping only ``columns`` (dictionary names; default all).

        Every chunk but the last has exactly ``chunk_size`` rows; the last carries any faults left.
        """
        if chunk_size < 1:
            raise ValueError("chunk_size must be at least 1")
        wanted = [c for c in dict.fromkeys(columns if columns is not None else self.columns) if c in self.raw]
        self.counts.blank_lines = self.leading_blank
        if self.kind == "text":
            pieces = self._text_pieces(wanted)
        elif self.kind == "parquet":
            pieces = self._parquet_pieces(wanted, chunk_size)
        else:
            pieces = self._xlsx_pieces(wanted, max(chunk_size, 1000))
        yield from _rechunk(pieces, wanted, chunk_size, self.counts)

    def column(self, name: str, chunk_size: int = 200_000) -> Iterator[pd.Series]:
        """One column as text, in pieces (a pass over the patient keys); rows only, no faults."""
        for chunk in self.chunks([name], chunk_size):
            yield chunk.frame[name]

    def _text_pieces(self, wanted: list[str]) -> Iterator[Piece]:
        assert self.encoding is not None and self.delimiter is not None
        transcoded = _transcoding(self.encoding)
        layout = Layout(
            "utf-8" if transcoded or self.encoding == "utf-8-sig" else self.encoding,
            self.delimiter,
            self.width,
            [self.raw[c] for c in wanted],
            wanted,
            transcoded,
            self.encoding,
        )
        parser = BlockParser(layout)
        line = self.first_line
        carry = b""
        with _field_limit(), _byte_blocks(self.path, self.encoding, self.data_offset, self.block_bytes) as blocks:
            block = next(blocks, b"")
            while True:
                following = next(blocks, None)
                data = carry + block
                final = following is None
                if not data:
                    return
                parsed, used, lines_used = parser.parse(data, line, final=final)
                yield parsed.frame, parsed.lines, parsed.faults, parsed.blank
                carry = data[used:]
                line += lines_used
                if final:
                    if carry:
                        block = b""
                        continue
                    return
                block = following

    def _parquet_pieces(self, wanted: list[str], chunk_size: int) -> Iterator[Piece]:
        import pyarrow.parquet as pq

        start = 0
        names = [self.headers[self.raw[c]] for c in wanted]
        try:
            for batch in pq.ParquetFile(self.path).iter_batches(batch_size=chunk_size, columns=names or None):
                text = pd.DataFrame({c: arrow_text(batch.column(name)) for c, name in zip(wanted, names, strict=True)})
                n = batch.num_rows
                yield text, np.arange(start, start + n, dtype=np.int64) + 2, Faults(), 0
                start += n
        except (OSError, ValueError) as exc:  # pyarrow's errors for a damaged file derive from these
            raise ExportReadError(
                f"{self.path}: the Parquet file is damaged after row {start} ({type(exc).__name__})"
            ) from None

    def _xlsx_pieces(self, wanted: list[str], size: int) -> Iterator[Piece]:
        positions = [self.raw[c] for c in wanted]
        rows: list[list[str]] = []
        lines: list[int] = []
        faults = Faults()
        blank = 0
        for line, cells, formulas in _sheet_rows(self.path, self.sheet, self.first_line):
            texts = [cell_text(v) for v in cells]
            if not any(t.strip() for t in texts) and not any(formulas):
                blank += 1
                continue
            problem = _xlsx_problem(texts, formulas, self.width, self.headers)
            if problem is not None:
                faults.add(line, *problem)
            else:
                texts += [""] * (self.width - len(texts))
                rows.append([texts[k] for k in positions])
                lines.append(line)
            if len(rows) >= size:
                yield _frame(rows, wanted), np.asarray(lines, dtype=np.int64), faults, blank
                rows, lines, faults, blank = [], [], Faults(), 0
        yield _frame(rows, wanted), np.asarray(lines, dtype=np.int64), faults, blank


def open_export(
    path: str | Path,
    *,
    column_map: Mapping[str, str] | None = None,
    encoding: str | None = None,
    delimiter: str | None = None,
    decimal: str = ".",
    sheet: str | None = None,
) -> ExportFile:
    """Open an export: detect its text settings (unless given) and read its header, no rows.

    ``decimal`` is ``.`` or ``,`` (a decimal comma is declared, never guessed); ``sheet`` names the
    workbook sheet to read (required when a workbook holds several sheets with data).
    """
    path = Path(path)
    if decimal not in (".", ","):
        raise ExportReadError(f"{path}: the decimal mark must be '.' or ',', not {decimal[:5]!r}")
    if not path.exists():
        raise ExportReadError(f"{path}: file not found")
    if path.is_dir():
        raise ExportReadError(f"{path}: is a folder, not an export file")
    try:
        with path.open("rb") as fh:
            fh.read(1)
    except OSError as exc:
        raise ExportReadError(f"{path}: cannot be opened ({type(exc).__name__}: {exc.strerror})") from None
    suffix = path.suffix.lower()
    if suffix in TEXT_SUFFIXES:
        export = _open_text(path, encoding, delimiter)
        if decimal == export.delimiter:
            raise ExportReadError(f"{path}: the decimal mark {decimal!r} cannot also be the delimiter")
    elif suffix == ".parquet":
        export = _open_parquet(path)
    elif suffix == ".xlsx":
        export = _open_xlsx(path, sheet)
    else:
        raise ExportReadError(f"{path}: unsupported file type {suffix!r}; use one of {', '.join(SUPPORTED_SUFFIXES)}")
    return _with_header(export, column_map, decimal)


def _with_header(export: ExportFile, column_map: Mapping[str, str] | None, decimal: str) -> ExportFile:
    raw: dict[str, int] = {}
    renamed: dict[str, str] = {}
    repeated: set[str] = set()
    for position, name in enumerate(export.headers):
        stripped = name.strip()
        column = (column_map or {}).get(stripped, stripped)
        if column != stripped:
            renamed[stripped] = column
        if column in raw:
            repeated.add(column)
        raw[column] = position
    return ExportFile(
        export.path,
        export.kind,
        tuple(raw),
        raw,
        export.encoding,
        export.delimiter,
        decimal,
        renamed,
        export.sheet,
        export.width,
        export.data_offset,
        export.first_line,
        ReadCounts(),
        export.block_bytes,
        export.headers,
        export.leading_blank,
        tuple(sorted(repeated)),
    )


def repeated_columns_message(export_path: Path | str, repeated: Sequence[str]) -> str:
    """The refusal of a header naming a column twice (shown only once the header is known to be one)."""
    shown = ", ".join(repr(short(c)) for c in repeated[:10])
    return f"{export_path}: column(s) {shown} appear more than once in the header (after the column map)"


def short(text: str, limit: int = 40) -> str:
    """``text`` cut to ``limit`` characters (an ellipsis marks the cut): for anything shown on a console."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


# -- text --------------------------------------------------------------------------------------------


def detect_encoding(sample: bytes) -> str:
    """The text encoding of a sample: a BOM's, UTF-16 by its zero bytes, UTF-8, else the likeliest legacy one.

    Detection on a short file is a guess; pass ``encoding=`` when the hospital knows it. A sample
    that is UTF-8 but for a cut multi-byte character at its very end is UTF-8.
    """
    for bom, name in _BOMS:
        if sample.startswith(bom):
            return name
    head = sample[:4096]
    if len(head) >= 4:
        even, odd = head[0::2].count(0), head[1::2].count(0)
        if odd > 0.3 * len(head) / 2 and even == 0:
            return "utf-16-le"
        if even > 0.3 * len(head) / 2 and odd == 0:
            return "utf-16-be"
    try:
        sample.decode("utf-8")
        return "utf-8"
    except UnicodeDecodeError as exc:
        if exc.start > len(sample) - 4:
            return "utf-8"
    best = from_bytes(sample, cp_isolation=list(_LEGACY_ENCODINGS)).best()
    return best.encoding if best is not None else "cp1252"


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


def _encoding_name(encoding: str) -> str:
    try:
        codecs.lookup(encoding)
    except LookupError:
        raise ExportReadError(f"unknown text encoding {short(encoding)!r}") from None
    return encoding


def _transcoding(encoding: str) -> bool:
    return codecs.lookup(encoding).name.startswith(("utf-16", "utf-32"))


def _decode_sample(sample: bytes, encoding: str) -> str:
    decoder = codecs.getincrementaldecoder(encoding)(errors="replace")
    return decoder.decode(sample).lstrip("\ufeff")


@contextlib.contextmanager
def _byte_blocks(path: Path, encoding: str, offset: int, size: int) -> Iterator[Iterator[bytes]]:
    """Blocks of the file's bytes after ``offset`` (UTF-16/32 transcoded to UTF-8, bad units replaced)."""
    with path.open("rb") as fh:
        if not _transcoding(encoding):
            fh.seek(offset)
            yield iter(lambda: fh.read(size), b"")
            return
        decoder = codecs.getincrementaldecoder(encoding)(errors="replace")

        def transcoded() -> Iterator[bytes]:
            first = True
            for block in iter(lambda: fh.read(size), b""):
                text = decoder.decode(block)
                if first:
                    text, first = text.lstrip("\ufeff"), False
                yield text.encode("utf-8", errors="surrogatepass")
            tail = decoder.decode(b"", final=True)
            if tail:
                yield tail.encode("utf-8", errors="surrogatepass")

        blocks = transcoded()
        skipped = 0
        for block in blocks:  # the header was measured in transcoded bytes
            if skipped + len(block) > offset:
                yield _chain(block[offset - skipped :], blocks)
                return
            skipped += len(block)
        yield iter(())


def _chain(first: bytes, rest: Iterator[bytes]) -> Iterator[bytes]:
    if first:
        yield first
    yield from rest


@contextlib.contextmanager
def _field_limit() -> Iterator[None]:
    """Lift the csv module's 128 KB field limit while reading (a note field may be larger); restore it."""
    previous = csv.field_size_limit()
    csv.field_size_limit(sys.maxsize)
    try:
        yield
    finally:
        csv.field_size_limit(previous)


def _open_text(path: Path, encoding: str | None, delimiter: str | None) -> ExportFile:
    with path.open("rb") as fh:
        sample = fh.read(_SNIFF_BYTES)
        complete = not fh.read(1)
    if not sample:
        raise ExportReadError(f"{path}: the file is empty")
    for magic, what in _MAGIC.items():
        if sample.startswith(magic):
            raise ExportReadError(f"{path}: not a text export: the file is {what}")
    encoding = _encoding_name(encoding) if encoding else detect_encoding(sample)
    transcoded = _transcoding(encoding)
    if transcoded:
        data = _decode_sample(sample, encoding).encode("utf-8", errors="surrogatepass")
    else:
        data = sample[len(codecs.BOM_UTF8) :] if sample.startswith(codecs.BOM_UTF8) else sample
        if not encoding.startswith("utf-8") and sample.count(0) > len(sample) // 100:
            raise ExportReadError(f"{path}: not a text export: it holds binary data (zero bytes)")
    bom = len(sample) - len(data) if not transcoded else 0
    starts, ends, _ = split_lines(data, final=True)
    texts = [data[s:e] for s, e in zip(starts[:200], ends[:200], strict=True)]
    header_index = next((k for k, t in enumerate(texts) if t.strip(b" \t\f\v,;|")), None)
    if header_index is None:
        if len(starts) > 200 and not complete:
            raise ExportReadError(f"{path}: no header line in its first 200 lines")
        raise ExportReadError(f"{path}: the file holds no data (only blank lines)")
    codec = "utf-8" if transcoded or encoding == "utf-8-sig" else encoding
    try:
        first = texts[header_index].decode(codec)
    except UnicodeDecodeError:
        first = "\x00"
    if any(ch in _TEXT_CONTROL for ch in first) or (transcoded and "\ufffd" in first):
        raise ExportReadError(
            f"{path}: not a text export in {encoding}: its first line holds bytes that are not "
            "text (binary data, or pass --encoding)"
        )
    sample_text = data[starts[header_index] :].decode(codec, errors="replace")
    if delimiter is None:
        delimiter = "\t" if path.suffix.lower() == ".tsv" else detect_delimiter(sample_text)
    if len(delimiter) != 1 or delimiter in '"\r\n':
        raise ExportReadError(f"{path}: the delimiter must be one character other than a quote or line break")
    lines = (
        data[s:e].decode(codec, errors="replace") + "\n"
        for s, e in zip(starts[header_index:], ends[header_index:], strict=True)
    )
    with _field_limit():
        reader = csv.reader(lines, delimiter=delimiter)
        header = next(reader, [])
        consumed = reader.line_num
    if header_index + consumed >= len(starts) and not complete:
        raise ExportReadError(f"{path}: the header line is longer than {_SNIFF_BYTES // (1 << 20)} MB")
    header = [h.lstrip("\ufeff") for h in header]
    while header and not header[-1].strip():
        header.pop()
    if not header:
        raise ExportReadError(f"{path}: the file has no header line")
    headers = tuple(h if h.strip() else f"(unnamed column {k + 1})" for k, h in enumerate(header))
    data_index = header_index + consumed
    offset = (int(starts[data_index]) if data_index < len(starts) else len(data)) + bom
    return ExportFile(
        path,
        "text",
        headers,
        {},
        encoding,
        delimiter,
        width=len(header),
        data_offset=offset,
        first_line=data_index + 1,
        headers=headers,
        leading_blank=header_index,
    )


# -- Parquet -----------------------------------------------------------------------------------------


def _open_parquet(path: Path) -> ExportFile:
    import pyarrow.parquet as pq

    try:
        names = [str(n) for n in pq.ParquetFile(path).schema_arrow.names]
    except (OSError, ValueError) as exc:  # pyarrow's errors for a damaged file derive from these
        raise ExportReadError(f"{path}: cannot be read as Parquet ({type(exc).__name__})") from None
    if not names:
        raise ExportReadError(f"{path}: the Parquet file has no columns")
    return ExportFile(path, "parquet", tuple(names), {}, width=len(names), headers=tuple(names))


def arrow_text(values) -> np.ndarray:
    """An Arrow column as export text: null and NaN as '', whole floats without '.0', dates as ISO.

    Nullable integers and booleans keep their values (no ``<NA>``); a timestamp at midnight is a
    date; a timestamp with a time of day keeps it (and fails a date check rather than lose it).
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks()
    kind = values.type
    if pa.types.is_dictionary(kind):
        values = values.dictionary_decode()
        kind = values.type
    if pa.types.is_timestamp(kind):
        midnight = pc.equal(pc.cast(values, pa.int64()), pc.cast(pc.floor_temporal(values, unit="day"), pa.int64()))
        text = pc.if_else(
            midnight, pc.strftime(values, format="%Y-%m-%d"), pc.strftime(values, format="%Y-%m-%d %H:%M:%S")
        )
    elif pa.types.is_binary(kind) or pa.types.is_large_binary(kind):
        text = pa.array(
            [v.decode("utf-8", errors="replace") if v is not None else None for v in values.to_pylist()],
            type=pa.string(),
        )
    elif pa.types.is_nested(kind):
        text = pa.array([None if v is None else str(v) for v in values.to_pylist()], type=pa.string())
    else:
        text = pc.cast(values, pa.string())
    if pa.types.is_floating(kind):
        text = pc.if_else(pc.is_nan(values), pa.scalar(None, pa.string()), text)
    return np.asarray(pc.fill_null(text, "").to_numpy(zero_copy_only=False), dtype=object)


# -- XLSX --------------------------------------------------------------------------------------------


def _workbook(path: Path, *, values: bool):
    import openpyxl

    try:
        return openpyxl.load_workbook(path, read_only=True, data_only=values)
    except Exception as exc:  # noqa: BLE001 - openpyxl raises zipfile, XML and KeyError types for damaged files
        raise ExportReadError(f"{path}: cannot be read as an Excel workbook ({type(exc).__name__})") from None


def _has_data(sheet) -> bool:
    for row in sheet.iter_rows(values_only=True):
        if any(v is not None and str(v).strip() for v in row):
            return True
    return False


def _open_xlsx(path: Path, sheet: str | None) -> ExportFile:
    book = _workbook(path, values=True)
    try:
        names = list(book.sheetnames)
        if sheet is not None:
            if sheet not in names:
                listed = ", ".join(repr(short(n)) for n in names)
                raise ExportReadError(f"{path}: no sheet named {short(sheet)!r}; the workbook's sheets are {listed}")
            chosen = sheet
        else:
            with_data = [n for n in names if _has_data(book[n])]
            if not with_data:
                raise ExportReadError(f"{path}: the workbook holds no data")
            if len(with_data) > 1:
                listed = ", ".join(repr(short(n)) for n in with_data)
                raise ExportReadError(
                    f"{path}: the workbook has {len(with_data)} sheets with data ({listed}); "
                    "name the one to read with --sheet"
                )
            chosen = with_data[0]
        header_line, header = 0, []
        for line, row in enumerate(book[chosen].iter_rows(values_only=True), start=1):
            texts = [cell_text(v) for v in row]
            if any(t.strip() for t in texts):
                header_line, header = line, texts
                break
    except ExportReadError:
        raise
    except Exception as exc:  # noqa: BLE001 - damaged sheet XML
        raise ExportReadError(f"{path}: cannot be read as an Excel workbook ({type(exc).__name__})") from None
    finally:
        book.close()
    while header and not header[-1].strip():
        header.pop()
    if not header:
        raise ExportReadError(f"{path}: sheet {short(chosen)!r} has no header row")
    headers = tuple(h if h.strip() else f"(unnamed column {k + 1})" for k, h in enumerate(header))
    return ExportFile(
        path,
        "xlsx",
        headers,
        {},
        sheet=chosen,
        width=len(headers),
        first_line=header_line + 1,
        headers=headers,
        leading_blank=header_line - 1,
    )


def _sheet_rows(path: Path, sheet: str | None, first: int) -> Iterator[tuple[int, tuple, list[bool]]]:
    """(sheet row, cached values, which cells are formulas without a saved value) from row ``first`` on."""
    values, formulas = _workbook(path, values=True), _workbook(path, values=False)
    try:
        cached = values[sheet].iter_rows(min_row=first, values_only=True)
        written = formulas[sheet].iter_rows(min_row=first, values_only=True)
        for line, (row, source) in enumerate(zip(cached, written, strict=False), start=first):
            unsaved = [
                v is None and isinstance(f, str) and f.startswith("=") for v, f in zip(row, source, strict=False)
            ]
            yield line, row, unsaved
    except ExportReadError:
        raise
    except Exception as exc:  # noqa: BLE001 - damaged sheet XML met while streaming
        raise ExportReadError(f"{path}: the workbook is damaged ({type(exc).__name__})") from None
    finally:
        values.close()
        formulas.close()


def cell_text(value: object) -> str:
    """A workbook cell as export text: '' when empty, whole numbers without '.0', dates as ISO."""
    import datetime as dt

    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        if value.is_integer() and abs(value) < 2**53:
            return str(int(value))
        return repr(value)
    if isinstance(value, dt.datetime):
        return value.date().isoformat() if value.time() == dt.time(0) else value.isoformat(sep=" ")
    if isinstance(value, (dt.date, dt.time)):
        return value.isoformat()
    return str(value)


def _xlsx_problem(
    texts: list[str], unsaved: list[bool], width: int, headers: Sequence[str]
) -> tuple[str, str, str] | None:
    if any(t.strip() for t in texts[width:]) or any(unsaved[width:]):
        return "wrong_field_count", "values in columns without a header", ""
    for k, flag in enumerate(unsaved[:width]):
        if flag:
            return (
                "formula_without_value",
                "a formula without a saved result: open and save the workbook in Excel, or paste values",
                headers[k],
            )
    for k, text in enumerate(texts[:width]):
        if any(ch in _TEXT_CONTROL for ch in text):
            return "control_character", "a cell holds a control character (NUL or another C0 control)", headers[k]
    return None


# -- chunks ------------------------------------------------------------------------------------------


def _frame(rows: list[list[str]], names: list[str]) -> pd.DataFrame:
    if not rows:
        return pd.DataFrame({n: pd.Series(dtype=object) for n in names})
    columns = list(zip(*rows, strict=True))
    return pd.DataFrame({n: np.asarray(columns[k], dtype=object) for k, n in enumerate(names)})


def _rechunk(pieces: Iterator[Piece], names: list[str], size: int, counts: ReadCounts) -> Iterator[Chunk]:
    """Pieces of any size cut and joined into chunks of exactly ``size`` rows (the last: at most)."""
    frames: list[pd.DataFrame] = []
    lines: list[np.ndarray] = []
    faults: list[pd.DataFrame] = []
    held = 0
    yielded = False
    for frame, piece_lines, piece_faults, blank in pieces:
        counts.blank_lines += blank
        if len(piece_faults):
            faults.append(piece_faults.frame())
        start = 0
        while start < len(frame):
            take = min(size - held, len(frame) - start)
            frames.append(frame.iloc[start : start + take])
            lines.append(piece_lines[start : start + take])
            held += take
            start += take
            if held == size:
                yield _chunk(frames, lines, faults, names)
                frames, lines, faults, held, yielded = [], [], [], 0, True
    if held or faults or not yielded:
        yield _chunk(frames, lines, faults, names)


def _chunk(frames: list[pd.DataFrame], lines: list[np.ndarray], faults: list[pd.DataFrame], names: list[str]) -> Chunk:
    if frames:
        frame = frames[0].reset_index(drop=True) if len(frames) == 1 else pd.concat(frames, ignore_index=True)
        line_numbers = np.concatenate(lines).astype(np.int64)
    else:
        frame = _frame([], names)
        line_numbers = np.empty(0, dtype=np.int64)
    fault_frame = pd.concat(faults, ignore_index=True) if faults else Faults().frame()
    return Chunk(frame if list(frame.columns) == names else frame[names], line_numbers, fault_frame)
