"""The one place where the lifecycle commands load a model (MLflow URI or local folder).

The bundle goes through the package's one verified loader
(:func:`spineoutcome.scoring.load_verified`): nothing is unpickled before every file of the model
folder matched the digest recorded outside it. The lifecycle commands also need the model's
development Evidence (the estimates shown beside the site's, the subgroup settings, the outcome
definition of older bundles). It is read, as plain JSON and never unpickled, from the run that
logged the model (MLflow) or from ``evidence.json`` in or next to a local model folder, and must
belong to the run the bundle names (``evidence_run_id``), so another model's Evidence is refused.
What scoring shows clinicians (thresholds, subgroup rows) still comes from the verified bundle.
"""

from __future__ import annotations

import json
import tempfile
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import mlflow
from mlflow.exceptions import MlflowException

from spineoutcome.scoring.model import ModelLoadError, ScoringModel, load_verified, quiet_downloads

__all__ = ["EVIDENCE_FILE", "LifecycleModel", "ModelLoadError", "ScoringModel", "load_model"]

EVIDENCE_FILE = "evidence.json"


@dataclass(frozen=True)
class LifecycleModel(ScoringModel):
    """A verified :class:`~spineoutcome.scoring.ScoringModel` with its development Evidence (plain data)."""

    evidence: dict[str, Any] = field(default_factory=dict, repr=False)


def load_model(uri: str | Path, *, tracking_uri: str | None = None, allow_unverified: bool = False) -> LifecycleModel:
    """The verified bundle named by ``uri`` and its development Evidence (module docstring)."""
    model = load_verified(uri, tracking_uri=tracking_uri, allow_unverified=allow_unverified)
    local = Path(str(uri))
    evidence = _local_evidence(local, model) if local.exists() else _logged_evidence(model)
    expected = model.bundle.manifest.get("evidence_run_id")
    if expected and evidence.get("run_id") != expected:
        raise ModelLoadError(
            f"model {str(uri)!r}: the Evidence found belongs to run {evidence.get('run_id')!r}, the "
            f"model to run {expected!r}"
        )
    return LifecycleModel(**{f.name: getattr(model, f.name) for f in fields(ScoringModel)}, evidence=evidence)


def _logged_evidence(model: ScoringModel) -> dict[str, Any]:
    """``evidence.json`` of the run that logged the model version, else of the development run."""
    runs = []
    if model.version is not None and str(model.uri).startswith("models:/"):
        name = str(model.uri).removeprefix("models:/").split("/")[0].split("@")[0]
        try:
            runs.append(mlflow.MlflowClient().get_model_version(name, model.version).run_id)
        except MlflowException:
            pass
    runs.append(model.bundle.manifest.get("evidence_run_id"))
    with tempfile.TemporaryDirectory(prefix="spineoutcome-evidence-") as tmp, quiet_downloads():
        for run_id in dict.fromkeys(r for r in runs if r):
            try:
                path = mlflow.artifacts.download_artifacts(run_id=run_id, artifact_path=EVIDENCE_FILE, dst_path=tmp)
                return json.loads(Path(path).read_text(encoding="utf-8"))
            except (MlflowException, OSError, json.JSONDecodeError):
                continue
    raise ModelLoadError(
        f"model {model.uri!r}: the run that logged it has no readable {EVIDENCE_FILE}; the "
        "development estimates and subgroup settings come from it"
    )


def _local_evidence(path: Path, model: ScoringModel) -> dict[str, Any]:
    """``evidence.json`` in a local model folder, next to it, or in its bundle folder."""
    folder = path.parent if path.is_file() else path
    candidates = [
        folder / EVIDENCE_FILE,
        folder.parent / EVIDENCE_FILE,
        folder / "artifacts" / "bundle" / EVIDENCE_FILE,
    ]
    found = next((c for c in candidates if c.is_file()), None)
    if found is None:
        raise ModelLoadError(
            f"model {model.uri!r}: no {EVIDENCE_FILE} in or next to the model folder; copy the "
            f"development run's {EVIDENCE_FILE} there"
        )
    try:
        return json.loads(found.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        raise ModelLoadError(f"{found}: not a readable Evidence JSON file") from None
