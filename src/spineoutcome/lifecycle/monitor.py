"""In-use monitoring of a model: input drift by period from scoring outputs, calibration drift once
outcomes arrive, and a CUSUM that says when recalibration is due.

Input drift (no row-level data needed). Each scoring run writes, next to its scores file,
``<stem>.drift.json``: its period and each predictor's counts in the bundle's development bins
(:mod:`.drift`). Per period (files with the same period add up): the population stability index
of every predictor, and the shares of scored patients flagged out of distribution (Mahalanobis
distance above the development 99th percentile: about 1 % expected) and outside the training ranges.

Performance drift. With ``outcomes`` (the site's exports with follow-up), the scored patients'
outcomes are derived by the model's own definition and joined to their scored risks by patient
key. Per period: O:E with a log-normal interval, calibration-in-the-large and slope with Wald
intervals (the evaluation package, analytic intervals).

When recalibration is due: a two-sided risk-adjusted Bernoulli CUSUM (Steiner SH, Cook RJ,
Farewell VT, Spiegelhalter DJ. Monitoring surgical performance using risk-adjusted cumulative sum
charts. Biostatistics 2000;1:441-52). Patients in period order (scores file order within a
period); for an alternative odds ratio R, patient t adds W_t = y_t ln R - ln(1 - p_t + R p_t) to
S_t = max(0, S_{t-1} + W_t), and the chart signals when S_t > h. R = 2 detects risks that are too
low (more events than predicted), R = 1/2 risks that are too high. h = 4.5 by default. Only
per-period summaries of the chart are kept (its value at the end of each period, its maximum, the
period of the first signal), not the patient-by-patient path.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from spineoutcome.data.cohort import Cohort
from spineoutcome.errors import SpineoutcomeError
from spineoutcome.evaluation import InsufficientDataError, calibration_metrics
from spineoutcome.lifecycle.drift import PSI_MAJOR, PSI_MODERATE, add_counts, psi, psi_reading
from spineoutcome.lifecycle.evaluate import model_record
from spineoutcome.lifecycle.records import MonitoringEvidence, new_run_id, now
from spineoutcome.lifecycle.site import check_site_columns, model_outcome_definition, rule_fields
from spineoutcome.outcomes import derive_outcome
from spineoutcome.scoring.model import ScoringModel

CUSUM_LIMIT = 4.5
CUSUM_ODDS = (2.0, 0.5)
MIN_PERIOD_EVENTS = 5
"""Fewer events (or non-events) in a period: its calibration is not estimated (and not shown: small cell)."""


class MonitoringInputError(SpineoutcomeError, ValueError):
    """A scores file cannot be used for monitoring (no drift summary, another model, no probability column)."""


def drift_file(scores: Path) -> Path:
    """The drift summary ``score`` wrote next to a scores file (``<stem>.drift.json``)."""
    return scores.with_name(f"{scores.stem}.drift.json")


def _model_entry(doc: dict[str, Any], model: ScoringModel, path: Path) -> tuple[str, dict[str, Any]]:
    """The prefix and entry of ``model`` in a drift summary (matched by bundle digest, else by task)."""
    entries = doc.get("models") or {}
    for prefix, entry in entries.items():
        if (entry.get("model") or {}).get("model_sha256") == model.digest:
            return prefix, entry
    raise MonitoringInputError(
        f"{path}: these scores were not made with model {model.uri!r} (no entry with its "
        f"bundle digest {model.digest[:12]}...); monitor each model with its own scores"
    )


def input_drift(
    model: ScoringModel, scores: Sequence[Path]
) -> tuple[list[dict[str, Any]], dict[Path, tuple[str, str]]]:
    """PSI per predictor and flag shares per period (module docstring); also each file's period and prefix."""
    reference = (model.bundle.manifest.get("development") or {}).get("drift_reference")
    by_period: dict[str, dict[str, Any]] = {}
    files: dict[Path, tuple[str, str]] = {}
    for path in scores:
        summary = drift_file(path)
        if not summary.exists():
            raise MonitoringInputError(
                f"{path}: no drift summary {summary.name} next to it; score the export again "
                "with this version of spineoutcome (it writes one per scores file)"
            )
        doc = json.loads(summary.read_text(encoding="utf-8"))
        prefix, entry = _model_entry(doc, model, path)
        period = str(doc.get("period"))
        files[path] = (period, prefix)
        total = by_period.setdefault(
            period, {"n": 0, "out_of_distribution": 0, "extrapolated": 0, "bins": {}, "files": 0}
        )
        total["n"] += int(entry.get("n_scored") or 0)
        total["out_of_distribution"] += int((entry.get("flagged") or {}).get("out_of_distribution", 0))
        total["extrapolated"] += int((entry.get("flagged") or {}).get("extrapolated", 0))
        total["files"] += 1
        if entry.get("bins"):
            total["bins"] = add_counts(total["bins"], entry["bins"])
    rows = []
    for period in sorted(by_period):
        total = by_period[period]
        n = total["n"]
        row: dict[str, Any] = {
            "period": period,
            "n": n,
            "files": total["files"],
            "ood_share": total["out_of_distribution"] / n if n else None,
            "extrapolated_share": total["extrapolated"] / n if n else None,
            "psi": None,
            "shifted": [],
        }
        if reference is not None and total["bins"] and n:
            row["psi"] = {
                name: psi(spec["shares"], total["bins"][name])
                for name, spec in reference["predictors"].items()
                if name in total["bins"]
            }
            row["shifted"] = [
                {"predictor": name, "psi": value, "reading": psi_reading(value)}
                for name, value in sorted(row["psi"].items(), key=lambda kv: -kv[1])
                if value >= PSI_MODERATE
            ]
        rows.append(row)
    return rows, files


