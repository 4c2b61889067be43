"""Loading a model for scoring: every file checked against a record kept outside the folder, then loaded.

A model is named by an MLflow URI (``models:/c5_palsy@champion``, ``models:/c5_palsy/3``,
``runs:/<run id>/model``, ``models:/m-<model id>``) or a local path (a downloaded pyfunc model
folder with its ``MLmodel`` file, or a bundle folder written by :meth:`.ModelBundle.save`).

Integrity (:mod:`spineoutcome.bundle.integrity`). The model is copied into a private temporary
folder; the SHA-256 of every file of that copy (MLmodel, model code, ``code/``, pickles, and what
scoring shows clinicians) must equal the digest recorded outside the folder:

- a registered version (``models:/<name>/<version>``, ``@alias``): the version record names its
  logged model; its source must be that logged model, the downloaded ``MLmodel`` must name it,
  and the digest is the logged model's tag (the version's tag must agree);
- ``models:/m-<id>``, ``runs:/<run>/<path>``: the logged model's tag (for ``runs:/``, the logged
  model must belong to that run by the tracking store's record);
- a local folder: a site signature (``SPINEOUTCOME_SIGNING_KEY``), or, for a downloaded pyfunc
  folder, the logged model's tag in the configured tracking store.

Nothing else is accepted, unless ``allow_unverified=True`` (``--allow-unverified``); such a model
is marked UNVERIFIED and every output of the run says so.

What scoring shows clinicians (risk thresholds, risk groups, subgroup results, intended use) is
read from the bundle's ``clinical.json`` (:mod:`spineoutcome.bundle.clinical`), covered by the
digest; no ``evidence.json`` is read.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from spineoutcome.bundle import ModelBundle
from spineoutcome.bundle.integrity import (
    DIGEST_TAG,
    SIGNING_KEY_ENV,
    UNVERIFIED,
    IntegrityError,
    ModelLoadError,
    Verification,
    check_tree,
    copy_ignore,
    inside,
    logged_model_digest,
    quiet_downloads,
    signed_digest,
    verify,
)
from spineoutcome.bundle.model import FILES
from spineoutcome.bundle.pyfunc import ARTIFACT_KEY

_MLFLOW_SCHEMES = (
    "models:/",
    "runs:/",
    "mlflow-artifacts:",
    "s3://",
    "gs://",
    "wasbs://",
    "abfss://",
    "hdfs://",
    "dbfs:/",
    "http://",
    "https://",
    "file:",
)

__all__ = [
    "UNVERIFIED",
    "FetchedModel",
    "IntegrityError",
    "ModelLoadError",
    "ScoringModel",
    "fetch_verified",
    "load_pyfunc",
    "load_scoring_model",
    "load_verified",
    "quiet_downloads",
]


@dataclass(frozen=True)
class ScoringModel:
    """A verified (or knowingly unverified) bundle ready for scoring, with its risk thresholds.

    ``clinical``: what scoring shows clinicians, from the bundle (:mod:`spineoutcome.bundle.clinical`);
    ``verification``: how the files were checked.
    """

    uri: str
    bundle: ModelBundle
    thresholds: tuple[float, ...]
    verification: Verification
    version: str | None = None

    @property
    def task(self) -> str:
        return str(self.bundle.manifest["task"])

    @property
    def clinical(self) -> dict[str, Any]:
        """What scoring shows clinicians (thresholds, subgroup rows, intended use), from the verified bundle."""
        return self.bundle.clinical

    @property
    def digest(self) -> str:
        """SHA-256 of the model folder's files as checked at load."""
        return self.verification.digest

    @property
    def verified(self) -> bool:
        """Whether the files matched a record kept outside the folder."""
        return self.verification.verified

    @property
    def integrity(self) -> str:
        """One line on how the model was checked (``verified against ...`` or UNVERIFIED)."""
        return self.verification.describe()

    def describe(self) -> dict[str, Any]:
        """What was scored with (for the run summary): no patient data."""
        manifest = self.bundle.manifest
        return {
            "uri": self.uri,
            "task": self.task,
            "family": manifest.get("family"),
            "version": self.version,
            "evidence_run_id": manifest.get("evidence_run_id"),
            "model_sha256": self.digest,
            "verified": self.verified,
            "integrity": self.integrity,
            "thresholds": list(self.thresholds),
            "data_digest": (manifest.get("data") or {}).get("digest"),
        }


