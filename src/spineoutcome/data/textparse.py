"""Splitting export text into records, one physical line at a time, with row-level faults.

A hospital export is read as bytes, in blocks, and every physical line is classified before any
field is parsed:

- **Line breaks**: ``\\r\\n``, ``\\n`` and a lone ``\\r`` (old Mac and some Excel exports) all end
  a line, as for Python's universal newlines and for spreadsheets; the line numbers a user sees in
  an editor are the ones reported.
- **Blank lines**: a line of nothing but spaces, tabs and delimiters (or a quoted record whose
  every field is empty) holds no data; it is skipped and counted, never a row.
- **Encoding** (:mod:`codecs`, strict): a line that does not decode in the file's encoding is a
  fault (rule ``encoding``), never decoded with replacement characters. Per-line fallback, for
  files detected in a single-byte legacy encoding (cp1252, latin-1): a line that is valid UTF-8
  with multi-byte characters is decoded as UTF-8, because legacy text practically never forms
  valid UTF-8 sequences (the rule of the W3C encoding sniffing algorithm and of Python's
  ``utf-8`` first detection). A line of a legacy-encoded file (single- or multi-byte) whose
  non-ASCII fields read as implausible text (charset_normalizer's mess ratio above
  :data:`MESS_LIMIT`, e.g. Shift-JIS bytes read as cp1252) is a fault too.
- **Control characters** (NUL and the other C0 controls but tab, CR and LF): the line is a fault
  (``control_character``); a NUL would otherwise cut the cell short in C parsers.
- **Quoting** (RFC 4180: ``"`` quotes, ``""`` inside a quoted field): lines holding a quote are
  parsed by the csv module, which follows quoted line breaks; a quoted field still open after
  :data:`MAX_RECORD_LINES` lines or at the end of the file makes its first line a fault
  (``unterminated_quote``) and reading resumes on the next line.
- **Field count**: a record with more or fewer fields than the header is a fault
  (``wrong_field_count``), wherever it is in the file; extra fields that are all empty at the end
  of a record (a trailing delimiter) are ignored.

Lines without quotes or faults, the vast majority, are handed to pandas' C parser in one go with
quoting off, which splits them exactly as ``str.split(delimiter)`` does; the rest are parsed in
Python. Both give the same rows: the tests compare them with the csv module.
"""

from __future__ import annotations

import codecs
import csv
import io
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np
import pandas as pd
from charset_normalizer.md import mess_ratio

MAX_RECORD_LINES = 10_000
MESS_LIMIT = 0.1
_LF, _CR, _QUOTE = 10, 13, 34
_BLANK_BYTES = (9, 11, 12, 32)  # tab, vertical tab, form feed, space
_CONTROL = np.zeros(256, dtype=bool)
_CONTROL[[*range(0, 9), *range(11, 13), *range(14, 32), 127]] = True

FAULT_RULES: dict[str, str] = {
    "wrong_field_count": "the line has more or fewer fields than the header",
    "unterminated_quote": "a quoted field is never closed",
    "encoding": "the line cannot be decoded as text in the file's encoding",
    "control_character": "the line holds a control character (NUL or another C0 control)",
}


@dataclass
class Faults:
    """Records that cannot become rows: line, column ('' = the whole line), rule, reason."""

    lines: list[int] = field(default_factory=list)
    columns: list[str] = field(default_factory=list)
    rules: list[str] = field(default_factory=list)
    reasons: list[str] = field(default_factory=list)

    def add(self, line: int, rule: str, reason: str, column: str = "") -> None:
        """Record one faulty record at ``line`` (1-based, as the user sees it) with its rule and reason."""
        self.lines.append(line)
        self.columns.append(column)
        self.rules.append(rule)
        self.reasons.append(reason)

    def frame(self) -> pd.DataFrame:
        """The faults as reject rows (line, column, value, rule, reason); the value is never echoed."""
        return pd.DataFrame(
            {
                "line": np.asarray(self.lines, dtype=np.int64),
                "column": self.columns,
                "value": [""] * len(self.lines),
                "rule": self.rules,
                "reason": self.reasons,
            }
        )

    def __len__(self) -> int:
        return len(self.lines)