def scored_outcomes(
    model: ScoringModel, cohort: Cohort, files: dict[Path, tuple[str, str]], *, outcome: str | Path | None = None
) -> pd.DataFrame:
    """Scored risks joined with the outcomes derived by the model's definition: period, probability, y
    (rows in period order, file order within a period); patients without a label are left out."""
    dd = cohort.dictionary
    definition = model_outcome_definition(model, dd, outcome)
    check_site_columns(model, cohort, definition)
    labels = derive_outcome(rule_fields(definition), cohort.tables, dd)
    events = labels.events.astype(int)
    events.index = events.index.astype(str)
    parts = []
    for path, (period, prefix) in sorted(files.items(), key=lambda kv: kv[1][0]):
        column = f"{prefix}_probability"
        wanted = {dd.key, column}
        frame = pd.read_csv(path, dtype={dd.key: str}, usecols=lambda c, wanted=wanted: c in wanted)
        if column not in frame.columns or dd.key not in frame.columns:
            raise MonitoringInputError(f"{path}: no {dd.key!r} and {column!r} columns (is it a scores file?)")
        frame = frame.dropna(subset=[column])
        frame["period"] = period
        frame["y"] = frame[dd.key].astype(str).map(events)
        parts.append(frame.dropna(subset=["y"]).rename(columns={column: "probability"}))
    joined = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=["period", "probability", "y"])
    return joined[["period", "probability", "y"]].astype({"y": int})


def performance_by_period(joined: pd.DataFrame) -> list[dict[str, Any]]:
    """O:E, calibration-in-the-large and slope with analytic intervals per period (module docstring)."""
    rows = []
    for period, group in joined.groupby("period", sort=True):
        y, p = group["y"].to_numpy(), group["probability"].to_numpy()
        events = int(y.sum())
        row: dict[str, Any] = {
            "period": str(period),
            "n": int(len(y)),
            "events": events,
            "expected": float(p.sum()),
            "status": "ok",
        }
        if min(events, len(y) - events) < MIN_PERIOD_EVENTS:
            row.update(status="too_few_events", events=None, expected=None)
        else:
            try:
                cal = calibration_metrics(y, p, ci_method="analytic")
                row.update(oe_ratio=cal.oe_ratio.to_dict(), citl=cal.citl.to_dict(), slope=cal.slope.to_dict())
            except InsufficientDataError:
                row["status"] = "not_estimable"
        rows.append(row)
    return rows


