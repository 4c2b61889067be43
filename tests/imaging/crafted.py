"""A hand-placed keypoint set whose parameters the tests work out by hand."""

from __future__ import annotations

import pandas as pd

# The key column deliberately is not "patient_id": the module must take the name from the caller.
KEY = "record"
SPACING = 0.5
# Image pixels, origin top-left, y downwards; the patient faces right (+x is anterior); the
# vertical reference is a true vertical line. Every expected value in the tests is worked from these.
CRAFTED: dict[str, tuple[float, float]] = {
    "VERT_1": (50, 100),
    "VERT_2": (50, 1600),
    "ODT": (170, 200),
    "Forehead": (260, 150),
    "Jaw": (250, 300),
    "C2": (160, 250),
    "C2_CA": (100, 260),
    "C2_CP": (40, 260),
    "C2_2": (100, 300),
    "C2_1": (140, 290),
    "OPLL_B": (100, 400),
    "OPLL_T": (75, 400),
    "OPLL_SL": (25, 400),
    "C5_VA": (180, 450),
    "C5_VP": (100, 450),
    "C5_SL": (36, 450),
    "C7_3": (100, 560),
    "C7_CA": (100, 570),
    "C7_CP": (40, 570),
    "C7_2": (100, 580),
    "C7_1": (140, 610),
    "C7": (120, 595),
    "T1_2": (100, 600),
    "T1_1": (140, 630),
    "T1": (130, 640),
    "T4_2": (100, 700),
    "T4_1": (140, 720),
    "T12_2": (100, 900),
    "T12_1": (140, 895),
    "L1_2": (100, 1000),
    "L1_1": (140, 990),
    "L4_2": (100, 1200),
    "L4_1": (140, 1200),
    "S_2": (100, 1300),
    "S_1": (180, 1360),
    "FH_1": (210, 1495),
    "FH_2": (230, 1505),
}


def keypoint_frame(
    points: dict[str, tuple[float, float]], patient: str = "A", spacing: float = SPACING
) -> pd.DataFrame:
    """Long keypoint export rows for one patient."""
    return pd.DataFrame(
        {
            KEY: patient,
            "landmark": list(points),
            "x_px": [p[0] for p in points.values()],
            "y_px": [p[1] for p in points.values()],
            "pixel_spacing_mm": spacing,
        }
    )
