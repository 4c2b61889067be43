"""The ``spineoutcome evaluate``, ``update`` and ``monitor`` commands (registered in :mod:`spineoutcome.cli`).

Exit codes as for every command: 0 done; 3 the model or the data could not be used (a predictor or
the outcome's export missing, no outcome definition, the model's files do not match their digest).
Nothing row-level is printed: counts, file names, column names and aggregate measures only.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table as RichTable

EXIT_FILE_ERROR = 3
console = Console(stderr=True)

ModelOption = Annotated[
    str,
    typer.Option(
        "--model", help="The model: MLflow URI (models:/c5_palsy@champion, models:/c5_palsy/3) or a local model folder."
    ),
]
DataOption = Annotated[
    Path,
    typer.Option(
        "--data", help="Folder of the site's exports, with the follow-up exports the outcome is derived from."
    ),
]
OutOption = Annotated[Path, typer.Option("--out", help="Folder for the Evidence record, report and figures.")]
TrackingOption = Annotated[
    str | None,
    typer.Option("--tracking-uri", help="MLflow tracking URI (default: MLFLOW_TRACKING_URI or sqlite:///mlruns.db)."),
]
OutcomeOption = Annotated[
    str | None,
    typer.Option(
        "--outcome",
        help="Outcome definition for a model that carries none: a name in the data dictionary's "
        "outcomes.yaml or a YAML file with one definition.",
    ),
]
PartOption = Annotated[
    str,
    typer.Option(
        "--part",
        help="Use all of the site's patients, or the first or second half (complementary for the same "
        "--split-seed; e.g. update on the first, evaluate on the second).",
    ),
]
SplitSeedOption = Annotated[int, typer.Option("--split-seed", help="Seed of the split into halves.")]
MlflowOption = Annotated[bool, typer.Option("--mlflow/--no-mlflow", help="Log the run to MLflow.")]
ReportOption = Annotated[bool, typer.Option("--report/--no-report", help="Render the PDF report.")]
UnverifiedOption = Annotated[
    bool, typer.Option("--allow-unverified", help="Accept a model for which no SHA-256 of its files was recorded.")
]
DictionaryOption = Annotated[
    Path | None,
    typer.Option("--dictionary", help="Directory of a hospital's own data dictionary (default: the built-in one)."),
]
BootOption = Annotated[int, typer.Option("--n-boot", min=20, help="Bootstrap replicates for the intervals.")]
SeedOption = Annotated[int, typer.Option("--seed", help="Seed of the bootstrap.")]


def _errors() -> tuple[type[BaseException], ...]:
    from spineoutcome.config import ConfigError
    from spineoutcome.data import ExportReadError
    from spineoutcome.dictionary import DictionaryError
    from spineoutcome.errors import SpineoutcomeError
    from spineoutcome.lifecycle.loading import ModelLoadError

    return (SpineoutcomeError, ExportReadError, DictionaryError, ModelLoadError, ConfigError)


def _fail(message: str) -> None:
    console.print(message, style="red", markup=False, highlight=False)
    raise typer.Exit(EXIT_FILE_ERROR)


@contextmanager
def _step(text: str) -> Iterator[None]:
    with Progress(
        SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(), console=console, transient=True
    ) as bar:
        bar.add_task(text, total=None)
        yield


def _site(model: Any, data: Path, dictionary: Path | None, outcome: str | None, part: str, split_seed: int) -> Any:
    from spineoutcome.api import load_cohort
    from spineoutcome.dictionary import DataDictionary
    from spineoutcome.lifecycle.site import site_data, site_part

    cohort = load_cohort(data, DataDictionary.load(dictionary))
    return site_part(site_data(model, cohort, outcome=outcome), part, split_seed)


def evaluate(
    model: ModelOption,
    data: DataOption,
    out: OutOption = Path("validation"),
    tracking_uri: TrackingOption = None,
    outcome: OutcomeOption = None,
    development_data: Annotated[
        Path | None,
        typer.Option(
            "--development-data",
            help="Folder of the development exports, if you have them: adds the membership "
            "model's c-statistic (Debray et al. 2015) to the case-mix comparison.",
        ),
    ] = None,
    part: PartOption = "all",
    split_seed: SplitSeedOption = 0,
    n_boot: BootOption = 500,
    seed: SeedOption = 2026,
    mlflow_tracking: MlflowOption = True,
    report_pdf: ReportOption = True,
    allow_unverified: UnverifiedOption = False,
    dictionary: DictionaryOption = None,
) -> None:
    """External validation of a model on a new site's data with outcomes, each number beside its
    development estimate; Riley's minimum sample size; case-mix; a TRIPOD+AI validation report."""
    from spineoutcome.lifecycle.evaluate import validate_model
    from spineoutcome.lifecycle.loading import load_model
    from spineoutcome.lifecycle.records import VALIDATION_FILE

    try:
        with _step("Loading the model"):
            loaded = load_model(model, tracking_uri=tracking_uri, allow_unverified=allow_unverified)
        with _step("Reading the site's exports and deriving the outcome"):
            site = _site(loaded, data, dictionary, outcome, part, split_seed)
            development = (
                _site(loaded, development_data, dictionary, outcome, "all", 0) if development_data is not None else None
            )
    except _errors() as exc:
        _fail(f"Cannot evaluate: {exc}")
    with _step(f"Evaluating on {site.n:,} patients ({site.events:,} events)"):
        record = validate_model(loaded, site, development_data=development, n_boot=n_boot, seed=seed)
    out.mkdir(parents=True, exist_ok=True)
    path = record.save(out)
    artifacts = [path]
    if report_pdf:
        from spineoutcome.lifecycle.report import render_validation_report

        with _step("Rendering the validation report"):
            artifacts += render_validation_report(record.to_dict(), out)
    _print_comparison(record.to_dict())
    console.print(f"Evidence: {path}", highlight=False)
    if report_pdf:
        console.print(f"Report: {out / 'validation_report.pdf'}", highlight=False)
    if mlflow_tracking:
        from spineoutcome.lifecycle.tracking import log_validation

        with _step("Logging to MLflow"):
            run_id = log_validation(
                record.to_dict(), tracking_uri=tracking_uri, filename=VALIDATION_FILE, artifacts=artifacts[1:]
            )
        console.print(f"MLflow validation run {run_id}", highlight=False)


