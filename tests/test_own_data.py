"""A researcher's own table, end to end, as a new user runs it (issue 14).

The data: the German Breast Cancer Study Group 2 trial (GBSG-2; Schumacher et al., J Clin Oncol
1994;12:2086-93) as shipped with lifelines: 686 patients, one table, no patient key, one centre
column absent, the outcome (recurrence or death during follow-up, ``cens``) already recorded in a
column. The dictionary is drafted by ``dictionary init`` and edited as a user would (timings,
study fields); then validate -> train -> report -> score, nothing else given.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
import yaml
from lifelines.datasets import load_gbsg2
from typer.testing import CliRunner

from spineoutcome.api import load_cohort, run_pipeline
from spineoutcome.cli import app
from spineoutcome.config import ConfigError, load_pipeline
from spineoutcome.dictionary import LINE_KEY, DataDictionary
from spineoutcome.experiment.rawscale import raw_scale_logit
from spineoutcome.outcomes import derive_outcome
from spineoutcome.report.document import build as build_report
from spineoutcome.report.render import prepare_evidence

PREDICTORS = ["horTh", "age", "menostat", "tsize", "tgrade", "pnodes", "progrec", "estrec"]
PIPELINE = {
    "name": "gbsg2_recurrence",
    "description": "Recurrence or death during follow-up after surgery for primary node-positive breast cancer.",
    "outcome": {"column": "cens", "positive": 1},
    "predictors": {"include": PREDICTORS},
    "families": ["logistic"],
    "spline_knots": 3,
    "tuning": {"n_trials": 0, "inner_folds": 3},
    "validation": {"folds": 3, "bootstrap": {"replicates": 5}},
    "subgroups": {"variables": ["age_group", "menostat"], "min_events": 10},
    "thresholds": [0.3, 0.5],
}
STUDY = {
    "population": "Women with primary node-positive breast cancer treated with mastectomy in the GBSG-2 trial",
    "setting": "Multicentre randomised trial, Germany, 1984-1989, recorded as one data set without centre",
    "intended_use": "Teaching example: risk of recurrence or death during follow-up",
    "data_source": "GBSG-2 trial data as shipped with the lifelines package",
}


def _runner_output(result) -> str:
    return "".join(result.output.split())


def _edit_as_a_user(variables: Path, undecided: tuple[str, ...] = ()) -> None:
    """Set each variable's timing (the predictors are known before surgery; time and cens are not) and
    fill in the study fields; leave ``undecided`` as drafted."""
    doc = yaml.safe_load(variables.read_text(encoding="utf-8"))
    for var in doc["tables"]["gbsg2"]["variables"]:
        if var["name"] not in undecided:
            var["preoperative"] = var["name"] in PREDICTORS
    doc["study"].update(STUDY)
    variables.write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("own_data")
    (root / "data").mkdir()
    load_gbsg2().to_csv(root / "data" / "gbsg2.csv", index=False)
    result = CliRunner().invoke(
        app, ["dictionary", "init", str(root / "data" / "gbsg2.csv"), "--out", str(root / "dict")]
    )
    assert result.exit_code == 0, result.output
    (root / "pipeline.yaml").write_text(yaml.safe_dump(PIPELINE, sort_keys=False), encoding="utf-8")
    return root


def test_the_draft_leaves_every_timing_undecided_and_guesses_no_key_and_no_centre(workspace: Path):
    draft = yaml.safe_load((workspace / "dict" / "variables.yaml").read_text(encoding="utf-8"))
    variables = {v["name"]: v for v in draft["tables"]["gbsg2"]["variables"]}
    assert list(variables) == list(load_gbsg2().columns)
    assert {v["preoperative"] for v in variables.values()} == {"undecided"}
    assert not any(v.get("role") in ("key", "centre") for v in variables.values())
    assert variables["tgrade"]["categories"] == ["I", "II", "III"]
    assert variables["cens"]["dtype"] == "bool"
    age = load_gbsg2()["age"]
    low, high = variables["age"]["range"]
    assert variables["age"]["dtype"] == "int" and low < age.min() and high > age.max()
    dictionary = DataDictionary.load(workspace / "dict")
    assert dictionary.line_number_key and dictionary.key == LINE_KEY
    assert not dictionary.has_role("centre")
    check = CliRunner().invoke(app, ["dictionary", "check", str(workspace / "dict")])
    assert check.exit_code == 1
    assert "undecidedforhorTh,age,menostat,tsize,tgrade,pnodes,progrec,estrec,time,cens" in _runner_output(check)


def test_train_refuses_undecided_predictors_listing_all_of_them(workspace: Path, tmp_path: Path):
    own = tmp_path / "dict"
    own.mkdir()
    for name in ("variables.yaml", "outcomes.yaml"):
        (own / name).write_text((workspace / "dict" / name).read_text(encoding="utf-8"), encoding="utf-8")
    _edit_as_a_user(own / "variables.yaml", undecided=("tsize", "pnodes"))
    result = CliRunner().invoke(
        app,
        [
            "train",
            str(workspace / "pipeline.yaml"),
            "--data",
            str(workspace / "data"),
            "--dictionary",
            str(own),
            "--out",
            str(tmp_path / "runs"),
            "--no-mlflow",
        ],
    )
    assert result.exit_code == 3, result.output
    assert "timingundecidedfortsize,pnodes" in _runner_output(result)
    assert not (tmp_path / "runs").exists()


def test_the_preflight_check_lists_every_problem_at_once(workspace: Path, tmp_path: Path):
    dictionary = DataDictionary.load(workspace / "dict")
    bad = {
        **PIPELINE,
        "outcome": {"column": "cen", "positive": 1},
        "predictors": {"include": ["age", "tsise"]},
        "subgroups": {"variables": ["centre"]},
        "validation": {"temporal_split": "1986-01-01"},
    }
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(bad), encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_pipeline(path, dictionary)
    message = str(info.value)
    assert str(path) in message
    assert re.search(r"5 problem\(s\)", message), message
    for expected in (
        "predictors: timing undecided for age (",
        "predictors.include: 'tsise'",
        "did you mean 'tsize'",
        "subgroups.variables: 'centre'",
        "outcome: 'cen'",
        "did you mean 'cens'",
        "validation.temporal_split: needs a patient-table column with role 'surgery_date'",
    ):
        assert expected in message, expected
    result = CliRunner().invoke(
        app,
        [
            "validate",
            str(workspace / "data"),
            "--dictionary",
            str(workspace / "dict"),
            "--pipeline",
            str(path),
            "--out",
            str(tmp_path / "validated"),
        ],
    )
    assert result.exit_code == 3
    assert "5problem(s)" in _runner_output(result)


def test_validate_train_report_score_with_only_the_draft_dictionary_and_a_pipeline(
    workspace: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    own = tmp_path / "dict"
    own.mkdir()
    for name in ("variables.yaml", "outcomes.yaml"):
        (own / name).write_text((workspace / "dict" / name).read_text(encoding="utf-8"), encoding="utf-8")
    _edit_as_a_user(own / "variables.yaml")
    runner = CliRunner()
    assert runner.invoke(app, ["dictionary", "check", str(own)]).exit_code == 0
    validated = runner.invoke(
        app,
        [
            "validate",
            str(workspace / "data"),
            "--dictionary",
            str(own),
            "--pipeline",
            str(workspace / "pipeline.yaml"),
            "--out",
            str(tmp_path / "validated"),
        ],
    )
    assert validated.exit_code == 0, validated.output
    assert "single-centre study" in validated.output

    monkeypatch.chdir(tmp_path)
    uri = f"sqlite:///{tmp_path / 'mlruns.db'}"
    trained = runner.invoke(
        app,
        [
            "train",
            str(workspace / "pipeline.yaml"),
            "--data",
            str(workspace / "data"),
            "--dictionary",
            str(own),
            "--out",
            str(tmp_path / "runs"),
            "--tracking-uri",
            uri,
        ],
    )
    assert trained.exit_code == 0, trained.output
    assert "internal_externalskipped:single-centrestudy" in _runner_output(trained)
    assert re.search(
        r"Registeredgbsg2_recurrence:@champion(set\(passedeverygate|withheld,themodelfailed:)", _runner_output(trained)
    ), trained.output
    (run_dir,) = (tmp_path / "runs").iterdir()
    evidence = json.loads((run_dir / "evidence.json").read_text(encoding="utf-8"))
    data = evidence["data"]
    gbsg2 = load_gbsg2()
    assert data["n"] == len(gbsg2) and data["events"] == int(gbsg2["cens"].sum())
    assert data["key"] == {"column": LINE_KEY, "line_number": True}
    assert "internal_external" in data["skipped_analyses"] and data["centres"] == 1
    assert evidence["families"]["logistic"]["internal_external"] is None
    assert evidence["task"]["outcome"] == "gbsg2_recurrence"
    assert evidence["task"]["outcome_definition"]["kind"] == "column"
    assert evidence["flow"][0]["label"] == "patients in the gbsg2 export"
    assert (run_dir / "report.pdf").stat().st_size > 10_000
    document = json.dumps(build_report(prepare_evidence(run_dir), tmp_path / "figures"), ensure_ascii=False)
    card = (run_dir / "model_card.json").read_text(encoding="utf-8")
    for text in (document, card):
        assert not re.search(r"OPLL|myelopath|cervical|spine centre", text, re.IGNORECASE)
        assert STUDY["population"] in text
    assert "each row's line number in the export is its key" in document
    assert "Not done (internal-external): single-centre study" in document
    assert "on the original units" in document

    scored = runner.invoke(
        app,
        [
            "score",
            "--model",
            "models:/gbsg2_recurrence/1",
            "--input",
            str(workspace / "data" / "gbsg2.csv"),
            "--out",
            str(tmp_path / "scores.csv"),
            "--tracking-uri",
            uri,
            "--no-explain",
        ],
    )
    assert scored.exit_code == 0, scored.output
    scores = pd.read_csv(tmp_path / "scores.csv")
    assert len(scores) == len(gbsg2)
    assert scores[LINE_KEY].tolist() == list(range(2, len(gbsg2) + 2))
    assert scores["gbsg2_recurrence_probability"].between(0, 1).all()


def test_time_to_event_outcome_labelled_at_the_horizon_by_hand(workspace: Path):
    dictionary = DataDictionary.load(workspace / "dict")
    cohort = load_cohort(workspace / "data", dictionary)
    definition = {
        "name": "rfs_3y",
        "kind": "time_to_event",
        "time": "time",
        "event": "cens",
        "event_value": 1,
        "horizon": 1095,
    }
    labels = derive_outcome(definition, cohort.tables, dictionary)
    frame = load_gbsg2()
    event_by_horizon = (frame["cens"] == 1) & (frame["time"] <= 1095)
    followed_beyond = frame["time"] >= 1095
    censored_early = (frame["cens"] == 0) & (frame["time"] < 1095)
    counts = labels.counts()
    assert counts["events"] == int(event_by_horizon.sum())
    assert counts["labelled"] == int((event_by_horizon | followed_beyond & ~event_by_horizon).sum())
    assert counts["excluded"] == {"censored before the horizon (1095)": int(censored_early.sum())}
    lines = np.flatnonzero(event_by_horizon.to_numpy()) + 2
    assert set(labels.labels[labels.labels == 1].index) == set(lines.tolist())


def test_a_dictionary_outcomes_file_is_honoured(workspace: Path, tmp_path: Path):
    own = tmp_path / "dict"
    own.mkdir()
    (own / "variables.yaml").write_text(
        (workspace / "dict" / "variables.yaml").read_text(encoding="utf-8"), encoding="utf-8"
    )
    _edit_as_a_user(own / "variables.yaml")
    (own / "outcomes.yaml").write_text(
        yaml.safe_dump(
            {
                "version": "1",
                "outcomes": {
                    "recurrence": {
                        "kind": "column",
                        "description": "Recurrence or death",
                        "column": "cens",
                        "positive": [1],
                    }
                },
            }
        ),
        encoding="utf-8",
    )
    path = tmp_path / "p.yaml"
    path.write_text(yaml.safe_dump({**PIPELINE, "outcome": "recurrence"}), encoding="utf-8")
    config = load_pipeline(path, DataDictionary.load(own))
    assert config.outcome_name == "recurrence"


@pytest.fixture(scope="module")
def fitted(workspace: Path, tmp_path_factory: pytest.TempPathFactory):
    """The logistic and elastic-net families fit on GBSG-2 from the user's edited dictionary."""
    own = tmp_path_factory.mktemp("fitted_dict")
    for name in ("variables.yaml", "outcomes.yaml"):
        (own / name).write_text((workspace / "dict" / name).read_text(encoding="utf-8"), encoding="utf-8")
    _edit_as_a_user(own / "variables.yaml")
    spec = {
        **PIPELINE,
        "families": ["logistic", "elastic_net"],
        "tuning": {"n_trials": 2, "inner_folds": 3},
        "validation": {"folds": 3, "bootstrap": None},
    }
    path = own / "pipeline.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False), encoding="utf-8")
    dictionary = DataDictionary.load(own)
    return run_pipeline(path, load_cohort(workspace / "data", dictionary))


