"""The export reader of ``score``: the package's one reader (:mod:`spineoutcome.data.reader`).

Re-exported here so that scoring code and the Python API keep their import path; the rows, line
numbers and row-level faults are those of ``validate``.
"""

from __future__ import annotations

from spineoutcome.data.reader import Chunk, ExportFile, arrow_text, open_export

__all__ = ["Chunk", "ExportFile", "arrow_text", "open_export"]
