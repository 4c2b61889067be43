"""MLflow tracking of an experiment: it reads the Evidence and the fitted models, and changes neither.

What lands where (one call of :func:`log_run`):

- **parent run** (the active run, the run ``mlflow run`` started, or a new run in an experiment
  named after the task): the flattened pipeline configuration as params; tags for the task,
  outcome definition, data digest, dictionary, best family, package version and git commit; the
  selected family's metrics plus data, sample-size and timing metrics; ``evidence.json``; the
  figures and PDFs in ``artifacts_dir`` (same folder layout); the analysed data set as an MLflow
  dataset input (digest and schema, no rows); the model bundle (``model``, registered under the
  task's name) with ``gates.json`` and the promotion decision as tags.
- **one nested run per model family**: hyperparameters as params; every scalar metric of the
  family's Evidence (``cv_auc``, ``cv_auc_ci_low``, ``cv_auc_ci_high``, ``cv_calibration_slope``,
  ``cv_ici``, ``cv_net_benefit_t0.1``, ``optimism_corrected_auc``, ``iecv_pooled_auc``,
  ``iecv_pooled_logit_auc_tau2``, ``vs_logistic_auc_delong_difference``, ...); per-repeat
  cross-validation metrics as steps (``cv_repeat_auc``).
- **nested under each family run**: one run per Optuna study (each outer development fold and the
  final model: best parameters, best value, trial counts), one run per centre of the
  internal-external validation, and one run with the subgroup metrics.

Privacy: only aggregates are logged, and only after the disclosure rules
(:func:`spineoutcome.privacy.disclose`: small cells suppressed, no exact extremes, ages capped at
90), applied once to the Evidence before anything is logged, so every metric, tag and
``evidence.json`` follows them. Patient keys and rows never reach MLflow: params come from the
configuration, metrics and evidence.json from the Evidence (aggregates by construction), the
dataset input carries a schema and a digest, the model carries no input example, and from
``artifacts_dir`` only figures and PDFs are taken (a CSV there may hold rows). Passwords in URLs
(an Optuna PostgreSQL storage) are masked (:mod:`spineoutcome.credentials`).
"""

from __future__ import annotations

import json
import math
import re
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path, PurePosixPath
from typing import Any

import mlflow
import pandas as pd
from mlflow import MlflowClient
from mlflow.data.code_dataset_source import CodeDatasetSource
from mlflow.data.meta_dataset import MetaDataset
from mlflow.entities import Run
from mlflow.environment_variables import MLFLOW_RUN_ID
from mlflow.tracking import is_tracking_uri_set
from mlflow.types.schema import ColSpec, Schema
from mlflow.utils.validation import MAX_PARAM_VAL_LENGTH, MAX_TAG_VAL_LENGTH

from spineoutcome import __version__
from spineoutcome.bundle import ENSEMBLE_SIZE, Gates, build_bundle, check_gates, log_bundle, net_benefit_at
from spineoutcome.config import PipelineConfig
from spineoutcome.credentials import mask_secrets
from spineoutcome.evidence import Evidence, FamilyEvidence
from spineoutcome.experiment import ExperimentResult
from spineoutcome.privacy import age_variables, disclose

DEFAULT_TRACKING_URI = "sqlite:///mlruns.db"
CHAMPION_ALIAS = "champion"
LOGGED_SUFFIXES = frozenset({".png", ".svg", ".pdf"})
SECTIONS = {
    "cross_validation": "cv",
    "optimism": "optimism",
    "internal_external": "iecv",
    "temporal": "temporal",
    "comparison_to_logistic": "vs_logistic",
    "shap": "shap",
}
# Levels of the Evidence that group metrics without adding meaning to their names.
_GROUPING = frozenset(
    {
        "discrimination",
        "overall",
        "calibration_curve",
        "classification",
        "rows",
        "decision_curve",
        "heterogeneity",
        "evaluation",
        "estimate",
    }
)
_NOT_METRICS = frozenset(
    {"level", "n_boot", "n_boot_valid", "seed", "settings", "min_events", "min_non_events", "binned", "example", "roc"}
)
# A list of records becomes one metric per record, named by this field (e.g. ``_t0.1``).
_RECORD_KEYS = {"threshold": "t", "variable": ""}
_ESTIMATE_PARTS = (("value", ""), ("ci_low", "_ci_low"), ("ci_high", "_ci_high"))
_COMPARISONS = (("<=", "le"), (">=", "ge"), ("<", "lt"), (">", "gt"))


