"""Evidence: one JSON-serialisable record of every number, table and curve of a run.

Modelling and evaluation produce Evidence; MLflow logging and the report only read it, so a number
in the PDF is the number in MLflow by construction. Evidence holds aggregates only: counts,
metrics, curves, coefficients, SHAP summaries. It never holds a patient key or a patient's row.
"""

from __future__ import annotations

import json
import platform
import sys
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

from spineoutcome import __version__
from spineoutcome.evaluation.results import JsonResult, to_jsonable

SCHEMA_VERSION = "1.1"
"""1.1: survival ``harrell_c`` is an estimate with a bootstrap interval (was a number); added
``data.accrual``, predictor coding and timing in ``data.predictors``, outcome and follow-up rows in
``baseline``, ``cross_validation.prediction_distribution``, SHAP fifth edges, ``km_at_risk`` and the
survival models' preprocessing and Weibull coefficients."""
EVIDENCE_FILE = "evidence.json"
_PACKAGES = ("numpy", "scipy", "pandas", "scikit-learn", "xgboost-cpu", "xgboost", "lightgbm", "shap", "optuna",
             "statsmodels", "lifelines", "pandera", "mlflow")


@dataclass(frozen=True)
class FamilyEvidence(JsonResult):
    """Everything measured about one model family in one run."""

    family: str
    cross_validation: dict[str, Any]
    cv_repeats: list[dict[str, float]]
    optimism: dict[str, Any] | None
    internal_external: dict[str, Any] | None
    temporal: dict[str, Any] | None
    comparison_to_logistic: dict[str, Any] | None
    subgroups: list[dict[str, Any]]
    shap: dict[str, Any] | None
    specification: dict[str, Any]
    tuning: list[dict[str, Any]]
    seconds: float


@dataclass(frozen=True)
class Evidence(JsonResult):
    """The record of one experiment run (see module docstring)."""

    run_id: str
    created: str
    pipeline: dict[str, Any]
    task: dict[str, Any]
    data: dict[str, Any]
    flow: list[dict[str, Any]]
    baseline: dict[str, Any]
    sample_size: dict[str, Any]
    missing_data: list[dict[str, Any]]
    families: dict[str, FamilyEvidence]
    best_family: str
    selection_rule: str
    timings: dict[str, float]
    model_selection: dict[str, Any] | None = None
    environment: dict[str, Any] = field(default_factory=lambda: environment())
    schema_version: str = SCHEMA_VERSION

    def save(self, directory: str | Path) -> Path:
        """Write ``evidence.json`` into ``directory`` (strict JSON: no NaN)."""
        path = Path(directory) / EVIDENCE_FILE
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(self.to_dict(), indent=1, allow_nan=False), encoding="utf-8")
        return path


def load_evidence(path: str | Path) -> dict[str, Any]:
    """Read an Evidence record (a run directory or the JSON file itself) as plain data."""
    path = Path(path)
    if path.is_dir():
        path = path / EVIDENCE_FILE
    return json.loads(path.read_text(encoding="utf-8"))


def environment() -> dict[str, Any]:
    """Python, platform and package versions of this run."""
    versions = {}
    for name in _PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return to_jsonable({"spineoutcome": __version__, "python": sys.version.split()[0],
                        "platform": platform.platform(), "packages": versions})
