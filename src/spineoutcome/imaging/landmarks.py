"""Sagittal alignment and OPLL parameters measured from a landmark (keypoint) export.

Input is the long table a landmark-detection model or an annotation tool writes: one row per
patient and landmark with ``<key>, landmark, x_px, y_px, pixel_spacing_mm`` (the key column's name
comes from the data dictionary). Image convention: origin at the top-left pixel, x to the right,
y downwards. Each patient's points are moved into the anatomical frame (X anterior, Y superior, mm):

* the true vertical is the ``VERT_2 -> VERT_1`` line when both are given, else the image's y axis
  (standing radiograph, upright detector);
* the anterior direction is read from the anterior/posterior point pairs listed in
  landmarks.yaml (``frame.facing_pairs``), so patients facing left or right measure the same.

Parameters then follow the recipes in landmarks.yaml (formulas in :mod:`.geometry`). A missing
landmark makes exactly the parameters that need it NaN and is listed per patient; malformed rows
raise :class:`KeypointError` naming line, column, value and rule (never the patient key).
"""

from __future__ import annotations

import difflib
import os
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from spineoutcome.errors import SpineoutcomeError
from spineoutcome.imaging import geometry
from spineoutcome.imaging.catalogue import LandmarkCatalogue

LANDMARK_COLUMN = "landmark"
X_COLUMN = "x_px"
Y_COLUMN = "y_px"
SPACING_COLUMN = "pixel_spacing_mm"
KLINE_POSITIVE, KLINE_NEGATIVE = "positive", "negative"
_MAX_LISTED = 50


@dataclass(frozen=True)
class KeypointIssue:
    """One invalid cell of a keypoint export. ``line`` counts the header as line 1."""

    line: int | None
    column: str
    value: str
    rule: str

    def __str__(self) -> str:
        where = f"line {self.line}, " if self.line is not None else ""
        value = f", value {self.value!r}" if self.value else ""
        return f"{where}column {self.column!r}{value}: {self.rule}"


class KeypointError(SpineoutcomeError, ValueError):
    """A keypoint export has invalid rows; ``issues`` lists every one of them."""

    def __init__(self, issues: Sequence[KeypointIssue]) -> None:
        self.issues = list(issues)
        listed = "\n  ".join(str(issue) for issue in self.issues[:_MAX_LISTED])
        more = len(self.issues) - _MAX_LISTED
        tail = f"\n  ... and {more} more" if more > 0 else ""
        super().__init__(f"{len(self.issues)} invalid keypoint cell(s):\n  {listed}{tail}")


@dataclass(frozen=True)
class LandmarkMeasurements:
    """Result of :func:`measure_parameters`.

    parameters: one row per patient: the key column, then one column per parameter.
    missing: one row per patient and missing required landmark: key, ``landmark`` and
        ``affected`` (the parameters set to NaN because of it, ``;``-separated). A film the
        patient does not have (no whole-spine landmark at all) is not reported point by point.
    facing_undetermined: keys of patients without any complete anterior/posterior pair, whose
        signed parameters are all NaN.
    """

    parameters: pd.DataFrame
    missing: pd.DataFrame
    facing_undetermined: list[object]


def read_keypoints(path: str | os.PathLike[str]) -> pd.DataFrame:
    """Read a keypoint CSV keeping every cell as text, so that validation can quote it."""
    return pd.read_csv(path, dtype=str, keep_default_na=False, na_values=[""])


