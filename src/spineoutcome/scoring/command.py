"""The ``spineoutcome score`` command (registered in :mod:`spineoutcome.cli`).

Exit codes, as for every command: 0 every row scored; 1 some rows rejected (the scores and the
rejects file are still written); 3 the export or a model could not be used at all (unreadable
file, a column the model needs is missing, the model's files do not match the digest MLflow
recorded, no record to check it against). Nothing row-level is printed: counts, file names and
column names only; messages are printed as plain text (no console markup), so a header or value
with brackets is shown as it is.

Outputs are atomic and private (mode 0600); an existing output is refused unless ``--overwrite``.
A model accepted with ``--allow-unverified`` is reported UNVERIFIED on the console, in the
scores file (``<task>_model_integrity``) and on every risk sheet.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from spineoutcome.console import CommandConsole, ProgressDisplay
from spineoutcome.progress import ProgressEvent

EXIT_REJECTS = 1  # as spineoutcome.cli
EXIT_FILE_ERROR = 3

console = CommandConsole()


def score(
    model: Annotated[
        list[str],
        typer.Option(
            "--model",
            help="Model to score with: MLflow URI (models:/c5_palsy@champion, models:/c5_palsy/3, "
            "runs:/<run>/model) or a local model folder. Repeat for several models (one column group "
            "per task).",
        ),
    ],
    input_file: Annotated[
        Path, typer.Option("--input", help="The export to score (CSV/TSV/XLSX/Parquet), one row per patient.")
    ],
    out: Annotated[Path, typer.Option("--out", help="Scores file (CSV).")] = Path("scores.csv"),
    rejects: Annotated[
        Path | None, typer.Option("--rejects", help="Rejects file (default: <out stem>.rejects.csv next to --out).")
    ] = None,
    sheets: Annotated[
        Path | None,
        typer.Option(
            "--sheets",
            help="Write a one-page PDF risk sheet per scored patient into this folder "
            "(identifiable: written only here, never logged).",
        ),
    ] = None,
    explain: Annotated[
        bool, typer.Option("--explain/--no-explain", help="Top-3 drivers of each risk in plain words (SHAP).")
    ] = True,
    band: Annotated[
        bool, typer.Option("--band/--no-band", help="95 % uncertainty band from the bundle's bootstrap refits.")
    ] = True,
    column_map: Annotated[
        Path | None,
        typer.Option(
            "--column-map",
            help="YAML mapping export headers to dictionary names ({table: {header: name}}; "
            "the tables' mappings are merged).",
        ),
    ] = None,
    decimal: Annotated[str, typer.Option("--decimal", help="Decimal mark of the export: '.' or ','.")] = ".",
    encoding: Annotated[str | None, typer.Option("--encoding", help="Text encoding (default: detected).")] = None,
    delimiter: Annotated[str | None, typer.Option("--delimiter", help="Field delimiter (default: detected).")] = None,
    chunk_size: Annotated[
        int, typer.Option("--chunk-size", min=1, help="Rows read, scored and written at a time (bounds memory).")
    ] = 50_000,
    allow_unverified: Annotated[
        bool,
        typer.Option(
            "--allow-unverified",
            help="Accept a model whose files have no digest recorded outside its folder (registry "
            "or site signature); every output then says UNVERIFIED.",
        ),
    ] = False,
    overwrite: Annotated[
        bool,
        typer.Option(
            "--overwrite", help="Replace existing scores, rejects, summary and risk sheets (default: refuse)."
        ),
    ] = False,
    tracking_uri: Annotated[
        str | None,
        typer.Option(
            "--tracking-uri", help="MLflow tracking URI (default: MLFLOW_TRACKING_URI or sqlite:///mlruns.db)."
        ),
    ] = None,
    dictionary: Annotated[
        Path | None,
        typer.Option(
            "--dictionary",
            help="Directory of a data dictionary (default: the one the model was trained with, "
            "as carried in its bundle).",
        ),
    ] = None,
    period: Annotated[
        str | None,
        typer.Option(
            "--period",
            help="Label of the period these patients belong to, for monitoring (default: this month, "
            "YYYY-MM); recorded in <out stem>.drift.json.",
        ),
    ] = None,
) -> None:
    """Score a pre-operative export: calibrated risk, 95 % band, risk group, main drivers and flags per patient.

    Every row is either scored or rejected with its line number, column and reason
    (rows in = rows scored + rows rejected, printed at the end). Rows with missing predictor values
    are scored (the model imputes them) and flagged.
    """
    from spineoutcome.data import ExportReadError, read_column_map
    from spineoutcome.dictionary import DataDictionary, DictionaryError
    from spineoutcome.errors import SpineoutcomeError
    from spineoutcome.outputs import atomic_output, check_writable
    from spineoutcome.scoring.export import score_export
    from spineoutcome.scoring.model import ModelLoadError
    from spineoutcome.scoring.sheets import SheetError

    summary_path = out.with_suffix(".summary.json")
    try:
        check_writable(summary_path, overwrite=overwrite)
        dd = DataDictionary.load(dictionary) if dictionary is not None else None
        mapping = None
        if column_map is not None:
            mapping = {}
            for table_map in read_column_map(column_map).values():
                mapping.update(table_map)
        with ProgressDisplay(console, "score") as show:
            summary = score_export(
                model,
                input_file,
                out,
                rejects=rejects,
                sheets_dir=sheets,
                column_map=mapping,
                encoding=encoding,
                delimiter=delimiter,
                decimal=decimal,
                chunk_size=chunk_size,
                explain=explain,
                band=band,
                tracking_uri=tracking_uri,
                allow_unverified=allow_unverified,
                dictionary=dd,
                overwrite=overwrite,
                period=period,
                progress=lambda rows: show(ProgressEvent("score", "scoring", f"Scoring: {rows:,} rows", rows)),
            )
        with atomic_output(summary_path, overwrite=overwrite) as temporary:
            temporary.write_text(json.dumps(summary.to_dict(), indent=1), encoding="utf-8")
    except (ExportReadError, ModelLoadError, DictionaryError, SheetError, SpineoutcomeError, OSError) as exc:
        console.print(f"Cannot score: {exc}", style="red", markup=False, highlight=False)
        raise typer.Exit(EXIT_FILE_ERROR) from None
    _print_summary(summary)
    if summary.rows_rejected:
        raise typer.Exit(EXIT_REJECTS)


def sign_model(
    model: Annotated[
        Path, typer.Argument(help="A local model folder (a downloaded MLflow model, or a bundle folder).")
    ],
    tracking_uri: Annotated[
        str | None,
        typer.Option(
            "--tracking-uri", help="MLflow tracking store that recorded the model (default: MLFLOW_TRACKING_URI)."
        ),
    ] = None,
    allow_unverified: Annotated[
        bool,
        typer.Option(
            "--allow-unverified", help="Sign a folder that has no record to check it against (the site vouches for it)."
        ),
    ] = False,
) -> None:
    """Sign a model folder with the site key (SPINEOUTCOME_SIGNING_KEY), so it can be scored without the registry.

    The folder is first checked like any load (against the tracking store's record); only a folder
    that passes is signed, unless --allow-unverified. The signature (HMAC-SHA256 of the digest of
    every file) is written into the folder; any later change to a file makes it fail.
    """
    from spineoutcome.bundle.integrity import sign_model as sign
    from spineoutcome.errors import SpineoutcomeError
    from spineoutcome.scoring.model import fetch_verified

    try:
        with fetch_verified(model, tracking_uri=tracking_uri, allow_unverified=allow_unverified) as fetched:
            checked = fetched.verification
        path = sign(model, expected=checked.digest)
    except (SpineoutcomeError, OSError) as exc:
        console.print(f"Cannot sign: {exc}", style="red", markup=False, highlight=False)
        raise typer.Exit(EXIT_FILE_ERROR) from None
    console.print(f"Signed {model} ({checked.describe()}): {path.name}", markup=False, highlight=False)


def _print_summary(summary) -> None:  # summary: ScoringSummary, imported lazily
    for prefix, model in zip(summary.prefixes, summary.models, strict=True):
        flags = summary.flagged[prefix]
        console.print(
            f"{prefix}: {model['uri']} ({model['family']}); {model['integrity']}",
            markup=False,
            highlight=False,
            style=None if model["verified"] else "bold red",
        )
        groups = " | ".join(f"{k}: {v:,}" for k, v in summary.categories[prefix].items())
        console.print(f"  risk groups: {groups}", markup=False, highlight=False)
        console.print(
            f"  flagged: {flags['missing_predictors']:,} with imputed values, {flags['extrapolated']:,} "
            f"outside the training data, {flags['out_of_distribution']:,} unusual combinations",
            markup=False,
            highlight=False,
        )
    if summary.problems_by_rule:
        console.print(
            "Problems by rule: " + ", ".join(f"{k} {v}" for k, v in sorted(summary.problems_by_rule.items())),
            markup=False,
            highlight=False,
        )
    if summary.ignored_columns:
        console.print(
            f"{summary.ignored_columns} column(s) of the export are not used by the model(s) and were ignored.",
            markup=False,
            highlight=False,
        )
    console.print(
        f"Rows in {summary.rows_in:,} = scored {summary.rows_scored:,} + rejected {summary.rows_rejected:,}"
        f" ({summary.seconds:.1f} s)",
        markup=False,
        highlight=False,
    )
    console.print(
        f"Scores: {summary.outputs['scores']}   Rejects: {summary.outputs['rejects']}", markup=False, highlight=False
    )
    if summary.outputs.get("sheets"):
        console.print(
            f"Risk sheets: {summary.outputs['sheets_written']} PDF(s) in {summary.outputs['sheets']}/",
            markup=False,
            highlight=False,
        )
    if not all(model["verified"] for model in summary.models):
        from spineoutcome.bundle.integrity import UNVERIFIED

        console.print(
            f"{UNVERIFIED}: at least one model was not checked against a record kept outside its folder "
            "(--allow-unverified); its scores are marked UNVERIFIED.",
            style="bold red",
            markup=False,
            highlight=False,
        )
