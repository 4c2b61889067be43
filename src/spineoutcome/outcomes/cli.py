"""``spineoutcome outcomes ...``: derive outcome labels and the MCID sensitivity table from exports."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import pandas as pd
import typer
from rich.console import Console
from rich.table import Table

from spineoutcome.data import load_tables
from spineoutcome.dictionary import DataDictionary
from spineoutcome.outcomes.definitions import derive_outcome
from spineoutcome.outcomes.labels import table_or_empty, table_with_role
from spineoutcome.outcomes.mcid import MCIDRegistry, mcid_sensitivity
from spineoutcome.outcomes.proms import score_totals

app = typer.Typer(
    help="Outcome labels (MCID, C5 palsy, complications, OPLL progression) from follow-up data.", no_args_is_help=True
)

DataDir = Annotated[
    Path,
    typer.Option(
        "--data", help="Directory with the exports (clinical.csv, proms.csv, ...).", exists=True, file_okay=False
    ),
]
DictionaryDir = Annotated[
    Path | None, typer.Option("--dictionary", help="Data dictionary directory (default: built-in).")
]
ValueSet = Annotated[
    Path | None, typer.Option("--value-set", help="EQ-5D-5L value set CSV (dimension, level, decrement).")
]


def _load(data: Path, dictionary_dir: Path | None) -> tuple[DataDictionary, dict[str, pd.DataFrame]]:
    dictionary = DataDictionary.load(dictionary_dir)
    return dictionary, dict(load_tables(data, dictionary).tables)


@app.command()
def labels(
    outcome: Annotated[str, typer.Option("--outcome", help="Outcome name from outcomes.yaml, e.g. c5_palsy.")],
    data: DataDir,
    dictionary_dir: DictionaryDir = None,
    value_set: ValueSet = None,
) -> None:
    """Print n labelled, events and prevalence of one outcome, and the exclusions by reason."""
    dictionary, tables = _load(data, dictionary_dir)
    result = derive_outcome(outcome, tables, dictionary, value_set=value_set)
    counts = result.counts()
    console = Console()
    summary = Table(title=f"Outcome {result.name} ({result.kind})")
    last = "prevalence" if result.kind == "binary" else "censored"
    for column in ("considered", "labelled", "events", last):
        summary.add_column(column, justify="right")
    shown = counts[last]
    summary.add_row(
        str(counts["considered"]),
        str(counts["labelled"]),
        str(counts["events"]),
        "-" if shown is None else f"{shown:.1%}" if last == "prevalence" else str(shown),
    )
    console.print(summary)
    excluded = Table(title="Excluded")
    excluded.add_column("reason")
    excluded.add_column("n", justify="right")
    for reason, n in counts["excluded"].items():
        excluded.add_row(reason, str(n))
    if not counts["excluded"]:
        excluded.add_row("(none)", "0")
    console.print(excluded)


@app.command("mcid-sensitivity")
def mcid_sensitivity_command(
    instrument: Annotated[str, typer.Option("--instrument", help="Instrument code from instruments.yaml, e.g. mjoa.")],
    data: DataDir,
    reference: Annotated[str | None, typer.Option("--reference", help="Reference MCID definition name.")] = None,
    dictionary_dir: DictionaryDir = None,
    value_set: ValueSet = None,
) -> None:
    """Print labels under every MCID definition of an instrument, compared with the reference."""
    dictionary, tables = _load(data, dictionary_dir)
    if instrument not in dictionary.instruments:
        known = list(dictionary.instruments)
        raise typer.BadParameter(f"{instrument!r} is not one of {known}", param_hint="--instrument")
    prom_table = table_with_role(dictionary, "instrument")
    proms = table_or_empty(tables, prom_table)
    proms = proms[proms[prom_table.column("instrument")].astype(str) == instrument]
    totals = score_totals(proms, dictionary, value_set=value_set)
    patients = tables[dictionary.patient_table.name][dictionary.key]
    frame = mcid_sensitivity(instrument, totals, dictionary, MCIDRegistry.load(dictionary), reference, patients)
    table = Table(title=f"MCID sensitivity: {instrument} ({len(patients)} patients)")
    columns = [
        "definition",
        "rule",
        "followup",
        "threshold",
        "n_labelled",
        "n_achieved",
        "proportion",
        "n_compared",
        "n_changed",
        "n_gained",
        "n_lost",
    ]
    for column in columns:
        table.add_column(column, justify="left" if column in ("definition", "rule", "followup") else "right")
    for row in frame.itertuples(index=False):
        cells = {c: getattr(row, c) for c in columns}
        cells["definition"] = f"{row.definition} (ref)" if row.reference else row.definition
        cells["threshold"] = "-" if pd.isna(row.threshold) else f"{row.threshold:.3g}"
        cells["proportion"] = "-" if pd.isna(row.proportion) else f"{row.proportion:.1%}"
        table.add_row(*(str(cells[c]) for c in columns))
    Console().print(table)
