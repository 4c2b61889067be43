"""A new site's analysis data for a model: its eligible patients, the model's predictors and outcome labels.

The labels come from the model's own outcome definition (carried in the bundle's manifest; for
bundles built before it was carried, from the development Evidence that travels with the model),
so that the site's outcome means what the model predicts. The eligibility rules are the
development pipeline's. Every patient of the site's cohort is accounted for in the flow: not
eligible (by rule), excluded by the outcome definition (by reason), predictor values that break
the model's input contract (by rule), or analysed.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml

from spineoutcome.config import AGE_GROUP
from spineoutcome.data.cohort import Cohort
from spineoutcome.dictionary import DataDictionary
from spineoutcome.errors import SpineoutcomeError
from spineoutcome.experiment.task import age_band_labels, apply_eligibility
from spineoutcome.outcomes import derive_outcome, load_outcome_definitions
from spineoutcome.outcomes.definitions import COMMON_FIELDS, KIND_FIELDS
from spineoutcome.scoring.model import ScoringModel

MISSING_GROUP = "(missing)"
# The follow-up table an outcome kind reads, by the role of one of its columns (outcomes.events, outcomes.mcid).
OUTCOME_TABLE_ROLE = {
    "c5_palsy": "myelopathy_worsened",
    "complication": "complication_type",
    "progression": "thickness",
    "progression_time": "thickness",
    "mcid": "instrument",
}


class SiteDataError(SpineoutcomeError, ValueError):
    """The site's data cannot be used with the model (missing predictors, missing outcome records, ...)."""


class OutcomeDefinitionError(SpineoutcomeError, ValueError):
    """The model carries no usable outcome definition and none was supplied."""


@dataclass(frozen=True)
class SiteData:
    """The analysed patients of a site: typed predictors, 0/1 outcome, centre, subgroup columns, flow.

    ``X`` holds the model's predictors in its training dtypes (as its input contract parses them),
    one row per analysed patient; nothing here leaves the process except through aggregates.
    """

    X: pd.DataFrame
    y: np.ndarray
    centres: np.ndarray
    groups: pd.DataFrame
    surgery_dates: pd.Series
    flow: list[dict[str, Any]]
    definition: dict[str, Any]
    dictionary_version: str

    @property
    def n(self) -> int:
        """Patients analysed at the site."""
        return len(self.y)

    @property
    def events(self) -> int:
        """Events among the patients analysed at the site."""
        return int(np.sum(self.y))

    def digest(self) -> str:
        """SHA-256 of the analysed predictors and outcome (identifies the data, reveals nothing)."""
        hashed = pd.util.hash_pandas_object(self.X.reset_index(drop=True), index=True).to_numpy()
        h = hashlib.sha256(hashed.tobytes())
        h.update(np.asarray(self.y, dtype=np.int8).tobytes())
        h.update(",".join(self.X.columns).encode())
        return h.hexdigest()

    def subset(self, rows: np.ndarray) -> SiteData:
        """The patients at positions ``rows`` (a split of the site's data); the flow gains one step."""
        rows = np.asarray(rows)
        flow = [*self.flow, {"label": "in this part of the site's data", "n": int(len(rows)), "excluded": {}}]
        return SiteData(
            self.X.iloc[rows],
            self.y[rows],
            self.centres[rows],
            self.groups.iloc[rows],
            self.surgery_dates.iloc[rows],
            flow,
            self.definition,
            self.dictionary_version,
        )


