"""The ``spineoutcome validate`` command (registered in :mod:`spineoutcome.cli`).

Exit codes, as for every command: 0 every row valid; 1 some rows rejected (the clean and rejects
files are still written); 2 a usage error (an unknown option, a decimal mark other than ``.`` or
``,``); 3 a file could not be used at all (it cannot be a table, a required column or the patient
table is missing), with a message naming the file and the reason.

Nothing identifying reaches the console: counts, file and column names (cut to 40 characters) and
values that are neither keys nor from identifying columns (:meth:`ValidationReport.messages`).
The clean and rejects files hold patient data: they are written with
:func:`spineoutcome.outputs.write_patient_csv` (atomic, owner-only, spreadsheet-safe cells).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table as RichTable

from spineoutcome.data.loading import DECIMAL_MARKS, load_tables, read_file_options
from spineoutcome.data.reader import short
from spineoutcome.data.sources import read_column_map, read_export
from spineoutcome.data.validate import ValidationReport, validate_export
from spineoutcome.dictionary import DataDictionary
from spineoutcome.errors import SpineoutcomeError
from spineoutcome.outputs import check_writable, write_patient_csv

EXIT_REJECTS = 1  # as spineoutcome.cli
EXIT_FILE_ERROR = 3

console = Console(stderr=True)


def _decimal_mark(value: str) -> str:
    if value not in DECIMAL_MARKS:
        raise typer.BadParameter(f"the decimal mark must be '.' or ',', not {short(value, 5)!r}")
    return value


def validate(
    data: Annotated[
        Path, typer.Argument(help="A folder of exports (clinical.csv, proms.csv, ...) or one export file.")
    ],
    out: Annotated[Path, typer.Option("--out", help="Folder for the clean tables and the rejects files.")] = Path(
        "validated"
    ),
    table: Annotated[
        str | None, typer.Option("--table", help="Dictionary table of a single file (default: the file name).")
    ] = None,
    column_map: Annotated[
        Path | None,
        typer.Option(
            "--column-map",
            help="YAML mapping export headers to dictionary names, per table; a table's 'options' "
            "entry sets that file's decimal, encoding, delimiter or sheet.",
        ),
    ] = None,
    decimal: Annotated[
        str,
        typer.Option(
            "--decimal",
            callback=_decimal_mark,
            help="Decimal mark of the exports: '.' or ',' (per file: the column map's options).",
        ),
    ] = ".",
    encoding: Annotated[str | None, typer.Option("--encoding", help="Text encoding (default: detected).")] = None,
    sheet: Annotated[
        str | None,
        typer.Option("--sheet", help="Workbook sheet to read (required when a workbook has several sheets with data)."),
    ] = None,
    show: Annotated[int, typer.Option("--show", help="How many problems to print (all are in the rejects file).")] = 20,
    overwrite: Annotated[
        bool, typer.Option("--overwrite", help="Replace clean and rejects files from an earlier run.")
    ] = False,
    dictionary: Annotated[
        Path | None,
        typer.Option("--dictionary", help="Directory of a hospital's own data dictionary (default: the built-in one)."),
    ] = None,
    pipeline: Annotated[
        Path | None,
        typer.Option(
            "--pipeline",
            help="Also check everything this pipeline file needs from the dictionary (roles, columns, "
            "outcome), as train does before its first fit.",
        ),
    ] = None,
) -> None:
    """Check exports against the data dictionary; write clean rows and a rejects file.

    Every problem is reported at once with its line number, column, value and rule. No row is lost:
    rows in = clean + rejected for every table, and the counts are printed.
    """
    if pipeline is not None:
        _check_pipeline(pipeline, dictionary)
    try:
        reports = _validate(data, out, table, column_map, decimal, encoding, sheet, overwrite, dictionary)
    except SpineoutcomeError as exc:
        _error(f"Cannot use the export: {exc}")
        raise typer.Exit(EXIT_FILE_ERROR) from None
    except Exception as exc:  # noqa: BLE001 - no input file may end in a traceback; the type names the fault
        _error(f"Cannot use the export {data}: unexpected {type(exc).__name__}; please report it (no data shown)")
        raise typer.Exit(EXIT_FILE_ERROR) from None
    _print_reports(reports, show)
    console.print(f"Clean tables and rejects written to {out}/", markup=False, highlight=False)
    if any(r.fatal for r in reports.values()):
        raise typer.Exit(EXIT_FILE_ERROR)
    if any(r.rows_rejected for r in reports.values()):
        raise typer.Exit(EXIT_REJECTS)


def _check_pipeline(pipeline: Path, dictionary: Path | None) -> None:
    """The pipeline's pre-flight check (every missing role, column or setting at once), as ``train`` runs it."""
    from spineoutcome.config import load_pipeline, pipeline_warnings

    try:
        dd = DataDictionary.load(dictionary)
        warnings = pipeline_warnings(load_pipeline(pipeline, dd), dd)
    except SpineoutcomeError as exc:
        _error(str(exc))
        raise typer.Exit(EXIT_FILE_ERROR) from None
    for warning in warnings:
        console.print(f"warning: {warning}", style="yellow", markup=False, highlight=False)


