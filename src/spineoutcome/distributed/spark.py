"""Batch scoring of a large pre-operative export on Spark, through ``mlflow.pyfunc.spark_udf``.

:func:`score_with_spark` gives, for every row of the export, the same output as scoring in
process (:meth:`~spineoutcome.bundle.ModelBundle.predict` on the raw rows): a calibrated
``probability`` for a valid row, and for a row that breaks the model's input contract no
probability and a ``problem`` naming the column and the rule. No row disappears: rows out =
rows in, each with its key column.

How: a local export file (CSV/TSV/TXT, XLSX, Parquet) is read by the package's one reader
(:func:`spineoutcome.data.reader.open_export`, the reader of ``validate`` and ``score``) and staged
as a text Parquet dataset, so the same bytes give the same rows and row-level faults (a record
with the wrong field count, an unterminated quote, undecodable bytes, a control character) as in
process; a faulty record becomes an output row with an empty key, no probability and the
problem ``line N: <rule>``. A folder of part files or a remote URI (``hdfs://``, ``s3a://``) is
read by Spark itself: CSV as text, Parquet typed. Each partition is conformed to the
model signature by the bundle's own :meth:`~spineoutcome.bundle.InputContract.conform`
(``mapInPandas``: the same code as in process, so the same parsing of missing codes, yes/no
spellings, categories, ranges and whole numbers); the conformed rows go through the model as a
Spark UDF; rows with a contract problem keep that problem and get no probability (the UDF would
have imputed their unusable values).

Integrity: the model is fetched and checked on the driver by the same function as in-process
scoring (:func:`spineoutcome.scoring.fetch_verified`: every file against the digest recorded
outside the folder) before Spark sees it; the expected digest goes to every executor in the model
config, where :meth:`~spineoutcome.bundle.BundleModel.load_context` checks the copy it received
before unpickling. A model without a record is refused unless ``allow_unverified``; its rows then
carry ``integrity`` = UNVERIFIED.

Where it runs: a local Spark (``local[*]``) when no master is configured, or any cluster
(``spark-submit --master ...``, ``master=`` or a session you pass). With ``env_manager="local"``
(default) the executors use their own Python: spineoutcome and its dependencies must be installed
there (``pip install 'spineoutcome[scale]'`` in the cluster image), with a JRE 17+ for Spark 4.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import mlflow

from spineoutcome.bundle.contract import InputContract
from spineoutcome.bundle.integrity import UNVERIFIED
from spineoutcome.bundle.model import FILES
from spineoutcome.scoring.model import fetch_verified

if TYPE_CHECKING:
    import pandas as pd
    from pyspark.sql import DataFrame, SparkSession

_PROBLEM = "__contract_problem"
_READER_PROBLEM = "__reader_problem"
_SCORE = "__score"
BAND_COLUMNS = (("band_low", "double"), ("band_high", "double"))
FLAG_COLUMNS = (("extrapolated", "string"), ("mahalanobis", "double"), ("out_of_distribution", "boolean"))


@dataclass(frozen=True)
class SparkScoreSummary:
    """Counts read back from the written scores: every row has a probability or a problem."""

    output_path: str
    rows: int
    scored: int
    with_problem: int
    seconds: float
    integrity: str = ""


def score_with_spark(
    model_uri: str,
    input_path: str,
    output_path: str,
    spark: SparkSession | None = None,
    *,
    key: str = "patient_id",
    input_format: Literal["csv", "parquet"] | None = None,
    output_format: Literal["parquet", "csv"] = "parquet",
    band: bool = False,
    flags: bool = False,
    partitions: int | None = None,
    overwrite: bool = False,
    master: str | None = None,
    env_manager: str = "local",
    allow_unverified: bool = False,
) -> SparkScoreSummary:
    """Score the export at ``input_path`` with the model at ``model_uri``; write scores to ``output_path``.

    Parameters
    ----------
    model_uri : an MLflow model URI (``models:/c5_palsy@champion``, ``runs:/<id>/model``) resolved
        against the current tracking URI, or a local model directory.
    input_path, output_path : paths or URIs Spark can read and write (local, ``hdfs://``, ``s3a://``).
    spark : a session to use; default: the active one, or a new one (``master`` or ``local[*]``).
    key : the row identifier, copied to the output (read as text). Required in the export.
    input_format : csv (header row, read as text) or parquet; default: from the path's suffix.
    output_format : parquet (default) or csv (with a header).
    band, flags : add the 95 % bootstrap band and the extrapolation / out-of-distribution flags.
    partitions : repartition the export into this many partitions before scoring.
    overwrite : replace ``output_path`` if it exists (default: refuse).
    env_manager : passed to ``mlflow.pyfunc.spark_udf``.
    allow_unverified : accept a model with no digest recorded outside its folder (module docstring).

    Output columns: ``key``, ``probability`` (null when the row has a problem), the band and flag
    columns when asked for, ``problem`` ('' when the row was scored), and ``integrity`` ('verified'
    or UNVERIFIED).
    """
    from pyspark.sql import functions as F

    started = time.perf_counter()
    spark = spark or _session(master)
    with (
        tempfile.TemporaryDirectory(prefix="spineoutcome-spark-") as tmp,
        fetch_verified(model_uri, allow_unverified=allow_unverified) as fetched,
    ):
        contract = InputContract.from_dict(
            json.loads((fetched.bundle_dir / FILES["contract"]).read_text(encoding="utf-8"))
        )
        model_dir = str(fetched.root)
        integrity = "verified" if fetched.verification.verified else UNVERIFIED
        local = Path(input_path)
        if "://" not in input_path and local.is_file():
            staged = stage_export(local, Path(tmp) / "staged.parquet", [key, *contract.names])
            raw = spark.read.parquet(str(staged))
        else:
            raw = _read(spark, input_path, input_format or _format_of(input_path))
        absent = [c for c in [key, *contract.names] if c not in raw.columns]
        if absent:
            raise ValueError(
                f"the export lacks column(s) {absent}: the model needs every predictor column of its "
                f"contract (a value may be empty) and the key column {key!r}"
            )
        reader = [F.col(_READER_PROBLEM)] if _READER_PROBLEM in raw.columns else []
        rows = raw.select(F.col(key).cast("string").alias(key), *[F.col(c) for c in contract.names], *reader)
        if partitions:
            rows = rows.repartition(partitions)
        conformed = rows.mapInPandas(_conformer(contract.to_dict(), key), _conformed_schema(contract, key))
        outputs = [
            ("probability", "double"),
            *(BAND_COLUMNS if band else ()),
            *(FLAG_COLUMNS if flags else ()),
            ("problem", "string"),
        ]
        udf = mlflow.pyfunc.spark_udf(
            spark,
            model_dir,
            result_type=", ".join(f"{n} {t}" for n, t in outputs),
            env_manager=env_manager,
            params={"band": band, "flags": flags},
            model_config=fetched.model_config(),
        )
        scored = conformed.withColumn(_SCORE, udf(F.struct(*[F.col(c) for c in contract.names])))
        valid = F.col(_PROBLEM) == ""
        columns = [F.col(key)]
        for name, kind in outputs[:-1]:
            value = F.col(f"{_SCORE}.{name}")
            if kind == "double":
                value = F.when(F.isnan(value), F.lit(None)).otherwise(value)
            columns.append(F.when(valid, value).alias(name))
        columns.append(
            F.when(valid, F.coalesce(F.col(f"{_SCORE}.problem"), F.lit(""))).otherwise(F.col(_PROBLEM)).alias("problem")
        )
        columns.append(F.lit(integrity).alias("integrity"))
        writer = scored.select(*columns).write.mode("overwrite" if overwrite else "errorifexists")
        if output_format == "csv":
            writer.option("header", True).csv(output_path)
        else:
            writer.parquet(output_path)
    written = _read(spark, output_path, output_format)
    counts = written.agg(
        F.count(F.lit(1)).alias("rows"),
        F.count("probability").alias("scored"),
        F.sum(F.when(F.col("problem") != "", 1).otherwise(0)).alias("with_problem"),
    ).first()
    assert counts is not None  # an aggregate always has one row
    return SparkScoreSummary(
        output_path,
        int(counts["rows"]),
        int(counts["scored"]),
        int(counts["with_problem"] or 0),
        round(time.perf_counter() - started, 3),
        fetched.verification.describe(),
    )


def _session(master: str | None) -> SparkSession:
    from pyspark.sql import SparkSession

    active = SparkSession.getActiveSession()
    if active is not None and master is None:
        return active
    builder = SparkSession.builder.appName("spineoutcome-score")
    if master:
        builder = builder.master(master)
    if not os.environ.get("PYSPARK_PYTHON") and (master or "local").startswith("local"):
        # Local Python workers run the interpreter that runs this, with spineoutcome importable.
        builder = builder.config("spark.pyspark.python", sys.executable)
    return builder.getOrCreate()


def _format_of(path: str) -> str:
    lowered = path.rstrip("/").lower()
    if lowered.endswith((".parquet", ".pq")):
        return "parquet"
    local = Path(path)
    if local.is_dir() and any(local.glob("*.parquet")):
        return "parquet"
    return "csv"


def _read(spark: SparkSession, path: str, fmt: str) -> DataFrame:
    if fmt == "parquet":
        return spark.read.parquet(path)
    if fmt != "csv":
        raise ValueError(f"format must be csv or parquet, got {fmt!r}")
    # Export text as text: no type inference (the contract parses values), RFC 4180 quoting.
    frame = spark.read.options(header=True, inferSchema=False, escape='"', multiLine=False).csv(path)
    return frame.toDF(*[c.lstrip("\ufeff").strip() for c in frame.columns])


def stage_export(path: Path, target: Path, columns: list[str]) -> Path:
    """The export at ``path`` read by the one reader, written to ``target`` as text Parquet.

    Only ``columns`` present in the export are kept, all as strings, plus the reader's problem
    for the records it could not turn into rows (those rows have every other column empty).
    """
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    from spineoutcome.data.reader import ExportReadError, open_export, repeated_columns_message

    export = open_export(path)
    if export.repeated:
        raise ExportReadError(repeated_columns_message(path, export.repeated))
    present = [c for c in dict.fromkeys(columns) if c in export.columns]
    schema = pa.schema([pa.field(c, pa.string()) for c in [*present, _READER_PROBLEM]])
    with pq.ParquetWriter(target, schema) as writer:
        for chunk in export.chunks(present, 100_000):
            table = {c: chunk.frame[c].to_numpy(dtype=object) for c in present}
            table[_READER_PROBLEM] = np.full(len(chunk), "", dtype=object)
            writer.write_table(pa.table(table, schema=schema))
            if len(chunk.faults):
                faults = chunk.faults
                problems = [f"line {line}: {rule}" for line, rule in zip(faults["line"], faults["rule"], strict=True)]
                empty = np.full(len(faults), "", dtype=object)
                writer.write_table(pa.table({**{c: empty for c in present}, _READER_PROBLEM: problems}, schema=schema))
    return target


def _conformed_schema(contract: InputContract, key: str) -> str:
    fields = [f"`{key}` string"]
    fields += [f"`{p.name}` {'string' if p.mlflow_type == 'string' else 'double'}" for p in contract.predictors]
    fields.append(f"`{_PROBLEM}` string")
    return ", ".join(fields)


def _conformer(contract_doc: dict[str, Any], key: str):
    """A mapInPandas function: each batch conformed by the bundle's contract (module docstring)."""

    def conform(batches: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        import numpy as np

        from spineoutcome.bundle.contract import InputContract

        contract = InputContract.from_dict(contract_doc)
        for batch in batches:
            frame, problems = contract.conform(batch)
            frame.insert(0, key, batch[key].to_numpy())
            found = problems.to_numpy(dtype=object)
            if _READER_PROBLEM in batch:
                reader = batch[_READER_PROBLEM].fillna("").to_numpy(dtype=object)
                found = np.where(reader != "", reader, found)
            frame[_PROBLEM] = found
            yield frame

    return conform
