"""The model design of many rows from their distinct values: the fast path of scoring.

The bundle's preprocessing (median / most-frequent imputation with missing indicators, restricted
cubic splines, standardisation, one-hot encoding, radiomics column selection) is *separable*: each
design column depends on one predictor's value only (:func:`~spineoutcome.modeling.feature_sources`
names it). For such a preprocessor the design of a chunk is the preprocessor applied to the
chunk's distinct values of each predictor, gathered back to the rows. The values are computed by
the fitted preprocessor itself, so the design is the same, number for number, as
``preprocess.transform(chunk)`` (tested); it is computed once per distinct value instead of once
per row.

:class:`DesignCache` keeps, across the chunks of an export, every distinct value seen so far (its
*vocabulary*, per predictor) and the design columns of those values for every pipeline of a
model: the selected pipeline and the 30-odd bootstrap refits of the uncertainty band. A chunk
only sends its *new* values through the preprocessors; exports hold few distinct values per
predictor (ages, grades, categories, measurements to a decimal), so after the first chunks most
chunks need no preprocessing at all, just gathers. A vocabulary is bounded
(:data:`MAX_VALUES`); when it fills, the cache starts afresh.

For logistic regression the refits' risks are computed from per-value contributions to the
linear predictor, intercept + sum over predictors of (design columns x coefficients); that is the
model's own formula with another order of summation (equal to ~1e-15), and it does not depend on
which other patients are in the chunk. The selected pipeline's risk always goes through the
model's own ``predict_proba`` on the full design, so it is the risk the MLflow model gives for
the same rows, to the last bit (a BLAS matrix product may round the last bit differently for
another batch size, for the MLflow model as here).

The distinct values go through the preprocessor translated to NumPy (:mod:`.compiled`: the same
operations, without sklearn's fixed cost per call, checked against ``transform`` on the first
values); a preprocessor it cannot translate is applied with ``transform``. A preprocessor that is
not separable (iterative imputation, a rad-score combining features) is applied to every row.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.special import expit
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline

from spineoutcome.modeling import feature_sources
from spineoutcome.scoring.compiled import NotCompilable, compile_preprocess

MAX_VALUES = 50_000
"""Largest vocabulary of one predictor before the cache starts afresh (bounds memory)."""


@dataclass(frozen=True)
class DistinctValues:
    """Each predictor of a chunk as codes into its distinct values (missing is a value of its own).

    The distinct values may repeat (two spellings of one value); codes index ``uniques``.
    """

    codes: dict[str, np.ndarray]
    uniques: dict[str, pd.Series]
    n: int

    @classmethod
    def of(cls, frame: pd.DataFrame) -> DistinctValues:
        codes: dict[str, np.ndarray] = {}
        uniques: dict[str, pd.Series] = {}
        for name in frame.columns:
            code, levels = pd.factorize(frame[name], use_na_sentinel=False)
            codes[name] = code
            uniques[name] = pd.Series(levels, dtype=frame[name].dtype)
        return cls(codes, uniques, len(frame))

    def subset(self, rows: np.ndarray) -> DistinctValues:
        """The same distinct values, for the rows selected by a boolean mask or positions."""
        codes = {name: code[rows] for name, code in self.codes.items()}
        n = len(next(iter(codes.values()))) if codes else 0
        return DistinctValues(codes, self.uniques, n)


class PipelineDesign:
    """One fitted ``Pipeline([("preprocess", ...), ("model", ...)])``: its design columns and model step."""

    def __init__(self, pipeline: Pipeline) -> None:
        self.pipeline = pipeline
        self.preprocess = pipeline.named_steps["preprocess"]
        self.model = pipeline.named_steps["model"]
        self.columns = list(self.preprocess.get_feature_names_out())
        inner = getattr(self.preprocess, "transformer_", self.preprocess)
        inputs = list(getattr(inner, "feature_names_in_", []))
        sources = feature_sources(self.preprocess)
        self.sources = [sources[c] for c in self.columns]
        self.separable = (
            getattr(self.preprocess, "imputation", "simple") == "simple"
            and bool(inputs)
            and all(s in inputs for s in self.sources)
        )
        self.blocks = {
            s: np.asarray([i for i, c in enumerate(self.sources) if c == s]) for s in dict.fromkeys(self.sources)
        }
        self.linear = (
            isinstance(self.model, LogisticRegression)
            and len(self.model.classes_) == 2
            and self.model.coef_.shape[0] == 1
        )
        try:
            self.compiled = compile_preprocess(self.preprocess) if self.separable else None
        except NotCompilable:
            self.compiled = None

    def transform(self, frame: pd.DataFrame) -> pd.DataFrame:
        return self.preprocess.transform(frame)

    def predict_proba(self, design: pd.DataFrame) -> np.ndarray:
        """The model step's probability of the outcome for a design."""
        return self.model.predict_proba(design)[:, 1]


