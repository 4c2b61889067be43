"""Synthetic keypoint exports whose measured parameters equal given targets.

The inverse of :func:`spineoutcome.imaging.landmarks.measure_parameters`, so that the synthetic
cohort runs through the landmark path. Each patient is an anatomical model drawn from adult
priors: pelvis (PI, PT, hip-axis distance), a chain of vertebral bodies and discs from S1 to C2
with one angle per body or disc and a small listhesis per level, canal depths at C2-C7, an OPLL at
one of C3-C6 and the head. The model's free quantities are then moved by the smallest
prior-scaled amount that makes the measured parameters equal the targets (minimum-norm
Gauss-Newton on the measurement code itself), so a lordosis target is spread over the cervical
segments and a plumb-line target over the levels, as anatomy would. Landmarks are placed by their
``site`` in landmarks.yaml; the code never names a landmark or a parameter.

The image is then rotated (up to ``max_rotation_deg``), mirrored at random (patient facing left
or right), scaled to a pixel spacing of 0.1-0.2 mm and translated; a true-vertical reference
(the catalogue's vertical-reference points) is exported with it, and Gaussian noise of
``noise_px`` pixels is added to every coordinate.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from spineoutcome.imaging.catalogue import LandmarkCatalogue
from spineoutcome.imaging.geometry import wrap
from spineoutcome.imaging.landmarks import (
    KLINE_NEGATIVE,
    KLINE_POSITIVE,
    LANDMARK_COLUMN,
    SPACING_COLUMN,
    X_COLUMN,
    Y_COLUMN,
    evaluate_anatomical,
)

_SPINE = (
    "S1",
    "L5",
    "L4",
    "L3",
    "L2",
    "L1",
    "T12",
    "T11",
    "T10",
    "T9",
    "T8",
    "T7",
    "T6",
    "T5",
    "T4",
    "T3",
    "T2",
    "T1",
    "C7",
    "C6",
    "C5",
    "C4",
    "C3",
    "C2",
)
_LEVEL = {name: i for i, name in enumerate(_SPINE)}
# Adult vertebral body AP depth and posterior height, disc height below each level (mm):
# Panjabi et al., Spine 1991;16:888-901 and Spine 1992;17:299-306 (rounded, sexes pooled).
_DEPTH = np.array(
    [48, 45, 45, 44, 42, 40, 36, 34, 32, 31, 30, 29, 28, 27, 26, 25, 24, 22, 17, 17, 16, 16, 16, 16], dtype=float
)
_BODY_HEIGHT = np.array(
    [0, 27, 27, 27, 26, 25, 24, 23, 22, 21, 20.5, 20, 19.5, 19, 18.5, 18, 18, 17, 14.5, 13.5, 13.5, 13.5, 13.5, 18],
    dtype=float,
)
_DISC_HEIGHT = np.array(
    [0, 10, 10, 10, 9, 8, 6, 5.5, 5.5, 5.5, 5.5, 5.5, 5.5, 5.5, 5.5, 5, 5, 4.5, 4.5, 5, 5, 5, 5, 5], dtype=float
)
# Mid-sagittal canal depth C2-C7 (mm); the C5 value over C5's depth gives a Torg-Pavlov ratio of
# about 0.84, typical of OPLL cohorts (Pavlov et al., Radiology 1987).
_CANAL = {"C2": 18.0, "C3": 15.5, "C4": 14.5, "C5": 13.5, "C6": 13.5, "C7": 14.0}
_CANAL_LEVELS = tuple(_CANAL)
_OPLL_LEVELS, _OPLL_LEVEL_P = ("C3", "C4", "C5", "C6"), (0.2, 0.35, 0.3, 0.15)
_DENS_HEIGHT, _DENS_FORWARD = 38.0, 0.45
# Share of the lordosis carried by each disc and body, caudal first (L5-S1 disc, L5, L4-5 disc, L4;
# then L3-4 disc ... L1): lordosis is concentrated in the lowest discs (Bernhardt & Bridwell,
# Spine 1989;14:717-21).
_LOWER_LUMBAR_SHARE = (0.45, 0.15, 0.3, 0.1)
_UPPER_LUMBAR_SHARE = (0.35, 0.1, 0.25, 0.05, 0.2, 0.05)

# Nodes are endplates from the S1 superior endplate up to the C2 inferior endplate; an element
# joins two consecutive nodes and is a disc (superior -> inferior endplate) or a body.
_NODES: tuple[tuple[int, str], ...] = (
    (0, "superior"),
    *((v, side) for v in range(1, len(_SPINE) - 1) for side in ("inferior", "superior")),
    (len(_SPINE) - 1, "inferior"),
)
_NODE_LEVEL = np.array([v for v, _ in _NODES])
_NODE_INDEX = {(_SPINE[v], side): i for i, (v, side) in enumerate(_NODES)}
_ELEMENT_HEIGHT = np.array(
    [
        _DISC_HEIGHT[_NODES[i + 1][0]] if side == "superior" else _BODY_HEIGHT[v]
        for i, (v, side) in enumerate(_NODES[:-1])
    ]
)


# One patient's vector of free quantities: pelvis, one angle per disc or body, one listhesis per
# level above S1, canal depth (shared offset, then C2-C7), OPLL occupancy, dens offset, CBVA, size.
_PI, _PT, _HIP_RADIUS = 0, 1, 2
_ANGLES = slice(3, 3 + len(_NODES) - 1)
_LISTHESIS = slice(_ANGLES.stop, _ANGLES.stop + len(_SPINE) - 1)
_CANAL_SHARED = _LISTHESIS.stop
_CANAL_LEVEL = slice(_CANAL_SHARED + 1, _CANAL_SHARED + 1 + len(_CANAL_LEVELS))
_OCCUPANCY, _DENS_OFFSET, _CBVA, _SIZE = range(_CANAL_LEVEL.stop, _CANAL_LEVEL.stop + 4)
_N_FREE = _SIZE + 1


@dataclass(frozen=True)
class _Fixed:
    """Per-patient quantities that are drawn but not adjusted to meet targets."""

    opll_level: np.ndarray
    jaw_offset: np.ndarray
    brow_distance: np.ndarray
    hip_half_offset: np.ndarray


def synthesize_keypoints(
    parameters: pd.DataFrame,
    key: str,
    rng: np.random.Generator,
    noise_px: float,
    *,
    max_rotation_deg: float = 10.0,
    catalogue: LandmarkCatalogue | None = None,
) -> pd.DataFrame:
    """Draw a keypoint export whose measured parameters equal ``parameters`` up to the pixel noise.

    ``parameters`` has the key column and any catalogue parameters as columns (c2c7_angle,
    t1_slope, csva_mm, torg_pavlov_ratio, occupying_ratio, kline_min_distance_mm, k_line, the
    whole-spine ones, ...). A NaN target leaves out the landmarks only that parameter needs, so it
    measures NaN. Whole-spine landmarks are exported only when a whole-spine column is given.
    Parameters that are not given follow from the drawn anatomy; leaving out
    ``kline_min_distance_mm`` lets the K-line follow from lordosis and OPLL size, as it does in
    patients. Targets that contradict each other (a derived value that is not the difference of
    its inputs, or ``ssa`` with ``sva_mm`` far from any plausible spine) raise ``ValueError``
    naming the line (header = line 1) and parameter, never the patient key.
    """
    catalogue = catalogue or LandmarkCatalogue.load()
    if key not in parameters.columns:
        raise ValueError(f"key column {key!r} is not in the parameters table")
    if not noise_px >= 0:
        raise ValueError(f"noise_px must be >= 0, got {noise_px!r}")
    frame = parameters.reset_index(drop=True)
    given = [p for p in catalogue.parameters if p in frame.columns]
    n = len(frame)
    if n == 0:
        return pd.DataFrame(columns=[key, LANDMARK_COLUMN, X_COLUMN, Y_COLUMN, SPACING_COLUMN])

    names = list(catalogue.landmarks)
    modelled = [catalogue.landmarks[name].required for name in names]
    z, scale, fixed = _draw_anatomy(n, rng)
    targets, active = _targets(frame, given, catalogue)
    _choose_kline_targets(frame, given, targets, active, z, fixed, names, modelled, catalogue, rng)
    order = catalogue.evaluation_order()
    z = _solve(z, scale, fixed, targets, active, order, names, modelled, catalogue)

    anatomical = _landmark_points(z, fixed, names, modelled, catalogue)
    emitted = _emitted(frame, given, names, catalogue)
    return _to_image(frame[key].to_numpy(), anatomical, emitted, names, catalogue, rng, noise_px, max_rotation_deg, key)


def _draw_anatomy(n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, _Fixed]:
    """Prior draw of every free quantity, and the prior scale that defines 'smallest change'.

    Sagittal shape is drawn as in adult series, loosely chained: PT and lumbar lordosis rise
    with PI, thoracic kyphosis with lordosis, T1 slope with kyphosis (Legaye et al. 1998;
    Le Huec et al., Eur Spine J 2011;20 Suppl 5:558-63; Knott et al. 2010), then balanced.
    """
    size = np.clip(rng.normal(1.0, 0.06, n), 0.85, 1.15)
    pi = rng.normal(52.0, 10.0, n)
    pt = 0.44 * pi - 7.0 + rng.normal(0.0, 4.0, n)
    ll = 0.54 * pi + 29.0 + rng.normal(0.0, 4.0, n)
    l4s1 = 0.65 * ll + rng.normal(0.0, 3.0, n)
    tk = 0.5 * ll + 14.0 + rng.normal(0.0, 7.0, n)
    ts = 0.4 * tk + 10.0 + rng.normal(0.0, 5.0, n)
    cl = ts - rng.normal(12.0, 6.0, n)
    sacral_angle = -(pi - pt)

    region_totals = [
        (("S1", "superior"), ("L4", "superior"), l4s1, _LOWER_LUMBAR_SHARE),
        (("L4", "superior"), ("L1", "superior"), ll - l4s1, _UPPER_LUMBAR_SHARE),
        (("L1", "superior"), ("T12", "inferior"), np.zeros(n), None),
        (("T12", "inferior"), ("T4", "superior"), -tk, None),
        (("T4", "superior"), ("T1", "superior"), -ts - (sacral_angle + ll - tk), None),
        (("T1", "superior"), ("C7", "inferior"), np.zeros(n), None),
        (("C7", "inferior"), ("C2", "inferior"), cl, None),
    ]
    angles = np.zeros((n, len(_NODES) - 1))
    for start, stop, total, share in region_totals:
        first, last = _NODE_INDEX[start], _NODE_INDEX[stop]
        weights = np.full(last - first, 1.0 / (last - first)) if share is None else np.asarray(share)
        angles[:, first:last] = total[:, None] * weights[None, :]

    z = np.zeros((n, _N_FREE))
    scale = np.zeros(_N_FREE)
    z[:, _SIZE], scale[_SIZE] = size, 0.06
    z[:, _PI], scale[_PI] = pi, 10.0
    z[:, _PT], scale[_PT] = pt, 6.0
    z[:, _HIP_RADIUS], scale[_HIP_RADIUS] = rng.normal(110.0, 8.0, n) * size, 8.0
    z[:, _ANGLES], scale[_ANGLES] = angles + rng.normal(0.0, 0.4, angles.shape), 1.0
    z[:, _LISTHESIS], scale[_LISTHESIS] = rng.normal(0.0, 0.5, (n, len(_SPINE) - 1)), 1.0
    z[:, _CANAL_SHARED], scale[_CANAL_SHARED] = rng.normal(0.0, 1.5, n), 1.5
    z[:, _CANAL_LEVEL], scale[_CANAL_LEVEL] = rng.normal(0.0, 0.7, (n, len(_CANAL_LEVELS))), 0.7
    z[:, _OCCUPANCY], scale[_OCCUPANCY] = np.clip(rng.normal(35.0, 12.0, n), 5.0, 85.0), 12.0
    z[:, _DENS_OFFSET], scale[_DENS_OFFSET] = rng.normal(0.0, 2.0, n), 2.0
    z[:, _CBVA], scale[_CBVA] = rng.normal(3.0, 6.0, n), 6.0
    fixed = _Fixed(
        opll_level=rng.choice(len(_OPLL_LEVELS), size=n, p=_OPLL_LEVEL_P),
        jaw_offset=np.column_stack([rng.uniform(55.0, 70.0, n), rng.uniform(0.0, 15.0, n)]) * size[:, None],
        brow_distance=rng.normal(120.0, 8.0, n) * size,
        hip_half_offset=np.column_stack([rng.uniform(-6.0, 6.0, n), rng.uniform(-4.0, 4.0, n)]),
    )
    _balance(z, fixed, rng.normal(20.0, 20.0, n))
    return z, scale, fixed


def _balance(z: np.ndarray, fixed: _Fixed, offset_mm: np.ndarray) -> None:
    """Bend the thoracic spine (T1 orientation kept) to bring the C7 plumb line most of the way to
    ``offset_mm`` anterior of the S1 posterior corner, as standing balance does.

    Independent draws of lordosis and kyphosis put C7 too far from the sacrum; 60 % of that is
    compensated, so the sagittal vertical axis keeps a realistic spread around the prior offset
    (Noh et al. 2024, Table 4: 22.1 +/- 19.2 mm) while kyphosis stays in its usual range.
    """
    thoracic = slice(_NODE_INDEX[("T12", "inferior")], _NODE_INDEX[("T4", "superior")])
    upper = slice(_NODE_INDEX[("T4", "superior")], _NODE_INDEX[("T1", "superior")])
    ratio = (thoracic.stop - thoracic.start) / (upper.stop - upper.start)

    def bent(bend: np.ndarray) -> np.ndarray:
        state = z.copy()
        state[:, _ANGLES][:, thoracic] += bend[:, None]
        state[:, _ANGLES][:, upper] -= (ratio * bend)[:, None]
        return state

    def offset(bend: np.ndarray) -> np.ndarray:
        anatomy = _Anatomy(bent(bend), fixed)
        return anatomy.site("C7.centre")[:, 0] - anatomy.site("S1.superior_posterior")[:, 0]

    natural = offset(np.zeros(len(z)))
    goal = natural + 0.6 * (offset_mm - natural)
    bend = np.zeros(len(z))
    for _ in range(4):
        error = offset(bend) - goal
        bend = bend - error / _nonzero(offset(bend + 1.0) - goal - error)
    z[:] = bent(bend)


def _nonzero(values: np.ndarray) -> np.ndarray:
    return np.where(np.abs(values) > 1e-9, values, 1e-9)


class _Anatomy:
    """The model's anatomical sites for a batch of patients, computed on demand.

    A site is ``<structure>.<point>`` as in landmarks.yaml: vertebral endplate corners
    (``C7.superior_posterior``), body centre, canal walls and anterior cortex at mid-height,
    ``C2.dens_tip``, ``opll.base|tip|canal_posterior``, ``hip.femoral_head_1|2``, ``head.chin|brow``.
    Points are (patients, 2) in mm, X anterior, Y superior, S1 posterior corner at the origin.
    """

    def __init__(self, z: np.ndarray, fixed: _Fixed) -> None:
        n = len(z)
        self.z, self.fixed = z, fixed
        self.size = z[:, _SIZE]
        theta = np.radians(-(z[:, _PI] - z[:, _PT]))[:, None] + np.concatenate(
            [np.zeros((n, 1)), np.cumsum(np.radians(z[:, _ANGLES]), axis=1)], axis=1
        )
        middle = (theta[:, :-1] + theta[:, 1:]) / 2.0
        steps = (self.size[:, None] * _ELEMENT_HEIGHT)[..., None] * np.stack([-np.sin(middle), np.cos(middle)], axis=-1)
        posterior = np.concatenate([np.zeros((n, 1, 2)), np.cumsum(steps, axis=1)], axis=1)
        shift = np.concatenate([np.zeros((n, 1)), np.cumsum(z[:, _LISTHESIS], axis=1)], axis=1)
        posterior[..., 0] += shift[:, _NODE_LEVEL]
        depth = self.size[:, None] * _DEPTH[_NODE_LEVEL]
        self.theta, self.posterior = theta, posterior
        self.anterior = posterior + depth[..., None] * np.stack([np.cos(theta), np.sin(theta)], axis=-1)
        self._cache: dict[str, np.ndarray] = {}

    def site(self, name: str) -> np.ndarray:
        if name not in self._cache:
            self._cache[name] = self._compute(*name.split(".", 1))
        return self._cache[name]

    def _compute(self, structure: str, point: str) -> np.ndarray:
        size = self.size[:, None]
        if structure == "opll":
            return self._opll(point)
        if structure == "hip":
            sacrum = (self.site("S1.superior_anterior") + self.site("S1.superior_posterior")) / 2.0
            pt = np.radians(self.z[:, _PT])
            hips = sacrum + self.z[:, _HIP_RADIUS][:, None] * np.column_stack([np.sin(pt), -np.cos(pt)])
            side = {"femoral_head_1": 1.0, "femoral_head_2": -1.0}[point]
            return hips + side * self.fixed.hip_half_offset
        if structure == "head":
            chin = self.site("C2.centre") + self.fixed.jaw_offset
            if point == "chin":
                return chin
            cbva = np.radians(self.z[:, _CBVA])
            return chin + self.fixed.brow_distance[:, None] * np.column_stack([np.sin(cbva), np.cos(cbva)])
        if (structure, point) == ("C2", "dens_tip"):
            node = _NODE_INDEX[("C2", "inferior")]
            return (
                self.posterior[:, node]
                + _DENS_FORWARD * (self.anterior[:, node] - self.posterior[:, node])
                + (_DENS_HEIGHT * self.size)[:, None] * _normal(self.theta[:, node])
                + np.column_stack([self.z[:, _DENS_OFFSET], np.zeros(len(self.z))])
            )
        side, _, edge = point.partition("_")
        if side in ("inferior", "superior") and edge in ("anterior", "posterior"):
            return self._corner(structure, side, edge)
        wall = (self.site(f"{structure}.inferior_posterior") + self.site(f"{structure}.superior_posterior")) / 2.0
        forward = _unit(
            self.site(f"{structure}.inferior_anterior")
            - self.site(f"{structure}.inferior_posterior")
            + self.site(f"{structure}.superior_anterior")
            - self.site(f"{structure}.superior_posterior")
        )
        if point == "centre":
            return (
                sum(
                    self.site(f"{structure}.{s}_{e}")
                    for s in ("inferior", "superior")
                    for e in ("anterior", "posterior")
                )
                / 4.0
            )
        if point == "canal_anterior":
            return wall
        if point == "body_anterior":
            return wall + (self.size * _DEPTH[_LEVEL[structure]])[:, None] * forward
        if point == "canal_posterior" and structure in _CANAL:
            k = _CANAL_LEVELS.index(structure)
            depth = size[:, 0] * _CANAL[structure] + self.z[:, _CANAL_SHARED] + self.z[:, _CANAL_LEVEL.start + k]
            return wall - depth[:, None] * forward
        raise KeyError(f"site {structure}.{point} is not modelled by the synthetic anatomy")

    def _corner(self, vertebra: str, side: str, edge: str) -> np.ndarray:
        if (vertebra, side) == ("C2", "superior"):
            node = _NODE_INDEX[("C2", "inferior")]
            rise = (self.size * _BODY_HEIGHT[_LEVEL["C2"]])[:, None] * _normal(self.theta[:, node])
            return self._corner("C2", "inferior", edge) + rise
        node = _NODE_INDEX[(vertebra, side)]
        return (self.anterior if edge == "anterior" else self.posterior)[:, node]

    def _opll(self, point: str) -> np.ndarray:
        level = np.array(_OPLL_LEVELS)[self.fixed.opll_level]
        at_level = [(level == v)[:, None] for v in _OPLL_LEVELS]
        base = np.select(at_level, [self.site(f"{v}.canal_anterior") for v in _OPLL_LEVELS])
        canal_end = np.select(at_level, [self.site(f"{v}.canal_posterior") for v in _OPLL_LEVELS])
        return {
            "base": base,
            "canal_posterior": canal_end,
            "tip": base + (self.z[:, _OCCUPANCY] / 100.0)[:, None] * (canal_end - base),
        }[point]


def _normal(theta: np.ndarray) -> np.ndarray:
    return np.column_stack([-np.sin(theta), np.cos(theta)])


def _unit(vectors: np.ndarray) -> np.ndarray:
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def _landmark_points(
    z: np.ndarray, fixed: _Fixed, names: list[str], modelled: list[bool], catalogue: LandmarkCatalogue
) -> np.ndarray:
    anatomy = _Anatomy(z, fixed)
    points = np.full((len(z), len(names), 2), np.nan)
    for j, name in enumerate(names):
        if modelled[j]:
            points[:, j] = anatomy.site(catalogue.landmarks[name].site)
    return points


def _measure(
    z: np.ndarray, fixed: _Fixed, order: list[str], names: list[str], modelled: list[bool], catalogue: LandmarkCatalogue
) -> np.ndarray:
    values = evaluate_anatomical(_landmark_points(z, fixed, names, modelled, catalogue), names, catalogue)
    return np.column_stack([_numeric(values[p]) for p in order])


def _numeric(values: np.ndarray) -> np.ndarray:
    return values.astype(float) if values.dtype != object else np.full(len(values), np.nan)


def _targets(frame: pd.DataFrame, given: list[str], catalogue: LandmarkCatalogue) -> tuple[np.ndarray, np.ndarray]:
    """Numeric targets in evaluation order, and which of them the solver must meet."""
    order = catalogue.evaluation_order()
    n = len(frame)
    targets = np.full((n, len(order)), np.nan)
    for k, name in enumerate(order):
        if name not in given or catalogue.parameters[name].method == "kline_status":
            continue
        values = pd.to_numeric(frame[name], errors="coerce").to_numpy(dtype=float)
        bad = frame[name].notna().to_numpy() & ~np.isfinite(values)
        if bad.any():
            line = int(np.flatnonzero(bad)[0]) + 2
            raise ValueError(
                f"line {line}, column {name!r}, value {frame[name].iloc[line - 2]!r}: "
                "target must be a finite number or empty"
            )
        targets[:, k] = values
    active = ~np.isnan(targets)
    for k, name in enumerate(order):
        spec = catalogue.parameters[name]
        if spec.method != "difference":
            continue
        minuend, subtrahend = (order.index(spec.inputs[r]) for r in ("minuend", "subtrahend"))
        complete = active[:, k] & active[:, minuend] & active[:, subtrahend]
        mismatch = complete & ~np.isclose(targets[:, k], targets[:, minuend] - targets[:, subtrahend], atol=1e-6)
        if mismatch.any():
            line = int(np.flatnonzero(mismatch)[0]) + 2
            raise ValueError(
                f"line {line}: target {name} is not {spec.inputs['minuend']} minus {spec.inputs['subtrahend']}"
            )
        active[complete, k] = False
    return targets, active


def _choose_kline_targets(
    frame: pd.DataFrame,
    given: list[str],
    targets: np.ndarray,
    active: np.ndarray,
    z: np.ndarray,
    fixed: _Fixed,
    names: list[str],
    modelled: list[bool],
    catalogue: LandmarkCatalogue,
    rng: np.random.Generator,
) -> None:
    """Turn a categorical K-line target into a distance target only where the drawn anatomy disagrees."""
    order = catalogue.evaluation_order()
    for name in given:
        spec = catalogue.parameters[name]
        if spec.method != "kline_status":
            continue
        k = order.index(spec.inputs["distance"])
        stated = frame[name].notna().to_numpy()
        status = frame[name].astype(str).to_numpy()
        unknown = stated & ~np.isin(status, [KLINE_POSITIVE, KLINE_NEGATIVE])
        if unknown.any():
            line = int(np.flatnonzero(unknown)[0]) + 2
            raise ValueError(
                f"line {line}, column {name!r}, value {status[line - 2]!r}: "
                f"must be {KLINE_POSITIVE!r}, {KLINE_NEGATIVE!r} or empty"
            )
        wants_positive = status == KLINE_POSITIVE
        natural = _measure(z, fixed, order, names, modelled, catalogue)[:, k]
        distance = np.where(active[:, k], targets[:, k], natural)
        agrees = np.where(wants_positive, distance > 0, distance <= 0)
        conflict = stated & active[:, k] & ~agrees
        if conflict.any():
            line = int(np.flatnonzero(conflict)[0]) + 2
            raise ValueError(f"line {line}: target {name} contradicts {spec.inputs['distance']}")
        redraw = stated & ~active[:, k] & ~agrees
        margin = rng.uniform(0.5, 3.0, len(z))
        targets[redraw, k] = np.where(wants_positive, margin, -margin)[redraw]
        active[redraw, k] = True


def _solve(
    z: np.ndarray,
    scale: np.ndarray,
    fixed: _Fixed,
    targets: np.ndarray,
    active: np.ndarray,
    order: list[str],
    names: list[str],
    modelled: list[bool],
    catalogue: LandmarkCatalogue,
    tolerance: float = 1e-8,
) -> np.ndarray:
    """The nearest (prior-scaled) model whose measurements meet the targets.

    Levenberg-Marquardt on the minimum-norm form (steps J'(JJ' + mu I)^-1 r, which become the
    minimum-norm Gauss-Newton step as mu shrinks). Patients it does not bring to the targets
    directly start again from the drawn anatomy and walk a straight path from its own values to
    the targets (homotopy), so that large moves stay on a plausible branch.
    """
    angular = np.array([catalogue.parameters[p].unit == "degrees" for p in order])
    everyone = np.arange(len(z))

    def measured(state: np.ndarray, rows: np.ndarray) -> np.ndarray:
        subset = _Fixed(*(getattr(fixed, f)[rows] for f in _Fixed.__dataclass_fields__))
        return _measure(state, subset, order, names, modelled, catalogue)

    def residual(state: np.ndarray, rows: np.ndarray, goal: np.ndarray) -> np.ndarray:
        difference = measured(state, rows) - goal[rows]
        difference[:, angular] = wrap(difference[:, angular])
        return np.where(active[rows], difference, 0.0)

    def jacobian_of(state: np.ndarray, rows: np.ndarray, goal: np.ndarray, base: np.ndarray) -> np.ndarray:
        """Forward differences, every coordinate of every patient moved in one batched evaluation."""
        result = np.empty((rows.size, len(order), len(scale)))
        for chunk in np.array_split(np.arange(rows.size), max(1, rows.size // 64)):
            moved = np.repeat(state[chunk][None], len(scale), axis=0)
            moved[np.arange(len(scale)), :, np.arange(len(scale))] += (scale * 1e-6)[:, None]
            stacked = residual(moved.reshape(-1, len(scale)), np.tile(rows[chunk], len(scale)), goal)
            result[chunk] = (
                (stacked.reshape(len(scale), chunk.size, len(order)) - base[chunk][None]) / 1e-6
            ).transpose(1, 2, 0)
        return result

    def iterate(state: np.ndarray, rows: np.ndarray, goal: np.ndarray, stop: float, iterations: int) -> np.ndarray:
        """Damped minimum-norm steps on ``state[rows]`` (in place); returns the rows' residuals."""
        damping = np.full(len(state), 1e-3)
        r = np.zeros((len(state), len(order)))
        r[rows] = residual(state[rows], rows, goal)
        jacobians = np.zeros((len(state), len(order), len(scale)))
        fresh = np.zeros(len(state), dtype=bool)
        for iteration in range(iterations):
            todo = rows[np.abs(r[rows]).max(axis=1) > stop]
            if todo.size == 0:
                break
            current, r_todo = state[todo], r[todo]
            stale = todo[~fresh[todo]] if iteration % 3 else todo
            jacobians[stale] = jacobian_of(state[stale], stale, goal, r[stale])
            fresh[stale] = True
            jacobian = jacobians[todo]
            gram = jacobian @ jacobian.transpose(0, 2, 1)
            level = np.trace(gram, axis1=1, axis2=2) / len(order)
            norm = np.linalg.norm(r_todo, axis=1)
            pending = np.ones(todo.size, dtype=bool)
            for _ in range(12):
                mu = (damping[todo] * level)[:, None, None] * identity + 1e-14 * identity
                multipliers = np.linalg.solve(gram + mu, r_todo[..., None])[..., 0]
                trial = current - np.einsum("npk,np->nk", jacobian, multipliers) * scale
                r_trial = residual(trial, todo, goal)
                improved = pending & (np.linalg.norm(r_trial, axis=1) < norm)
                state[todo[improved]], r[todo[improved]] = trial[improved], r_trial[improved]
                damping[todo[improved]] /= 3.0
                pending &= ~improved
                damping[todo[pending]] *= 5.0
                if not pending.any():
                    break
            fresh[todo[pending]] = False
        return r[rows]

    identity = np.eye(len(order))
    drawn = z.copy()
    z = z.copy()
    goal = np.where(active, targets, 0.0)
    r = np.zeros((len(z), len(order)))
    r[everyone] = iterate(z, everyone, goal, tolerance, 15)
    hard = np.flatnonzero(np.abs(r).max(axis=1) > tolerance)
    if hard.size:
        z[hard] = drawn[hard]
        start = measured(drawn[hard], hard)
        gap = np.where(active[hard], targets[hard] - start, 0.0)
        gap[:, angular] = wrap(gap[:, angular])
        for fraction, stop, iterations in ((0.25, 1e-3, 10), (0.5, 1e-3, 10), (0.75, 1e-3, 10), (1.0, tolerance, 60)):
            goal[hard] = np.where(active[hard], start + fraction * gap, 0.0)
            r[hard] = iterate(z, hard, goal, stop, iterations)
    failed = np.flatnonzero(np.abs(r).max(axis=1) > tolerance)
    if failed.size:
        i = int(failed[0])
        worst = order[int(np.argmax(np.abs(r[i])))]
        raise ValueError(
            f"{failed.size} patient(s) have targets that no plausible anatomy meets; first at line "
            f"{i + 2} ({worst} is off by {np.abs(r[i]).max():.3g} {catalogue.parameters[worst].unit}); "
            "the targets are probably inconsistent with each other"
        )
    return z