@pytest.mark.parametrize("family", ["logistic", "elastic_net"])
def test_a_risk_recomputed_by_hand_from_the_raw_scale_formula_is_the_models(fitted, family: str):
    formula = fitted.evidence.families[family].specification["raw_scale"]
    X = fitted.task.X
    p = fitted.models[family].predict_proba(X)[:, 1]
    by_hand = 1.0 / (1.0 + np.exp(-raw_scale_logit(formula, X)))
    np.testing.assert_allclose(by_hand, p, rtol=0, atol=1e-9)
    assert formula["references"] == (
        {"menostat": "Post", "tgrade": "I"} if family == "logistic" else {"menostat": None, "tgrade": None}
    )


def test_the_unpenalised_raw_scale_coefficients_are_statsmodels(fitted):
    """An independent fit: statsmodels' Logit on a design built by hand on the original units, with the
    spline knots at Harrell's default quantiles (10th, 50th, 90th percentile) of each predictor."""
    formula = fitted.evidence.families["logistic"].specification["raw_scale"]
    data = load_gbsg2()
    columns: dict[str, np.ndarray] = {}
    for name in ["age", "tsize", "pnodes", "progrec", "estrec"]:
        x = data[name].to_numpy(dtype=float)
        knots = np.quantile(x, [0.10, 0.50, 0.90])
        np.testing.assert_allclose(formula["splines"][name], knots)
        t1, t2, t3 = knots
        columns[name] = x
        columns[f"{name}_rcs1"] = (
            np.maximum(x - t1, 0) ** 3
            - np.maximum(x - t2, 0) ** 3 * (t3 - t1) / (t3 - t2)
            + np.maximum(x - t3, 0) ** 3 * (t2 - t1) / (t3 - t2)
        ) / (t3 - t1) ** 2
    columns["horTh"] = (data["horTh"] == "yes").to_numpy(dtype=float)  # drafted as bool (yes/no)
    for name, levels in {"menostat": ["Pre"], "tgrade": ["II", "III"]}.items():
        for level in levels:
            columns[f"{name}_{level}"] = (data[name] == level).to_numpy(dtype=float)
    design = sm.add_constant(pd.DataFrame(columns))
    reference = sm.Logit(data["cens"].to_numpy(dtype=float), design).fit(disp=0, method="newton", tol=1e-12)
    reported = {t["term"]: t for t in formula["terms"]}
    assert formula["intercept"]["estimate"] == pytest.approx(reference.params["const"], abs=1e-6)
    assert formula["intercept"]["se"] == pytest.approx(reference.bse["const"], rel=1e-5)
    for term in columns:
        assert reported[term]["estimate"] == pytest.approx(reference.params[term], abs=1e-6), term
        assert reported[term]["se"] == pytest.approx(reference.bse[term], rel=1e-5), term


