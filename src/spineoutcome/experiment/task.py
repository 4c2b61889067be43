"""From a cohort and a pipeline to the analysis data set: labels, eligibility, predictors, flow.

Every patient of the cohort is accounted for: not eligible (by rule), excluded by the outcome
definition (by reason, e.g. inadequate follow-up), or analysed. These counts are the TRIPOD+AI
participant flow (item 20a).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from spineoutcome.config import AGE_GROUP, PipelineConfig
from spineoutcome.data.cohort import Cohort
from spineoutcome.dictionary import DataDictionary
from spineoutcome.experiment.baseline import MISSING_LABEL
from spineoutcome.outcomes import OutcomeLabels, derive_outcome, resolve_definition


@dataclass(frozen=True)
class FlowStep:
    """One box of the participant flow: how many patients, and why some left."""

    label: str
    n: int
    excluded: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class TaskData:
    """The analysis data set of one pipeline: predictors, outcome and grouping columns.

    ``surgery_dates`` and ``followup_days`` (days from surgery to the last follow-up contact) are not
    predictors: they describe accrual and follow-up for the report (TRIPOD+AI 20b) and temporal splits.
    """

    X: pd.DataFrame
    y: np.ndarray
    predictors: list[str]
    groups: pd.DataFrame
    centres: np.ndarray
    surgery_dates: pd.Series
    followup_days: pd.Series
    labels: OutcomeLabels
    flow: list[FlowStep]
    dropped_predictors: dict[str, str]
    skipped: dict[str, str] = field(default_factory=dict)
    """Analyses the pipeline asked for that these data cannot support, with the reason."""

    @property
    def n(self) -> int:
        """Number of analysed patients."""
        return len(self.y)

    @property
    def events(self) -> int:
        """Number of analysed patients with the outcome (events)."""
        return int(self.y.sum())

    def digest(self) -> str:
        """SHA-256 of the analysed data (predictors and outcome): identifies the data, reveals nothing."""
        hashed = pd.util.hash_pandas_object(self.X.reset_index(drop=True), index=True).to_numpy()
        h = hashlib.sha256(hashed.tobytes())
        h.update(np.asarray(self.y, dtype=np.int8).tobytes())
        h.update(",".join(self.X.columns).encode())
        return h.hexdigest()


def apply_eligibility(
    wide: pd.DataFrame, eligibility: Mapping[str, Any], dd: DataDictionary
) -> tuple[pd.Series, dict[str, int]]:
    """Which patients meet a pipeline's eligibility rules, and how many each rule newly excludes.

    Rules: numbers ``[min, max]`` (a missing value is not eligible), categories the allowed levels.
    Applied in the order given, so each patient is counted under the first rule they fail (the
    participant flow's exclusion counts, TRIPOD+AI item 20a).
    """
    eligible = pd.Series(True, index=wide.index)
    excluded: dict[str, int] = {}
    for variable, rule in eligibility.items():
        values = wide[variable]
        if dd.variable(variable).dtype in ("float", "int"):
            lo, hi = float(rule[0]), float(rule[1])
            ok = values.astype("float64").between(lo, hi)
            reason = f"{variable} outside [{lo:g}, {hi:g}] or missing"
        else:
            ok = values.astype(object).isin([str(v) for v in rule])
            reason = f"{variable} not in {list(rule)}"
        ok = ok.fillna(False).astype(bool)
        newly = int((eligible & ~ok).sum())
        if newly:
            excluded[reason] = newly
        eligible &= ok
    return eligible, excluded


def prepare_task(config: PipelineConfig, cohort: Cohort, *, validation_flow: list[FlowStep] | None = None) -> TaskData:
    """Labels, eligibility and predictors of ``config`` on ``cohort`` with a complete flow."""
    dd = cohort.dictionary
    wide = cohort.wide
    flow = list(validation_flow or [])
    flow.append(FlowStep("patients in the assembled cohort", len(wide)))

    eligible, not_eligible = apply_eligibility(wide, config.eligibility, dd)
    flow.append(FlowStep("eligible", int(eligible.sum()), not_eligible))

    tables = dict(cohort.tables)
    patient_table = dd.patient_table.name
    tables[patient_table] = tables[patient_table][tables[patient_table][dd.key].isin(wide.index[eligible])]
    labels = derive_outcome(outcome_definition(config, dd), tables, dd)
    if labels.kind != "binary" and not config.survival_families:
        raise ValueError(f"outcome {config.outcome_name!r} is time-to-event; name survival_families in the pipeline")
    counts = labels.counts()
    flow.append(FlowStep("analysed (outcome known)", int(counts["labelled"]), dict(counts["excluded"])))

    keys = labels.labels.index
    available = list(wide.columns)
    predictors = dd.resolve_predictors(
        config.predictors.groups, config.predictors.include, config.predictors.exclude, available=available
    )
    dropped: dict[str, str] = {}
    for name in predictors:
        if name not in wide.columns:
            dropped[name] = "not in the exports"
        elif wide.loc[keys, name].isna().all():
            dropped[name] = "missing for every analysed patient"
    predictors = [p for p in predictors if p not in dropped]
    if not predictors:
        raise ValueError(f"pipeline {config.name!r}: none of its predictors is available in the data")

    X = wide.loc[keys, predictors]
    y = labels.labels if labels.kind == "binary" else labels.labels["event"]
    rows = wide.loc[keys]
    centres = rows[dd.column("centre")].astype(str).to_numpy() if dd.has_role("centre") else np.full(len(keys), "")
    skipped = single_centre_skips(config, dd, centres)
    groups = _subgroup_columns(config, rows, dd, skip=set(skipped))
    return TaskData(
        X=X,
        y=np.asarray(y, dtype=int),
        predictors=predictors,
        groups=groups,
        centres=centres,
        surgery_dates=_role_column(rows, dd, "surgery_date", "datetime64[ns]"),
        followup_days=_role_column(rows, dd, "last_followup", "float64").astype("float64"),
        labels=labels,
        flow=flow,
        dropped_predictors=dropped,
        skipped=skipped,
    )


def outcome_definition(config: PipelineConfig, dd: DataDictionary) -> dict[str, Any]:
    """The pipeline's outcome definition; a right-censored time to event is analysed as times by survival
    families and at its horizon by binary ones."""
    definition = resolve_definition(config.outcome_spec, dd)
    if not definition.get("description") and config.description:
        definition["description"] = config.description
    if definition["kind"] == "time_to_event" and config.survival_families and not config.families:
        definition["view"] = "time"
    return definition


def single_centre_skips(config: PipelineConfig, dd: DataDictionary, centres: np.ndarray) -> dict[str, str]:
    """Centre analyses the pipeline asked for but a single-centre study cannot give, with the reason.

    Keys: ``internal_external`` and the centre column's name when it is a subgrouping variable.
    """
    n_centres = len(np.unique(centres))
    if n_centres >= 2:
        return {}
    reason = (
        "single-centre study: no column with role 'centre'"
        if not dd.has_role("centre")
        else "single-centre study: every analysed patient comes from one centre"
    )
    skipped: dict[str, str] = {}
    if config.validation.internal_external:
        skipped["internal_external"] = f"{reason}; internal-external validation by centre needs two or more centres"
    if dd.has_role("centre") and dd.column("centre") in config.subgroups.variables:
        skipped[dd.column("centre")] = f"{reason}; no centre subgroups"
    return skipped


def _role_column(rows: pd.DataFrame, dd: DataDictionary, role: str, dtype: str) -> pd.Series:
    """The patient-table column with ``role``, or all-missing when the dictionary has none (not needed)."""
    if dd.has_role(role):
        return rows[dd.column(role)]
    return pd.Series(np.nan if dtype == "float64" else pd.NaT, index=rows.index, dtype=dtype)


def _subgroup_columns(config: PipelineConfig, rows: pd.DataFrame, dd: DataDictionary, skip: set[str]) -> pd.DataFrame:
    """Grouping columns for subgroup analysis (but those in ``skip``); ``age_group`` is cut at the configured bands."""
    out: dict[str, pd.Series] = {}
    for name in [v for v in config.subgroups.variables if v not in skip]:
        if name == AGE_GROUP:
            age = rows[dd.column("age")]
            bands = [-np.inf, *config.subgroups.age_bands, np.inf]
            labels = age_band_labels(config.subgroups.age_bands)
            out[name] = pd.cut(age.astype("float64"), bands, right=False, labels=labels).astype(object)
        else:
            values = rows[name]
            if dd.variable(name).dtype in ("float", "int"):
                values = pd.qcut(values.astype("float64"), 3, duplicates="drop").astype(str)
            out[name] = values.astype(object).where(values.notna(), MISSING_LABEL)
    return pd.DataFrame(out, index=rows.index)


def age_band_labels(cuts: list[float]) -> list[str]:
    """Labels of the age groups cut at ``cuts``, youngest first: ``["<65", "65-75", ">=75"]``."""
    edges = [f"{c:g}" for c in cuts]
    return [f"<{edges[0]}", *[f"{a}-{b}" for a, b in zip(edges, edges[1:], strict=False)], f">={edges[-1]}"]
