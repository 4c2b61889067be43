"""The landmark catalogue (``data_dictionary/landmarks.yaml``): keypoint names and parameter recipes.

The catalogue is the single source of truth for landmark names, for which parameters each landmark
feeds and for the geometric recipe of every parameter; the measuring code only knows the formulas
by role name (``upper_anterior``, ``femoral_heads``, ...), never a landmark name.
"""

from __future__ import annotations

import inspect
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

import yaml

from spineoutcome.dictionary import builtin_dictionary_dir
from spineoutcome.errors import SpineoutcomeError
from spineoutcome.imaging import geometry

CATALOGUE_FILE = "landmarks.yaml"
DERIVED_METHODS: frozenset[str] = frozenset({"difference", "kline_status"})


class CatalogueError(SpineoutcomeError, ValueError):
    """landmarks.yaml is inconsistent (unknown landmark, method, role or a stale ``used_by``)."""


@dataclass(frozen=True)
class Landmark:
    """One keypoint as a surgeon annotates it."""

    name: str
    site: str
    description: str
    source: str
    required: bool
    used_by: tuple[str, ...]


@dataclass(frozen=True)
class ParameterSpec:
    """One output parameter: its formula and the landmarks (or parameters) it is computed from.

    ``landmarks`` maps a formula role to the landmark names whose mean point plays that role
    (one name for a point, several for a midpoint such as the hip axis).
    """

    name: str
    unit: str
    film: Literal["cervical", "whole_spine"]
    method: str
    landmarks: Mapping[str, tuple[str, ...]]
    inputs: Mapping[str, str]
    definition: str
    sign: str
    source: str

    @property
    def derived(self) -> bool:
        return self.method in DERIVED_METHODS


