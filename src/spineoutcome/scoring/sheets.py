"""One-page risk sheets (PDF): one file per scored patient, one page per model.

A sheet shows the patient's risk with its 95 % band and risk group on a scale with the run's
thresholds; the three main drivers in plain words with their SHAP values; checks on the
patient's data (imputed values, values outside the development data, an unusual combination);
how the model performed in the development data in patients like this one (their subgroups from
the Evidence: all patients, age group, sex, approach, centre, as the run defined them); and the
model's intended use. Typeset with Typst (PyPI ``typst``: no system fonts, no network), from
``sheet.typ`` and a JSON document built here; every number is formatted in Python.

A sheet holds one patient's identifiable data by design. Sheets are written only into the folder
the user names, named by export line (``line-0000042.pdf``, the ``line`` column of the scores
file), not by patient key, and are never logged. They are typeset into a private staging folder
(mode 0700, files 0600) next to the target and moved into it only when the whole run succeeded
(:meth:`SheetWriter.commit`), so an aborted run leaves no sheet behind; an existing sheet is
refused unless ``overwrite``. A sheet of a model that was not verified says UNVERIFIED on every
page.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import tempfile
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from spineoutcome import __version__
from spineoutcome.config import AGE_GROUP
from spineoutcome.dictionary import DataDictionary, DictionaryError
from spineoutcome.errors import SpineoutcomeError
from spineoutcome.experiment.task import age_band_labels
from spineoutcome.outputs import PRIVATE_MODE, OutputExistsError
from spineoutcome.report import numbers as fmt
from spineoutcome.scoring.model import UNVERIFIED, ScoringModel
from spineoutcome.scoring.reader import Chunk
from spineoutcome.scoring.task import TaskScores, category_labels
from spineoutcome.scoring.words import FactorWords, value_text

TEMPLATE = "sheet.typ"
GROUP_COLOURS = ("#DCEFD9", "#FBEBC8", "#F6D2C4", "#EDB8B0", "#E3A39B")
SHOWN_DRIVERS = 3


class SheetError(SpineoutcomeError, RuntimeError):
    """A risk sheet could not be typeset (the message names the export line, never the patient)."""


class SheetWriter:
    """Writes the risk sheets of the valid rows of chunk after chunk (module docstring)."""

    def __init__(
        self,
        directory: str | Path | None,
        models: list[ScoringModel],
        prefixes: list[str],
        dictionary: DataDictionary,
        *,
        overwrite: bool = False,
    ) -> None:
        """``directory`` None: sheets are only built and rendered in memory (:meth:`document`, :meth:`render`)."""
        import typst

        from spineoutcome.report.render import font_paths

        self.directory = Path(directory) if directory is not None else None
        self.overwrite = overwrite
        self.staging: Path | None = None
        if self.directory is not None:
            if not overwrite and self.directory.is_dir() and any(self.directory.glob("line-*.pdf")):
                raise OutputExistsError(f"{self.directory} holds risk sheets already; pass --overwrite to replace them")
            self.directory.parent.mkdir(parents=True, exist_ok=True)
            self.staging = Path(
                tempfile.mkdtemp(prefix=f".{self.directory.name}.", suffix=".partial", dir=self.directory.parent)
            )
        self.models = models
        self.prefixes = prefixes
        self.written = 0
        try:
            self.age = dictionary.column("age")
        except DictionaryError:  # a hospital dictionary without an age role: no age group row
            self.age = None
        groupings = {g for m in models for g in (m.clinical.get("subgroups") or {}).get("variables", [])}
        self.columns = sorted({g for g in groupings if g != AGE_GROUP} | ({self.age} if self.age else set()))
        self._words = [FactorWords(m.bundle.contract.predictors) for m in models]
        self._template = resources.files("spineoutcome.scoring").joinpath(TEMPLATE)
        self._compiler = typst.Compiler(
            str(self._template),
            root=str(Path(str(self._template)).parent),
            font_paths=font_paths(),
            ignore_system_fonts=True,
        )
        self._date = dt.date.today().isoformat()

    def write(
        self,
        chunk: Chunk,
        valid: np.ndarray,
        keys: np.ndarray,
        typed: list[pd.DataFrame],
        results: list[TaskScores],
        columns: dict[str, Any],
    ) -> None:
        """One PDF per valid row of ``chunk``."""
        if self.directory is None:
            raise ValueError("this SheetWriter has no folder to write into")
        raw = chunk.frame[valid].reset_index(drop=True)
        lines = chunk.lines[valid]
        for r in range(len(raw)):
            doc = self.document(
                str(keys[r]), [t.iloc[r] for t in typed], results, r, raw.iloc[r], origin=f"Export line {int(lines[r])}"
            )
            path = self.staging / f"line-{int(lines[r]):07d}.pdf"
            with os.fdopen(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_MODE)):
                pass
            self.render(doc, path, what=f"export line {int(lines[r])}")
            os.chmod(path, PRIVATE_MODE)
            self.written += 1

    def document(
        self,
        patient: str,
        values: list[pd.Series],
        results: list[TaskScores],
        r: int,
        raw: pd.Series,
        *,
        origin: str,
        patient_label: str = "Patient key",
    ) -> dict[str, Any]:
        """The sheet of row ``r`` as the JSON document ``sheet.typ`` lays out, one page per model.

        ``values``: the row's typed predictors per model; ``raw``: its export text (subgroup columns
        that are not predictors); ``origin``: where the row came from, printed under the patient.
        """
        pages = [self._page(m, values[i], results[i], r, raw, self._words[i]) for i, m in enumerate(self.models)]
        return {
            "patient": patient,
            "patient_label": patient_label,
            "origin": origin,
            "date": self._date,
            "models": pages,
            "footer": "Contains one patient's identifiable data: store and share it under local policy. "
            f"Generated by spineoutcome {__version__}; not logged anywhere.",
        }

    def render(self, doc: dict[str, Any], path: Path | None = None, *, what: str = "the risk sheet") -> bytes | None:
        """Typeset ``doc`` into ``path``, or return the PDF bytes when no path is given."""
        try:
            return self._compiler.compile(
                output=str(path) if path is not None else None,
                sys_inputs={"sheet": json.dumps(doc, ensure_ascii=False)},
            )
        except (RuntimeError, OSError):  # typst.TypstError: its diagnostics may quote the patient's data
            raise SheetError(f"Typst could not typeset the risk sheet of {what}") from None

    def commit(self) -> None:
        """Move every sheet of the run into the target folder (created owner-only), then drop the staging folder."""
        if self.directory is None or self.staging is None:
            return
        self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        staged = sorted(self.staging.glob("line-*.pdf"))
        if not self.overwrite:
            clash = [p.name for p in staged if (self.directory / p.name).exists()]
            if clash:
                self.discard()
                raise OutputExistsError(
                    f"{self.directory}: {len(clash)} risk sheet(s) appeared during this run "
                    f"(e.g. {clash[0]}); nothing was replaced"
                )
        for path in staged:
            os.replace(path, self.directory / path.name)
        self.discard()

    def discard(self) -> None:
        """Delete the staging folder and every sheet in it (an aborted run leaves no sheet)."""
        if self.staging is not None:
            shutil.rmtree(self.staging, ignore_errors=True)

    def _page(
        self, model: ScoringModel, values: pd.Series, scores: TaskScores, r: int, raw: pd.Series, words: FactorWords
    ) -> dict[str, Any]:
        col = scores.columns
        task = model.clinical.get("task") or {}
        p, low, high = float(col["probability"][r]), float(col["band_low"][r]), float(col["band_high"][r])
        thresholds = list(model.thresholds)
        top = max(thresholds)
        scale_max = _nice_max(max(2 * top, high * 1.15 if np.isfinite(high) else 0.0, p * 1.15))
        edges = [0.0, *thresholds, scale_max]
        names = category_labels(model.thresholds)
        groups = [
            {"from": edges[k], "to": min(edges[k + 1], scale_max), "colour": GROUP_COLOURS[min(k, 4)], "name": names[k]}
            for k in range(len(edges) - 1)
        ]
        drivers = self._drivers(model, values, scores.shap[r] if scores.shap is not None else None, words)
        limit = max([abs(d["value"]) for d in drivers] + [1e-9])
        ensemble = len(model.bundle.ensemble)
        return {
            "title": f"{task.get('description') or model.task}",
            "risk": fmt.percent(p),
            "band": (f"{fmt.percent(low)[:-2]} to {fmt.percent(high)}" if np.isfinite(low) else "not computed"),
            "category": str(col["category"][r]),
            "outcome": "Outcome: "
            + ((task.get("outcome_definition") or {}).get("description") or task.get("outcome", "")),
            "scale": {
                "max": scale_max,
                "max_label": fmt.percent(scale_max, 0),
                "point": p,
                "band_low": low if np.isfinite(low) else p,
                "band_high": high if np.isfinite(high) else p,
                "thresholds": [{"value": t, "label": fmt.percent(t, 0)} for t in thresholds],
                "groups": groups,
            },
            "band_note": (
                "Risk groups at the thresholds the model was developed with "
                f"({', '.join(fmt.percent(t, 0) for t in thresholds)}). "
                f"Band: 2.5th to 97.5th percentile of the risks of {ensemble} refits of the model on "
                "bootstrap "
                "samples of the development data. It shows how much the estimate depends on the "
                "development sample (model-estimation uncertainty), not how uncertain this patient's "
                "outcome is."
            ),
            "instability": instability_sentence(model.clinical.get("instability"), p),
            "drivers": drivers,
            "driver_limit": limit,
            "driver_note": (
                "Each driver's SHAP value on the log-odds scale, relative to the average development "
                "patient (amber: raises, blue: lowers the risk). They describe how the model reached "
                "this estimate; they are associations, not causal effects."
            ),
            "checks": self._checks(model, col, r),
            "subgroup_header": ["Patients like this one", "Patients", "Events", "AUC (95 % CI)", "O:E (95 % CI)"],
            "subgroups": self._subgroups(model, values, raw),
            "subgroup_note": (
                "Cross-validated (out-of-fold, tuning nested) results in the development data. AUC: "
                "discrimination; O:E: observed / expected events (1 = risks right on average)."
            ),
            "intended_use": self._intended_use(model),
            "warning": None
            if model.verified
            else (
                f"{UNVERIFIED} MODEL: its files were not checked against a record kept outside the model folder "
                "(accepted with --allow-unverified). Do not use this sheet for patient care until the model is "
                "verified."
            ),
            "model_line": (
                f"Model {model.uri} ({_family(model.bundle.manifest.get('family'))}, task {model.task}); "
                f"bundle SHA-256 {model.digest[:16]}..., {model.integrity}; Evidence run "
                f"{model.bundle.manifest.get('evidence_run_id')}; spineoutcome {__version__}."
            ),
        }

    def _drivers(
        self, model: ScoringModel, values: pd.Series, shap: np.ndarray | None, words: FactorWords
    ) -> list[dict[str, Any]]:
        if shap is None:
            return []
        out = []
        for j in words.top(shap[None, :], SHOWN_DRIVERS)[0]:
            if shap[j] == 0:
                continue
            spec = model.bundle.contract.predictors[j]
            value = _value(spec, values[spec.name])
            direction = "raises" if shap[j] > 0 else "lowers"
            out.append(
                {
                    "text": f"{words.labels[j]}: {value} {direction} the risk "
                    f"({fmt.num(float(shap[j]), 'shap')} log-odds)",
                    "value": float(shap[j]),
                }
            )
        return out

    def _checks(self, model: ScoringModel, col: dict[str, Any], r: int) -> list[str]:
        missing, outside = col["missing_predictors"][r], col["extrapolated"][r]
        distance, threshold = float(col["mahalanobis"][r]), model.bundle.summary.novelty.threshold
        return [
            f"Missing values, imputed by the model: {missing}." if missing else "No missing values.",
            (
                f"Outside the range of the development data (beyond all but its few most extreme patients): {outside}; "
                "the model extrapolates there."
                if outside
                else "Every value lies within the range of the development data."
            ),
            (
                f"Unusual combination of values: distance {distance:.1f} from the development patients, above the "
                f"99th percentile of their own distances ({threshold:.1f}); interpret with caution."
                if bool(col["out_of_distribution"][r])
                else f"A combination of values like the development patients' (distance {distance:.1f}; "
                f"99th percentile {threshold:.1f})."
            ),
        ]

    def _subgroups(self, model: ScoringModel, values: pd.Series, raw: pd.Series) -> list[dict[str, str]]:
        config = model.clinical.get("subgroups") or {}
        rows = config.get("rows") or []
        table: dict[tuple[str, str], dict[str, Any]] = {}
        for row in rows:
            entry = table.setdefault(
                (row["grouping"], row["group"]),
                {"n": row.get("n"), "events": row.get("n_events"), "status": row.get("status")},
            )
            entry[row["metric"]] = row
        wanted = [("overall", "all", "All development patients")]
        for grouping in config.get("variables", []):
            if grouping == AGE_GROUP:
                age = _age(values, raw, self.age)
                if age is None:
                    continue
                cuts = config.get("age_bands") or [65.0, 75.0]
                labels = age_band_labels(cuts)
                group = labels[int(np.searchsorted(np.asarray(cuts, dtype=float), age, side="right"))]
                wanted.append((AGE_GROUP, group, f"Age group {group}"))
                continue
            level = _level(values, raw, grouping)
            if level is None:
                continue
            name = grouping.replace("_", " ").capitalize()
            wanted.append((grouping, level, f"{name}: {level.replace('_', ' ')}"))
        out = []
        for grouping, group, text in wanted:
            entry = table.get((grouping, group))
            if entry is None:
                continue
            if entry.get("n") is None:  # suppressed by the small-cell rule (spineoutcome.privacy)
                smallest = (model.clinical.get("privacy") or {}).get("min_cell", 5)
                out.append(
                    {
                        "group": text,
                        "n": f"< {smallest}",
                        "events": fmt.MISSING,
                        "auc": "too few patients",
                        "oe": fmt.MISSING,
                    }
                )
                continue
            ok = entry.get("status") == "ok"
            out.append(
                {
                    "group": text,
                    "n": fmt.integer(entry.get("n")),
                    "events": fmt.count_percent(entry.get("events"), entry.get("n")),
                    "auc": _metric(entry.get("auc"), "auc") if ok else "too few events",
                    "oe": _metric(entry.get("oe_ratio"), "oe") if ok else "–",
                }
            )
        return out

    def _intended_use(self, model: ScoringModel) -> list[str]:
        task = model.clinical.get("task") or {}
        data = model.clinical.get("development") or {}
        accrual = data.get("accrual") or {}
        eligibility = data.get("eligibility") or {}
        population = "; ".join(f"{k}: {', '.join(map(str, v))}" for k, v in eligibility.items())
        restricted = f" ({population})" if population else ""
        period = (
            f", operated {accrual['first_surgery']} to {accrual.get('last_surgery')}"
            if accrual.get("first_surgery")
            else ""
        )
        developed = (
            f"Developed on {fmt.integer(data.get('n'))} patients with "
            f"{fmt.count_percent(data.get('events'), data.get('n'))} events from "
            f"{fmt.integer(data.get('centres'))} centres{period}."
        )
        study = task.get("study") or {}
        use = str(study.get("intended_use") or "Intended use: not stated by the developers").rstrip(".")
        who = str(study.get("population") or "not stated by the developers").rstrip(".")
        when = study.get("prediction_time") or "at the time of prediction"
        return [
            (
                f"Purpose: {task.get('description', '')} {use}; to be used together with clinical judgement, and "
                "the risk groups describe the configured thresholds, not recommendations."
            ),
            f"Population: {who}{restricted}, with predictors known {when}. {developed}",
            (
                "Out of scope: patients outside this population or the predictors' validated ranges, post-operative "
                "information as input, and centres unlike the development centres without local validation."
            ),
        ]


def _value(spec: Any, value: Any) -> str:
    if value is None or value is pd.NA or (isinstance(value, float) and np.isnan(value)):
        return value_text(spec, pd.Series([np.nan]))[0]
    if spec.dtype == "category":
        series = pd.Series(pd.Categorical([value], categories=list(spec.categories or ())))
    elif spec.dtype == "bool":
        series = pd.Series(pd.array([bool(value)], dtype="boolean"))
    else:
        series = pd.Series([float(value)])
    return str(value_text(spec, series)[0])


def instability_sentence(record: dict[str, Any] | None, p: float) -> str | None:
    """The sheet's sentence "In another development sample of the same size, a predicted risk like this
    one could have been between X % and Y %": ``p`` plus the median offsets of the 95 % range of the
    bootstrap models' risks in the development patients whose risk fell in the same bin (the bundle's
    ``instability``; its contiguous bins cover 0 to 1, so the bin is the last one starting at or
    below ``p``)."""
    bins = (record or {}).get("bins") or []
    row = next((b for b in reversed(bins) if fmt.finite(b.get("lower")) and b["lower"] <= p), None)
    if not row or not (fmt.finite(row.get("offset_low")) and fmt.finite(row.get("offset_high"))):
        return None
    low, high = max(0.0, p + row["offset_low"]), min(1.0, p + row["offset_high"])
    return (
        f"In another development sample of the same size, a predicted risk like this one could have been between "
        f"{fmt.percent(low)} and {fmt.percent(high)} (typical 95 % range of {fmt.integer(record.get('replicates'))} "
        f"bootstrap models for development patients with a risk of {fmt.percent(row['lower'], 0)} to "
        f"{fmt.percent(row['upper'], 0)})."
    )


def _age(values: pd.Series, raw: pd.Series, name: str | None) -> float | None:
    if name is None:
        return None
    value = values.get(name) if name in values.index else pd.to_numeric(pd.Series([raw.get(name)]), errors="coerce")[0]
    return float(value) if value is not None and not pd.isna(value) else None


def _level(values: pd.Series, raw: pd.Series, name: str) -> str | None:
    value = values.get(name) if name in values.index else (raw.get(name) or "").strip()
    if value is None or value is pd.NA or (isinstance(value, float) and np.isnan(value)) or value == "":
        return None
    return str(value)


def _metric(row: dict[str, Any] | None, kind: str) -> str:
    if not row or not fmt.finite(row.get("estimate")):
        return fmt.MISSING
    return fmt.estimate(row["estimate"], row.get("ci_low"), row.get("ci_high"), kind).replace("(95 % CI ", "(")


def _family(family: Any) -> str:
    from spineoutcome.report.figures import family_name

    return family_name(str(family)) if family else "model"


def _nice_max(value: float) -> float:
    for candidate in (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.8, 1.0):
        if value <= candidate:
            return candidate
    return 1.0
