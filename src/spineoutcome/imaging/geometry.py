"""Sagittal-plane formulas on points in the anatomical frame.

Every function takes arrays of points of shape ``(n, 2)`` in millimetres, in the frame
X = anterior, Y = superior (the caller has already removed image rotation, facing and pixel
spacing), and returns one value per row. A missing point is NaN and gives NaN. Angles are in
degrees; an endplate's direction is measured on the vector from its posterior to its anterior
point, counter-clockwise from the anterior axis (so an endplate whose anterior end is higher has a
positive direction). Parameter definitions follow Noh et al., Bioengineering 2024;11:481, Table 2.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

Points = NDArray[np.float64]
Values = NDArray[np.float64]


def direction(vectors: Points) -> Values:
    """Angle of each vector, counter-clockwise from the anterior axis, in (-180, 180]."""
    return np.degrees(np.arctan2(vectors[:, 1], vectors[:, 0]))


def wrap(angles: Values) -> Values:
    """Angles folded into [-180, 180)."""
    return (angles + 180.0) % 360.0 - 180.0


def _midpoint(a: Points, b: Points) -> Points:
    return (a + b) / 2.0


def cobb_lordosis(
    upper_anterior: Points, upper_posterior: Points, lower_anterior: Points, lower_posterior: Points
) -> Values:
    """Cobb angle between two endplates, lordosis (anterior opening) positive."""
    return wrap(direction(upper_anterior - upper_posterior) - direction(lower_anterior - lower_posterior))


def cobb_kyphosis(
    upper_anterior: Points, upper_posterior: Points, lower_anterior: Points, lower_posterior: Points
) -> Values:
    """Cobb angle between two endplates, kyphosis (posterior opening) positive."""
    return -cobb_lordosis(upper_anterior, upper_posterior, lower_anterior, lower_posterior)


def slope(anterior: Points, posterior: Points) -> Values:
    """Endplate angle to the horizontal, positive when the anterior end is lower (T1 slope, SS)."""
    return wrap(-direction(anterior - posterior))


def pelvic_tilt(femoral_heads: Points, endplate_anterior: Points, endplate_posterior: Points) -> Values:
    """Angle of the hip-axis-to-S1-midpoint line to the vertical, positive when the hips are anterior.

    Legaye et al., Eur Spine J 1998;7:99-103.
    """
    sacral_midpoint = _midpoint(endplate_anterior, endplate_posterior)
    return wrap(direction(sacral_midpoint - femoral_heads) - 90.0)


def pelvic_incidence(femoral_heads: Points, endplate_anterior: Points, endplate_posterior: Points) -> Values:
    """Angle between the S1 endplate's caudal perpendicular and the line to the hip axis.

    Computed directly (not as PT + SS) so that PI = PT + SS is a check, not a tautology.
    Legaye et al., Eur Spine J 1998;7:99-103.
    """
    endplate = endplate_anterior - endplate_posterior
    caudal_normal = np.column_stack([endplate[:, 1], -endplate[:, 0]])
    to_hips = femoral_heads - _midpoint(endplate_anterior, endplate_posterior)
    return wrap(direction(to_hips) - direction(caudal_normal))


def t1_pelvic_angle(t1: Points, femoral_heads: Points, endplate_anterior: Points, endplate_posterior: Points) -> Values:
    """Angle at the hip axis from the S1-midpoint line forwards to the T1-centre line.

    Protopsaltis et al., J Bone Joint Surg Am 2014;96:1631-40.
    """
    to_sacrum = _midpoint(endplate_anterior, endplate_posterior) - femoral_heads
    return wrap(direction(to_sacrum) - direction(t1 - femoral_heads))


def spino_sacral_angle(c7: Points, endplate_anterior: Points, endplate_posterior: Points) -> Values:
    """Angle between the S1 endplate's anterior half and the line from its midpoint to the C7 centre.

    Roussouly & Pinheiro-Franco, Eur Spine J 2011;20 Suppl 5:578-85.
    """
    to_c7 = c7 - _midpoint(endplate_anterior, endplate_posterior)
    return wrap(direction(to_c7) - direction(endplate_anterior - endplate_posterior))


def tilt_from_vertical(top: Points, bottom: Points) -> Values:
    """Angle of the bottom-to-top line to the vertical, positive when the top point is anterior (CBVA, ODHA)."""
    return wrap(90.0 - direction(top - bottom))


def horizontal_offset(plumb: Points, reference: Points) -> Values:
    """Horizontal distance from a reference point to a plumb line, positive when the plumb line is anterior."""
    return plumb[:, 0] - reference[:, 0]


def canal_body_ratio(body_anterior: Points, body_posterior: Points, canal_posterior: Points) -> Values:
    """Torg-Pavlov ratio: sagittal canal diameter / vertebral body AP width.

    Torg et al., J Bone Joint Surg Am 1986;68:1354-70; Pavlov et al., Radiology 1987;164:771-5.
    """
    canal = np.linalg.norm(canal_posterior - body_posterior, axis=1)
    body = np.linalg.norm(body_posterior - body_anterior, axis=1)
    return _ratio(canal, body)


def occupying_ratio(base: Points, tip: Points, canal_posterior: Points) -> Values:
    """OPLL thickness / canal AP diameter x 100, the thickness measured along the canal's AP line.

    Iwasaki et al., Spine 2007;32:647-53.
    """
    axis = canal_posterior - base
    diameter = np.linalg.norm(axis, axis=1)
    thickness = _ratio(np.einsum("ij,ij->i", tip - base, axis), diameter)
    return 100.0 * _ratio(thickness, diameter)


def kline_distance(c2_canal: Points, c7_canal: Points, tip: Points, other_tip: Points) -> Values:
    """Signed distance from the OPLL to the K-line, positive when the OPLL stays anterior of it.

    The K-line joins the canal midpoints at C2 and C7 (Fujiyoshi et al., Spine 2008;33:E990-3).
    ``other_tip`` is optional: where given, the smaller of the two distances is returned.
    """
    line = c2_canal - c7_canal
    length = np.linalg.norm(line, axis=1)
    anterior_normal = np.column_stack([line[:, 1], -line[:, 0]])

    def distance(point: Points) -> Values:
        return _ratio(np.einsum("ij,ij->i", point - c7_canal, anterior_normal), length)

    main, other = distance(tip), distance(other_tip)
    return np.where(np.isnan(other), main, np.fmin(main, other))


def _ratio(numerator: Values, denominator: Values) -> Values:
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(denominator > 0, numerator / np.where(denominator > 0, denominator, 1.0), np.nan)


@dataclass(frozen=True)
class Method:
    """A formula and what it needs from the image: the true vertical and/or the facing direction."""

    function: Callable[..., Values]
    needs_vertical: bool
    needs_facing: bool


METHODS: dict[str, Method] = {
    "cobb_lordosis": Method(cobb_lordosis, needs_vertical=False, needs_facing=True),
    "cobb_kyphosis": Method(cobb_kyphosis, needs_vertical=False, needs_facing=True),
    "slope": Method(slope, needs_vertical=True, needs_facing=True),
    "pelvic_tilt": Method(pelvic_tilt, needs_vertical=True, needs_facing=True),
    "pelvic_incidence": Method(pelvic_incidence, needs_vertical=False, needs_facing=True),
    "t1_pelvic_angle": Method(t1_pelvic_angle, needs_vertical=False, needs_facing=True),
    "spino_sacral_angle": Method(spino_sacral_angle, needs_vertical=False, needs_facing=True),
    "tilt_from_vertical": Method(tilt_from_vertical, needs_vertical=True, needs_facing=True),
    "horizontal_offset": Method(horizontal_offset, needs_vertical=True, needs_facing=True),
    "canal_body_ratio": Method(canal_body_ratio, needs_vertical=False, needs_facing=False),
    "occupying_ratio": Method(occupying_ratio, needs_vertical=False, needs_facing=False),
    "kline_distance": Method(kline_distance, needs_vertical=False, needs_facing=True),
}
