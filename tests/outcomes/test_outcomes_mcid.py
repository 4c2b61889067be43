"""MCID rules on hand-built cohorts: thresholds (>=), windows, direction, distribution methods, sensitivity."""

from __future__ import annotations

import json
import math

import pandas as pd
import pytest

from spineoutcome.outcomes.mcid import MCIDDefinition, MCIDRegistry, mcid_labels, mcid_sensitivity
from spineoutcome.outcomes.proms import RR_UNDEFINED, score_totals

NO_BASELINE = "no baseline {} within days -365 to 0"
NO_12M = "no 12m {} within days 274 to 456"


@pytest.fixture(scope="module")
def registry():
    return MCIDRegistry.load()


@pytest.fixture
def totals(dd, make_table):
    """``totals({pid: (baseline, followup[, followup_day[, baseline_day]])}, instrument)`` -> scored long table."""

    def build(scores, instrument):
        rows = []
        for pid, spec in scores.items():
            pre, post, post_day, pre_day = [*spec, *(365, -7)[len(spec) - 2 :]]
            if pre is not None:
                rows.append(
                    {"patient_id": pid, "instrument": instrument, "timepoint": "baseline", "day": pre_day, "value": pre}
                )
            if post is not None:
                rows.append(
                    {"patient_id": pid, "instrument": instrument, "timepoint": "12m", "day": post_day, "value": post}
                )
        return score_totals(make_table("proms", rows), dd)

    return build


def as_dict(result):
    return {
        **result.labels.astype(int).to_dict(),
        **dict(zip(result.exclusions.iloc[:, 0], result.exclusions.reason, strict=False)),
    }


def test_mjoa_two_points_threshold_and_window(dd, registry, totals):
    scores = {
        "at_threshold": (12, 14),  # +2 exactly: achieved (>=)
        "below": (12, 13),  # +1
        "worse": (13, 11),
        "day_456": (12, 14, 456),  # last day inside 12 m +/- 3 months
        "day_457": (12, 15, 457),  # one day outside: does not count
        "day_274": (12, 14, 274),
        "day_273": (12, 14, 273),
        "no_baseline": (None, 15),
        "baseline_after_surgery": (12, 15, 365, 5),
        "no_followup": (12, None),
    }
    result = mcid_labels(registry["mjoa_abs2_12m"], totals(scores, "mjoa"), dd, patients=[*scores, "not_in_proms"])
    assert as_dict(result) == {
        "at_threshold": 1,
        "below": 0,
        "worse": 0,
        "day_456": 1,
        "day_274": 1,
        "day_457": NO_12M.format("mjoa"),
        "day_273": NO_12M.format("mjoa"),
        "no_baseline": NO_BASELINE.format("mjoa"),
        "baseline_after_surgery": NO_BASELINE.format("mjoa"),
        "no_followup": NO_12M.format("mjoa"),
        "not_in_proms": NO_BASELINE.format("mjoa"),
    }
    counts = result.counts()
    assert (counts["considered"], counts["labelled"], counts["events"]) == (11, 5, 3)
    assert counts["excluded"] == {NO_BASELINE.format("mjoa"): 3, NO_12M.format("mjoa"): 3}


def test_ndi_lower_is_better(dd, registry, totals):
    scores = {"improved_7_5": (40, 32.5), "improved_7": (40, 33), "worse": (20, 30), "ceiling": (0, 0)}
    result = mcid_labels(registry["ndi_abs7.5_12m"], totals(scores, "ndi"), dd)
    assert as_dict(result) == {"improved_7_5": 1, "improved_7": 0, "worse": 0, "ceiling": 0}
    # The same 7.5 read on the 0-100 % scale: 7 points of 50 are 14 %.
    on_percent = mcid_labels(registry["ndi_pct7.5_12m"], totals(scores, "ndi"), dd)
    assert as_dict(on_percent) == {"improved_7_5": 1, "improved_7": 1, "worse": 0, "ceiling": 0}


def test_mjoa_severity_specific_thresholds(dd, registry, totals):
    scores = {
        "severe_plus3": (11, 14),
        "severe_plus2": (11, 13),
        "moderate_plus2": (12, 14),
        "moderate_plus1": (14, 15),
        "mild_plus1": (15, 16),
        "mild_zero": (17, 17),
        "normal": (18, 18),
    }
    result = mcid_labels(registry["mjoa_severity_12m"], totals(scores, "mjoa"), dd)
    assert as_dict(result) == {
        "severe_plus3": 1,
        "severe_plus2": 0,
        "moderate_plus2": 1,
        "moderate_plus1": 0,
        "mild_plus1": 1,
        "mild_zero": 0,
        "normal": 0,
    }


def test_percent_change(dd, registry, totals):
    scores = {"minus30pct": (20, 14), "minus25pct": (20, 15), "zero_baseline": (0, 0)}
    result = mcid_labels(registry["ndi_pct30_12m"], totals(scores, "ndi"), dd)
    assert as_dict(result) == {
        "minus30pct": 1,
        "minus25pct": 0,
        "zero_baseline": "baseline ndi is 0; percent change undefined",
    }
    up = mcid_labels(registry["mjoa_pct30_12m"], totals({"plus30pct": (10, 13), "plus20pct": (10, 12)}, "mjoa"), dd)
    assert as_dict(up) == {"plus30pct": 1, "plus20pct": 0}


