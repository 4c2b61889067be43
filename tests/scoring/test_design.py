"""The distinct-values design equals the preprocessor applied row by row, chunk after chunk."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline

from spineoutcome.dictionary import DataDictionary
from spineoutcome.modeling import build_preprocessor
from spineoutcome.scoring import load_scoring_model, parse_predictors
from spineoutcome.scoring.compiled import NotCompilable, compile_preprocess
from spineoutcome.scoring.design import DesignCache, DistinctValues


@pytest.fixture(scope="module", params=["logistic", "xgboost"])
def bundle(request, store, versions):
    return load_scoring_model(versions[request.param]).bundle


def chunks(export: pd.DataFrame, sizes: list[int]) -> list[pd.DataFrame]:
    out, start = [], 0
    for size in sizes:
        out.append(export.iloc[start : start + size].reset_index(drop=True))
        start += size
    return out


def test_design_and_risks_equal_the_pipeline_on_every_chunk(bundle, hospital) -> None:
    pipelines = [bundle.pipeline, *bundle.ensemble]
    cache = DesignCache(pipelines, bundle.contract.names)
    assert all(p.separable for p in cache.pipelines)
    parts = chunks(hospital.export, [50, 250, 300])
    for part in [*parts, parts[1].iloc[::-1].reset_index(drop=True)]:
        parsed = parse_predictors(part, bundle.contract)
        rows = cache.rows(parsed.frame, parsed.distinct)
        for i, pipeline in enumerate(pipelines):
            expected = pipeline.named_steps["preprocess"].transform(parsed.frame)
            pd.testing.assert_frame_equal(cache.design(i, parsed.frame, rows), expected, check_exact=True)
        assert np.array_equal(
            cache.probability(0, parsed.frame, rows, exact=True), bundle.pipeline.predict_proba(parsed.frame)[:, 1]
        )
        for i, refit in enumerate(bundle.ensemble, start=1):
            np.testing.assert_allclose(
                cache.probability(i, parsed.frame, rows),
                refit.predict_proba(parsed.frame)[:, 1],
                rtol=1e-12,
                atol=1e-15,
            )
    # A chunk of values already seen needs no preprocessing at all.
    assert cache.transforms == 3 * len(pipelines)


def test_a_full_vocabulary_starts_afresh(bundle, hospital) -> None:
    cache = DesignCache([bundle.pipeline], bundle.contract.names, max_values=40)
    for part in chunks(hospital.export, [100, 100]):
        parsed = parse_predictors(part, bundle.contract)
        rows = cache.rows(parsed.frame, parsed.distinct)
        pd.testing.assert_frame_equal(
            cache.design(0, parsed.frame, rows), bundle.pipeline.named_steps["preprocess"].transform(parsed.frame)
        )


def test_a_preprocessor_that_is_not_separable_is_applied_to_every_row(store, hospital) -> None:
    task = store.result.task
    pre = build_preprocessor(DataDictionary.load(), task.predictors, imputation="iterative", drop_first=True)
    pipeline = Pipeline([("preprocess", pre), ("model", LogisticRegression(max_iter=500))]).fit(task.X, task.y)
    cache = DesignCache([pipeline], task.predictors)
    assert not cache.pipelines[0].separable
    frame = task.X.head(80)
    rows = cache.rows(frame, DistinctValues.of(frame))
    pd.testing.assert_frame_equal(cache.design(0, frame, rows), pre.transform(frame))
    assert np.array_equal(cache.probability(0, frame, rows), pipeline.predict_proba(frame)[:, 1])


def test_the_numpy_translation_equals_transform(bundle, hospital) -> None:
    frame = parse_predictors(hospital.export, bundle.contract).frame
    for pipeline in [bundle.pipeline, *bundle.ensemble]:
        pre = pipeline.named_steps["preprocess"]
        compiled = compile_preprocess(pre)
        for _ in range(2):  # the first call checks the column names, later calls do not
            assert np.array_equal(compiled(frame), pre.transform(frame).to_numpy(), equal_nan=True)
    assert DesignCache([bundle.pipeline, *bundle.ensemble], bundle.contract.names).compiled


def test_an_iterative_imputer_is_not_translated(store) -> None:
    pre = build_preprocessor(DataDictionary.load(), store.result.task.predictors, imputation="iterative")
    pre.fit(store.result.task.X)
    with pytest.raises(NotCompilable):
        compile_preprocess(pre)(store.result.task.X.head(5))


def test_a_translation_that_disagrees_with_transform_is_dropped(bundle, hospital) -> None:
    cache = DesignCache([bundle.pipeline], bundle.contract.names)
    good = cache.pipelines[0].compiled
    cache.pipelines[0].compiled = lambda frame: good(frame) + 1e-12
    parsed = parse_predictors(hospital.export.head(100), bundle.contract)
    rows = cache.rows(parsed.frame, parsed.distinct)
    assert not cache.compiled
    pd.testing.assert_frame_equal(
        cache.design(0, parsed.frame, rows), bundle.pipeline.named_steps["preprocess"].transform(parsed.frame)
    )
