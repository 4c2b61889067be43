"""Tamper tests: every load path refuses a model whose files do not match a record kept outside its folder.

Load paths: the scoring loader (CLI ``score`` and the Python API: :func:`load_verified`), a plain
``mlflow.pyfunc.load_model`` (the check in ``BundleModel.load_context``), the verified pyfunc
loader, and local folders (site signature or ``--allow-unverified``). The Spark path is in
``tests/distributed/test_spark.py``. Each tamper is undone afterwards: the store is shared.
"""

from __future__ import annotations

import contextlib
import glob
import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import joblib
import mlflow
import pytest
import yaml

from spineoutcome.bundle.integrity import (
    DIGEST_TAG,
    NOT_COVERED,
    SIGNATURE_FILE,
    SIGNING_KEY_ENV,
    UNVERIFIED,
    IntegrityError,
    check_tree,
    inside,
    model_sha256,
    sign_model,
)
from spineoutcome.scoring import ModelLoadError, fetch_verified, load_pyfunc, load_verified, score_export

KEY = "a-long-random-site-secret-for-the-tests"


def _version(uri: str) -> str:
    return uri.rsplit("/", 1)[1]


def _model_folder(store, uri: str) -> Path:
    """The logged model's folder in the artifact store (what an attacker with file access would edit)."""
    source = mlflow.MlflowClient().get_model_version("c5_palsy", _version(uri)).source
    found = glob.glob(str(store.directory / "mlruns" / "*" / "models" / source.removeprefix("models:/") / "artifacts"))
    assert len(found) == 1
    return Path(found[0])


@contextlib.contextmanager
def tampered(path: Path) -> Iterator[Path]:
    """Yield ``path``; restore its bytes afterwards."""
    original = path.read_bytes()
    try:
        yield path
    finally:
        path.write_bytes(original)


def _download(uri: str, target: Path) -> Path:
    return Path(mlflow.artifacts.download_artifacts(artifact_uri=uri, dst_path=str(target)))


def test_a_registered_model_is_verified_against_the_registry(store, versions) -> None:
    for uri in versions.values():
        model = load_verified(uri)
        assert model.verified and model.integrity.startswith("verified against the MLflow registry")
        version = mlflow.MlflowClient().get_model_version("c5_palsy", _version(uri))
        assert version.tags[DIGEST_TAG] == model.digest
        assert mlflow.get_logged_model(version.source.removeprefix("models:/")).tags[DIGEST_TAG] == model.digest
        assert model.thresholds == (0.05, 0.10, 0.20)


def test_the_digest_covers_every_file_mlflow_loads_or_executes(store, versions, tmp_path: Path) -> None:
    folder = _download(versions["logistic"], tmp_path / "m")
    names = {p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file()}
    assert {
        "MLmodel",
        "artifacts/bundle/pipeline.joblib",
        "artifacts/bundle/ensemble.joblib",
        "artifacts/bundle/clinical.json",
        "requirements.txt",
    } <= names
    assert any(n.endswith(".py") and "/" not in n for n in names)  # the models-from-code file
    assert any(n.startswith("code/spineoutcome/") for n in names)
    before = model_sha256(folder)
    for name in sorted(names - NOT_COVERED):
        path = folder / name
        with tampered(path):
            path.write_bytes(path.read_bytes() + b"\n")
            assert model_sha256(folder) != before, name
    (folder / "code" / "extra.py").write_text("import os\n")
    assert model_sha256(folder) != before
    (folder / "code" / "extra.py").unlink()
    planted = folder / "code" / "spineoutcome" / "__pycache__" / "__init__.cpython-311.pyc"
    planted.parent.mkdir(exist_ok=True)
    planted.write_bytes(b"not bytecode")
    assert model_sha256(folder) == before  # bytecode caches are not covered, so loaders leave them behind:
    with fetch_verified(folder) as fetched:
        assert not list(fetched.root.rglob("__pycache__"))
    with pytest.raises(IntegrityError, match="bytecode cache"):
        check_tree(folder)


def test_a_pickle_changed_in_the_store_is_refused_on_every_path(store, versions, hospital, tmp_path: Path) -> None:
    """The artefact changed in the store: a pickle swapped for another model's."""
    uri = versions["logistic"]
    target = _model_folder(store, uri) / "artifacts" / "bundle" / "pipeline.joblib"
    other = _model_folder(store, versions["xgboost"]) / "artifacts" / "bundle" / "pipeline.joblib"
    with tampered(target):
        shutil.copyfile(other, target)
        with pytest.raises(IntegrityError, match="do not match the SHA-256 recorded in the MLflow registry"):
            load_verified(uri)
        with pytest.raises(IntegrityError):
            score_export([uri], hospital.csv, tmp_path / "out.csv")
        assert not list(tmp_path.glob("out*"))
        with pytest.raises(IntegrityError, match="do not match"):
            mlflow.pyfunc.load_model(uri)  # plain MLflow: BundleModel.load_context checks before unpickling
        with pytest.raises(IntegrityError):
            load_pyfunc(uri)
    assert load_verified(uri).verified


