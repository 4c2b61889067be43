"""Radiomics: intake of PyRadiomics tables and leakage-safe feature selection for CV pipelines.

PyRadiomics names each feature ``<image type>_<feature class>_<feature>``, e.g.
``original_glcm_Contrast`` or ``wavelet-LLH_glrlm_RunEntropy`` (van Griethuysen et al., Cancer Res
2017;77:e104-7), and also writes ``diagnostics_*`` columns that are not features. The selectors
below are scikit-learn transformers that learn only in ``fit``, so inside a ``Pipeline`` they are
refit on every training fold and never see the test fold: near-zero variance, correlation
de-duplication, reproducibility (ICC against repeat segmentations), LASSO logistic selection with
the penalty chosen by inner cross-validation, and the rad-score (the LASSO linear predictor).
"""

from __future__ import annotations

import copy
import hashlib
import re
import warnings
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Literal, NamedTuple

import numpy as np
import pandas as pd
from scipy.stats import rankdata
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.feature_selection import SelectorMixin, f_classif, r_regression
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import get_scorer
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import l1_min_c
from sklearn.utils import ClassifierTags, Tags
from sklearn.utils.multiclass import type_of_target
from sklearn.utils.validation import check_is_fitted, validate_data

from spineoutcome.dictionary import RADIOMICS_GROUP, DataDictionary
from spineoutcome.inner_cv import inner_folds, row_identity


def radiomics_feature_pattern(dictionary: DataDictionary | None = None) -> re.Pattern[str]:
    """PyRadiomics feature names: the radiomics pattern of ``dictionary`` (the one in use; default the
    built-in one), with named groups ``image_type``, ``feature_class`` and ``feature``."""
    if dictionary is None:
        return _builtin_pattern()
    return _compiled(_radiomics_regex(dictionary))


@cache
def _builtin_pattern() -> re.Pattern[str]:
    """The built-in dictionary's pattern, read on first use (not at import)."""
    return _compiled(_radiomics_regex(DataDictionary.load()))


@cache
def _compiled(regex: str) -> re.Pattern[str]:
    """``regex`` compiled once per distinct pattern (a hospital dictionary's or the built-in one)."""
    return re.compile(regex)


def _radiomics_regex(dictionary: DataDictionary) -> str:
    regex = next((p.regex for p in dictionary.patterns if p.group == RADIOMICS_GROUP and p.regex), None)
    if regex is None:
        raise ValueError(f"data dictionary {dictionary.name!r} declares no {RADIOMICS_GROUP!r} column pattern")
    return regex


DIAGNOSTICS_PREFIX = "diagnostics_"
PYRADIOMICS_PARAMS = "pyradiomics_params.yaml"
RAD_SCORE = "rad_score"
IccForm = Literal["ICC(1,1)", "ICC(2,1)", "ICC(3,1)", "ICC(1,k)", "ICC(2,k)", "ICC(3,k)"]


class RadiomicsFeatureName(NamedTuple):
    """The three parts of a PyRadiomics feature name."""

    image_type: str
    feature_class: str
    feature: str


def parse_feature_name(name: str, dictionary: DataDictionary | None = None) -> RadiomicsFeatureName:
    """Split ``wavelet-LLH_glrlm_RunEntropy`` into image type, feature class and feature (by the
    radiomics pattern of ``dictionary``, default the built-in one)."""
    match = radiomics_feature_pattern(dictionary).match(name)
    if match is None:
        raise ValueError(f"{name!r} is not a PyRadiomics feature name (<image type>_<feature class>_<feature>)")
    return RadiomicsFeatureName(**match.groupdict())


@dataclass(frozen=True)
class RadiomicsIntake:
    """A PyRadiomics table split into features and the columns that were set aside.

    features: the key column and every feature column, as floats (empty cells are NaN).
    dropped: one row per set-aside column: ``column`` and ``reason``.
    """

    features: pd.DataFrame
    dropped: pd.DataFrame


