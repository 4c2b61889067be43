"""Command-line functions for running beyond one machine (typer, in the style of :mod:`spineoutcome.cli`).

- ``worker``: join the Optuna studies of a pipeline's tuning (PostgreSQL storage shared by N workers);
- ``optuna-init``: create the Optuna tables of a storage once, before workers and ``train`` start;
- ``spark-score``: score a large export on Spark with a registered model.

They are commands of the main ``spineoutcome`` app and also run as ``python -m spineoutcome.distributed
COMMAND``. Heavy imports happen inside the functions, so they cost the CLI nothing at start-up.

Exit codes as in :mod:`spineoutcome.cli`: 0 success, 2 usage error, 3 an input (export, pipeline
file, storage, model) could not be used.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table as RichTable

from spineoutcome.console import CommandConsole, ProgressDisplay
from spineoutcome.credentials import STORAGE_ENV, mask_secrets, mask_url
from spineoutcome.progress import ProgressEvent

EXIT_FILE_ERROR = 3
console = CommandConsole()

DictionaryOption = Annotated[
    Path | None,
    typer.Option("--dictionary", help="Directory of a hospital's own data dictionary (default: the built-in one)."),
]
TrackingOption = Annotated[
    str | None,
    typer.Option("--tracking-uri", help="MLflow tracking URI (default: MLFLOW_TRACKING_URI or sqlite:///mlruns.db)."),
]


def _warn_if_password_in_argv(url: str) -> None:
    """A storage URL with a password that did not come from the environment was typed on the command line."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        password = make_url(url).password
    except ArgumentError:
        return
    if password and os.environ.get(STORAGE_ENV) != url:
        console.print(
            f"warning: the storage password is on the command line, where every user of this machine can "
            f"read it (process list, shell history); set {STORAGE_ENV} and keep the password in ~/.pgpass "
            "or PGPASSWORD",
            style="yellow",
            markup=False,
            highlight=False,
        )