def validate_keypoints(
    keypoints: pd.DataFrame, key: str, catalogue: LandmarkCatalogue | None = None
) -> list[KeypointIssue]:
    """Every rule a keypoint export breaks; an empty list means it can be measured.

    Rules: the five columns exist; the key is given; the landmark is in the catalogue and appears
    once per patient; x and y are finite numbers, or both empty (landmark not found); the pixel
    spacing is a positive finite number, the same on all rows of a patient.
    """
    catalogue = catalogue or LandmarkCatalogue.load()
    required = [key, LANDMARK_COLUMN, X_COLUMN, Y_COLUMN, SPACING_COLUMN]
    absent = [c for c in required if c not in keypoints.columns]
    if absent:
        return [KeypointIssue(None, c, "", "required column is missing") for c in absent]
    frame = keypoints.reset_index(drop=True)
    lines = frame.index.to_numpy() + 2
    issues: list[KeypointIssue] = []

    key_empty = _empty(frame[key])
    issues += [KeypointIssue(int(line), key, "", "a patient key is required") for line in lines[key_empty]]

    names = frame[LANDMARK_COLUMN]
    known = names.isin(list(catalogue.landmarks))
    for line, name in zip(lines[~known], names[~known], strict=True):
        issues.append(KeypointIssue(int(line), LANDMARK_COLUMN, _shown(name), _unknown_rule(name, catalogue)))

    coordinates = {}
    for column in (X_COLUMN, Y_COLUMN):
        numbers, bad = _numbers(frame[column])
        coordinates[column] = numbers
        issues += [
            KeypointIssue(int(line), column, _shown(value), "must be a finite number or empty")
            for line, value in zip(lines[bad], frame[column][bad], strict=True)
        ]
    x_empty, y_empty = _empty(frame[X_COLUMN]), _empty(frame[Y_COLUMN])
    half = x_empty != y_empty
    issues += [
        KeypointIssue(
            int(line),
            X_COLUMN if xe else Y_COLUMN,
            "",
            "x_px and y_px must both be given or both be empty (landmark not found)",
        )
        for line, xe in zip(lines[half], x_empty[half], strict=True)
    ]

    spacing, bad = _numbers(frame[SPACING_COLUMN])
    bad |= _empty(frame[SPACING_COLUMN]) | (spacing <= 0)
    issues += [
        KeypointIssue(int(line), SPACING_COLUMN, _shown(value), "must be a positive finite number (mm/px)")
        for line, value in zip(lines[bad], frame[SPACING_COLUMN][bad], strict=True)
    ]

    keyed = frame.assign(_line=lines)[~key_empty]
    spaced = keyed.assign(_spacing=spacing[~key_empty])[~bad[~key_empty]]
    first = spaced.groupby(key, sort=False)[["_line", "_spacing"]].transform("first")
    differs = ~np.isclose(spaced["_spacing"], first["_spacing"], rtol=1e-9)
    issues += [
        KeypointIssue(
            int(line), SPACING_COLUMN, _shown(value), f"differs from the spacing of the same patient at line {int(ref)}"
        )
        for line, value, ref in zip(
            spaced["_line"][differs], spaced[SPACING_COLUMN][differs], first["_line"][differs], strict=True
        )
    ]

    duplicated = keyed.duplicated([key, LANDMARK_COLUMN], keep="first")
    if duplicated.any():
        first_line = keyed.groupby([key, LANDMARK_COLUMN], sort=False)["_line"].transform("first")
        issues += [
            KeypointIssue(
                int(line),
                LANDMARK_COLUMN,
                _shown(name),
                f"landmark given twice for the same patient (first at line {int(ref)})",
            )
            for line, name, ref in zip(
                keyed["_line"][duplicated], keyed[LANDMARK_COLUMN][duplicated], first_line[duplicated], strict=True
            )
        ]
    return sorted(issues, key=lambda issue: (issue.line or 0, issue.column))