def log_run(
    result: ExperimentResult,
    *,
    tracking_uri: str | None = None,
    experiment_name: str | None = None,
    register: bool = True,
    gates: Gates | None = None,
    artifacts_dir: str | Path | None = None,
    ensemble_size: int = ENSEMBLE_SIZE,
) -> str:
    """Log an experiment to MLflow (module docstring) and return the parent run's id.

    Tracking store: ``tracking_uri``, else the one already configured (``MLFLOW_TRACKING_URI``,
    :func:`mlflow.set_tracking_uri`, or that of an active run), else ``sqlite:///mlruns.db``
    with artifacts in ``./mlruns`` (MLflow's default for a SQLite store); the choice stays set
    for the process, so ``models:/`` URIs resolve against it afterwards. An active run, or the run named by
    ``MLFLOW_RUN_ID`` (``mlflow run`` sets it), becomes the parent; otherwise a run is started
    in ``experiment_name`` (default: the task's name).

    For a binary outcome the selected family becomes a model bundle (``ensemble_size`` bootstrap
    refits for its uncertainty band), registered under the task's name when ``register``; the
    version gets the alias ``champion`` only if it passes ``gates`` (default :class:`Gates`).
    """
    ages = age_variables(getattr(result.best_model, "dictionary", None))
    result = ExperimentResult(disclose(result.evidence, ages=ages), result.models, result.task)
    evidence = result.evidence
    configured = is_tracking_uri_set() or mlflow.active_run() is not None
    mlflow.set_tracking_uri(tracking_uri or (mlflow.get_tracking_uri() if configured else DEFAULT_TRACKING_URI))
    with _parent_run(experiment_name or evidence.task["name"], f"{evidence.task['name']}-{evidence.run_id[:8]}") as run:
        _log_experiment(result, artifacts_dir)
        for record in evidence.families.values():
            _log_family(record, evidence)
        if evidence.task["kind"] == "binary":
            _log_model(result, register=register, gates=gates, ensemble_size=ensemble_size)
        else:
            kind = evidence.task["kind"]
            mlflow.set_tag("bundle", f"not built: a bundle predicts a binary outcome, this one is {kind}")
        return run.info.run_id


@contextmanager
def _parent_run(experiment_name: str, run_name: str) -> Iterator[Run]:
    """The active run (left open), the ``MLFLOW_RUN_ID`` run, or a new run in ``experiment_name``."""
    active = mlflow.active_run()
    if active is not None:
        yield active
        return
    if MLFLOW_RUN_ID.get():
        with mlflow.start_run() as run:
            yield run
        return
    mlflow.set_experiment(experiment_name)
    with mlflow.start_run(run_name=run_name) as run:
        yield run


def _log_experiment(result: ExperimentResult, artifacts_dir: str | Path | None) -> None:
    evidence = result.evidence
    mlflow.log_params(config_params(evidence.pipeline))
    mlflow.set_tags(_run_tags(evidence))
    best = evidence.families[evidence.best_family]
    mlflow.log_metrics({**family_metrics(best, evidence.pipeline["thresholds"]), **experiment_metrics(evidence)})
    record = {**evidence.to_dict(), "privacy": disclose({})["privacy"]}
    mlflow.log_text(mask_secrets(json.dumps(record, indent=1, allow_nan=False)), "evidence.json")
    mlflow.log_input(_dataset(evidence, result.task.X), context="training")
    if artifacts_dir is not None:
        for path in sorted(Path(artifacts_dir).rglob("*")):
            if path.is_file() and path.suffix.lower() in LOGGED_SUFFIXES:
                folder = path.relative_to(artifacts_dir).parent.parts
                mlflow.log_artifact(str(path), str(PurePosixPath(*folder)) if folder else None)