def load_verified(uri: str | Path, *, tracking_uri: str | None = None, allow_unverified: bool = False) -> ScoringModel:
    """Resolve, fetch, verify and load one model: the one loading function of the package (module docstring).

    ``uri``: an MLflow model URI or a local folder. Nothing is unpickled before every file of the
    model folder matched the digest recorded outside it (registry version, logged model, or a site
    signature); a folder without such a record is refused unless ``allow_unverified``, and is
    then marked UNVERIFIED (``ScoringModel.verification``). Raises :class:`ModelLoadError`
    (:class:`IntegrityError` for a failed check).
    """
    with fetch_verified(uri, tracking_uri=tracking_uri, allow_unverified=allow_unverified) as fetched:
        bundle = ModelBundle.load(fetched.bundle_dir, verified=fetched.verification)
    return _scoring_model(str(uri), bundle, fetched.verification, fetched.version)


load_scoring_model = load_verified
"""The earlier name of :func:`load_verified`."""


def load_pyfunc(uri: str | Path, *, tracking_uri: str | None = None, allow_unverified: bool = False) -> Any:
    """``mlflow.pyfunc.load_model`` on a verified private copy: the model code runs only after the check.

    The expected digest is passed on to :meth:`.BundleModel.load_context` (model config
    ``expected_sha256``), which checks the files again before it unpickles the bundle.
    """
    import mlflow

    with fetch_verified(uri, tracking_uri=tracking_uri, allow_unverified=allow_unverified) as fetched:
        return mlflow.pyfunc.load_model(str(fetched.root), model_config=fetched.model_config())


@dataclass(frozen=True)
class FetchedModel:
    """A private, verified copy of a model folder (valid inside :func:`fetch_verified`)."""

    root: Path
    bundle_dir: Path
    verification: Verification
    mlmodel: dict[str, Any] | None
    version: str | None
    run_id: str | None

    def model_config(self) -> dict[str, Any]:
        """What :meth:`.BundleModel.load_context` needs to check this folder again without a tracking store."""
        if self.verification.verified:
            return {"expected_sha256": self.verification.digest, "expected_source": self.verification.source}
        return {"allow_unverified": True}


@contextmanager
def fetch_verified(
    uri: str | Path, *, tracking_uri: str | None = None, allow_unverified: bool = False
) -> Iterator[FetchedModel]:
    """Copy a model into a private temporary folder, check every file, and yield it (deleted afterwards).

    The check runs on the private copy, the same files that are then loaded, so a file changed
    in the source between check and load makes no difference.
    """
    text = str(uri)
    with tempfile.TemporaryDirectory(prefix="spineoutcome-model-") as tmp:
        if text.startswith(_MLFLOW_SCHEMES) and not Path(text).exists():
            yield _fetch_mlflow(text, Path(tmp), tracking_uri, allow_unverified)
        else:
            yield _fetch_folder(text, Path(tmp), tracking_uri, allow_unverified)


def _set_tracking(tracking_uri: str | None) -> None:
    import mlflow
    from mlflow.tracking import is_tracking_uri_set

    from spineoutcome.tracking import DEFAULT_TRACKING_URI

    if tracking_uri:
        mlflow.set_tracking_uri(tracking_uri)
    elif not is_tracking_uri_set():  # as log_run: MLFLOW_TRACKING_URI, else sqlite:///mlruns.db
        mlflow.set_tracking_uri(DEFAULT_TRACKING_URI)


@dataclass(frozen=True)
class _Record:
    """What the tracking store says a model URI is: where to download it and the digest to expect."""

    download: str
    model_id: str | None
    run_id: str | None
    version: str | None
    expected: str | None
    source: str