def intake_radiomics(table: pd.DataFrame, key: str, dictionary: DataDictionary | None = None) -> RadiomicsIntake:
    """Keep the key and the PyRadiomics feature columns (names matching the radiomics pattern of
    ``dictionary``, the one in use; default the built-in one); report every other column.

    Raises ``ValueError`` naming line (header = line 1), column, value and rule for a missing or
    repeated key or a feature cell that is not a number; patient keys are never quoted.
    """
    if key not in table.columns:
        raise ValueError(f"key column {key!r} is missing")
    frame = table.reset_index(drop=True)
    pattern = radiomics_feature_pattern(dictionary)
    feature_columns, dropped = [], []
    for column in frame.columns:
        if column == key:
            continue
        name = str(column)
        if name.startswith(DIAGNOSTICS_PREFIX):
            dropped.append((name, "PyRadiomics diagnostics column, not a feature"))
        elif pattern.match(name):
            feature_columns.append(column)
        else:
            dropped.append((name, "not a PyRadiomics feature name (<image type>_<feature class>_<feature>)"))

    problems: list[str] = []
    keys = frame[key]
    empty_key = keys.isna() | keys.astype(str).str.strip().eq("")
    problems += [f"line {i + 2}, column {key!r}: a patient key is required" for i in np.flatnonzero(empty_key)]
    repeated = keys.duplicated(keep="first") & ~empty_key
    first_line = keys[~empty_key].groupby(keys[~empty_key], sort=False).transform(lambda s: s.index[0] + 2)
    problems += [
        f"line {i + 2}, column {key!r}: patient key repeats line {int(first_line[i])}" for i in np.flatnonzero(repeated)
    ]
    values = {}
    for column in feature_columns:
        raw = frame[column]
        given = ~(raw.isna() | raw.astype(str).str.strip().eq(""))
        numbers = pd.to_numeric(raw.where(given, None), errors="coerce").astype(float)
        bad = given & ~np.isfinite(numbers)
        problems += [
            f"line {i + 2}, column {column!r}, value {str(raw.iloc[i])[:40]!r}: must be a finite number"
            for i in np.flatnonzero(bad)
        ]
        values[column] = numbers
    if problems:
        raise ValueError(f"{len(problems)} invalid radiomics cell(s):\n  " + "\n  ".join(problems[:50]))
    features = pd.DataFrame({key: frame[key], **values}, index=frame.index)
    return RadiomicsIntake(features=features, dropped=pd.DataFrame(dropped, columns=["column", "reason"]))


def intraclass_correlation(ratings: np.ndarray, form: IccForm = "ICC(2,1)") -> np.ndarray | float:
    """Intraclass correlation of targets (rows) rated by judges (columns), per Shrout & Fleiss 1979.

    ``ratings`` is (n targets, k judges) or (n, k, p) for p features at once. ICC(2,1): two-way
    random effects, absolute agreement, single rating (the form Koo & Li 2016 recommend for
    inter-rater reliability meant to generalise to other raters); ICC(3,1): two-way mixed,
    consistency; ICC(1,1): one-way random; ``k`` forms are for the mean of the k ratings.
    Shrout & Fleiss, Psychol Bull 1979;86:420-8; Koo & Li, J Chiropr Med 2016;15:155-63.
    """
    data = np.asarray(ratings, dtype=float)
    single = data.ndim == 2
    data = data[..., None] if single else data
    n, k = data.shape[:2]
    if n < 2 or k < 2:
        raise ValueError(f"an ICC needs at least 2 targets and 2 judges, got {n} x {k}")
    grand = data.mean(axis=(0, 1))
    target_means, judge_means = data.mean(axis=1), data.mean(axis=0)
    between_targets = k * ((target_means - grand) ** 2).sum(axis=0) / (n - 1)
    between_judges = n * ((judge_means - grand) ** 2).sum(axis=0) / (k - 1)
    within_targets = ((data - target_means[:, None]) ** 2).sum(axis=(0, 1)) / (n * (k - 1))
    residual = ((data - target_means[:, None] - judge_means[None] + grand) ** 2).sum(axis=(0, 1)) / ((n - 1) * (k - 1))
    bms, jms, wms, ems = between_targets, between_judges, within_targets, residual
    numerator_denominator = {
        "ICC(1,1)": (bms - wms, bms + (k - 1) * wms),
        "ICC(2,1)": (bms - ems, bms + (k - 1) * ems + k * (jms - ems) / n),
        "ICC(3,1)": (bms - ems, bms + (k - 1) * ems),
        "ICC(1,k)": (bms - wms, bms),
        "ICC(2,k)": (bms - ems, bms + (jms - ems) / n),
        "ICC(3,k)": (bms - ems, bms),
    }
    if form not in numerator_denominator:
        raise ValueError(f"unknown ICC form {form!r}; choose one of {sorted(numerator_denominator)}")
    numerator, denominator = numerator_denominator[form]
    with np.errstate(divide="ignore", invalid="ignore"):
        icc = np.where(denominator > 0, numerator / np.where(denominator > 0, denominator, 1.0), np.nan)
    return float(icc[0]) if single else icc