def cusum(joined: pd.DataFrame, *, limit: float = CUSUM_LIMIT, odds: Sequence[float] = CUSUM_ODDS) -> dict[str, Any]:
    """Two-sided risk-adjusted Bernoulli CUSUM (module docstring), summarised per period."""
    y = joined["y"].to_numpy(dtype=float)
    p = np.clip(joined["probability"].to_numpy(dtype=float), 1e-8, 1 - 1e-8)
    periods = joined["period"].to_numpy()
    charts = {}
    signal_periods = []
    for ratio in odds:
        w = y * math.log(ratio) - np.log(1 - p + ratio * p)
        s = np.zeros(len(w))
        level = 0.0
        for t, step in enumerate(w):
            level = max(0.0, level + step)
            s[t] = level
        per_period = []
        first = None
        for period in dict.fromkeys(periods):
            mask = periods == period
            values = s[mask]
            per_period.append({"period": str(period), "end": float(values[-1]), "max": float(values.max())})
            if first is None and values.max() > limit:
                first = str(period)
        direction = (
            "risks too low (more events than predicted)"
            if ratio > 1
            else "risks too high (fewer events than predicted)"
        )
        charts[f"odds_ratio_{ratio:g}"] = {
            "odds_ratio": ratio,
            "detects": direction,
            "by_period": per_period,
            "first_signal_period": first,
        }
        if first is not None:
            signal_periods.append((first, direction))
    signal = sorted(signal_periods)[0] if signal_periods else None
    return {
        "method": "Two-sided risk-adjusted Bernoulli CUSUM (Steiner et al., Biostatistics 2000)",
        "limit": limit,
        "charts": charts,
        "signal": signal is not None,
        "recommendation": (
            f"Recalibration is due: the CUSUM crossed h = {limit:g} in period {signal[0]} "
            f"({signal[1]}). Run spineoutcome update on recent patients with outcomes."
            if signal
            else f"No signal: the CUSUM stayed below h = {limit:g}; no recalibration is due on this evidence."
        ),
    }


def monitor_model(
    model: ScoringModel,
    scores: Sequence[Path],
    *,
    cohort: Cohort | None = None,
    outcome: str | Path | None = None,
    limit: float = CUSUM_LIMIT,
) -> MonitoringEvidence:
    """The :class:`.MonitoringEvidence` of ``model`` over the scoring runs ``scores`` (and outcomes in ``cohort``)."""
    drift, files = input_drift(model, [Path(s) for s in scores])
    notes = []
    if (model.bundle.manifest.get("development") or {}).get("drift_reference") is None:
        notes.append(
            "This model's bundle has no development bins (built before they were recorded): PSI is not "
            "computed; the out-of-distribution shares are."
        )
    for row in drift:
        if row["shifted"]:
            worst = row["shifted"][0]
            notes.append(
                f"Period {row['period']}: {len(row['shifted'])} predictor(s) shifted (PSI >= "
                f"{PSI_MODERATE:g}); largest {worst['predictor']} {worst['psi']:.2f} ({worst['reading']})."
            )
    performance = chart = None
    if cohort is not None:
        joined = scored_outcomes(model, cohort, files, outcome=outcome)
        performance = performance_by_period(joined)
        if len(joined):
            chart = cusum(joined, limit=limit)
            notes.append(chart["recommendation"])
        else:
            notes.append("None of the scored patients has a derivable outcome yet.")
    return MonitoringEvidence(
        run_id=new_run_id(),
        created=now(),
        model=model_record(model),
        periods=[{"period": r["period"], "n": r["n"], "files": r["files"]} for r in drift],
        input_drift=drift,
        performance=performance,
        cusum=chart,
        settings={
            "psi_moderate": PSI_MODERATE,
            "psi_major": PSI_MAJOR,
            "cusum_limit": limit,
            "cusum_odds_ratios": list(CUSUM_ODDS),
            "min_period_events": MIN_PERIOD_EVENTS,
            "drift_reference": (model.bundle.manifest.get("development") or {})
            .get("drift_reference", {})
            .get("method"),
        },
        notes=notes,
    )
