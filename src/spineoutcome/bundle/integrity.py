"""Integrity of a logged model: one digest of every file, checked against a record kept outside the folder.

Why. Loading a model runs code: MLflow reads ``MLmodel``, executes the models-from-code file,
puts ``code/`` first on ``sys.path`` and the bundle unpickles ``pipeline.joblib`` and
``ensemble.joblib`` (a pickle can run anything). Whoever can write to the model folder can
therefore run code in the scoring process, unless every file is checked *before* loading against
a digest they cannot also rewrite.

The digest (:func:`model_sha256`) is the SHA-256 of the lines ``<sha256 of file>  <relative
path>``, one per file of the model folder, sorted by path: ``MLmodel``, the model code, ``code/``,
the environment files and the bundle (contract, calibration, what scoring shows clinicians,
pickles). Any changed, added, renamed or removed file changes it. Three things are left out:
the signature file of :func:`sign_model` (it holds the digest), the ``registered_model_meta``
file MLflow adds to a folder downloaded by registered name (the name and version, never loaded
as code), and Python's bytecode caches (``__pycache__``), which the interpreter writes while it
imports ``code/``. The loaders never load those: they verify and load a private copy made without
them (:func:`spineoutcome.scoring.fetch_verified`), and refuse a fetched folder that has a
bytecode cache (:func:`check_tree`). Symbolic links are refused: they could point outside the
folder.

Where the expected digest comes from (never from the folder itself):

- the MLflow tracking store: the logged model's tag ``model_sha256`` (and, for a registered
  version, the version's tag, which must agree), recorded by :func:`.log_bundle` after the
  upload; or
- a manifest signed by the site (:func:`sign_model`): an HMAC-SHA256 of the digest under a key
  only the site holds, given in the environment variable ``SPINEOUTCOME_SIGNING_KEY``. The
  signature file travels with the folder; without the key it cannot be forged (RFC 2104).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from spineoutcome.errors import SpineoutcomeError

DIGEST_TAG = "model_sha256"
"""Logged-model tag and registered-version tag holding :func:`model_sha256` of the logged model folder."""
SIGNATURE_FILE = "spineoutcome-signature.json"
SIGNING_KEY_ENV = "SPINEOUTCOME_SIGNING_KEY"
SIGNATURE_FORMAT = "spineoutcome-model-signature/1"
BYTECODE_DIR = "__pycache__"
NOT_COVERED = frozenset({SIGNATURE_FILE, "registered_model_meta"})
"""Top-level files the digest leaves out (module docstring)."""
UNVERIFIED = "UNVERIFIED"
"""The word every output of a run with an unverified model carries (console, scores column, risk sheets)."""


class ModelLoadError(SpineoutcomeError, RuntimeError):
    """A model cannot be used (not found, not a spineoutcome model, changed artifacts, ...)."""


class IntegrityError(ModelLoadError):
    """A model's files do not match the digest recorded outside its folder, or no such record exists."""


@dataclass(frozen=True)
class Verification:
    """How a model folder was checked: its digest, the record it matched (``source``), or none."""

    digest: str
    source: str | None

    @property
    def verified(self) -> bool:
        """Whether the files matched a record kept outside the folder (not accepted on request)."""
        return self.source is not None

    def describe(self) -> str:
        """One line for consoles, summaries and risk sheets."""
        if self.verified:
            return f"verified against {self.source}"
        return f"{UNVERIFIED}: no digest recorded outside the model folder; accepted on request (--allow-unverified)"


def check_tree(directory: str | Path, *, allow_bytecode: bool = False) -> Path:
    """``directory`` resolved, refused when it holds a symbolic link (or a bytecode cache, unless allowed)."""
    root = Path(directory).resolve(strict=True)
    for path in root.rglob("*"):
        if path.is_symlink():
            raise IntegrityError(
                f"{root}: {path.relative_to(root)} is a symbolic link; a model folder must hold its files itself"
            )
        if not allow_bytecode and path.name == BYTECODE_DIR:
            raise IntegrityError(
                f"{root}: {path.relative_to(root)} is a Python bytecode cache, which the digest "
                "does not cover; load from a fresh copy of the model"
            )
    return root


def copy_ignore(directory: str, names: list[str]) -> set[str]:
    """``shutil.copytree`` ``ignore``: bytecode caches anywhere, MLflow's ``registered_model_meta`` anywhere."""
    return {n for n in names if n == BYTECODE_DIR or n == "registered_model_meta"}