class DesignCache:
    """Designs and refit risks of a model's pipelines for chunk after chunk (module docstring).

    ``pipelines[0]`` is the selected pipeline; the others are its bootstrap refits.
    """

    def __init__(self, pipelines: list[Pipeline], predictors: list[str], *, max_values: int = MAX_VALUES) -> None:
        self.pipelines = [PipelineDesign(p) for p in pipelines]
        self.predictors = list(predictors)
        self.max_values = max_values
        self.transforms = 0
        self.compiled = all(p.compiled is not None for p in self.pipelines if p.separable)
        self._checks_left = 2
        self._reset()

    def _reset(self) -> None:
        self._index: dict[str, pd.Index] = {}
        self._values: dict[str, pd.Series] = {}
        self._tables: list[dict[str, np.ndarray]] = [{} for _ in self.pipelines]
        self._logits: list[dict[str, np.ndarray]] = [{} for _ in self.pipelines]

    def rows(self, frame: pd.DataFrame, distinct: DistinctValues) -> dict[str, np.ndarray]:
        """Each row's position in each predictor's vocabulary, after adding the chunk's new values.

        ``frame``: the chunk's typed predictors; ``distinct``: their codes (for the same rows).
        """
        if not len(frame):
            return {name: np.zeros(0, dtype=np.intp) for name in self.predictors}
        used = {name: np.unique(distinct.codes[name]) for name in self.predictors}
        keys = {name: _keys(distinct.uniques[name].iloc[used[name]]) for name in self.predictors}
        if any(
            name in self._index and len(self._index[name]) + len(keys[name]) > self.max_values
            for name in self.predictors
        ):
            self._reset()
        new: dict[str, pd.Series] = {}
        for name in self.predictors:
            known = self._index.get(name)
            found = known.get_indexer(keys[name]) if known is not None else np.full(len(keys[name]), -1)
            if (found < 0).any():
                new[name] = _dedupe(distinct.uniques[name].iloc[used[name][found < 0]])
        if new:
            self._add(new, frame)
        out = {}
        for name in self.predictors:
            position = np.full(len(distinct.uniques[name]), -1, dtype=np.intp)
            position[used[name]] = self._index[name].get_indexer(keys[name])
            out[name] = position[distinct.codes[name]]
        return out

    def _add(self, new: dict[str, pd.Series], frame: pd.DataFrame) -> None:
        for name, values in new.items():
            old = self._values.get(name)
            self._values[name] = (
                values.reset_index(drop=True) if old is None else pd.concat([old, values], ignore_index=True)
            )
            self._index[name] = pd.Index(_keys(self._values[name]))
        size = max(len(v) for v in new.values())
        table = {}
        for name in self.predictors:
            values = new.get(name)
            if values is None or not len(values):
                values = self._values[name].iloc[:1]
            take = np.minimum(np.arange(size), len(values) - 1)
            table[name] = pd.Series(values.iloc[take].to_numpy(), dtype=frame[name].dtype)
        table_frame = pd.DataFrame(table)[list(frame.columns)]
        for i, design in enumerate(self.pipelines):
            if not design.separable:
                continue
            values = self._transform(design, table_frame)
            for source, positions in design.blocks.items():
                if source not in new:
                    continue
                block = values[: len(new[source])][:, positions]
                self._tables[i][source] = _append(self._tables[i].get(source), block)
                if design.linear:
                    # column by column (not a BLAS product): a value's contribution must not depend on
                    # how many other values were computed with it
                    coefficients = design.model.coef_.ravel()[positions]
                    contribution = np.zeros(len(block))
                    for k, coefficient in enumerate(coefficients):
                        contribution += block[:, k] * coefficient
                    self._logits[i][source] = _append(self._logits[i].get(source), contribution)

    def _transform(self, design: PipelineDesign, table: pd.DataFrame) -> np.ndarray:
        """The preprocessor on a table of values: compiled when possible, checked against sklearn at first."""
        self.transforms += 1
        if self.compiled and design.compiled is not None:
            try:
                values = design.compiled(table)
            except NotCompilable:
                values = None
            if values is not None and self._checks_left:
                self._checks_left -= 1
                reference = design.transform(table).to_numpy(dtype=np.float64)
                if values.shape != reference.shape or not np.array_equal(values, reference, equal_nan=True):
                    values = None
            if values is not None:
                return values
            self.compiled = False
        return design.transform(table).to_numpy(dtype=np.float64)

    def design(self, i: int, frame: pd.DataFrame, rows: dict[str, np.ndarray]) -> pd.DataFrame:
        """The design of pipeline ``i`` for the chunk rows, as ``preprocess.transform(frame)`` gives it."""
        pipeline = self.pipelines[i]
        if not pipeline.separable:
            return pipeline.transform(frame)
        # Column-major, as pandas hands the sklearn design to the model: the same memory layout gives
        # the same floating-point summation in the model's matrix product, hence identical risks.
        design = np.empty((len(frame), len(pipeline.columns)), dtype=np.float64, order="F")
        for source, positions in pipeline.blocks.items():
            design[:, positions] = self._tables[i][source][rows[source]]
        return pd.DataFrame(design, columns=pipeline.columns, index=frame.index)

    def probability(
        self, i: int, frame: pd.DataFrame, rows: dict[str, np.ndarray], *, exact: bool = False
    ) -> np.ndarray:
        """Uncalibrated risk of pipeline ``i``; ``exact``: through the model's own ``predict_proba``."""
        pipeline = self.pipelines[i]
        if pipeline.linear and pipeline.separable and not exact:
            logit = np.full(len(frame), float(pipeline.model.intercept_[0]))
            for source in pipeline.blocks:
                logit += self._logits[i][source][rows[source]]
            return expit(logit)
        return pipeline.predict_proba(self.design(i, frame, rows))


def _keys(values: pd.Series) -> np.ndarray:
    """Hashable keys of typed values for the vocabulary: numbers as float64, the rest as objects; NaN = missing."""
    if isinstance(values.dtype, pd.CategoricalDtype) or values.dtype == object:
        return values.astype(object).where(values.notna(), np.nan).to_numpy(dtype=object)
    return values.to_numpy(dtype=np.float64, na_value=np.nan)


def _dedupe(values: pd.Series) -> pd.Series:
    keep = ~pd.Index(_keys(values)).duplicated(keep="first")
    return values[keep]


def _append(old: np.ndarray | None, new: np.ndarray) -> np.ndarray:
    return new.copy() if old is None else np.concatenate([old, new])