@dataclass(frozen=True)
class LandmarkCatalogue:
    """Landmarks, parameter recipes and the orientation conventions of a keypoint export."""

    landmarks: Mapping[str, Landmark]
    parameters: Mapping[str, ParameterSpec]
    vertical_reference: tuple[str, str]
    facing_pairs: tuple[tuple[str, str], ...]
    path: Path

    @classmethod
    def load(cls, path: str | Path | None = None) -> LandmarkCatalogue:
        """Read ``landmarks.yaml`` (default: the built-in data dictionary's, read once) and check it."""
        if path is None:
            return _builtin()
        file = Path(path)
        if file.is_dir():
            file = file / CATALOGUE_FILE
        with file.open(encoding="utf-8") as handle:
            doc: dict[str, Any] = yaml.safe_load(handle)
        landmarks = {
            name: Landmark(
                name=name,
                site=str(spec["site"]),
                description=str(spec["description"]),
                source=str(spec.get("source", "")),
                required=bool(spec.get("required", True)),
                used_by=tuple(spec.get("used_by") or ()),
            )
            for name, spec in doc["landmarks"].items()
        }
        parameters = {name: _parse_parameter(name, spec) for name, spec in doc["parameters"].items()}
        frame = doc["frame"]
        vertical = frame["vertical_reference"]
        catalogue = cls(
            landmarks=landmarks,
            parameters=parameters,
            vertical_reference=(vertical["superior"], vertical["inferior"]),
            facing_pairs=tuple((pair[0], pair[1]) for pair in frame["facing_pairs"]),
            path=file,
        )
        catalogue._check()
        return catalogue

    def parameter_names(self, film: Literal["cervical", "whole_spine"] | None = None) -> list[str]:
        """Output columns in catalogue order, optionally only those measurable on one film."""
        return [p.name for p in self.parameters.values() if film is None or p.film == film]

    def direct_landmarks(self, parameter: str) -> tuple[str, ...]:
        """Landmarks named in a parameter's own recipe (empty for a derived parameter)."""
        spec = self.parameters[parameter]
        return tuple(dict.fromkeys(name for names in spec.landmarks.values() for name in names))

    def required_landmarks(self, parameter: str) -> frozenset[str]:
        """Required landmarks whose absence makes ``parameter`` NaN (through derived inputs too)."""
        spec = self.parameters[parameter]
        if spec.derived:
            return frozenset().union(*(self.required_landmarks(p) for p in spec.inputs.values()))
        return frozenset(n for n in self.direct_landmarks(parameter) if self.landmarks[n].required)

    def dependants(self, landmark: str) -> tuple[str, ...]:
        """Parameters (in catalogue order) that are NaN when ``landmark`` is missing."""
        return tuple(p for p in self.parameters if landmark in self.required_landmarks(p))

    def landmark_film(self, landmark: str) -> str | None:
        """The smallest film a landmark is needed on: cervical if any cervical parameter uses it."""
        films = {self.parameters[p].film for p in self.landmarks[landmark].used_by}
        return "cervical" if "cervical" in films else next(iter(films), None)

    def evaluation_order(self) -> list[str]:
        """Parameters ordered so that every derived parameter follows its inputs."""
        ordered: list[str] = []

        def visit(name: str) -> None:
            if name in ordered:
                return
            for source in self.parameters[name].inputs.values():
                visit(source)
            ordered.append(name)

        for name in self.parameters:
            visit(name)
        return ordered

    def _check(self) -> None:
        problems: list[str] = []
        for spec in self.parameters.values():
            for role, names in spec.landmarks.items():
                problems += [
                    f"parameter {spec.name}: role {role} names unknown landmark {n!r}"
                    for n in names
                    if n not in self.landmarks
                ]
            problems += [
                f"parameter {spec.name}: input {p!r} is not a parameter"
                for p in spec.inputs.values()
                if p not in self.parameters
            ]
            problems += _check_roles(spec)
        sites = [landmark.site for landmark in self.landmarks.values()]
        problems += [
            f"site {site!r} is given to more than one landmark"
            for site in sorted({s for s in sites if sites.count(s) > 1})
        ]
        frame_names = [*self.vertical_reference, *(n for pair in self.facing_pairs for n in pair)]
        problems += [f"frame names unknown landmark {n!r}" for n in frame_names if n not in self.landmarks]
        if problems:
            raise CatalogueError(f"{self.path}: " + "; ".join(problems))
        for landmark in self.landmarks.values():
            expected = self.dependants(landmark.name)
            if set(landmark.used_by) != set(expected):
                problems.append(
                    f"landmark {landmark.name}: used_by lists {sorted(landmark.used_by)}, "
                    f"the parameter recipes give {sorted(expected)}"
                )
        if problems:
            raise CatalogueError(f"{self.path}: " + "; ".join(problems))


@lru_cache(maxsize=1)
def _builtin() -> LandmarkCatalogue:
    return LandmarkCatalogue.load(builtin_dictionary_dir() / CATALOGUE_FILE)


def _parse_parameter(name: str, spec: Mapping[str, Any]) -> ParameterSpec:
    roles = {
        role: (value,) if isinstance(value, str) else tuple(value)
        for role, value in (spec.get("landmarks") or {}).items()
    }
    return ParameterSpec(
        name=name,
        unit=str(spec["unit"]),
        film=spec["film"],
        method=str(spec["method"]),
        landmarks=roles,
        inputs=dict(spec.get("from") or {}),
        definition=str(spec.get("definition", "")),
        sign=str(spec.get("sign", "")),
        source=str(spec.get("source", "")),
    )


def _check_roles(spec: ParameterSpec) -> list[str]:
    if spec.derived:
        expected = {"difference": {"minuend", "subtrahend"}, "kline_status": {"distance"}}[spec.method]
        given = set(spec.inputs)
    elif spec.method in geometry.METHODS:
        expected = set(inspect.signature(geometry.METHODS[spec.method].function).parameters)
        given = set(spec.landmarks)
    else:
        return [f"parameter {spec.name}: unknown method {spec.method!r}"]
    if given != expected:
        return [f"parameter {spec.name}: method {spec.method} takes roles {sorted(expected)}, got {sorted(given)}"]
    return []
