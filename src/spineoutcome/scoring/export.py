"""Score a hospital export: every row scored or rejected with a reason, chunk by chunk.

:func:`score_export` reads the export in chunks (:mod:`.reader`), checks each row against the
input contract of every model (:mod:`.parse`) and the patient key, scores the valid rows with
each model (:mod:`.task`) and appends the results to the scores file, the problems to the
rejects file, as it goes: memory stays bounded whatever the size of the export.

- **Contract.** Only the patient key and the predictors the models read are used; other columns
  are ignored. Every column a model reads must be in the export (a value may be empty): an
  export that lacks one is refused before any row is read, naming the missing columns and the
  closest headers.
- **Rejects.** A row that breaks a rule for any of the models is not scored; each problem is one
  record of the rejects file: source, line, patient key, column, value, rule, reason (the rule
  names of :mod:`spineoutcome.data.validate`). A patient key that is empty or appears on more
  than one row rejects every copy of the row (``missing_value``, ``duplicate_key``; a first,
  light pass over the key column finds duplicates).
- **Invariant.** rows in = rows scored + rows rejected; checked at the end (a violation is a bug
  and raises).
- **Several models** give one row per patient with a group of columns per model, prefixed by the
  task name (``c5_palsy_probability``); a second model of the same task gets ``_2``.
- **Outputs** (:mod:`spineoutcome.outputs`): the scores and rejects files are written under a
  temporary name (mode 0600) and renamed into place only when the whole export is done; risk
  sheets are staged the same way. An existing output is refused unless ``overwrite``, before any
  work starts. Text cells a spreadsheet would run as a formula (``=``, ``+``, ``-``, ``@``) get a
  leading apostrophe (CSV injection).
- **Unverified models** (accepted with ``allow_unverified``): every row of the scores file says
  so in ``<task>_model_integrity`` (``verified`` or ``UNVERIFIED``), as does each risk sheet.
- **Privacy.** The scores, rejects and risk sheets hold patient keys and values by design and are
  written only where the caller asks. Nothing row-level goes anywhere else: the summary returned
  (and printed by the command) holds counts only, and error messages name files, columns and
  rules, never a key or a value.
"""

from __future__ import annotations

import difflib
import json
import time
from collections.abc import Callable, Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv

from spineoutcome.data.reader import repeated_columns_message, short
from spineoutcome.data.sources import ExportReadError
from spineoutcome.data.validate import RULES
from spineoutcome.dictionary import DataDictionary
from spineoutcome.lifecycle.drift import add_counts, bin_counts
from spineoutcome.outputs import atomic_output, check_writable, neutralise_cell, neutralise_frame
from spineoutcome.scoring.model import UNVERIFIED, ScoringModel, load_verified
from spineoutcome.scoring.parse import Problem, parse_predictors
from spineoutcome.scoring.reader import Chunk, ExportFile, open_export
from spineoutcome.scoring.task import OUTPUTS, TaskScorer, category_labels

DEFAULT_CHUNK_SIZE = 50_000
REJECT_COLUMNS = ("source", "line", "column", "value", "rule", "reason")
DRIFT_FORMAT = "spineoutcome-drift/1"
DUPLICATE_REASON = "patient key appears on more than one row; every copy is rejected"
INTEGRITY_COLUMN = "model_integrity"
VERIFIED = "verified"


class ContractMismatchError(ExportReadError):
    """The export lacks columns the models need; the message names them and the closest headers."""


@dataclass
class ScoringSummary:
    """Counts of one scoring run (no row-level data: safe to print and log)."""

    source: str
    rows_in: int = 0
    rows_scored: int = 0
    rows_rejected: int = 0
    problems_by_rule: dict[str, int] = field(default_factory=dict)
    flagged: dict[str, dict[str, int]] = field(default_factory=dict)
    categories: dict[str, dict[str, int]] = field(default_factory=dict)
    models: list[dict[str, Any]] = field(default_factory=list)
    prefixes: list[str] = field(default_factory=list)
    ignored_columns: int = 0
    explained: bool = True
    band: bool = True
    chunks: int = 0
    seconds: float = 0.0
    outputs: dict[str, str | int | None] = field(default_factory=dict)
    drift: dict[str, dict[str, list[int]]] = field(default_factory=dict, repr=False)

    @property
    def invariant_holds(self) -> bool:
        return self.rows_in == self.rows_scored + self.rows_rejected

    def to_dict(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if k != "drift"} | {"invariant_holds": self.invariant_holds}


