"""The seeded reference runs whose Evidence is stored in ``tests/golden/*.json``.

The stored files pin the numbers of a small binary and a small time-to-event run, so that a refactor
can prove it leaves the Evidence unchanged (``tests/golden/test_golden_evidence.py``). A deliberate
change to the statistics (new bootstrap defaults, a corrected formula) changes the stored numbers:
regenerate them then, and say so in the commit message::

    PYTHONPATH=src python -m tests.golden.reference_run

The cohort is the embedded synthetic generator's (``N_PATIENTS`` patients, seed ``SEED``); the
pipelines have tiny budgets (2 Optuna trials, 3 folds, 5 bootstrap replicates) and every binary
branch of the engine: a linear, a penalised, a recalibrated boosted and a forest family, the optimism
bootstrap, internal-external and temporal validation, subgroups and the paired comparison.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

from spineoutcome.api import load_cohort, run_pipeline
from spineoutcome.data.cohort import Cohort
from spineoutcome.data.synth import generate_cohort

HERE = Path(__file__).parent
N_PATIENTS = 600
SEED = 5
VOLATILE = frozenset({"run_id", "created", "timings", "seconds", "elapsed_seconds", "environment"})
"""Fields that legitimately differ between two runs of the same seed: ids, clocks, the machine."""

BINARY = {
    "name": "golden_binary",
    "outcome": "mcid_mjoa_12m",
    "predictors": {
        "include": [
            "age",
            "sex",
            "diabetes",
            "approach",
            "planned_levels",
            "occupying_ratio",
            "k_line",
            "mjoa_baseline",
            "ndi_baseline",
        ]
    },
    "spline_knots": 3,
    "families": ["logistic", "elastic_net", "xgboost", "random_forest"],
    "tuning": {"n_trials": 2, "inner_folds": 2},
    "validation": {
        "folds": 3,
        "repeats": 1,
        "bootstrap": {"replicates": 5},
        "internal_external": True,
        "min_centre_events": 15,
        "temporal_split": "2021-01-01",
    },
    "thresholds": [0.3, 0.5],
    "subgroups": {"variables": ["sex"], "min_events": 10},
    "comparators": [
        {
            "name": "severe myelopathy (mJOA < 12)",
            "rule": "mjoa_baseline < 12",
            "source": "Tetreault L, et al. Eur Spine J 2017;26(1):78-84.",
        },
        {"name": "room to improve", "score": "18 - mjoa_baseline", "source": "Benzel EC, et al. J Spinal Disord 1991."},
    ],
    "seed": 7,
}
SURVIVAL = {
    "name": "golden_survival",
    "outcome": "progression_time",
    "eligibility": {"diagnosis": ["OPLL"]},
    "predictors": {
        "include": [
            "age",
            "sex",
            "diabetes",
            "bmi",
            "approach",
            "opll_type",
            "ossified_levels",
            "opll_max_thickness_mm",
            "occupying_ratio",
        ]
    },
    "families": [],
    "survival_families": ["weibull_aft", "xgboost_aft"],
    "horizon_days": 730,
    "validation": {"folds": 3, "repeats": 1, "bootstrap": None, "internal_external": False},
    "seed": 4,
}
PIPELINES = {"binary": BINARY, "survival": SURVIVAL}


def scrub(node: Any) -> Any:
    """The Evidence without its volatile fields (:data:`VOLATILE`)."""
    if isinstance(node, dict):
        return {k: scrub(v) for k, v in node.items() if k not in VOLATILE}
    if isinstance(node, list | tuple):
        return [scrub(v) for v in node]
    return node


def reference_cohort(directory: Path) -> Cohort:
    """Generate and load the reference synthetic cohort in ``directory``."""
    generate_cohort(directory, n=N_PATIENTS, seed=SEED)
    return load_cohort(directory)


def evidence_of(kind: str, cohort: Cohort, directory: Path) -> dict[str, Any]:
    """The scrubbed Evidence of the reference pipeline of ``kind`` ("binary" or "survival")."""
    import yaml

    path = directory / f"{kind}.yaml"
    path.write_text(yaml.safe_dump(PIPELINES[kind], sort_keys=False), encoding="utf-8")
    evidence = run_pipeline(path, cohort).evidence.to_dict()
    return scrub(json.loads(json.dumps(evidence, allow_nan=False)))


def main() -> None:
    """Regenerate ``tests/golden/evidence_<kind>.json``."""
    with tempfile.TemporaryDirectory() as tmp:
        cohort = reference_cohort(Path(tmp) / "cohort")
        for kind in PIPELINES:
            out = HERE / f"evidence_{kind}.json"
            out.write_text(
                json.dumps(evidence_of(kind, cohort, Path(tmp)), indent=1, sort_keys=True) + "\n", encoding="utf-8"
            )
            print(f"wrote {out}")


if __name__ == "__main__":
    main()
