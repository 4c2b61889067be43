"""The model bundle without MLflow: contract parsing, training summary, calibration, gates, packaging."""

from __future__ import annotations

from dataclasses import replace
from importlib import metadata
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from spineoutcome.bundle import (
    Gates,
    ModelBundle,
    build_bundle,
    check_gates,
    pip_requirements,
    signature,
)
from spineoutcome.bundle.integrity import IntegrityError
from spineoutcome.bundle.pyfunc import package_copy

from .conftest import ENSEMBLE_SIZE, Experiment


@pytest.fixture(scope="module")
def bundle(experiment: Experiment) -> ModelBundle:
    return build_bundle(experiment.result, ensemble_size=ENSEMBLE_SIZE)


def export_text(X: pd.DataFrame) -> pd.DataFrame:
    """Typed rows written as an export would: yes/no, empty for missing, numbers as text."""

    def cell(value: object) -> str:
        if pd.isna(value):
            return ""
        if isinstance(value, (bool, np.bool_)):
            return "yes" if value else "no"
        return repr(float(value)) if isinstance(value, (float, np.floating)) else str(value)

    return X.astype(object).map(cell)


def test_contract_is_the_dictionary_entry_of_each_predictor(bundle: ModelBundle, experiment: Experiment) -> None:
    contract = bundle.contract
    assert contract.names == experiment.result.task.predictors
    spec = {p.name: p for p in contract.predictors}
    assert spec["age"].unit == "years" and spec["age"].range is not None and spec["age"].dtype == "float"
    assert spec["sex"].categories == ("female", "male")
    assert spec["planned_levels"].dtype == "int"
    assert contract.dictionary["version"] == experiment.result.evidence.data["dictionary"]["version"]
    assert contract.from_dict(contract.to_dict()) == contract


def test_signature_declares_nullable_integers_and_booleans_as_double(bundle: ModelBundle) -> None:
    inputs = {c.name: c.type.name for c in signature(bundle.contract).inputs.inputs}
    assert inputs["planned_levels"] == "double"
    assert inputs["diabetes"] == "double"
    assert inputs["age"] == "double"
    assert inputs["sex"] == "string"


def test_text_and_typed_rows_parse_to_the_training_data(bundle: ModelBundle, experiment: Experiment) -> None:
    X = experiment.result.task.X
    for rows in (export_text(X), X):
        parsed = bundle.contract.parse(rows)
        assert parsed.valid.all()
        pd.testing.assert_frame_equal(parsed.frame, X, check_categorical=False)


def test_missing_codes_and_spellings_follow_the_dictionary(bundle: ModelBundle, experiment: Experiment) -> None:
    rows = export_text(experiment.result.task.X.head(1))
    rows.loc[:, ["age", "sex", "diabetes", "planned_levels"]] = [" NA ", "FEMALE", "Yes", "-99"]
    parsed = bundle.contract.parse(rows)
    assert parsed.valid.all()
    row = parsed.frame.iloc[0]
    assert pd.isna(row["age"]) and row["sex"] == "female" and bool(row["diabetes"])
    assert pd.isna(row["planned_levels"])


def test_a_row_that_breaks_the_contract_is_named_and_not_scored(bundle: ModelBundle, experiment: Experiment) -> None:
    rows = export_text(experiment.result.task.X.head(4))
    rows.iloc[0, rows.columns.get_loc("age")] = "sixty"
    rows.iloc[1, rows.columns.get_loc("sex")] = "unknown"
    rows.iloc[2, rows.columns.get_loc("planned_levels")] = "2.5"
    rows.iloc[2, rows.columns.get_loc("diabetes")] = "maybe"
    out = bundle.predict(rows)
    assert out["problem"].tolist()[:3] == [
        "age: not a number",
        "sex: not one of the allowed categories (female, male)",
        "diabetes: not a yes/no value (or 1/0); planned_levels: not a whole number",
    ]
    assert out["probability"].iloc[:3].isna().all() and out["problem"].iloc[3] == ""
    assert not out["problem"].str.contains("sixty|unknown|maybe").any()


