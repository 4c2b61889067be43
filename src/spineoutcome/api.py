"""The Python API: the same steps as the command line.

>>> from spineoutcome.api import load_cohort, run_pipeline
>>> cohort = load_cohort("synthetic/")
>>> result = run_pipeline("pipelines/c5_palsy.yaml", cohort)
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from spineoutcome.config import load_pipeline
from spineoutcome.data import LoadedTables, load_tables
from spineoutcome.data.cohort import Cohort, assemble_cohort
from spineoutcome.dictionary import DataDictionary
from spineoutcome.experiment import ExperimentResult, FlowStep, run_experiment
from spineoutcome.experiment.executor import Backend
from spineoutcome.outcomes import pivot_totals, score_totals
from spineoutcome.progress import Progress


def load_cohort(
    data_dir: str | Path,
    dictionary: DataDictionary | None = None,
    *,
    column_map: str | Path | Mapping[str, Mapping[str, str]] | None = None,
    decimal: str = ".",
    encoding: str | None = None,
) -> Cohort:
    """Read, validate and join a folder of exports into a :class:`Cohort` (PROM totals scored)."""
    dictionary = dictionary or DataDictionary.load()
    loaded = load_tables(data_dir, dictionary, column_map=column_map, decimal=decimal, encoding=encoding)
    prom_wide = None
    proms = dictionary.table_with_role("instrument")
    if proms is not None and proms in loaded:
        prom_wide = pivot_totals(score_totals(loaded[proms], dictionary), dictionary)
    cohort = assemble_cohort(loaded.tables, dictionary, prom_wide=prom_wide, reports=loaded.reports)
    return Cohort(cohort.dictionary, cohort.wide, cohort.tables, cohort.audit, validation_flow(loaded, dictionary))


def validation_flow(loaded: LoadedTables, dictionary: DataDictionary) -> list[FlowStep]:
    """The first boxes of the participant flow: rows exported, and rows rejected at validation."""
    report = loaded.reports[dictionary.patient_table.name]
    return [
        FlowStep(
            f"patients in the {dictionary.patient_table.name} export",
            report.rows_in,
            {f"rejected at validation: {rule}": n for rule, n in _rows_by_rule(report).items()},
        )
    ]


def _rows_by_rule(report) -> dict[str, int]:
    """Rejected rows by their first problem's rule (a row is counted once)."""
    if not len(report.rejects):
        return {}
    first = report.rejects.drop_duplicates("line")
    return {str(k): int(v) for k, v in first["rule"].value_counts().sort_index().items()}


def run_pipeline(
    pipeline: str | Path,
    cohort: Cohort,
    *,
    progress: Progress | None = None,
    optuna_storage: str | None = None,
    jobs: int = 1,
    backend: Backend = "local",
) -> ExperimentResult:
    """Validate a pipeline file against the dictionary and outcome registry, then run it.

    ``jobs``: model fits run at once, in worker processes (``backend="local"``) or as Spark tasks
    (``backend="spark"``); the Evidence does not depend on it. ``progress`` receives
    :class:`~spineoutcome.progress.ProgressEvent` values (``str(event)`` is a one-line message).
    """
    config = load_pipeline(pipeline, cohort.dictionary)
    return run_experiment(
        config,
        cohort,
        validation_flow=cohort.validation_flow,
        progress=progress,
        optuna_storage=optuna_storage,
        jobs=jobs,
        backend=backend,
    )
