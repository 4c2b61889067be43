"""Loading a model for scoring: the bundle, checked against what MLflow recorded, and its Evidence.

A model is named by an MLflow URI (``models:/c5_palsy@champion``, ``models:/c5_palsy/3``,
``runs:/<run id>/model``, ``models:/m-<model id>``) or a local path (a downloaded pyfunc model
folder with its ``MLmodel`` file, or a bundle folder written by :meth:`.ModelBundle.save`).

Integrity. When a bundle is logged, the SHA-256 of its files
(:func:`spineoutcome.bundle.model.bundle_sha256`) is recorded as a tag of the MLflow logged
model, in the tracking store, apart from the artifacts. Scoring downloads the artifacts,
recomputes the digest from the files it is about to load and refuses the model when the two
differ. A local pyfunc folder is checked against the digest in its ``MLmodel`` metadata (which
catches damage, not deliberate change). A model with no recorded digest (logged before digests
were recorded, or a bare bundle folder) is refused unless ``allow_unverified=True``.

Evidence. The risk categories are cut at the thresholds the run was configured with (Evidence
``pipeline.thresholds``), and the risk sheet shows the run's subgroup results; both come from the
run's ``evidence.json`` artifact (MLflow) or an ``evidence.json`` in or next to a local model
folder. It must belong to the run that built the bundle (same Evidence run id).

Only the bundle's own files are deserialised (:meth:`.ModelBundle.load`); the code copy that
travels with a pyfunc model is not imported.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from spineoutcome.bundle import ModelBundle
from spineoutcome.bundle.model import DIGEST_KEY, FILES, bundle_sha256
from spineoutcome.bundle.pyfunc import ARTIFACT_KEY
from spineoutcome.errors import SpineoutcomeError

EVIDENCE_FILE = "evidence.json"
_MLFLOW_SCHEMES = ("models:/", "runs:/", "mlflow-artifacts:", "s3://", "gs://", "wasbs://", "abfss://", "hdfs://",
                   "dbfs:/", "http://", "https://", "file:")


class ModelLoadError(SpineoutcomeError, RuntimeError):
    """A model cannot be used for scoring (not found, no Evidence, changed artifacts, ...)."""


class IntegrityError(ModelLoadError):
    """The model's files do not match the digest recorded when it was logged."""


@dataclass(frozen=True)
class ScoringModel:
    """A bundle ready for scoring, with its risk thresholds and the aggregates of its Evidence.

    ``evidence`` holds the run's Evidence record (aggregates only, by construction); ``integrity``
    says how the files were checked.
    """

    uri: str
    bundle: ModelBundle
    thresholds: tuple[float, ...]
    evidence: dict[str, Any] = field(repr=False)
    digest: str
    integrity: str
    version: str | None = None

    @property
    def task(self) -> str:
        return str(self.bundle.manifest["task"])

    def describe(self) -> dict[str, Any]:
        """What was scored with (for the run summary): no patient data."""
        manifest = self.bundle.manifest
        return {"uri": self.uri, "task": self.task, "family": manifest.get("family"), "version": self.version,
                "evidence_run_id": manifest.get("evidence_run_id"), "bundle_sha256": self.digest,
                "integrity": self.integrity, "thresholds": list(self.thresholds),
                "data_digest": (manifest.get("data") or {}).get("digest")}


def load_scoring_model(uri: str | Path, *, tracking_uri: str | None = None,
                       allow_unverified: bool = False) -> ScoringModel:
    """Resolve, download, verify and load one model (module docstring)."""
    text = str(uri)
    if text.startswith(_MLFLOW_SCHEMES) and not Path(text).exists():
        return _from_mlflow(text, tracking_uri, allow_unverified)
    path = Path(text)
    if not path.exists():
        raise ModelLoadError(f"model {text!r} not found: give an MLflow URI (models:/<task>@champion) or a folder")
    return _from_folder(text, path, allow_unverified)