def _fmt(estimate: dict[str, Any] | None) -> str:
    if not estimate or estimate.get("value") is None or estimate["value"] != estimate["value"]:
        return "not estimable"
    text = f"{estimate['value']:.3f}"
    if estimate.get("ci_low") is not None and estimate.get("ci_high") is not None:
        text += f" ({estimate['ci_low']:.3f} to {estimate['ci_high']:.3f})"
    return text


def _print_comparison(record: dict[str, Any]) -> None:
    site = record["site"]
    table = RichTable(title=f"External validation: {site['n']:,} patients, {site['events']:,} events")
    for column in ("measure", "this site (95% CI)", "development"):
        table.add_column(column)
    for row in record["comparison"]:
        if row["site"] is not None or row["development"] is not None:
            table.add_row(row["measure"], _fmt(row["site"]), _fmt(row["development"]))
    console.print(table)
    for note in record["notes"]:
        console.print(note, highlight=False)


def update(
    model: ModelOption,
    data: DataOption,
    out: OutOption = Path("update"),
    method: Annotated[
        str,
        typer.Option(
            "--method", help="auto (closed testing, Vergouwe et al. 2017), intercept, recalibration or refit."
        ),
    ] = "auto",
    alias: Annotated[
        str | None,
        typer.Option("--alias", help="Point this registry alias (e.g. champion, site-b) at the new version."),
    ] = None,
    alpha: Annotated[float, typer.Option("--alpha", min=0.0001, max=0.5, help="Level of the closed test.")] = 0.05,
    tracking_uri: TrackingOption = None,
    outcome: OutcomeOption = None,
    part: PartOption = "all",
    split_seed: SplitSeedOption = 0,
    n_boot: BootOption = 200,
    seed: SeedOption = 2026,
    mlflow_tracking: Annotated[
        bool, typer.Option("--mlflow/--no-mlflow", help="Register the updated model as a new version and log the run.")
    ] = True,
    report_pdf: ReportOption = True,
    allow_unverified: UnverifiedOption = False,
    dictionary: DictionaryOption = None,
) -> None:
    """Update a model for a new site (no update, intercept, recalibration or refit, chosen by closed
    testing) and register it as a new version with its lineage; bootstrap-corrected validation."""
    import json

    from spineoutcome.lifecycle.loading import load_model
    from spineoutcome.lifecycle.records import UPDATE_FILE
    from spineoutcome.lifecycle.update import update_model

    try:
        with _step("Loading the model"):
            loaded = load_model(model, tracking_uri=tracking_uri, allow_unverified=allow_unverified)
        with _step("Reading the site's exports and deriving the outcome"):
            site = _site(loaded, data, dictionary, outcome, part, split_seed)
        with _step(f"Updating on {site.n:,} patients ({site.events:,} events), {n_boot} bootstrap replicates"):
            record, bundle = update_model(loaded, site, method=method, alpha=alpha, n_boot=n_boot, seed=seed)
    except _errors() as exc:
        _fail(f"Cannot update: {exc}")
    out.mkdir(parents=True, exist_ok=True)
    path = record.save(out)
    artifacts = [path]
    if bundle is not None:
        folder = bundle.save(out / "model")
        (folder / "evidence.json").write_text(json.dumps(loaded.evidence, indent=1), encoding="utf-8")
    if report_pdf:
        from spineoutcome.lifecycle.report import render_update_report

        with _step("Rendering the update report"):
            artifacts += render_update_report(record.to_dict(), out)
    _print_update(record.to_dict())
    console.print(f"Evidence: {path}", highlight=False)
    if bundle is not None and mlflow_tracking:
        from spineoutcome.lifecycle.tracking import log_update, registered_name

        with _step("Registering the updated model"):
            run_id, version = log_update(
                record.to_dict(),
                bundle,
                loaded.evidence,
                tracking_uri=tracking_uri,
                filename=UPDATE_FILE,
                alias=alias,
                artifacts=artifacts[1:],
            )
        name = registered_name(loaded.uri)
        where = f"models:/{name}/{version}" if version else f"runs:/{run_id}/model"
        console.print(
            f"Updated model: {where}" + (f" (alias @{alias})" if alias and version else "") + f"; MLflow run {run_id}",
            highlight=False,
        )
    elif bundle is not None:
        console.print(f"Updated bundle (not registered): {out / 'model'}", highlight=False)


