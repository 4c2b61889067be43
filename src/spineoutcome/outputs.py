"""Writing files that hold patient data: atomically, private to the owner, safe to open in a spreadsheet.

Three rules for every output meant for people (clean and rejects files, scores, risk sheets):

- **Atomic**: the file is written under a temporary name in the target folder and renamed into
  place only when complete (``os.replace`` is atomic on POSIX within one file system), so an
  aborted run never leaves a file that looks complete.
- **Private**: mode 0600 from the first byte (the temporary file is created with it), whatever
  the umask.
- **No silent overwrite**: an existing target is refused unless ``overwrite=True``.

Text cells that a spreadsheet would run as a formula (first character ``=``, ``+``, ``-``, ``@``,
tab or carriage return) are neutralised with a leading apostrophe, the OWASP recommendation for
CSV injection; numbers are never touched, so ``-1.5`` in a numeric column stays a number.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pandas as pd

from spineoutcome.errors import SpineoutcomeError

PRIVATE_MODE = 0o600
FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")
NEUTRALISER = "'"


class OutputExistsError(SpineoutcomeError, FileExistsError):
    """An output file exists already and ``overwrite`` was not asked for."""


def neutralise_cell(value: object) -> object:
    """``value`` with a leading apostrophe when it is text a spreadsheet would read as a formula.

    Anything that is not a ``str`` (numbers, missing values) is returned unchanged.
    """
    if isinstance(value, str) and value.startswith(FORMULA_TRIGGERS):
        return NEUTRALISER + value
    return value


def neutralise_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """A copy of ``frame`` with every text cell neutralised (see :func:`neutralise_cell`).

    Only object and string columns are looked at; numeric, boolean and date columns are returned
    as they are.
    """
    out = frame.copy()
    for column in out.columns:
        dtype = out[column].dtype
        if pd.api.types.is_object_dtype(dtype) or pd.api.types.is_string_dtype(dtype):
            out[column] = out[column].map(neutralise_cell, na_action="ignore")
    return out


def check_writable(path: str | os.PathLike[str], *, overwrite: bool = False) -> Path:
    """Refuse an existing ``path`` unless ``overwrite``; return it as a ``Path``.

    Call it for every output before any work starts, so a run does not compute for minutes and
    then stop at its last step.
    """
    target = Path(path)
    if target.exists() and not overwrite:
        raise OutputExistsError(f"{target} exists already; pass --overwrite to replace it")
    return target


@contextlib.contextmanager
def atomic_output(path: str | os.PathLike[str], *, overwrite: bool = False) -> Iterator[Path]:
    """Yield a temporary path (mode 0600) next to ``path``; rename it to ``path`` when the block succeeds.

    The temporary file is deleted when the block raises or the process is interrupted before the
    rename, so ``path`` either does not exist or holds a complete file. The folder is created if
    needed.
    """
    target = check_writable(path, overwrite=overwrite)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".partial", dir=target.parent)
    os.close(fd)
    temporary = Path(name)
    os.chmod(temporary, PRIVATE_MODE)
    try:
        yield temporary
        os.chmod(temporary, PRIVATE_MODE)
        if not overwrite and target.exists():
            raise OutputExistsError(f"{target} was created by someone else during this run; nothing was replaced")
        os.replace(temporary, target)
    finally:
        temporary.unlink(missing_ok=True)


def write_patient_csv(frame: pd.DataFrame, path: str | os.PathLike[str], *, overwrite: bool = False) -> Path:
    """Write ``frame`` to ``path`` as UTF-8 CSV: neutralised text cells, atomic, mode 0600."""
    with atomic_output(path, overwrite=overwrite) as temporary:
        neutralise_frame(frame).to_csv(temporary, index=False)
    return Path(path)
