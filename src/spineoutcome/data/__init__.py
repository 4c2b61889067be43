"""Data layer: read exports (one reader for every command), validate them, assemble the cohort."""

from spineoutcome.data.loading import LoadedTables, load_tables, read_file_options
from spineoutcome.data.reader import Chunk, ExportFile, open_export
from spineoutcome.data.sources import ExportReadError, RawExport, find_export, read_column_map, read_export
from spineoutcome.data.validate import ValidationReport, build_schema, validate_export

__all__ = [
    "Chunk",
    "ExportFile",
    "ExportReadError",
    "LoadedTables",
    "RawExport",
    "ValidationReport",
    "build_schema",
    "find_export",
    "load_tables",
    "open_export",
    "read_column_map",
    "read_export",
    "read_file_options",
    "validate_export",
]
