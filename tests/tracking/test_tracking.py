"""log_run against a temporary SQLite store: runs, metrics, artifacts, dataset, registry, privacy."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from pathlib import Path

import mlflow
import numpy as np
import pytest
from mlflow import MlflowClient
from mlflow.entities import Run

import spineoutcome
from spineoutcome import __version__
from spineoutcome.bundle import net_benefit_at
from spineoutcome.dictionary import builtin_dictionary_dir, builtin_pipelines_dir
from spineoutcome.privacy import disclose
from spineoutcome.tracking import CHAMPION_ALIAS, git_commit

from .conftest import Experiment, Store, raw_export_rows

TASK = "c5_palsy"
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def client(store: Store) -> MlflowClient:
    mlflow.set_tracking_uri(store.uri)
    return MlflowClient(store.uri)


def children(client: MlflowClient, run: Run) -> dict[str, Run]:
    found = client.search_runs([run.info.experiment_id], f"tags.mlflow.parentRunId = '{run.info.run_id}'")
    return {r.info.run_name: r for r in found}


def test_parent_run_has_config_params_and_descriptive_tags(
    client: MlflowClient, store: Store, experiment: Experiment
) -> None:
    run = client.get_run(store.champion_run)
    evidence = experiment.result.evidence
    assert run.data.params["name"] == TASK
    assert run.data.params["tuning.n_trials"] == "2"
    assert run.data.params["families"] == "logistic,xgboost"
    tags = run.data.tags
    assert tags["task"] == TASK and tags["outcome"] == "c5_palsy"
    assert tags["outcome_definition"].startswith("c5_palsy ")
    assert tags["data_digest"] == evidence.data["digest"]
    assert tags["best_family"] == evidence.best_family
    assert tags["spineoutcome_version"] == __version__
    assert "git_commit" not in tags  # logged from a folder outside any git repository, without failing
    assert run.data.metrics["data_n"] == evidence.data["n"]


def test_git_commit_is_read_from_a_repository_and_absent_elsewhere(tmp_path: Path) -> None:
    assert len(git_commit(REPO)) == 40
    assert git_commit(tmp_path) is None


def test_nested_runs_per_family_study_centre_and_subgroups(
    client: MlflowClient, store: Store, experiment: Experiment
) -> None:
    parent = client.get_run(store.champion_run)
    families = children(client, parent)
    assert set(families) == {"logistic", "xgboost"}
    assert families[experiment.result.evidence.best_family].data.tags["best"] == "true"
    xgb = children(client, families["xgboost"])
    assert {
        "xgboost tuning: repeat 1 fold 1",
        "xgboost tuning: repeat 1 fold 3",
        "xgboost tuning: final model",
        "xgboost subgroups",
    } <= set(xgb)
    final = xgb["xgboost tuning: final model"]
    study = experiment.result.evidence.families["xgboost"].tuning[-1]
    assert final.data.metrics["n_trials"] == 2
    assert final.data.metrics["best_value"] == pytest.approx(study["best_value"])
    assert final.data.params["max_depth"] == str(study["best_params"]["max_depth"])
    centres = [r for name, r in xgb.items() if name.startswith("xgboost IECV: centre ")]
    assert len(centres) == len(
        experiment.result.evidence.families["xgboost"].internal_external["heterogeneity"]["centres"]
    )
    assert all("auc" in r.data.metrics for r in centres if r.data.tags["status"] == "ok")
    assert not any(name.startswith("logistic tuning") for name in children(client, families["logistic"]))


def test_metrics_equal_the_evidence(client: MlflowClient, store: Store, experiment: Experiment) -> None:
    evidence = experiment.result.evidence
    families = children(client, client.get_run(store.champion_run))
    for family, record in evidence.families.items():
        metrics = families[family].data.metrics
        auc = record.cross_validation["discrimination"]["auc"]
        assert metrics["cv_auc"] == auc["value"]
        assert metrics["cv_auc_ci_low"] == auc["ci_low"] and metrics["cv_auc_ci_high"] == auc["ci_high"]
        assert metrics["cv_calibration_slope"] == record.cross_validation["calibration"]["slope"]["value"]
        assert metrics["cv_ici"] == record.cross_validation["calibration_curve"]["ici"]["value"]
        assert metrics["optimism_corrected_auc"] == record.optimism["corrected"]["auc"]
        assert metrics["iecv_pooled_auc"] == record.internal_external["heterogeneity"]["pooled_auc"]["value"]
        assert (
            metrics["iecv_pooled_logit_auc_tau2"]
            == record.internal_external["heterogeneity"]["pooled"]["logit_auc"]["tau2"]
        )
        assert metrics["cv_net_benefit_t0.1"] == net_benefit_at(record.cross_validation, 0.1)[0]
        history = client.get_metric_history(families[family].info.run_id, "cv_repeat_auc")
        assert [m.value for m in history] == [r["auc"] for r in record.cv_repeats]
    xgb = evidence.families["xgboost"].comparison_to_logistic
    assert (
        families["xgboost"].data.metrics["vs_logistic_auc_delong_difference"]
        == xgb["auc_delong"]["difference"]["value"]
    )
    best = evidence.families[evidence.best_family].cross_validation
    assert client.get_run(store.champion_run).data.metrics["cv_auc"] == best["discrimination"]["auc"]["value"]


def test_net_benefit_at_a_threshold_is_the_decision_curve_value(experiment: Experiment) -> None:
    for record in experiment.result.evidence.families.values():
        curve = record.cross_validation["decision_curve"]
        for t in experiment.result.evidence.pipeline["thresholds"]:
            i = int(np.argmin(np.abs(np.asarray(curve["thresholds"]) - t)))
            model, treat_all = net_benefit_at(record.cross_validation, t)
            assert model == pytest.approx(curve["nb_model"][i], abs=1e-12)
            assert treat_all == pytest.approx(curve["nb_all"][i], abs=1e-12)


def test_artifacts_evidence_figures_gates_and_model(client: MlflowClient, store: Store, experiment: Experiment) -> None:
    run_id = store.champion_run
    names = {a.path for a in client.list_artifacts(run_id)}
    assert {"evidence.json", "gates.json", "figures", "report.pdf"} <= names
    assert "predictions.csv" not in names
    assert [a.path for a in client.list_artifacts(run_id, "figures")] == ["figures/calibration.png"]
    evidence = mlflow.artifacts.load_dict(f"runs:/{run_id}/evidence.json")
    # the Evidence after the disclosure rules (small cells, extremes, ages), which it states
    assert evidence == disclose(json.loads(json.dumps(experiment.result.evidence.to_dict())), ages=["age"])
    assert evidence["privacy"]["min_cell"] == 5
    model = mlflow.models.get_model_info(f"models:/{TASK}/1")
    assert model.run_id == run_id
    assert model.signature.inputs.input_names() == experiment.result.task.predictors


def test_dataset_input_has_digest_and_schema_but_no_rows(
    client: MlflowClient, store: Store, experiment: Experiment
) -> None:
    inputs = client.get_run(store.champion_run).inputs.dataset_inputs
    assert len(inputs) == 1
    dataset = inputs[0].dataset
    assert dataset.digest == experiment.result.evidence.data["digest"][:36]
    assert dataset.source_type == "code"
    columns = {c["name"]: c["type"] for c in json.loads(dataset.schema)["mlflow_colspec"]}
    assert list(columns) == experiment.result.task.predictors
    assert columns["planned_levels"] == "double" and columns["sex"] == "string"
    assert not dataset.profile
    assert {t.key: t.value for t in inputs[0].tags}["mlflow.data.context"] == "training"


def test_champion_alias_only_for_the_run_that_passes_its_gates(client: MlflowClient, store: Store) -> None:
    assert str(client.get_model_version_by_alias(TASK, CHAMPION_ALIAS).version) == "1"
    versions = {str(v.version): v for v in client.search_model_versions(f"name = '{TASK}'")}
    assert set(versions) == {"1", "2"}
    assert versions["1"].tags["gates_passed"] == "true" and versions["2"].tags["gates_passed"] == "false"
    assert client.get_model_version(TASK, "2").aliases == []
    passed, rejected = client.get_run(store.champion_run), client.get_run(store.rejected_run)
    assert passed.data.tags["gates_passed"] == "true" and passed.data.tags["champion"] == "true"
    assert rejected.data.tags["gates_passed"] == "false" and rejected.data.tags["champion"] == "false"
    assert rejected.data.tags["gates_decision"].startswith("failed: calibration_slope")
    gates = mlflow.artifacts.load_dict(f"runs:/{store.rejected_run}/gates.json")
    assert gates["passed"] is False
    assert gates["gates"]["calibration_slope"] == [0.99, 1.01]
    assert {c["name"]: c["passed"] for c in gates["checks"]}["calibration_slope"] is False
    assert gates["registry"] == {"registered": True, "model": TASK, "version": 2, "alias": None}


def test_champion_predicts_the_in_process_probabilities_from_export_rows(
    client: MlflowClient, experiment: Experiment
) -> None:
    result = experiment.result
    expected = result.models[result.evidence.best_family].predict_proba(result.task.X)[:, 1]
    model = mlflow.pyfunc.load_model(f"models:/{TASK}@{CHAMPION_ALIAS}")
    bundle = model.unwrap_python_model().bundle
    raw = raw_export_rows(experiment.result, experiment.data)
    frame, problems = bundle.contract.conform(raw)
    assert (problems == "").all()
    predicted = model.predict(frame)
    np.testing.assert_allclose(predicted["probability"].to_numpy(), expected, rtol=0, atol=1e-9)
    assert (predicted["problem"] == "").all()
    np.testing.assert_allclose(bundle.predict(raw)["probability"].to_numpy(), expected, rtol=0, atol=1e-9)


def test_band_and_flags_are_returned_when_asked_for(experiment: Experiment, client: MlflowClient) -> None:
    model = mlflow.pyfunc.load_model(f"models:/{TASK}@{CHAMPION_ALIAS}")
    frame, _ = model.unwrap_python_model().bundle.contract.conform(
        raw_export_rows(experiment.result, experiment.data).head(20)
    )
    plain = model.predict(frame)
    assert list(plain.columns) == ["probability", "problem"]
    out = model.predict(frame, params={"band": True, "flags": True})
    assert {"band_low", "band_high", "extrapolated", "mahalanobis", "out_of_distribution"} <= set(out.columns)
    assert (out["band_low"] <= out["band_high"]).all()
    assert (out["mahalanobis"] >= 0).all()


def test_no_patient_key_anywhere_in_the_store(store: Store, experiment: Experiment) -> None:
    """The SQLite database as SQL text and every file MLflow wrote: no patient key, no tabular data file.

    The models' ``code/`` folders are checked to be verbatim copies of the package source and its
    bundled dictionary and pipelines (source code, whose docstrings may show the key format).
    """
    files = [p for p in store.directory.rglob("*") if p.is_file() and p.suffix != ".db"]
    code = [p for p in files if "code" in p.parts]
    data = [p for p in files if "code" not in p.parts]
    assert code and data
    assert all(p.read_bytes() == _source_of(p).read_bytes() for p in code)
    assert not [p for p in data if p.suffix in (".csv", ".parquet", ".xlsx")]
    with sqlite3.connect(store.directory / "mlruns.db") as db:
        dump = "\n".join(db.iterdump()).encode()
    contents = [dump, *(p.read_bytes() for p in data)]
    leaked = [key for key in experiment.patient_keys if any(key.encode() in blob for blob in contents)]
    assert leaked == []


def _source_of(copied: Path) -> Path:
    """The file of the installed package (or of its bundled data) that ``copied`` was copied from."""
    relative = copied.relative_to(next(p for p in copied.parents if p.name == "spineoutcome"))
    if relative.parts[0] == "_bundled":
        source = {"data_dictionary": builtin_dictionary_dir(), "pipelines": builtin_pipelines_dir()}[relative.parts[1]]
        return source.joinpath(*relative.parts[2:])
    return Path(spineoutcome.__file__).parent / relative


def test_the_model_loads_from_its_own_code_without_the_installed_source(store: Store) -> None:
    """Another environment: spineoutcome is imported from the model's code_paths copy."""
    installed = str(Path(spineoutcome.__file__).resolve().parents[1])
    script = f"""
import sys
sys.path = [p for p in sys.path if p != {installed!r}]
import mlflow
mlflow.set_tracking_uri({store.uri!r})
model = mlflow.pyfunc.load_model("models:/{TASK}@{CHAMPION_ALIAS}")
import spineoutcome
print(spineoutcome.__file__)
"""
    done = subprocess.run(
        [sys.executable, "-c", script], check=False, capture_output=True, text=True, timeout=300, cwd=store.directory
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert "/code/spineoutcome/" in done.stdout
