"""MCID registry: named, versioned definitions of a clinically important change, and their labels.

An experiment names the definition it uses (``mcid.yaml``); :func:`mcid_sensitivity` re-derives
the labels under every definition of an instrument to show how much the choice matters.
Direction comes from the instrument (``higher_is_better`` in ``instruments.yaml``): improvement is
``post - pre`` for JOA/mJOA/EQ-5D and ``pre - post`` for NDI and pain. A change exactly at the
threshold counts as achieved (``>=``).

Methods
-------
``absolute_change``
    improvement >= threshold points (e.g. mJOA 2, Tetreault et al., Spine 2015;40:1653-9;
    NDI 7.5, neck/arm pain 2.5, Carreon et al., Spine J 2010;10:469-74).
``absolute_change_by_severity``
    threshold depends on the baseline score band (mJOA 1/2/3 for mild/moderate/severe
    myelopathy, Tetreault et al. 2015).
``percent_change``
    improvement / baseline x 100 >= threshold %; undefined for a baseline of 0.
``distribution_sd``
    improvement >= multiplier x SD of the baseline scores (0.5 SD; Norman et al., Med Care
    2003;41:582-92). The SD is that of the cohort given, so the threshold is cohort-dependent: the
    resolved definition records the number so that a validation cohort can reuse it.
``distribution_sem``
    improvement >= SD_baseline x sqrt(1 - reliability) (1 SEM; Wyrwich et al., J Clin Epidemiol
    1999;52:861-73), with the reliability and its source stated in the definition.
``recovery_rate``
    Hirabayashi recovery rate >= threshold % (Hirabayashi et al., Spine 1981); undefined when the
    baseline is at the best attainable score.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
import yaml

from spineoutcome.dictionary import DataDictionary, builtin_dictionary_dir
from spineoutcome.outcomes.labels import (
    DayWindow,
    OutcomeLabels,
    assign_reason,
    at_least,
    empty_reasons,
    split_labels,
    table_with_role,
)
from spineoutcome.outcomes.proms import PERCENT, RR_UNDEFINED, recovery_rate, scores_in_window

Method = Literal[
    "absolute_change",
    "absolute_change_by_severity",
    "percent_change",
    "distribution_sd",
    "distribution_sem",
    "recovery_rate",
]
METHODS: tuple[str, ...] = Method.__args__  # type: ignore[attr-defined]
MCID_FILE = "mcid.yaml"


@dataclass(frozen=True)
class Assessment:
    """Which assessment counts: a nominal time point and the window its actual day must fall in."""

    timepoint: str
    days: DayWindow

    @classmethod
    def parse(cls, spec: Mapping[str, Any]) -> Assessment:
        return cls(timepoint=str(spec["timepoint"]), days=DayWindow.parse(spec["days"]))

    def describe(self) -> str:
        return f"{self.timepoint} ({self.days.describe()})"


@dataclass(frozen=True)
class SeverityBand:
    """Baseline scores from ``min`` up to the next band's ``min`` use ``threshold``."""

    name: str
    min: float
    threshold: float


