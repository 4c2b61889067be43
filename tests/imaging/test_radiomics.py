"""Radiomics intake and selectors: known answers on crafted data, no learning outside fit."""

from __future__ import annotations

import pickle
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from sklearn.base import clone
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import StratifiedKFold, cross_validate
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.estimator_checks import parametrize_with_checks

from spineoutcome.imaging import (
    CorrelationFilter,
    ICCFilter,
    LassoSelector,
    NearZeroVarianceFilter,
    RadScore,
    extract_radiomics,
    intake_radiomics,
    intraclass_correlation,
    parse_feature_name,
    pyradiomics_params_path,
)

# Shrout & Fleiss, Psychol Bull 1979;86:420-8, Table 2: 6 targets rated by 4 judges, and Table 4:
# ICC(1,1) .17, ICC(2,1) .29, ICC(3,1) .71, ICC(1,4) .44, ICC(2,4) .62, ICC(3,4) .91.
SHROUT_FLEISS = np.array([[9, 2, 5, 8], [6, 1, 3, 2], [8, 4, 6, 8], [7, 1, 2, 6], [10, 5, 6, 9], [6, 2, 4, 7]])
PUBLISHED_ICC = {
    "ICC(1,1)": 0.17,
    "ICC(2,1)": 0.29,
    "ICC(3,1)": 0.71,
    "ICC(1,k)": 0.44,
    "ICC(2,k)": 0.62,
    "ICC(3,k)": 0.91,
}


# --- names and intake -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name, parts",
    [
        ("original_glcm_Contrast", ("original", "glcm", "Contrast")),
        ("original_firstorder_Mean", ("original", "firstorder", "Mean")),
        ("original_shape_Sphericity", ("original", "shape", "Sphericity")),
        ("wavelet-LLH_glrlm_RunEntropy", ("wavelet-LLH", "glrlm", "RunEntropy")),
        ("wavelet2-HH_glcm_Idmn", ("wavelet2-HH", "glcm", "Idmn")),
        ("log-sigma-1-0-mm-3D_glszm_ZoneEntropy", ("log-sigma-1-0-mm-3D", "glszm", "ZoneEntropy")),
        ("lbp-3D-m1_firstorder_10Percentile", ("lbp-3D-m1", "firstorder", "10Percentile")),
        ("original_shape2D_Perimeter", ("original", "shape2D", "Perimeter")),
    ],
)
def test_feature_names_are_parsed(name: str, parts: tuple[str, str, str]) -> None:
    assert tuple(parse_feature_name(name)) == parts


@pytest.mark.parametrize(
    "name",
    [
        "diagnostics_Versions_PyRadiomics",
        "age",
        "original_glcm",
        "glcm_Contrast",
        "original_texture_Contrast",
        "Original_glcm_Contrast",
        "original_glcm_Contrast_x",
    ],
)
def test_other_names_are_rejected(name: str) -> None:
    with pytest.raises(ValueError, match="not a PyRadiomics feature name"):
        parse_feature_name(name)


def test_the_pattern_is_the_one_of_the_dictionary_in_use(tmp_path) -> None:
    import shutil

    from spineoutcome.dictionary import DataDictionary, builtin_dictionary_dir

    shutil.copytree(builtin_dictionary_dir(), tmp_path / "dd")
    variables = tmp_path / "dd" / "variables.yaml"
    variables.write_text(
        variables.read_text(encoding="utf-8").replace("(?P<image_type>original|", "(?P<image_type>original|scanner9|"),
        encoding="utf-8",
    )
    hospital = DataDictionary.load(tmp_path / "dd")
    assert tuple(parse_feature_name("scanner9_glcm_Contrast", hospital)) == ("scanner9", "glcm", "Contrast")
    with pytest.raises(ValueError, match="not a PyRadiomics feature name"):
        parse_feature_name("scanner9_glcm_Contrast")  # the built-in dictionary does not know that image type
    table = pd.DataFrame({"record": ["a"], "scanner9_glcm_Contrast": [1.0], "original_glcm_Contrast": [2.0]})
    assert list(intake_radiomics(table, "record", hospital).features.columns) == [
        "record",
        "scanner9_glcm_Contrast",
        "original_glcm_Contrast",
    ]
    assert list(intake_radiomics(table, "record").features.columns) == ["record", "original_glcm_Contrast"]