def measure_parameters(
    keypoints: pd.DataFrame | str | os.PathLike[str],
    key: str,
    *,
    parameters: Sequence[str] | None = None,
    catalogue: LandmarkCatalogue | None = None,
) -> LandmarkMeasurements:
    """Measure sagittal alignment and OPLL parameters for every patient of a keypoint export.

    ``parameters`` restricts the output columns (default: every parameter of the catalogue, e.g.
    ``catalogue.parameter_names("cervical")`` for a cervical radiograph study); only landmarks
    those parameters need are reported as missing. Raises :class:`KeypointError` when a row is
    malformed; never raises for a missing landmark.
    """
    catalogue = catalogue or LandmarkCatalogue.load()
    frame = read_keypoints(keypoints) if isinstance(keypoints, str | os.PathLike) else keypoints
    issues = validate_keypoints(frame, key, catalogue)
    if issues:
        raise KeypointError(issues)
    wanted = list(parameters) if parameters is not None else catalogue.parameter_names()
    unknown = [p for p in wanted if p not in catalogue.parameters]
    if unknown:
        raise ValueError(f"unknown parameter(s) {unknown}; known: {catalogue.parameter_names()}")

    frame = frame.reset_index(drop=True)
    patients = pd.Index(pd.unique(frame[key]))
    names = list(catalogue.landmarks)
    points = np.full((len(patients), len(names), 2), np.nan)
    x, _ = _numbers(frame[X_COLUMN])
    y, _ = _numbers(frame[Y_COLUMN])
    rows = patients.get_indexer(frame[key])
    columns = pd.Index(names).get_indexer(frame[LANDMARK_COLUMN])
    points[rows, columns, 0] = x
    points[rows, columns, 1] = y
    spacing = np.full(len(patients), np.nan)
    spacing[rows] = _numbers(frame[SPACING_COLUMN])[0]

    anatomical, vertical_known, facing_known = _to_anatomical(points, spacing, names, catalogue)
    values = evaluate_anatomical(anatomical, names, catalogue, vertical_known, facing_known)
    table = pd.DataFrame({key: patients.to_numpy(), **{p: values[p] for p in wanted}})
    return LandmarkMeasurements(
        parameters=table,
        missing=_missing_report(points, vertical_known, patients, names, wanted, key, catalogue),
        facing_undetermined=list(patients[~facing_known]),
    )