def _record(uri: str) -> _Record:
    """The registry's or tracking store's record of ``uri`` (never the downloaded files' own claims)."""
    import mlflow
    from mlflow.exceptions import MlflowException

    client = mlflow.MlflowClient()
    if uri.startswith("models:/"):
        name, _, rest = uri.removeprefix("models:/").partition("/")
        if name.startswith("m-") and not rest and "@" not in name:
            return _logged_model_record(uri, name, None)
        try:
            if "@" in name and not rest:
                name, alias = name.split("@", 1)
                mv = client.get_model_version_by_alias(name, alias)
            elif rest.split("/")[0].isdigit():
                mv = client.get_model_version(name, rest.split("/")[0])
            else:
                raise ModelLoadError(
                    f"model {uri!r}: give models:/<name>@<alias>, models:/<name>/<version> or models:/<model id>"
                )
        except MlflowException as exc:
            raise ModelLoadError(f"cannot resolve model {uri!r} ({_first_line(exc)})") from None
        return _version_record(uri, name, mv)
    if uri.startswith("runs:/"):
        return _Record(uri, None, uri.removeprefix("runs:/").split("/")[0], None, None, "")
    return _Record(uri, None, None, None, None, "")


def _version_record(uri: str, name: str, mv: Any) -> _Record:
    """A registered version's record: its own source names its logged model, whose run and digest must agree."""
    where = f"version {mv.version} of registered model {name!r}"
    source_id = mv.source.removeprefix("models:/") if str(mv.source).startswith("models:/m-") else None
    if mv.model_id and source_id and mv.model_id != source_id:
        raise IntegrityError(
            f"model {uri!r}: {where} names logged model {mv.model_id!r} but points at "
            f"{mv.source!r}; refusing artefacts the registry record does not vouch for"
        )
    model_id = mv.model_id or source_id
    if model_id is None:  # registered from a run's path (before logged models): nothing recorded to check against
        return _Record(mv.source, None, mv.run_id, str(mv.version), None, where)
    record = _logged_model_record(uri, model_id, str(mv.version))
    if mv.run_id and record.run_id and mv.run_id != record.run_id:
        raise IntegrityError(
            f"model {uri!r}: {where} belongs to run {mv.run_id!r}, but its source {mv.source!r} is "
            f"a model of run {record.run_id!r}; refusing another model's artefacts"
        )
    tagged = (mv.tags or {}).get(DIGEST_TAG)
    if tagged and record.expected and tagged != record.expected:
        raise IntegrityError(
            f"model {uri!r}: {where} records SHA-256 {tagged[:12]}..., its logged model "
            f"{model_id} records {record.expected[:12]}...; refusing it"
        )
    source = f"the MLflow registry ({where}, logged model {model_id})"
    return _Record(record.download, model_id, record.run_id, str(mv.version), record.expected or tagged, source)


def _logged_model_record(uri: str, model_id: str, version: str | None) -> _Record:
    import mlflow
    from mlflow.exceptions import MlflowException

    try:
        logged = mlflow.get_logged_model(model_id)
    except MlflowException as exc:
        raise ModelLoadError(f"cannot resolve model {uri!r} ({_first_line(exc)})") from None
    return _Record(
        f"models:/{model_id}",
        model_id,
        logged.source_run_id,
        version,
        logged_model_digest(model_id),
        f"the MLflow tracking store (logged model {model_id})",
    )


def _fetch_mlflow(uri: str, tmp: Path, tracking_uri: str | None, allow_unverified: bool) -> FetchedModel:
    import mlflow
    from mlflow.exceptions import MlflowException

    _set_tracking(tracking_uri)
    record = _record(uri)
    with quiet_downloads():
        try:
            local = Path(mlflow.artifacts.download_artifacts(artifact_uri=record.download, dst_path=str(tmp / "m")))
        except (MlflowException, OSError) as exc:
            raise ModelLoadError(f"cannot fetch model {uri!r} from MLflow ({_first_line(exc)})") from None
    root = check_tree(local)
    mlmodel = _mlmodel(root)
    if mlmodel is None:
        raise ModelLoadError(f"{uri!r} is not an MLflow model (no MLmodel file)")
    found_id = mlmodel.get("model_id")
    if record.model_id and found_id != record.model_id:
        raise IntegrityError(
            f"model {uri!r}: the downloaded MLmodel names logged model {found_id!r}, the record "
            f"{record.model_id!r}; refusing it"
        )
    expected, source, run_id = record.expected, record.source, record.run_id
    if record.model_id is None and found_id and uri.startswith("runs:/"):
        # a runs:/ URI: the logged model it names must belong to that run, by the tracking store's record
        logged = _logged_model_record(uri, str(found_id), None)
        if logged.run_id != run_id:
            raise IntegrityError(
                f"model {uri!r}: its MLmodel names logged model {found_id!r} of run "
                f"{logged.run_id!r}, not of run {run_id!r}; refusing it"
            )
        expected, source = logged.expected, logged.source
    if expected is None and (signed := signed_digest(root)) is not None:
        expected, source = signed, f"the site signature ({SIGNING_KEY_ENV})"
    verification = verify(root, expected, source, uri=uri, allow_unverified=allow_unverified)
    return FetchedModel(
        root, _bundle_dir(root, mlmodel, uri), verification, mlmodel, record.version, run_id or mlmodel.get("run_id")
    )