def score_export(
    models: Sequence[str | Path | ScoringModel],
    source: str | Path,
    out: str | Path,
    *,
    rejects: str | Path | None = None,
    sheets_dir: str | Path | None = None,
    column_map: dict[str, str] | None = None,
    encoding: str | None = None,
    delimiter: str | None = None,
    decimal: str = ".",
    sheet: str | None = None,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
    explain: bool = True,
    band: bool = True,
    tracking_uri: str | None = None,
    allow_unverified: bool = False,
    dictionary: DataDictionary | None = None,
    progress: Callable[[int], None] | None = None,
    overwrite: bool = False,
    period: str | None = None,
) -> ScoringSummary:
    """Score every row of ``source`` with ``models``; write ``out`` (CSV) and the rejects file.

    ``models``: MLflow URIs, local model folders or loaded :class:`.ScoringModel` objects.
    ``rejects`` defaults to ``<out stem>.rejects.csv`` next to ``out``. ``sheets_dir``: write a
    one-page PDF risk sheet per scored patient there (:mod:`.sheets`). ``progress`` is called with
    the number of rows done after each chunk. ``overwrite``: replace existing outputs (default:
    refuse them, before any work starts). Next to ``out`` goes ``<out stem>.drift.json``, what
    monitoring needs without identifiers (:func:`drift_summary`); ``period`` labels it (default: the
    month of scoring, ``YYYY-MM``). Raises :class:`~spineoutcome.data.ExportReadError`
    (unusable file, :class:`ContractMismatchError`) and :class:`.ModelLoadError` before any
    output is written.
    """
    started = time.perf_counter()
    out = Path(out)
    rejects = Path(rejects) if rejects is not None else out.with_name(f"{out.stem}.rejects.csv")
    check_writable(out, overwrite=overwrite)
    check_writable(rejects, overwrite=overwrite)
    loaded = [
        m
        if isinstance(m, ScoringModel)
        else load_verified(m, tracking_uri=tracking_uri, allow_unverified=allow_unverified)
        for m in models
    ]
    if not loaded:
        raise ValueError("give at least one model")
    contract = loaded[0].bundle.contract
    key, line_key = scoring_key(dictionary, contract.dictionary)
    missing_codes = dictionary.missing_codes if dictionary is not None else contract.missing_codes
    export = open_export(
        source, column_map=column_map, encoding=encoding, delimiter=delimiter, decimal=decimal, sheet=sheet
    )
    needed = list(dict.fromkeys([*([] if line_key else [key]), *(n for m in loaded for n in m.bundle.contract.names)]))
    check_columns(export, needed, key)
    prefixes = _prefixes(loaded)
    scorers = [TaskScorer(m, band=band) for m in loaded]
    summary = ScoringSummary(
        str(source),
        models=[m.describe() for m in loaded],
        prefixes=prefixes,
        ignored_columns=len([c for c in export.columns if c not in needed]),
        explained=explain,
        band=band,
    )
    for prefix, model in zip(prefixes, loaded, strict=True):
        summary.flagged[prefix] = {"missing_predictors": 0, "extrapolated": 0, "out_of_distribution": 0}
        summary.categories[prefix] = dict.fromkeys(category_labels(model.thresholds), 0)
    sheets = None
    extra: list[str] = []
    if sheets_dir is not None:
        from spineoutcome.scoring.sheets import SheetWriter

        sheets = SheetWriter(sheets_dir, loaded, prefixes, dictionary or DataDictionary.load(), overwrite=overwrite)
        extra = [c for c in sheets.columns if c in export.columns and c not in needed]
    try:
        duplicated = set() if line_key else duplicate_keys(export, key, missing_codes, chunk_size)
        with ExitStack() as stack:
            scores_file = _CsvAppender(stack.enter_context(atomic_output(out, overwrite=overwrite)))
            rejects_file = _CsvAppender(stack.enter_context(atomic_output(rejects, overwrite=overwrite)))
            stack.callback(rejects_file.close)
            stack.callback(scores_file.close)
            for chunk in export.chunks([*needed, *extra], chunk_size):
                table, problems, scored = _score_chunk(
                    chunk, export, key, duplicated, loaded, scorers, prefixes, missing_codes, explain, summary, sheets
                )
                if table is not None:
                    scores_file.write(table)
                rejects_file.write(problems)
                summary.rows_in += len(chunk) + int(chunk.faults["line"].nunique())
                summary.rows_scored += scored
                summary.chunks += 1
                if progress is not None:
                    progress(summary.rows_in)
            if scores_file.empty:
                scores_file.write(_empty_scores(key, prefixes))
            if rejects_file.empty:
                rejects_file.write(_empty_rejects(key))
            if sheets is not None:
                sheets.commit()
    finally:
        if sheets is not None:
            sheets.discard()
    summary.rows_rejected = summary.rows_in - summary.rows_scored
    summary.seconds = time.perf_counter() - started
    drift = out.with_name(f"{out.stem}.drift.json")
    with atomic_output(drift, overwrite=True) as temporary:
        temporary.write_text(json.dumps(drift_summary(summary, loaded, period), indent=1), encoding="utf-8")
    summary.outputs = {
        "scores": str(out),
        "rejects": str(rejects),
        "sheets": str(sheets_dir) if sheets_dir is not None else None,
        "sheets_written": sheets.written if sheets is not None else 0,
        "drift": str(drift),
    }
    if not summary.invariant_holds:  # pragma: no cover - a bug, never an input problem
        raise AssertionError(
            f"rows in {summary.rows_in} != scored {summary.rows_scored} + rejected {summary.rows_rejected}"
        )
    return summary