DISTRIBUTION = {"p1": (10, 11), "p2": (12, 13.5), "p3": (14, 15.2), "p4": (16, 17.3)}
SD = math.sqrt((9 + 1 + 1 + 9) / 3)  # baselines 10, 12, 14, 16: mean 13, sample SD 2.582


def test_half_sd_is_computed_on_the_cohort_and_recorded(dd, registry, totals):
    result = mcid_labels(registry["mjoa_half_sd_12m"], totals(DISTRIBUTION, "mjoa"), dd)
    # threshold 0.5 x 2.582 = 1.291: changes 1.0, 1.5, 1.2, 1.3
    assert as_dict(result) == {"p1": 0, "p2": 1, "p3": 0, "p4": 1}
    mcid = result.definition["mcid"]
    assert mcid["threshold"] == pytest.approx(0.5 * SD)
    assert mcid["resolved"] == {"baseline_sd": pytest.approx(SD), "n_baseline": 4}
    # Reused on another cohort, the development threshold is kept.
    frozen = MCIDDefinition.from_dict("frozen", {k: v for k, v in mcid.items() if k != "name"})
    other = mcid_labels(frozen, totals({"q1": (5, 6.3), "q2": (5, 6.2), "q3": (9, 9)}, "mjoa"), dd)
    assert as_dict(other) == {"q1": 1, "q2": 0, "q3": 0}


def test_one_sem(dd, registry, totals):
    result = mcid_labels(registry["mjoa_sem_12m"], totals(DISTRIBUTION, "mjoa"), dd)
    # threshold 2.582 x sqrt(1 - 0.80) = 1.155: changes 1.0, 1.5, 1.2, 1.3
    assert result.definition["mcid"]["threshold"] == pytest.approx(SD * math.sqrt(0.2))
    assert as_dict(result) == {"p1": 0, "p2": 1, "p3": 1, "p4": 1}


def test_joa_recovery_rate(dd, registry, totals):
    scores = {"at_max": (17, 17), "rr50": (11, 14), "rr40": (12, 14), "rr50_b": (13, 15), "rr_neg": (10, 9)}
    result = mcid_labels(registry["joa_rr50_12m"], totals(scores, "joa"), dd)
    assert as_dict(result) == {"at_max": RR_UNDEFINED, "rr50": 1, "rr40": 0, "rr50_b": 1, "rr_neg": 0}
    assert result.counts()["excluded"] == {RR_UNDEFINED: 1}


def test_registry_definitions_are_complete_and_serialisable(dd, registry):
    assert {
        "absolute_change",
        "absolute_change_by_severity",
        "percent_change",
        "distribution_sd",
        "distribution_sem",
        "recovery_rate",
    } <= {d.method for d in registry}
    for definition in registry:
        assert definition.version and definition.source
        assert definition.instrument in dd.instruments
        assert definition.followup.days.to_list() == [274, 456]
        back = MCIDDefinition.from_dict(definition.name, json.loads(json.dumps(definition.to_dict())))
        assert back == definition
    assert registry.reference_for("mjoa").name == "mjoa_abs2_12m"
    assert registry["mjoa_sem_12m"].reliability_source
    with pytest.raises(ValueError, match="needs its parameter"):
        MCIDDefinition.from_dict("bad", {**registry["mjoa_sem_12m"].to_dict(), "reliability": None, "threshold": None})


SENSITIVITY = {
    "s1": (10, 12),  # +2, 20 %, severe
    "s2": (11, 14),  # +3, 27 %, severe
    "s3": (13, 14),  # +1, 8 %, moderate
    "s4": (15, 16),  # +1, 7 %, mild
    "s5": (8, 11),  # +3, 38 %, severe
    "s6": (12, 16),  # +4, 33 %, moderate
    "s7": (12, None),
}


def test_sensitivity_counts_on_a_crafted_cohort(dd, registry, totals):
    small = MCIDRegistry("test", {n: registry[n] for n in ("mjoa_abs2_12m", "mjoa_severity_12m", "mjoa_pct30_12m")})
    table = mcid_sensitivity("mjoa", totals(SENSITIVITY, "mjoa"), dd, small).set_index("definition")
    # abs2: s1 s2 s5 s6; severity 3/2/1: s2 s4 s5 s6; >= 30 %: s5 s6
    expected = {
        "mjoa_abs2_12m": (6, 4, 6, 0, 0, 0),
        "mjoa_severity_12m": (6, 4, 6, 2, 1, 1),
        "mjoa_pct30_12m": (6, 2, 6, 2, 0, 2),
    }
    columns = ["n_labelled", "n_achieved", "n_compared", "n_changed", "n_gained", "n_lost"]
    assert {n: tuple(int(v) for v in table.loc[n, columns]) for n in expected} == expected
    assert table["reference"].to_dict() == {"mjoa_abs2_12m": True, "mjoa_severity_12m": False, "mjoa_pct30_12m": False}
    against_severity = mcid_sensitivity("mjoa", totals(SENSITIVITY, "mjoa"), dd, small, reference="mjoa_severity_12m")
    assert against_severity.set_index("definition").loc["mjoa_abs2_12m", "n_changed"] == 2


def test_sensitivity_runs_every_registered_definition(dd, registry, totals):
    table = mcid_sensitivity("mjoa", totals(SENSITIVITY, "mjoa"), dd)
    assert set(table["definition"]) == {d.name for d in registry.for_instrument("mjoa")}
    assert pd.api.types.is_integer_dtype(table["n_changed"])