def _run_tags(evidence: Evidence) -> dict[str, str]:
    definition = evidence.task["outcome_definition"]
    dictionary = evidence.data["dictionary"]
    tags = {
        "task": evidence.task["name"],
        "outcome": evidence.task["outcome"],
        "outcome_definition": f"{definition.get('name')} {definition.get('version')}",
        "data_digest": evidence.data["digest"],
        "dictionary": f"{dictionary['name']} {dictionary['version']}",
        "best_family": evidence.best_family,
        "spineoutcome_version": __version__,
        "evidence_run_id": evidence.run_id,
        "mlflow.note.content": evidence.task["description"][:MAX_TAG_VAL_LENGTH],
    }
    commit = git_commit()
    if commit:
        tags["git_commit"] = commit
    return tags


def _log_family(record: FamilyEvidence, evidence: Evidence) -> None:
    with mlflow.start_run(run_name=record.family, nested=True):
        mlflow.set_tags(
            {
                "task": evidence.task["name"],
                "family": record.family,
                "best": str(record.family == evidence.best_family).lower(),
            }
        )
        spec = record.specification
        mlflow.log_params(
            {
                **_prefixed("model", spec.get("hyperparameters", {})),
                **_prefixed("preprocess", spec.get("preprocessing", {})),
            }
        )
        mlflow.log_metrics(family_metrics(record, evidence.pipeline["thresholds"]))
        for step, repeat in enumerate(record.cv_repeats):
            mlflow.log_metrics({f"cv_repeat_{k}": v for k, v in repeat.items() if _is_number(v)}, step=step)
        for label, study in _studies(record, evidence.pipeline["validation"]["folds"]):
            with mlflow.start_run(run_name=f"{record.family} tuning: {label}", nested=True):
                _log_study(study, label)
        iecv = record.internal_external or {}
        for centre in iecv.get("heterogeneity", {}).get("centres", []):
            with mlflow.start_run(run_name=f"{record.family} IECV: centre {centre['centre']}", nested=True):
                mlflow.set_tags({"family": record.family, "centre": centre["centre"], "status": centre["status"]})
                mlflow.log_metrics(scalar_metrics({k: v for k, v in centre.items() if k != "centre"}))
        if record.subgroups:
            with mlflow.start_run(run_name=f"{record.family} subgroups", nested=True):
                mlflow.set_tag("family", record.family)
                mlflow.log_metrics(subgroup_metrics(record.subgroups))


def _studies(record: FamilyEvidence, folds: int) -> Iterator[tuple[str, dict[str, Any]]]:
    """Optuna studies that ran, labelled by fit: the outer folds in order, then the final model."""
    last = len(record.tuning) - 1
    for i, study in enumerate(record.tuning):
        if study.get("n_trials"):
            yield ("final model" if i == last else f"repeat {i // folds + 1} fold {i % folds + 1}"), study


def _log_study(study: dict[str, Any], label: str) -> None:
    mlflow.set_tags(
        {
            "family": study["family"],
            "fit": label,
            **{k: mask_secrets(str(study[k])) for k in ("study_name", "storage", "metric", "sampler", "inner_cv")},
        }
    )
    mlflow.log_params({k: _param_value(v) for k, v in study["best_params"].items()})
    mlflow.log_metrics(
        {
            k: study[k]
            for k in ("best_value", "n_trials", "n_complete", "n_pruned", "n_failed", "elapsed_seconds")
            if _is_number(study.get(k))
        }
    )


def _log_model(result: ExperimentResult, *, register: bool, gates: Gates | None, ensemble_size: int) -> None:
    """Log the bundle; register it, and move ``champion`` to it only when it passes the gates."""
    evidence = result.evidence
    decision = check_gates(evidence, gates)
    name = evidence.task["name"]
    logged = log_bundle(
        build_bundle(result, ensemble_size=ensemble_size), registered_model_name=name if register else None
    )
    version = logged.registered_model_version
    promoted = register and decision.passed
    if register:
        client = MlflowClient()
        client.set_model_version_tag(name, str(version), "gates_passed", str(decision.passed).lower())
        client.set_model_version_tag(name, str(version), "data_digest", evidence.data["digest"])
        if promoted:
            client.set_registered_model_alias(name, CHAMPION_ALIAS, str(version))
    mlflow.set_tags(
        {
            "gates_passed": str(decision.passed).lower(),
            "gates_decision": decision.summary(),
            "champion": str(promoted).lower(),
        }
    )
    registry = {
        "registered": register,
        "model": name if register else None,
        "version": version,
        "alias": CHAMPION_ALIAS if promoted else None,
    }
    mlflow.log_dict({**decision.to_dict(), "registry": registry}, "gates.json")


