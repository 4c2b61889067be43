"""Landmark parameters: hand-worked values, invariances, missing landmarks, input validation."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from spineoutcome.imaging import (
    CatalogueError,
    KeypointError,
    LandmarkCatalogue,
    measure_parameters,
)
from tests.imaging.crafted import CRAFTED, KEY, SPACING, keypoint_frame

deg = math.degrees

# Worked by hand from CRAFTED (anatomical X = x, Y = -y because the patient faces right).
C2_DIRECTION = deg(math.atan2(10, 40))  # C2 lower endplate rises 10 px over 40 anteriorly
C7_DIRECTION = deg(math.atan2(-30, 40))  # C7 lower endplate falls 30 px over 40
# The sacral midpoint (140,1330) is 80 px behind and 170 px above the hip axis (220,1500).
PT = deg(math.atan2(80, 170))
SS = deg(math.atan2(60, 80))  # S1 endplate falls 60 px over 80
# Angle between the endplate's caudal normal (-0.6, -0.8) and the line to the hips (80, -170).
PI = deg(math.acos((-0.6 * 80 + 0.8 * 170) / math.hypot(80, 170)))
LL = deg(math.atan2(10, 40)) + SS
TK = deg(math.atan2(5, 40)) - deg(math.atan2(-20, 40))
EXPECTED = {
    "c2c7_angle": C2_DIRECTION - C7_DIRECTION,
    "t1_slope": deg(math.atan2(30, 40)),
    "ts_cl": deg(math.atan2(30, 40)) - (C2_DIRECTION - C7_DIRECTION),
    "csva_mm": (160 - 100) * SPACING,
    "torg_pavlov_ratio": 64 / 80,
    "k_line": "positive",
    "kline_min_distance_mm": (75 - 70) * SPACING,
    "occupying_ratio": 100 * 25 / 75,
    "pi": PI,
    "pt": PT,
    "ss": SS,
    "ll": LL,
    "l4s1": SS,
    "tk": TK,
    "tpa": PT - deg(math.atan2(90, 860)),  # T1 centre is 90 px behind, 860 px above the hips
    "cbva": deg(math.atan2(10, 150)),  # brow 10 px anterior of the chin, 150 px above
    "odha": -deg(math.atan2(50, 1300)),  # odontoid 50 px behind the hip axis
    "ssa": deg(math.acos((-20 * 40 + 735 * -30) / (math.hypot(20, 735) * 50))),
    "pi_ll": PI - LL,
    "sva_mm": (120 - 100) * SPACING,
}
GRAVITY_REFERENCED = {"t1_slope", "ss", "pt", "cbva", "odha", "csva_mm", "sva_mm", "ts_cl"}


def measured(frame: pd.DataFrame, **kwargs: object) -> pd.Series:
    return measure_parameters(frame, KEY, **kwargs).parameters.iloc[0]


def transformed(
    frame: pd.DataFrame, angle_deg: float = 0.0, shift: tuple[float, float] = (0.0, 0.0), flip: bool = False
) -> pd.DataFrame:
    out = frame.copy()
    x, y = out["x_px"].to_numpy(float), out["y_px"].to_numpy(float)
    if flip:
        x = 2000.0 - x
    a = math.radians(angle_deg)
    cx, cy = 700.0, 800.0
    out["x_px"] = cx + (x - cx) * math.cos(a) - (y - cy) * math.sin(a) + shift[0]
    out["y_px"] = cy + (x - cx) * math.sin(a) + (y - cy) * math.cos(a) + shift[1]
    return out


def test_hand_worked_values(crafted: pd.DataFrame) -> None:
    row = measured(crafted)
    for name, value in EXPECTED.items():
        if isinstance(value, str):
            assert row[name] == value, name
        else:
            assert row[name] == pytest.approx(value, abs=1e-9), name


def test_output_columns_follow_the_catalogue_and_the_callers_key(
    crafted: pd.DataFrame, catalogue: LandmarkCatalogue
) -> None:
    table = measure_parameters(crafted, KEY).parameters
    assert list(table.columns) == [KEY, *EXPECTED]
    assert list(table.columns[1:]) == catalogue.parameter_names()


def test_restricting_parameters(crafted: pd.DataFrame, catalogue: LandmarkCatalogue) -> None:
    cervical = catalogue.parameter_names("cervical")
    result = measure_parameters(crafted.drop(crafted.index[crafted.landmark == "FH_1"]), KEY, parameters=cervical)
    assert list(result.parameters.columns) == [KEY, *cervical]
    assert result.missing.empty  # FH_1 only feeds whole-spine parameters


def test_facing_left_gives_the_same_values(crafted: pd.DataFrame) -> None:
    row = measured(transformed(crafted, flip=True))
    for name, value in EXPECTED.items():
        if not isinstance(value, str):
            assert row[name] == pytest.approx(value, abs=1e-9), name


@settings(max_examples=25, deadline=None)
@given(angle=st.floats(-35, 35), dx=st.floats(-500, 500), dy=st.floats(-500, 500), flip=st.booleans())
def test_invariant_to_rotation_translation_and_flip_with_a_vertical_reference(
    angle: float, dx: float, dy: float, flip: bool
) -> None:
    base = keypoint_frame(CRAFTED)
    row = measured(transformed(base, angle, (dx, dy), flip))
    for name, value in EXPECTED.items():
        if isinstance(value, str):
            assert row[name] == value
        else:
            assert row[name] == pytest.approx(value, abs=1e-7), name


@settings(max_examples=25, deadline=None)
@given(angle=st.floats(-35, 35).filter(lambda a: abs(a) > 0.5), flip=st.booleans())
def test_without_a_vertical_reference_only_gravity_referenced_values_follow_a_rotation(
    angle: float, flip: bool
) -> None:
    base = keypoint_frame({k: v for k, v in CRAFTED.items() if not k.startswith("VERT")})
    before = measured(transformed(base, flip=flip))
    after = measured(transformed(base, angle, flip=flip))
    for name in EXPECTED:
        if name not in GRAVITY_REFERENCED and name != "k_line":
            assert after[name] == pytest.approx(before[name], abs=1e-7), name
    tilt = after["t1_slope"] - before["t1_slope"]
    assert abs(tilt) == pytest.approx(abs(angle), abs=1e-7)
    for name in ("ss", "cbva", "odha"):
        assert after[name] - before[name] == pytest.approx(tilt, abs=1e-7), name
    assert after["pt"] - before["pt"] == pytest.approx(-tilt, abs=1e-7)
    assert after["pi"] == pytest.approx(before["pi"], abs=1e-7)


@settings(max_examples=30, deadline=None)
@given(
    hip=st.tuples(st.floats(0, 2000), st.floats(1800, 2600)),
    offset=st.tuples(st.floats(-15, 15), st.floats(-10, 10)),
    posterior=st.tuples(st.floats(0, 2000), st.floats(800, 1500)),
    endplate=st.tuples(st.floats(150, 400), st.floats(-300, 300)),
    facing=st.sampled_from([-1.0, 1.0]),
)
def test_pelvic_incidence_is_tilt_plus_slope(
    hip: tuple[float, float],
    offset: tuple[float, float],
    posterior: tuple[float, float],
    endplate: tuple[float, float],
    facing: float,
) -> None:
    points = {
        "FH_1": (hip[0] + offset[0], hip[1] + offset[1]),
        "FH_2": (hip[0] - offset[0], hip[1] - offset[1]),
        "S_2": posterior,
        "S_1": (posterior[0] + facing * endplate[0], posterior[1] + endplate[1]),
    }
    row = measured(keypoint_frame(points, spacing=0.143))
    assert math.remainder(row["pi"] - row["pt"] - row["ss"], 360.0) == pytest.approx(0.0, abs=1e-9)


def test_k_line_touching_is_negative(crafted: pd.DataFrame) -> None:
    touching = crafted.copy()
    touching.loc[touching.landmark == "OPLL_T", "x_px"] = 70.0  # exactly on the line x = 70
    row = measured(touching)
    assert row["kline_min_distance_mm"] == 0.0
    assert row["k_line"] == "negative"
    crossing = crafted.copy()
    crossing.loc[crossing.landmark == "OPLL_T", "x_px"] = 64.0
    assert measured(crossing)["kline_min_distance_mm"] == pytest.approx(-3.0)
    assert measured(crossing)["k_line"] == "negative"


def test_optional_second_opll_point_counts_when_it_comes_closer(crafted: pd.DataFrame) -> None:
    row = measured(pd.concat([crafted, keypoint_frame({"OPLL_K": (66, 330)})]))
    assert row["kline_min_distance_mm"] == pytest.approx(-2.0)
    assert row["k_line"] == "negative"
    assert row["occupying_ratio"] == pytest.approx(100 * 25 / 75)  # the thickness level is unchanged
    farther = measured(pd.concat([crafted, keypoint_frame({"OPLL_K": (90, 330)})]))
    assert farther["kline_min_distance_mm"] == pytest.approx(2.5)


def test_occupying_ratio_uses_the_canal_axis(crafted: pd.DataFrame) -> None:
    off_axis = crafted.copy()
    off_axis.loc[off_axis.landmark == "OPLL_T", ["x_px", "y_px"]] = [55.0, 410.0]  # 45 px deep, 10 px off the line
    assert measured(off_axis)["occupying_ratio"] == pytest.approx(60.0)


@pytest.mark.parametrize(
    "dropped, affected",
    [
        ("C7_3", {"csva_mm"}),
        ("C7_2", {"c2c7_angle", "ts_cl"}),
        ("T1_1", {"t1_slope", "ts_cl"}),
        ("FH_1", {"pi", "pt", "tpa", "odha", "pi_ll"}),
        ("S_2", {"pi", "pt", "ss", "ll", "l4s1", "tpa", "ssa", "pi_ll", "sva_mm"}),
        ("OPLL_T", {"k_line", "kline_min_distance_mm", "occupying_ratio"}),
        ("C2_CP", {"k_line", "kline_min_distance_mm"}),
        ("C5_SL", {"torg_pavlov_ratio"}),
        ("Jaw", {"cbva"}),
    ],
)
def test_missing_landmark_blanks_exactly_its_parameters(
    crafted: pd.DataFrame, dropped: str, affected: set[str]
) -> None:
    other = keypoint_frame(CRAFTED, patient="B")
    frame = pd.concat([crafted[crafted.landmark != dropped], other])
    result = measure_parameters(frame, KEY)
    row = result.parameters.set_index(KEY).loc["A"]
    assert {name for name in EXPECTED if pd.isna(row[name])} == affected
    assert result.parameters.set_index(KEY).loc["B"].notna().all()
    assert result.missing[[KEY, "landmark"]].values.tolist() == [["A", dropped]]
    assert set(result.missing["affected"].iloc[0].split(";")) == affected


@pytest.mark.parametrize("empty", ["", "NaN", np.nan])
def test_undetected_landmark_with_empty_coordinates_counts_as_missing(crafted: pd.DataFrame, empty: object) -> None:
    frame = crafted.astype({"x_px": object, "y_px": object})
    frame.loc[frame.landmark == "C7_3", ["x_px", "y_px"]] = empty
    assert pd.isna(measured(frame)["csva_mm"])
    assert measured(frame)["c2c7_angle"] == pytest.approx(EXPECTED["c2c7_angle"])


def test_a_cervical_film_is_not_reported_as_missing_whole_spine_points(
    crafted: pd.DataFrame, catalogue: LandmarkCatalogue
) -> None:
    whole_spine_only = [n for n in CRAFTED if catalogue.landmark_film(n) == "whole_spine"]
    assert {"FH_1", "S_2", "T4_1", "Jaw", "C7", "T1"} <= set(whole_spine_only)
    result = measure_parameters(crafted[~crafted.landmark.isin(whole_spine_only)], KEY)
    assert result.missing.empty
    assert result.parameters[catalogue.parameter_names("whole_spine")].isna().all(axis=None)
    assert result.parameters[catalogue.parameter_names("cervical")].notna().all(axis=None)


def test_optional_landmarks_are_never_reported_missing(crafted: pd.DataFrame) -> None:
    assert measure_parameters(crafted, KEY).missing.empty  # OPLL_K, FM_1, FM_2 and both VERT are absent


def test_half_a_vertical_reference_blanks_gravity_referenced_values(crafted: pd.DataFrame) -> None:
    result = measure_parameters(crafted[crafted.landmark != "VERT_2"], KEY)
    row = result.parameters.iloc[0]
    assert {name for name in EXPECTED if pd.isna(row[name])} == GRAVITY_REFERENCED
    assert result.missing["landmark"].tolist() == ["VERT_2"]
    assert set(result.missing["affected"].iloc[0].split(";")) == GRAVITY_REFERENCED


def test_without_any_anterior_posterior_pair_signed_values_are_blank() -> None:
    points = {name: CRAFTED[name] for name in ("C2", "C7_3")}
    result = measure_parameters(keypoint_frame(points), KEY)
    assert pd.isna(result.parameters["csva_mm"].iloc[0])
    assert result.facing_undetermined == ["A"]


def test_catalogue_rejects_a_stale_used_by(tmp_path: Path, catalogue: LandmarkCatalogue) -> None:
    doc = yaml.safe_load(catalogue.path.read_text(encoding="utf-8"))
    doc["landmarks"]["C7_3"]["used_by"] = ["csva_mm", "sva_mm"]
    stale = tmp_path / "landmarks.yaml"
    stale.write_text(yaml.safe_dump(doc), encoding="utf-8")
    with pytest.raises(CatalogueError, match="C7_3"):
        LandmarkCatalogue.load(stale)


# --- input validation -------------------------------------------------------------------------

SECRET = "SECRET-PATIENT-0042"


def invalid(frame: pd.DataFrame) -> str:
    with pytest.raises(KeypointError) as error:
        measure_parameters(frame, KEY)
    assert SECRET not in str(error.value)
    return str(error.value)


def test_non_numeric_coordinate_names_line_column_value_and_rule() -> None:
    frame = keypoint_frame(CRAFTED, patient=SECRET).astype({"x_px": object})
    frame.loc[3, "x_px"] = "12,5a"
    message = invalid(frame)
    assert "line 5, column 'x_px', value '12,5a': must be a finite number or empty" in message


@pytest.mark.parametrize("spacing", ["0", "-0.2", "abc", "inf"])
def test_non_positive_or_non_numeric_spacing(spacing: str) -> None:
    frame = keypoint_frame(CRAFTED, patient=SECRET).astype({"pixel_spacing_mm": object})
    frame.loc[0, "pixel_spacing_mm"] = spacing
    message = invalid(frame)
    assert f"line 2, column 'pixel_spacing_mm', value '{spacing}': must be a positive finite number" in message


def test_duplicate_landmark_names_both_lines() -> None:
    frame = pd.concat(
        [keypoint_frame(CRAFTED, patient=SECRET), keypoint_frame({"C2_1": (1, 2)}, patient=SECRET)], ignore_index=True
    )
    message = invalid(frame)
    first = list(CRAFTED).index("C2_1") + 2
    assert (
        f"line {len(CRAFTED) + 2}, column 'landmark', value 'C2_1': landmark given twice for the same patient "
        f"(first at line {first})"
    ) in message


def test_unknown_landmark_suggests_the_catalogue_name() -> None:
    frame = keypoint_frame({"c2_1": (1, 2), **CRAFTED}, patient=SECRET)
    message = invalid(frame)
    assert "line 2, column 'landmark', value 'c2_1': not a landmark of landmarks.yaml (did you mean C2_1" in message


def test_spacing_must_be_constant_per_patient_and_both_coordinates_given() -> None:
    frame = keypoint_frame(CRAFTED, patient=SECRET).astype({"y_px": object})
    frame.loc[4, "pixel_spacing_mm"] = 0.25
    frame.loc[6, "y_px"] = np.nan
    message = invalid(frame)
    assert (
        "line 6, column 'pixel_spacing_mm', value '0.25': differs from the spacing of the same patient at line 2"
    ) in message
    assert "line 8, column 'y_px': x_px and y_px must both be given or both be empty" in message


def test_missing_key_and_missing_column() -> None:
    frame = keypoint_frame(CRAFTED, patient=SECRET).astype({KEY: object})
    frame.loc[2, KEY] = ""
    assert "line 4, column 'record': a patient key is required" in invalid(frame)
    assert "column 'pixel_spacing_mm': required column is missing" in invalid(
        keypoint_frame(CRAFTED, patient=SECRET).drop(columns="pixel_spacing_mm")
    )


def test_csv_line_numbers_match_the_file(tmp_path: Path) -> None:
    frame = keypoint_frame(CRAFTED, patient=SECRET).astype({"y_px": object})
    frame.loc[9, "y_px"] = "n/a"
    path = tmp_path / "keypoints.csv"
    frame.to_csv(path, index=False)
    lines = path.read_text().splitlines()
    assert lines[10].endswith(",n/a,0.5")
    assert "line 11, column 'y_px', value 'n/a'" in invalid(path)  # type: ignore[arg-type]


def test_every_problem_is_reported_at_once() -> None:
    frame = keypoint_frame(CRAFTED, patient=SECRET).astype({"x_px": object, "pixel_spacing_mm": object})
    frame.loc[1, "x_px"] = "x"
    frame.loc[2, "pixel_spacing_mm"] = "0"
    with pytest.raises(KeypointError) as error:
        measure_parameters(frame, KEY)
    assert [(i.line, i.column) for i in error.value.issues] == [(3, "x_px"), (4, "pixel_spacing_mm")]
