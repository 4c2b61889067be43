"""Model updating: closed testing on data with a known answer (LR statistics against statsmodels),
the updated bundle, and the registered version with its lineage."""

from __future__ import annotations

import json
from pathlib import Path

import mlflow
import numpy as np
import pytest
import statsmodels.api as sm
from scipy.special import expit, logit
from typer.testing import CliRunner

from spineoutcome.api import load_cohort
from spineoutcome.cli import app
from spineoutcome.lifecycle.loading import load_model
from spineoutcome.lifecycle.site import site_data, site_part
from spineoutcome.lifecycle.update import closed_test, update_model

from .conftest import World

N = 4000
BETA = np.array([-2.0, 0.8, -0.5, 0.4])


def _world(seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    design = rng.normal(size=(N, 3))
    return design, expit(BETA[0] + design @ BETA[1:])


CASES = {
    # (truth as a function of the design and the original risk, expected choice)
    "none": (lambda d, p: p, "none"),
    "intercept": (lambda d, p: expit(-0.6 + logit(p)), "intercept"),
    "recalibration": (lambda d, p: expit(-0.3 + 0.5 * logit(p)), "recalibration"),
    "refit": (lambda d, p: expit(logit(p) + 0.9 * d[:, 2]), "refit"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_closed_test_finds_the_known_update(case: str) -> None:
    design, p = _world(11)
    truth, expected = CASES[case]
    y = np.random.default_rng(12).binomial(1, truth(design, p))
    result = closed_test(y, p, design, alpha=0.05)
    assert result.chosen == expected


def test_likelihood_ratios_equal_statsmodels() -> None:
    design, p = _world(5)
    y = np.random.default_rng(6).binomial(1, expit(-0.3 + 0.7 * logit(p) + 0.3 * design[:, 0]))
    result = closed_test(y, p, design, alpha=1e-12)  # nothing significant: every test is reported until 'none'
    lp = logit(p)
    ll_none = float(np.sum(y * np.log(p) + (1 - y) * np.log1p(-p)))
    ll_int = sm.GLM(y, np.ones((N, 1)), family=sm.families.Binomial(), offset=lp).fit().llf
    ll_rec = sm.Logit(y, sm.add_constant(lp)).fit(disp=0).llf
    ll_ref = sm.Logit(y, sm.add_constant(design)).fit(disp=0).llf
    models = result.models
    for name, ll in (("none", ll_none), ("intercept", ll_int), ("recalibration", ll_rec), ("refit", ll_ref)):
        assert models[name]["loglik"] == pytest.approx(ll, abs=1e-6), name
    first = result.tests[0]
    assert first["compare"] == "refit vs none" and first["df"] == 4
    assert first["lr"] == pytest.approx(2 * (ll_ref - ll_none), abs=1e-5)
    assert result.chosen == "none" and len(result.tests) == 1


def test_closed_test_steps_in_order() -> None:
    design, p = _world(21)
    y = np.random.default_rng(22).binomial(1, expit(-0.3 + 0.5 * logit(p)))
    result = closed_test(y, p, design)
    assert [t["compare"] for t in result.tests] == ["refit vs none", "refit vs intercept", "refit vs recalibration"]
    assert [t["df"] for t in result.tests] == [4, 3, 2]
    assert [t["significant"] for t in result.tests] == [True, True, False]


def test_update_model_recalibrates_and_keeps_lineage(world: World) -> None:
    model = load_model(world.model, tracking_uri=world.uri)
    site = site_part(site_data(model, load_cohort(world.site)), "first", 0)
    record, bundle = update_model(model, site, method="intercept", n_boot=20, seed=1)
    assert record.method == "intercept" and bundle is not None
    y = site.y
    p = bundle.probabilities(site.X)
    assert y.sum() / p.sum() == pytest.approx(1.0, abs=1e-6)  # the intercept update is the ML fit: O = E
    lineage = bundle.manifest["lineage"]
    assert lineage["parent_version"] == "1" and lineage["site_data_digest"] == site.digest()
    assert lineage["method"] == "intercept"
    assert record.validation["apparent"]["oe_ratio"] == pytest.approx(1.0, abs=1e-6)
    refit_record, refit = update_model(model, site, method="refit", n_boot=10, seed=1, ensemble_size=3)
    assert refit is not None and len(refit.ensemble) == 3
    assert refit.manifest["lineage"]["method"] == "refit"
    assert refit.probabilities(site.X).sum() == pytest.approx(y.sum(), rel=1e-4)  # ML logistic: mean risk = events


def test_update_command_registers_a_version_with_lineage(world: World, tmp_path: Path) -> None:
    out = tmp_path / "update"
    result = CliRunner().invoke(
        app,
        [
            "update",
            "--model",
            world.model,
            "--data",
            str(world.site),
            "--out",
            str(out),
            "--tracking-uri",
            world.uri,
            "--no-report",
            "--n-boot",
            "20",
            "--method",
            "recalibration",
            "--alias",
            "site-b",
            "--part",
            "first",
        ],
    )
    assert result.exit_code == 0, result.output
    record = json.loads((out / "update_evidence.json").read_text())
    mlflow.set_tracking_uri(world.uri)
    client = mlflow.MlflowClient()
    version = client.get_model_version_by_alias("c5_palsy", "site-b")
    assert version.tags["lineage.parent_version"] == "1"
    assert version.tags["lineage.method"] == "recalibration"
    assert version.tags["lineage.site_data_digest"] == record["site"]["data_digest"]
    updated = load_model("models:/c5_palsy@site-b", tracking_uri=world.uri)
    assert updated.bundle.manifest["lineage"]["update_run_id"] == record["run_id"]
    assert updated.bundle.calibration.method == "logistic"


def test_updated_bundle_monitors_against_the_update_data(world: World) -> None:
    model = load_model(world.model, tracking_uri=world.uri)
    site = site_part(site_data(model, load_cohort(world.site)), "first", 0)
    _, bundle = update_model(model, site, method="recalibration", n_boot=10, seed=1)
    reference = bundle.manifest["development"]
    assert reference["source"] == "the site data of the update"
    assert reference["drift_reference"]["n"] == site.n
    lp = logit(np.clip(bundle.probabilities(site.X), 1e-8, 1 - 1e-8))
    assert reference["linear_predictor"]["mean"] == pytest.approx(lp.mean(), rel=1e-12)