@dataclass(frozen=True)
class MCIDDefinition:
    """One named, versioned MCID definition (see the module docstring for the methods)."""

    name: str
    instrument: str
    method: Method
    baseline: Assessment
    followup: Assessment
    version: str
    source: str
    threshold: float | None = None
    bands: tuple[SeverityBand, ...] = ()
    sd_multiplier: float | None = None
    reliability: float | None = None
    reliability_source: str | None = None
    scale: Literal["value", "percent"] = "value"
    reference: bool = False
    notes: str = ""
    resolved: Mapping[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.method not in METHODS:
            raise ValueError(f"MCID {self.name!r}: method {self.method!r} is not one of {list(METHODS)}")
        needs = {
            "absolute_change": self.threshold is not None,
            "percent_change": self.threshold is not None,
            "recovery_rate": self.threshold is not None,
            "absolute_change_by_severity": bool(self.bands),
            "distribution_sd": self.sd_multiplier is not None or self.threshold is not None,
            "distribution_sem": (self.reliability is not None and bool(self.reliability_source))
            or self.threshold is not None,
        }
        if not needs[self.method]:
            raise ValueError(
                f"MCID {self.name!r}: method {self.method} needs its parameter(s) "
                "(threshold; bands; sd_multiplier; reliability with reliability_source)"
            )
        if self.scale not in ("value", "percent"):
            raise ValueError(f"MCID {self.name!r}: scale must be 'value' or 'percent'")
        if self.method == "recovery_rate" and self.scale != "value":
            raise ValueError(f"MCID {self.name!r}: a recovery rate is computed on the instrument's own scale")

    @classmethod
    def from_dict(cls, name: str, spec: Mapping[str, Any]) -> MCIDDefinition:
        known = {f for f in cls.__dataclass_fields__} - {"name"}
        unknown = set(spec) - known
        if unknown:
            raise ValueError(f"MCID {name!r}: unknown field(s) {sorted(unknown)}")
        return cls(
            name=name,
            instrument=str(spec["instrument"]),
            method=spec["method"],
            baseline=Assessment.parse(spec["baseline"]),
            followup=Assessment.parse(spec["followup"]),
            version=str(spec["version"]),
            source=str(spec["source"]),
            threshold=None if spec.get("threshold") is None else float(spec["threshold"]),
            bands=tuple(
                SeverityBand(str(b["name"]), float(b["min"]), float(b["threshold"]))
                for b in sorted(spec.get("bands") or [], key=lambda b: float(b["min"]))
            ),
            sd_multiplier=None if spec.get("sd_multiplier") is None else float(spec["sd_multiplier"]),
            reliability=None if spec.get("reliability") is None else float(spec["reliability"]),
            reliability_source=spec.get("reliability_source"),
            scale=spec.get("scale", "value"),
            reference=bool(spec.get("reference", False)),
            notes=str(spec.get("notes", "")).strip(),
            resolved=dict(spec.get("resolved") or {}),
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable form; ``from_dict(name, to_dict())`` gives the definition back."""
        out = asdict(self)
        out.pop("name")
        for part in ("baseline", "followup"):
            out[part] = {"timepoint": getattr(self, part).timepoint, "days": getattr(self, part).days.to_list()}
        out["bands"] = [asdict(b) for b in self.bands]
        out["resolved"] = dict(self.resolved)
        return out

    def describe(self) -> str:
        """One line for tables: method and threshold(s)."""
        if self.method == "absolute_change_by_severity":
            rule = ", ".join(f"{b.name} (>= {b.min:g}): {b.threshold:g}" for b in self.bands)
        elif self.threshold is not None:
            unit = " %" if self.method in ("percent_change", "recovery_rate") else ""
            rule = f">= {self.threshold:g}{unit}"
        elif self.method == "distribution_sd":
            rule = f">= {self.sd_multiplier:g} SD of baseline"
        else:
            rule = f">= 1 SEM (reliability {self.reliability:g})"
        scale = " (% of the scale range)" if self.scale == "percent" else ""
        return f"{self.method} {rule}{scale}"


@dataclass(frozen=True)
class MCIDRegistry:
    """All MCID definitions of ``mcid.yaml``, by name."""

    version: str
    definitions: Mapping[str, MCIDDefinition]

    @classmethod
    def load(cls, source: str | Path | DataDictionary | None = None) -> MCIDRegistry:
        """Read ``mcid.yaml`` from a file, a directory, a dictionary's directory, or the built-in one.

        ``defaults`` at the top of the file (e.g. the baseline and 12-month windows) are merged into
        every definition; a definition's own fields win.
        """
        path = _registry_path(source)
        with path.open(encoding="utf-8") as fh:
            doc = yaml.safe_load(fh) or {}
        defaults = doc.get("defaults") or {}
        definitions = {
            name: MCIDDefinition.from_dict(name, {**defaults, **spec})
            for name, spec in (doc.get("definitions") or {}).items()
        }
        return cls(version=str(doc.get("version", "unversioned")), definitions=definitions)

    def __getitem__(self, name: str) -> MCIDDefinition:
        try:
            return self.definitions[name]
        except KeyError:
            known = sorted(self.definitions)
            raise KeyError(f"MCID definition {name!r} is not in the registry; known: {known}") from None

    def __iter__(self) -> Iterator[MCIDDefinition]:
        return iter(self.definitions.values())

    def for_instrument(self, instrument: str) -> list[MCIDDefinition]:
        return [d for d in self if d.instrument == instrument]

    def reference_for(self, instrument: str) -> MCIDDefinition:
        """The definition marked ``reference: true`` for ``instrument`` (else its first one)."""
        candidates = self.for_instrument(instrument)
        if not candidates:
            raise KeyError(f"no MCID definition for instrument {instrument!r}")
        return next((d for d in candidates if d.reference), candidates[0])


def _registry_path(source: str | Path | DataDictionary | None) -> Path:
    if isinstance(source, DataDictionary):
        own = source.directory / MCID_FILE
        return own if own.exists() else builtin_dictionary_dir() / MCID_FILE
    if source is None:
        return builtin_dictionary_dir() / MCID_FILE
    path = Path(source)
    return path / MCID_FILE if path.is_dir() else path


def resolve_threshold(definition: MCIDDefinition, baseline: pd.Series) -> MCIDDefinition:
    """Fix a distribution-based threshold from the baseline scores (sample SD, ddof = 1).

    A definition that already has a ``threshold`` (e.g. carried over from the development cohort)
    is returned unchanged; otherwise the SD, the number of baselines it came from and the
    threshold are recorded in ``resolved`` and ``threshold``.
    """
    if definition.method not in ("distribution_sd", "distribution_sem") or definition.threshold is not None:
        return definition
    values = baseline.dropna().astype("float64")
    if len(values) < 2:
        raise ValueError(f"MCID {definition.name!r}: at least two baseline scores are needed for the SD")
    sd = float(values.std(ddof=1))
    if definition.method == "distribution_sd":
        threshold = float(definition.sd_multiplier) * sd
    else:
        threshold = sd * float(np.sqrt(1.0 - float(definition.reliability)))
    return replace(definition, threshold=threshold, resolved={"baseline_sd": sd, "n_baseline": len(values)})


def mcid_labels(
    definition: MCIDDefinition,
    totals_long: pd.DataFrame,
    dictionary: DataDictionary,
    patients: Sequence[str] | pd.Index | None = None,
    name: str | None = None,
) -> OutcomeLabels:
    """0/1 labels: did the patient achieve the MCID between baseline and follow-up?

    ``totals_long`` is the output of :func:`~spineoutcome.outcomes.proms.score_totals`.
    ``patients`` are the patients considered (default: everyone in ``totals_long``); the others of
    them are excluded with a reason: no baseline in its window, baseline incomplete, no follow-up
    in its window (a visit one day outside does not count), follow-up incomplete, recovery rate or
    percent change undefined.
    """
    table = table_with_role(dictionary, "instrument")
    key = table.column("key")
    instrument = dictionary.instruments[definition.instrument]
    patients = pd.Index(totals_long[key].unique() if patients is None else patients, name=key).unique()
    column = PERCENT if definition.scale == "percent" else table.column("value")
    base, post = (
        scores_in_window(totals_long, dictionary, instrument.code, assessment.timepoint, assessment.days)
        for assessment in (definition.baseline, definition.followup)
    )
    base = base[base.index.isin(patients)]
    post = post[post.index.isin(patients)]
    definition = resolve_threshold(definition, base[column])

    pre = base[column].reindex(patients).astype("float64")
    after = post[column].reindex(patients).astype("float64")
    reasons = empty_reasons(patients)
    for part, found, score in (("baseline", base, pre), ("followup", post, after)):
        assessment: Assessment = getattr(definition, part)
        what = f"{assessment.timepoint} {instrument.code}"
        assign_reason(reasons, patients.difference(found.index), f"no {what} within {assessment.days.describe()}")
        assign_reason(reasons, score.isna(), f"{what} incomplete")

    improvement = (after - pre) if instrument.higher_is_better else (pre - after)
    if definition.method == "recovery_rate":
        best = instrument.maximum if instrument.higher_is_better else instrument.range[0]
        rate = recovery_rate(pre, after, best)
        assign_reason(reasons, rate["reason"] == RR_UNDEFINED, RR_UNDEFINED)
        achieved = at_least(rate["recovery_rate"], definition.threshold)
    elif definition.method == "percent_change":
        assign_reason(
            reasons, pre == 0, f"{definition.baseline.timepoint} {instrument.code} is 0; percent change undefined"
        )
        achieved = at_least(improvement / pre.abs() * 100, definition.threshold)
    elif definition.method == "absolute_change_by_severity":
        mins = np.array([b.min for b in definition.bands])
        band = np.searchsorted(mins, pre.to_numpy(), side="right") - 1
        assign_reason(
            reasons,
            pd.Series(band < 0, index=patients) & pre.notna(),
            f"{definition.baseline.timepoint} {instrument.code} below the lowest severity band",
        )
        thresholds = np.array([b.threshold for b in definition.bands])[np.clip(band, 0, None)]
        achieved = at_least(improvement, pd.Series(thresholds, index=patients))
    else:
        achieved = at_least(improvement, definition.threshold)
    label_name = name or definition.name
    direction = "higher is better" if instrument.higher_is_better else "lower is better"
    resolved = {
        "name": label_name,
        "kind": "mcid",
        "direction": direction,
        "mcid": {"name": definition.name, **definition.to_dict()},
    }
    return split_labels(label_name, "binary", achieved.astype(int), reasons, key, resolved)


def mcid_sensitivity(
    instrument: str,
    totals_long: pd.DataFrame,
    dictionary: DataDictionary,
    registry: MCIDRegistry | None = None,
    reference: str | None = None,
    patients: Sequence[str] | pd.Index | None = None,
) -> pd.DataFrame:
    """Labels under every registry definition for ``instrument``, compared with a reference.

    One row per definition: ``definition``, ``version``, ``rule``, ``followup``, ``threshold``
    (resolved), ``n_labelled``, ``n_achieved``, ``proportion``, and, against the reference
    definition (``reference`` or the registry's ``reference: true`` one), ``n_compared`` (labelled
    under both), ``n_changed`` (class differs), ``n_gained`` (0 -> 1) and ``n_lost`` (1 -> 0).
    """
    registry = registry or MCIDRegistry.load(dictionary)
    definitions = registry.for_instrument(instrument)
    if not definitions:
        raise KeyError(f"no MCID definition for instrument {instrument!r} in the registry")
    ref = registry[reference] if reference else registry.reference_for(instrument)
    ref_labels = mcid_labels(ref, totals_long, dictionary, patients).labels
    rows = []
    for definition in definitions:
        result = mcid_labels(definition, totals_long, dictionary, patients)
        labels = result.labels
        both = labels.index.intersection(ref_labels.index)
        new, old = labels.loc[both].astype(int), ref_labels.loc[both].astype(int)
        rows.append(
            {
                "definition": definition.name,
                "version": definition.version,
                "rule": definition.describe(),
                "followup": definition.followup.describe(),
                "threshold": result.definition["mcid"]["threshold"],
                "n_labelled": len(labels),
                "n_achieved": int(labels.sum()),
                "proportion": float(labels.mean()) if len(labels) else float("nan"),
                "reference": definition.name == ref.name,
                "n_compared": len(both),
                "n_changed": int((new != old).sum()),
                "n_gained": int(((new == 1) & (old == 0)).sum()),
                "n_lost": int(((new == 0) & (old == 1)).sum()),
            }
        )
    return pd.DataFrame(rows)