def _print_update(record: dict[str, Any]) -> None:
    test = record["closed_testing"]
    table = RichTable(title=f"Closed testing (alpha {test['alpha']:g}); method used: {record['method']}")
    for column in ("comparison", "LR statistic", "df", "p-value"):
        table.add_column(column)
    for row in test["tests"]:
        table.add_row(row["compare"], f"{row['lr']:.2f}", str(row["df"]), f"{row['p_value']:.4f}")
    console.print(table)
    validation = record["validation"]
    table = RichTable(title="Performance on the site's data")
    for column in ("measure", "before update", "after (apparent)", "after (bootstrap-corrected)"):
        table.add_column(column)
    for key in ("auc", "oe_ratio", "citl", "slope", "brier"):
        table.add_row(
            key, *(_fmt({"value": validation[part][key]}) for part in ("before_update", "apparent", "corrected"))
        )
    console.print(table)
    for note in record["notes"]:
        console.print(note, highlight=False)


def monitor(
    model: ModelOption,
    scores: Annotated[
        list[Path],
        typer.Option(
            "--scores",
            help="Scores file written by spineoutcome score (its <stem>.drift.json next to it), or a folder "
            "of them. Repeat for several runs/periods.",
        ),
    ],
    out: OutOption = Path("monitoring"),
    outcomes: Annotated[
        Path | None,
        typer.Option(
            "--outcomes",
            help="Folder of the site's exports with follow-up, once outcomes are known: adds O:E, "
            "calibration-in-the-large, slope per period and the CUSUM.",
        ),
    ] = None,
    tracking_uri: TrackingOption = None,
    outcome: OutcomeOption = None,
    cusum_limit: Annotated[float, typer.Option("--cusum-limit", min=0.5, help="CUSUM decision limit h.")] = 4.5,
    mlflow_tracking: MlflowOption = True,
    report_pdf: ReportOption = True,
    allow_unverified: UnverifiedOption = False,
    dictionary: DictionaryOption = None,
) -> None:
    """Monitor a model in use: input drift (PSI per predictor, out-of-distribution share) by period, and
    calibration drift (O:E, calibration-in-the-large, slope, CUSUM) once outcomes are known."""
    from spineoutcome.lifecycle.loading import load_model
    from spineoutcome.lifecycle.monitor import monitor_model
    from spineoutcome.lifecycle.records import MONITORING_FILE

    try:
        with _step("Loading the model"):
            loaded = load_model(model, tracking_uri=tracking_uri, allow_unverified=allow_unverified)
        cohort = None
        if outcomes is not None:
            from spineoutcome.api import load_cohort
            from spineoutcome.dictionary import DataDictionary

            with _step("Reading the outcome exports"):
                cohort = load_cohort(outcomes, DataDictionary.load(dictionary))
        files = [f for path in scores for f in (_scores_in(path) if path.is_dir() else [path])]
        with _step("Computing drift"):
            record = monitor_model(loaded, files, cohort=cohort, outcome=outcome, limit=cusum_limit)
    except _errors() as exc:
        _fail(f"Cannot monitor: {exc}")
    out.mkdir(parents=True, exist_ok=True)
    path = record.save(out)
    artifacts = [path]
    if report_pdf:
        from spineoutcome.lifecycle.report import render_monitoring_report

        with _step("Rendering the monitoring report"):
            artifacts += render_monitoring_report(record.to_dict(), out)
    _print_monitoring(record.to_dict())
    console.print(f"Evidence: {path}", highlight=False)
    if mlflow_tracking:
        from spineoutcome.lifecycle.tracking import log_monitoring

        with _step("Logging to MLflow"):
            run_id = log_monitoring(
                record.to_dict(), tracking_uri=tracking_uri, filename=MONITORING_FILE, artifacts=artifacts[1:]
            )
        console.print(f"MLflow monitoring run {run_id}", highlight=False)


def _scores_in(folder: Path) -> list[Path]:
    """The scores files of a folder: those with a drift summary next to them."""
    from spineoutcome.lifecycle.monitor import drift_file

    return sorted(p for p in folder.glob("*.csv") if drift_file(p).exists())


def _print_monitoring(record: dict[str, Any]) -> None:
    performance = {row["period"]: row for row in record.get("performance") or []}
    table = RichTable(title="Monitoring by period")
    for column in ("period", "scored", "out of distribution", "max PSI", "O:E (95% CI)", "slope (95% CI)"):
        table.add_column(column)
    for row in record["input_drift"]:
        perf = performance.get(row["period"], {})
        top = max((row.get("psi") or {}).values(), default=None)
        table.add_row(
            row["period"],
            f"{row['n']:,}",
            "-" if row["ood_share"] is None else f"{row['ood_share']:.1%}",
            "-" if top is None else f"{top:.3f}",
            _fmt(perf.get("oe_ratio")),
            _fmt(perf.get("slope")),
        )
    console.print(table)
    for note in record["notes"]:
        console.print(note, highlight=False)