def _from_mlflow(uri: str, tracking_uri: str | None, allow_unverified: bool) -> ScoringModel:
    import mlflow
    from mlflow.exceptions import MlflowException
    from mlflow.tracking import is_tracking_uri_set

    from spineoutcome.tracking import DEFAULT_TRACKING_URI

    if tracking_uri:
        mlflow.set_tracking_uri(tracking_uri)
    elif not is_tracking_uri_set():  # as log_run: MLFLOW_TRACKING_URI, else sqlite:///mlruns.db
        mlflow.set_tracking_uri(DEFAULT_TRACKING_URI)
    uri, version = _resolve(uri)
    with tempfile.TemporaryDirectory(prefix="spineoutcome-score-") as tmp, quiet_downloads():
        try:
            local = Path(mlflow.artifacts.download_artifacts(artifact_uri=uri, dst_path=tmp))
        except (MlflowException, OSError) as exc:
            raise ModelLoadError(f"cannot fetch model {uri!r} from MLflow ({_first_line(exc)})") from None
        mlmodel = _mlmodel(local)
        if mlmodel is None:
            raise ModelLoadError(f"{uri!r} is not an MLflow model (no MLmodel file)")
        bundle_dir = _bundle_dir(local, mlmodel, uri)
        recorded, where = _recorded_digest(mlmodel)
        digest = _verify(bundle_dir, recorded, where, uri, allow_unverified)
        bundle = _load_bundle(bundle_dir, uri)
        run_id = mlmodel.get("run_id")
        evidence = None
        if run_id:
            try:
                path = mlflow.artifacts.download_artifacts(run_id=run_id, artifact_path=EVIDENCE_FILE, dst_path=tmp)
                evidence = json.loads(Path(path).read_text(encoding="utf-8"))
            except (MlflowException, OSError, json.JSONDecodeError):
                evidence = None
        if evidence is None:
            raise ModelLoadError(f"model {uri!r}: the run that logged it has no readable {EVIDENCE_FILE}; the risk "
                                 "thresholds and subgroup results come from it")
    return _scoring_model(uri, bundle, evidence, digest, _integrity(recorded, where), version)


def _from_folder(uri: str, path: Path, allow_unverified: bool) -> ScoringModel:
    if path.is_file():
        path = path.parent
    mlmodel = _mlmodel(path)
    if mlmodel is not None:
        bundle_dir = _bundle_dir(path, mlmodel, uri)
        recorded = (mlmodel.get("metadata") or {}).get(DIGEST_KEY)
        where = "the model's MLmodel metadata"
    elif (path / FILES["manifest"]).exists():
        bundle_dir, recorded, where = path, None, ""
    else:
        raise ModelLoadError(f"{uri!r} is neither an MLflow model folder (MLmodel) nor a model bundle "
                             f"({FILES['manifest']})")
    digest = _verify(bundle_dir, recorded, where, uri, allow_unverified)
    bundle = _load_bundle(bundle_dir, uri)
    candidates = [path / EVIDENCE_FILE, path.parent / EVIDENCE_FILE, bundle_dir / EVIDENCE_FILE]
    found = next((c for c in candidates if c.exists()), None)
    if found is None:
        raise ModelLoadError(f"model {uri!r}: no {EVIDENCE_FILE} in or next to the model folder; copy the run's "
                             f"{EVIDENCE_FILE} there (the risk thresholds and subgroup results come from it)")
    try:
        evidence = json.loads(found.read_text(encoding="utf-8"))
    except json.JSONDecodeError:
        raise ModelLoadError(f"{found}: not a readable Evidence JSON file") from None
    return _scoring_model(uri, bundle, evidence, digest, _integrity(recorded, where), None)


