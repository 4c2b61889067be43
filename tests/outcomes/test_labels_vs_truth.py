"""Labels derived by the outcome rules from the synthetic exports agree with the generator's truth.

The generator writes each patient's true probability of the label the rule derives; the rules here
run on the exported files only. Their prevalence must match the mean true probability within
sampling error (|difference| < 3.5 SE, SE = sqrt(sum p(1-p)) / n), and be calibrated by fifths of p.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from spineoutcome.data import load_tables
from spineoutcome.data.synth import generate_cohort
from spineoutcome.dictionary import DataDictionary
from spineoutcome.outcomes import derive_outcome, load_outcome_definitions

BINARY = [
    "c5_palsy",
    "complication_any",
    "complication_neurological",
    "progression_24m",
    "mcid_mjoa_12m",
    "mcid_ndi_12m",
    "joa_rr50_12m",
]


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    out = tmp_path_factory.mktemp("synth")
    generate_cohort(
        out, n=6000, seed=21, tables=["clinical", "proms", "complications", "neuro_exam", "ct_followup", "truth"]
    )
    dictionary = DataDictionary.load()
    loaded = load_tables(out, dictionary)
    truth = pd.read_csv(out / "truth.csv").set_index(dictionary.key)
    return loaded, truth, dictionary


def test_every_shipped_binary_outcome_is_covered():
    assert set(BINARY) <= set(load_outcome_definitions())


@pytest.mark.parametrize("outcome", BINARY)
def test_derived_prevalence_matches_truth(exported, outcome):
    loaded, truth, dictionary = exported
    assert all(r.rows_rejected == 0 for r in loaded.reports.values())
    labels = derive_outcome(outcome, loaded.tables, dictionary).labels
    p = truth.loc[labels.index, f"p_{outcome}"].to_numpy()
    assert not np.isnan(p).any(), "the truth has no probability for a labelled patient"
    y = labels.to_numpy(dtype=float)
    se = np.sqrt(np.sum(p * (1 - p))) / len(p)
    assert abs(y.mean() - p.mean()) < 3.5 * se, (y.mean(), p.mean(), se)
    fifths = pd.qcut(p, 5, labels=False, duplicates="drop")
    for g in np.unique(fifths):
        members = fifths == g
        se_g = np.sqrt(np.sum(p[members] * (1 - p[members]))) / members.sum()
        assert abs(y[members].mean() - p[members].mean()) < 4 * se_g + 1e-9, (g, y[members].mean(), p[members].mean())
