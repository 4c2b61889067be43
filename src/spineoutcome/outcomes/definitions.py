"""Named outcome definitions (``outcomes.yaml``) and the one entry point that derives them.

The modelling layer asks for an outcome by name (``derive_outcome("c5_palsy", tables, dd)``) and
gets :class:`~spineoutcome.outcomes.labels.OutcomeLabels`; it never needs to know how an outcome
is made. A definition may also be given inline as a dict with the same fields as a YAML entry
plus ``name``.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml

from spineoutcome.dictionary import DataDictionary, UnknownVariableError, builtin_dictionary_dir, unknown_name_message
from spineoutcome.errors import SpineoutcomeError
from spineoutcome.outcomes.events import (
    c5_palsy_labels,
    complication_labels,
    progression_intervals,
    progression_labels,
)
from spineoutcome.outcomes.labels import (
    EVENT,
    LOWER,
    REASON,
    UPPER,
    DayWindow,
    OutcomeLabels,
    assign_reason,
    empty_reasons,
    patient_keys,
    split_labels,
    table_or_empty,
    table_with_role,
)
from spineoutcome.outcomes.mcid import MCIDDefinition, MCIDRegistry, mcid_labels
from spineoutcome.outcomes.proms import score_totals

OUTCOMES_FILE = "outcomes.yaml"


class OutcomeDefinitionError(SpineoutcomeError, ValueError):
    """An outcome definition is incomplete or wrong; the message names the outcome, the field and the rule."""


COMMON_FIELDS = frozenset({"name", "kind", "description", "population", "source", "version"})
KIND_FIELDS: Mapping[str, frozenset[str]] = {
    "c5_palsy": frozenset({"window_days", "muscles", "min_drop"}),
    "complication": frozenset({"window_days", "types", "min_grade"}),
    "progression": frozenset({"horizon_day", "tolerance_days", "min_growth_mm", "measures"}),
    "progression_time": frozenset({"min_growth_mm", "measures"}),
    "mcid": frozenset({"mcid", "max_missing_items"}),
    "column": frozenset({"column", "positive"}),
    "time_to_event": frozenset({"time", "event", "event_value", "horizon", "unit", "view"}),
}
KIND_ROLES: Mapping[str, tuple[str, ...]] = {
    "c5_palsy": ("last_followup",),
    "complication": ("last_followup",),
    "progression": (),
    "progression_time": (),
    "mcid": (),
    "column": (),
    "time_to_event": (),
}
"""Roles of the patient table an outcome kind's rule reads (checked before the first fit)."""
KIND_TABLE_ROLES: Mapping[str, tuple[str, ...]] = {
    "c5_palsy": ("myelopathy_worsened",),
    "complication": ("complication_type",),
    "progression": ("thickness",),
    "progression_time": ("thickness",),
    "mcid": ("instrument",),
}
"""Roles that identify the follow-up table an outcome kind's rule reads (one table must have each)."""
REQUIRED_FIELDS: Mapping[str, tuple[str, ...]] = {
    "column": ("column", "positive"),
    "time_to_event": ("time", "event", "event_value", "horizon"),
}


def inline_definition(spec: Mapping[str, Any], name: str) -> dict[str, Any]:
    """A pipeline's inline outcome (``{column: .., positive: ..}`` or ``{time: .., event: .., event_value: ..,
    horizon: ..}``) as a full definition: its ``kind`` inferred when absent, ``name`` defaulting to ``name``."""
    definition = {"name": name, **dict(spec)}
    if "kind" not in definition:
        definition["kind"] = "time_to_event" if "time" in definition else "column"
    return definition


def load_outcome_definitions(source: str | Path | DataDictionary | None = None) -> dict[str, dict[str, Any]]:
    """All named outcomes of ``outcomes.yaml`` (from a file, a directory, a dictionary's directory
    or the built-in dictionary), each with its ``name`` and the file's ``version`` filled in."""
    path = _outcomes_path(source)
    with path.open(encoding="utf-8") as fh:
        doc = yaml.safe_load(fh) or {}
    version = str(doc.get("version", "unversioned"))
    return {name: {"name": name, "version": version, **spec} for name, spec in (doc.get("outcomes") or {}).items()}


