"""The model bundle as an MLflow pyfunc model: ``mlflow.pyfunc.load_model(uri).predict(df)``.

Logged with

- the bundle directory as the artifact ``bundle`` (layout in :mod:`.model`), and the model as
  code (:mod:`.model_code`), so loading deserialises nothing but the bundle's own files;
- a signature from the input contract (numbers, nullable integers and yes/no as ``double``,
  categories as ``string``), the output columns, and two parameters, ``band`` and ``flags``;
- explicit pip requirements: every runtime dependency of spineoutcome pinned to the installed
  version (no inference). spineoutcome itself is not on PyPI, so it is not a requirement: the
  package travels with the model as ``code_paths``, laid out as its wheel installs it (MLflow
  puts it first on ``sys.path`` when loading), and the version that built the bundle is in the
  model metadata and ``bundle.json``;
- no input example, which would be a patient's row;
- the SHA-256 of every file of the logged model folder (:func:`.model_sha256`: MLmodel, model
  code, ``code/``, environment files, bundle), computed from the uploaded files and recorded in
  the tracking store, apart from the artifacts: as a tag of the logged model and of the registered
  version. :meth:`BundleModel.load_context` checks it before anything is unpickled, so
  ``mlflow.pyfunc.load_model`` and ``spark_udf`` refuse changed artifacts too (:mod:`.integrity`).
"""

from __future__ import annotations

import shutil
import tempfile
import warnings
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

import mlflow
import pandas as pd
import yaml
from mlflow.models import ModelSignature
from mlflow.types.schema import ColSpec, ParamSchema, ParamSpec, Schema
from packaging.requirements import Requirement

import spineoutcome
from spineoutcome.bundle.contract import InputContract
from spineoutcome.bundle.integrity import (
    DIGEST_TAG,
    IntegrityError,
    check_before_load,
    inside,
    model_root,
    model_sha256,
    quiet_downloads,
)
from spineoutcome.bundle.model import ModelBundle
from spineoutcome.dictionary import builtin_dictionary_dir, builtin_pipelines_dir

ARTIFACT_KEY = "bundle"
MODEL_NAME = "model"
LOAD_CONFIG = {"expected_sha256": "", "expected_source": "", "allow_unverified": False}
"""The model config logged with the bundle: the keys a loader may set at load time (MLflow ignores others)."""


class BundleModel(mlflow.pyfunc.PythonModel):
    """Pyfunc wrapper of :class:`.ModelBundle`; ``unwrap_python_model().bundle`` gives the bundle itself."""

    def load_context(self, context: mlflow.pyfunc.PythonModelContext) -> None:
        """Check every file of the model folder (:func:`.check_before_load`), then unpickle the bundle.

        MLflow has already run the model code and put ``code/`` on ``sys.path`` when it calls this,
        so this check guards the pickles and the bundle's JSON; a loader that verifies the folder
        *before* handing it to MLflow (:func:`spineoutcome.scoring.load_pyfunc`) guards the code too.
        """
        root = model_root(context.artifacts[ARTIFACT_KEY])
        mlmodel = yaml.safe_load((root / "MLmodel").read_text(encoding="utf-8")) or {}
        logged = (mlmodel.get("flavors") or {}).get("python_function", {}).get("config") or {}
        if any(logged.get(key) != value for key, value in LOAD_CONFIG.items()):
            raise IntegrityError(
                f"{root}: its MLmodel file sets its own verification options (model_config); only a "
                "loader may set them, so the file was changed"
            )
        self.verification = check_before_load(root, context.model_config, mlmodel.get("model_id"))
        self.bundle = ModelBundle.load(inside(root, context.artifacts[ARTIFACT_KEY]), verified=self.verification)

    def predict(
        self, context: mlflow.pyfunc.PythonModelContext, model_input: pd.DataFrame, params: dict[str, Any] | None = None
    ) -> pd.DataFrame:
        """Calibrated probabilities (see :meth:`.ModelBundle.predict`); params ``band`` and ``flags``."""
        params = params or {}
        return self.bundle.predict(
            model_input, band=bool(params.get("band", False)), flags=bool(params.get("flags", False))
        )