def _scoring_model(uri: str, bundle: ModelBundle, evidence: dict[str, Any], digest: str, integrity: str,
                   version: str | None) -> ScoringModel:
    expected = bundle.manifest.get("evidence_run_id")
    if evidence.get("run_id") != expected:
        raise ModelLoadError(f"model {uri!r}: the Evidence found belongs to run {evidence.get('run_id')!r}, the model "
                             f"to run {expected!r}")
    thresholds = (evidence.get("pipeline") or {}).get("thresholds") or []
    if not thresholds:
        raise ModelLoadError(f"model {uri!r}: the Evidence has no decision thresholds (pipeline.thresholds)")
    thresholds = tuple(sorted(float(t) for t in thresholds))
    if not all(0.0 < t < 1.0 for t in thresholds):
        raise ModelLoadError(f"model {uri!r}: thresholds must lie between 0 and 1, got {list(thresholds)}")
    return ScoringModel(uri, bundle, thresholds, evidence, digest, integrity, version)


def _verify(bundle_dir: Path, recorded: str | None, where: str, uri: str, allow_unverified: bool) -> str:
    digest = bundle_sha256(bundle_dir)
    if recorded is None:
        if not allow_unverified:
            raise IntegrityError(f"model {uri!r}: no SHA-256 of the bundle files was recorded when it was logged, so "
                                 "its files cannot be checked; log it again, or pass --allow-unverified to accept it")
    elif recorded != digest:
        raise IntegrityError(f"model {uri!r}: the bundle files do not match the SHA-256 recorded in {where} "
                             f"(recorded {recorded[:12]}..., found {digest[:12]}...); the artifacts changed after "
                             "logging, refusing to score with them")
    return digest


def _integrity(recorded: str | None, where: str) -> str:
    return f"verified against {where}" if recorded else "not verified (no digest recorded; accepted on request)"


def _recorded_digest(mlmodel: dict[str, Any]) -> tuple[str | None, str]:
    """The digest recorded in the tracking store (logged-model tag), else none."""
    import mlflow
    from mlflow.exceptions import MlflowException

    model_id = mlmodel.get("model_id")
    if model_id:
        try:
            tags = mlflow.get_logged_model(model_id).tags or {}
        except MlflowException:
            tags = {}
        if tags.get(DIGEST_KEY):
            return str(tags[DIGEST_KEY]), "the MLflow tracking store (logged-model tag)"
    return None, ""


def _mlmodel(directory: Path) -> dict[str, Any] | None:
    path = directory / "MLmodel"
    if not path.exists():
        return None
    doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    return doc if isinstance(doc, dict) else None


def _bundle_dir(directory: Path, mlmodel: dict[str, Any], uri: str) -> Path:
    artifacts = ((mlmodel.get("flavors") or {}).get("python_function") or {}).get("artifacts") or {}
    entry = artifacts.get(ARTIFACT_KEY)
    if not entry or not (directory / entry["path"]).is_dir():
        raise ModelLoadError(f"model {uri!r} is an MLflow model but not a spineoutcome model bundle")
    return directory / entry["path"]


def _load_bundle(directory: Path, uri: str) -> ModelBundle:
    try:
        return ModelBundle.load(directory)
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ModelLoadError(f"model {uri!r}: the bundle cannot be loaded ({type(exc).__name__})") from None


def _resolve(uri: str) -> tuple[str, str | None]:
    """``models:/<name>@<alias>`` as the version it points to now (``models:/<name>/<version>``), and that version."""
    import mlflow
    from mlflow.exceptions import MlflowException

    if not uri.startswith("models:/"):
        return uri, None
    name, _, rest = uri.removeprefix("models:/").partition("/")
    if "@" in name and not rest:
        name, alias = name.split("@", 1)
        try:
            version = mlflow.MlflowClient().get_model_version_by_alias(name, alias).version
        except MlflowException as exc:
            raise ModelLoadError(f"cannot resolve model {uri!r} ({_first_line(exc)})") from None
        return f"models:/{name}/{version}", str(version)
    return uri, rest.split("/")[0] if rest and rest.split("/")[0].isdigit() else None


def _first_line(exc: BaseException) -> str:
    return str(exc).strip().splitlines()[0][:300] if str(exc).strip() else type(exc).__name__


@contextmanager
def quiet_downloads() -> Iterator[None]:
    """No per-file download progress bars on the terminal."""
    key = "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR"
    before = os.environ.get(key)
    os.environ[key] = "false"
    try:
        yield
    finally:
        if before is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = before