class NearZeroVarianceFilter(SelectorMixin, BaseEstimator):
    """Drop constant and near-constant features (Kuhn's ``nearZeroVar`` rule, scale-free).

    A feature is dropped when it has a single value, or when the most frequent value is more than
    ``freq_cut`` times as frequent as the second and fewer than ``unique_cut`` percent of the
    values are distinct. Kuhn, J Stat Softw 2008;28(5) (caret).
    """

    def __init__(self, freq_cut: float = 95 / 5, unique_cut: float = 10.0) -> None:
        self.freq_cut = freq_cut
        self.unique_cut = unique_cut

    def fit(self, X: np.ndarray | pd.DataFrame, y: np.ndarray | None = None) -> NearZeroVarianceFilter:
        X = validate_data(self, X, dtype=np.float64)
        freq_ratio = np.empty(X.shape[1])
        percent_unique = np.empty(X.shape[1])
        for j, column in enumerate(X.T):
            counts = np.sort(np.unique(column, return_counts=True)[1])[::-1]
            freq_ratio[j] = counts[0] / counts[1] if counts.size > 1 else np.inf
            percent_unique[j] = 100.0 * counts.size / X.shape[0]
        self.freq_ratio_ = freq_ratio
        self.percent_unique_ = percent_unique
        near_zero = np.isinf(freq_ratio) | ((freq_ratio > self.freq_cut) & (percent_unique < self.unique_cut))
        self.support_ = ~near_zero
        return self

    def _get_support_mask(self) -> np.ndarray:
        check_is_fitted(self, "support_")
        return self.support_


class CorrelationFilter(SelectorMixin, BaseEstimator):
    """Keep one feature of every group of near-duplicates (|correlation| above ``threshold``).

    Features are visited from the strongest to the weakest univariate association with ``y``
    (ANOVA F for a class label, |Pearson r| for a continuous outcome) and a feature is kept when
    it is not correlated above ``threshold`` with any feature already kept. Without ``y`` the
    visiting order is the column order, so the first column of a duplicate group survives.
    """

    def __init__(self, threshold: float = 0.9, method: Literal["pearson", "spearman"] = "pearson") -> None:
        self.threshold = threshold
        self.method = method

    def fit(self, X: np.ndarray | pd.DataFrame, y: np.ndarray | None = None) -> CorrelationFilter:
        if y is None:
            X = validate_data(self, X, dtype=np.float64, ensure_min_samples=2)
            association = None
        else:
            X, y = validate_data(self, X, y, dtype=np.float64, ensure_min_samples=2)
            association = _univariate_association(X, y)
        if self.method not in ("pearson", "spearman"):
            raise ValueError(f"method must be 'pearson' or 'spearman', got {self.method!r}")
        values = rankdata(X, axis=0) if self.method == "spearman" else X
        with np.errstate(divide="ignore", invalid="ignore"):
            correlation = np.nan_to_num(np.atleast_2d(np.corrcoef(values, rowvar=False)))
        order = np.arange(X.shape[1]) if association is None else np.argsort(-association, kind="stable")
        kept: list[int] = []
        for j in order:
            if all(abs(correlation[j, i]) <= self.threshold for i in kept):
                kept.append(j)
        self.association_ = association
        self.support_ = np.isin(np.arange(X.shape[1]), kept)
        return self

    def _get_support_mask(self) -> np.ndarray:
        check_is_fitted(self, "support_")
        return self.support_


