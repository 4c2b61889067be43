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
- the SHA-256 of the saved bundle files (:func:`.bundle_sha256`) as a tag of the logged model (in
  the tracking store, apart from the artifacts) and in the MLmodel metadata, so a consumer can
  refuse artifacts that changed after logging.
"""

from __future__ import annotations

import shutil
import tempfile
import warnings
from importlib import metadata
from pathlib import Path
from typing import Any

import mlflow
import pandas as pd
from mlflow.models import ModelSignature
from mlflow.models.model import ModelInfo
from mlflow.types.schema import ColSpec, ParamSchema, ParamSpec, Schema
from packaging.requirements import Requirement

import spineoutcome
from spineoutcome.bundle.contract import InputContract
from spineoutcome.bundle.model import DIGEST_KEY, ModelBundle, bundle_sha256
from spineoutcome.dictionary import builtin_dictionary_dir, builtin_pipelines_dir

ARTIFACT_KEY = "bundle"
MODEL_NAME = "model"


class BundleModel(mlflow.pyfunc.PythonModel):
    """Pyfunc wrapper of :class:`.ModelBundle`; ``unwrap_python_model().bundle`` gives the bundle itself."""

    def load_context(self, context: mlflow.pyfunc.PythonModelContext) -> None:
        self.bundle = ModelBundle.load(context.artifacts[ARTIFACT_KEY])

    def predict(self, context: mlflow.pyfunc.PythonModelContext, model_input: pd.DataFrame,
                params: dict[str, Any] | None = None) -> pd.DataFrame:
        """Calibrated probabilities (see :meth:`.ModelBundle.predict`); params ``band`` and ``flags``."""
        params = params or {}
        return self.bundle.predict(model_input, band=bool(params.get("band", False)),
                                   flags=bool(params.get("flags", False)))


def signature(contract: InputContract) -> ModelSignature:
    """Inputs from the contract; outputs ``probability`` and ``problem``, the rest when asked for by params."""
    outputs = Schema([
        ColSpec("double", "probability"),
        ColSpec("double", "band_low", required=False),
        ColSpec("double", "band_high", required=False),
        ColSpec("string", "extrapolated", required=False),
        ColSpec("double", "mahalanobis", required=False),
        ColSpec("boolean", "out_of_distribution", required=False),
        ColSpec("string", "problem"),
    ])
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


def log_bundle(bundle: ModelBundle, *, registered_model_name: str | None = None) -> ModelInfo:
    """Log ``bundle`` to the active MLflow run as the pyfunc model ``model`` (and register it if named)."""
    with tempfile.TemporaryDirectory() as tmp, warnings.catch_warnings():
        # No input example, deliberately: it would be a patient's row.
        warnings.filterwarnings("ignore", message=".*An input example was not provided")
        directory = bundle.save(Path(tmp) / ARTIFACT_KEY)
        digest = bundle_sha256(directory)
        package = package_copy(Path(tmp) / "code")
        return mlflow.pyfunc.log_model(
            name=MODEL_NAME,
            python_model=str(Path(__file__).with_name("model_code.py")),
            artifacts={ARTIFACT_KEY: str(directory)},
            code_paths=[str(package)],
            pip_requirements=pip_requirements(),
            signature=signature(bundle.contract),
            registered_model_name=registered_model_name,
            metadata={"spineoutcome_version": spineoutcome.__version__, "task": bundle.manifest["task"],
                      "family": bundle.manifest["family"], "data_digest": bundle.manifest["data"]["digest"],
                      DIGEST_KEY: digest},
            tags={DIGEST_KEY: digest},
        )