@dataclass(frozen=True)
class Parsed:
    """One block's rows (text, the wanted columns), the line of each, its faults and blank lines."""

    frame: pd.DataFrame
    lines: np.ndarray
    faults: Faults
    blank: int


@dataclass(frozen=True)
class Layout:
    """How to read a text export: its encoding, delimiter and header width."""

    encoding: str
    delimiter: str
    width: int
    columns: Sequence[int]
    names: Sequence[str]
    transcoded: bool = False
    label: str = ""


@lru_cache(maxsize=32)
def single_byte(encoding: str) -> bool:
    """True when every byte of ``encoding`` is one character (cp1252, latin-1; not UTF-8 or Shift-JIS)."""
    try:
        return len(bytes(range(128, 256)).decode(encoding, errors="replace")) == 128 and not codecs.lookup(
            encoding
        ).name.startswith("utf")
    except LookupError:
        return False


def split_lines(data: bytes, *, final: bool) -> tuple[np.ndarray, np.ndarray, int]:
    """(starts, ends, used): content bounds of each physical line and the bytes they span.

    ``ends`` exclude the line terminator. Unless ``final``, the block stops after its last line
    terminator (a ``\\r`` as the very last byte waits for the next block: it may start ``\\r\\n``).
    """
    buffer = np.frombuffer(data, dtype=np.uint8)
    n = len(buffer)
    is_lf = buffer == _LF
    is_cr = buffer == _CR
    next_is_lf = np.zeros(n, dtype=bool)
    next_is_lf[:-1] = is_lf[1:]
    lone_cr = is_cr & ~next_is_lf
    if not final and n and is_cr[-1]:
        lone_cr[-1] = False
    terminators = np.flatnonzero(is_lf | lone_cr)
    ends = terminators.copy()
    crlf = is_lf[terminators] & (terminators > 0)
    crlf[crlf] = is_cr[terminators[crlf] - 1]
    ends[crlf] -= 1
    starts = np.concatenate(([0], terminators + 1)).astype(np.int64)
    if final and starts[-1] < n:
        ends = np.append(ends, n)
        used = n
    else:
        starts = starts[:-1]
        used = int(terminators[-1]) + 1 if len(terminators) else 0
    return starts, ends.astype(np.int64), used