class ICCFilter(SelectorMixin, BaseEstimator):
    """Keep features whose repeat segmentations agree (ICC >= ``threshold``), computed in-fold.

    ``repeats`` holds features extracted from repeat segmentations (another reader, or the same
    reader later): indexed by patient key, columns named as the features, one row per repeat (a
    patient may have several). In ``fit``, X must be a DataFrame indexed by the same key; the ICC
    uses X's values as the first rating and the repeats of the patients in X as the others, so in
    a cross-validation only training-fold patients count. Default threshold 0.75 ("good" per
    Koo & Li 2016); ICC formulas of Shrout & Fleiss 1979 (see :func:`intraclass_correlation`).
    """

    def __init__(
        self, repeats: pd.DataFrame | None = None, threshold: float = 0.75, form: IccForm = "ICC(2,1)"
    ) -> None:
        self.repeats = repeats
        self.threshold = threshold
        self.form = form

    def fit(self, X: pd.DataFrame, y: np.ndarray | None = None) -> ICCFilter:
        if not isinstance(X, pd.DataFrame) or not isinstance(self.repeats, pd.DataFrame):
            raise TypeError("ICCFilter needs X and repeats as DataFrames indexed by patient key")
        columns = list(X.columns)
        absent = [c for c in columns if c not in self.repeats.columns]
        if absent:
            raise ValueError(f"repeats lack feature column(s) {absent[:10]}")
        repeats = self.repeats.loc[self.repeats.index.isin(X.index), columns]
        per_patient = repeats.groupby(level=0, sort=False).size()
        if per_patient.nunique() > 1:
            raise ValueError("every patient in repeats needs the same number of repeat segmentations")
        patients = per_patient.index
        if len(patients) < 3:
            raise ValueError(f"only {len(patients)} training patient(s) have repeat segmentations; need >= 3")
        primary = X.loc[~X.index.duplicated(keep="first")].loc[patients].to_numpy(dtype=float)
        others = repeats.loc[patients].to_numpy(dtype=float).reshape(len(patients), -1, len(columns))
        validate_data(self, X, dtype=np.float64)
        self.icc_ = intraclass_correlation(np.concatenate([primary[:, None, :], others], axis=1), self.form)
        self.n_patients_ = len(patients)
        self.support_ = np.nan_to_num(self.icc_, nan=-np.inf) >= self.threshold
        return self

    def _get_support_mask(self) -> np.ndarray:
        check_is_fitted(self, "support_")
        return self.support_


class LassoSelector(SelectorMixin, BaseEstimator):
    """Keep the features with a non-zero coefficient in an L1-penalised logistic regression.

    Features are standardised; the penalty C is chosen by stratified inner cross-validation over a
    grid from the smallest C that selects anything (``l1_min_c``) to 1000 times it, either the best
    mean score (``rule="min"``) or the strongest penalty within one standard error of it
    (``rule="1se"``; Hastie, Tibshirani & Friedman, Elements of Statistical Learning, 7.10).
    If the chosen penalty keeps nothing, the first feature(s) to enter the path are kept.
    Tibshirani, J R Stat Soc B 1996;58:267-88.
    """

    def __init__(
        self,
        n_cs: int = 20,
        cv: int = 5,
        scoring: str = "neg_log_loss",
        rule: Literal["min", "1se"] = "min",
        random_state: int | None = None,
    ) -> None:
        self.n_cs = n_cs
        self.cv = cv
        self.scoring = scoring
        self.rule = rule
        self.random_state = random_state

    def fit(self, X: np.ndarray | pd.DataFrame, y: np.ndarray) -> LassoSelector:
        groups = row_identity(X)
        X, y = validate_data(self, X, y, dtype=np.float64)
        _fit_lasso(self, X, y, groups)
        self.support_ = self.coef_ != 0
        return self

    def _get_support_mask(self) -> np.ndarray:
        check_is_fitted(self, "support_")
        return self.support_

    def __sklearn_tags__(self) -> Tags:
        return _binary_outcome_tags(super().__sklearn_tags__())


class RadScore(TransformerMixin, BaseEstimator):
    """The rad-score: linear predictor (log-odds) of a LASSO logistic on standardised features.

    One output column, ``rad_score`` = intercept + sum of coefficient x standardised feature, with
    the penalty chosen as in :class:`LassoSelector` (Huang et al., J Clin Oncol 2016;34:2157-64).
    Use it after the reproducibility and redundancy filters, inside the same Pipeline.
    """

    def __init__(
        self,
        n_cs: int = 20,
        cv: int = 5,
        scoring: str = "neg_log_loss",
        rule: Literal["min", "1se"] = "min",
        random_state: int | None = None,
    ) -> None:
        self.n_cs = n_cs
        self.cv = cv
        self.scoring = scoring
        self.rule = rule
        self.random_state = random_state

    def fit(self, X: np.ndarray | pd.DataFrame, y: np.ndarray) -> RadScore:
        groups = row_identity(X)
        X, y = validate_data(self, X, y, dtype=np.float64)
        _fit_lasso(self, X, y, groups)
        return self

    def transform(self, X: np.ndarray | pd.DataFrame) -> np.ndarray:
        check_is_fitted(self, "coef_")
        X = validate_data(self, X, dtype=np.float64, reset=False)
        return (self.scaler_.transform(X) @ self.coef_ + self.intercept_)[:, None]

    def get_feature_names_out(self, input_features: Sequence[str] | None = None) -> np.ndarray:
        check_is_fitted(self, "coef_")
        return np.array([RAD_SCORE], dtype=object)

    def __sklearn_tags__(self) -> Tags:
        return _binary_outcome_tags(super().__sklearn_tags__())


