"""Data layer: read exports, validate them against the dictionary, assemble the cohort."""

from spineoutcome.data.loading import LoadedTables, load_tables
from spineoutcome.data.sources import ExportReadError, RawExport, find_export, read_column_map, read_export
from spineoutcome.data.validate import ValidationReport, build_schema, validate_export

__all__ = [
    "ExportReadError",
    "LoadedTables",
    "RawExport",
    "ValidationReport",
    "build_schema",
    "find_export",
    "load_tables",
    "read_column_map",
    "read_export",
    "validate_export",
]
