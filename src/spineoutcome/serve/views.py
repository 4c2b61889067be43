"""The calculator's pages: Jinja2 templates filled with the risk sheet's own content.

Each model's result is the page of the one-page risk sheet (:meth:`.SheetWriter.document`: risk,
95 % band, risk group, drivers in words, data checks, how the model performed in patients like
this one, intended use, model and verification line), so the web page and the PDF download say
the same thing, formatted once. The pages work without JavaScript (the Content-Security-Policy
allows none) and print cleanly (print stylesheet).

What-if: the first scenario travels in hidden fields (:data:`~.form.BASE_PREFIX`), the second in
the ordinary fields; both are scored in one batch. The difference of the two risks gets a paired
95 % band: the 2.5th and 97.5th percentiles, over the bootstrap refits, of each refit's
difference (the refits that make the two bands), which is narrower than the two bands suggest
when the scenarios share most values. Whether the two bands overlap is shown as asked; it is not a
test of the difference.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
from jinja2 import Environment, PackageLoader, select_autoescape

from spineoutcome import __version__
from spineoutcome.dictionary import DataDictionary
from spineoutcome.report import numbers as fmt
from spineoutcome.scoring.sheets import SheetWriter
from spineoutcome.serve.engine import Batch, ModelScores, refit_risks
from spineoutcome.serve.form import BASE_PREFIX, FormField
from spineoutcome.serve.models import ServedModel

ORIGIN = "Calculator (spineoutcome serve)"
SCALE_WIDTH = 600.0


class Views:
    """Renders the calculator, result and what-if pages and the risk-sheet PDF for ``served``."""

    def __init__(
        self,
        served: Sequence[ServedModel],
        fields: Sequence[FormField],
        dictionary: DataDictionary,
        *,
        token_required: bool,
    ) -> None:
        self.served = list(served)
        self.fields = list(fields)
        self.writers = [SheetWriter(None, [s.model], [s.name], dictionary) for s in self.served]
        self.env = Environment(
            loader=PackageLoader("spineoutcome.serve", "templates"),
            autoescape=select_autoescape(default=True, default_for_string=True),
        )
        self.token_required = token_required
        self._typeset = threading.Lock()

    def calculator(self, values: Mapping[str, str] | None = None, batch: Batch | None = None) -> str:
        """The form (prefilled with ``values``) and, after a submission, every model's result."""
        values = dict(values or {})
        results = [self._result(m, 0, values) for m in batch.models] if batch is not None else []
        return self._render(
            "calculator.html",
            values=values,
            results=results,
            problems=_problems_by_field(batch, 0) if batch is not None else {},
            scored=batch is not None,
        )

    def whatif(self, base: Mapping[str, str], other: Mapping[str, str], batch: Batch) -> str:
        """Two scenarios side by side per model, with the difference and whether the bands overlap."""
        comparisons = [self._comparison(m, base, other) for m in batch.models]
        changed = [
            {
                "label": f.label,
                "unit": f.unit or "",
                "before": _shown(f, base.get(f.name, "")),
                "after": _shown(f, other.get(f.name, "")),
            }
            for f in self.fields
            if base.get(f.name, "").strip() != other.get(f.name, "").strip()
        ]
        return self._render(
            "whatif.html",
            values=dict(other),
            base=dict(base),
            comparisons=comparisons,
            changed=changed,
            problems=_problems_by_field(batch, 1),
        )

    def sheet(self, values: Mapping[str, str], batch: Batch, patient: str) -> bytes | None:
        """The risk-sheet PDF (one page per model that could score the patient); None when none could."""
        docs = [
            self._document(writer, result, 0, values, patient)
            for writer, result in zip(self.writers, batch.models, strict=True)
            if result.row[0] >= 0
        ]
        if not docs:
            return None
        doc = {**docs[0], "models": [page for d in docs for page in d["models"]]}
        with self._typeset:
            return self.writers[0].render(doc, what="the calculator's patient")

    def _document(
        self, writer: SheetWriter, result: ModelScores, i: int, values: Mapping[str, str], patient: str = "not given"
    ) -> dict[str, Any]:
        raw = pd.Series(dict(values), dtype=object)
        return writer.document(
            patient or "not given",
            [result.typed(i)],
            [result.scores],
            int(result.row[i]),
            raw,
            origin=ORIGIN,
            patient_label="Patient",
        )

    def _result(self, result: ModelScores, i: int, values: Mapping[str, str]) -> dict[str, Any]:
        served = result.served
        out: dict[str, Any] = {
            "name": served.name,
            "title": served.describe()["description"],
            "verification": served.model.integrity,
            "problems": result.problems[i],
        }
        if result.row[i] >= 0:
            writer = self.writers[self.served.index(served)]
            page = self._document(writer, result, i, values)["models"][0]
            out.update(page=page, scale=_scale(page["scale"]), entry=result.entry(i))
        return out

    def _comparison(self, result: ModelScores, base: Mapping[str, str], other: Mapping[str, str]) -> dict[str, Any]:
        served = result.served
        out: dict[str, Any] = {
            "name": served.name,
            "title": served.describe()["description"],
            "verification": served.model.integrity,
            "before": self._result(result, 0, base),
            "after": self._result(result, 1, other),
        }
        if result.row[0] >= 0 and result.row[1] >= 0:
            a, b = out["before"]["entry"], out["after"]["entry"]
            difference = b["probability"] - a["probability"]
            out["difference"] = _points(difference)
            if served.model.bundle.ensemble:
                draws = refit_risks(served, result.valid_frame().iloc[[int(result.row[0]), int(result.row[1])]])
                low, high = np.percentile(draws[:, 1] - draws[:, 0], (2.5, 97.5))
                out["difference_band"] = f"{_points(low)} to {_points(high)}"
                out["refits"] = draws.shape[0]
                out["overlap"] = max(a["band_low"], b["band_low"]) <= min(a["band_high"], b["band_high"])
        return out

    def _render(self, template: str, **context: Any) -> str:
        return self.env.get_template(template).render(
            fields=self.fields,
            models=[s.describe() for s in self.served],
            version=__version__,
            base_prefix=BASE_PREFIX,
            token_required=self.token_required,
            **context,
        )


