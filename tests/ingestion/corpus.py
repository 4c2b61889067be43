"""A fault corpus: malformed variants of a synthetic clinical export, each with what it must give.

Every variant is built from the rows of a ``synth`` export, record by record, so the generator
knows, independently of the package's reader, how many data records the file holds, on which
physical line each starts and which patient key it carries. Where the csv module, openpyxl or
pyarrow can count the records too (no unterminated quote), the test checks that count against
the construction as well.
"""

from __future__ import annotations

import codecs
import io
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd


@dataclass
class Variant:
    """One file of the corpus and what reading it must give."""

    name: str
    filename: str
    data: bytes
    rows: int  # data records by construction (blank lines excluded)
    keys: dict[int, str | None]  # line -> key as written (None: not knowable, e.g. a garbled line)
    refused: bool = False  # validate must refuse the file (exit 3)
    refused_by_score: bool | None = None  # default: as validate
    encoding: str = "utf-8"  # for checking reported values against the file's text
    options: dict[str, str] = field(default_factory=dict)
    csv_countable: bool = True
    faulty_lines: frozenset[int] = frozenset()  # lines that must be rejected
    values: dict[str, tuple[str, str]] = field(default_factory=dict)  # key -> (column, text the clean row holds)

    @property
    def score_refuses(self) -> bool:
        return self.refused if self.refused_by_score is None else self.refused_by_score


Record = tuple[str | bytes, str | None, bool]  # text of the record (may hold line breaks), key, is a data record


def assemble(
    name: str,
    header: str | bytes,
    records: list[Record],
    *,
    filename: str = "clinical.csv",
    eol: str = "\n",
    encoding: str = "utf-8",
    final_eol: bool = True,
    **extra: object,
) -> Variant:
    """Join records with ``eol`` (their own line breaks kept), encode, and record lines and keys."""
    parts: list[bytes] = []
    keys: dict[int, str | None] = {}
    line = 1
    count = 0
    for k, (text, key, is_data) in enumerate([(header, None, False), *records]):
        raw = text if isinstance(text, bytes) else text.encode(encoding)
        if k > 0 and is_data:
            keys[line] = key
            count += 1
        parts.append(raw)
        line += raw.replace(b"\r\n", b"\n").replace(b"\r", b"\n").count(b"\n") + 1
    data = eol.encode(encoding).join(parts) + (eol.encode(encoding) if final_eol else b"")
    if encoding.startswith("utf-16"):
        data = codecs.BOM_UTF16_LE + data if encoding == "utf-16-le" else codecs.BOM_UTF16_BE + data
    return Variant(name, filename, data, count, keys, encoding=encoding, **extra)  # type: ignore[arg-type]