def test_a_missing_predictor_column_is_refused(bundle: ModelBundle, experiment: Experiment) -> None:
    with pytest.raises(ValueError, match="lacks predictor column"):
        bundle.predict(experiment.result.task.X.drop(columns="age"))


def test_conform_gives_the_signature_format(bundle: ModelBundle, experiment: Experiment) -> None:
    frame, problems = bundle.contract.conform(export_text(experiment.result.task.X))
    assert (problems == "").all()
    assert frame["planned_levels"].dtype == np.float64 and frame["diabetes"].dtype == np.float64
    assert set(frame["diabetes"].dropna()) <= {0.0, 1.0}
    assert frame["sex"].dtype == object


def test_training_summary_holds_aggregates_and_flags_novel_patients(
    bundle: ModelBundle, experiment: Experiment
) -> None:
    X = experiment.result.task.X
    age = bundle.summary.predictors["age"]
    ages = np.sort(X["age"].dropna().to_numpy())
    assert "min" not in age and "max" not in age  # no exact extreme: the 5th smallest and 5th largest value
    assert age["low"] == ages[4] and age["high"] == min(ages[-5], 90.0)
    assert age["missing_fraction"] == pytest.approx(X["age"].isna().mean())
    assert set(bundle.summary.predictors["sex"]["frequencies"]) == {"female", "male"}
    out = bundle.predict(X, flags=True)
    assert out["out_of_distribution"].mean() == pytest.approx(0.01, abs=0.005)
    beyond = (X["age"] < age["low"]) | (X["age"] > age["high"])
    assert out["extrapolated"].str.contains("age").to_numpy().tolist() == beyond.to_numpy().tolist()
    assert 0 < beyond.sum() <= 8
    odd = X.head(1).copy()
    odd["age"] = age["high"] + 1.0
    odd["occupying_ratio"] = X["occupying_ratio"].max() + 1.0
    flagged = bundle.predict(odd, flags=True).iloc[0]
    assert flagged["extrapolated"] == "age, occupying_ratio"


def test_band_brackets_the_ensemble_and_is_percentile_based(bundle: ModelBundle, experiment: Experiment) -> None:
    X = experiment.result.task.X.head(50)
    out = bundle.predict(X, band=True)
    draws = np.vstack(
        [bundle.development_calibration(i).apply(m.predict_proba(X)[:, 1]) for i, m in enumerate(bundle.ensemble)]
    )  # calibration.json is the identity at build
    np.testing.assert_allclose(out["band_low"], np.percentile(draws, 2.5, axis=0), atol=1e-12)
    np.testing.assert_allclose(out["band_high"], np.percentile(draws, 97.5, axis=0), atol=1e-12)
    assert len(bundle.ensemble) == ENSEMBLE_SIZE == bundle.manifest["uncertainty"]["replicates"]


def test_recalibration_updates_risks_but_not_their_ranking(bundle: ModelBundle, experiment: Experiment) -> None:
    X, y = experiment.result.task.X, experiment.result.task.y
    before = bundle.predict(X)["probability"].to_numpy()
    shifted = np.where(np.arange(len(y)) % 4 == 0, 1, y)
    updated = bundle.recalibrated(X, shifted, method="intercept")
    after = updated.predict(X)["probability"].to_numpy()
    assert updated.calibration.method == "intercept" and updated.calibration.slope == 1.0
    assert after.mean() == pytest.approx(shifted.mean(), abs=0.01)
    assert (np.argsort(after, kind="stable") == np.argsort(before, kind="stable")).all()