def model_outcome_definition(
    model: ScoringModel, dictionary: DataDictionary, override: str | Path | None = None
) -> dict[str, Any]:
    """The outcome definition the model predicts: ``override`` (a name in the dictionary's outcome
    definitions, or a YAML file with one definition), else the bundle's, else its Evidence's."""
    if override is not None:
        path = Path(override)
        if path.suffix.lower() in (".yaml", ".yml"):
            if not path.exists():
                raise OutcomeDefinitionError(f"{path}: outcome definition file not found")
            doc = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
            if "outcomes" in doc:
                known = load_outcome_definitions(path)
                if len(known) != 1:
                    raise OutcomeDefinitionError(
                        f"{path}: holds {len(known)} outcome definitions; keep the one the model predicts"
                    )
                return next(iter(known.values()))
            return dict(doc)
        known = load_outcome_definitions(dictionary)
        if str(override) not in known:
            raise OutcomeDefinitionError(
                f"outcome {str(override)!r} is not in the dictionary's outcome definitions ({', '.join(sorted(known))})"
            )
        return known[str(override)]
    for candidate in (
        model.bundle.manifest.get("outcome_definition"),
        (model.evidence.get("task") or {}).get("outcome_definition"),
    ):
        if isinstance(candidate, Mapping) and candidate.get("kind") in KIND_FIELDS:
            return dict(candidate)
    name = (model.bundle.manifest.get("outcome_definition") or {}).get("name") or model.bundle.manifest.get("outcome")
    raise OutcomeDefinitionError(
        f"model {model.uri!r} carries no complete outcome definition (only its name {name!r}), so the site's labels "
        "cannot be derived the way the model's were. Supply it with --outcome NAME (a definition in the data "
        "dictionary's outcomes.yaml) or --outcome FILE.yaml (one definition: name, kind and the kind's fields), "
        "and check that it is the definition the model was developed with."
    )


def rule_fields(definition: Mapping[str, Any]) -> dict[str, Any]:
    """The fields an outcome rule accepts (a resolved definition also carries bookkeeping fields)."""
    kind = definition.get("kind")
    if kind not in KIND_FIELDS:
        raise OutcomeDefinitionError(
            f"outcome definition {definition.get('name')!r}: unknown kind {kind!r} (known: {sorted(KIND_FIELDS)})"
        )
    return {k: v for k, v in definition.items() if k in COMMON_FIELDS | KIND_FIELDS[kind]}


def check_site_columns(model: ScoringModel, cohort: Cohort, definition: Mapping[str, Any]) -> None:
    """Refuse site data that lack any of the model's predictors or the outcome's follow-up table (all named)."""
    dd = cohort.dictionary
    missing = [f"predictor {name!r}" for name in model.bundle.contract.names if name not in cohort.wide.columns]
    role = OUTCOME_TABLE_ROLE.get(str(definition.get("kind")))
    if role is not None:
        table = next((t for t in dd.tables.values() if t.has_role(role)), None)
        if table is not None and table.name not in cohort.tables:
            missing.append(f"the {table.name!r} export (the outcome {definition.get('name')!r} is derived from it)")
    if missing:
        raise SiteDataError(f"the site's data cannot be used with model {model.uri!r}; missing: {'; '.join(missing)}")