def build_corpus(base: pd.DataFrame) -> list[Variant]:
    """At least 60 variants of ``base`` (a synthetic clinical export read as text)."""
    header = list(base.columns)
    rows = base.astype(str).values.tolist()
    col = {name: k for k, name in enumerate(header)}

    def line(row: list[str], sep: str = ",") -> str:
        return sep.join(row)

    def records(sep: str = ",", change: Callable[[int, list[str]], list[str]] | None = None) -> list[Record]:
        out = []
        for i, row in enumerate(rows):
            row = list(row) if change is None else change(i, list(row))
            out.append((line(row, sep), row[0], True))
        return out

    def with_value(i_target: int, column: str, value: str) -> Callable[[int, list[str]], list[str]]:
        def change(i: int, row: list[str]) -> list[str]:
            if i == i_target:
                row[col[column]] = value
            return row

        return change

    h = line(header)
    v: list[Variant] = []
    add = v.append
    # line endings and blank lines
    add(assemble("clean", h, records()))
    add(assemble("crlf", h, records(), eol="\r\n"))
    add(assemble("lone_cr", h, records(), eol="\r"))
    add(assemble("trailing_empty_line", h, [*records(), ("", None, False)]))
    add(assemble("many_trailing_newlines", h, [*records(), *[("", None, False)] * 4]))
    recs = records()
    add(assemble("whitespace_only_line", h, [*recs[:5], ("   \t ", None, False), *recs[5:]]))
    quoted = records()
    quoted[0] = (rows[0][0] + ',"' + rows[0][1] + '",' + ",".join(rows[0][2:]), rows[0][0], True)
    add(assemble("delimiter_only_row_with_quotes", h, [*quoted, ("," * (len(header) - 1), None, False)]))
    add(assemble("blank_lines_before_header", "\n\n" + h, records()))
    add(assemble("no_final_newline", h, records(), final_eol=False))
    mixed = records()
    add(assemble("mixed_crlf_lf", h, [(t + ("\r" if k % 2 else ""), key, d) for k, (t, key, d) in enumerate(mixed)]))
    add(
        assemble(
            "excel_trailing_comma_rows", h, [*records(), *[("," * (len(header) - 1), None, False)] * 3], eol="\r\n"
        )
    )
    # encodings
    add(assemble("utf8_bom", "\ufeff" + h, records()))
    add(
        assemble(
            "utf16_le_tab", "\t".join(header), records("\t"), encoding="utf-16-le", filename="clinical.txt", eol="\r\n"
        )
    )
    add(assemble("utf16_be", h, records(), encoding="utf-16-be"))
    accents = records(change=lambda i, r: [*r[:1], "Zürich-Süd" if i % 3 == 0 else r[1], *r[2:]])
    add(assemble("latin1_file", h, accents, encoding="latin-1"))
    mixed_enc = [
        (t.encode("utf-8") if k % 7 == 0 else t.encode("cp1252"), key, d)
        for k, (t, key, d) in enumerate(records(change=lambda i, r: [*r[:1], "Genève-Nord", *r[2:]]))
    ]
    add(
        assemble(
            "cp1252_with_utf8_minority",
            h,
            mixed_enc,
            encoding="cp1252",
            values={rows[0][0]: ("centre", "Genève-Nord"), rows[1][0]: ("centre", "Genève-Nord")},
        )
    )
    one_latin = records(change=lambda i, r: [*r[:1], "Zürich" if i == 4 else "Genève", *r[2:]])
    one_latin[4] = (one_latin[4][0].encode("latin-1"), one_latin[4][1], True)
    add(
        assemble(
            "utf8_with_one_latin1_line",
            h,
            one_latin,
            values={rows[4][0]: ("centre", "Zürich"), rows[5][0]: ("centre", "Genève")},
        )
    )
    sjis = records(change=with_value(6, "centre", "東京大学病院"))
    sjis[6] = (sjis[6][0].encode("shift_jis"), sjis[6][1], True)
    add(assemble("utf8_with_one_shift_jis_line", h, sjis, faulty_lines=frozenset({8})))
    sjis_latin = records(change=lambda i, r: [*r[:1], "Zürich" if i != 9 else "東京大学病院の整形外科", *r[2:]])
    sjis_latin = [
        (t.encode("shift_jis") if k == 9 else t.encode("latin-1"), key, d) for k, (t, key, d) in enumerate(sjis_latin)
    ]
    add(assemble("latin1_with_one_shift_jis_line", h, sjis_latin, encoding="latin-1", faulty_lines=frozenset({11})))
    garbage = records()
    garbage[3] = (garbage[3][0].encode() + b"\xff\xfe\x80", garbage[3][1], True)
    add(assemble("undecodable_bytes", h, garbage, faulty_lines=frozenset({5})))
    japanese = records(change=lambda i, r: [*r[:1], "東京" if i % 2 else r[1], *r[2:]])
    add(assemble("cp932_file", h, japanese, encoding="cp932", options={"encoding": "cp932"}))
    # delimiters
    add(assemble("semicolon", line(header, ";"), records(";")))
    add(assemble("tab_tsv", line(header, "\t"), records("\t"), filename="clinical.tsv"))
    add(assemble("pipe", line(header, "|"), records("|")))
    comma = records(";", change=lambda i, r: [c.replace(".", ",") if k == col["bmi"] else c for k, c in enumerate(r)])
    add(assemble("semicolon_decimal_comma", line(header, ";"), comma, options={"decimal": ","}))
    # quoting
    add(
        assemble(
            "all_quoted",
            ",".join(f'"{c}"' for c in header),
            [(",".join(f'"{c}"' for c in r), r[0], True) for r in rows],
        )
    )
    note_header = h + ",note"
    notes = [(line(r) + (',"first line\nsecond line"' if i == 3 else ",plain"), r[0], True) for i, r in enumerate(rows)]
    add(assemble("quoted_line_break", note_header, notes))
    doubled = [(line(r) + ',"he said ""no"""', r[0], True) for r in rows]
    add(assemble("doubled_quotes", note_header, doubled))
    open_quote = [(line(r) + (',"never closed' if i == 10 else ",x"), r[0], True) for i, r in enumerate(rows)]
    add(
        assemble(
            "unterminated_quote_mid_file", note_header, open_quote, csv_countable=False, faulty_lines=frozenset({12})
        )
    )
    last_open = [(line(r) + (',"never closed' if i == len(rows) - 1 else ",x"), r[0], True) for i, r in enumerate(rows)]
    add(
        assemble(
            "unterminated_quote_last_line",
            note_header,
            last_open,
            csv_countable=False,
            faulty_lines=frozenset({len(rows) + 1}),
        )
    )
    inch = [(line(r) + ',5" disc', r[0], True) for r in rows]
    add(assemble("quote_inside_unquoted_field", note_header, inch))
    big = [(line(r) + (',"' + "x" * 200_000 + '"' if i == 2 else ",y"), r[0], True) for i, r in enumerate(rows)]
    add(assemble("huge_quoted_field", note_header, big))
    huge = [(line(r) + (",z" * 1 if i != 2 else "," + "z" * 1_000_000), r[0], True) for i, r in enumerate(rows)]
    add(assemble("huge_unquoted_field", note_header, huge))
    # ragged rows
    first_extra = records()
    first_extra[0] = (first_extra[0][0] + ",surplus", first_extra[0][1], True)
    add(assemble("one_field_too_many_first_row", h, first_extra, faulty_lines=frozenset({2})))
    mid_extra = records()
    mid_extra[12] = (mid_extra[12][0] + ",surplus", mid_extra[12][1], True)
    add(assemble("one_field_too_many_mid_row", h, mid_extra, faulty_lines=frozenset({14})))
    short_row = records()
    short_row[7] = (short_row[7][0].rsplit(",", 1)[0], short_row[7][1], True)
    add(assemble("one_field_too_few", h, short_row, faulty_lines=frozenset({9})))
    add(assemble("trailing_delimiter_everywhere", h + ",", [(t + ",", k, d) for t, k, d in records()]))
    add(assemble("trailing_delimiter_on_rows", h, [(t + ",", k, d) for t, k, d in records()]))
    # headers
    add(assemble("no_header", line(rows[0]), [(t, k, d) for t, k, d in records()[1:]], refused=True))
    add(assemble("spaces_around_header_names", ", ".join(header), records()))
    renamed = [c if c != "sex" else "Sex" for c in header]
    add(assemble("required_column_misspelled", line(renamed), records(), refused=True))
    add(assemble("duplicate_header", line([*header[:-1], header[1]]), records(), refused=True))
    dropped = [k for k, c in enumerate(header) if c == "age"][0]
    add(
        assemble(
            "required_column_missing",
            line([c for k, c in enumerate(header) if k != dropped]),
            [(line([c for k, c in enumerate(r) if k != dropped]), r[0], True) for r in rows],
            refused=True,
        )
    )
    add(
        assemble(
            "unknown_extra_column",
            h + ",hospital_ward",
            [(t + ",W" + str(i), k, d) for i, (t, k, d) in enumerate(records())],
        )
    )
    # values
    add(assemble("inf_in_integer", h, records(change=with_value(3, "asa_class", "inf"))))
    add(assemble("huge_number_in_integer", h, records(change=with_value(3, "asa_class", "1e30"))))
    add(assemble("nan_text_in_float", h, records(change=with_value(5, "bmi", "NaN"))))
    add(assemble("missing_code_in_age", h, records(change=with_value(5, "age", "-99"))))
    add(assemble("followup_of_999_days", h, records(change=with_value(5, "last_followup_day", "999"))))
    add(assemble("key_typed_into_age", h, records(change=with_value(5, "age", rows[9][0]))))
    formulas = ["=cmd|'/C calc'!A0", "+1+1", "@SUM(A1)", "-2+3", "\tx"]
    add(
        assemble(
            "formula_injection",
            h,
            records(
                change=lambda i, r: [*r[: col["smoking"]], formulas[i % 5], *r[col["smoking"] + 1 :]] if i < 5 else r
            ),
        )
    )
    add(assemble("surrounding_whitespace", h, records(change=lambda i, r: [f" {c} " for c in r])))
    add(assemble("undeclared_decimal_comma", line(header, ";"), comma))
    dup = records()
    dup[4] = (dup[3][0], dup[3][1], True)
    add(assemble("duplicate_keys", h, dup))
    add(assemble("empty_key", h, records(change=with_value(2, "patient_id", ""))))
    add(assemble("wrong_date_format", h, records(change=with_value(2, "surgery_date", "03/04/2021"))))
    add(
        assemble(
            "upper_case_categories",
            h,
            records(change=lambda i, r: [c.upper() if k == col["sex"] else c for k, c in enumerate(r)]),
        )
    )
    add(assemble("long_value_in_age", h, records(change=with_value(6, "age", "9" * 5000))))
    # control characters
    nul = records()
    nul[3] = (nul[3][0].replace(",", ",\x00", 1), nul[3][1], True)
    add(assemble("nul_byte", h, nul, faulty_lines=frozenset({5})))
    bell = records()
    bell[8] = (bell[8][0] + "\x07", bell[8][1], True)
    add(assemble("bell_character", h, bell, faulty_lines=frozenset({10})))
    add(assemble("form_feed_line", h, [*records()[:3], ("\f", None, False), *records()[3:]]))
    # whole files
    add(Variant("empty_file", "clinical.csv", b"", 0, {}, refused=True))
    add(Variant("only_newlines", "clinical.csv", b"\n\r\n\n  \n", 0, {}, refused=True))
    add(Variant("png_named_csv", "clinical.csv", b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4, 0, {}, refused=True))
    add(
        Variant(
            "random_binary",
            "clinical.csv",
            np.random.default_rng(1).integers(0, 256, 4000, dtype=np.uint8).tobytes(),
            0,
            {},
            refused=True,
            csv_countable=False,
        )
    )
    add(assemble("header_only", h, []))
    return v


