"""The Evidence record: strict JSON, aggregates only (no patient key), and a run without subgroups."""

from __future__ import annotations

import json
import re

from spineoutcome.evidence import load_evidence

from .conftest import REJECTED_KEY


def test_evidence_is_strict_json_and_round_trips(reference_run, tmp_path):
    record = reference_run.evidence.to_dict()
    text = json.dumps(record, allow_nan=False)
    path = reference_run.evidence.save(tmp_path)
    assert load_evidence(tmp_path) == json.loads(text) == json.loads(path.read_text())


def test_evidence_contains_no_patient_key(reference_run, synth):
    text = json.dumps(reference_run.evidence.to_dict(), allow_nan=False)
    assert len(synth.patient_keys) == len(set(synth.patient_keys)) > 800
    assert REJECTED_KEY in synth.patient_keys
    leaked = [key for key in synth.patient_keys if key in text]
    assert not leaked, f"{len(leaked)} patient keys in Evidence, e.g. {leaked[:3]}"
    # and no key-shaped string at all (the generator's keys are P + 8 digits)
    assert not re.search(r"P\d{8}", text)


def test_the_no_key_check_can_fail(reference_run, synth):
    # the same check on a record that does hold a key must see it
    record = reference_run.evidence.to_dict()
    record["data"]["example"] = synth.patient_keys[5]
    text = json.dumps(record, allow_nan=False)
    assert [key for key in synth.patient_keys if key in text] == [synth.patient_keys[5]]


def test_evidence_holds_every_family_and_the_selection(reference_run):
    evidence = reference_run.evidence
    assert evidence.best_family in evidence.families
    losses = {f: r.cross_validation["overall"]["log_loss"]["value"] for f, r in evidence.families.items()}
    assert evidence.model_selection["lowest_loss"] == min(losses, key=losses.get)
    assert evidence.best_family == evidence.model_selection["winner"]  # one-SE rule: test_selection_budget.py
    assert evidence.families["xgboost"].comparison_to_logistic is not None
    assert evidence.families["logistic"].comparison_to_logistic is None


def test_pipeline_without_subgroups_runs(run):
    """Regression test: a pipeline that names no subgroup variables (the schema's default) must run.

    Found by this suite: run_experiment called ``subgroup_metrics`` with an empty grouping frame,
    which raises ``ValueError: groups has no columns``, so every pipeline that omitted ``subgroups``
    crashed after its first family's cross-validation.
    """
    spec = {
        "name": "no_subgroups",
        "outcome": "complication_any",
        "predictors": {"include": ["age", "sex", "diabetes", "approach"]},
        "families": ["logistic"],
        "validation": {"folds": 3, "repeats": 1, "bootstrap": None, "internal_external": False},
        "seed": 3,
    }
    result = run(spec)
    assert result.evidence.families["logistic"].subgroups == []