def worker(
    pipeline: Annotated[Path, typer.Argument(help="Pipeline file, e.g. pipelines/c5_palsy.yaml (the trainer's).")],
    data: Annotated[Path, typer.Option("--data", help="Folder of exports: the same data as the trainer's.")],
    optuna_storage: Annotated[
        str,
        typer.Option(
            "--optuna-storage",
            envvar=STORAGE_ENV,
            help="RDB URL shared by every worker, e.g. postgresql://user@db-host:5432/optuna; give it in "
            f"{STORAGE_ENV} and the password in ~/.pgpass or PGPASSWORD, never on the command line "
            "(process lists show it).",
        ),
    ],
    family: Annotated[
        list[str] | None,
        typer.Option(
            "--family", help="Tune only this model family (repeatable; default: every tuned family of the pipeline)."
        ),
    ] = None,
    fit: Annotated[
        list[str] | None,
        typer.Option("--fit", help="Only these fits: cv, final, bootstrap, iecv, temporal (repeatable; default: all)."),
    ] = None,
    heartbeat: Annotated[
        int | None,
        typer.Option(
            "--heartbeat",
            min=0,
            help="Seconds between heartbeats of a running trial; 0 = off (default: 60 on a "
            "server database, off on SQLite). Use the same value on every process of a study.",
        ),
    ] = None,
    grace_period: Annotated[
        int | None,
        typer.Option(
            "--grace-period",
            min=1,
            help="Seconds without heartbeat before a trial counts as lost and is retried (default: twice --heartbeat).",
        ),
    ] = None,
    max_retry: Annotated[int, typer.Option("--max-retry", min=0, help="Retries of a lost trial.")] = 3,
    sampler_seed: Annotated[
        int | None,
        typer.Option(
            "--sampler-seed",
            help="TPE seed of this worker (default: random). Workers of one study need different "
            "seeds, or they propose the same trials.",
        ),
    ] = None,
    plan_only: Annotated[
        bool, typer.Option("--plan", help="List the studies this worker would tune, and exit.")
    ] = False,
    report_json: Annotated[
        Path | None, typer.Option("--json", help="Also write the per-study report to this JSON file.")
    ] = None,
    dictionary: DictionaryOption = None,
) -> None:
    """Join the Optuna studies of a pipeline's tuning: run it on as many processes or machines as you like.

    Every worker (and `spineoutcome train PIPELINE --optuna-storage URL` on the same data) tunes the same
    studies, in the order train fits them; each study stops at its budget (tuning.n_trials complete
    or pruned trials), whoever ran them. A killed worker's running trial is marked failed after the
    grace period and run again by another worker.
    """
    from spineoutcome.api import load_cohort
    from spineoutcome.config import ConfigError, load_pipeline
    from spineoutcome.data import ExportReadError
    from spineoutcome.dictionary import DataDictionary, DictionaryError
    from spineoutcome.distributed.workers import StorageError, run_worker, tuning_plan
    from spineoutcome.outcomes import load_outcome_definitions

    _warn_if_password_in_argv(optuna_storage)
    try:
        dd = DataDictionary.load(dictionary)
        cohort = load_cohort(data, dd)
        config = load_pipeline(pipeline, dd, outcomes=list(load_outcome_definitions()))
        if plan_only:
            task, plan = tuning_plan(config, cohort, storage=optuna_storage, families=family, stages=fit)
            table = RichTable(title=f"{config.name}: {len(plan)} studies, {config.tuning.n_trials} trials each")
            for col in ("family", "fit", "rows", "study"):
                table.add_column(col)
            for item in plan:
                table.add_row(
                    item.family, f"{item.stage} {item.label}", str(len(item.data(task)[1])), item.study_name(task)
                )
            console.print(table)
            return
        console.print(
            f"Worker on {config.name} ({', '.join(family or config.families)}), storage {mask_url(optuna_storage)}",
            markup=False,
        )
        with ProgressDisplay(console, config.name) as show:

            def progress(message: str, done: int, total: int) -> None:
                show(ProgressEvent(config.name, message.split(":")[0], message, done, total))  # "family stage"

            report = run_worker(
                config,
                cohort,
                optuna_storage,
                families=family,
                stages=fit,
                sampler_seed=sampler_seed,
                heartbeat_interval="auto" if heartbeat is None else (heartbeat or None),
                grace_period=grace_period,
                max_retry=max_retry,
                progress=progress,
            )
    except (ExportReadError, ConfigError, DictionaryError, StorageError, ValueError) as exc:
        console.print(mask_secrets(str(exc)), style="red", markup=False, highlight=False)
        raise typer.Exit(EXIT_FILE_ERROR) from None
    table = RichTable(title=f"Studies tuned (sampler seed {report.sampler_seed}, {report.seconds / 60:.1f} min)")
    for col in ("family", "fit", "complete", "pruned", "failed", "best value", "seconds"):
        table.add_column(col)
    for record in report.fits:
        best = record.get("best_value")
        table.add_row(
            record["family"],
            f"{record['stage']} {record['label']}",
            str(record.get("n_complete", "-")),
            str(record.get("n_pruned", "-")),
            str(record.get("n_failed", "-")),
            f"{best:.4f}" if isinstance(best, float) else record.get("skipped", "-"),
            f"{record['seconds']:.1f}",
        )
    console.print(table)
    if report_json is not None:
        report_json.write_text(
            json.dumps({"sampler_seed": report.sampler_seed, "seconds": report.seconds, "fits": report.fits}, indent=1),
            encoding="utf-8",
        )