def xlsx_variants(base: pd.DataFrame) -> list[Variant]:
    """Workbooks: one sheet, two data sheets with and without --sheet, formulas, blank rows, damage."""
    import openpyxl

    rows = base.astype(str).values.tolist()
    header = list(base.columns)

    def book(sheets: dict[str, list[list[object]]]) -> bytes:
        wb = openpyxl.Workbook()
        wb.remove(wb.active)
        for title, data in sheets.items():
            ws = wb.create_sheet(title)
            for r in data:
                ws.append(r)
        buffer = io.BytesIO()
        wb.save(buffer)
        return buffer.getvalue()

    keys = {k + 2: r[0] for k, r in enumerate(rows)}
    data = [header, *rows]
    out = [Variant("xlsx_one_sheet", "clinical.xlsx", book({"export": data}), len(rows), keys)]
    two = book({"export": data, "copy": data})
    out.append(Variant("xlsx_two_data_sheets", "clinical.xlsx", two, len(rows), keys, refused=True))
    out.append(Variant("xlsx_two_sheets_named", "clinical.xlsx", two, len(rows), keys, options={"sheet": "copy"}))
    out.append(
        Variant("xlsx_with_empty_second_sheet", "clinical.xlsx", book({"export": data, "notes": []}), len(rows), keys)
    )
    formula = [list(r) for r in data]
    formula[4][header.index("age")] = "=1+1"
    out.append(
        Variant(
            "xlsx_formula_without_value",
            "clinical.xlsx",
            book({"export": formula}),
            len(rows),
            keys,
            faulty_lines=frozenset({5}),
        )
    )
    gaps = [header, *rows[:5], [], [None, None], *rows[5:]]
    gap_keys = {**{k + 2: r[0] for k, r in enumerate(rows[:5])}, **{k + 9: r[0] for k, r in enumerate(rows[5:])}}
    out.append(Variant("xlsx_blank_rows", "clinical.xlsx", book({"export": gaps}), len(rows), gap_keys))
    out.append(
        Variant(
            "xlsx_truncated", "clinical.xlsx", book({"export": data})[:600], 0, {}, refused=True, csv_countable=False
        )
    )
    return out


