"""The scoring path the server uses: linear SHAP from the cached design equals the SHAP of
:func:`spineoutcome.explain.shap_contributions` (which runs the scikit-learn preprocessing again)."""

from __future__ import annotations

import numpy as np

from spineoutcome.scoring import parse_predictors, task
from spineoutcome.scoring.design import DistinctValues
from spineoutcome.serve import load_models

from .conftest import URIS, Store


def test_linear_shap_from_the_cached_design_equals_shap_contributions(store: Store, monkeypatch) -> None:
    for served in load_models(URIS, tracking_uri=store.uri):
        rows = store.patients.head(300).copy()
        rows.loc[rows.index[:40], served.contract.names[-1]] = ""  # missing values: imputed, indicator columns
        parsed = parse_predictors(rows[served.contract.names], served.contract)
        valid = np.ones(len(rows), dtype=bool)
        for problem in parsed.problems:
            valid[problem.positions] = False
        frame = parsed.frame[valid]
        scorer = served.scorer
        cache = scorer.cache
        assert cache.pipelines[0].linear
        design = cache.design(0, frame, cache.rows(frame, DistinctValues.of(frame)))
        fast = scorer.contributions(frame, design)
        reference = scorer.contributions(frame)
        assert valid.sum() > 250 and np.abs(reference).max() > 0.1
        np.testing.assert_allclose(fast, reference, rtol=0, atol=1e-12)
        with monkeypatch.context() as patched:  # scoring takes the design it already has
            patched.setattr(task, "shap_contributions", None)
            scores = scorer.score(frame, parsed.missing[valid], DistinctValues.of(frame))
        np.testing.assert_allclose(scores.shap, reference, rtol=0, atol=1e-12)