def _counts(mask: np.ndarray, starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
    """How many bytes of each line [start, end) are set in ``mask`` (binary search on their positions)."""
    positions = np.flatnonzero(mask)
    return np.searchsorted(positions, ends) - np.searchsorted(positions, starts)


def plausible(text: str, delimiter: str, cache: dict[str, bool]) -> bool:
    """False when the non-ASCII fields of a line decoded in a legacy encoding read as mojibake."""
    for token in text.split(delimiter):
        if token.isascii():
            continue
        verdict = cache.get(token)
        if verdict is None:
            verdict = cache[token] = mess_ratio(token, maximum_threshold=1.0) <= MESS_LIMIT
        if not verdict:
            return False
    return True


class BlockParser:
    """Parses blocks of a text export's bytes (after its header) into rows and faults."""

    def __init__(self, layout: Layout) -> None:
        self.layout = layout
        self.delimiter_byte = layout.delimiter.encode("ascii")[0]
        self._mess: dict[str, bool] = {}
        self._blank = np.zeros(256, dtype=bool)
        self._blank[[*_BLANK_BYTES, self.delimiter_byte]] = True
        self._all_columns = list(layout.columns) == list(range(layout.width))

    def parse(self, data: bytes, first_line: int, *, final: bool) -> tuple[Parsed, int, int]:
        """Rows of the complete records at the start of ``data``; (parsed, bytes used, lines used).

        The bytes not used (an open quoted record at the end of a block that is not ``final``)
        must be passed again, followed by the next block.
        """
        starts, ends, used = split_lines(data, final=final)
        layout = self.layout
        buffer = np.frombuffer(data, dtype=np.uint8)
        n_lines = len(starts)
        faults = Faults()
        blank = _counts(self._blank[buffer], starts, ends) == ends - starts
        control = _counts(_CONTROL[buffer], starts, ends) > 0
        quoted = _counts(buffer == _QUOTE, starts, ends) > 0
        high = _counts(buffer >= 0x80, starts, ends) > 0
        delimiters = _counts(buffer == self.delimiter_byte, starts, ends)
        texts: dict[int, str] = {}  # decoded lines that need Python (fallback or multi-byte encodings)
        bad: dict[int, tuple[str, str]] = {}
        for i in np.flatnonzero(control & ~blank):
            bad[int(i)] = ("control_character", self._control_reason(data[starts[i] : ends[i]]))
        self._check_encoding(data, starts, ends, np.flatnonzero(high & ~blank & ~control), texts, bad)

        def text(i: int) -> str:
            if i not in texts:
                texts[i] = data[starts[i] : ends[i]].decode(layout.encoding, errors="replace")
            return texts[i]

        consumed = np.zeros(n_lines, dtype=bool)
        rows: list[list[str]] = []
        row_lines: list[int] = []
        blank_count = 0
        stop = n_lines
        quoted_lines = np.flatnonzero(quoted & ~blank)
        batch = self._one_line_records(quoted_lines, text)
        if batch is not None:  # every quoted record closes on its own line: the common case, parsed at once
            consumed[quoted_lines] = True
            for i, record in zip(quoted_lines.tolist(), batch, strict=True):
                if i in bad:
                    faults.add(first_line + i, *bad[i])
                elif all(not f.strip() for f in record):
                    blank_count += 1
                else:
                    self._keep(record, first_line + i, rows, row_lines, faults)
            quoted_lines = quoted_lines[:0]
        for i in quoted_lines.tolist():
            if consumed[i] or i >= stop:
                continue
            record, span, closed = self._quoted_record(i, n_lines, text)
            if not closed and not final and i + span >= n_lines and span < MAX_RECORD_LINES:
                stop = i
                break
            if closed and span > 1 and self._swallows_records(i, span, quoted, delimiters):
                closed, span = False, 1
            consumed[i : i + span if closed else i + 1] = True
            line = first_line + i
            problem = next((bad[j] for j in range(i, i + span) if j in bad), None) if closed else None
            if not closed:
                faults.add(
                    line,
                    "unterminated_quote",
                    "a quoted field opened on this line is not closed (or is "
                    f"followed by text, or runs over whole records) within {min(span, MAX_RECORD_LINES)} "
                    "line(s)",
                )
            elif problem is not None:
                faults.add(line, *problem)
            elif all(not f.strip() for f in record):
                blank_count += 1
            else:
                self._keep(record, line, rows, row_lines, faults)
        lines_used = stop
        if stop < n_lines:
            used = int(starts[stop])
        free = ~consumed
        free[stop:] = False
        blank_count += int(np.sum(blank & free))
        candidates = free & ~blank
        for i, (rule, reason) in sorted(bad.items()):
            if candidates[i]:
                faults.add(first_line + i, rule, reason)
                candidates[i] = False
        python_lines = np.array(sorted(i for i in texts if candidates[i]), dtype=np.int64)
        candidates[python_lines] = False
        for i in python_lines:
            fields = texts[int(i)].split(layout.delimiter)
            self._keep(fields, first_line + int(i), rows, row_lines, faults)
        exact = candidates & (delimiters == layout.width - 1)
        for i in np.flatnonzero(candidates & ~exact):
            self._keep(text(int(i)).split(layout.delimiter), first_line + int(i), rows, row_lines, faults)
        fast = self._fast(data, buffer, starts, ends, exact)
        fast_lines = first_line + np.flatnonzero(exact)
        frame, lines = self._combine(fast, fast_lines, rows, row_lines)
        return Parsed(frame, lines, faults, blank_count), used, lines_used

    def _check_encoding(
        self,
        data: bytes,
        starts: np.ndarray,
        ends: np.ndarray,
        high: np.ndarray,
        texts: dict[int, str],
        bad: dict[int, tuple[str, str]],
    ) -> None:
        layout = self.layout
        if not len(high):
            return
        legacy = single_byte(layout.encoding)
        if not legacy and not layout.transcoded:
            try:
                data[starts[high[0]] : ends[high[-1]]].decode(layout.encoding)
                if layout.encoding.startswith("utf"):
                    return
            except UnicodeDecodeError:
                pass
        for i in high:
            i = int(i)
            raw = data[starts[i] : ends[i]]
            if legacy:
                try:
                    texts[i] = raw.decode("utf-8")
                    continue
                except UnicodeDecodeError:
                    pass
            try:
                decoded = raw.decode(layout.encoding)
            except UnicodeDecodeError as exc:
                bad[i] = ("encoding", f"bytes at position {exc.start + 1} are not valid {layout.encoding}")
                continue
            if layout.transcoded and "\ufffd" in decoded:
                bad[i] = ("encoding", f"characters of this line are not valid {layout.label or layout.encoding}")
            elif not layout.encoding.startswith("utf") and not plausible(decoded, layout.delimiter, self._mess):
                bad[i] = (
                    "encoding",
                    f"the line decodes to implausible text in {layout.encoding} (another "
                    "encoding?); re-export it as UTF-8",
                )
            elif not legacy:
                texts[i] = decoded

    @staticmethod
    def _control_reason(raw: bytes) -> str:
        position = int(np.flatnonzero(_CONTROL[np.frombuffer(raw, dtype=np.uint8)])[0])
        code = raw[position]
        name = "NUL" if code == 0 else f"control character 0x{code:02X}"
        return f"{name} at byte {position + 1} of the line"

    def _one_line_records(self, lines: np.ndarray, text: Callable[[int], str]) -> list[list[str]] | None:
        """The records of ``lines`` when each closes on its own line (csv module, strict); else None."""
        if not len(lines):
            return None
        reader = csv.reader([text(int(i)) + "\n" for i in lines], delimiter=self.layout.delimiter, strict=True)
        records = []
        try:
            for record in reader:
                records.append(record)
                if reader.line_num != len(records):
                    return None
        except csv.Error:
            return None
        return records if len(records) == len(lines) else None

    def _swallows_records(self, i: int, span: int, quoted: np.ndarray, delimiters: np.ndarray) -> bool:
        """True when a quoted field opened on line ``i`` runs over a line that is a whole record by itself.

        Line breaks inside a note rarely leave exactly the header's number of fields and no quote;
        such a line is far likelier a row swallowed by a quote that was never closed.
        """
        inner = slice(i + 1, i + span - 1)
        return bool(np.any(~quoted[inner] & (delimiters[inner] == self.layout.width - 1)))

    def _quoted_record(self, i: int, n_lines: int, text: Callable[[int], str]) -> tuple[list[str], int, bool]:
        """The record starting on line ``i`` (csv module); (fields, lines spanned, closed)."""
        last = min(n_lines, i + MAX_RECORD_LINES)
        span = 0

        def source() -> Iterator[str]:
            nonlocal span
            for j in range(i, last):
                span += 1
                yield text(j) + "\n"

        reader = csv.reader(source(), delimiter=self.layout.delimiter, strict=True)
        try:
            return next(reader, []), reader.line_num, True
        except csv.Error as exc:
            if "unexpected end of data" in str(exc):
                return [], span, False
        # Malformed quoting (text after a closing quote): tolerated on one line, as spreadsheets do;
        # across lines it is taken for a quote that was never closed.
        span = 0
        reader = csv.reader(source(), delimiter=self.layout.delimiter, strict=False)
        try:
            record = next(reader, [])
        except csv.Error:
            return [], 1, False
        if reader.line_num > 1:
            return [], reader.line_num, False
        return record, 1, True

    def _keep(self, fields: list[str], line: int, rows: list[list[str]], row_lines: list[int], faults: Faults) -> None:
        width = self.layout.width
        if len(fields) > width and not any(f.strip() for f in fields[width:]):
            fields = fields[:width]
        if len(fields) != width:
            if all(not f.strip() for f in fields):
                return
            faults.add(line, "wrong_field_count", f"{len(fields)} field(s) where the header has {width}")
            return
        rows.append(fields if self._all_columns else [fields[k] for k in self.layout.columns])
        row_lines.append(line)

    def _fast(
        self, data: bytes, buffer: np.ndarray, starts: np.ndarray, ends: np.ndarray, exact: np.ndarray
    ) -> pd.DataFrame | None:
        """The lines in ``exact`` (no quotes, no faults, the header's width) through pandas' C parser."""
        picked = np.flatnonzero(exact)
        if not len(picked):
            return None
        names = list(range(self.layout.width))
        if (
            len(picked) == len(starts)
            and np.all(ends[:-1] + 1 == starts[1:])
            and int(starts[0]) == 0
            and not np.any(buffer == _CR)
        ):
            payload = data[: int(ends[-1])]
        else:
            edges = np.zeros(len(buffer) + 1, dtype=np.int8)
            edges[starts[picked]] += 1
            edges[ends[picked]] -= 1
            keep = np.cumsum(edges[:-1], dtype=np.int8) > 0
            line_ends = ends[picked]
            keep[line_ends[line_ends < len(buffer)]] = True  # the first byte of each line's terminator
            selected = buffer[keep]
            selected[selected == _CR] = _LF
            payload = selected.tobytes()
        frame = pd.read_csv(
            io.BytesIO(payload),
            sep=self.layout.delimiter,
            header=None,
            names=names,
            usecols=list(self.layout.columns),
            dtype=str,
            keep_default_na=False,
            na_filter=False,
            quoting=csv.QUOTE_NONE,
            encoding=self.layout.encoding,
            skip_blank_lines=False,
            engine="c",
            index_col=False,
        )
        if len(frame) != len(picked):  # pragma: no cover - guarded by the line classification above
            raise AssertionError(f"parsed {len(frame)} rows from {len(picked)} lines")
        order = list(self.layout.columns)
        return frame if list(frame.columns) == order else frame[order]

    def _combine(
        self, fast: pd.DataFrame | None, fast_lines: np.ndarray, rows: list[list[str]], row_lines: list[int]
    ) -> tuple[pd.DataFrame, np.ndarray]:
        names = list(self.layout.names)
        parts, lines = [], []
        if fast is not None:
            fast.columns = names
            parts.append(fast)
            lines.append(fast_lines.astype(np.int64))
        if rows:
            columns = list(zip(*rows, strict=True))
            parts.append(pd.DataFrame({name: np.asarray(columns[k], dtype=object) for k, name in enumerate(names)}))
            lines.append(np.asarray(row_lines, dtype=np.int64))
        if not parts:
            return pd.DataFrame({name: pd.Series(dtype=object) for name in names}), np.empty(0, dtype=np.int64)
        joined = np.concatenate(lines)
        frame = parts[0] if len(parts) == 1 else pd.concat(parts, ignore_index=True)
        if np.all(joined[1:] > joined[:-1]):
            return frame.reset_index(drop=True), joined
        order = np.argsort(joined, kind="stable")  # rows parsed in Python come in the order they were met
        return frame.take(order).reset_index(drop=True), joined[order]
