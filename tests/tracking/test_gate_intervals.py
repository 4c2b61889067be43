"""Promotion gates on the Evidence's 95 % intervals (bundle.gates, ``basis="interval"``), checked on
hand-written cross-validated results: which numbers pass and fail is worked out by hand."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

from spineoutcome.bundle import Gates, check_gates


def evidence(slope: tuple[float, float, float], ici: tuple[float, float, float]) -> Any:
    """The parts of an Evidence the gates read: the selected family's CV slope, ICI and one
    classification row at threshold 0.1 (n 1000, 100 events; net benefit 0.05 - 0.15 / 9 = 0.033 > 0)."""

    def est(value: float, low: float, high: float) -> dict[str, float]:
        return {"value": value, "ci_low": low, "ci_high": high}

    cv = {
        "calibration": {"slope": est(*slope)},
        "calibration_curve": {"ici": est(*ici)},
        "classification": {"rows": [{"threshold": 0.1, "tp": 50, "fp": 150, "tn": 750, "fn": 50}]},
    }
    return SimpleNamespace(
        best_family="elastic_net",
        families={"elastic_net": SimpleNamespace(cross_validation=cv)},
        pipeline={"thresholds": [0.1]},
        comparators=None,
    )


@pytest.mark.parametrize(
    ("slope", "ici", "interval", "point"),
    [
        ((1.0, 0.8, 1.25), (0.01, 0.0, 0.03), True, True),  # inside on both bases
        ((0.72, 0.5, 0.95), (0.01, 0.0, 0.03), True, False),  # point below 0.8, interval reaches it
        ((1.3, 1.05, 1.6), (0.01, 0.0, 0.03), True, False),  # point above 1.2, interval reaches it
        ((0.6, 0.45, 0.78), (0.01, 0.0, 0.03), False, False),  # the whole interval below 0.8
        ((1.0, 0.8, 1.25), (0.07, 0.0, 0.12), True, False),  # ICI 0.07 > 0.05, calibration not rejected
        ((1.0, 0.8, 1.25), (0.09, 0.06, 0.12), False, False),  # the ICI's lower limit above 0.05
    ],
)
def test_gates_fail_only_when_the_interval_shows_the_rule_is_broken(slope, ici, interval, point):
    on_interval = check_gates(evidence(slope, ici))
    on_point = check_gates(evidence(slope, ici), Gates(basis="point"))
    assert on_interval.passed is interval and on_point.passed is point
    checks = {c.name: c for c in on_interval.checks}
    assert (checks["calibration_slope"].ci_low, checks["calibration_slope"].ci_high) == slope[1:]
    assert checks["net_benefit_t0.1"].passed and checks["net_benefit_t0.1"].ci_low is None
    assert all(c.ci_low is None for c in on_point.checks)
    if not interval:
        assert "95 % CI" in on_interval.summary()


def test_a_value_without_interval_is_judged_on_its_point_value():
    ev = evidence((0.7, 0.5, 0.95), (0.01, 0.0, 0.03))
    no_interval = {"value": 0.7, "ci_low": None, "ci_high": None}
    ev.families["elastic_net"].cross_validation["calibration"]["slope"] = no_interval
    assert not check_gates(ev).passed
    with pytest.raises(ValueError, match="basis"):
        check_gates(ev, Gates(basis="median"))  # type: ignore[arg-type]