def _fetch_folder(uri: str, tmp: Path, tracking_uri: str | None, allow_unverified: bool) -> FetchedModel:
    from mlflow.tracking import is_tracking_uri_set

    path = Path(uri)
    if not path.exists():
        raise ModelLoadError(f"model {uri!r} not found: give an MLflow URI (models:/<task>@champion) or a folder")
    if path.is_file():
        path = path.parent
    check_tree(path, allow_bytecode=True)
    root = tmp / "m"
    shutil.copytree(path, root, ignore=copy_ignore)
    mlmodel = _mlmodel(root)
    if mlmodel is not None:
        bundle_dir = _bundle_dir(root, mlmodel, uri)
    elif (root / FILES["manifest"]).exists():
        bundle_dir = root
    else:
        raise ModelLoadError(
            f"{uri!r} is neither an MLflow model folder (MLmodel) nor a model bundle ({FILES['manifest']})"
        )
    expected, source = signed_digest(root), f"the site signature ({SIGNING_KEY_ENV})"
    if tracking_uri:
        _set_tracking(tracking_uri)
    if expected is None and mlmodel is not None and mlmodel.get("model_id") and is_tracking_uri_set():
        # a downloaded copy of a logged model: the tracking store's record, if this store has it
        expected = logged_model_digest(str(mlmodel["model_id"]))
        source = f"the MLflow tracking store (logged model {mlmodel['model_id']})"
    verification = verify(root, expected, source, uri=uri, allow_unverified=allow_unverified)
    return FetchedModel(root, bundle_dir, verification, mlmodel, None, (mlmodel or {}).get("run_id"))


def _scoring_model(uri: str, bundle: ModelBundle, verification: Verification, version: str | None) -> ScoringModel:
    thresholds = bundle.clinical.get("thresholds") or []
    if not thresholds:
        raise ModelLoadError(
            f"model {uri!r}: the bundle carries no risk thresholds (clinical.json); it was built by "
            "an earlier spineoutcome: log it again"
        )
    thresholds = tuple(sorted(float(t) for t in thresholds))
    if not all(0.0 < t < 1.0 for t in thresholds):
        raise ModelLoadError(f"model {uri!r}: thresholds must lie between 0 and 1, got {list(thresholds)}")
    return ScoringModel(uri, bundle, thresholds, verification, version)


def _mlmodel(directory: Path) -> dict[str, Any] | None:
    path = directory / "MLmodel"
    if not path.exists():
        return None
    doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    return doc if isinstance(doc, dict) else None


def _bundle_dir(directory: Path, mlmodel: dict[str, Any], uri: str) -> Path:
    artifacts = ((mlmodel.get("flavors") or {}).get("python_function") or {}).get("artifacts") or {}
    entry = artifacts.get(ARTIFACT_KEY)
    if not isinstance(entry, dict) or not entry.get("path") or not inside(directory, entry["path"]).is_dir():
        raise ModelLoadError(f"model {uri!r} is an MLflow model but not a spineoutcome model bundle")
    return inside(directory, entry["path"])


def _first_line(exc: BaseException) -> str:
    return str(exc).strip().splitlines()[0][:300] if str(exc).strip() else type(exc).__name__
