"""``spineoutcome dictionary init|check``: draft a data dictionary from a table; say what is still undecided.

Exit codes: ``init`` 0 (written) or 3 (unreadable table, existing output); ``check`` 0 (complete),
1 (something undecided: a pipeline would refuse it), 3 (the dictionary cannot be loaded).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from spineoutcome.data.sources import read_export
from spineoutcome.dictionary import DataDictionary
from spineoutcome.dictionary_draft import dictionary_problems, draft_dictionary
from spineoutcome.outcomes.definitions import OUTCOMES_FILE
from spineoutcome.outputs import atomic_output, check_writable

EXIT_UNDECIDED = 1

app = typer.Typer(help="Draft a data dictionary from your own table; check one.", no_args_is_help=True)
console = Console(stderr=True, soft_wrap=True)

OUTCOMES_TEMPLATE = """\
# Outcome definitions of this dictionary (`outcome: NAME` in a pipeline), or give one inline in the pipeline.
# The outcome is recorded in a column (binary):
#   my_outcome:
#     kind: column
#     description: What a positive value means, and when it was recorded.
#     column: COLUMN
#     positive: VALUE            # or [VALUE, VALUE]
# Right-censored time to event, labelled at a horizon (in the time column's unit):
#   my_event:
#     kind: time_to_event
#     description: ...
#     time: COLUMN
#     event: COLUMN
#     event_value: VALUE
#     horizon: 365
version: "draft-1"
outcomes: {}
"""


@app.command()
def init(
    data_file: Annotated[
        Path, typer.Argument(help="One table: CSV, TSV, XLSX or Parquet.", exists=True, dir_okay=False)
    ],
    out: Annotated[
        Path, typer.Option("--out", help="Folder for the draft dictionary (variables.yaml, outcomes.yaml).")
    ],
    table: Annotated[str | None, typer.Option("--table", help="Table name (default: the file name).")] = None,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace an existing draft.")] = False,
) -> None:
    """Write a draft dictionary: dtypes, plausible ranges, categories, likely missing codes, guessed roles.

    Every variable's timing is left ``preoperative: undecided``: edit it before training.
    """
    name = table or data_file.stem
    variables, outcomes = out / "variables.yaml", out / OUTCOMES_FILE
    for path in (variables, outcomes):
        check_writable(path, overwrite=overwrite)
    draft = draft_dictionary(read_export(data_file), name)
    with atomic_output(variables, overwrite=overwrite) as temporary:
        temporary.write_text(draft.to_yaml(), encoding="utf-8")
    with atomic_output(outcomes, overwrite=overwrite) as temporary:
        temporary.write_text(OUTCOMES_TEMPLATE, encoding="utf-8")
    console.print(
        f"Draft dictionary of {len(draft.variables)} columns written to {out}/ (table {name!r}; "
        f"put the data in a folder as {name}{data_file.suffix}).",
        markup=False,
        highlight=False,
    )
    for note in draft.notes:
        console.print(note, markup=False, highlight=False)
    console.print(
        f"Next: set preoperative: true/false for each variable in {variables}, fill in study:, then "
        f"run `spineoutcome dictionary check {out}`.",
        markup=False,
        highlight=False,
    )


@app.command()
def check(
    directory: Annotated[Path, typer.Argument(help="A dictionary folder (with variables.yaml).")],
) -> None:
    """Load a dictionary and list what is wrong (exit 3), undecided (exit 1) or not yet described."""
    dictionary = DataDictionary.load(directory)
    problems, notes = dictionary_problems(dictionary)
    for note in notes:
        console.print(f"note: {note}", style="yellow", markup=False, highlight=False)
    for problem in problems:
        console.print(problem, style="red", markup=False, highlight=False)
    tables = ", ".join(f"{t.name} ({len(t.variables)} variables)" for t in dictionary.tables.values())
    key = "the line number" if dictionary.line_number_key else repr(dictionary.key)
    centre = repr(dictionary.column("centre")) if dictionary.has_role("centre") else "none (single-centre study)"
    console.print(
        f"Dictionary {dictionary.name!r} {dictionary.version}: {tables}; key {key}; centre {centre}.",
        markup=False,
        highlight=False,
    )
    if problems:
        raise typer.Exit(EXIT_UNDECIDED)
