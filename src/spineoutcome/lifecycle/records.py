"""Typed Evidence records of the lifecycle commands: validation, update and monitoring.

As the development :class:`~spineoutcome.evidence.Evidence`, each record is the hub of its run:
MLflow logging and the report read it only, so a number in the PDF is the number in MLflow. It
holds aggregates only (counts, metrics with intervals, curves, bin shares): never a patient key
or a patient's row.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from spineoutcome.evaluation import to_jsonable
from spineoutcome.evaluation.results import JsonResult
from spineoutcome.evidence import environment

LIFECYCLE_SCHEMA_VERSION = "1.0"
VALIDATION_FILE = "validation_evidence.json"
UPDATE_FILE = "update_evidence.json"
MONITORING_FILE = "monitoring_evidence.json"


def new_run_id() -> str:
    """A new random run identifier (hex UUID4), as development runs have."""
    return uuid.uuid4().hex


def now() -> str:
    """The current UTC time, ISO 8601 to the second (the records' ``created``)."""
    return datetime.now(UTC).isoformat(timespec="seconds")


@dataclass(frozen=True)
class _Record(JsonResult):
    def save(self, directory: str | Path, name: str) -> Path:
        """Write the record as JSON (strict: no NaN) to ``directory/name``; return its path."""
        path = Path(directory) / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(to_jsonable(self), indent=1, allow_nan=False), encoding="utf-8")
        return path


@dataclass(frozen=True)
class ValidationEvidence(_Record):
    """External validation of one model on one site's data (:func:`.evaluate.validate_model`).

    ``model``: what was validated (URI, version, digest, lineage); ``site``: counts and data
    digest; ``evaluation``: the evaluation package's full :class:`~spineoutcome.evaluation.Evaluation`
    (None when there are too few events); ``comparison``: one row per measure, site beside
    development; ``notes``: plain-language statements (too few events, sample size, ...).
    """

    run_id: str
    created: str
    model: dict[str, Any]
    outcome_definition: dict[str, Any]
    site: dict[str, Any]
    flow: list[dict[str, Any]]
    sample_size: dict[str, Any]
    evaluation: dict[str, Any] | None
    comparison: list[dict[str, Any]]
    subgroups: dict[str, Any] | None
    centres: dict[str, Any] | None
    casemix: dict[str, Any]
    development: dict[str, Any]
    settings: dict[str, Any]
    notes: list[str]
    kind: str = "external_validation"
    environment: dict[str, Any] = field(default_factory=environment)
    schema_version: str = LIFECYCLE_SCHEMA_VERSION

    def save(self, directory: str | Path, name: str = VALIDATION_FILE) -> Path:
        """Write the record to ``directory`` under its default file name; return its path."""
        return super().save(directory, name)


@dataclass(frozen=True)
class UpdateEvidence(_Record):
    """A model update on a site's data (:func:`.update.update_model`): the closed test, the method
    chosen, the new parameters, the update's bootstrap-corrected validation, and its lineage."""

    run_id: str
    created: str
    parent: dict[str, Any]
    site: dict[str, Any]
    flow: list[dict[str, Any]]
    requested_method: str
    method: str
    closed_testing: dict[str, Any]
    parameters: dict[str, Any]
    validation: dict[str, Any]
    lineage: dict[str, Any]
    notes: list[str]
    kind: str = "model_update"
    environment: dict[str, Any] = field(default_factory=environment)
    schema_version: str = LIFECYCLE_SCHEMA_VERSION

    def save(self, directory: str | Path, name: str = UPDATE_FILE) -> Path:
        """Write the record to ``directory`` under its default file name; return its path."""
        return super().save(directory, name)


@dataclass(frozen=True)
class MonitoringEvidence(_Record):
    """In-use monitoring of one model over periods (:func:`.monitor.monitor_model`)."""

    run_id: str
    created: str
    model: dict[str, Any]
    periods: list[dict[str, Any]]
    input_drift: list[dict[str, Any]]
    performance: list[dict[str, Any]] | None
    cusum: dict[str, Any] | None
    settings: dict[str, Any]
    notes: list[str]
    kind: str = "monitoring"
    environment: dict[str, Any] = field(default_factory=environment)
    schema_version: str = LIFECYCLE_SCHEMA_VERSION

    def save(self, directory: str | Path, name: str = MONITORING_FILE) -> Path:
        """Write the record to ``directory`` under its default file name; return its path."""
        return super().save(directory, name)