def config_params(pipeline: dict[str, Any]) -> dict[str, str]:
    """The pipeline configuration as dotted MLflow params (``tuning.n_trials``), passwords masked."""
    return {key: _param_value(value) for key, value in PipelineConfig.model_validate(pipeline).flat().items()}


def family_metrics(record: FamilyEvidence, thresholds: list[float]) -> dict[str, float]:
    """Every scalar metric of one family's Evidence, CI bounds as their own metrics (module docstring)."""
    metrics: dict[str, float] = {}
    for section, prefix in SECTIONS.items():
        node = getattr(record, section)
        if node:
            metrics |= scalar_metrics(node, prefix)
    if "classification" in record.cross_validation:
        for t in thresholds:
            model, treat_all = net_benefit_at(record.cross_validation, t)
            metrics[_name("cv_net_benefit", f"t{t:g}")] = model
            metrics[_name("cv_net_benefit_treat_all", f"t{t:g}")] = treat_all
    if record.instability:
        metrics |= instability_metrics(record.instability)
    metrics["seconds"] = record.seconds
    return metrics


def instability_metrics(record: dict[str, Any]) -> dict[str, float]:
    """Prediction instability (Riley & Collins 2023): overall MAPE, the share of patients whose risk
    could differ by more than the record's difference, and the mean classification instability index
    at each threshold (``instability_cii_t0.1``)."""
    out: dict[str, float] = {}
    _put(out, "instability_mape", record.get("mape"))
    _put(out, "instability_share_beyond_difference", record.get("share_beyond_difference"))
    for row in record.get("classification") or []:
        _put(out, _name("instability_cii", f"t{row['threshold']:g}"), row.get("mean"))
    return out


def experiment_metrics(evidence: Evidence) -> dict[str, float]:
    """Data, sample-size and timing numbers of the run."""
    data = {k: evidence.data[k] for k in ("n", "events", "prevalence", "centres")}
    return {
        **scalar_metrics(data, "data"),
        **scalar_metrics(evidence.sample_size, "sample_size"),
        **scalar_metrics(evidence.timings, "seconds"),
        **comparator_metrics(evidence),
    }


def comparator_metrics(evidence: Evidence) -> dict[str, float]:
    """A few numbers per clinical comparator: its AUC, the model-minus-comparator AUC (DeLong) and P, for a
    rule its sensitivity, specificity and share flagged, and at every threshold its net benefit and the
    model-minus-comparator difference with its interval (``comparator_K-line_-_net_benefit_difference_t0.1``)."""
    out: dict[str, float] = {}
    for comparator in (evidence.comparators or {}).get("comparators") or []:
        result = comparator.get("result") or {}
        prefix = _name("comparator", comparator["name"])
        auc = result.get("auc") or {}
        picked = {
            "auc": auc.get("auc_b"),
            "auc_delong_difference": auc.get("difference"),
            "auc_delong_p": auc.get("p_value"),
            "share_flagged": result.get("share_flagged"),
        }
        if comparator.get("kind") == "rule":
            row = (result.get("classification") or [{}])[0]
            picked |= {"sensitivity": row.get("sensitivity"), "specificity": row.get("specificity")}
        rows = result.get("net_benefit") or []
        picked["net_benefit"] = [{"threshold": r["threshold"], "net_benefit": r["comparator"]} for r in rows]
        picked["net_benefit_difference"] = [{"threshold": r["threshold"], **r["difference"]} for r in rows]
        out |= scalar_metrics({k: v for k, v in picked.items() if v is not None}, prefix)
    return out