def signature(contract: InputContract) -> ModelSignature:
    """Inputs from the contract; outputs ``probability`` and ``problem``, the rest when asked for by params."""
    outputs = Schema(
        [
            ColSpec("double", "probability"),
            ColSpec("double", "band_low", required=False),
            ColSpec("double", "band_high", required=False),
            ColSpec("string", "extrapolated", required=False),
            ColSpec("double", "mahalanobis", required=False),
            ColSpec("boolean", "out_of_distribution", required=False),
            ColSpec("string", "problem"),
        ]
    )
    params = ParamSchema([ParamSpec("band", "boolean", False), ParamSpec("flags", "boolean", False)])
    return ModelSignature(inputs=contract.mlflow_schema(), outputs=outputs, params=params)


def pip_requirements() -> list[str]:
    """spineoutcome's runtime dependencies (not its extras), each pinned to the installed version."""
    pinned = []
    for line in metadata.requires("spineoutcome") or []:
        requirement = Requirement(line)
        if requirement.marker is None or requirement.marker.evaluate({"extra": ""}):
            pinned.append(f"{requirement.name}=={metadata.version(requirement.name)}")
    return pinned


def package_copy(directory: Path) -> Path:
    """spineoutcome laid out as its wheel installs it (with ``_bundled/`` data), copied into ``directory``.

    The package reads its built-in data dictionary from ``_bundled/`` when it is not run from a
    source tree, and some modules read it at import.
    """
    target = directory / "spineoutcome"
    shutil.copytree(Path(spineoutcome.__file__).parent, target, ignore=shutil.ignore_patterns("__pycache__"))
    for source in (builtin_dictionary_dir(), builtin_pipelines_dir()):
        shutil.copytree(source, target / "_bundled" / source.name, dirs_exist_ok=True)
    return target


@dataclass(frozen=True)
class LoggedBundle:
    """Where :func:`log_bundle` put a bundle: the logged model, its digest and its registered version."""

    model_id: str
    model_uri: str
    run_id: str | None
    sha256: str
    registered_model_version: int | None


def log_bundle(bundle: ModelBundle, *, registered_model_name: str | None = None) -> LoggedBundle:
    """Log ``bundle`` to the active MLflow run as the pyfunc model ``model``; record its digest; register it if named.

    The digest is computed from the files as the artifact store holds them (downloaded back after
    the upload) and recorded as the logged model's tag; the registered version is created only
    then, with the same digest as its tag, so no version exists without a record.
    """
    with tempfile.TemporaryDirectory() as tmp, warnings.catch_warnings():
        # No input example, deliberately: it would be a patient's row.
        warnings.filterwarnings("ignore", message=".*An input example was not provided")
        directory = bundle.save(Path(tmp) / ARTIFACT_KEY)
        package = package_copy(Path(tmp) / "code")
        info = mlflow.pyfunc.log_model(
            name=MODEL_NAME,
            python_model=str(Path(__file__).with_name("model_code.py")),
            artifacts={ARTIFACT_KEY: str(directory)},
            code_paths=[str(package)],
            pip_requirements=pip_requirements(),
            signature=signature(bundle.contract),
            model_config=dict(LOAD_CONFIG),
            metadata={
                "spineoutcome_version": spineoutcome.__version__,
                "task": bundle.manifest["task"],
                "family": bundle.manifest["family"],
                "data_digest": bundle.manifest["data"]["digest"],
            },
        )
        with quiet_downloads():
            uploaded = Path(
                mlflow.artifacts.download_artifacts(artifact_uri=info.model_uri, dst_path=str(Path(tmp) / "uploaded"))
            )
        digest = model_sha256(uploaded)
    mlflow.set_logged_model_tags(info.model_id, {DIGEST_TAG: digest})
    version: int | None = None
    if registered_model_name:
        ensure_registered_model(registered_model_name)
        created = mlflow.MlflowClient().create_model_version(
            registered_model_name,
            source=info.model_uri,
            run_id=info.run_id,
            model_id=info.model_id,
            tags={DIGEST_TAG: digest},
        )
        version = int(created.version)
    return LoggedBundle(info.model_id, info.model_uri, info.run_id, digest, version)


def ensure_registered_model(name: str) -> None:
    """Create the registered model ``name`` unless it exists."""
    from mlflow.exceptions import MlflowException

    client = mlflow.MlflowClient()
    try:
        client.get_registered_model(name)
    except MlflowException:
        try:
            client.create_registered_model(name)
        except MlflowException as exc:
            if "already exists" not in str(exc).lower():  # else: created meanwhile by another process
                raise