def optuna_init(
    optuna_storage: Annotated[
        str,
        typer.Argument(
            envvar=STORAGE_ENV,
            show_envvar=True,
            help="RDB URL, e.g. postgresql://user@db-host:5432/optuna (password in ~/.pgpass or PGPASSWORD); "
            f"prefer {STORAGE_ENV} to the command line.",
        ),
    ],
) -> None:
    """Create the Optuna tables of a storage (once, before workers and train start; safe to repeat)."""
    from spineoutcome.distributed.workers import StorageError, prepare_storage

    _warn_if_password_in_argv(optuna_storage)
    try:
        prepare_storage(optuna_storage)
    except StorageError as exc:
        console.print(mask_secrets(str(exc)), style="red", markup=False, highlight=False)
        raise typer.Exit(EXIT_FILE_ERROR) from None
    console.print(f"Optuna storage ready: {mask_url(optuna_storage)}", markup=False)


def spark_score(
    data: Annotated[
        str,
        typer.Argument(
            help="The export to score: CSV (file or folder, header row) or Parquet; "
            "a local path or any URI Spark reads (hdfs://, s3a://)."
        ),
    ],
    model: Annotated[str, typer.Option("--model", help="MLflow model URI.")] = "models:/c5_palsy@champion",
    out: Annotated[
        str, typer.Option("--out", help="Where to write the scores (a folder of part files).")
    ] = "scores.parquet",
    key: Annotated[str, typer.Option("--key", help="Row identifier column, copied to the output.")] = "patient_id",
    output_format: Annotated[str, typer.Option("--format", help="parquet or csv.")] = "parquet",
    band: Annotated[bool, typer.Option("--band/--no-band", help="Add the 95 % bootstrap uncertainty band.")] = False,
    flags: Annotated[
        bool, typer.Option("--flags/--no-flags", help="Add extrapolation and out-of-distribution flags.")
    ] = False,
    partitions: Annotated[int | None, typer.Option("--partitions", min=1, help="Repartition the export first.")] = None,
    master: Annotated[
        str | None, typer.Option("--master", help="Spark master (default: spark-submit's, else local[*]).")
    ] = None,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace OUT if it exists.")] = False,
    allow_unverified: Annotated[
        bool,
        typer.Option(
            "--allow-unverified",
            help="Accept a model whose files have no digest recorded outside its folder "
            "(its scores are marked UNVERIFIED).",
        ),
    ] = False,
    tracking_uri: TrackingOption = None,
) -> None:
    """Score a very large export on Spark: every row gets a calibrated risk or a reason (no row disappears)."""
    import mlflow

    from spineoutcome.distributed.spark import score_with_spark
    from spineoutcome.errors import SpineoutcomeError

    if output_format not in ("parquet", "csv"):
        console.print("--format must be parquet or csv", style="red", markup=False)
        raise typer.Exit(2)
    if tracking_uri:
        mlflow.set_tracking_uri(tracking_uri)
    try:
        summary = score_with_spark(
            model,
            data,
            out,
            key=key,
            output_format=output_format,  # type: ignore[arg-type]
            band=band,
            flags=flags,
            partitions=partitions,
            overwrite=overwrite,
            master=master,
            allow_unverified=allow_unverified,
        )
    except (ValueError, SpineoutcomeError, mlflow.exceptions.MlflowException) as exc:
        console.print(f"Cannot score: {mask_secrets(str(exc))}", style="red", markup=False, highlight=False)
        raise typer.Exit(EXIT_FILE_ERROR) from None
    console.print(
        f"Model: {summary.integrity}",
        markup=False,
        highlight=False,
        style=None if summary.integrity.startswith("verified") else "bold red",
    )
    console.print(
        f"{summary.rows:,} rows: {summary.scored:,} scored, {summary.with_problem:,} with a problem "
        f"(see the problem column); scores in {summary.output_path} ({summary.seconds:.0f} s)"
    )


app = typer.Typer(
    help="spineoutcome beyond one machine: tuning workers, Optuna storage, Spark scoring.",
    no_args_is_help=True,
    add_completion=False,
)
app.command("worker")(worker)
app.command("optuna-init")(optuna_init)
app.command("spark-score")(spark_score)
