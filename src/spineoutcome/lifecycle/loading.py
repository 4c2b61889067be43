"""The one place where the lifecycle commands load a model (MLflow URI or local folder).

It goes through the loading path of ``spineoutcome score`` (:func:`spineoutcome.scoring.model.load_scoring_model`):
the bundle's files are checked against the digest recorded when it was logged, and the model comes
with its development Evidence (thresholds, subgroup settings, development estimates).
"""

from __future__ import annotations

from pathlib import Path

from spineoutcome.scoring.model import ModelLoadError, ScoringModel, load_scoring_model

__all__ = ["ModelLoadError", "ScoringModel", "load_model"]


def load_model(uri: str | Path, *, tracking_uri: str | None = None, allow_unverified: bool = False) -> ScoringModel:
    """The verified bundle named by ``uri`` and its development Evidence."""
    return load_scoring_model(uri, tracking_uri=tracking_uri, allow_unverified=allow_unverified)
