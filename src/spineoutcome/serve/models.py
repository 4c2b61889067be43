"""The served models: loaded and verified once at start-up, in this one place.

Loading goes through the public path ``spineoutcome score`` uses
(:func:`spineoutcome.scoring.load_verified`): a private copy of the model folder is checked
against the digest recorded outside it (the registry version's record or a site signature), and a mismatch raises
:class:`~spineoutcome.scoring.IntegrityError`, so the server refuses to start exactly as ``score``
refuses to score. A model without a recorded digest is refused unless ``allow_unverified``. The
verification status the loader reports (:attr:`.ScoringModel.integrity`) is shown with every
result.

Each model gets one :class:`~spineoutcome.scoring.TaskScorer`; its design cache is shared across
requests, so scoring with it is serialised by a lock (requests run in a thread pool).
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from spineoutcome.bundle import InputContract
from spineoutcome.scoring import ScoringModel, TaskScorer, category_labels, load_verified


@dataclass
class ServedModel:
    """One model as the server uses it: a unique ``name`` (its task, numbered when two share one)."""

    name: str
    model: ScoringModel
    scorer: TaskScorer
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @property
    def contract(self) -> InputContract:
        """The model's input contract (one form field and API variable per predictor)."""
        return self.model.bundle.contract

    def describe(self) -> dict[str, Any]:
        """What the model is and how it was checked (no patient data): the API's ``models`` entries."""
        task = self.model.clinical.get("task") or {}
        manifest = self.model.bundle.manifest
        return {
            "name": self.name,
            "uri": self.model.uri,
            "version": self.model.version,
            "task": self.model.task,
            "description": task.get("description") or self.model.task,
            "outcome": (task.get("outcome_definition") or {}).get("description") or task.get("outcome"),
            "family": manifest.get("family"),
            "bundle_sha256": self.model.digest,
            "verification": self.model.integrity,
            "evidence_run_id": manifest.get("evidence_run_id"),
            "thresholds": list(self.model.thresholds),
            "risk_groups": category_labels(self.model.thresholds),
            "predictors": self.contract.names,
            "band_refits": len(self.model.bundle.ensemble),
        }


def load_models(
    uris: Sequence[str], *, tracking_uri: str | None = None, allow_unverified: bool = False
) -> list[ServedModel]:
    """Load, verify and prepare every model (module docstring); raises ``ModelLoadError`` on the first failure."""
    if not uris:
        raise ValueError("give at least one model to serve")
    loaded = [load_verified(uri, tracking_uri=tracking_uri, allow_unverified=allow_unverified) for uri in uris]
    return serve_models(loaded)


def serve_models(loaded: Sequence[ScoringModel]) -> list[ServedModel]:
    """Already loaded models, named by task (``c5_palsy``, ``c5_palsy_2`` when two share a task)."""
    names: list[str] = []
    for model in loaded:
        name, k = model.task, 2
        while name in names:
            name, k = f"{model.task}_{k}", k + 1
        names.append(name)
    return [ServedModel(name, model, TaskScorer(model)) for name, model in zip(names, loaded, strict=True)]