def parquet_variants(base: pd.DataFrame) -> list[Variant]:
    """Parquet: nullable integers and booleans with NA, NaN/inf floats, a damaged file."""
    frame = base.copy()
    keys = {k + 2: key for k, key in enumerate(frame["patient_id"])}
    typed = frame.copy()
    typed["asa_class"] = pd.array(
        [None if k % 5 == 0 else int(v) for k, v in enumerate(frame["asa_class"])], dtype="Int64"
    )
    typed["diabetes"] = pd.array(
        [None if k % 4 == 0 else v == "yes" for k, v in enumerate(frame["diabetes"])], dtype="boolean"
    )
    typed["bmi"] = [
        np.nan if k == 1 else (np.inf if k == 2 else float(v) if v else np.nan) for k, v in enumerate(frame["bmi"])
    ]
    buffer = io.BytesIO()
    typed.to_parquet(buffer)
    good = buffer.getvalue()
    plain = io.BytesIO()
    frame.to_parquet(plain)
    return [
        Variant("parquet_text", "clinical.parquet", plain.getvalue(), len(frame), keys),
        Variant("parquet_nullable_types", "clinical.parquet", good, len(frame), keys),
        Variant(
            "parquet_truncated", "clinical.parquet", good[: len(good) // 2], 0, {}, refused=True, csv_countable=False
        ),
    ]