def test_right_censored_time_to_event_runs_the_survival_families(workspace: Path, tmp_path: Path):
    """``{time, event, event_value, horizon}`` with survival families: the times themselves (events exact,
    lower = upper; censored, upper = inf), the horizon taken from the outcome."""
    own = tmp_path / "dict"
    own.mkdir()
    for name in ("variables.yaml", "outcomes.yaml"):
        (own / name).write_text((workspace / "dict" / name).read_text(encoding="utf-8"), encoding="utf-8")
    _edit_as_a_user(own / "variables.yaml")
    spec = {
        "name": "gbsg2_rfs",
        "outcome": {"time": "time", "event": "cens", "event_value": 1, "horizon": 1095},
        "predictors": {"include": PREDICTORS},
        "families": [],
        "survival_families": ["weibull_aft"],
        "validation": {"folds": 3, "bootstrap": None},
        "subgroups": {"variables": []},
    }
    path = tmp_path / "surv.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False), encoding="utf-8")
    dictionary = DataDictionary.load(own)
    result = run_pipeline(path, load_cohort(workspace / "data", dictionary))
    data = load_gbsg2()
    labels = result.task.labels.labels
    assert result.evidence.task["kind"] == "interval_censored"
    np.testing.assert_array_equal(labels["lower"].to_numpy(), data["time"].to_numpy(dtype=float))
    np.testing.assert_array_equal(np.isinf(labels["upper"]).to_numpy(), (data["cens"] == 0).to_numpy())
    assert result.evidence.data["events"] == int(data["cens"].sum())
    c = result.evidence.families["weibull_aft"].cross_validation["harrell_c"]
    assert 0.6 < c["value"] < 0.8
    document = json.dumps(build_report(prepare_evidence(result.evidence), tmp_path / "figures"), ensure_ascii=False)
    assert not re.search(r"OPLL|myelopath|cervical|progression", document, re.IGNORECASE)