def site_data(model: ScoringModel, cohort: Cohort, *, outcome: str | Path | None = None) -> SiteData:
    """The site's analysis data for ``model`` (module docstring). Raises :class:`SiteDataError` and
    :class:`OutcomeDefinitionError` with the full list of what is missing."""
    dd = cohort.dictionary
    definition = model_outcome_definition(model, dd, outcome)
    check_site_columns(model, cohort, definition)
    pipeline = model.evidence.get("pipeline") or {}
    eligibility = model.bundle.manifest.get("eligibility", pipeline.get("eligibility") or {})
    wide = cohort.wide
    flow: list[dict[str, Any]] = [
        {"label": s.label, "n": s.n, "excluded": dict(s.excluded)} for s in cohort.validation_flow
    ]
    flow.append({"label": "patients in the assembled cohort", "n": len(wide), "excluded": {}})
    eligible, not_eligible = _eligible(wide, eligibility, dd)
    flow.append({"label": "eligible", "n": int(eligible.sum()), "excluded": not_eligible})
    tables = dict(cohort.tables)
    patients = dd.patient_table.name
    tables[patients] = tables[patients][tables[patients][dd.key].isin(wide.index[eligible])]
    labels = derive_outcome(rule_fields(definition), tables, dd)
    if labels.kind != "binary":
        raise SiteDataError(f"outcome {labels.name!r} is time-to-event; a model bundle predicts a binary outcome")
    counts = labels.counts()
    flow.append({"label": "outcome known", "n": int(counts["labelled"]), "excluded": dict(counts["excluded"])})
    keys = labels.labels.index
    parsed = model.bundle.contract.parse(wide.loc[keys, model.bundle.contract.names])
    valid = parsed.valid.to_numpy()
    broken = parsed.problems[~valid].str.split(": ").str[0].value_counts().sort_index()
    flow.append(
        {
            "label": "analysed (predictor values within the model's input contract)",
            "n": int(valid.sum()),
            "excluded": {f"{column}: value breaks the input contract": int(n) for column, n in broken.items()},
        }
    )
    keys = keys[valid]
    subgroups = pipeline.get("subgroups") or {}
    return SiteData(
        X=parsed.frame[valid],
        y=np.asarray(labels.labels.loc[keys], dtype=int),
        centres=wide.loc[keys, dd.column("centre")].astype(str).to_numpy(),
        groups=subgroup_columns(
            wide.loc[keys], dd, subgroups.get("variables") or [], subgroups.get("age_bands") or [65.0, 75.0]
        ),
        surgery_dates=wide.loc[keys, dd.column("surgery_date")],
        flow=flow,
        definition={**labels.definition},
        dictionary_version=dd.version,
    )


def _eligible(
    wide: pd.DataFrame, eligibility: Mapping[str, Any], dd: DataDictionary
) -> tuple[pd.Series, dict[str, int]]:
    """The development pipeline's eligibility rules on the site's patients (refused when a variable is absent)."""
    absent = [v for v in eligibility if v not in wide.columns]
    if absent:
        raise SiteDataError(f"the site's data lack {absent}, which the model's eligibility rules use")
    return apply_eligibility(wide, eligibility, dd)


def subgroup_columns(
    rows: pd.DataFrame, dd: DataDictionary, variables: list[str], age_bands: list[float]
) -> pd.DataFrame:
    """The development pipeline's subgroup columns (age cut at its bands, numbers in thirds)."""
    out: dict[str, pd.Series] = {}
    for name in variables:
        if name == AGE_GROUP:
            bands = [-np.inf, *age_bands, np.inf]
            out[name] = pd.cut(
                rows[dd.column("age")].astype("float64"), bands, right=False, labels=age_band_labels(age_bands)
            ).astype(object)
        elif name in rows.columns:
            values = rows[name]
            if dd.variable(name).dtype in ("float", "int"):
                values = pd.qcut(values.astype("float64"), 3, duplicates="drop").astype(str)
            out[name] = values.astype(object)
        else:
            continue
        out[name] = out[name].where(out[name].notna(), MISSING_GROUP)
    return pd.DataFrame(out, index=rows.index)


PARTS = ("all", "first", "second")


def site_part(site: SiteData, part: str, seed: int) -> SiteData:
    """All of the site's patients, or one half of them: the halves are complementary for the same
    ``seed`` whatever the order of the rows (patients are ordered by a keyed SHA-256 of their key,
    within each outcome class, and dealt alternately), so ``update`` on one half and ``evaluate``
    on the other never share a patient."""
    if part == "all":
        return site
    if part not in PARTS:
        raise ValueError(f"part must be one of {PARTS}, got {part!r}")
    order = [hashlib.sha256(f"{seed}:{key}".encode()).hexdigest() for key in site.X.index.astype(str)]
    first = np.zeros(site.n, dtype=bool)
    for outcome in (0, 1):
        rows = np.flatnonzero(site.y == outcome)
        ranked = rows[np.argsort([order[i] for i in rows], kind="stable")]
        first[ranked[::2]] = True
    chosen = np.flatnonzero(first if part == "first" else ~first)
    half = site.subset(chosen)
    half.flow[-1]["label"] = f"{part} half of the site's patients (split seed {seed}, stratified by outcome)"
    return half
