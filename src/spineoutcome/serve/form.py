"""The calculator's fields, generated from the served models' input contracts (derived from the data dictionary).

One field per predictor of any served model, in the models' contract order, with the ``name``
attribute equal to the variable name. Label (:func:`spineoutcome.scoring.words.label`), unit,
allowed range and help text (the dictionary's description) come from the contract; categories
and yes/no are choices. A predictor the dictionary declares nullable may be left empty: the model
imputes it and the result flags it. No field name, unit or wording is written here.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from urllib.parse import parse_qsl

from spineoutcome.scoring.words import labels
from spineoutcome.serve.models import ServedModel

BASE_PREFIX = "base."
"""Prefix of the hidden fields that carry the first scenario of a what-if."""


@dataclass(frozen=True)
class FormField:
    """One input of the calculator; ``options`` (value, text) for a choice, None for a number."""

    name: str
    label: str
    help: str
    unit: str | None
    range: tuple[float, float] | None
    step: str
    options: tuple[tuple[str, str], ...] | None
    required: bool
    models: tuple[str, ...]

    @property
    def range_text(self) -> str:
        """The plausible range with its unit, as the form shows it ('' when the variable has none)."""
        if self.range is None:
            return ""
        lo, hi = self.range
        return f"{lo:g} to {hi:g}" + (f" {self.unit}" if self.unit else "")


def form_fields(served: Sequence[ServedModel]) -> list[FormField]:
    """The calculator's fields for ``served`` (module docstring)."""
    specs = {}
    used: dict[str, list[str]] = {}
    for s in served:
        for spec in s.contract.predictors:
            specs.setdefault(spec.name, (spec, s.contract))
            used.setdefault(spec.name, []).append(s.name)
    texts = labels(tuple(spec for spec, _ in specs.values()))
    out = []
    for (name, (spec, contract)), text in zip(specs.items(), texts, strict=True):
        required = any(p.required for s in served for p in s.contract.predictors if p.name == name)
        if spec.dtype == "category":
            options = tuple((c, c.replace("_", " ")) for c in spec.categories or ())
        elif spec.dtype == "bool":
            options = ((contract.true_values[0], "yes"), (contract.false_values[0], "no"))
        else:
            options = None
        out.append(
            FormField(
                name=name,
                label=text,
                help=spec.description,
                unit=spec.unit,
                range=spec.range,
                step="1" if spec.dtype == "int" else "any",
                options=options,
                required=required,
                models=tuple(used[name]),
            )
        )
    return out


def read_form(body: bytes) -> dict[str, str]:
    """An ``application/x-www-form-urlencoded`` body as name -> value (the last value of a repeated name)."""
    return dict(parse_qsl(body.decode("utf-8", errors="replace"), keep_blank_values=True))


def patient_values(form: Mapping[str, str], fields: Sequence[FormField], prefix: str = "") -> dict[str, str]:
    """The predictors of one scenario from a submitted form ('' = not recorded)."""
    return {f.name: form.get(prefix + f.name, "") for f in fields}