def _emitted(frame: pd.DataFrame, given: list[str], names: list[str], catalogue: LandmarkCatalogue) -> np.ndarray:
    """Which landmarks each patient's export contains (patients x landmarks)."""
    films = {"cervical"} | {catalogue.parameters[p].film for p in given}
    n = len(frame)
    absent = {p: frame[p].isna().to_numpy() if p in given else np.zeros(n, dtype=bool) for p in catalogue.parameters}
    for name in given:
        spec = catalogue.parameters[name]
        for source in spec.inputs.values():
            if source not in given:
                absent[source] = absent[source] | absent[name]
    index = {name: j for j, name in enumerate(names)}
    emitted = np.zeros((n, len(names)), dtype=bool)
    primaries = [p for p, spec in catalogue.parameters.items() if not spec.derived and spec.film in films]
    for p in primaries:
        columns = [index[m] for m in catalogue.direct_landmarks(p) if catalogue.landmarks[m].required]
        emitted[np.ix_(~absent[p], columns)] = True

    def completes_absent(mask: np.ndarray, i: int) -> bool:
        return any(absent[p][i] and all(mask[index[m]] for m in catalogue.required_landmarks(p)) for p in primaries)

    for i in range(n):
        if any(emitted[i, index[a]] and emitted[i, index[b]] for a, b in catalogue.facing_pairs):
            continue
        for pair in catalogue.facing_pairs:
            candidate = emitted[i].copy()
            candidate[[index[pair[0]], index[pair[1]]]] = True
            if all(catalogue.landmarks[m].required for m in pair) and not completes_absent(candidate, i):
                emitted[i] = candidate
                break
    for name in catalogue.vertical_reference:
        emitted[:, index[name]] = True
    return emitted