def _binary_outcome_tags(tags: Tags) -> Tags:
    """Declare a required, binary (not multiclass) outcome, so that sklearn's checks send one."""
    tags.target_tags.required = True
    tags.classifier_tags = ClassifierTags(multi_class=False)
    return tags


@dataclass(frozen=True)
class _LassoFit:
    """What :func:`_fit_lasso` computes from the data and the settings alone."""

    scaler: StandardScaler
    cs: np.ndarray
    scores: np.ndarray
    C: float
    coef: np.ndarray
    intercept: float


_LASSO_MEMO: OrderedDict[str, _LassoFit] = OrderedDict()
"""This process's recent LASSO choices by digest of (data, settings); see :func:`_fit_lasso`."""
LASSO_MEMO_SIZE = 64


def _fit_lasso(estimator: LassoSelector | RadScore, X: np.ndarray, y: np.ndarray, groups: np.ndarray | None) -> None:
    """Choose C by inner CV, refit on all of X; sets scaler_, coef_, intercept_, C_, Cs_, cv_scores_.

    ``groups``: row identities (:func:`spineoutcome.inner_cv.row_identity`), so that copies of a
    patient in a bootstrap replicate stay in one inner fold.

    The choice is a function of the rows, the outcome, ``groups`` and the settings only, and nested
    tuning asks for it again with every trial on the same inner-fold rows: the last
    ``LASSO_MEMO_SIZE`` choices are kept in memory by a SHA-256 digest of all of these, and a repeat
    gets a copy of the first one's result instead of the 3 x 10 fits again. Without a ``random_state``
    the inner folds are drawn afresh each time, so nothing is kept.
    """
    target = type_of_target(y, input_name="y", raise_unknown=True)
    if target != "binary":
        raise ValueError(f"{type(estimator).__name__} needs a binary outcome, got {target}")
    if estimator.rule not in ("min", "1se"):
        raise ValueError(f"rule must be 'min' or '1se', got {estimator.rule!r}")
    classes, y_codes = np.unique(y, return_inverse=True)
    if classes.size < 2:
        raise ValueError(f"{type(estimator).__name__} needs both outcome classes, got one class")
    seeded = estimator.random_state is not None
    key = _lasso_key(estimator, X, y_codes, groups) if seeded else ""
    fit = _LASSO_MEMO.get(key) if seeded else None
    if fit is None:
        fit = _choose_lasso(estimator, X, y_codes, groups)
        if seeded:
            _LASSO_MEMO[key] = fit
        while len(_LASSO_MEMO) > LASSO_MEMO_SIZE:
            _LASSO_MEMO.popitem(last=False)
    else:
        _LASSO_MEMO.move_to_end(key)
    estimator.classes_ = classes
    estimator.scaler_ = copy.deepcopy(fit.scaler)
    estimator.Cs_ = fit.cs.copy()
    estimator.cv_scores_ = fit.scores.copy()
    estimator.C_ = fit.C
    estimator.coef_ = fit.coef.copy()
    estimator.intercept_ = fit.intercept


def _lasso_key(
    estimator: LassoSelector | RadScore, X: np.ndarray, y_codes: np.ndarray, groups: np.ndarray | None
) -> str:
    digest = hashlib.sha256()
    settings = (type(estimator).__name__, estimator.n_cs, estimator.cv, estimator.scoring, estimator.rule)
    digest.update(repr((settings, estimator.random_state, X.shape, groups is None)).encode())
    digest.update(np.ascontiguousarray(X, dtype=np.float64).tobytes())
    digest.update(np.ascontiguousarray(y_codes, dtype=np.int64).tobytes())
    if groups is not None:
        digest.update(np.ascontiguousarray(groups, dtype=np.int64).tobytes())
    return digest.hexdigest()


