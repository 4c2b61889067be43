"""The ``spineoutcome`` command line.

Exit codes (all commands):
  0  success; for ``validate``: every row valid
  1  ``validate``: some rows were rejected (clean rows and the rejects file are still written)
  2  usage error (an unknown option, a missing argument)
  3  a file could not be used at all (unreadable, a required column or the patient table missing),
     or any other known problem (every :class:`~spineoutcome.errors.SpineoutcomeError`): its message,
     printed verbatim, and no traceback
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

import click
import typer
from rich.table import Table as RichTable
from typer.core import TyperGroup

from spineoutcome import __version__, dictionary_cli, metrics
from spineoutcome.console import CommandConsole, ProgressDisplay, configure_logging
from spineoutcome.credentials import mask_url
from spineoutcome.data import ExportReadError
from spineoutcome.data.command import validate
from spineoutcome.dictionary import DataDictionary, DictionaryError
from spineoutcome.distributed import command as distributed_cli
from spineoutcome.errors import SpineoutcomeError
from spineoutcome.lifecycle import command as lifecycle_cli
from spineoutcome.outcomes import cli as outcomes_cli
from spineoutcome.progress import ProgressEvent
from spineoutcome.scoring.command import score, sign_model
from spineoutcome.serve.command import serve

EXIT_REJECTS = 1
EXIT_FILE_ERROR = 3


class _Commands(TyperGroup):
    """Every command of the app: a known error (:class:`SpineoutcomeError`) ends it with its message and
    exit code 3, never a traceback; an unknown one is a bug and keeps its traceback."""

    def invoke(self, ctx: click.Context) -> Any:
        """Run the command; report a known error (class docstring)."""
        try:
            return super().invoke(ctx)
        except SpineoutcomeError as exc:
            _error(str(exc))
            raise typer.Exit(EXIT_FILE_ERROR) from None


app = typer.Typer(
    cls=_Commands,
    help="Pre-operative outcome prediction for cervical spine surgery: build, validate, report and "
    "deploy prediction models the TRIPOD+AI way.",
    no_args_is_help=True,
    add_completion=False,
)
app.add_typer(outcomes_cli.app, name="outcomes", help="Derive outcome labels; MCID sensitivity analysis.")
app.command(name="validate")(validate)
app.add_typer(dictionary_cli.app, name="dictionary", help="Draft a data dictionary from your own table; check one.")
app.command(name="score")(score)
app.command(name="sign-model")(sign_model)
app.command(name="serve")(serve)
app.command(name="worker")(distributed_cli.worker)
app.command(name="optuna-init")(distributed_cli.optuna_init)
app.command(name="spark-score")(distributed_cli.spark_score)
app.command(name="evaluate")(lifecycle_cli.evaluate)
app.command(name="update")(lifecycle_cli.update)
app.command(name="monitor")(lifecycle_cli.monitor)
console = CommandConsole()

TrackingOption = Annotated[
    str | None,
    typer.Option("--tracking-uri", help="MLflow tracking URI (default: MLFLOW_TRACKING_URI or sqlite:///mlruns.db)."),
]


def _at_least_one(value: int) -> int:
    """``--jobs`` is a count of processes: 1 or more."""
    if value < 1:
        raise typer.BadParameter(f"must be 1 or more, got {value}")
    return value


JobsOption = Annotated[
    int,
    typer.Option(
        "--jobs", metavar="N", callback=_at_least_one, help="Cores to use: model fits run in this many processes."
    ),
]
DictionaryOption = Annotated[
    Path | None,
    typer.Option("--dictionary", help="Directory of a hospital's own data dictionary (default: the built-in one)."),
]


def _error(message: str) -> None:
    """Print a problem verbatim: messages hold brackets (``list[str]``) that Rich must not read as markup."""
    console.print(message, style="red", markup=False, highlight=False)


@app.callback()
def _root(
    version: Annotated[bool, typer.Option("--version", help="Print the package version and exit.")] = False,
    verbose: Annotated[
        bool,
        typer.Option(
            "--verbose",
            envvar="SPINEOUTCOME_VERBOSE",
            help="Show MLflow's own logging and artifact progress bars (hidden by default; warnings always show).",
        ),
    ] = False,
) -> None:
    configure_logging(verbose)
    if version:
        typer.echo(__version__)
        raise typer.Exit()


def _dictionary(path: Path | None) -> DataDictionary:
    try:
        return DataDictionary.load(path)
    except DictionaryError as exc:
        _error(f"Data dictionary problem: {exc}")
        raise typer.Exit(EXIT_FILE_ERROR) from None


@app.command()
def synth(
    n: Annotated[int, typer.Option("--n", min=1, help="Number of patients.")] = 2000,
    seed: Annotated[int, typer.Option("--seed", help="Random seed: the same seed gives identical files.")] = 7,
    out: Annotated[Path, typer.Option("--out", help="Folder for the exports.")] = Path("synthetic"),
    fmt: Annotated[str, typer.Option("--format", help="csv or parquet.")] = "csv",
    tables: Annotated[list[str] | None, typer.Option("--table", help="Write only these tables (repeatable).")] = None,
    dictionary: DictionaryOption = None,
    first_patient: Annotated[
        int,
        typer.Option(
            "--first-patient",
            min=0,
            help="Start at this patient of the seed's world (a multiple of 10000): new patients of the same world.",
        ),
    ] = 0,
) -> None:
    """Generate a realistic synthetic multi-centre cohort: the same exports a hospital would send.

    Writes clinical, PROM, imaging, radiomics, landmark and follow-up exports, plus truth.csv with
    each patient's true outcome probabilities (for benchmarks only; the pipeline never reads it).
    """
    from spineoutcome.data.synth import DEFAULT_CHUNK, generate_cohort

    if first_patient % DEFAULT_CHUNK:
        raise typer.BadParameter(
            f"{first_patient} is not a multiple of {DEFAULT_CHUNK} (patients are generated in "
            f"blocks of {DEFAULT_CHUNK})",
            param_hint="--first-patient",
        )
    dd = _dictionary(dictionary)
    with ProgressDisplay(console, "synth") as show:
        show(ProgressEvent("synth", "generate", "Generating patients", 0, n))
        summary = generate_cohort(
            out,
            n=n,
            seed=seed,
            dictionary=dd,
            fmt=fmt,
            tables=tables,
            first_patient=first_patient,
            progress=lambda done, total: show(ProgressEvent("synth", "generate", "Generating patients", done, total)),
        )
    table = RichTable(title=f"Synthetic cohort: {n} patients, seed {seed}")
    for col in ("file", "rows"):
        table.add_column(col)
    for name, path in summary.files.items():
        table.add_row(str(path), str(summary.rows.get(name, "")))
    console.print(table)
    prevalence = ", ".join(f"{k} {v:.1%}" for k, v in summary.prevalence.items())
    console.print(f"Outcome prevalence among patients with adequate follow-up: {prevalence}")


@app.command()
def train(
    pipeline: Annotated[Path, typer.Argument(help="Pipeline file, e.g. pipelines/c5_palsy.yaml.")],
    data: Annotated[Path, typer.Option("--data", help="Folder of exports (clinical.csv, proms.csv, ...).")],
    out: Annotated[Path, typer.Option("--out", help="Folder for run directories.")] = Path("runs"),
    optuna_storage: Annotated[
        str | None,
        typer.Option(
            "--optuna-storage",
            envvar="SPINEOUTCOME_OPTUNA_STORAGE",
            help="Optuna storage URL (SQLite file or PostgreSQL); keep passwords out of argv (env var, ~/.pgpass).",
        ),
    ] = None,
    report_pdf: Annotated[
        bool, typer.Option("--report/--no-report", help="Render the TRIPOD+AI report at the end.")
    ] = True,
    mlflow_tracking: Annotated[bool, typer.Option("--mlflow/--no-mlflow", help="Log the run to MLflow.")] = True,
    tracking_uri: TrackingOption = None,
    dictionary: DictionaryOption = None,
    jobs: JobsOption = 1,
    backend: Annotated[
        Literal["local", "spark"],
        typer.Option(
            "--backend",
            metavar="NAME",
            help="Where the --jobs fits run: local worker processes, or Spark tasks (docs/scale.md).",
        ),
    ] = "local",
) -> None:
    """Run one experiment: every model family under the same honest validation, one Evidence record.

    Tuning is nested inside each development fold; results are written to OUT/<pipeline>-<run>/evidence.json.
    """
    from spineoutcome.api import load_cohort, run_pipeline
    from spineoutcome.config import ConfigError

    dd = _dictionary(dictionary)
    try:
        cohort = load_cohort(data, dd)
        with ProgressDisplay(console, pipeline.stem) as show:
            result = run_pipeline(
                pipeline, cohort, optuna_storage=optuna_storage, progress=show, jobs=jobs, backend=backend
            )
    except (ExportReadError, ConfigError) as exc:
        _error(str(exc))
        raise typer.Exit(EXIT_FILE_ERROR) from None
    evidence = result.evidence
    name = evidence.task["name"]
    run_dir = out / f"{name}-{evidence.run_id[:8]}"
    path = evidence.save(run_dir)
    _print_summary(evidence.to_dict())
    for analysis, reason in evidence.data.get("skipped_analyses", {}).items():
        console.print(f"warning: {analysis} skipped: {reason}", style="yellow", markup=False, highlight=False)
    console.print(f"Evidence written to {path}", markup=False, highlight=False)
    if report_pdf:
        _render(run_dir, label=name)
    if mlflow_tracking:
        from spineoutcome.tracking import log_run

        with ProgressDisplay(console, name) as show:
            show(ProgressEvent(name, "logging", "Logging to MLflow (runs, metrics, model bundle)"))
            run_id = log_run(result, tracking_uri=tracking_uri, artifacts_dir=run_dir)
        console.print(f"MLflow run {run_id}")
        _print_registration(run_id, name)


@app.command()
def demo(
    n: Annotated[int, typer.Option("--n", min=200, help="Patients in the synthetic cohort.")] = 2000,
    seed: Annotated[int, typer.Option("--seed")] = 7,
    out: Annotated[Path, typer.Option("--out", help="Folder for the cohort and the run directories.")] = Path("demo"),
    reports_dir: Annotated[Path, typer.Option("--reports", help="Folder for the report PDFs.")] = Path("reports"),
    jobs: JobsOption = 2,
    mlflow_tracking: Annotated[bool, typer.Option("--mlflow/--no-mlflow", help="Log the runs to MLflow.")] = True,
    tracking_uri: TrackingOption = None,
) -> None:
    """The whole job on a synthetic cohort: every pipeline trained, logged to MLflow and reported."""
    from spineoutcome.demo import run_demo

    with ProgressDisplay(console, "demo") as show:
        summary = run_demo(
            out,
            n=n,
            seed=seed,
            reports_dir=reports_dir,
            jobs=jobs,
            tracking_uri=tracking_uri,
            log_to_mlflow=mlflow_tracking,
            progress=show,
        )
    table = RichTable(title=f"Demo finished in {summary.seconds / 60:.1f} min")
    for col in ("pipeline", "training (min)", "MLflow + report (min)", "selected model", "report", "MLflow run"):
        table.add_column(col)
    for run in summary.runs:
        table.add_row(
            run.pipeline,
            f"{run.seconds / 60:.1f}",
            f"{run.publish_seconds / 60:.1f}",
            run.best_family,
            str(run.report),
            run.mlflow_run_id or "-",
        )
    console.print(table)
    console.print(f"Synthetic exports: {summary.data_dir}/   Evidence and figures: {out}/runs/")
    if mlflow_tracking:
        console.print(
            "Browse the runs: mlflow ui --backend-store-uri " + mask_url(tracking_uri or "sqlite:///mlruns.db"),
            markup=False,
        )


@app.command()
def report(
    run: Annotated[Path, typer.Argument(help="A run directory (with evidence.json) or an evidence.json file.")],
    out: Annotated[Path | None, typer.Option("--out", help="PDF path (default: RUN/report.pdf).")] = None,
) -> None:
    """Render the TRIPOD+AI report PDF and the model card JSON of a run, from its Evidence only."""
    _render(run, out)


def _render(run: Path, out: Path | None = None, label: str | None = None) -> None:
    from spineoutcome.report import ReportError, render_report, write_model_card

    run_dir = run if run.is_dir() else run.parent
    try:
        label = label or run_dir.name
        with ProgressDisplay(console, label) as show:
            show(ProgressEvent(label, "report", "Rendering the TRIPOD+AI report"))
            pdf = render_report(run, out or run_dir / "report.pdf", figures_dir=run_dir / "figures")
            card = write_model_card(run, run_dir / "model_card.json")
    except (ReportError, FileNotFoundError) as exc:
        _error(f"Cannot render the report: {exc}")
        raise typer.Exit(EXIT_FILE_ERROR) from None
    console.print(f"Report written to {pdf}; model card to {card}", markup=False, highlight=False)


def _print_summary(evidence: dict) -> None:
    data = evidence["data"]
    console.print(
        f"{evidence['task']['name']}: {data['n']} patients, {data['events']} events "
        f"({data['prevalence']:.1%}), {data['centres']} centres"
    )
    table = RichTable(title="Internal validation (cross-validated; tuning nested)")
    for col in (
        "family",
        "AUC (95% CI)",
        "calibration slope",
        "calibration intercept",
        "ICI",
        "optimism-corrected AUC",
    ):
        table.add_column(col)
    for family, record in evidence["families"].items():
        cv = record["cross_validation"]
        auc = metrics.estimate(cv, "auc")
        if auc is None:
            table.add_row(family, f"Harrell's C {metrics.estimate(cv, 'harrell_c')['value']:.2f}", "", "", "", "")
            continue
        corrected = metrics.point((record["optimism"] or {}).get("corrected"), "auc")
        table.add_row(
            family + (" (best)" if family == evidence["best_family"] else ""),
            f"{auc['value']:.2f} ({auc['ci_low']:.2f}-{auc['ci_high']:.2f})",
            f"{metrics.estimate(cv, 'calibration_slope')['value']:.2f}",
            f"{metrics.estimate(cv, 'calibration_intercept')['value']:.2f}",
            f"{metrics.estimate(cv, 'ici')['value']:.3f}",
            f"{corrected:.2f}" if corrected is not None else "-",
        )
    console.print(table)


def _print_registration(run_id: str, name: str) -> None:
    """The registry decision of a logged run: ``@champion`` set, or withheld with the gates it failed."""
    import mlflow

    tags = mlflow.MlflowClient().get_run(run_id).data.tags
    if "champion" not in tags:
        console.print(f"No model registered: {tags.get('bundle', 'no bundle for this task')}", markup=False)
    elif tags["champion"] == "true":
        console.print(f"Registered {name}: @champion set ({tags.get('gates_decision', '')})", markup=False)
    else:
        console.print(
            f"Registered {name}: @champion withheld, the model {tags.get('gates_decision', '')}",
            style="yellow",
            markup=False,
        )
