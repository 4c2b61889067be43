"""MLflow records of the lifecycle commands: validation and monitoring runs linked to the model version,
and the registration of an updated model as a new version with its lineage.

Runs go to the experiment of the model's task (as development runs do), tagged with the kind of
run and the registered model and version they concern; the model version gets a tag naming the run,
so each is found from the other. Only aggregates are logged (the Evidence record and metrics read
from it), never a patient's row.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import mlflow
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException
from mlflow.tracking import is_tracking_uri_set

from spineoutcome.bundle import ModelBundle, log_bundle
from spineoutcome.config import mask_secrets
from spineoutcome.scoring.model import quiet_downloads
from spineoutcome.tracking import DEFAULT_TRACKING_URI, scalar_metrics

KIND_TAG = "spineoutcome.kind"
MODEL_TAG = "spineoutcome.model"
VERSION_TAG = "spineoutcome.model_version"


def use_store(tracking_uri: str | None) -> str:
    """Set the tracking store as the other commands do (argument, MLFLOW_TRACKING_URI, sqlite:///mlruns.db)."""
    if tracking_uri:
        mlflow.set_tracking_uri(tracking_uri)
    elif not is_tracking_uri_set():
        mlflow.set_tracking_uri(DEFAULT_TRACKING_URI)
    return mlflow.get_tracking_uri()


def registered_name(uri: str) -> str | None:
    """The registered model's name in a ``models:/<name>/<version>`` or ``models:/<name>@<alias>`` URI."""
    if not uri.startswith("models:/"):
        return None
    head = uri.removeprefix("models:/").split("/")[0]
    return None if head.startswith("m-") else head.split("@")[0]


def _link(model: dict[str, Any], run_id: str, kind: str, summary: str) -> None:
    """Tag the run with the model version, and the model version with the run."""
    name, version = registered_name(str(model.get("uri"))), model.get("version")
    mlflow.set_tags(
        {
            KIND_TAG: kind,
            MODEL_TAG: name or str(model.get("uri")),
            VERSION_TAG: str(version or ""),
            "spineoutcome.development_run": str(model.get("evidence_run_id") or ""),
            "spineoutcome.bundle_sha256": str(model.get("model_sha256") or ""),
        }
    )
    if name and version:
        try:
            MlflowClient().set_model_version_tag(name, str(version), f"{kind}.{run_id}", summary[:5000])
        except MlflowException:
            mlflow.set_tag("spineoutcome.link", "the model version could not be tagged with this run")


def _log_record(record: dict[str, Any], filename: str, artifacts: list[Path]) -> None:
    mlflow.log_text(mask_secrets(json.dumps(record, indent=1, allow_nan=False)), filename)
    for path in artifacts:
        if path.is_file():
            mlflow.log_artifact(str(path), "figures" if path.suffix.lower() == ".png" else None)


def log_validation(
    record: dict[str, Any], *, tracking_uri: str | None, filename: str, artifacts: list[Path] = ()
) -> str:
    """A validation run: site metrics (``site_*``), development estimates beside them (``development_*``),
    sample size and case-mix numbers; the record and the report as artifacts. Returns the run id."""
    use_store(tracking_uri)
    model = record["model"]
    mlflow.set_experiment(str(model.get("task")))
    with mlflow.start_run(run_name=f"validation-{record['site']['data_digest'][:8]}") as run:
        metrics = {
            **scalar_metrics(record.get("evaluation") or {}, "site"),
            **scalar_metrics({k: v for k, v in record["site"].items() if k != "surgery_period"}, "data"),
            **scalar_metrics(
                {
                    "required_n": record["sample_size"]["required_n"],
                    "required_events": record["sample_size"]["required_events"],
                    "enough": int(record["sample_size"]["enough"]),
                },
                "sample_size",
            ),
            **scalar_metrics(
                {
                    "linear_predictor": record["casemix"]["linear_predictor"],
                    "membership_c": (record["casemix"].get("membership") or {}).get("c_statistic"),
                },
                "casemix",
            ),
        }
        for row in record["comparison"]:
            if isinstance(row.get("development"), dict) and row["development"].get("value") is not None:
                metrics.update(scalar_metrics({"development": {row["measure"]: row["development"]["value"]}}))
        mlflow.log_metrics(metrics)
        mlflow.log_params(
            {
                "thresholds": ",".join(f"{t:g}" for t in record["settings"]["thresholds"]),
                "n_boot": record["settings"]["n_boot"],
                "seed": record["settings"]["seed"],
                "outcome_definition": f"{record['outcome_definition'].get('name')} "
                f"{record['outcome_definition'].get('version')}",
            }
        )
        mlflow.set_tag("spineoutcome.site_data_digest", record["site"]["data_digest"])
        oe = ((record.get("evaluation") or {}).get("calibration") or {}).get("oe_ratio") or {}
        summary = (
            f"external validation, n {record['site']['n']}, events {record['site']['events']}, "
            f"O:E {oe.get('value', float('nan')):.3f}"
            if oe
            else "external validation: too few events"
        )
        _link(model, run.info.run_id, "validation", summary)
        _log_record(record, filename, list(artifacts))
        return run.info.run_id


def log_update(
    record: dict[str, Any],
    bundle: ModelBundle,
    development_evidence: dict[str, Any],
    *,
    tracking_uri: str | None,
    filename: str,
    alias: str | None,
    artifacts: list[Path] = (),
) -> tuple[str, str | None]:
    """An update run: the updated bundle registered as a new version of the parent's registered model
    (its lineage as version tags), the update record, and the parent's development Evidence as
    ``evidence.json`` (the bundle's thresholds and subgroup settings come from it when scoring).
    Returns the run id and the new version (None when the parent is not a registered model)."""
    use_store(tracking_uri)
    parent = record["parent"]
    name = registered_name(str(parent.get("uri")))
    mlflow.set_experiment(str(parent.get("task")))
    with mlflow.start_run(run_name=f"update-{record['method']}-{record['site']['data_digest'][:8]}") as run:
        mlflow.log_text(mask_secrets(json.dumps(development_evidence, indent=1, allow_nan=False)), "evidence.json")
        with quiet_downloads():
            info = log_bundle(bundle, registered_model_name=name)
        version = str(info.registered_model_version) if name and info.registered_model_version else None
        mlflow.log_params(
            {
                "method": record["method"],
                "requested_method": record["requested_method"],
                "parent_version": str(parent.get("version") or ""),
                "parent_uri": str(parent.get("uri")),
            }
        )
        mlflow.log_metrics(scalar_metrics(record["validation"], "update"))
        _link(parent, run.info.run_id, "update", f"updated by {record['method']} into version {version}")
        mlflow.set_tag("spineoutcome.site_data_digest", record["site"]["data_digest"])
        if version is not None:
            client = MlflowClient()
            for key, value in record["lineage"].items():
                client.set_model_version_tag(name, version, f"lineage.{key}", str(value))
            if alias:
                client.set_registered_model_alias(name, alias, version)
        _log_record(
            {**record, "registry": {"model": name, "version": version, "alias": alias}}, filename, list(artifacts)
        )
        return run.info.run_id, version


def log_monitoring(
    record: dict[str, Any], *, tracking_uri: str | None, filename: str, artifacts: list[Path] = ()
) -> str:
    """A monitoring run: PSI per predictor, out-of-distribution share, O:E, CITL and slope as metrics
    stepped by period (step = the period's position), with the period labels as a parameter."""
    use_store(tracking_uri)
    model = record["model"]
    mlflow.set_experiment(str(model.get("task")))
    with mlflow.start_run(run_name=f"monitoring-{record['run_id'][:8]}") as run:
        labels = [p["period"] for p in record["periods"]]
        mlflow.log_param("periods", ",".join(labels)[:6000])
        for step, period in enumerate(record["input_drift"]):
            metrics = {"ood_share": period.get("ood_share"), "n_scored": period.get("n")}
            metrics.update({f"psi_{name}": value for name, value in (period.get("psi") or {}).items()})
            mlflow.log_metrics({k: float(v) for k, v in metrics.items() if v is not None}, step=step)
        for row in record.get("performance") or []:
            step = labels.index(row["period"]) if row["period"] in labels else len(labels)
            mlflow.log_metrics(
                scalar_metrics({k: row.get(k) for k in ("oe_ratio", "citl", "slope")}, "perf"), step=step
            )
        cusum = record.get("cusum") or {}
        mlflow.set_tag("spineoutcome.recalibration_due", str(bool(cusum.get("signal"))).lower())
        _link(
            model,
            run.info.run_id,
            "monitoring",
            f"{len(labels)} period(s); recalibration due: {bool(cusum.get('signal'))}",
        )
        _log_record(record, filename, list(artifacts))
        return run.info.run_id