def test_altered_thresholds_are_refused(store, versions, hospital, tmp_path: Path) -> None:
    uri = versions["logistic"]
    clinical = _model_folder(store, uri) / "artifacts" / "bundle" / "clinical.json"
    with tampered(clinical):
        doc = json.loads(clinical.read_text(encoding="utf-8"))
        clinical.write_text(json.dumps({**doc, "thresholds": [0.5, 0.9]}), encoding="utf-8")
        with pytest.raises(IntegrityError, match="do not match"):
            load_verified(uri)
        with pytest.raises(IntegrityError, match="do not match"):
            mlflow.pyfunc.load_model(uri)


def test_changed_model_code_is_refused_before_it_runs(store, versions, tmp_path: Path) -> None:
    uri = versions["logistic"]
    folder = _model_folder(store, uri)
    code = next(p for p in (folder / "python_model.py", *folder.glob("*.py")) if p.exists())
    marker = tmp_path / "ran"
    with tampered(code):
        code.write_text(f"open({str(marker)!r}, 'w').close()\n" + code.read_text(encoding="utf-8"), encoding="utf-8")
        with pytest.raises(IntegrityError):
            load_pyfunc(uri)
        with pytest.raises(IntegrityError):
            load_verified(uri)
    assert not marker.exists()


def test_a_registry_version_pointing_at_another_models_artefacts_is_refused(store, versions, tmp_path: Path) -> None:
    client = mlflow.MlflowClient()
    good = client.get_model_version("c5_palsy", _version(versions["logistic"]))
    other = client.get_model_version("c5_palsy", _version(versions["xgboost"]))
    # a version recorded for one run whose source is another run's (e.g. gate-failing) model
    forged = client.create_model_version("c5_palsy", source=other.source, run_id=good.run_id)
    try:
        with pytest.raises(IntegrityError, match="another model's artefacts"):
            load_verified(f"models:/c5_palsy/{forged.version}")
    finally:
        client.delete_model_version("c5_palsy", forged.version)
    # an older model's files copied over a version's artefacts (its MLmodel names the older model)
    folder = _model_folder(store, versions["logistic"])
    backup = tmp_path / "backup"
    shutil.copytree(folder, backup)
    try:
        shutil.rmtree(folder)
        shutil.copytree(_model_folder(store, versions["xgboost"]), folder)
        with pytest.raises(IntegrityError, match="names logged model"):
            load_verified(versions["logistic"])
    finally:
        shutil.rmtree(folder)
        shutil.copytree(backup, folder)
    # a version whose own digest tag disagrees with its logged model's
    client.set_model_version_tag("c5_palsy", good.version, DIGEST_TAG, "0" * 64)
    try:
        with pytest.raises(IntegrityError, match="records SHA-256"):
            load_verified(versions["logistic"])
    finally:
        client.set_model_version_tag("c5_palsy", good.version, DIGEST_TAG, good.tags[DIGEST_TAG])
    assert load_verified(versions["logistic"]).verified