def _to_anatomical(
    points: np.ndarray, spacing: np.ndarray, names: list[str], catalogue: LandmarkCatalogue
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Project pixel points on the (anterior, superior) axes and scale to mm."""
    index = {name: i for i, name in enumerate(names)}
    superior, inferior = (points[:, index[n]] for n in catalogue.vertical_reference)
    reference = superior - inferior
    length = np.linalg.norm(reference, axis=1)
    given = ~np.isnan(length) & (length > 0)
    up = np.tile([0.0, -1.0], (len(points), 1))
    up[given] = reference[given] / length[given, None]
    vertical_known = given | (np.isnan(superior).all(axis=1) & np.isnan(inferior).all(axis=1))

    horizontal = np.column_stack([-up[:, 1], up[:, 0]])
    evidence = np.zeros(len(points))
    for anterior, posterior in catalogue.facing_pairs:
        vector = points[:, index[anterior]] - points[:, index[posterior]]
        evidence += np.nan_to_num(np.einsum("ij,ij->i", vector, horizontal))
    facing_known = evidence != 0
    forward = horizontal * np.where(evidence < 0, -1.0, 1.0)[:, None]

    scale = spacing[:, None]
    anatomical = np.stack(
        [np.einsum("plk,pk->pl", points, forward) * scale, np.einsum("plk,pk->pl", points, up) * scale], axis=-1
    )
    return anatomical, vertical_known, facing_known


def evaluate_anatomical(
    anatomical: np.ndarray,
    names: Sequence[str],
    catalogue: LandmarkCatalogue,
    vertical_known: np.ndarray | None = None,
    facing_known: np.ndarray | None = None,
) -> dict[str, np.ndarray]:
    """Every catalogue parameter from points already in the anatomical frame.

    ``anatomical`` has shape (patients, len(names), 2) in mm, X anterior, Y superior, NaN where a
    landmark is missing. Patients flagged False in ``vertical_known`` / ``facing_known`` get NaN
    for the parameters that need the true vertical / the facing direction.
    """
    everyone = np.ones(len(anatomical), dtype=bool)
    vertical_known = everyone if vertical_known is None else vertical_known
    facing_known = everyone if facing_known is None else facing_known
    index = {name: i for i, name in enumerate(names)}
    values: dict[str, np.ndarray] = {}
    for name in catalogue.evaluation_order():
        spec = catalogue.parameters[name]
        if spec.method == "difference":
            values[name] = values[spec.inputs["minuend"]] - values[spec.inputs["subtrahend"]]
            continue
        if spec.method == "kline_status":
            distance = values[spec.inputs["distance"]]
            status = np.where(distance > 0, KLINE_POSITIVE, KLINE_NEGATIVE).astype(object)
            status[np.isnan(distance)] = np.nan
            values[name] = status
            continue
        method = geometry.METHODS[spec.method]
        roles = {
            role: anatomical[:, [index[n] for n in members]].mean(axis=1) for role, members in spec.landmarks.items()
        }
        result = method.function(**roles).astype(float)
        if method.needs_vertical:
            result[~vertical_known] = np.nan
        if method.needs_facing:
            result[~facing_known] = np.nan
        values[name] = result
    return values


def _missing_report(
    points: np.ndarray,
    vertical_known: np.ndarray,
    patients: pd.Index,
    names: list[str],
    wanted: list[str],
    key: str,
    catalogue: LandmarkCatalogue,
) -> pd.DataFrame:
    """Missing required landmarks per patient, on the films the patient has (any of its points present)."""
    absent = np.isnan(points).any(axis=2)
    film = np.array([catalogue.landmark_film(name) or "" for name in names])
    has_film = {f: (~absent[:, film == f]).any(axis=1) for f in set(film) - {""}}
    gravity = [
        p
        for p in wanted
        if not catalogue.parameters[p].derived and geometry.METHODS[catalogue.parameters[p].method].needs_vertical
    ]
    gravity_affected = [p for p in wanted if any(g in _inputs_closure(p, catalogue) for g in gravity)]
    records: list[tuple[object, str, str]] = []
    for j, name in enumerate(names):
        landmark = catalogue.landmarks[name]
        if name in catalogue.vertical_reference:
            affected, rows = gravity_affected, absent[:, j] & ~vertical_known
        else:
            affected = [p for p in landmark.used_by if p in wanted] if landmark.required else []
            rows = absent[:, j] & has_film.get(film[j], False)
        if affected:
            records += [(patient, name, ";".join(affected)) for patient in patients[rows]]
    report = pd.DataFrame(records, columns=[key, LANDMARK_COLUMN, "affected"])
    order = pd.Series(np.arange(len(patients)), index=patients)
    return report.iloc[np.argsort(order[report[key]].to_numpy(), kind="stable")].reset_index(drop=True)


def _inputs_closure(parameter: str, catalogue: LandmarkCatalogue) -> set[str]:
    spec = catalogue.parameters[parameter]
    closure = {parameter}
    for source in spec.inputs.values():
        closure |= _inputs_closure(source, catalogue)
    return closure


def _empty(column: pd.Series) -> np.ndarray:
    """Cells with no value: missing, blank, or the text 'nan' that numeric writers produce."""
    text = column.astype(str).str.strip()
    return (column.isna() | text.eq("") | text.str.lower().eq("nan")).to_numpy()


def _numbers(column: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """Parsed floats and a mask of cells that are given but not finite numbers."""
    text = column.astype(object).where(~_empty(column), None)
    numbers = pd.to_numeric(text, errors="coerce").to_numpy(dtype=float)
    bad = ~_empty(column) & ~np.isfinite(numbers)
    return numbers, bad


def _shown(value: object) -> str:
    text = str(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _unknown_rule(name: object, catalogue: LandmarkCatalogue) -> str:
    close = difflib.get_close_matches(str(name), list(catalogue.landmarks), n=3)
    hint = f" (did you mean {', '.join(close)}?)" if close else ""
    return f"not a landmark of {catalogue.path.name}{hint}"
