"""Evidence: one JSON-serialisable record of every number, table and curve of a run.

The records below the top level are typed (TypedDicts: they are the JSON as stored); metric values
are read through :mod:`spineoutcome.metrics`, the package's one metric vocabulary. Reading an older
file goes through :func:`upgrade_evidence`.

Modelling and evaluation produce Evidence; MLflow logging and the report only read it, so a number
in the PDF is the number in MLflow by construction. Evidence holds aggregates only: counts,
metrics, curves, coefficients, SHAP summaries. It never holds a patient key or a patient's row.
"""

from __future__ import annotations

import copy
import json
import platform
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any, NotRequired, TypedDict

from spineoutcome import __version__
from spineoutcome.errors import SpineoutcomeError
from spineoutcome.evaluation.results import JsonResult
from spineoutcome.jsonable import to_jsonable

SCHEMA_VERSION = "1.2"
"""1.2: added ``comparators`` (clinical rules and scores next to the selected model).
1.1: survival ``harrell_c`` is an estimate with a bootstrap interval (was a number); added
``data.accrual``, predictor coding and timing in ``data.predictors``, outcome and follow-up rows in
``baseline``, ``cross_validation.prediction_distribution``, SHAP fifth edges, ``km_at_risk`` and the
survival models' preprocessing and Weibull coefficients."""
EVIDENCE_FILE = "evidence.json"
_PACKAGES = (
    "numpy",
    "scipy",
    "pandas",
    "scikit-learn",
    "xgboost-cpu",
    "xgboost",
    "lightgbm",
    "shap",
    "optuna",
    "statsmodels",
    "lifelines",
    "pandera",
    "mlflow",
)


class EstimateRecord(TypedDict, total=False):
    """A point estimate with its interval (:class:`spineoutcome.evaluation.Estimate` as stored)."""

    value: float | None
    ci_low: float | None
    ci_high: float | None
    se: float | None
    ci_method: str | None
    level: float
    n_boot_valid: int | None


class PointMetrics(TypedDict, total=False):
    """Point values of the optimism bootstrap's metrics (names of :mod:`spineoutcome.metrics`)."""

    auc: float | None
    calibration_slope: float | None
    calibration_intercept: float | None
    brier: float | None
    ici: float | None


class OptimismRecord(TypedDict):
    """Bootstrap optimism correction of one family (:class:`~spineoutcome.experiment.validation.OptimismCorrection`)."""

    apparent: PointMetrics
    optimism: PointMetrics
    out_of_bag: PointMetrics
    harrell: PointMetrics
    corrected: PointMetrics
    method: str
    replicates: int
    replicates_failed: int
    mode: str


class InternalExternalRecord(TypedDict):
    """Internal-external cross-validation by centre: heterogeneity (pooled, per centre) and pooled predictions."""

    heterogeneity: dict[str, Any]
    centres_not_tested: list[str]
    pooled_predictions: PointMetrics
    n_tested: int


class TemporalRecord(TypedDict):
    """Temporal validation: the split and the evaluation of the later patients."""

    split: str
    n_development: int
    n_validation: int
    evaluation: dict[str, Any]


class ComparisonRecord(TypedDict):
    """Paired comparison with the reference family on the same out-of-fold predictions."""

    auc_delong: dict[str, Any]
    ici_difference: EstimateRecord
    net_benefit_difference: list[dict[str, Any]]


class ComparatorRecord(TypedDict, total=False):
    """One clinical rule or score from the pipeline and its comparison with the selected model.

    ``result`` is :class:`spineoutcome.evaluation.comparators.ComparatorResult` as stored;
    ``not_evaluated`` says why there is none (e.g. the data have no values of a variable it reads).
    """

    name: str
    kind: str
    expression: str
    source: str
    description: str
    result: dict[str, Any]
    not_evaluated: str


class ComparatorsRecord(TypedDict):
    """The pipeline's comparators against the selected family's out-of-fold predictions."""

    family: str
    thresholds: list[float]
    replicates: int
    missing_values: str
    comparators: list[ComparatorRecord]


class InstabilityRecord(TypedDict):
    """Prediction instability of one family from its optimism-bootstrap models (Riley & Collins,
    Biometrical Journal 2023; :class:`~spineoutcome.evaluation.instability.PredictionInstability` as
    stored): aggregates only, by risk bin, on grids and by threshold. Absent in older Evidence."""

    replicates: int
    replicates_used: int
    level: float
    mape: float | None
    mape_quantiles: dict[str, float | None]
    interval_width_median: float | None
    difference: float
    share_beyond_difference: float | None
    classification: list[dict[str, Any]]
    bins: list[dict[str, Any]]
    histogram: dict[str, Any]
    calibration: dict[str, Any] | None
    decision: dict[str, Any]
    net_benefit_at_thresholds: list[dict[str, Any]]
    min_cell: int


class TaskRecord(TypedDict):
    """What was predicted: the pipeline's name, outcome and the outcome's definition."""

    name: str
    description: str
    outcome: str
    kind: str
    outcome_definition: dict[str, Any]
    study: NotRequired[dict[str, str]]
    """Population, setting, intended use, time of prediction and data sources (dictionary and pipeline)."""


class DataRecord(TypedDict, total=False):
    """The analysed data: size, events, centres, accrual, predictors, join audit (aggregates only)."""

    digest: str
    n: int
    events: int
    prevalence: float
    centres: int
    accrual: dict[str, Any]
    predictors: list[dict[str, Any]]
    dropped_predictors: dict[str, str]
    dictionary: dict[str, str]
    join_audit: dict[str, Any]
    key: dict[str, Any]
    """``{"column", "line_number"}``: the key column's name; true when the line number is the key."""
    skipped_analyses: dict[str, str]
    """Analyses the pipeline asked for that the data cannot support (e.g. IECV with one centre): the reason."""


