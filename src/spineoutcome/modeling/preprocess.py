"""Preprocessing of the assembled cohort's predictors, learned inside the resampling loop.

The data dictionary decides what each predictor is:

- continuous (dtype float or int): cast to float64 -> median (or MICE-style iterative)
  imputation with a missing indicator for every column that had missing values in the fit
  data -> optional restricted cubic splines (:mod:`.splines`) -> optional standardisation;
- binary (dtype bool): cast to 0/1 float -> most-frequent imputation with a missing indicator;
- categorical (dtype category): most-frequent imputation or an explicit ``"missing"`` level ->
  one-hot encoding over the dictionary's categories, in the dictionary's order, so every fit
  produces the same columns and the reference level is the first category the dictionary
  lists (e.g. ``never`` for smoking). ``drop_first=True`` drops that reference level, which an
  unpenalised model needs: with all K dummies and an intercept the design has rank deficiency
  one and the coefficients are not identified. Penalised models and trees keep all K (the
  penalty then treats every level alike). A level absent from the fit data gives a column of
  zeros (coefficient 0, i.e. the reference risk); a value outside the dictionary is encoded
  as all zeros as well (``handle_unknown="ignore"``);
- radiomics (``group == "radiomics"``): median imputation -> optional selection transformer
  (e.g. near-zero-variance and correlation filters, LASSO) -> optional standardisation.
  Radiomics columns get no missing indicators: a missing segmentation removes every feature of
  a patient at once, so hundreds of identical indicators would carry one bit.

Binary columns (dummies, booleans, indicators) stay 0/1 when ``scale=True``; standardisation is
for continuous columns and their spline terms. Every statistic (medians, modes, imputation
models, knots, means and SDs, selected features) is learned in ``fit`` only, so the transformer
can sit inside a cross-validation or bootstrap loop without leaking test rows.

The indicator method keeps the information in *whether* a value is missing, which is available
at prediction time too (Sperrin et al., Stat Med 2020;39:3591-3607; van Smeden et al.,
J Clin Epidemiol 2020). Iterative imputation uses the continuous predictors only and never the
outcome, so the same imputation model applies unchanged at deployment.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Literal

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.compose import ColumnTransformer, make_column_selector
from sklearn.experimental import enable_iterative_imputer  # noqa: F401  (registers IterativeImputer)
from sklearn.impute import IterativeImputer, SimpleImputer
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer, OneHotEncoder, StandardScaler
from sklearn.utils.validation import check_is_fitted

from ..dictionary import RADIOMICS_GROUP, DataDictionary
from .splines import RestrictedCubicSpline

Imputation = Literal["simple", "iterative"]
CategoricalMissing = Literal["most_frequent", "level"]
MISSING_LEVEL = "missing"
_INDICATOR = "^missingindicator_"
_NOT_INDICATOR = "^(?!missingindicator_)"


class Preprocessor(TransformerMixin, BaseEstimator):
    """Dictionary-typed predictor preprocessing (see the module docstring for each column kind).

    Build it with :func:`build_preprocessor`, which reads the column kinds from the data
    dictionary. ``transform`` returns a float64 DataFrame.

    Parameters
    ----------
    continuous, binary, radiomics : column names of each kind.
    categorical : column name -> its categories, in reference-first order.
    imputation : ``"simple"`` (median) or ``"iterative"`` (IterativeImputer, BayesianRidge,
        ``sample_posterior=False``: one deterministic imputation), both with missing indicators.
    spline_knots : knots of a restricted cubic spline for every continuous column, or None.
    scale : standardise continuous columns (and spline terms, and radiomics).
    drop_first : drop each categorical's reference level (unpenalised models).
    categorical_missing : ``"most_frequent"`` or ``"level"`` (missing becomes its own level).
    radiomics_selector : unfitted transformer applied to the imputed radiomics block (it
        receives ``y``), or None to keep every radiomics column.
    random_state : seed of the iterative imputer.

    Attributes
    ----------
    transformer_ : the fitted ColumnTransformer.
    feature_sources_ : dict, output column -> source variable (see :func:`feature_sources`).
    """

    def __init__(
        self,
        continuous: Sequence[str] = (),
        binary: Sequence[str] = (),
        categorical: Mapping[str, Sequence[str]] | None = None,
        radiomics: Sequence[str] = (),
        *,
        imputation: Imputation = "simple",
        spline_knots: int | None = None,
        scale: bool = True,
        drop_first: bool = False,
        categorical_missing: CategoricalMissing = "most_frequent",
        radiomics_selector: TransformerMixin | None = None,
        random_state: int | None = 0,
    ) -> None:
        self.continuous = continuous
        self.binary = binary
        self.categorical = categorical
        self.radiomics = radiomics
        self.imputation = imputation
        self.spline_knots = spline_knots
        self.scale = scale
        self.drop_first = drop_first
        self.categorical_missing = categorical_missing
        self.radiomics_selector = radiomics_selector
        self.random_state = random_state

    def fit(self, X: pd.DataFrame, y: Any = None) -> Preprocessor:
        if not isinstance(X, pd.DataFrame):
            raise TypeError(f"X must be a pandas DataFrame with the predictor columns, got {type(X).__name__}")
        columns = [*self.continuous, *self.binary, *(self.categorical or {}), *self.radiomics]
        absent = [c for c in columns if c not in X.columns]
        if absent:
            raise ValueError(f"X lacks predictor columns {absent}")
        if not columns:
            raise ValueError("the preprocessor has no predictor columns")
        self.transformer_ = self._build().set_output(transform="pandas").fit(X, y)
        names = self.transformer_.get_feature_names_out()
        sources = _sources(self.transformer_, list(self.transformer_.feature_names_in_))
        self.feature_sources_ = dict(zip(names, sources, strict=False))
        return self

    def transform(self, X: pd.DataFrame) -> pd.DataFrame:
        check_is_fitted(self, "transformer_")
        return self.transformer_.transform(X)

    def get_feature_names_out(self, input_features: Any = None) -> np.ndarray:
        check_is_fitted(self, "transformer_")
        return self.transformer_.get_feature_names_out()

    def _build(self) -> ColumnTransformer:
        if self.imputation not in ("simple", "iterative"):
            raise ValueError(f"imputation must be 'simple' or 'iterative', got {self.imputation!r}")
        if self.categorical_missing not in ("most_frequent", "level"):
            raise ValueError(
                f"categorical_missing must be 'most_frequent' or 'level', got {self.categorical_missing!r}"
            )
        branches = [
            ("continuous", self._continuous(), list(self.continuous)),
            (
                "binary",
                Pipeline([("cast", _as_float()), ("impute", _simple("most_frequent", indicator=True))]),
                list(self.binary),
            ),
            ("categorical", self._categorical(), list(self.categorical or {})),
            ("radiomics", self._radiomics(), list(self.radiomics)),
        ]
        return ColumnTransformer(
            [(name, branch, cols) for name, branch, cols in branches if cols], verbose_feature_names_out=False
        )

    def _continuous(self) -> Pipeline:
        if self.imputation == "iterative":
            imputer = IterativeImputer(
                add_indicator=True,
                sample_posterior=False,
                initial_strategy="median",
                keep_empty_features=True,
                random_state=self.random_state,
            )
        else:
            imputer = _simple("median", indicator=True)
        steps: list[tuple[str, Any]] = [("cast", _as_float()), ("impute", imputer)]
        values = [("spline", RestrictedCubicSpline(n_knots=self.spline_knots))] if self.spline_knots else []
        values += [("scale", StandardScaler())] if self.scale else []
        if values:
            steps.append(
                (
                    "expand",
                    ColumnTransformer(
                        [
                            ("values", Pipeline(values), make_column_selector(pattern=_NOT_INDICATOR)),
                            ("indicators", "passthrough", make_column_selector(pattern=_INDICATOR)),
                        ],
                        verbose_feature_names_out=False,
                    ),
                )
            )
        return Pipeline(steps)

    def _categorical(self) -> Pipeline:
        categories = [list(levels) for levels in (self.categorical or {}).values()]
        if self.categorical_missing == "level":
            imputer = SimpleImputer(strategy="constant", fill_value=MISSING_LEVEL, keep_empty_features=True)
            categories = [levels + [MISSING_LEVEL] for levels in categories]
        else:
            imputer = _simple("most_frequent", indicator=False)
        encoder = OneHotEncoder(
            categories=categories,
            drop="first" if self.drop_first else None,
            handle_unknown="ignore",
            sparse_output=False,
            dtype=np.float64,
        )
        return Pipeline(
            [
                ("cast", FunctionTransformer(to_object, feature_names_out="one-to-one")),
                ("impute", imputer),
                ("onehot", encoder),
            ]
        )

    def _radiomics(self) -> Pipeline:
        steps: list[tuple[str, Any]] = [("cast", _as_float()), ("impute", _simple("median", indicator=False))]
        if self.radiomics_selector is not None:
            steps.append(("select", self.radiomics_selector))
        if self.scale:
            steps.append(("scale", StandardScaler()))
        return Pipeline(steps)


def build_preprocessor(
    dictionary: DataDictionary,
    predictors: Sequence[str],
    *,
    imputation: Imputation = "simple",
    spline_knots: int | None = None,
    scale: bool = True,
    radiomics: Mapping[str, Any] | TransformerMixin | None = None,
    drop_first: bool = False,
    categorical_missing: CategoricalMissing = "most_frequent",
    random_state: int | None = 0,
) -> Preprocessor:
    """A :class:`Preprocessor` for ``predictors``, each typed by the data dictionary.

    ``radiomics`` configures the radiomics block: None or ``{"selection": "none"}`` keeps every
    feature (imputed and scaled); an unfitted sklearn transformer is used as the selection step
    (it is fit with ``y`` on the training rows only). The predictors pass the dictionary's
    leakage guard again here, so a post-operative variable cannot slip in.
    """
    dictionary.resolve_predictors(include=predictors)
    kinds: dict[str, list[str]] = {"continuous": [], "binary": [], "radiomics": []}
    categorical: dict[str, list[str]] = {}
    for name in predictors:
        var = dictionary.variable(name)
        if var.group == RADIOMICS_GROUP:
            kinds["radiomics"].append(name)
        elif var.dtype in ("float", "int"):
            kinds["continuous"].append(name)
        elif var.dtype == "bool":
            kinds["binary"].append(name)
        elif var.dtype == "category":
            categorical[name] = list(var.categories or ())
        else:
            raise ValueError(
                f"predictor {name!r} has dtype {var.dtype!r}; predictors must be float, int, bool or category"
            )
    return Preprocessor(
        **kinds,
        categorical=categorical,
        imputation=imputation,
        spline_knots=spline_knots,
        scale=scale,
        drop_first=drop_first,
        categorical_missing=categorical_missing,
        radiomics_selector=_radiomics_selector(radiomics, random_state),
        random_state=random_state,
    )


def feature_sources(fitted: Preprocessor | Pipeline) -> dict[str, str]:
    """Output column -> the predictor it comes from, for a fitted :class:`Preprocessor`.

    Spline terms, missing indicators and one-hot columns map to their source variable, so
    per-column SHAP values or coefficients can be summed per predictor. A column a radiomics
    selector constructs from several features (e.g. a rad-score) is its own source. A fitted
    model Pipeline is accepted too (its ``preprocess`` step is used).
    """
    if isinstance(fitted, Pipeline):
        fitted = fitted.named_steps["preprocess"]
    check_is_fitted(fitted, "feature_sources_")
    return dict(fitted.feature_sources_)


def _radiomics_selector(
    radiomics: Mapping[str, Any] | TransformerMixin | None, random_state: int | None
) -> TransformerMixin | None:
    """The radiomics selection step: a given transformer, or one named by ``{"selection": ...}``.

    ``lasso``: near-zero-variance filter -> correlation de-duplication (|r| > 0.9) -> LASSO selection
    (penalty by 3-fold inner CV over 10 values, one-standard-error rule for a sparse set: it runs in every
    fit of nested tuning, so it is kept cheap); ``rad_score``: the same filters -> one rad-score column (the
    LASSO linear predictor). All of it is fit on the training rows only (see :mod:`spineoutcome.imaging.radiomics`).
    """
    if radiomics is None or hasattr(radiomics, "fit"):
        return radiomics
    selection = radiomics.get("selection", "none")
    if selection == "none":
        return None
    from spineoutcome.imaging import CorrelationFilter, LassoSelector, NearZeroVarianceFilter, RadScore

    final = {"lasso": LassoSelector, "rad_score": RadScore}.get(selection)
    if final is None:
        raise ValueError(f"radiomics selection must be 'none', 'lasso' or 'rad_score', got {selection!r}")
    return Pipeline(
        [
            ("near_zero_variance", NearZeroVarianceFilter()),
            ("correlation", CorrelationFilter()),
            (selection, final(rule="1se", n_cs=10, cv=3, random_state=random_state)),
        ]
    )


def _simple(strategy: str, *, indicator: bool) -> SimpleImputer:
    return SimpleImputer(strategy=strategy, add_indicator=indicator, keep_empty_features=True)


def _as_float() -> FunctionTransformer:
    return FunctionTransformer(to_float, feature_names_out="one-to-one")


def to_float(X: pd.DataFrame) -> pd.DataFrame:
    """Nullable Int64 / boolean / float columns as float64 with NaN for missing."""
    return pd.DataFrame({c: X[c].to_numpy(dtype=np.float64, na_value=np.nan) for c in X.columns}, index=X.index)


def to_object(X: pd.DataFrame) -> pd.DataFrame:
    """Categorical columns as object arrays of strings with NaN for missing (what SimpleImputer expects)."""
    return pd.DataFrame(
        {c: X[c].astype(object).where(X[c].notna(), np.nan).to_numpy() for c in X.columns}, index=X.index
    )


def _sources(step: Any, sources: list[str]) -> list[str]:
    """Source variable of each output column of a fitted step, given the sources of its inputs."""
    if isinstance(step, Pipeline):
        for _, inner in step.steps:
            sources = _sources(inner, sources)
        return sources
    if isinstance(step, ColumnTransformer):
        position = {name: i for i, name in enumerate(step.feature_names_in_)}
        out = [""] * len(step.get_feature_names_out())
        for name, inner, cols in step.transformers_:
            span = step.output_indices_[name]
            if span.stop > span.start:
                out[span] = _sources(inner, [sources[position[c]] for c in cols])
        return out
    if isinstance(step, (SimpleImputer, IterativeImputer)):
        indicated = step.indicator_.features_ if step.add_indicator else []
        return sources + [sources[i] for i in indicated]
    if isinstance(step, OneHotEncoder):
        drops = step.drop_idx_ if step.drop_idx_ is not None else [None] * len(sources)
        return [
            src
            for src, levels, drop in zip(sources, step.categories_, drops, strict=False)
            for _ in range(len(levels) - (drop is not None))
        ]
    if isinstance(step, RestrictedCubicSpline):
        return [src for src, n in zip(sources, step.n_basis_, strict=False) for _ in range(n)]
    lookup = dict(zip(step.feature_names_in_, sources, strict=False))
    return [lookup.get(name, name) for name in step.get_feature_names_out()]


# The names of the first releases: model bundles pickled then refer to them (unpickled to the same functions).
_to_float = to_float
_to_object = to_object
