"""Outcomes: labels derived from raw follow-up data (PROMs, MCID, C5 palsy, complications, progression).

The modelling layer asks for an outcome by name through :func:`derive_outcome`; the definitions
live in ``data_dictionary/outcomes.yaml`` and ``data_dictionary/mcid.yaml``.
"""

from spineoutcome.outcomes.definitions import derive_outcome, load_outcome_definitions, resolve_definition
from spineoutcome.outcomes.events import (
    c5_palsy_labels,
    complication_labels,
    ct_assessments,
    progression_intervals,
    progression_labels,
)
from spineoutcome.outcomes.labels import DayWindow, OutcomeLabels
from spineoutcome.outcomes.mcid import MCIDDefinition, MCIDRegistry, mcid_labels, mcid_sensitivity
from spineoutcome.outcomes.proms import (
    ValueSetRequiredError,
    pivot_totals,
    read_value_set,
    recovery_rate,
    score_totals,
    scores_in_window,
    scoring_counts,
)

__all__ = [
    "DayWindow",
    "MCIDDefinition",
    "MCIDRegistry",
    "OutcomeLabels",
    "ValueSetRequiredError",
    "c5_palsy_labels",
    "complication_labels",
    "ct_assessments",
    "derive_outcome",
    "load_outcome_definitions",
    "mcid_labels",
    "mcid_sensitivity",
    "pivot_totals",
    "progression_intervals",
    "progression_labels",
    "read_value_set",
    "recovery_rate",
    "resolve_definition",
    "score_totals",
    "scores_in_window",
    "scoring_counts",
]
