"""The Evidence builders: the records every task kind shares, and the Evidence of a run, written once.

The task-kind engines (:mod:`.binary`, :mod:`.survival`) measure each family; everything else in the
Evidence (data, participant flow, baseline table, missing data, pipeline) comes from here.
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator

from spineoutcome.config import PipelineConfig, mask_secrets
from spineoutcome.data.cohort import Cohort
from spineoutcome.dictionary import PROM_GROUP, Variable
from spineoutcome.evaluation.results import to_jsonable
from spineoutcome.evidence import ComparatorsRecord, DataRecord, Evidence, FamilyEvidence, MissingRecord
from spineoutcome.experiment.baseline import baseline_columns, baseline_table
from spineoutcome.experiment.task import TaskData

PRE_OPERATIVE = "pre-operative"


class ExperimentResult:
    """The Evidence of a run and the fitted final models (for the model bundle and scoring)."""

    def __init__(self, evidence: Evidence, models: dict[str, BaseEstimator], task: TaskData) -> None:
        self.evidence = evidence
        self.models = models
        self.task = task

    @property
    def best_model(self) -> BaseEstimator:
        """The final model of the selected family."""
        return self.models[self.evidence.best_family]


def build_evidence(
    config: PipelineConfig,
    cohort: Cohort,
    task: TaskData,
    *,
    families: dict[str, FamilyEvidence],
    best: str,
    selection_rule: str,
    sample_size: dict[str, Any],
    timings: dict[str, float],
    model_selection: dict[str, Any] | None = None,
    comparators: ComparatorsRecord | None = None,
) -> Evidence:
    """The Evidence of a run: the families' records and everything the task kinds share."""
    return Evidence(
        run_id=uuid.uuid4().hex,
        created=datetime.now(UTC).isoformat(timespec="seconds"),
        pipeline=json.loads(mask_secrets(json.dumps(config.model_dump(mode="json")))),
        task={
            "name": config.name,
            "description": config.description,
            "outcome": config.outcome_name,
            "kind": task.labels.kind,
            "outcome_definition": task.labels.definition,
            "study": study_record(config, cohort),
        },
        data=data_record(task, cohort),
        flow=[to_jsonable(step) for step in task.flow],
        baseline=baseline(task, cohort, config),
        sample_size=sample_size,
        missing_data=missing(task),
        families=families,
        best_family=best,
        selection_rule=selection_rule,
        model_selection=model_selection,
        comparators=comparators,
        timings=timings,
    )


def study_record(config: PipelineConfig, cohort: Cohort) -> dict[str, str]:
    """Who and what the model is for, from the dictionary's ``study:`` and the pipeline (which overrides
    ``population``, ``setting``, ``intended_use`` and ``data_source`` and adds ``treatment``); the exports
    read (the patient table first) are the data sources when neither names them."""
    study = dict(cohort.dictionary.study)
    overrides = ("population", "setting", "intended_use", "data_source", "treatment")
    study.update({k: " ".join(v.split()) for k in overrides if (v := getattr(config, k))})
    study.setdefault("data_source", ", ".join(t.table for t in cohort.audit.tables))
    return study


def data_record(task: TaskData, cohort: Cohort) -> DataRecord:
    """Size, events, centres, accrual, predictors and join audit of the analysed data (no patient rows)."""
    dd = cohort.dictionary
    return {
        "digest": task.digest(),
        "n": task.n,
        "events": task.events,
        "prevalence": task.events / task.n,
        "centres": len(np.unique(task.centres)),
        "accrual": accrual(task),
        "predictors": [predictor_record(dd.variable(p), p) for p in task.predictors],
        "dropped_predictors": task.dropped_predictors,
        "dictionary": {"name": dd.name, "version": dd.version},
        "join_audit": cohort.audit.to_dict()["tables"],
        "key": {"column": dd.key, "line_number": dd.line_number_key},
        "skipped_analyses": dict(task.skipped),
    }


def predictor_record(var: Variable, name: str) -> dict[str, Any]:
    """What the report's predictor table states about one predictor, from the dictionary (item 7a)."""
    record = {
        "name": name,
        "table": var.table,
        "group": var.group,
        "unit": var.unit,
        "description": var.description,
        "label": var.label or name.replace("_", " "),
        "dtype": var.dtype,
        "timing": PRE_OPERATIVE + (" (baseline PROM)" if var.group == PROM_GROUP else ""),
        "source": var.source,
    }
    if var.categories:
        record["categories"] = list(var.categories)
    elif var.range:
        record["range"] = list(var.range)
    return record


def accrual(task: TaskData) -> dict[str, Any]:
    """First and last surgery and end of follow-up, overall and per centre, to the month (TRIPOD+AI 5b).

    Month resolution with counts per centre keeps these aggregates: no patient's date can be recovered.
    Empty when the data have no surgery dates (no column with role ``surgery_date``).
    """
    if task.surgery_dates.isna().all():
        return {}
    frame = pd.DataFrame(
        {
            "centre": task.centres,
            "surgery": pd.to_datetime(task.surgery_dates).to_numpy(),
            "days": task.followup_days.to_numpy(),
        }
    )
    frame["end"] = frame["surgery"] + pd.to_timedelta(frame["days"], unit="D")
    by_centre = [
        {"centre": str(c), "n": len(rows), **_accrual_months(rows)} for c, rows in frame.groupby("centre", sort=True)
    ]
    return {**_accrual_months(frame), "by_centre": by_centre}


def _accrual_months(rows: pd.DataFrame) -> dict[str, str | None]:
    def month(value: Any) -> str | None:
        return None if pd.isna(value) else pd.Timestamp(value).strftime("%Y-%m")

    return {
        "first_surgery": month(rows["surgery"].min()),
        "last_surgery": month(rows["surgery"].max()),
        "end_of_follow_up": month(rows["end"].max()),
    }


def baseline(task: TaskData, cohort: Cohort, config: PipelineConfig) -> dict[str, Any]:
    """Baseline characteristics overall, by outcome and by centre (TRIPOD+AI 20b)."""
    masks = baseline_columns(task.y, task.centres, config.outcome_name)
    if len(np.unique(task.centres)) < 2:
        masks.pop("by_centre")
    return {
        name: baseline_table(
            task.X, columns, cohort.dictionary, outcome=config.outcome_name, y=task.y, followup_days=task.followup_days
        )
        for name, columns in masks.items()
    }


def missing(task: TaskData) -> list[MissingRecord]:
    """Missing values per predictor: count and share of the analysed patients."""
    counts = task.X.isna().sum()
    return [{"variable": c, "n_missing": int(n), "fraction": float(n / task.n)} for c, n in counts.items()]