def _outcomes_path(source: str | Path | DataDictionary | None) -> Path:
    if isinstance(source, DataDictionary):
        own = source.directory / OUTCOMES_FILE
        return own if own.exists() else builtin_dictionary_dir() / OUTCOMES_FILE
    if source is None:
        return builtin_dictionary_dir() / OUTCOMES_FILE
    path = Path(source)
    return path / OUTCOMES_FILE if path.is_dir() else path


def resolve_definition(
    name_or_definition: str | Mapping[str, Any],
    dictionary: DataDictionary,
    registry: MCIDRegistry | None = None,
) -> dict[str, Any]:
    """The checked definition of an outcome, with an MCID reference replaced by its full definition."""
    if isinstance(name_or_definition, str):
        known = load_outcome_definitions(dictionary)
        if name_or_definition not in known:
            raise UnknownVariableError(unknown_name_message(name_or_definition, list(known), "the outcome definitions"))
        definition = copy.deepcopy(known[name_or_definition])
    else:
        definition = copy.deepcopy(dict(name_or_definition))
    name, kind = definition.get("name"), definition.get("kind")
    if not name or kind not in KIND_FIELDS:
        raise OutcomeDefinitionError(
            f"an outcome definition needs a name and a kind in {sorted(KIND_FIELDS)}; got {name!r}, {kind!r}"
        )
    unknown = set(definition) - COMMON_FIELDS - KIND_FIELDS[kind]
    if unknown:
        raise OutcomeDefinitionError(f"outcome {name!r} ({kind}): unknown field(s) {sorted(unknown)}")
    absent = [f for f in REQUIRED_FIELDS.get(kind, ()) if definition.get(f) is None]
    if absent:
        raise OutcomeDefinitionError(
            f"outcome {name!r} ({kind}): missing field(s) {absent} "
            f"(rule: a {kind} outcome needs {list(REQUIRED_FIELDS[kind])})"
        )
    for field_name in ("column", "time", "event"):
        if kind in ("column", "time_to_event") and field_name in definition:
            dictionary.patient_table[str(definition[field_name])]
    horizon = definition.get("horizon")
    if kind == "time_to_event" and not (
        isinstance(horizon, (int, float)) and not isinstance(horizon, bool) and horizon > 0
    ):
        raise OutcomeDefinitionError(
            f"outcome {name!r}: horizon must be a positive number, got {definition['horizon']!r}"
        )
    for variable in definition.get("population") or {}:
        dictionary.patient_table[variable]
    if kind == "mcid":
        reference = definition.get("mcid")
        if isinstance(reference, str):
            mcid = (registry or MCIDRegistry.load(dictionary))[reference]
        elif isinstance(reference, Mapping):
            mcid = MCIDDefinition.from_dict(
                str(reference.get("name", name)), {k: v for k, v in reference.items() if k != "name"}
            )
        else:
            raise OutcomeDefinitionError(
                f"outcome {name!r}: 'mcid' must name a definition in mcid.yaml or give one inline"
            )
        definition["mcid"] = {"name": mcid.name, **mcid.to_dict()}
    return definition


def derive_outcome(
    name_or_definition: str | Mapping[str, Any],
    tables: Mapping[str, pd.DataFrame],
    dictionary: DataDictionary,
    *,
    value_set: pd.DataFrame | str | Path | None = None,
    registry: MCIDRegistry | None = None,
) -> OutcomeLabels:
    """Labels of a named (or inline) outcome for every patient of the patient table.

    ``tables`` maps dictionary table names to validated exports; a follow-up table that is absent
    means no records for anyone. Patients outside the definition's ``population`` and those
    without adequate follow-up are excluded with a reason, so ``counts()["considered"]`` equals
    the number of patients. ``value_set`` scores EQ-5D items when an MCID outcome needs them.
    """
    definition = resolve_definition(name_or_definition, dictionary, registry)
    considered = patient_keys(tables, dictionary)
    outside = _outside_population(definition, tables, dictionary, considered)
    eligible = considered[outside.isna().to_numpy()]
    result = _RULES[definition["kind"]](definition, tables, dictionary, eligible, value_set)
    population_exclusions = pd.DataFrame(
        {dictionary.key: outside.dropna().index.to_numpy(), REASON: outside.dropna().to_numpy()}
    )
    exclusions = pd.concat([population_exclusions, result.exclusions], ignore_index=True)
    return OutcomeLabels(
        name=definition["name"],
        kind=result.kind,
        labels=result.labels,
        exclusions=exclusions,
        definition={**definition, **result.definition, "dictionary_version": dictionary.version},
    )


