"""What scoring shows clinicians, carried inside the bundle (``clinical.json``) and so covered by its digest.

Risk sheets and the scores file show: the risk groups (cut at the run's decision thresholds),
how the model performed in the development data in patients like this one (subgroup rows), and
the model's intended use (task, outcome definition, development population and period); and how much
a risk like the patient's could have differed had the model been developed on another sample of the
same size (the selected model's prediction instability by risk bin: the median offsets of the 95 %
range of the bootstrap models' risks; Riley & Collins, Biometrical Journal 2023). All of
it used to be read from the run's ``evidence.json``, which no digest covered; now the bundle
holds a copy, taken from the Evidence when the bundle is built, after the small-cell and
extremes rules (:func:`spineoutcome.privacy.disclose`), since the bundle leaves the hospital
with the MLflow store.
"""

from __future__ import annotations

from typing import Any

from spineoutcome.evidence import Evidence

CLINICAL_FORMAT = "spineoutcome-clinical/1"


def clinical_summary(evidence: Evidence) -> dict[str, Any]:
    """The part of the Evidence that scoring shows clinicians (module docstring), already disclosed."""
    from spineoutcome.privacy import disclose

    doc = disclose(evidence.to_dict())
    pipeline, task, data = doc["pipeline"], doc["task"], doc["data"]
    family = doc["best_family"]
    definition = task.get("outcome_definition") or {}
    return {
        "format": CLINICAL_FORMAT,
        "evidence_run_id": doc["run_id"],
        "thresholds": sorted(float(t) for t in pipeline.get("thresholds") or []),
        "task": {
            "name": task["name"],
            "description": task.get("description", ""),
            "outcome": task.get("outcome"),
            "outcome_definition": {"description": definition.get("description")},
            "study": task.get("study") or {},
        },
        "development": {
            "n": data.get("n"),
            "events": data.get("events"),
            "centres": data.get("centres"),
            "accrual": data.get("accrual") or {},
            "eligibility": pipeline.get("eligibility") or {},
        },
        "subgroups": {
            "variables": list((pipeline.get("subgroups") or {}).get("variables") or []),
            "age_bands": (pipeline.get("subgroups") or {}).get("age_bands"),
            "family": family,
            "rows": (doc["families"].get(family) or {}).get("subgroups") or [],
        },
        "instability": instability_bands((doc["families"].get(family) or {}).get("instability")),
        "privacy": doc.get("privacy"),
    }


def instability_bands(record: dict[str, Any] | None) -> dict[str, Any] | None:
    """The selected model's instability by risk bin, as the risk sheet reads it (None without it)."""
    if not record or not record.get("bins"):
        return None
    keys = ("lower", "upper", "n", "offset_low", "offset_high")
    return {
        "replicates": record.get("replicates_used"),
        "level": record.get("level"),
        "bins": [{k: b.get(k) for k in keys} for b in record["bins"]],
    }