def test_recalibration_is_fitted_on_the_risks_as_developed(bundle: ModelBundle, experiment: Experiment) -> None:
    """Two steps, each logit p' = a + b logit p: the development calibration, then the new centre's update,
    whose reference is a statsmodels logit of the outcomes on the developed log-odds."""
    import statsmodels.api as sm
    from scipy.special import expit, logit

    X, y = experiment.result.task.X, experiment.result.task.y
    developed = replace(
        bundle,
        manifest={**bundle.manifest, "development_calibration": {"method": "logistic", "intercept": 0.2, "slope": 0.7}},
    )
    updated = developed.recalibrated(X, y, method="logistic")
    lp = 0.2 + 0.7 * logit(bundle.pipeline.predict_proba(X)[:, 1].astype(np.float64))
    fit = sm.GLM(y, sm.add_constant(lp), family=sm.families.Binomial()).fit()
    assert updated.calibration.intercept == pytest.approx(fit.params[0], abs=1e-5)
    assert updated.calibration.slope == pytest.approx(fit.params[1], abs=1e-5)
    expected = expit(fit.params[0] + fit.params[1] * lp)
    np.testing.assert_allclose(updated.predict(X)["probability"].to_numpy(), expected, atol=1e-5)


def test_save_and_load_round_trip(bundle: ModelBundle, experiment: Experiment, tmp_path: Path) -> None:
    recalibrated = replace(bundle, calibration=replace(bundle.calibration, method="logistic", intercept=0.3, slope=0.8))
    folder = recalibrated.save(tmp_path / "bundle")
    with pytest.raises(IntegrityError, match="--allow-unverified"):
        ModelBundle.load(folder)  # nothing is unpickled without a record or an explicit choice
    loaded = ModelBundle.load(folder, allow_unverified=True)
    assert loaded.clinical == recalibrated.clinical and loaded.clinical["thresholds"]
    assert loaded.calibration == recalibrated.calibration and loaded.manifest == recalibrated.manifest
    X = experiment.result.task.X.head(30)
    pd.testing.assert_frame_equal(
        loaded.predict(X, band=True, flags=True), recalibrated.predict(X, band=True, flags=True)
    )


def test_manifest_says_how_to_explain_and_what_the_model_is(bundle: ModelBundle, experiment: Experiment) -> None:
    evidence = experiment.result.evidence
    manifest = bundle.manifest
    assert manifest["family"] == evidence.best_family and manifest["data"]["digest"] == evidence.data["digest"]
    assert manifest["explanation"]["function"] == "spineoutcome.explain.shap_contributions"
    assert manifest["explanation"]["units"] == evidence.families[evidence.best_family].shap["units"]
    design = bundle.pipeline.named_steps["preprocess"].transform(experiment.result.task.X)
    assert list(manifest["explanation"]["background_design_mean"]) == list(design.columns)


def test_gates_default_and_unconfigured_threshold(experiment: Experiment) -> None:
    evidence = experiment.result.evidence
    decision = check_gates(evidence)
    assert decision.gates == Gates() and [c.name for c in decision.checks] == [
        "calibration_slope",
        "ici",
        f"net_benefit_t{evidence.pipeline['thresholds'][0]:g}",
        f"beats_clinical_rules_t{evidence.pipeline['thresholds'][0]:g}",  # the shipped pipeline names rules
    ]
    assert decision.passed == all(c.passed for c in decision.checks)
    with pytest.raises(ValueError, match="not a configured decision threshold"):
        check_gates(evidence, Gates(threshold=0.33))


def test_pip_requirements_pin_the_installed_runtime_dependencies() -> None:
    pinned = dict(line.split("==") for line in pip_requirements())
    assert "spineoutcome" not in pinned and "pytest" not in pinned
    for name in ("scikit-learn", "xgboost-cpu", "lightgbm", "pandas", "numpy", "mlflow"):
        assert pinned[name] == metadata.version(name)


def test_the_packaged_code_carries_the_bundled_dictionary(tmp_path: Path) -> None:
    package = package_copy(tmp_path)
    assert (package / "__init__.py").is_file()
    assert (package / "_bundled" / "data_dictionary" / "variables.yaml").is_file()
    assert not list(package.rglob("__pycache__"))