def _validate(
    data: Path,
    out: Path,
    table: str | None,
    column_map: Path | None,
    decimal: str,
    encoding: str | None,
    sheet: str | None,
    overwrite: bool,
    dictionary: Path | None,
) -> dict[str, ValidationReport]:
    dd = DataDictionary.load(dictionary)
    if data.is_dir():
        names = [n for n in dd.tables if any(data.glob(f"{n}.*"))]
    else:
        names = [table or data.stem]
        dd.table(names[0])
    for name in names:
        check_writable(out / f"{name}.clean.csv", overwrite=overwrite)
        check_writable(out / f"{name}.rejects.csv", overwrite=overwrite)
    if data.is_dir():
        loaded = load_tables(data, dd, column_map=column_map, decimal=decimal, encoding=encoding, sheet=sheet)
        reports = dict(loaded.reports)
        if loaded.missing_tables:
            console.print(f"Not found (optional): {', '.join(loaded.missing_tables)}", markup=False, highlight=False)
    else:
        name = names[0]
        mapping = read_column_map(column_map).get(name) if column_map else None
        options = {"decimal": decimal, "encoding": encoding, "sheet": sheet}
        options |= read_file_options(column_map).get(name, {}) if column_map else {}
        reports = {name: validate_export(read_export(data, column_map=mapping, **options), name, dd)}
    for name, report in reports.items():
        write_patient_csv(report.clean, out / f"{name}.clean.csv", overwrite=overwrite)
        write_patient_csv(report.rejects, out / f"{name}.rejects.csv", overwrite=overwrite)
    return reports


def _error(message: str) -> None:
    """Print a problem verbatim: messages hold brackets that Rich must not read as markup."""
    console.print(message, style="red", markup=False, highlight=False)


def _print_reports(reports: dict[str, ValidationReport], show: int) -> None:
    summary = RichTable(title="Validation against the data dictionary")
    for col in ("table", "rows in", "clean", "rejected", "blank lines", "problems"):
        summary.add_column(col, justify="left" if col in ("table", "problems") else "right")
    for name, report in reports.items():
        problems = ", ".join(f"{rule} {n}" for rule, n in report.problems_by_rule().items()) or "-"
        summary.add_row(
            name,
            str(report.rows_in),
            str(report.rows_clean),
            str(report.rows_rejected),
            str(report.blank_lines),
            problems,
        )
    console.print(summary)
    for report in reports.values():
        for line in report.fatal:
            _error(line)
        for note in report.notes:
            console.print(f"note: {note}", style="yellow", markup=False, highlight=False)
        messages = report.messages(limit=show)
        for message in messages:
            console.print(message, markup=False, highlight=False, soft_wrap=True)
        if report.rejects.shape[0] > len(messages):
            console.print(
                f"... {report.rejects.shape[0] - len(messages)} more problems in {report.table}.rejects.csv",
                markup=False,
                highlight=False,
            )