def integrity_label(model: ScoringModel) -> str:
    """``verified``, or UNVERIFIED for a model accepted without a record (``allow_unverified``)."""
    return VERIFIED if model.verified else UNVERIFIED


def drift_summary(summary: ScoringSummary, models: list[ScoringModel], period: str | None) -> dict[str, Any]:
    """What monitoring needs from a scoring run, per model, with no identifier and no row: the period,
    the counts scored and flagged, and each predictor's counts in the bundle's development bins
    (:mod:`spineoutcome.lifecycle.drift`; absent for bundles built without them)."""
    label = period or datetime.now(UTC).strftime("%Y-%m")
    return {
        "format": DRIFT_FORMAT,
        "period": label,
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "models": {
            prefix: {
                "model": model.describe(),
                "n_scored": summary.rows_scored,
                "flagged": summary.flagged[prefix],
                "bins": summary.drift.get(prefix),
            }
            for prefix, model in zip(summary.prefixes, models, strict=True)
        },
    }


def scoring_key(dictionary: DataDictionary | None, bundled: dict[str, str]) -> tuple[str, bool]:
    """The patient key's name, and whether it is the line number (the data had no key column): from the
    dictionary when one is given, else from the bundle (so scoring needs no dictionary)."""
    if dictionary is not None:
        return dictionary.key, dictionary.line_number_key
    if "key" in bundled:
        return bundled["key"], bundled.get("line_number_key") == "true"
    builtin = DataDictionary.load()
    return builtin.key, builtin.line_number_key


def check_columns(export: ExportFile, needed: list[str], key: str) -> None:
    """Refuse an export that lacks a column the models need (naming it and the closest headers)."""
    absent = [c for c in needed if c not in export.columns]
    if len(absent) == len(needed):
        raise ContractMismatchError(
            f"{export.path}: the first line holds none of the columns the models need; is the header line missing? "
            "(the line is not shown: it may hold patient data)"
        )
    if export.repeated:
        raise ExportReadError(repeated_columns_message(export.path, export.repeated))
    if not absent:
        return
    parts = []
    for name in absent:
        close = difflib.get_close_matches(name, list(export.columns), n=3, cutoff=0.6)
        close += [c for c in export.columns if c.lower() == name.lower() and c not in close]
        hint = f" (closest header: {', '.join(repr(short(c)) for c in close)})" if close else ""
        role = "the patient key " if name == key else ""
        parts.append(f"{role}{name!r}{hint}")
    raise ContractMismatchError(
        f"{export.path}: the export does not match the models' input contract: missing column(s) "
        f"{'; '.join(parts)}. Every predictor column must be present (a value may be empty); rename headers "
        "with a column map (--column-map) if they are spelled differently."
    )