def _problems_by_field(batch: Batch, i: int) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for result in batch.models:
        for problem in result.problems[i]:
            messages = out.setdefault(problem["variable"], [])
            text = problem["message"].split(": ", 1)[-1]
            if text not in messages:
                messages.append(text)
    return out


def _shown(field: FormField, value: str) -> str:
    value = value.strip()
    if not value:
        return "not recorded"
    for option, text in field.options or ():
        if option.lower() == value.lower():
            return text
    return f"{value} {field.unit}" if field.unit else value


def _points(difference: float) -> str:
    """A difference of two risks in percentage points, signed: '+3.2 percentage points'."""
    sign = "+" if difference > 0 else "−" if difference < 0 else "±"
    return f"{sign}{fmt.num(abs(100 * difference), digits=1)} percentage points"


def _scale(scale: Mapping[str, Any]) -> dict[str, Any]:
    """The risk sheet's scale in SVG coordinates (0..:data:`SCALE_WIDTH`)."""
    top = float(scale["max"])

    def x(v: float) -> float:
        return round(SCALE_WIDTH * min(max(float(v), 0.0) / top, 1.0), 2)

    return {
        "width": SCALE_WIDTH,
        "max_label": scale["max_label"],
        "groups": [
            {"x": x(g["from"]), "w": max(x(g["to"]) - x(g["from"]), 0.0), "colour": g["colour"], "name": g["name"]}
            for g in scale["groups"]
        ],
        "thresholds": [{"x": x(t["value"]), "label": t["label"]} for t in scale["thresholds"]],
        "band": {"x": x(scale["band_low"]), "w": max(x(scale["band_high"]) - x(scale["band_low"]), 1.0)},
        "point": x(scale["point"]),
    }