def test_intake_keeps_features_and_reports_the_rest() -> None:
    table = pd.DataFrame(
        {
            "record": ["a", "b"],
            "Image": ["ct_a.nii.gz", "ct_b.nii.gz"],
            "diagnostics_Mask-original_VoxelNum": [120, 98],
            "original_glcm_Contrast": ["1.5", "2.25"],
            "wavelet-LLH_glrlm_RunEntropy": [3.0, None],
            "age": [61, 70],
        }
    )
    intake = intake_radiomics(table, "record")
    assert list(intake.features.columns) == ["record", "original_glcm_Contrast", "wavelet-LLH_glrlm_RunEntropy"]
    assert intake.features["original_glcm_Contrast"].tolist() == [1.5, 2.25]
    assert intake.features["wavelet-LLH_glrlm_RunEntropy"].isna().tolist() == [False, True]
    reasons = dict(zip(intake.dropped["column"], intake.dropped["reason"], strict=True))
    assert set(reasons) == {"Image", "diagnostics_Mask-original_VoxelNum", "age"}
    assert reasons["diagnostics_Mask-original_VoxelNum"].startswith("PyRadiomics diagnostics column")


def test_intake_rejects_bad_cells_without_quoting_keys() -> None:
    table = pd.DataFrame(
        {"record": ["SECRET-1", "SECRET-2", "SECRET-1"], "original_firstorder_Mean": ["1", "high", "2"]}
    )
    with pytest.raises(ValueError) as error:
        intake_radiomics(table, "record")
    message = str(error.value)
    assert "line 3, column 'original_firstorder_Mean', value 'high': must be a finite number" in message
    assert "line 4, column 'record': patient key repeats line 2" in message
    assert "SECRET" not in message


# --- ICC ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("form, published", PUBLISHED_ICC.items())
def test_icc_reproduces_shrout_and_fleiss(form: str, published: float) -> None:
    assert round(intraclass_correlation(SHROUT_FLEISS, form), 2) == published


def test_icc_of_several_features_at_once() -> None:
    rng = np.random.default_rng(0)
    stacked = np.stack([SHROUT_FLEISS, SHROUT_FLEISS * 3.0 + 1.0, rng.normal(size=(6, 4))], axis=2)
    values = intraclass_correlation(stacked, "ICC(3,1)")
    assert values[:2] == pytest.approx([intraclass_correlation(SHROUT_FLEISS, "ICC(3,1)")] * 2)
    assert values[2] == pytest.approx(intraclass_correlation(stacked[:, :, 2], "ICC(3,1)"))