def model_sha256(directory: str | Path) -> str:
    """SHA-256 of a model folder (module docstring): every file, by content and relative path."""
    root = check_tree(directory, allow_bytecode=True)
    lines = []
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        relative = path.relative_to(root)
        if BYTECODE_DIR in relative.parts or relative.as_posix() in NOT_COVERED:
            continue
        digest = hashlib.sha256()
        with path.open("rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                digest.update(block)
        lines.append(f"{digest.hexdigest()}  {relative.as_posix()}\n")
    return hashlib.sha256("".join(lines).encode("utf-8")).hexdigest()


def signing_key() -> bytes | None:
    """The site's signing key from ``SPINEOUTCOME_SIGNING_KEY`` (None when unset or empty)."""
    value = os.environ.get(SIGNING_KEY_ENV, "")
    return value.encode("utf-8") if value else None


def _mac(key: bytes, digest: str) -> str:
    return hmac.new(key, f"{SIGNATURE_FORMAT}\n{digest}".encode(), hashlib.sha256).hexdigest()


def sign_model(directory: str | Path, key: bytes | None = None, *, expected: str | None = None) -> Path:
    """Write the signature file of a model folder: its digest and the HMAC of the digest under ``key``.

    ``key`` defaults to ``SPINEOUTCOME_SIGNING_KEY``. Sign only a folder you have verified (the
    ``sign-model`` command checks it first); ``expected``: the digest that check found, refused if
    the folder changed since.
    """
    key = key if key is not None else signing_key()
    if not key:
        raise IntegrityError(f"no signing key: set {SIGNING_KEY_ENV} (a long random secret kept by the site)")
    root = check_tree(directory)
    digest = model_sha256(root)
    if expected is not None and not hmac.compare_digest(digest, expected):
        raise IntegrityError(f"{root}: the folder changed after it was checked; nothing was signed")
    path = root / SIGNATURE_FILE
    path.write_text(
        json.dumps({"format": SIGNATURE_FORMAT, "sha256": digest, "hmac_sha256": _mac(key, digest)}, indent=1),
        encoding="utf-8",
    )
    return path


def signed_digest(directory: str | Path, key: bytes | None = None) -> str | None:
    """The digest a valid signature file vouches for; None when there is no key or no signature file.

    A signature file that does not verify under the key raises :class:`IntegrityError`.
    """
    key = key if key is not None else signing_key()
    path = Path(directory) / SIGNATURE_FILE
    if not key or not path.is_file():
        return None
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
        digest, mac = str(doc["sha256"]), str(doc["hmac_sha256"])
    except (OSError, ValueError, KeyError, TypeError):
        raise IntegrityError(f"{path}: not a readable signature file") from None
    if doc.get("format") != SIGNATURE_FORMAT or not hmac.compare_digest(mac, _mac(key, digest)):
        raise IntegrityError(
            f"{path}: the signature does not verify under the site key ({SIGNING_KEY_ENV}); "
            "the file was not signed here or was changed"
        )
    return digest


def verify(
    directory: str | Path, expected: str | None, source: str, *, uri: str, allow_unverified: bool = False
) -> Verification:
    """Compare the folder's digest with ``expected`` (recorded in ``source``); refuse a mismatch.

    With no record (``expected`` None) the folder is refused unless ``allow_unverified``, and is
    then reported :data:`UNVERIFIED`.
    """
    digest = model_sha256(directory)
    if expected is None:
        if not allow_unverified:
            raise IntegrityError(
                f"model {uri!r}: no digest of its files is recorded outside the folder (MLflow tracking store or a "
                f"site signature, {SIGNING_KEY_ENV}), so it cannot be checked before it is loaded; load it from the "
                "registry, sign it, or pass --allow-unverified (allow_unverified=True) to accept it as UNVERIFIED"
            )
        return Verification(digest, None)
    if not hmac.compare_digest(digest, expected):
        raise IntegrityError(
            f"model {uri!r}: its files do not match the SHA-256 recorded in {source} (recorded "
            f"{expected[:12]}..., found {digest[:12]}...); they changed after logging, refusing to "
            "load them"
        )
    return Verification(digest, source)


def logged_model_digest(model_id: str) -> str | None:
    """The digest recorded as a tag of logged model ``model_id`` in the current tracking store, if any."""
    import mlflow
    from mlflow.exceptions import MlflowException

    try:
        tags: dict[str, Any] = mlflow.get_logged_model(model_id).tags or {}
    except MlflowException:
        return None
    value = tags.get(DIGEST_TAG)
    return str(value) if value else None


def inside(root: str | Path, path: str | Path) -> Path:
    """``path`` (relative to ``root``, or absolute) resolved, refused unless it lies within ``root``.

    For paths read from metadata (``MLmodel`` artifact entries, table names): ``../`` or an
    absolute path must not lead a loader out of the folder it checked.
    """
    base = Path(root).resolve()
    target = (base / path).resolve()
    if target != base and base not in target.parents:
        raise IntegrityError(f"{base}: the path {str(path)!r} from its metadata leads outside the folder")
    return target


def model_root(artifact_path: str | Path) -> Path:
    """The model folder (with ``MLmodel``) that holds ``artifact_path`` (at most three levels up)."""
    path = Path(artifact_path).resolve()
    for candidate in (path, *list(path.parents)[:3]):
        if (candidate / "MLmodel").is_file():
            return candidate
    raise ModelLoadError(f"{artifact_path}: not inside an MLflow model folder (no MLmodel file above it)")


def check_before_load(root: str | Path, model_config: dict[str, Any] | None, model_id: str | None) -> Verification:
    """The check :class:`.BundleModel` runs in ``load_context`` before it unpickles anything.

    The expected digest is, in order: ``expected_sha256`` in the model config (given by a loader
    that read it from the registry, e.g. :func:`spineoutcome.scoring.load_verified` or the Spark
    path); a site signature; the logged model's tag in the configured tracking store. Without any,
    the model is refused unless the model config says ``allow_unverified: true``.
    """
    config = model_config or {}
    if config.get("expected_sha256"):
        expected, source = str(config["expected_sha256"]), str(config.get("expected_source") or "the loader's record")
    elif (signed := signed_digest(root)) is not None:
        expected, source = signed, f"the site signature ({SIGNING_KEY_ENV})"
    elif model_id and (recorded := logged_model_digest(model_id)) is not None:
        expected, source = recorded, "the MLflow tracking store (logged-model tag)"
    else:
        expected, source = None, ""
    return verify(root, expected, source, uri=str(root), allow_unverified=bool(config.get("allow_unverified")))


@contextmanager
def quiet_downloads() -> Iterator[None]:
    """No per-file MLflow download progress bars on the terminal."""
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
