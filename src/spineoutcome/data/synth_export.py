"""Writing synthetic exports the way a hospital would: one file per table, appended block by block.

CSV: plain UTF-8, header once, no quoting, ISO dates, booleans as ``yes``/``no``, missing values
empty. Parquet: one row group per block through ``pyarrow.parquet.ParquetWriter``, native
booleans and dates. Column types come from the data dictionary; the patient key column is built
from each row's patient index within the block.
"""

from __future__ import annotations

from pathlib import Path
from typing import BinaryIO, Literal

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq

from spineoutcome.dictionary import DataDictionary, Table

Format = Literal["csv", "parquet"]
KEY_PREFIX = "P"
KEY_DIGITS = 8
CSV_TRUE, CSV_FALSE = "yes", "no"


def check_boolean_words(dictionary: DataDictionary) -> None:
    """The CSV boolean words must be ones the dictionary reads back."""
    if CSV_TRUE not in dictionary.true_values or CSV_FALSE not in dictionary.false_values:
        raise ValueError(f"the dictionary does not read {CSV_TRUE!r}/{CSV_FALSE!r} as booleans")


def patient_ids(start: int, n: int) -> pa.Array:
    """Pseudonymous keys ``P00000001``.. for patients ``start`` .. ``start + n - 1`` (0-based)."""
    numbers = pc.cast(pa.array(np.arange(start + 1, start + n + 1, dtype=np.int64)), pa.string())
    return pc.binary_join_element_wise(KEY_PREFIX, pc.utf8_lpad(numbers, KEY_DIGITS, "0"), "")


def arrow_type(dtype: str, fmt: Format) -> pa.DataType:
    """Arrow type of a dictionary dtype in a file format (CSV booleans are words)."""
    if dtype == "bool":
        return pa.bool_() if fmt == "parquet" else pa.string()
    return {"float": pa.float64(), "int": pa.int64(), "date": pa.date32()}.get(dtype, pa.string())


def numpy_dtype(values: np.ndarray) -> str:
    """Dictionary dtype of a generated column that has no dictionary entry (truth file)."""
    return {"U": "string", "b": "bool", "M": "date", "i": "int"}.get(values.dtype.kind, "float")


def arrow_column(values: np.ndarray, dtype: str, fmt: Format) -> pa.Array:
    """Convert a generated column (missing = NaN, '' or NaT) to Arrow."""
    if dtype in ("string", "category"):
        text = values.astype(str)
        return pa.array(text, type=pa.string(), mask=text == "")
    if dtype == "date":
        return pa.array(values.astype("datetime64[D]"), type=pa.date32(), mask=np.isnat(values))
    numeric = values.astype(np.float64)
    missing = np.isnan(numeric)
    if dtype == "bool":
        flags = numeric > 0.5
        if fmt == "parquet":
            return pa.array(flags, type=pa.bool_(), mask=missing)
        return pa.array(np.where(flags, CSV_TRUE, CSV_FALSE), type=pa.string(), mask=missing)
    if dtype == "int":
        return pa.array(np.where(missing, 0, numeric).astype(np.int64), type=pa.int64(), mask=missing)
    return pa.array(numeric, type=pa.float64(), mask=missing)


def table_columns(table: Table, produced: dict[str, np.ndarray]) -> list[tuple[str, str]]:
    """(column, dtype) of a dictionary table in dictionary order, then produced pattern columns.

    Raises when a required dictionary column was not produced or a produced column is unknown.
    """
    columns: list[tuple[str, str]] = []
    for var in table.variables:
        if var.name in produced:
            columns.append((var.name, var.dtype))
        elif var.required:
            raise KeyError(f"the generator does not produce required column {var.name!r} of table {table.name!r}")
    for name in produced:
        match = table.match(name)
        if match is None:
            raise KeyError(f"column {name!r} is not described by table {table.name!r} of the dictionary")
        if match.regex:
            columns.append((name, match.dtype))
    return columns


class TableSink:
    """Appends blocks of one table to a CSV or Parquet file."""

    def __init__(self, path: Path, columns: list[tuple[str, str]], key: str, fmt: Format) -> None:
        self.path = path
        self.columns = columns
        self.key = key
        self.fmt = fmt
        self.rows = 0
        self.schema = pa.schema(
            [(name, pa.string() if name == key else arrow_type(dtype, fmt)) for name, dtype in columns]
        )
        self._file: BinaryIO | None = None
        self._writer: pa_csv.CSVWriter | pq.ParquetWriter
        if fmt == "parquet":
            self._writer = pq.ParquetWriter(path, self.schema)
        else:
            self._file = path.open("wb")
            self._file.write((",".join(self.schema.names) + "\n").encode("utf-8"))
            options = pa_csv.WriteOptions(include_header=False, quoting_style="none")
            self._writer = pa_csv.CSVWriter(self._file, self.schema, write_options=options)

    def write(self, frame: dict[str, np.ndarray], ids: pa.Array) -> None:
        """Append one block; the key column holds patient indices into ``ids``."""
        arrays = [
            ids.take(pa.array(frame[name].astype(np.int64)))
            if name == self.key
            else arrow_column(frame[name], dtype, self.fmt)
            for name, dtype in self.columns
        ]
        batch = pa.record_batch(arrays, schema=self.schema)
        self._writer.write_batch(batch)
        self.rows += batch.num_rows

    def close(self) -> None:
        self._writer.close()
        if self._file is not None:
            self._file.close()
