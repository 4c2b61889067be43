"""The ``spineoutcome`` command line.

Exit codes (all commands):
  0  success; for ``validate``: every row valid
  1  ``validate``: some rows were rejected (clean rows and the rejects file are still written)
  2  usage error (an unknown option, a missing argument)
  3  a file could not be used at all (unreadable, a required column or the patient table missing)
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table as RichTable

from spineoutcome import __version__
from spineoutcome.data import ExportReadError, load_tables, read_column_map, read_export, validate_export
from spineoutcome.data.validate import ValidationReport
from spineoutcome.dictionary import DataDictionary, DictionaryError
from spineoutcome.outcomes import cli as outcomes_cli

EXIT_REJECTS = 1
EXIT_FILE_ERROR = 3

app = typer.Typer(
    help="Pre-operative outcome prediction for cervical spine surgery: build, validate, report and "
    "deploy prediction models the TRIPOD+AI way.",
    no_args_is_help=True,
    add_completion=False,
)
app.add_typer(outcomes_cli.app, name="outcomes", help="Derive outcome labels; MCID sensitivity analysis.")
console = Console(stderr=True)

DictionaryOption = Annotated[
    Path | None,
    typer.Option("--dictionary", help="Directory of a hospital's own data dictionary (default: the built-in one)."),
]


@app.callback()
def _root(
    version: Annotated[bool, typer.Option("--version", help="Print the package version and exit.")] = False,
) -> None:
    if version:
        typer.echo(__version__)
        raise typer.Exit()


def _dictionary(path: Path | None) -> DataDictionary:
    try:
        return DataDictionary.load(path)
    except DictionaryError as exc:
        console.print(f"[red]Data dictionary problem:[/red] {exc}")
        raise typer.Exit(EXIT_FILE_ERROR) from None


@app.command()
def validate(
    data: Annotated[Path, typer.Argument(help="A folder of exports (clinical.csv, proms.csv, ...) or one export file.")],
    out: Annotated[Path, typer.Option("--out", help="Folder for the clean tables and the rejects files.")] = Path("validated"),
    table: Annotated[str | None, typer.Option("--table", help="Dictionary table of a single file (default: the file name).")] = None,
    column_map: Annotated[Path | None, typer.Option("--column-map", help="YAML mapping export headers to dictionary names, per table.")] = None,
    decimal: Annotated[str, typer.Option("--decimal", help="Decimal mark of the export: '.' or ','.")] = ".",
    encoding: Annotated[str | None, typer.Option("--encoding", help="Text encoding (default: detected).")] = None,
    show: Annotated[int, typer.Option("--show", help="How many problems to print (all are in the rejects file).")] = 20,
    dictionary: DictionaryOption = None,
) -> None:
    """Check exports against the data dictionary; write clean rows and a rejects file.

    Every problem is reported at once with its line number, column, value and rule. No row is lost:
    rows in = clean + rejected for every table, and the counts are printed.
    """
    dd = _dictionary(dictionary)
    try:
        if data.is_dir():
            loaded = load_tables(data, dd, column_map=column_map, decimal=decimal, encoding=encoding)
            reports = dict(loaded.reports)
            if loaded.missing_tables:
                console.print(f"Not found (optional): {', '.join(loaded.missing_tables)}")
        else:
            name = table or data.stem
            mapping = read_column_map(column_map).get(name) if column_map else None
            reports = {name: validate_export(read_export(data, column_map=mapping, decimal=decimal, encoding=encoding),
                                          name, dd)}
    except (ExportReadError, KeyError) as exc:
        console.print(f"[red]Cannot use the export:[/red] {exc}")
        raise typer.Exit(EXIT_FILE_ERROR) from None
    out.mkdir(parents=True, exist_ok=True)
    for name, report in reports.items():
        report.clean.to_csv(out / f"{name}.clean.csv", index=False)
        report.rejects.to_csv(out / f"{name}.rejects.csv", index=False)
    _print_reports(reports, show)
    console.print(f"Clean tables and rejects written to {out}/")
    if any(r.fatal for r in reports.values()):
        raise typer.Exit(EXIT_FILE_ERROR)
    if any(r.rows_rejected for r in reports.values()):
        raise typer.Exit(EXIT_REJECTS)


def _print_reports(reports: dict[str, ValidationReport], show: int) -> None:
    summary = RichTable(title="Validation against the data dictionary")
    for col in ("table", "rows in", "clean", "rejected", "problems"):
        summary.add_column(col, justify="right" if col != "table" else "left")
    for name, report in reports.items():
        problems = ", ".join(f"{rule} {n}" for rule, n in report.problems_by_rule().items()) or "-"
        summary.add_row(name, str(report.rows_in), str(report.rows_clean), str(report.rows_rejected), problems)
    console.print(summary)
    for report in reports.values():
        for line in report.fatal:
            console.print(f"[red]{line}[/red]")
        for note in report.notes:
            console.print(f"[yellow]note:[/yellow] {note}")
        messages = report.messages(limit=show)
        for message in messages:
            console.print(message, markup=False, highlight=False)
        if report.rejects.shape[0] > len(messages):
            console.print(f"... {report.rejects.shape[0] - len(messages)} more problems in {report.table}.rejects.csv")


def main() -> None:
    app()
