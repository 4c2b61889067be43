"""Scale beyond one machine (DESIGN.md): several Optuna workers on one PostgreSQL study, a shared
MLflow tracking server, and batch scoring of very large exports on Spark.

- :mod:`.workers`: :func:`tuning_plan` (a pipeline's tuned fits, as ``train`` runs them) and
  :func:`run_worker` (join those studies in a shared storage);
- :mod:`.spark`: :func:`score_with_spark` (``mlflow.pyfunc.spark_udf``; needs pyspark and a JRE 17+,
  imported on first use);
- :mod:`.command`: the ``worker``, ``optuna-init`` and ``spark-score`` commands.

The tracking server needs no code here: ``log_run(result, tracking_uri="http://host:port")`` and
``models:/`` URIs work against it unchanged (``scripts/mlflow_server.sh``, ``docs/scale.md``).
"""

from __future__ import annotations

from typing import Any

from spineoutcome.distributed.workers import (
    STAGES,
    StorageError,
    TuningFit,
    WorkerReport,
    prepare_storage,
    run_worker,
    tuning_plan,
)

__all__ = [
    "STAGES",
    "SparkScoreSummary",
    "StorageError",
    "TuningFit",
    "WorkerReport",
    "prepare_storage",
    "run_worker",
    "score_with_spark",
    "tuning_plan",
]


def __getattr__(name: str) -> Any:
    if name in ("score_with_spark", "SparkScoreSummary"):
        from spineoutcome.distributed import spark

        return getattr(spark, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