def test_a_swapped_pickle_with_a_self_consistent_local_digest_is_refused(
    store, versions, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A downloaded folder: whatever digest the folder states about itself is not a record."""
    folder = _download(versions["logistic"], tmp_path / "m")
    other = _download(versions["xgboost"], tmp_path / "o")
    assert load_verified(folder).integrity.startswith("verified against the MLflow tracking store")
    pickle = Path("artifacts") / "bundle" / "pipeline.joblib"
    shutil.copyfile(other / pickle, folder / pickle)
    mlmodel = yaml.safe_load((folder / "MLmodel").read_text(encoding="utf-8"))
    mlmodel.setdefault("metadata", {})["model_sha256"] = model_sha256(folder)  # self-consistent local digest
    (folder / "MLmodel").write_text(yaml.safe_dump(mlmodel), encoding="utf-8")
    with pytest.raises(IntegrityError, match="do not match"):
        load_verified(folder)  # the store's record of that logged model
    with pytest.raises(IntegrityError, match="do not match"):
        mlflow.pyfunc.load_model(str(folder))
    # a site signature made without the site key does not verify
    monkeypatch.setenv(SIGNING_KEY_ENV, KEY)
    sign_model(folder, b"attacker-key")
    with pytest.raises(IntegrityError, match="does not verify"):
        load_verified(folder)


def test_local_folders_need_a_signature_or_allow_unverified(
    store, versions, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = _download(versions["logistic"], tmp_path / "m")
    mlflow.set_tracking_uri(f"sqlite:///{tmp_path / 'empty.db'}")  # a store that does not know the model
    try:
        with pytest.raises(IntegrityError, match="--allow-unverified"):
            load_verified(folder)
        accepted = load_verified(folder, allow_unverified=True)
        assert not accepted.verified and accepted.integrity.startswith(UNVERIFIED)
        with pytest.raises(IntegrityError, match="no digest"):
            mlflow.pyfunc.load_model(str(folder))
        assert mlflow.pyfunc.load_model(str(folder), model_config={"allow_unverified": True})
        monkeypatch.setenv(SIGNING_KEY_ENV, KEY)
        sign_model(folder)
        signed = load_verified(folder)
        assert signed.verified and "site signature" in signed.integrity
        assert mlflow.pyfunc.load_model(str(folder)).unwrap_python_model().verification.verified
        with tampered(folder / "artifacts" / "bundle" / "clinical.json") as clinical:
            clinical.write_text(clinical.read_text(encoding="utf-8").replace("0.05", "0.5"), encoding="utf-8")
            with pytest.raises(IntegrityError, match="site signature"):
                load_verified(folder)
        monkeypatch.setenv(SIGNING_KEY_ENV, "another site's key")
        with pytest.raises(IntegrityError, match="does not verify"):
            load_verified(folder)
        (folder / SIGNATURE_FILE).unlink()
    finally:
        mlflow.set_tracking_uri(store.uri)
    # a bare bundle folder
    bare = folder / "artifacts" / "bundle"
    with pytest.raises(IntegrityError, match="--allow-unverified"):
        load_verified(bare)
    assert not load_verified(bare, allow_unverified=True).verified


def test_paths_from_metadata_stay_inside_their_folder(store, versions, tmp_path: Path) -> None:
    with pytest.raises(IntegrityError, match="outside the folder"):
        inside(tmp_path, "../elsewhere")
    with pytest.raises(IntegrityError, match="outside the folder"):
        inside(tmp_path, "/etc")
    assert inside(tmp_path, "a/b") == (tmp_path / "a" / "b").resolve()
    folder = _download(versions["logistic"], tmp_path / "m")
    mlmodel = yaml.safe_load((folder / "MLmodel").read_text(encoding="utf-8"))
    mlmodel["flavors"]["python_function"]["artifacts"]["bundle"]["path"] = "../../outside"
    (folder / "MLmodel").write_text(yaml.safe_dump(mlmodel), encoding="utf-8")
    with pytest.raises(IntegrityError, match="outside the folder"):
        load_verified(folder, allow_unverified=True)
    link = tmp_path / "linked"
    shutil.copytree(_download(versions["logistic"], tmp_path / "n"), link)
    (link / "artifacts" / "bundle" / "ensemble.joblib").unlink()
    (link / "artifacts" / "bundle" / "ensemble.joblib").symlink_to(
        tmp_path / "n" / "artifacts" / "bundle" / "ensemble.joblib"
    )
    with pytest.raises(IntegrityError, match="symbolic link"):
        load_verified(link, allow_unverified=True)


def test_a_model_that_is_not_a_bundle_is_refused(tmp_path: Path) -> None:
    (tmp_path / "x").mkdir()
    joblib.dump({"a": 1}, tmp_path / "x" / "pipeline.joblib")
    with pytest.raises(ModelLoadError, match="neither an MLflow model folder"):
        load_verified(tmp_path / "x", allow_unverified=True)


def test_sign_model_signs_only_a_folder_that_checks_out(
    store, versions, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from typer.testing import CliRunner

    from spineoutcome.cli import app

    folder = _download(versions["logistic"], tmp_path / "m")
    monkeypatch.setenv(SIGNING_KEY_ENV, KEY)
    bundle = folder / "artifacts" / "bundle"
    with tampered(bundle / "calibration.json") as calibration:
        calibration.write_text(calibration.read_text(encoding="utf-8").replace("1.0", "1.5"), encoding="utf-8")
        refused = CliRunner().invoke(app, ["sign-model", str(folder), "--tracking-uri", store.uri])
        assert refused.exit_code == 3 and "do not match" in " ".join(refused.output.split())
        assert not (folder / SIGNATURE_FILE).exists()
    signed = CliRunner().invoke(app, ["sign-model", str(folder), "--tracking-uri", store.uri])
    assert signed.exit_code == 0, signed.output
    mlflow.set_tracking_uri(f"sqlite:///{tmp_path / 'empty.db'}")  # another site: no tracking store record
    try:
        assert "site signature" in load_verified(folder).integrity
    finally:
        mlflow.set_tracking_uri(store.uri)


def test_a_model_cannot_declare_itself_unverifiable(store, versions, tmp_path: Path) -> None:
    """An MLmodel edited to say ``allow_unverified: true`` is refused by load_context (only a loader may say so)."""
    folder = _download(versions["logistic"], tmp_path / "m")
    mlmodel = yaml.safe_load((folder / "MLmodel").read_text(encoding="utf-8"))
    mlmodel["flavors"]["python_function"]["config"]["allow_unverified"] = True
    (folder / "MLmodel").write_text(yaml.safe_dump(mlmodel), encoding="utf-8")
    mlflow.set_tracking_uri(f"sqlite:///{tmp_path / 'empty.db'}")
    try:
        with pytest.raises(IntegrityError, match="sets its own verification options"):
            mlflow.pyfunc.load_model(str(folder))
    finally:
        mlflow.set_tracking_uri(store.uri)