def duplicate_keys(export: ExportFile, key: str, missing_codes: Sequence[str], chunk_size: int) -> set[str]:
    """Patient keys that appear on more than one row (a pass over the key column only)."""
    parts = [
        column.astype(str).str.strip().to_numpy(dtype=object) for column in export.column(key, max(chunk_size, 200_000))
    ]
    if not parts:
        return set()
    keys = pd.Series(np.concatenate(parts), dtype=object)
    repeated = keys[keys.duplicated(keep=False) & ~keys.isin(list(missing_codes))]
    return set(repeated.unique())


def _score_chunk(
    chunk: Chunk,
    export: ExportFile,
    key: str,
    duplicated: set[str],
    models: list[ScoringModel],
    scorers: list[TaskScorer],
    prefixes: list[str],
    missing_codes: Sequence[str],
    explain: bool,
    summary: ScoringSummary,
    sheets: Any,
) -> tuple[pa.Table | None, pd.DataFrame, int]:
    frame = chunk.frame
    if key not in frame.columns:
        frame = frame.assign(**{key: np.asarray(chunk.lines).astype(str)})
    n = len(frame)
    for rule in chunk.faults["rule"]:
        summary.problems_by_rule[rule] = summary.problems_by_rule.get(rule, 0) + 1
    if n == 0:
        return None, _with_faults(_empty_rejects(key), chunk, export, key), 0
    keys = frame[key].astype(str).str.strip()
    problems: list[Problem] = []
    key_missing = keys.isin(list(missing_codes)).to_numpy()
    problems.append(Problem(np.flatnonzero(key_missing), key, "missing_value", RULES["missing_value"]))
    if duplicated:
        problems.append(
            Problem(
                np.flatnonzero(keys.isin(duplicated).to_numpy() & ~key_missing), key, "duplicate_key", DUPLICATE_REASON
            )
        )
    parsed = []
    merged: dict[tuple[str, str, str], np.ndarray] = {}
    for model in models:
        result = parse_predictors(frame, model.bundle.contract, decimal=export.decimal)
        parsed.append(result)
        for problem in result.problems:  # two models reading a column report its problems once
            where = (problem.column, problem.rule, problem.reason)
            merged[where] = np.union1d(merged[where], problem.positions) if where in merged else problem.positions
    problems += [Problem(positions, *where) for where, positions in merged.items()]
    problems = [p for p in problems if len(p.positions)]
    bad = np.zeros(n, dtype=bool)
    for problem in problems:
        bad[problem.positions] = True
        summary.problems_by_rule[problem.rule] = summary.problems_by_rule.get(problem.rule, 0) + len(problem.positions)
    valid = ~bad
    columns: dict[str, Any] = {"line": chunk.lines[valid], key: keys.to_numpy(dtype=object)[valid]}
    results = []
    for prefix, scorer, result in zip(prefixes, scorers, parsed, strict=True):
        rows = result.frame[valid]
        scores = scorer.score(rows, result.missing[valid], result.distinct.subset(valid), explain=explain)
        results.append(scores)
        for name in OUTPUTS:
            columns[f"{prefix}_{name}"] = scores.columns[name]
        columns[f"{prefix}_{INTEGRITY_COLUMN}"] = np.full(int(valid.sum()), integrity_label(scorer.model), dtype=object)
        flagged = summary.flagged[prefix]
        flagged["missing_predictors"] += int((scores.columns["missing_predictors"] != "").sum())
        flagged["extrapolated"] += int((scores.columns["extrapolated"] != "").sum())
        flagged["out_of_distribution"] += int(np.sum(scores.columns["out_of_distribution"]))
        reference = (scorer.model.bundle.manifest.get("development") or {}).get("drift_reference")
        if reference is not None:
            summary.drift[prefix] = add_counts(summary.drift.get(prefix, {}), bin_counts(reference, rows))
        counts = pd.Series(scores.columns["category"]).value_counts()
        for label, count in counts.items():
            summary.categories[prefix][str(label)] += int(count)
    if sheets is not None and valid.any():
        sheets.write(
            chunk, valid, keys.to_numpy(dtype=object)[valid], [p.frame[valid] for p in parsed], results, columns
        )
    table = _scores_table(columns, key, prefixes)
    return (
        table,
        _with_faults(_reject_records(problems, frame, chunk.lines, export, key), chunk, export, key),
        int(valid.sum()),
    )


