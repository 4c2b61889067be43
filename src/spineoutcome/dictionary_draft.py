"""Draft a data dictionary from a researcher's own table, and say what in a dictionary is still undecided.

``draft_dictionary`` reads one export (CSV, TSV, XLSX, Parquet) as text and proposes, per column, a
dtype, a plausible range (the observed one widened, so that no exact extreme is written down and a
new patient slightly outside the sample is not rejected), categories, likely missing codes and a
role (key-like, centre-like, date-like, age). The timing of every variable is left
``preoperative: undecided``: only the researcher knows whether a value is known before the
prediction is made, and ``train`` refuses an undecided predictor (leakage guard).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml

from spineoutcome.data.sources import RawExport
from spineoutcome.dictionary import LINE_KEY, STUDY_FIELDS, UNDECIDED, DataDictionary

MAX_CATEGORIES = 20
"""A text column with at most this many distinct values is drafted as a category."""
MISSING_TEXT = ("", "NA", "N/A", "na", "n/a", "NaN", "nan", ".", "-", "?", "missing", "unknown", "not known")
"""Text that commonly means "not recorded" in exports."""
SENTINELS = (-999.0, -99.0, -9.0, 99.0, 999.0, 9999.0)
"""Numbers that commonly code "not recorded"; proposed only when they sit far outside the other values."""
_KEY_NAME = re.compile(r"(^|_)(id|patient|patient_?id|record|mrn|subject|case)(_?id|_?no|_?number)?$", re.I)
_CENTRE_NAME = re.compile(r"^(centre|center|site|hospital|inst|institution|clinic)(_?id|_?code|_?name)?$", re.I)
_SURGERY_NAME = re.compile(r"(surg|operat|procedure)", re.I)
_AGE_NAME = re.compile(r"^age(_?years|_?at_?surgery)?$", re.I)
_TRUE = frozenset({"1", "true", "yes", "y"})
_FALSE = frozenset({"0", "false", "no", "n"})


@dataclass(frozen=True)
class DraftVariable:
    """What the draft proposes for one column (``spec``) and why (``notes``, written as YAML comments)."""

    spec: dict[str, Any]
    notes: tuple[str, ...] = ()


@dataclass(frozen=True)
class DraftDictionary:
    """A drafted one-table dictionary: its variables and the text codes proposed as missing values."""

    table: str
    variables: list[DraftVariable]
    missing_codes: list[str]
    source: str
    rows: int
    notes: list[str] = field(default_factory=list)

    def to_yaml(self) -> str:
        """``variables.yaml`` text, with the reason for each proposal as a comment beside it."""
        header = [
            f"# Drafted by `spineoutcome dictionary init` from {Path(self.source).name} ({self.rows} row(s)).",
            "# Check every entry; in particular set `preoperative:` to true (known before the prediction is made,",
            "# may be a predictor) or false (recorded later, e.g. the outcome) for each variable: `train` refuses",
            "# an undecided predictor. Then run `spineoutcome dictionary check` on this folder.",
            *[f"# {n}" for n in self.notes],
        ]
        doc_head = {
            "name": self.table,
            "version": "draft-1",
            "study": dict.fromkeys(STUDY_FIELDS, ""),
            "defaults": {"missing_codes": self.missing_codes},
        }
        lines = [
            *header,
            yaml.safe_dump(doc_head, sort_keys=False, allow_unicode=True).rstrip(),
            "tables:",
            f"  {self.table}:",
            "    layout: wide",
            "    variables:",
        ]
        for var in self.variables:
            for note in var.notes:
                lines.append(f"      # {var.spec['name']}: {note}")
            flow = yaml.safe_dump(
                [var.spec], default_flow_style=None, sort_keys=False, width=10_000, allow_unicode=True
            ).rstrip()
            lines.extend("      " + row for row in flow.splitlines())
        return "\n".join(lines) + "\n"


def draft_dictionary(raw: RawExport, table: str) -> DraftDictionary:
    """Propose a dictionary entry for every column of ``raw`` (module docstring)."""
    frame = raw.frame
    observed_missing = sorted(
        {str(v).strip() for c in frame.columns for v in frame[c].unique()} & set(MISSING_TEXT) - {""}
    )
    missing_codes = ["", "NA", *[c for c in observed_missing if c != "NA"]]
    variables = [
        _draft_column(str(c), frame[c].astype(str).str.strip(), set(missing_codes), len(frame)) for c in frame.columns
    ]
    keys = [v for v in variables if v.spec.get("role") == "key"]
    notes: list[str] = []
    for extra in keys[1:]:
        extra.spec.pop("role")
    if not keys:
        notes.append(f"No key-like column: each row's line number is its key ({LINE_KEY!r}).")
    unread = raw.rows_read - len(frame)
    if unread:
        notes.append(
            f"{unread} record(s) could not be read as rows (wrong field count, encoding, ...) and are not in "
            "this draft; `spineoutcome validate` names their lines and rules."
        )
    if not any(v.spec.get("role") == "centre" for v in variables):
        notes.append("No centre-like column: a single-centre study (internal-external validation is skipped).")
    return DraftDictionary(table, variables, missing_codes, raw.source, len(frame), notes)


def _draft_column(name: str, text: pd.Series, missing_codes: set[str], rows: int) -> DraftVariable:
    present = text[~text.isin(missing_codes)]
    distinct = pd.unique(present)
    notes: list[str] = []
    spec: dict[str, Any] = {"name": name}
    numbers = pd.to_numeric(present, errors="coerce")
    if len(present) and numbers.notna().all():
        values = numbers.to_numpy(dtype=float)
        sentinels = _sentinels(values)
        if sentinels:
            notes.append(
                f"{', '.join(f'{s:g}' for s in sentinels)} look(s) like missing-value codes, far outside "
                "the other values; add them to defaults.missing_codes if so"
            )
            values = values[~np.isin(values, sentinels)]
        if len(distinct) <= 2 and {str(v).lower() for v in distinct} <= (_TRUE | _FALSE):
            spec["dtype"] = "bool"
        else:
            spec["dtype"] = "int" if np.all(values == np.round(values)) else "float"
            if len(values):
                spec["range"] = plausible_range(values)
                notes.append("range: the observed one widened by a quarter of its span (check it is plausible)")
    elif 0 < len(distinct) <= 2 and {str(v).lower() for v in distinct} <= (_TRUE | _FALSE):
        spec["dtype"] = "bool"
    elif len(present) and _all_dates(present):
        spec["dtype"] = "date"
        if _SURGERY_NAME.search(name):
            spec["role"] = "surgery_date"
    elif len(distinct) <= MAX_CATEGORIES and len(distinct) < max(rows // 2, 2):
        spec["dtype"] = "category"
        spec["categories"] = sorted(str(v) for v in distinct)
        notes.append("categories: the values seen; the first is the reference level of regression models")
    else:
        spec["dtype"] = "string"
    unique = len(distinct) == len(text) and not (text.isin(missing_codes)).any()
    if _KEY_NAME.search(name) and unique:
        spec["role"] = "key"
        notes.append("key-like: unique for every row")
    elif _CENTRE_NAME.match(name) and spec["dtype"] != "float":
        spec["role"] = "centre"
        spec["dtype"] = "category" if spec["dtype"] != "category" else spec["dtype"]
        spec["categories"] = sorted(str(v) for v in distinct)
        spec.pop("range", None)
    elif _AGE_NAME.match(name) and spec["dtype"] in ("int", "float"):
        spec["role"] = "age"
    if spec.get("role") in ("key", "centre", "surgery_date"):
        spec["preoperative"] = False
        spec["predictor"] = False
    else:
        spec["preoperative"] = UNDECIDED
    spec["description"] = ""
    return DraftVariable(spec, tuple(notes))


def plausible_range(values: np.ndarray) -> list[float | int]:
    """The observed range widened by a quarter of its span on each side, rounded outwards to the power of
    ten at or below that quarter; never below zero for non-negative data (one value: its magnitude is
    the span)."""
    lo, hi = float(np.min(values)), float(np.max(values))
    span = hi - lo if hi > lo else max(abs(hi), 1.0)
    step = 10 ** math.floor(math.log10(span / 4)) if span > 0 else 1.0
    low = math.floor((lo - span / 4) / step) * step
    high = math.ceil((hi + span / 4) / step) * step
    if lo >= 0:
        low = max(low, 0.0)
    whole = step >= 1 and float(low).is_integer() and float(high).is_integer()
    return [int(low), int(high)] if whole else [round(low, 10), round(high, 10)]


def _sentinels(values: np.ndarray) -> list[float]:
    found = []
    for code in SENTINELS:
        others = values[values != code]
        if (
            (values == code).any()
            and len(others)
            and (code > 10 * max(np.max(np.abs(others)), 1) or (code < 0 <= np.min(others)))
        ):
            found.append(code)
    return found


def _all_dates(values: pd.Series) -> bool:
    if not values.str.match(r"^\d{4}-\d{2}-\d{2}").all():
        return False
    return bool(pd.to_datetime(values, errors="coerce", format="%Y-%m-%d").notna().all())


def dictionary_problems(dictionary: DataDictionary) -> tuple[list[str], list[str]]:
    """What is undecided (``problems``: a pipeline would refuse it) and what is missing (``notes``:
    the report will say "not stated") in a loaded dictionary."""
    problems: list[str] = []
    source = dictionary.directory / "variables.yaml"
    if dictionary.undecided:
        problems.append(
            f"{source}: preoperative: undecided for {', '.join(dictionary.undecided)} (rule: set "
            "true or false for each; an undecided variable cannot be a predictor)"
        )
    notes = [
        f"{source}: study.{f} is empty (the report and model card will say 'not stated')"
        for f in STUDY_FIELDS
        if not dictionary.study.get(f)
    ]
    for table in dictionary.tables.values():
        notes += [
            f"{source}: {table.name}.{v.name} has no description"
            for v in table.variables
            if not v.description and not v.derived
        ]
    return problems, notes