class FlowRecord(TypedDict, total=False):
    """One box of the participant flow."""

    label: str
    n: int
    excluded: dict[str, int]


class MissingRecord(TypedDict):
    """Missing values of one predictor."""

    variable: str
    n_missing: int
    fraction: float


class EvidenceError(SpineoutcomeError, ValueError):
    """An Evidence file that cannot be read (not JSON, not an Evidence record); the message names it."""


class EvidenceSchemaError(EvidenceError):
    """An Evidence record of a schema version this package cannot read."""


@dataclass(frozen=True)
class FamilyEvidence(JsonResult):
    """Everything measured about one model family in one run."""

    family: str
    cross_validation: dict[str, Any]
    cv_repeats: list[PointMetrics]
    optimism: OptimismRecord | None
    internal_external: InternalExternalRecord | None
    temporal: TemporalRecord | None
    comparison_to_logistic: ComparisonRecord | None
    subgroups: list[dict[str, Any]]
    shap: dict[str, Any] | None
    specification: dict[str, Any]
    tuning: list[dict[str, Any]]
    seconds: float
    instability: InstabilityRecord | None = None


@dataclass(frozen=True)
class Evidence(JsonResult):
    """The record of one experiment run (see module docstring)."""

    run_id: str
    created: str
    pipeline: dict[str, Any]
    task: TaskRecord
    data: DataRecord
    flow: list[FlowRecord]
    baseline: dict[str, Any]
    sample_size: dict[str, Any]
    missing_data: list[MissingRecord]
    families: dict[str, FamilyEvidence]
    best_family: str
    selection_rule: str
    timings: dict[str, float]
    model_selection: dict[str, Any] | None = None
    comparators: ComparatorsRecord | None = None
    environment: dict[str, Any] = field(default_factory=lambda: environment())
    schema_version: str = SCHEMA_VERSION

    def save(self, directory: str | Path) -> Path:
        """Write ``evidence.json`` into ``directory`` (strict JSON: no NaN)."""
        path = Path(directory) / EVIDENCE_FILE
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(self.to_dict(), indent=1, allow_nan=False), encoding="utf-8")
        return path


def load_evidence(path: str | Path) -> dict[str, Any]:
    """Read an Evidence record (a run directory or the JSON file itself) as plain data, upgraded to
    the current schema (:func:`upgrade_evidence`)."""
    path = Path(path)
    if path.is_dir():
        path = path / EVIDENCE_FILE
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise EvidenceError(f"{path}: not an Evidence file (JSON expected: {exc})") from None
    if not isinstance(record, dict):
        raise EvidenceError(f"{path}: not an Evidence file (a JSON object expected)")
    try:
        return upgrade_evidence(record)
    except EvidenceSchemaError as exc:
        raise EvidenceSchemaError(f"{path}: {exc}") from None


def evidence_record(evidence: Evidence | Mapping[str, Any] | str | Path) -> dict[str, Any]:
    """The plain data of an Evidence object, dict, run directory or ``evidence.json``, in the current schema."""
    if isinstance(evidence, Evidence):
        return evidence.to_dict()
    if isinstance(evidence, Mapping):
        return upgrade_evidence(dict(evidence))
    return load_evidence(evidence)


def _harrell_c_estimate(record: dict[str, Any]) -> dict[str, Any]:
    """1.0 -> 1.1: a survival family's Harrell's C was a bare number; now an estimate without an interval."""
    for family in (record.get("families") or {}).values():
        cv = family.get("cross_validation") or {}
        if isinstance(cv.get("harrell_c"), int | float):
            cv["harrell_c"] = {"value": float(cv["harrell_c"]), "ci_low": None, "ci_high": None}
    return record


def _comparators_added(record: dict[str, Any]) -> dict[str, Any]:
    """1.1 -> 1.2: ``comparators`` was added; a record without it simply has none (nothing to rewrite)."""
    return record


UPGRADES: dict[str, tuple[str, Callable[[dict[str, Any]], dict[str, Any]]]] = {
    "1.0": ("1.1", _harrell_c_estimate),
    "1.1": ("1.2", _comparators_added),
}
"""Schema version -> (next version, the step that rewrites a record of it into the next one).
Fields added by a later version are simply absent from an upgraded record (readers allow that)."""


def upgrade_evidence(record: dict[str, Any]) -> dict[str, Any]:
    """``record`` (not modified) rewritten step by step to :data:`SCHEMA_VERSION`; a record without a
    version is 1.0. A version this package does not know (a newer one) is refused."""
    record = copy.deepcopy(record)
    version = str(record.get("schema_version", "1.0"))
    while version != SCHEMA_VERSION:
        if version not in UPGRADES:
            raise EvidenceSchemaError(
                f"Evidence schema {version!r} is not known to spineoutcome {__version__} "
                f"(it reads {sorted([*UPGRADES, SCHEMA_VERSION])}); upgrade spineoutcome"
            )
        version, step = UPGRADES[version]
        record = step(record)
        record["schema_version"] = version
    return record


def environment() -> dict[str, Any]:
    """Python, platform and package versions of this run."""
    versions = {}
    for name in _PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return to_jsonable(
        {
            "spineoutcome": __version__,
            "python": sys.version.split()[0],
            "platform": platform.platform(),
            "packages": versions,
        }
    )