def _with_faults(rejected: pd.DataFrame, chunk: Chunk, export: ExportFile, key: str) -> pd.DataFrame:
    """The reader's row-level faults (whole records) added to a chunk's rejects, in line order."""
    if not len(chunk.faults):
        return rejected
    faults = chunk.faults.assign(source=str(export.path), **{key: ""})[list(rejected.columns)]
    rejected = pd.concat([rejected, neutralise_frame(faults)], ignore_index=True) if len(rejected) else faults
    return rejected.sort_values(["line", "column"], kind="stable").reset_index(drop=True)


def _scores_table(columns: dict[str, Any], key: str, prefixes: list[str]) -> pa.Table:
    arrays = {}
    for name, values in columns.items():
        if name == "line":
            arrays[name] = pa.array(np.asarray(values, dtype=np.int64))
        elif (
            name == key
            or name.endswith(("_category", "_missing_predictors", "_extrapolated", INTEGRITY_COLUMN))
            or "_factor_" in name
        ):
            text = np.asarray(values, dtype=object)
            arrays[name] = pa.array([neutralise_cell(v) for v in text] if len(text) else text, type=pa.string())
        elif name.endswith("_out_of_distribution"):
            arrays[name] = pa.array(np.asarray(values, dtype=bool))
        else:
            arrays[name] = pa.array(np.asarray(values, dtype=np.float64), from_pandas=True)  # NaN -> empty
    return pa.table(arrays)


def _empty_scores(key: str, prefixes: list[str]) -> pa.Table:
    columns: dict[str, Any] = {"line": [], key: []}
    for prefix in prefixes:
        for name in (*OUTPUTS, INTEGRITY_COLUMN):
            columns[f"{prefix}_{name}"] = []
    return _scores_table(columns, key, prefixes)


def _reject_records(
    problems: list[Problem], frame: pd.DataFrame, lines: np.ndarray, export: ExportFile, key: str
) -> pd.DataFrame:
    if not problems:
        return _empty_rejects(key)
    keys = frame[key].to_numpy(dtype=object)
    parts = [
        pd.DataFrame(
            {
                "source": str(export.path),
                "line": lines[p.positions],
                key: keys[p.positions],
                "column": p.column,
                "value": frame[p.column].to_numpy(dtype=object)[p.positions],
                "rule": p.rule,
                "reason": p.reason,
            }
        )
        for p in problems
    ]
    records = neutralise_frame(pd.concat(parts, ignore_index=True))
    return records.sort_values(["line", "column"], kind="stable").reset_index(drop=True)


def _empty_rejects(key: str) -> pd.DataFrame:
    return pd.DataFrame(
        {
            c: pd.Series(dtype=np.int64 if c == "line" else object)
            for c in ("source", "line", key, "column", "value", "rule", "reason")
        }
    )


def _prefixes(models: list[ScoringModel]) -> list[str]:
    out: list[str] = []
    for model in models:
        name, k = model.task, 2
        while name in out:
            name, k = f"{model.task}_{k}", k + 1
        out.append(name)
    return out


class _CsvAppender:
    """Appends tables to one CSV file (header once) with pyarrow's writer (exact decimal round trip for floats).

    ``path`` is the temporary file of :func:`~spineoutcome.outputs.atomic_output`, renamed into
    place when the run succeeds. Text cells of a rejects table are neutralised here (scores tables
    are neutralised when they are built).
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._writer: pacsv.CSVWriter | None = None
        self._schema: pa.Schema | None = None
        self.empty = True

    def write(self, table: pa.Table | pd.DataFrame) -> None:
        if isinstance(table, pd.DataFrame):
            if not len(table) and not self.empty:
                return
            text = table.astype({c: object for c in table.columns if c != "line"})
            for column in text.columns:
                if column != "line":
                    text[column] = text[column].map(neutralise_cell)
            table = pa.Table.from_pandas(text, preserve_index=False)
            table = table.cast(
                pa.schema([pa.field(f.name, pa.int64() if f.name == "line" else pa.string()) for f in table.schema])
            )
        if not len(table) and not self.empty:
            return
        if self._writer is None:
            self._schema = table.schema
            self._writer = pacsv.CSVWriter(
                str(self.path), table.schema, write_options=pacsv.WriteOptions(quoting_style="needed")
            )
        self._writer.write_table(table.cast(self._schema))
        self.empty = False

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None