def repeat_study(n: int = 40, seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Features of n patients and one repeat segmentation: 'stable' reproduces, 'unstable' does not,
    'mixed' reproduces only for the first half of the patients."""
    rng = np.random.default_rng(seed)
    index = pd.Index([f"P{i}" for i in range(n)], name="record")
    first = pd.DataFrame(rng.normal(size=(n, 3)), index=index, columns=["stable", "unstable", "mixed"])
    repeat = pd.DataFrame(
        {
            "stable": first["stable"] + rng.normal(0, 0.1, n),
            "unstable": rng.normal(size=n),
            "mixed": np.where(np.arange(n) < n // 2, first["mixed"] + rng.normal(0, 0.1, n), rng.normal(size=n)),
        },
        index=index,
    )
    return first, repeat


def test_icc_filter_keeps_reproducible_features() -> None:
    first, repeat = repeat_study()
    selector = ICCFilter(repeats=repeat, threshold=0.75).fit(first)
    assert selector.get_feature_names_out().tolist() == ["stable"]
    assert selector.icc_[0] > 0.9 and selector.icc_[1] < 0.5


def test_icc_filter_only_uses_the_training_patients() -> None:
    first, repeat = repeat_study()
    early = ICCFilter(repeats=repeat).fit(first.iloc[:20])
    late = ICCFilter(repeats=repeat).fit(first.iloc[20:])
    assert "mixed" in early.get_feature_names_out()
    assert "mixed" not in late.get_feature_names_out()
    assert early.n_patients_ == late.n_patients_ == 20


def test_icc_filter_needs_patient_keys() -> None:
    first, repeat = repeat_study()
    with pytest.raises(TypeError, match="indexed by patient key"):
        ICCFilter(repeats=repeat).fit(first.to_numpy())


# --- filters on crafted data --------------------------------------------------------------------


def test_near_zero_variance_drops_constant_and_near_constant_columns() -> None:
    rng = np.random.default_rng(1)
    X = pd.DataFrame(
        {
            "constant": np.full(100, 3.0),
            "rare_flag": np.r_[np.zeros(98), np.ones(2)],
            "balanced_flag": np.r_[np.zeros(50), np.ones(50)],
            "continuous": rng.normal(size=100),
        }
    )
    kept = NearZeroVarianceFilter().fit(X).get_feature_names_out().tolist()
    assert kept == ["balanced_flag", "continuous"]


def test_correlation_filter_reduces_duplicates_to_one() -> None:
    rng = np.random.default_rng(2)
    signal = rng.normal(size=200)
    y = (signal + rng.normal(0, 0.5, 200) > 0).astype(int)
    X = pd.DataFrame(
        {
            "echo": signal + rng.normal(0, 0.2, 200),  # nearly a copy, a little weaker with y
            "signal": signal,
            "copy": signal.copy(),
            "other": rng.normal(size=200),
        }
    )
    assert CorrelationFilter(threshold=0.9).fit(X).get_feature_names_out().tolist() == ["echo", "other"]
    assert CorrelationFilter(threshold=0.9).fit(X, y).get_feature_names_out().tolist() == ["signal", "other"]


def test_spearman_sees_monotone_duplicates() -> None:
    rng = np.random.default_rng(3)
    x = rng.normal(size=300)
    X = np.column_stack([x, np.exp(3 * x)])
    assert CorrelationFilter(threshold=0.95, method="pearson").fit(X).get_support().tolist() == [True, True]
    assert CorrelationFilter(threshold=0.95, method="spearman").fit(X).get_support().tolist() == [True, False]


def one_signal_problem(n: int = 300, noise_features: int = 50, seed: int = 4) -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(seed)
    columns = ["original_glcm_Signal", *[f"original_firstorder_Noise{i}" for i in range(noise_features)]]
    X = pd.DataFrame(
        rng.normal(size=(n, noise_features + 1)) * rng.uniform(0.5, 50, noise_features + 1), columns=columns
    )
    logit = 2.0 * (X["original_glcm_Signal"] / X["original_glcm_Signal"].std())
    y = (rng.uniform(size=n) < 1 / (1 + np.exp(-logit))).astype(int)
    return X, y.to_numpy()


def test_lasso_keeps_the_signal_among_noise() -> None:
    X, y = one_signal_problem()
    best = LassoSelector(n_cs=12, cv=3, random_state=0).fit(X, y)
    assert best.get_support()[0]
    assert abs(best.coef_[0]) > 5 * np.abs(best.coef_[1:]).max()  # noise that slips in stays tiny
    one_se = LassoSelector(n_cs=12, cv=3, rule="1se", random_state=0).fit(X, y)
    assert one_se.get_feature_names_out().tolist() == ["original_glcm_Signal"]


def test_rad_score_is_the_lasso_linear_predictor_with_training_scaling() -> None:
    X, y = one_signal_problem(n=400)
    train, test = np.arange(300), np.arange(300, 400)
    score = RadScore(n_cs=12, cv=3, random_state=0).set_output(transform="pandas").fit(X.iloc[train], y[train])
    out = score.transform(X.iloc[test])
    assert list(out.columns) == ["rad_score"] and out.index.equals(X.index[test])
    standardised = (X.iloc[test] - X.iloc[train].mean()) / X.iloc[train].std(ddof=0)
    np.testing.assert_allclose(out["rad_score"], standardised.to_numpy() @ score.coef_ + score.intercept_)
    assert roc_auc_score(y[test], out["rad_score"]) > 0.75


# --- no learning outside fit --------------------------------------------------------------------


def shifted_copy(X: pd.DataFrame, seed: int) -> pd.DataFrame:
    """Another sample with a different distribution: fitting on it would select differently."""
    rng = np.random.default_rng(seed)
    return pd.DataFrame(rng.normal(5.0, 3.0, size=X.shape), columns=X.columns)


@pytest.mark.parametrize(
    "make",
    [
        lambda: NearZeroVarianceFilter(),
        lambda: CorrelationFilter(threshold=0.8),
        lambda: LassoSelector(n_cs=6, cv=3, random_state=0),
        lambda: RadScore(n_cs=6, cv=3, random_state=0),
    ],
)
def test_transform_does_not_learn(make: Callable[[], object]) -> None:
    X, y = one_signal_problem(n=120, noise_features=8)
    X["original_firstorder_Constant"] = 1.0
    X["original_glcm_Copy"] = X["original_glcm_Signal"] * 2.0
    estimator = make().fit(X, y)
    fitted = pickle.dumps(estimator)
    other = shifted_copy(X, seed=5)
    out = estimator.transform(other)
    assert pickle.dumps(estimator) == fitted
    if isinstance(estimator, RadScore):
        scale = X.std(ddof=0).replace(0.0, 1.0)  # StandardScaler leaves constant columns unscaled
        expected = ((other - X.mean()) / scale).to_numpy() @ estimator.coef_ + estimator.intercept_
        np.testing.assert_allclose(out[:, 0], expected)
    else:
        np.testing.assert_array_equal(out, other.loc[:, estimator.get_support()].to_numpy())
        refit = clone(estimator).fit(other, y)
        assert refit.get_support().tolist() != estimator.get_support().tolist()


def test_icc_filter_transform_does_not_learn() -> None:
    first, repeat = repeat_study()
    selector = ICCFilter(repeats=repeat).fit(first.iloc[:20])
    fitted = pickle.dumps(selector)
    out = selector.transform(first.iloc[20:])
    assert pickle.dumps(selector) == fitted
    assert out.tolist() == first.iloc[20:][["stable", "mixed"]].to_numpy().tolist()


def test_selectors_run_inside_cross_validation_on_dataframes() -> None:
    X, y = one_signal_problem(n=300, noise_features=20, seed=0)
    X.index = pd.Index([f"P{i}" for i in range(len(X))], name="record")
    repeats = X + np.random.default_rng(6).normal(0, 0.05, X.shape) * X.std().to_numpy()
    pipeline = make_pipeline(
        NearZeroVarianceFilter(),
        ICCFilter(repeats=repeats),
        CorrelationFilter(),
        LassoSelector(n_cs=6, cv=3, random_state=0),
        StandardScaler(),
        LogisticRegression(),
    ).set_output(transform="pandas")
    result = cross_validate(
        pipeline, X, y, cv=StratifiedKFold(3, shuffle=True, random_state=0), scoring="roc_auc", return_estimator=True
    )
    assert result["test_score"].mean() > 0.75
    for fitted in result["estimator"]:
        assert "original_glcm_Signal" in fitted[:4].get_feature_names_out()
        assert fitted[1].n_patients_ == 200  # the ICC used the training fold's patients only


@parametrize_with_checks(
    [
        NearZeroVarianceFilter(),
        CorrelationFilter(),
        LassoSelector(n_cs=3, cv=2, random_state=0),
        RadScore(n_cs=3, cv=2, random_state=0),
    ]
)
def test_scikit_learn_estimator_checks(estimator: object, check: Callable[[object], None]) -> None:
    check(estimator)


# --- extraction (optional PyRadiomics) ----------------------------------------------------------


def test_shipped_extraction_settings() -> None:
    params = yaml.safe_load(pyradiomics_params_path().read_text(encoding="utf-8"))
    assert params["setting"]["binWidth"] == 25
    assert params["setting"]["resampledPixelSpacing"] == [1, 1, 1]
    assert set(params["featureClass"]) == {"shape", "firstorder", "glcm", "glrlm", "glszm", "gldm", "ngtdm"}


def test_extraction_without_pyradiomics_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "radiomics", None)
    with pytest.raises(ImportError, match="optional 'radiomics' extra"):
        extract_radiomics("image.nii.gz", "mask.nii.gz")


def test_extraction_with_pyradiomics(tmp_path: Path) -> None:
    pytest.importorskip("radiomics")
    sitk = pytest.importorskip("SimpleITK")
    rng = np.random.default_rng(7)
    image = sitk.GetImageFromArray(rng.normal(300, 80, (16, 24, 24)).astype(np.float32))
    image.SetSpacing((0.6, 0.6, 1.5))
    mask_array = np.zeros((16, 24, 24), dtype=np.uint8)
    mask_array[4:12, 6:18, 6:18] = 1
    mask = sitk.GetImageFromArray(mask_array)
    mask.CopyInformation(image)
    sitk.WriteImage(image, str(tmp_path / "ct.nii.gz"))
    sitk.WriteImage(mask, str(tmp_path / "mask.nii.gz"))
    features = extract_radiomics(tmp_path / "ct.nii.gz", tmp_path / "mask.nii.gz")
    assert "original_glcm_Contrast" in features.index and "wavelet-LLH_glrlm_RunEntropy" in features.index
    intake = intake_radiomics(features.to_frame().T.assign(record="a"), "record")
    assert intake.dropped.empty and intake.features.shape[1] == len(features) + 1


def test_a_repeated_lasso_choice_is_recalled_not_refitted(monkeypatch: pytest.MonkeyPatch) -> None:
    from spineoutcome.imaging import radiomics as module

    rng = np.random.default_rng(11)
    X = rng.normal(size=(240, 12))
    y = rng.binomial(1, 1 / (1 + np.exp(-(1.2 * X[:, 0] - 0.8 * X[:, 3]))))
    module._LASSO_MEMO.clear()
    first = LassoSelector(n_cs=10, cv=3, rule="1se", random_state=0).fit(X, y)
    calls: list[int] = []
    original = module._choose_lasso
    monkeypatch.setattr(module, "_choose_lasso", lambda *a: calls.append(1) or original(*a))
    again = LassoSelector(n_cs=10, cv=3, rule="1se", random_state=0).fit(X.copy(), y.copy())
    assert calls == []  # the same rows, outcome and settings: recalled
    for name in ("coef_", "Cs_", "cv_scores_"):
        np.testing.assert_array_equal(getattr(again, name), getattr(first, name))
    assert again.C_ == first.C_ and again.intercept_ == first.intercept_
    assert again.scaler_ is not first.scaler_ and (again.get_support() == first.get_support()).all()
    # a fresh computation (memo emptied) gives what was recalled
    module._LASSO_MEMO.clear()
    fresh = LassoSelector(n_cs=10, cv=3, rule="1se", random_state=0).fit(X, y)
    np.testing.assert_array_equal(fresh.coef_, again.coef_)
    assert calls == [1]
    # one changed value, outcome, setting or row grouping is a new choice
    changed = X.copy()
    changed[5, 2] += 1e-9
    LassoSelector(n_cs=10, cv=3, rule="1se", random_state=0).fit(changed, y)
    LassoSelector(n_cs=10, cv=3, rule="1se", random_state=0).fit(X, 1 - y)
    LassoSelector(n_cs=10, cv=3, rule="min", random_state=0).fit(X, y)
    doubled = pd.DataFrame(X, index=[*range(239), 0])  # a bootstrap-like copy of patient 0
    LassoSelector(n_cs=10, cv=3, rule="1se", random_state=0).fit(doubled, y)
    assert len(calls) == 1 + 4
    # unseeded inner folds are drawn afresh: never recalled
    LassoSelector(n_cs=10, cv=3, rule="1se", random_state=None).fit(X, y)
    LassoSelector(n_cs=10, cv=3, rule="1se", random_state=None).fit(X, y)
    assert len(calls) == 1 + 4 + 2
    module._LASSO_MEMO.clear()
