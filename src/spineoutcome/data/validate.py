"""Validation of an export against the data dictionary: every problem at once, no row lost.

The reader (:mod:`spineoutcome.data.reader`) has already set aside, each with its rule, the records
that cannot be rows (wrong field count, unterminated quote, encoding, control character, formula
without a value); they are rejects like any other. Then two passes. Parsing turns text into the
dictionary's dtypes and records every value that cannot be parsed (not a number, not a whole
number, not yes/no, not a date in the declared format). Then a pandera schema generated from the
dictionary checks, lazily, ranges, categories, required values and key uniqueness. Each problem
becomes one reject record (line, patient key, column, value, rule, reason); a row with any problem
is rejected whole, so rows in = clean + rejected.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import pandera.pandas as pa
from pandera.errors import SchemaErrors

from spineoutcome.data.reader import READER_RULES, repeated_columns_message, short
from spineoutcome.data.sources import RawExport
from spineoutcome.dictionary import DataDictionary, Table, Variable

REJECT_COLUMNS = ("source", "line", "column", "value", "rule", "reason")

RULES: dict[str, str] = {
    "missing_column": "a required column is missing from the export; the file is refused",
    "missing_value": "a value is required here",
    "not_a_number": "not a number",
    "not_a_whole_number": "not a whole number",
    "not_a_boolean": "not a yes/no value",
    "not_a_date": "not a date in the dictionary's format",
    "unknown_category": "not one of the allowed categories",
    "out_of_range": "outside the allowed range",
    "duplicate_key": "patient key appears on more than one row",
    "duplicate_record": "the same record appears on more than one row",
    "unknown_item": "not an item of this instrument",
    "instrument_range": "outside the range of this instrument or item",
    "no_header": "the first line holds none of the table's column names; the file is refused",
    "repeated_column": "a column appears more than once in the header; the file is refused",
    **READER_RULES,
}
SHOWN_CHARACTERS = 40


@dataclass(frozen=True)
class ValidationReport:
    """Outcome of validating one export: typed clean rows, rejects, and the counts that tie them."""

    table: str
    source: str
    clean: pd.DataFrame
    clean_lines: np.ndarray
    rejects: pd.DataFrame
    rows_in: int
    notes: tuple[str, ...] = ()
    fatal: tuple[str, ...] = ()
    key: str = field(default="")
    blank_lines: int = 0
    hidden: tuple[str, ...] = ()

    @property
    def rows_clean(self) -> int:
        return len(self.clean)

    @property
    def rows_rejected(self) -> int:
        return int(self.rejects["line"].nunique()) if len(self.rejects) else 0

    @property
    def ok(self) -> bool:
        return not self.fatal and self.rows_rejected == 0

    def problems_by_rule(self) -> dict[str, int]:
        """Number of problems per rule (counts only: safe to log)."""
        if not len(self.rejects):
            return {}
        return {str(k): int(v) for k, v in self.rejects["rule"].value_counts().sort_index().items()}

    def summary(self) -> dict[str, object]:
        """Counts for logs, MLflow and the participant flow; never row-level values."""
        return {
            "table": self.table,
            "rows_in": self.rows_in,
            "rows_clean": self.rows_clean,
            "rows_rejected": self.rows_rejected,
            "blank_lines_skipped": self.blank_lines,
            "problems_by_rule": self.problems_by_rule(),
            "fatal": list(self.fatal),
            "notes": list(self.notes),
        }

    def messages(self, limit: int | None = None) -> list[str]:
        """Problem lines for a console: file, line, column, value and rule, nothing identifying.

        A value is shown only when it is not from the key or an identifying column, is not a
        patient key typed elsewhere, and the problem is not about the whole line; it is cut to
        :data:`SHOWN_CHARACTERS` characters.
        """
        rows = self.rejects if limit is None else self.rejects.head(limit)
        keys: set[str] | None = None
        out = []
        for rec in rows.itertuples(index=False):
            column = short(str(rec.column), SHOWN_CHARACTERS)
            value = "" if rec.value is None or rec.value != rec.value else str(rec.value)
            if rec.rule in READER_RULES and not rec.column:
                shown = "(the line is not shown)"
            elif rec.column == self.key or rec.column in self.hidden:
                shown = "<identifying value hidden>"
            else:
                if keys is None:
                    keys = self._keys()
                shown = "<a patient key: hidden>" if value.strip() in keys else repr(short(value, SHOWN_CHARACTERS))
            where = f"column {column!r}" if rec.column else "whole line"
            out.append(f"{rec.source}, line {rec.line}, {where}: value {shown} - {rec.reason} (rule: {rec.rule})")
        return out

    def _keys(self) -> set[str]:
        parts = [frame[self.key].astype(str).str.strip() for frame in (self.clean, self.rejects) if self.key in frame]
        return (set(pd.concat(parts).tolist()) if parts else set()) - {""}


def build_schema(table: Table, dictionary: DataDictionary, columns: list[str] | None = None) -> pa.DataFrameSchema:
    """The pandera schema of a parsed table: ranges, categories, required values, uniqueness.

    Dtypes are enforced by parsing beforehand (which names unparseable values), so the schema
    checks values only. ``columns`` adds pattern-family columns present in the export.
    """
    cols: dict[str, pa.Column] = {}
    for var in table.variables:
        cols[var.name] = _column_schema(var, unique=table.unique_key and var.role == "key", required=var.required)
    for col in columns or []:
        if col not in cols:
            var = table.match(col)
            if var is not None:
                cols[col] = _column_schema(var, unique=False, required=False)
    unique = list(table.unique_together) or None
    return pa.DataFrameSchema(cols, unique=unique, report_duplicates="all", name=table.name)


def validate_export(raw: RawExport, table: Table | str, dictionary: DataDictionary) -> ValidationReport:
    """Validate one export read by :func:`~spineoutcome.data.sources.read_export`.

    Rows in = rows read + records the reader rejected; each ends in exactly one of clean or rejects.
    """
    table = dictionary.table(table) if isinstance(table, str) else table
    frame = raw.frame
    key = dictionary.key
    lines = np.asarray(raw.lines)
    if dictionary.line_number_key and key not in frame.columns:
        frame = frame.assign(**{key: lines.astype(str)})
    faults = _fault_records(raw, key)
    rows_in = raw.rows_read
    hidden = tuple(v.name for v in table.variables if v.identifying)
    known = [c for c in frame.columns if table.match(c) is not None]
    missing = [c for c in table.required if c not in frame.columns]
    if missing or raw.repeated:
        if not known:
            rule = "no_header"
            reason = (
                f"the first line holds none of the columns of table {table.name!r}; is the header line missing? "
                "(the line is not shown: it may hold patient data)"
            )
            notes: list[str] = []
        elif raw.repeated:
            rule = "repeated_column"
            reason = repeated_columns_message(raw.source, raw.repeated).removeprefix(f"{raw.source}: ")
            notes = []
        else:
            rule = "missing_column"
            shown = ", ".join(repr(short(c)) for c in missing[:10]) + (" ..." if len(missing) > 10 else "")
            reason = f"required column(s) {shown} missing from the export"
            notes = _column_notes(frame.columns, table, dictionary)
        rejects = pd.DataFrame(
            {
                "source": raw.source,
                "line": lines,
                key: frame[key].to_numpy() if key in frame else "",
                "column": missing[0] if missing else raw.repeated[0],
                "value": "",
                "rule": rule,
                "reason": reason,
            }
        )
        rejects = _order(pd.concat([rejects, faults], ignore_index=True), key)
        return ValidationReport(
            table.name,
            raw.source,
            frame.iloc[0:0],
            lines[:0],
            rejects,
            rows_in,
            tuple(notes),
            (f"{raw.source}: {reason}",),
            key,
            raw.blank_lines,
            hidden,
        )

    notes = _column_notes(frame.columns, table, dictionary)
    parsed, problems = _parse(frame[known], table, dictionary, decimal=raw.decimal)
    problems += _schema_problems(parsed, table, dictionary, already=problems)
    if table.has_role("instrument"):
        problems += _instrument_problems(parsed, table, dictionary)

    positions = np.concatenate([p[0] for p in problems]) if problems else np.array([], dtype=int)
    bad = np.zeros(len(frame), dtype=bool)
    bad[positions] = True
    rejects = _reject_records(problems, frame, lines, raw.source, key)
    if len(faults):
        rejects = _order(pd.concat([rejects, faults], ignore_index=True), key)
    clean = _as_categories(parsed.loc[~bad].reset_index(drop=True), table)
    return ValidationReport(
        table.name, raw.source, clean, lines[~bad], rejects, rows_in, tuple(notes), (), key, raw.blank_lines, hidden
    )


def _fault_records(raw: RawExport, key: str) -> pd.DataFrame:
    faults = raw.faults
    return pd.DataFrame(
        {
            "source": raw.source,
            "line": faults["line"].to_numpy(dtype=np.int64),
            key: "",
            **{c: faults[c].to_numpy(dtype=object) for c in ("column", "value", "rule", "reason")},
        }
    )


Problem = tuple[np.ndarray, str, str, str]


def _column_schema(var: Variable, *, unique: bool, required: bool) -> pa.Column:
    checks: list[pa.Check] = []
    if var.range is not None and var.dtype in ("float", "int"):
        checks.append(pa.Check.in_range(var.range[0], var.range[1]))
    if var.categories is not None:
        checks.append(pa.Check.isin(list(var.categories)))
    return pa.Column(None, checks=checks, nullable=var.nullable, unique=unique, required=required)


def _as_categories(frame: pd.DataFrame, table: Table) -> pd.DataFrame:
    for col in frame.columns:
        var = table.match(col)
        if var is not None and var.dtype == "category":
            frame[col] = pd.Categorical(frame[col], categories=list(var.categories or ()), ordered=var.ordered)
    return frame


def _column_notes(columns: pd.Index, table: Table, dictionary: DataDictionary) -> list[str]:
    """Notes on header columns the table does not read (names cut to 40 characters; never a data row)."""
    notes = []
    for col in columns:
        if table.match(col) is not None:
            continue
        name = short(str(col), SHOWN_CHARACTERS)
        try:
            var = dictionary.variable(col)
        except KeyError:
            notes.append(f"column {name!r} is not in the data dictionary for table {table.name!r}; it is ignored")
            continue
        if not var.preoperative:
            notes.append(
                f"column {name!r} is a post-operative variable (table {var.table!r}); it is ignored here "
                "and can never be a predictor (leakage guard)"
            )
        else:
            notes.append(f"column {name!r} belongs to table {var.table!r}, not {table.name!r}; it is ignored")
    return notes


def _parse(
    frame: pd.DataFrame, table: Table, dictionary: DataDictionary, decimal: str
) -> tuple[pd.DataFrame, list[Problem]]:
    """Text to the dictionary's dtypes; each variable's own missing codes mean missing.

    Numbers must be finite; a whole number beyond 2**53 cannot be held exactly and is out of range.
    """
    truthy = {v.lower() for v in dictionary.true_values}
    falsy = {v.lower() for v in dictionary.false_values}
    out: dict[str, pd.Series] = {}
    problems: list[Problem] = []
    for col in frame.columns:
        var = table.match(col)
        assert var is not None
        text = frame[col].astype(str).str.strip()
        is_missing = text.isin(set(var.missing_codes)).to_numpy()
        values = text.where(~is_missing)
        if var.dtype in ("float", "int"):
            numeric_text = values.str.replace(decimal, ".", regex=False) if decimal != "." else values
            numbers = pd.to_numeric(numeric_text, errors="coerce").astype("float64")
            unparsed = ~np.isfinite(numbers.to_numpy()) & ~is_missing
            numbers[unparsed] = np.nan
            problems.append((np.flatnonzero(unparsed), col, "not_a_number", RULES["not_a_number"]))
            if var.dtype == "int":
                huge = (numbers.abs() >= 2.0**53).to_numpy()
                problems.append(
                    (np.flatnonzero(huge), col, "out_of_range", "too large to be a whole number of this variable")
                )
                fractional = (numbers.notna() & (numbers != np.round(numbers))).to_numpy() & ~huge
                problems.append((np.flatnonzero(fractional), col, "not_a_whole_number", RULES["not_a_whole_number"]))
                out[col] = numbers.where(~fractional & ~huge).round().astype("Int64")
            else:
                out[col] = numbers
        elif var.dtype == "bool":
            lowered = values.str.lower()
            result = pd.Series(pd.NA, index=frame.index, dtype="boolean")
            result[lowered.isin(truthy)] = True
            result[lowered.isin(falsy)] = False
            unparsed = result.isna().to_numpy() & ~is_missing
            problems.append(
                (
                    np.flatnonzero(unparsed),
                    col,
                    "not_a_boolean",
                    f"not a yes/no value (accepted: {', '.join(sorted(truthy | falsy))})",
                )
            )
            out[col] = result
        elif var.dtype == "date":
            dates = pd.to_datetime(values, format=dictionary.date_format, errors="coerce")
            unparsed = dates.isna().to_numpy() & ~is_missing
            problems.append(
                (np.flatnonzero(unparsed), col, "not_a_date", f"not a date in the format {dictionary.date_format}")
            )
            out[col] = dates
        elif var.dtype == "category":
            canonical = {c.lower(): c for c in var.categories or ()}
            out[col] = values.map(lambda v, names=canonical: names.get(v.lower(), v) if isinstance(v, str) else v)
        else:
            out[col] = values.astype(object)
    return pd.DataFrame(out, index=frame.index), [p for p in problems if len(p[0])]


def _schema_problems(
    parsed: pd.DataFrame, table: Table, dictionary: DataDictionary, already: list[Problem]
) -> list[Problem]:
    schema = build_schema(table, dictionary, list(parsed.columns))
    checked = parsed.reset_index(drop=True)
    try:
        schema.validate(checked, lazy=True)
        return []
    except SchemaErrors as errors:
        cases = errors.failure_cases
    flagged = {(col, int(i)) for positions, col, _, _ in already for i in positions}
    merged: dict[tuple[str, str], tuple[set[int], str]] = {}
    for (check, column), group in cases.groupby(["check", "column"], dropna=False, sort=False):
        positions = pd.to_numeric(group["index"], errors="coerce").dropna().astype(int).unique()
        rule, reason = _rule_for(str(check), str(column), table)
        if rule == "duplicate_record":
            column = ", ".join(table.unique_together)
        elif rule == "missing_value":
            positions = np.array([i for i in positions if (column, int(i)) not in flagged], dtype=int)
        merged.setdefault((rule, str(column)), (set(), reason))[0].update(int(i) for i in positions)
    return [
        (np.array(sorted(pos), dtype=int), column, rule, reason)
        for (rule, column), (pos, reason) in merged.items()
        if pos
    ]


def _rule_for(check: str, column: str, table: Table) -> tuple[str, str]:
    if check.startswith("in_range"):
        var = table.match(column)
        lo, hi = var.range if var is not None and var.range else (None, None)
        return "out_of_range", f"outside the allowed range [{_num(lo)}, {_num(hi)}]"
    if check.startswith("isin"):
        var = table.match(column)
        allowed = ", ".join(var.categories or ()) if var is not None else ""
        return "unknown_category", f"not one of the allowed categories ({allowed})"
    if check == "not_nullable":
        return "missing_value", RULES["missing_value"]
    if check == "field_uniqueness":
        return "duplicate_key", "patient key appears on more than one row; every copy is rejected"
    if check == "multiple_fields_uniqueness":
        return "duplicate_record", f"the same ({', '.join(table.unique_together)}) appears on more than one row"
    return check, check


def _instrument_problems(parsed: pd.DataFrame, table: Table, dictionary: DataDictionary) -> list[Problem]:
    """PROM values must lie in their instrument's (or item's) range; items must exist."""
    inst_col, value_col = table.column("instrument"), table.column("value")
    item_col = table.column("item") if table.has_role("item") else None
    ranges = []
    for code, inst in dictionary.instruments.items():
        ranges.append((code, "", inst.range[0], inst.range[1]))
        ranges += [(code, item, lo, hi) for item, (lo, hi) in inst.items.items()]
    lookup = pd.DataFrame(ranges, columns=["_inst", "_item", "_lo", "_hi"])
    items = parsed[item_col].fillna("") if item_col and item_col in parsed else pd.Series("", index=parsed.index)
    probe = pd.DataFrame(
        {
            "_inst": parsed[inst_col].astype(object).to_numpy(),
            "_item": items.to_numpy(),
            "_v": parsed[value_col].to_numpy(dtype=float, na_value=np.nan),
        }
    )
    merged = probe.merge(lookup, how="left", on=["_inst", "_item"])
    known_instrument = probe["_inst"].isin(list(dictionary.instruments)).to_numpy()
    unknown_item = merged["_lo"].isna().to_numpy() & known_instrument
    outside = ((merged["_v"] < merged["_lo"]) | (merged["_v"] > merged["_hi"])).to_numpy()
    problems: list[Problem] = []
    if item_col:
        problems.append(
            (
                np.flatnonzero(unknown_item),
                item_col,
                "unknown_item",
                "not an item of this instrument (see instruments.yaml)",
            )
        )
    problems.append(
        (
            np.flatnonzero(outside),
            value_col,
            "instrument_range",
            "outside the range of this instrument or item (see instruments.yaml)",
        )
    )
    return [p for p in problems if len(p[0])]


def _reject_records(
    problems: list[Problem], frame: pd.DataFrame, lines: np.ndarray, source: str, key: str
) -> pd.DataFrame:
    if not problems:
        return pd.DataFrame(columns=["source", "line", key, "column", "value", "rule", "reason"])
    keys = frame[key].to_numpy() if key in frame else np.full(len(frame), "")
    parts = []
    for positions, column, rule, reason in problems:
        values = frame[column].to_numpy()[positions] if column in frame else np.full(len(positions), "")
        parts.append(
            pd.DataFrame(
                {
                    "source": source,
                    "line": lines[positions],
                    key: keys[positions],
                    "column": column,
                    "value": values,
                    "rule": rule,
                    "reason": reason,
                }
            )
        )
    return _order(pd.concat(parts, ignore_index=True), key)


def _order(rejects: pd.DataFrame, key: str) -> pd.DataFrame:
    cols = ["source", "line", key, "column", "value", "rule", "reason"]
    return rejects[cols].sort_values(["line", "column"], kind="stable").reset_index(drop=True)


def _num(x: float | None) -> str:
    return "" if x is None else (f"{x:g}")