def _outside_population(
    definition: Mapping[str, Any], tables: Mapping[str, pd.DataFrame], dictionary: DataDictionary, considered: pd.Index
) -> pd.Series:
    reasons = empty_reasons(considered)
    patients = tables[dictionary.patient_table.name].set_index(dictionary.key)
    for variable, allowed in (definition.get("population") or {}).items():
        allowed = [str(v) for v in allowed]
        values = patients[variable].reindex(considered)
        inside = values.notna() & values.astype(str).isin(allowed)
        assign_reason(reasons, ~inside, f"outside population: {variable} not in [{', '.join(allowed)}]")
    return reasons


def _c5_palsy(
    d: Mapping[str, Any], tables: Mapping[str, pd.DataFrame], dd: DataDictionary, patients: pd.Index, value_set: Any
) -> OutcomeLabels:
    kwargs = _kwargs(d, {"muscles": tuple, "min_drop": int})
    return c5_palsy_labels(tables, dd, name=d["name"], patients=patients, **kwargs)


def _complication(
    d: Mapping[str, Any], tables: Mapping[str, pd.DataFrame], dd: DataDictionary, patients: pd.Index, value_set: Any
) -> OutcomeLabels:
    kwargs = _kwargs(d, {"types": lambda v: None if v is None else tuple(v), "min_grade": lambda v: v})
    return complication_labels(tables, dd, name=d["name"], patients=patients, **kwargs)


def _progression(
    d: Mapping[str, Any], tables: Mapping[str, pd.DataFrame], dd: DataDictionary, patients: pd.Index, value_set: Any
) -> OutcomeLabels:
    kwargs = _kwargs(d, {"horizon_day": int, "tolerance_days": int, "min_growth_mm": float, "measures": tuple})
    return progression_labels(tables, dd, name=d["name"], patients=patients, **kwargs)


def _progression_time(
    d: Mapping[str, Any], tables: Mapping[str, pd.DataFrame], dd: DataDictionary, patients: pd.Index, value_set: Any
) -> OutcomeLabels:
    kwargs = _kwargs(d, {"min_growth_mm": float, "measures": tuple})
    return progression_intervals(tables, dd, name=d["name"], patients=patients, **kwargs)


def _mcid(
    d: Mapping[str, Any], tables: Mapping[str, pd.DataFrame], dd: DataDictionary, patients: pd.Index, value_set: Any
) -> OutcomeLabels:
    mcid = MCIDDefinition.from_dict(d["mcid"]["name"], {k: v for k, v in d["mcid"].items() if k != "name"})
    table = table_with_role(dd, "instrument")
    proms = table_or_empty(tables, table)
    proms = proms[proms[table.column("instrument")].astype(str) == mcid.instrument]
    prorate = {mcid.instrument: int(d.get("max_missing_items") or 0)}
    totals = score_totals(proms, dd, value_set=value_set, prorate=prorate)
    return mcid_labels(mcid, totals, dd, patients=patients, name=d["name"])


def _column(
    d: Mapping[str, Any], tables: Mapping[str, pd.DataFrame], dd: DataDictionary, patients: pd.Index, value_set: Any
) -> OutcomeLabels:
    """The outcome is recorded in a column: 1 where it holds one of ``positive``, 0 for any other value;
    a missing value excludes the patient ("outcome missing")."""
    positive = d["positive"] if isinstance(d["positive"], list) else [d["positive"]]
    values = _patient_column(tables, dd, str(d["column"]), patients)
    label = pd.Series(_is_one_of(values, positive, dd, str(d["column"])).astype(int), index=patients)
    reasons = empty_reasons(patients)
    assign_reason(reasons, values.isna(), f"outcome missing ({d['column']} empty)")
    definition = {"positive": [str(v) for v in positive]}
    return split_labels(d["name"], "binary", label, reasons, dd.key, definition)