def _to_image(
    keys: np.ndarray,
    anatomical: np.ndarray,
    emitted: np.ndarray,
    names: list[str],
    catalogue: LandmarkCatalogue,
    rng: np.random.Generator,
    noise_px: float,
    max_rotation_deg: float,
    key: str,
) -> pd.DataFrame:
    """Rotate, mirror, scale to pixels (y downwards), translate and add noise; long export rows."""
    n = len(keys)
    index = {name: j for j, name in enumerate(names)}
    points = anatomical.copy()
    shown = emitted & ~np.isnan(points).any(axis=2)
    x_min = np.nanmin(np.where(shown, points[..., 0], np.nan), axis=1)
    y_min = np.nanmin(np.where(shown, points[..., 1], np.nan), axis=1)
    y_max = np.nanmax(np.where(shown, points[..., 1], np.nan), axis=1)
    superior, inferior = (index[v] for v in catalogue.vertical_reference)
    points[:, superior] = np.column_stack([x_min - 40.0, y_max + 20.0])
    points[:, inferior] = np.column_stack([x_min - 40.0, y_min - 20.0])

    angle = np.radians(rng.uniform(-max_rotation_deg, max_rotation_deg, n))[:, None]
    facing = rng.choice([-1.0, 1.0], size=n)[:, None]
    spacing = np.round(rng.uniform(0.1, 0.2, n), 4)
    x = points[..., 0] * np.cos(angle) - points[..., 1] * np.sin(angle)
    y = points[..., 0] * np.sin(angle) + points[..., 1] * np.cos(angle)
    x_px = facing * x / spacing[:, None]
    y_px = -y / spacing[:, None]
    x_px -= np.nanmin(np.where(emitted, x_px, np.nan), axis=1)[:, None] - rng.uniform(40.0, 400.0, n)[:, None]
    y_px -= np.nanmin(np.where(emitted, y_px, np.nan), axis=1)[:, None] - rng.uniform(40.0, 400.0, n)[:, None]
    if noise_px > 0:
        x_px = x_px + rng.normal(0.0, noise_px, x_px.shape)
        y_px = y_px + rng.normal(0.0, noise_px, y_px.shape)

    patient, landmark = np.nonzero(emitted)
    return pd.DataFrame(
        {
            key: keys[patient],
            LANDMARK_COLUMN: np.asarray(names, dtype=object)[landmark],
            X_COLUMN: x_px[patient, landmark],
            Y_COLUMN: y_px[patient, landmark],
            SPACING_COLUMN: spacing[patient],
        }
    )