def _choose_lasso(
    estimator: LassoSelector | RadScore, X: np.ndarray, y_codes: np.ndarray, groups: np.ndarray | None
) -> _LassoFit:
    distinct = np.ones(len(y_codes), dtype=bool) if groups is None else ~pd.Series(groups).duplicated().to_numpy()
    rarer = int(np.bincount(y_codes[distinct], minlength=2).min())
    folds = min(estimator.cv, rarer)
    if folds < 2:
        raise ValueError(f"the rarer outcome class has {rarer} distinct sample(s); the inner cross-validation needs 2")
    scaler = StandardScaler().fit(X)
    standardised = scaler.transform(X)
    cs = l1_min_c(standardised, y_codes, loss="log") * np.logspace(0, 3, estimator.n_cs)
    scorer = get_scorer(estimator.scoring)
    scores = np.empty((folds, len(cs)))
    for f, (train, test) in enumerate(inner_folds(X, y_codes, folds, estimator.random_state, groups)):
        for c, penalty in enumerate(cs):
            model = make_pipeline(StandardScaler(), _l1_logistic(penalty, estimator.random_state))
            model.fit(X[train], y_codes[train])
            scores[f, c] = scorer(model, X[test], y_codes[test])
    mean = scores.mean(axis=0)
    best = int(np.argmax(mean))
    if estimator.rule == "1se":
        standard_error = scores[:, best].std(ddof=1) / np.sqrt(folds)
        best = int(np.flatnonzero(mean >= mean[best] - standard_error)[0])
    for penalty in cs[best:]:
        final = _l1_logistic(penalty, estimator.random_state).fit(standardised, y_codes)
        if np.any(final.coef_ != 0):
            break
    return _LassoFit(scaler, cs, scores, float(final.C), final.coef_.ravel().copy(), float(final.intercept_[0]))


def _l1_logistic(penalty: float, random_state: int | None) -> LogisticRegression:
    return LogisticRegression(C=penalty, l1_ratio=1.0, solver="liblinear", max_iter=1000, random_state=random_state)


def _univariate_association(X: np.ndarray, y: np.ndarray) -> np.ndarray:
    with warnings.catch_warnings(), np.errstate(divide="ignore", invalid="ignore"):
        warnings.simplefilter("ignore", UserWarning)  # constant features score 0 below
        if type_of_target(y) in ("binary", "multiclass"):
            association = f_classif(X, y)[0]
        else:
            association = np.abs(r_regression(X, y.astype(float)))
    return np.nan_to_num(association, nan=0.0, posinf=np.finfo(float).max)


def pyradiomics_params_path() -> Path:
    """The extraction settings shipped with the package (pyradiomics_params.yaml)."""
    return Path(str(resources.files("spineoutcome.imaging"))) / PYRADIOMICS_PARAMS


def extract_radiomics(
    image: str | Path, mask: str | Path, params: str | Path | None = None, label: int = 1
) -> pd.Series:
    """PyRadiomics features of one image + mask (NIfTI, NRRD, ...) with stated settings.

    ``params`` defaults to the shipped pyradiomics_params.yaml (CT: resampled to 1 x 1 x 1 mm
    with B-spline interpolation, fixed bin width 25 HU, original + wavelet + LoG images, all
    feature classes). Returns the features as floats, diagnostics left out. Needs the optional
    ``radiomics`` extra (PyRadiomics), which is not a default dependency.
    """
    try:
        from radiomics import featureextractor
    except ImportError as error:
        raise ImportError(
            "extract_radiomics needs PyRadiomics, the optional 'radiomics' extra of spineoutcome. "
            "PyRadiomics 3.0.1 builds from source against an installed numpy: "
            "`pip install numpy versioneer && pip install --no-build-isolation pyradiomics==3.0.1`"
        ) from error
    extractor = featureextractor.RadiomicsFeatureExtractor(str(params or pyradiomics_params_path()))
    result = extractor.execute(str(image), str(mask), label=label)
    return pd.Series(
        {name: float(value) for name, value in result.items() if not name.startswith(DIAGNOSTICS_PREFIX)}, dtype=float
    )