def _time_to_event(
    d: Mapping[str, Any], tables: Mapping[str, pd.DataFrame], dd: DataDictionary, patients: pd.Index, value_set: Any
) -> OutcomeLabels:
    """Right-censored time to event. ``view: time`` (survival families): the times themselves, as
    interval-censored labels with ``lower = upper = time`` for an event and ``upper = inf`` when censored.
    Otherwise labelled at ``horizon`` (the binary-at-horizon view): 1 when the event happened at or
    before the horizon, 0 when the patient was followed beyond it without the event; censored before
    the horizon excludes the patient (their status at the horizon is unknown)."""
    if d.get("view") == "time":
        return _right_censored(d, tables, dd, patients)
    time = _patient_column(tables, dd, str(d["time"]), patients).astype("float64")
    event = _is_one_of(_patient_column(tables, dd, str(d["event"]), patients), [d["event_value"]], dd, str(d["event"]))
    event_missing = _patient_column(tables, dd, str(d["event"]), patients).isna()
    horizon = float(d["horizon"])
    label = pd.Series((event & (time <= horizon)).astype(int).to_numpy(), index=patients)
    reasons = empty_reasons(patients)
    assign_reason(reasons, time.isna() | event_missing, f"outcome missing ({d['time']} or {d['event']} empty)")
    assign_reason(reasons, ~event & (time < horizon), f"censored before the horizon ({horizon:g})")
    definition = {"horizon": horizon, "event_value": str(d["event_value"]), "view": "binary at the horizon"}
    return split_labels(d["name"], "binary", label, reasons, dd.key, definition)


def _right_censored(
    d: Mapping[str, Any], tables: Mapping[str, pd.DataFrame], dd: DataDictionary, patients: pd.Index
) -> OutcomeLabels:
    time = _patient_column(tables, dd, str(d["time"]), patients).astype("float64")
    raw_event = _patient_column(tables, dd, str(d["event"]), patients)
    event = _is_one_of(raw_event, [d["event_value"]], dd, str(d["event"]))
    values = pd.DataFrame({LOWER: time, UPPER: time.where(event, np.inf), EVENT: event.astype(int)}, index=patients)
    reasons = empty_reasons(patients)
    assign_reason(reasons, time.isna() | raw_event.isna(), f"outcome missing ({d['time']} or {d['event']} empty)")
    assign_reason(reasons, time <= 0, f"{d['time']} not positive")
    definition = {"horizon": float(d["horizon"]), "event_value": str(d["event_value"]), "view": "time to event"}
    return split_labels(d["name"], "interval_censored", values, reasons, dd.key, definition)


def _patient_column(
    tables: Mapping[str, pd.DataFrame], dd: DataDictionary, column: str, patients: pd.Index
) -> pd.Series:
    rows = tables[dd.patient_table.name].set_index(dd.key)
    return rows[column].reindex(patients)


def _is_one_of(values: pd.Series, wanted: list[Any], dd: DataDictionary, column: str) -> pd.Series:
    """Whether each value is one of ``wanted`` as written in YAML; for a ``bool`` column, ``1``, ``yes`` and
    ``true`` (the dictionary's true values) all mean true."""
    if dd.patient_table[column].dtype == "bool":
        truthy = {v.lower() for v in dd.true_values}
        targets = {w if isinstance(w, bool) else str(w).lower() in truthy for w in wanted}
        return values.map(lambda v: bool(v) in targets, na_action="ignore").fillna(False).astype(bool)
    return _as_text(values).isin({str(w) for w in wanted})


def _as_text(values: pd.Series) -> pd.Series:
    """Values as the text a user writes in YAML: a whole number without ``.0``, booleans as written."""

    def text(v: Any) -> str:
        if isinstance(v, float) and v.is_integer():
            return str(int(v))
        return str(v)

    return values.astype(object).map(text, na_action="ignore").fillna("")


def _kwargs(definition: Mapping[str, Any], converters: Mapping[str, Callable[[Any], Any]]) -> dict[str, Any]:
    kwargs = {k: convert(definition[k]) for k, convert in converters.items() if k in definition}
    if "window_days" in definition:
        kwargs["window"] = DayWindow.parse(definition["window_days"])
    return kwargs


_RULES: Mapping[str, Callable[..., OutcomeLabels]] = {
    "c5_palsy": _c5_palsy,
    "complication": _complication,
    "progression": _progression,
    "progression_time": _progression_time,
    "mcid": _mcid,
    "column": _column,
    "time_to_event": _time_to_event,
}