def scalar_metrics(node: Any, prefix: str = "") -> dict[str, float]:
    """Numbers in a nested Evidence record, named by their path.

    Estimates ``{value, ci_low, ci_high, ...}`` give ``name``, ``name_ci_low``, ``name_ci_high``;
    records listed by threshold or variable give one metric each (``sensitivity_t0.1``); a
    two-number ``*_interval`` gives ``_low`` and ``_high``; curves (other lists) are left to
    evidence.json.
    """
    out: dict[str, float] = {}

    def walk(value: Any, path: tuple[str, ...], suffix: str) -> None:
        if isinstance(value, dict):
            if "value" in value and "ci_low" in value:
                for key, ending in _ESTIMATE_PARTS:
                    _put(out, _name(*path, suffix) + ending, value[key])
                return
            for key, child in value.items():
                if key not in _NOT_METRICS:
                    walk(child, path if key in _GROUPING else (*path, key), suffix)
        elif isinstance(value, list):
            if path and path[-1].endswith("interval") and len(value) == 2 and all(map(_is_number, value)):
                _put(out, _name(*path, suffix) + "_low", value[0])
                _put(out, _name(*path, suffix) + "_high", value[1])
            for item in value:
                key = next((k for k in _RECORD_KEYS if isinstance(item, dict) and k in item), None)
                if key is not None:
                    label = item[key]
                    tag = f"{_RECORD_KEYS[key]}{label:g}" if _is_number(label) else str(label)
                    walk({k: v for k, v in item.items() if k != key}, path, f"{suffix}_{tag}")
        else:
            _put(out, _name(*path, suffix), value)

    walk(node, (prefix,) if prefix else (), "")
    return out


def subgroup_metrics(rows: list[dict[str, Any]]) -> dict[str, float]:
    """``<grouping>_<group>_<metric>`` with CI and difference from the overall value; n and events per group."""
    out: dict[str, float] = {}
    for row in rows:
        group = (row["grouping"], row["group"])
        _put(out, _name(*group, "n"), row["n"])
        _put(out, _name(*group, "n_events"), row["n_events"])
        for key in ("estimate", "ci_low", "ci_high", "difference", "difference_ci_low", "difference_ci_high"):
            _put(out, _name(*group, row["metric"], *([] if key == "estimate" else [key])), row.get(key))
    return out


def git_commit(cwd: str | Path | None = None) -> str | None:
    """HEAD of the git repository containing ``cwd`` (default: the working directory), or None."""
    try:
        done = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=cwd, check=False, capture_output=True, text=True, timeout=10
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout.strip() if done.returncode == 0 else None


def _dataset(evidence: Evidence, X: pd.DataFrame) -> MetaDataset:
    """The analysed data as an MLflow dataset: digest and schema (types as in the model signature), no rows."""
    schema = Schema(
        [
            ColSpec("string" if isinstance(dtype, pd.CategoricalDtype) else "double", str(name))
            for name, dtype in X.dtypes.items()
        ]
    )
    data = evidence.data
    source = CodeDatasetSource(
        {
            "dictionary": f"{data['dictionary']['name']} {data['dictionary']['version']}",
            "n": data["n"],
            "events": data["events"],
            "centres": data["centres"],
        }
    )
    # The tracking schema stores dataset digests of at most 36 characters; the full digest is a run tag.
    return MetaDataset(source, name=f"{evidence.task['name']}-analysis-data", digest=data["digest"][:36], schema=schema)


def _prefixed(prefix: str, values: dict[str, Any]) -> dict[str, str]:
    return {f"{prefix}.{k}": _param_value(v) for k, v in values.items()}


def _param_value(value: Any) -> str:
    return mask_secrets(str(value))[:MAX_PARAM_VAL_LENGTH]


def _name(*parts: str) -> str:
    """A metric name from path parts joined by '_': a repeated part once, comparison signs as words
    (``<65`` -> ``lt65``), other characters MLflow refuses as '_'."""
    kept: list[str] = []
    for part in parts:
        part = str(part)
        for sign, word in _COMPARISONS:
            part = part.replace(sign, word)
        part = re.sub(r"[^\w./-]", "_", part).strip("_")
        if part and (not kept or kept[-1] != part):
            kept.append(part)
    return "_".join(kept)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _put(out: dict[str, float], name: str, value: Any) -> None:
    if _is_number(value):
        out[name] = float(value)
