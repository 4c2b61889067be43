"""Synthetic keypoint exports: measuring them gives back the targets (round trip)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from spineoutcome.imaging import (
    LandmarkCatalogue,
    measure_parameters,
    synthesize_keypoints,
)
from tests.imaging.crafted import KEY

CERVICAL_TARGETS = [
    "c2c7_angle",
    "t1_slope",
    "csva_mm",
    "torg_pavlov_ratio",
    "occupying_ratio",
    "kline_min_distance_mm",
]


def cervical_targets(n: int, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            KEY: [f"R{i:03d}" for i in range(n)],
            "c2c7_angle": rng.normal(12, 9, n),
            "t1_slope": rng.normal(26, 6, n),
            "csva_mm": rng.normal(22, 8, n),
            "torg_pavlov_ratio": rng.normal(0.82, 0.08, n),
            "occupying_ratio": rng.uniform(15, 70, n),
            "kline_min_distance_mm": rng.normal(3, 2.5, n),
        }
    )


def assert_measures(
    export: pd.DataFrame, targets: pd.DataFrame, columns: list[str], atol: float = 1e-6
) -> pd.DataFrame:
    measured = measure_parameters(export, KEY).parameters.set_index(KEY).loc[targets[KEY]]
    for column in columns:
        np.testing.assert_allclose(
            measured[column].to_numpy(float), targets[column].to_numpy(float), atol=atol, err_msg=column
        )
    return measured


def test_cervical_round_trip_without_noise() -> None:
    targets = cervical_targets(25)
    export = synthesize_keypoints(targets, KEY, np.random.default_rng(1), 0.0)
    measured = assert_measures(export, targets, CERVICAL_TARGETS)
    np.testing.assert_allclose(measured["ts_cl"], targets["t1_slope"] - targets["c2c7_angle"], atol=1e-6)
    assert (measured["k_line"] == np.where(targets["kline_min_distance_mm"] > 0, "positive", "negative")).all()
    assert measured[["pi", "sva_mm"]].isna().all().all()  # no whole-spine target, no whole-spine landmarks


def test_export_looks_like_a_detector_export(catalogue: LandmarkCatalogue) -> None:
    targets = cervical_targets(40)
    export = synthesize_keypoints(targets, KEY, np.random.default_rng(2), 0.0)
    assert list(export.columns) == [KEY, "landmark", "x_px", "y_px", "pixel_spacing_mm"]
    assert export["landmark"].isin(list(catalogue.landmarks)).all()
    spacing = export.groupby(KEY)["pixel_spacing_mm"].agg(["min", "max"])
    assert (spacing["min"] == spacing["max"]).all()
    assert spacing["min"].between(0.1, 0.2).all()
    assert (export[["x_px", "y_px"]] > 0).all().all()
    points = export.set_index([KEY, "landmark"])
    forward = points.xs("C2_1", level="landmark")["x_px"] - points.xs("C2_2", level="landmark")["x_px"]
    assert (forward > 0).any() and (forward < 0).any()  # patients face both ways
    reference = points.xs("VERT_1", level="landmark")["x_px"] - points.xs("VERT_2", level="landmark")["x_px"]
    assert reference.abs().max() > 1.0  # images are rotated; the vertical reference shows by how much


def test_whole_spine_round_trip_on_targets_from_a_consistent_spine(catalogue: LandmarkCatalogue) -> None:
    n = 12
    anatomy = synthesize_keypoints(pd.DataFrame({KEY: range(n), "pi": np.nan}), KEY, np.random.default_rng(3), 0.0)
    targets = measure_parameters(anatomy, KEY).parameters
    assert targets[catalogue.parameter_names("whole_spine")].notna().all().all()
    export = synthesize_keypoints(targets, KEY, np.random.default_rng(4), 0.0)
    numeric = [p for p in catalogue.parameter_names() if p != "k_line"]
    assert_measures(export, targets, numeric)


def test_nan_target_leaves_out_the_landmarks_only_it_needs() -> None:
    targets = cervical_targets(4)
    targets.loc[1, ["occupying_ratio", "kline_min_distance_mm"]] = np.nan
    targets.loc[2, "csva_mm"] = np.nan
    export = synthesize_keypoints(targets, KEY, np.random.default_rng(5), 0.0)
    measured = measure_parameters(export, KEY).parameters.set_index(KEY)
    expected = targets.set_index(KEY)[CERVICAL_TARGETS]
    np.testing.assert_allclose(measured[CERVICAL_TARGETS].to_numpy(float), expected.to_numpy(float), atol=1e-6)
    assert pd.isna(measured.loc["R001", "k_line"])
    assert not export[export[KEY] == "R001"]["landmark"].str.startswith("OPLL").any()
    assert "C2" not in set(export[export[KEY] == "R002"]["landmark"])


def test_categorical_k_line_target_is_honoured() -> None:
    targets = pd.DataFrame(
        {KEY: range(30), "k_line": ["negative", "positive"] * 15, "occupying_ratio": np.linspace(20, 60, 30)}
    )
    export = synthesize_keypoints(targets, KEY, np.random.default_rng(6), 0.0)
    measured = measure_parameters(export, KEY).parameters
    assert (measured["k_line"] == targets["k_line"]).all()


def test_noise_perturbs_measurements_by_a_plausible_amount() -> None:
    targets = cervical_targets(30, seed=7)
    exact = synthesize_keypoints(targets, KEY, np.random.default_rng(8), 0.0)
    noisy = synthesize_keypoints(targets, KEY, np.random.default_rng(8), 3.0)
    error = measure_parameters(noisy, KEY).parameters["c2c7_angle"] - targets["c2c7_angle"]
    assert not np.allclose(noisy[["x_px", "y_px"]], exact[["x_px", "y_px"]])
    assert 0.5 < error.abs().mean() < 8.0  # ~3 px on 16 mm endplates at 0.1-0.2 mm/px: a few degrees


def test_contradicting_targets_name_the_line_not_the_key() -> None:
    targets = cervical_targets(3).assign(ts_cl=0.0)
    targets[KEY] = ["SECRET-1", "SECRET-2", "SECRET-3"]
    with pytest.raises(ValueError, match="line 2: target ts_cl is not t1_slope minus c2c7_angle") as error:
        synthesize_keypoints(targets, KEY, np.random.default_rng(9), 0.0)
    assert "SECRET" not in str(error.value)


def test_k_line_status_contradicting_the_distance_is_rejected() -> None:
    targets = pd.DataFrame({KEY: [1], "k_line": ["positive"], "kline_min_distance_mm": [-2.0]})
    with pytest.raises(ValueError, match="line 2: target k_line contradicts kline_min_distance_mm"):
        synthesize_keypoints(targets, KEY, np.random.default_rng(10), 0.0)
