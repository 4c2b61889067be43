"""The combined evaluation shares one bootstrap and serialises to JSON."""

from __future__ import annotations

import json

import numpy as np
import pytest

from spineoutcome.evaluation import (
    Bootstrap,
    calibration_curve,
    calibration_metrics,
    decision_curve,
    evaluate_predictions,
    roc_auc,
)

from .conftest import simulate


def test_evaluation_equals_the_individual_functions_with_the_same_bootstrap():
    d = simulate(400, seed=30, intercept=0.2, slope=0.9)
    ev = evaluate_predictions(d.y, d.p, n_boot=80, seed=3, nb_thresholds=[0.1, 0.2])
    boot = Bootstrap.draw(d.y, n_boot=80, seed=3)
    auc = roc_auc(d.y, d.p, ci_method="bootstrap", boot=boot)
    assert ev.discrimination == auc
    cal = calibration_metrics(d.y, d.p, ci_method="bootstrap", boot=boot)
    assert ev.calibration == cal
    assert ev.calibration_curve.ici == calibration_curve(d.y, d.p, boot=boot).ici
    assert ev.decision_curve.ci == decision_curve(d.y, d.p, thresholds=[0.1, 0.2], boot=boot).ci
    assert ev.discrimination.se_delong == pytest.approx(roc_auc(d.y, d.p).se_delong)
    record = json.loads(json.dumps(ev.to_dict(), allow_nan=False))
    assert record["n_boot"] == 80 and record["stratified"] is False
    assert record["discrimination"]["auc"]["ci_method"] == "bootstrap-percentile"


def test_analytic_intervals_and_cluster_bootstrap():
    d = simulate(300, seed=31)
    clusters = np.repeat(np.arange(10), 30)
    ev = evaluate_predictions(d.y, d.p, n_boot=40, seed=1, clusters=clusters, ci_method="analytic", nb_thresholds=[0.2])
    assert ev.clustered and not ev.stratified
    assert ev.discrimination.auc.ci_method == "delong"
    assert ev.calibration.slope.ci_method == "wald"
    assert ev.overall.brier.ci_method == "bootstrap-percentile"
    json.dumps(ev.to_dict(), allow_nan=False)
