"""How Evidence numbers and the configuration become MLflow metric and param names (no MLflow store)."""

from __future__ import annotations

from spineoutcome.evidence import FamilyEvidence
from spineoutcome.tracking import (
    config_params,
    family_metrics,
    scalar_metrics,
    subgroup_metrics,
)

from .conftest import Experiment


def estimate(value: float, low: float, high: float) -> dict[str, object]:
    return {
        "value": value,
        "ci_low": low,
        "ci_high": high,
        "se": 0.01,
        "ci_method": "wald",
        "level": 0.95,
        "n_boot_valid": None,
    }


def test_estimates_records_intervals_and_grouping_levels() -> None:
    node = {
        "discrimination": {"auc": estimate(0.7, 0.6, 0.8), "n": 100},
        "calibration": {"slope": estimate(0.9, 0.7, 1.1)},
        "classification": {"rows": [{"threshold": 0.1, "tp": 5, "sensitivity": estimate(0.5, 0.3, 0.7)}]},
        "pooled_auc_prediction_interval": [0.55, 0.85],
        "curve": [0.1, 0.2, 0.3],
        "settings": {"frac": 0.75},
        "flag": True,
        "missing": None,
    }
    assert scalar_metrics(node, "cv") == {
        "cv_auc": 0.7,
        "cv_auc_ci_low": 0.6,
        "cv_auc_ci_high": 0.8,
        "cv_n": 100.0,
        "cv_calibration_slope": 0.9,
        "cv_calibration_slope_ci_low": 0.7,
        "cv_calibration_slope_ci_high": 1.1,
        "cv_tp_t0.1": 5.0,
        "cv_sensitivity_t0.1": 0.5,
        "cv_sensitivity_t0.1_ci_low": 0.3,
        "cv_sensitivity_t0.1_ci_high": 0.7,
        "cv_pooled_auc_prediction_interval_low": 0.55,
        "cv_pooled_auc_prediction_interval_high": 0.85,
    }


def test_a_repeated_level_is_named_once() -> None:
    node = {"apparent": {"auc": 0.9}, "optimism": {"auc": 0.1}, "corrected": {"auc": 0.8}}
    assert scalar_metrics(node, "optimism") == {
        "optimism_apparent_auc": 0.9,
        "optimism_auc": 0.1,
        "optimism_corrected_auc": 0.8,
    }


def test_subgroup_names_are_valid_mlflow_names() -> None:
    rows = [
        {
            "grouping": "age_group",
            "group": "<65",
            "metric": "auc",
            "estimate": 0.7,
            "ci_low": 0.6,
            "ci_high": 0.8,
            "difference": 0.01,
            "difference_ci_low": None,
            "difference_ci_high": None,
            "n": 40,
            "n_events": 9,
            "status": "ok",
        }
    ]
    assert subgroup_metrics(rows) == {
        "age_group_lt65_n": 40.0,
        "age_group_lt65_n_events": 9.0,
        "age_group_lt65_auc": 0.7,
        "age_group_lt65_auc_ci_low": 0.6,
        "age_group_lt65_auc_ci_high": 0.8,
        "age_group_lt65_auc_difference": 0.01,
    }


def test_family_without_classification_rows_has_no_net_benefit_metrics() -> None:
    record = FamilyEvidence(
        family="weibull_aft",
        cross_validation={"harrell_c": 0.68},
        cv_repeats=[],
        optimism=None,
        internal_external=None,
        temporal=None,
        comparison_to_logistic=None,
        subgroups=[],
        shap=None,
        specification={},
        tuning=[],
        seconds=2.0,
    )
    assert family_metrics(record, [0.1]) == {"cv_harrell_c": 0.68, "seconds": 2.0}


def test_config_params_are_dotted_strings_with_passwords_masked(experiment: Experiment) -> None:
    pipeline = experiment.result.evidence.pipeline
    secret = {**pipeline, "tuning": {**pipeline["tuning"], "storage": "postgresql://optuna:s3cret@db:5432/studies"}}
    params = config_params(secret)
    assert params["tuning.storage"] == "postgresql://optuna:***@db:5432/studies"
    assert params["validation.folds"] == "3" and params["thresholds"] == "0.05,0.1,0.2"
    assert all(isinstance(v, str) for v in params.values())
