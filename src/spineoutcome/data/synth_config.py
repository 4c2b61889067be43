"""Read ``data_dictionary/synthetic_cohort.yaml`` into typed parameters and validate it.

Every variable the file names is checked against the data dictionary at load time: a node is a
dictionary variable (or ``<instrument>_<timepoint>`` PROM column), ``true_<dictionary variable>``
(the error-free value behind a noisy export) or a declared latent; every term may only read
nodes defined above it. The loader also checks the timing constraints that make the truth file
exact (visit windows that cannot overlap, a neurological examination that always catches a C5
palsy), so a parameter edit cannot silently break the oracle.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from itertools import pairwise
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from spineoutcome.data.synth_expr import Expr, ExpressionError
from spineoutcome.dictionary import DataDictionary, UnknownVariableError, builtin_dictionary_dir
from spineoutcome.errors import SpineoutcomeError

CONFIG_FILE = "synthetic_cohort.yaml"
TRUE_PREFIX = "true_"
NODE_MODELS = frozenset({"categorical", "logistic", "normal", "lognormal", "ordinal", "expit", "derived", "measured"})
CT_NOISES = frozenset({"ct_thickness"})


class SynthConfigError(SpineoutcomeError, ValueError):
    """The synthetic-cohort parameter file is inconsistent with itself or with the dictionary."""


@dataclass(frozen=True)
class Linear:
    """A linear predictor: intercept + sum(coef * term) + centre offset + centre random intercept."""

    intercept: float = 0.0
    terms: tuple[tuple[Expr, float], ...] = ()
    centre_offsets: Mapping[str, float] | None = None
    centre_sd: float = 0.0

    @classmethod
    def parse(cls, spec: Mapping[str, Any] | None, where: str) -> Linear:
        spec = spec or {}
        try:
            terms = tuple((Expr.parse(k), float(v)) for k, v in (spec.get("terms") or {}).items())
        except ExpressionError as exc:
            raise SynthConfigError(f"{where}: {exc}") from None
        return cls(
            intercept=float(spec.get("intercept", 0.0)),
            terms=terms,
            centre_offsets={str(k): float(v) for k, v in (spec.get("centre_offsets") or {}).items()},
            centre_sd=float(spec.get("centre_sd", 0.0)),
        )

    @property
    def names(self) -> frozenset[str]:
        return frozenset().union(*(e.names for e, _ in self.terms))


@dataclass(frozen=True)
class Node:
    """One generated quantity of the pre-operative patient state."""

    name: str
    model: str
    linear: Linear
    levels: Mapping[str, Linear]
    reference: str | None
    sd: float
    values: tuple[float, ...]
    cutpoints: tuple[float, ...]
    expr: Expr | None
    of: str | None
    noise: str | None
    when: Expr | None
    otherwise: Any
    clip: tuple[float, float] | None
    decimals: int | None
    latent: bool
    truth: bool
    source: str

    @property
    def names(self) -> frozenset[str]:
        used = set(self.linear.names).union(*(lv.names for lv in self.levels.values()))
        for expr in (self.expr, self.when):
            if expr is not None:
                used |= expr.names
        if self.of:
            used.add(self.of)
        return frozenset(used)


@dataclass(frozen=True)
class Centre:
    code: str
    weight: float
    enrolment: tuple[np.datetime64, np.datetime64]
    description: str


@dataclass(frozen=True)
class PromVisit:
    """Timing of one PROM time point: offsets around the nominal day, some outside the window."""

    timepoint: str
    days: tuple[int, int] | None
    sd: float
    max_offset: int
    outlier_rate: float
    outlier_offsets: tuple[tuple[int, int], ...]
    missing_intercept: float

    def offset_range(self) -> tuple[int, int]:
        lows = [-self.max_offset, *(lo for lo, _ in self.outlier_offsets)]
        highs = [self.max_offset, *(hi for _, hi in self.outlier_offsets)]
        return min(lows), max(highs)


@dataclass(frozen=True)
class PromChange:
    mean: Expr
    sd: float
    decimals: int


@dataclass(frozen=True)
class PromSpec:
    visits: Mapping[str, PromVisit]
    window_days: int
    missing: Linear
    instrument_missing: float
    not_collected: Mapping[str, tuple[str, ...]]
    item_level_centres: tuple[str, ...]
    change: Mapping[str, PromChange]
    correlation_between_instruments: float
    correlation_between_timepoints: float
    time_factor: Mapping[str, float]


@dataclass(frozen=True)
class ComplicationType:
    name: str
    linear: Linear
    onset_days: tuple[int, int]
    late_probability: float
    exclusive_with: str | None
    grades: Mapping[str, float]


@dataclass(frozen=True)
class Exam:
    day: int
    jitter: int
    missing: float


@dataclass(frozen=True)
class NeuroSpec:
    schedule: tuple[Exam, ...]
    improvement_probability: float
    palsy_complication: str
    deterioration_complication: str
    palsy_drop_grades: Mapping[int, float]
    palsy_side: Mapping[str, float]
    palsy_biceps_probability: float
    palsy_recovered_at_last_exam: float
    deterioration_mmt_drop_probability: float
    deterioration_recovered_at_last_exam: float


@dataclass(frozen=True)
class CtVisit:
    code: str
    day: int
    sd: float
    max_offset: int
    missing_intercept: float


@dataclass(frozen=True)
class CtSpec:
    when: Expr
    true_thickness: str
    preop_thickness: str
    true_length: str
    grid_mm: float
    thickness_sd_mm: float
    length_sd_mm: float
    truncate_sd: float
    preop_days: tuple[int, int]
    visits: tuple[CtVisit, ...]
    missing: Linear


@dataclass(frozen=True)
class ProgressionSpec:
    progressor: Linear
    thickness_rate_log: Linear
    length_rate_log: Linear


@dataclass(frozen=True)
class RadiomicsSpec:
    """Feature names with their (image type, class) block and transform."""

    features: tuple[str, ...]
    block: tuple[int, ...]
    family: tuple[int, ...]
    loc: tuple[float, ...]
    scale: tuple[float, ...]
    lognormal: tuple[bool, ...]
    block_loading: float
    feature_loading: float
    centre_shift_sd: float
    decimals: int
    signal: Mapping[str, Linear]
    missing: Linear


@dataclass(frozen=True)
class PromRule:
    outcome: str
    instrument: str
    timepoint: str
    window_days: int
    min_improvement: float | None
    min_recovery_rate: float | None


@dataclass(frozen=True)
class Rules:
    """The outcome rules that truth.csv's probabilities refer to (see spineoutcome.data.synth)."""

    c5_window: tuple[int, int]
    c5_min_drop: int
    c5_muscles: tuple[str, ...]
    complication_windows: Mapping[str, tuple[int, int]]
    complication_types: Mapping[str, tuple[str, ...]]
    progression_outcome: str
    progression_target_day: int
    progression_window_days: int
    progression_min_growth_mm: float
    progression_measures: tuple[str, ...]
    proms: tuple[PromRule, ...]

    @property
    def outcomes(self) -> tuple[str, ...]:
        """Outcome names, as in truth.csv's ``p_<outcome>`` columns."""
        return ("c5_palsy", *self.complication_windows, self.progression_outcome, *(r.outcome for r in self.proms))


@dataclass(frozen=True)
class SynthConfig:
    """All parameters of the synthetic cohort, validated against one data dictionary."""

    path: Path
    version: str
    centres: tuple[Centre, ...]
    administrative_cutoff: np.datetime64
    nodes: tuple[Node, ...]
    missingness: Mapping[str, Linear]
    lost: Linear
    lost_days: tuple[int, int]
    proms: PromSpec
    late_days: tuple[int, int]
    grade_missing: float
    complications: tuple[ComplicationType, ...]
    neuro: NeuroSpec
    progression: ProgressionSpec
    ct: CtSpec
    radiomics: RadiomicsSpec
    landmark_parameters: tuple[str, ...]
    landmark_noise_px: float
    rules: Rules
    data_source: str = ""
    """What a report of a model trained on a generated cohort says about its data: a template with
    ``{n}``, ``{seed}`` and ``{centres}`` (:meth:`data_statement`)."""

    @classmethod
    def load(cls, dictionary: DataDictionary, path: str | Path | None = None) -> SynthConfig:
        """Read the parameter file (default: the built-in one) and validate it against ``dictionary``."""
        file = Path(path) if path is not None else builtin_dictionary_dir() / CONFIG_FILE
        with file.open(encoding="utf-8") as fh:
            doc = yaml.safe_load(fh)
        config = _parse(file, doc, dictionary)
        _validate(config, dictionary)
        return config

    def data_statement(self, n: int, seed: int) -> str:
        """The data statement of a cohort of ``n`` patients generated with ``seed`` (one line)."""
        try:
            text = self.data_source.format(n=f"{n:,}", seed=seed, centres=len(self.centres))
        except (KeyError, IndexError, ValueError) as exc:
            raise SynthConfigError(
                f"{self.path}: data_source: only {{n}}, {{seed}} and {{centres}} may be filled in ({exc})"
            ) from None
        return " ".join(text.split())

    @property
    def centre_codes(self) -> tuple[str, ...]:
        return tuple(c.code for c in self.centres)

    def node(self, name: str) -> Node:
        for node in self.nodes:
            if node.name == name:
                return node
        raise SynthConfigError(f"no node {name!r} in {self.path}")


def _pair(value: Iterable[Any], what: str) -> tuple[int, int]:
    lo, hi = (int(v) for v in value)
    if lo > hi:
        raise SynthConfigError(f"{what}: expected [min, max], got {[lo, hi]}")
    return lo, hi


def _parse_node(spec: Mapping[str, Any]) -> Node:
    name = str(spec["name"])
    model = spec.get("model")
    if model not in NODE_MODELS:
        raise SynthConfigError(f"node {name!r}: model must be one of {sorted(NODE_MODELS)}, got {model!r}")
    try:
        expr = Expr.parse(spec["expr"]) if "expr" in spec else None
        when = Expr.parse(spec["when"]) if "when" in spec else None
    except ExpressionError as exc:
        raise SynthConfigError(f"node {name!r}: {exc}") from None
    levels = {str(k): Linear.parse(v, f"node {name!r} level {k!r}") for k, v in (spec.get("levels") or {}).items()}
    clip = spec.get("clip")
    return Node(
        name=name,
        model=model,
        linear=Linear.parse(spec, f"node {name!r}"),
        levels=levels,
        reference=spec.get("reference"),
        sd=float(spec.get("sd", 0.0)),
        values=tuple(float(v) for v in spec.get("values", ())),
        cutpoints=tuple(float(v) for v in spec.get("cutpoints", ())),
        expr=expr,
        of=spec.get("of"),
        noise=spec.get("noise"),
        when=when,
        otherwise=spec.get("otherwise"),
        clip=(float(clip[0]), float(clip[1])) if clip else None,
        decimals=int(spec["decimals"]) if "decimals" in spec else None,
        latent=bool(spec.get("latent", False)),
        truth=bool(spec.get("truth", False)),
        source=str(spec.get("source", "")),
    )


def _parse_proms(doc: Mapping[str, Any]) -> PromSpec:
    visits = {
        str(tp): PromVisit(
            timepoint=str(tp),
            days=_pair(v["days"], f"proms.visits.{tp}.days") if "days" in v else None,
            sd=float(v.get("sd", 0.0)),
            max_offset=int(v.get("max_offset", 0)),
            outlier_rate=float(v.get("outlier_rate", 0.0)),
            outlier_offsets=tuple(_pair(r, f"proms.visits.{tp}.outlier_offsets") for r in v.get("outlier_offsets", ())),
            missing_intercept=float(v["missing_intercept"]),
        )
        for tp, v in doc["visits"].items()
    }
    change = doc["change"]
    return PromSpec(
        visits=visits,
        window_days=int(doc["window_days"]),
        missing=Linear.parse(doc["missing"], "proms.missing"),
        instrument_missing=float(doc.get("instrument_missing", 0.0)),
        not_collected={str(c): tuple(v) for c, v in (doc.get("not_collected") or {}).items()},
        item_level_centres=tuple(doc.get("item_level_centres", ())),
        change={
            str(k): PromChange(Expr.parse(v["mean"]), float(v["sd"]), int(v.get("decimals", 0)))
            for k, v in change["instruments"].items()
        },
        correlation_between_instruments=float(change["correlation_between_instruments"]),
        correlation_between_timepoints=float(change["correlation_between_timepoints"]),
        time_factor={str(k): float(v) for k, v in change["time_factor"].items()},
    )


def _parse_neuro(doc: Mapping[str, Any]) -> NeuroSpec:
    palsy, det = doc["palsy"], doc["deterioration"]
    return NeuroSpec(
        schedule=tuple(
            Exam(int(e["day"]), int(e.get("jitter", 0)), float(e.get("missing", 0.0))) for e in doc["schedule"]
        ),
        improvement_probability=float(doc["improvement_probability"]),
        palsy_complication=str(palsy["complication"]),
        deterioration_complication=str(det["complication"]),
        palsy_drop_grades={int(k): float(v) for k, v in palsy["drop_grades"].items()},
        palsy_side={str(k): float(v) for k, v in palsy["side"].items()},
        palsy_biceps_probability=float(palsy["biceps_probability"]),
        palsy_recovered_at_last_exam=float(palsy["recovered_at_last_exam"]),
        deterioration_mmt_drop_probability=float(det["mmt_drop_probability"]),
        deterioration_recovered_at_last_exam=float(det["recovered_at_last_exam"]),
    )


def _parse_ct(doc: Mapping[str, Any]) -> CtSpec:
    noise, visits = doc["noise"], dict(doc["visits"])
    preop = visits.pop("preop")
    return CtSpec(
        when=Expr.parse(doc["when"]),
        true_thickness=str(doc["true_thickness"]),
        preop_thickness=str(doc["preop_thickness"]),
        true_length=str(doc["true_length"]),
        grid_mm=float(noise["grid_mm"]),
        thickness_sd_mm=float(noise["thickness_sd_mm"]),
        length_sd_mm=float(noise["length_sd_mm"]),
        truncate_sd=float(noise["truncate_sd"]),
        preop_days=_pair(preop["days"], "ct_followup.visits.preop.days"),
        visits=tuple(
            CtVisit(str(k), int(v["day"]), float(v["sd"]), int(v["max_offset"]), float(v["missing_intercept"]))
            for k, v in visits.items()
        ),
        missing=Linear.parse(doc.get("missing"), "ct_followup.missing"),
    )


def _parse_radiomics(doc: Mapping[str, Any]) -> RadiomicsSpec:
    features: list[str] = []
    block: list[int] = []
    family: list[int] = []
    loc: list[float] = []
    scale: list[float] = []
    lognormal: list[bool] = []
    families: dict[tuple[str, str], int] = {}
    blocks: dict[tuple[str, str], int] = {}
    for image_type in doc["image_types"]:
        for cls, spec in doc["classes"].items():
            if image_type not in spec.get("image_types", doc["image_types"]):
                continue
            for entry in spec["features"]:
                feature, own = next(iter(entry.items())) if isinstance(entry, dict) else (entry, {})
                settings = {**spec, **own}
                features.append(f"{image_type}_{cls}_{feature}")
                block.append(blocks.setdefault((image_type, cls), len(blocks)))
                family.append(families.setdefault((cls, feature), len(families)))
                loc.append(float(settings["loc"]))
                scale.append(float(settings["scale"]))
                lognormal.append(bool(settings["lognormal"]))
    return RadiomicsSpec(
        features=tuple(features),
        block=tuple(block),
        family=tuple(family),
        loc=tuple(loc),
        scale=tuple(scale),
        lognormal=tuple(lognormal),
        block_loading=float(doc["block_loading"]),
        feature_loading=float(doc["feature_loading"]),
        centre_shift_sd=float(doc["centre_shift_sd"]),
        decimals=int(doc["decimals"]),
        signal={str(k): Linear.parse({"terms": v}, f"radiomics.signal.{k}") for k, v in doc["signal"].items()},
        missing=Linear.parse(doc["missing"], "radiomics.missing"),
    )


def _parse_rules(doc: Mapping[str, Any]) -> Rules:
    c5 = doc["c5_palsy"]
    complication_windows: dict[str, tuple[int, int]] = {}
    complication_types: dict[str, tuple[str, ...]] = {}
    progression: tuple[str, Mapping[str, Any]] | None = None
    proms: list[PromRule] = []
    for outcome, spec in doc.items():
        if outcome == "c5_palsy":
            continue
        if "types" in spec:
            complication_windows[outcome] = _pair(spec["window_days"], f"rules.{outcome}.window_days")
            types = spec["types"]
            complication_types[outcome] = () if types == "all" else tuple(types)
        elif "target_day" in spec:
            progression = (outcome, spec)
        elif "instrument" in spec:
            proms.append(
                PromRule(
                    outcome=outcome,
                    instrument=str(spec["instrument"]),
                    timepoint=str(spec["timepoint"]),
                    window_days=int(spec["window_days"]),
                    min_improvement=float(spec["min_improvement"]) if "min_improvement" in spec else None,
                    min_recovery_rate=float(spec["min_recovery_rate"]) if "min_recovery_rate" in spec else None,
                )
            )
        else:
            raise SynthConfigError(f"rules.{outcome}: unknown kind of rule")
    if progression is None:
        raise SynthConfigError("rules: a progression rule (with target_day) is required")
    name, prog = progression
    return Rules(
        c5_window=_pair(c5["exam_window_days"], "rules.c5_palsy.exam_window_days"),
        c5_min_drop=int(c5["min_drop_grades"]),
        c5_muscles=tuple(c5["muscles"]),
        complication_windows=complication_windows,
        complication_types=complication_types,
        progression_outcome=name,
        progression_target_day=int(prog["target_day"]),
        progression_window_days=int(prog["window_days"]),
        progression_min_growth_mm=float(prog["min_growth_mm"]),
        progression_measures=tuple(prog["measures"]),
        proms=tuple(proms),
    )


def _parse(path: Path, doc: Mapping[str, Any], dictionary: DataDictionary) -> SynthConfig:
    try:
        centres = tuple(
            Centre(
                code=str(code),
                weight=float(spec["weight"]),
                enrolment=(np.datetime64(spec["enrolment"][0], "D"), np.datetime64(spec["enrolment"][1], "D")),
                description=str(spec.get("description", "")),
            )
            for code, spec in doc["centres"].items()
        )
        comp = doc["complications"]
        complication_types = tuple(
            ComplicationType(
                name=str(name),
                linear=Linear.parse(spec, f"complications.{name}"),
                onset_days=_pair(spec["onset_days"], f"complications.{name}.onset_days"),
                late_probability=float(spec.get("late_probability", 0.0)),
                exclusive_with=spec.get("exclusive_with"),
                grades={str(k): float(v) for k, v in spec["grades"].items()},
            )
            for name, spec in comp["types"].items()
        )
        prog = doc["progression"]
        return SynthConfig(
            path=path,
            version=str(doc.get("version", "")),
            data_source=str(doc.get("data_source") or ""),
            centres=centres,
            administrative_cutoff=np.datetime64(doc["administrative_cutoff"], "D"),
            nodes=tuple(_parse_node(n) for n in doc["nodes"]),
            missingness={str(k): Linear.parse(v, f"missingness.{k}") for k, v in doc["missingness"].items()},
            lost=Linear.parse(doc["follow_up"]["lost"], "follow_up.lost"),
            lost_days=_pair(doc["follow_up"]["lost_days"], "follow_up.lost_days"),
            proms=_parse_proms(doc["proms"]),
            late_days=_pair(comp["late_days"], "complications.late_days"),
            grade_missing=float(comp.get("grade_missing", 0.0)),
            complications=complication_types,
            neuro=_parse_neuro(doc["neuro_exam"]),
            progression=ProgressionSpec(
                progressor=Linear.parse(prog["progressor"], "progression.progressor"),
                thickness_rate_log=Linear.parse(prog["thickness_rate_log"], "progression.thickness_rate_log"),
                length_rate_log=Linear.parse(prog["length_rate_log"], "progression.length_rate_log"),
            ),
            ct=_parse_ct(doc["ct_followup"]),
            radiomics=_parse_radiomics(doc["radiomics"]),
            landmark_parameters=tuple(doc["landmarks"]["parameters"]),
            landmark_noise_px=float(doc["landmarks"]["noise_px"]),
            rules=_parse_rules(doc["rules"]),
        )
    except (KeyError, TypeError, ExpressionError) as exc:
        raise SynthConfigError(f"{path}: malformed parameter file ({type(exc).__name__}: {exc})") from None


# ---------------------------------------------------------------------------------------------
# Validation
# ---------------------------------------------------------------------------------------------


def _check(condition: bool, message: str) -> None:
    if not condition:
        raise SynthConfigError(message)


def _dictionary_variable(dictionary: DataDictionary, name: str) -> Any:
    try:
        return dictionary.variable(name)
    except UnknownVariableError:
        return None


def _validate(config: SynthConfig, dictionary: DataDictionary) -> None:
    codes = set(config.centre_codes)
    _check(len(codes) == len(config.centres) and len(codes) >= 2, "centres: need at least two distinct centres")
    _check(
        all(c.weight > 0 and c.enrolment[0] <= c.enrolment[1] for c in config.centres),
        "centres: bad weight or enrolment",
    )
    _validate_nodes(config, dictionary, codes)
    nodes = {n.name for n in config.nodes} | {dictionary.column("centre")}
    linears: dict[str, Linear] = {
        **{f"missingness.{k}": v for k, v in config.missingness.items()},
        "follow_up.lost": config.lost,
        "proms.missing": config.proms.missing,
        "ct_followup.missing": config.ct.missing,
        "progression.progressor": config.progression.progressor,
        "progression.thickness_rate_log": config.progression.thickness_rate_log,
        "progression.length_rate_log": config.progression.length_rate_log,
        "radiomics.missing": config.radiomics.missing,
        **{f"complications.{c.name}": c.linear for c in config.complications},
        **{f"radiomics.signal.{k}": v for k, v in config.radiomics.signal.items()},
    }
    for where, linear in linears.items():
        _check_names(linear.names, nodes, where)
        _check(set(linear.centre_offsets or {}) <= codes, f"{where}: centre_offsets name unknown centres")
    imaging = dictionary.table("imaging")
    for name in config.landmark_parameters:
        _check(
            name in imaging.names and name in nodes,
            f"landmarks.parameters: {name!r} is not a generated imaging variable",
        )
    for name in config.missingness:
        _check(
            name in nodes and _dictionary_variable(dictionary, name) is not None,
            f"missingness.{name}: not a generated dictionary variable",
        )
    _validate_proms(config, dictionary, nodes, codes)
    _validate_events(config, dictionary)
    _validate_ct(config, dictionary, nodes)
    _validate_radiomics(config, dictionary)


def _check_names(names: Iterable[str], known: set[str], where: str) -> None:
    unknown = sorted(set(names) - known)
    _check(not unknown, f"{where}: {unknown} are neither dictionary variables nor generated above")


def _validate_nodes(config: SynthConfig, dictionary: DataDictionary, codes: set[str]) -> None:
    defined = {dictionary.column("centre")}
    for node in config.nodes:
        where = f"node {node.name!r}"
        _check(node.name not in defined, f"{where}: defined twice")
        _check_names(node.names, defined, where)
        variable = _dictionary_variable(dictionary, node.name)
        if node.latent:
            _check(
                variable is None and not node.name.startswith(TRUE_PREFIX),
                f"{where}: a latent must not shadow a dictionary name",
            )
        elif node.name.startswith(TRUE_PREFIX):
            _check(
                _dictionary_variable(dictionary, node.name[len(TRUE_PREFIX) :]) is not None,
                f"{where}: {node.name[len(TRUE_PREFIX) :]!r} is not in the data dictionary",
            )
        else:
            _check(variable is not None, f"{where}: not in the data dictionary (declare `latent: true` if intended)")
        for linear in (node.linear, *node.levels.values()):
            _check(set(linear.centre_offsets or {}) <= codes, f"{where}: centre_offsets name unknown centres")
        if node.model == "categorical":
            categories = _categories(dictionary, node.name)
            _check(
                node.reference in categories and set(node.levels) <= set(categories) - {node.reference},
                f"{where}: levels/reference must be dictionary categories {categories}",
            )
        if node.model == "ordinal":
            _check(
                len(node.cutpoints) == len(node.values) - 1 and list(node.cutpoints) == sorted(node.cutpoints),
                f"{where}: ordinal needs len(values) - 1 increasing cutpoints",
            )
        if node.model == "measured":
            _check(node.noise is None or node.noise in CT_NOISES, f"{where}: noise must be one of {sorted(CT_NOISES)}")
        defined.add(node.name)


def _categories(dictionary: DataDictionary, name: str) -> tuple[str, ...]:
    variable = _dictionary_variable(dictionary, name.removeprefix(TRUE_PREFIX))
    if variable is None or not variable.categories:
        raise SynthConfigError(f"node {name!r}: categorical nodes must be dictionary category variables")
    return variable.categories


def _validate_proms(config: SynthConfig, dictionary: DataDictionary, nodes: set[str], codes: set[str]) -> None:
    proms = config.proms
    timepoints = dictionary.timepoints
    _check(set(proms.visits) == set(timepoints), f"proms.visits must cover the time points {sorted(timepoints)}")
    _check(set(proms.change) == set(dictionary.instruments), "proms.change must cover every instrument")
    _check(set(proms.item_level_centres) <= codes and set(proms.not_collected) <= codes, "proms: unknown centre")
    for instruments in proms.not_collected.values():
        _check(set(instruments) <= set(dictionary.instruments), "proms.not_collected: unknown instrument")
    for code, change in proms.change.items():
        _check_names(change.mean.names, nodes, f"proms.change.{code}")
    for code in dictionary.instruments:
        for tp in timepoints.values():
            if tp.preoperative:
                _check(f"{code}_{tp.code}" in nodes, f"proms: baseline node {code}_{tp.code} is missing")
    window = proms.window_days
    followups = [v for v in proms.visits.values() if v.days is None]
    for visit in proms.visits.values():
        nominal = timepoints[visit.timepoint].day
        lo, hi = visit.days if visit.days is not None else visit.offset_range()
        span = (lo, hi) if visit.days is not None else (nominal + lo, nominal + hi)
        if visit.days is None:
            _check(visit.max_offset <= window, f"proms.visits.{visit.timepoint}: max_offset exceeds window_days")
            _check(
                all(min(abs(a), abs(b)) > window for a, b in visit.outlier_offsets),
                f"proms.visits.{visit.timepoint}: outlier offsets must lie outside the window",
            )
        for other in followups:
            if other is visit:
                continue
            centre = timepoints[other.timepoint].day
            _check(
                span[1] < centre - window or span[0] > centre + window,
                f"proms.visits.{visit.timepoint} can fall in the window of {other.timepoint}",
            )
    _check(sum(tp.preoperative for tp in timepoints.values()) == 1, "proms: exactly one pre-operative time point")
    _check(
        0 <= proms.correlation_between_instruments <= proms.correlation_between_timepoints <= 1,
        "proms.change: need 0 <= correlation_between_instruments <= correlation_between_timepoints <= 1",
    )
    for inst in dictionary.instruments.values():
        if inst.items and inst.item_scoring == "sum":
            lows, highs = zip(*inst.items.values(), strict=True)
            _check(
                (sum(lows), sum(highs)) == inst.range, f"instrument {inst.code}: item ranges must add up to its range"
            )
    for rule in config.rules.proms:
        _check(
            rule.instrument in dictionary.instruments and rule.timepoint in timepoints,
            f"rules.{rule.outcome}: unknown instrument or time point",
        )
        _check(
            proms.change[rule.instrument].decimals == 0, f"rules.{rule.outcome}: the instrument must be integer-scored"
        )
        _check(rule.window_days == window, f"rules.{rule.outcome}: window_days must equal proms.window_days")
        _check(
            (rule.min_improvement is None) != (rule.min_recovery_rate is None),
            f"rules.{rule.outcome}: give exactly one of min_improvement, min_recovery_rate",
        )


def _validate_events(config: SynthConfig, dictionary: DataDictionary) -> None:
    comp_table = dictionary.table("complications")
    types = comp_table[comp_table.column("complication_type")].categories or ()
    grades = comp_table[comp_table.column("grade")].categories or ()
    names = [c.name for c in config.complications]
    neuro = config.neuro
    _check(
        set(names) <= set(types) and {neuro.palsy_complication, neuro.deterioration_complication} <= set(names),
        f"complications: types must be dictionary categories {types}, including those of neuro_exam",
    )
    rules = config.rules
    for comp in config.complications:
        _check(
            set(comp.grades) <= set(grades) and abs(sum(comp.grades.values()) - 1) < 1e-9,
            f"complications.{comp.name}: grades must be dictionary grades summing to 1",
        )
        partners = [c.exclusive_with for c in config.complications if c.exclusive_with]
        _check(
            comp.exclusive_with is None
            or (
                comp.exclusive_with in names[: names.index(comp.name)]
                and partners.count(comp.exclusive_with) == 1
                and comp.exclusive_with not in [c.name for c in config.complications if c.exclusive_with]
            ),
            f"complications.{comp.name}: exclusive_with must name one earlier type that is not itself exclusive",
        )
        for outcome, window in rules.complication_windows.items():
            _check(
                window[0] <= comp.onset_days[0] and comp.onset_days[1] <= window[1] < config.late_days[0],
                f"complications.{comp.name}: onset days must lie inside rules.{outcome} and late days after it",
            )
    for outcome, selected in rules.complication_types.items():
        _check(set(selected) <= set(names), f"rules.{outcome}: unknown complication types")
    palsy = next(c for c in config.complications if c.name == neuro.palsy_complication)
    _check(
        palsy.late_probability == 0
        and palsy.onset_days[1] <= rules.c5_window[1]
        and palsy.onset_days[0] >= rules.c5_window[0],
        f"complications.{palsy.name}: every palsy must start inside rules.c5_palsy.exam_window_days",
    )
    neuro_table = dictionary.table("neuro_exam")
    for muscle in rules.c5_muscles:
        neuro_table.column(muscle)
        for side in neuro_table[neuro_table.column("side")].categories or ():
            dictionary.column(f"{muscle}_pre_{side}")
    schedule = config.neuro.schedule
    spans = sorted((e.day - e.jitter, e.day + e.jitter) for e in schedule)
    _check(
        all(a[1] < b[0] for a, b in pairwise(spans)) and spans[0][0] >= 0,
        "neuro_exam.schedule: examination day ranges must be disjoint and after surgery",
    )
    _check(
        any(
            e.missing == 0
            and e.day - e.jitter >= palsy.onset_days[1]
            and e.day + e.jitter <= rules.c5_window[1]
            and e.day + e.jitter < config.lost_days[0]
            for e in schedule
        ),
        "neuro_exam.schedule: one always-recorded examination must follow every palsy onset inside the rule window",
    )
    _check(
        sum(config.neuro.palsy_side.values()) > 0 and set(config.neuro.palsy_side) <= {"left", "right", "both"},
        "neuro_exam.palsy.side: use left/right/both",
    )


def _validate_ct(config: SynthConfig, dictionary: DataDictionary, nodes: set[str]) -> None:
    ct = config.ct
    _check_names(ct.when.names | {ct.true_thickness, ct.preop_thickness, ct.true_length}, nodes, "ct_followup")
    ct_table = dictionary.table("ct_followup")
    for measure in config.rules.progression_measures:
        ct_table.column(measure)
    rules = config.rules
    lo = rules.progression_target_day - rules.progression_window_days
    hi = rules.progression_target_day + rules.progression_window_days
    spans = sorted((v.day - v.max_offset, v.day + v.max_offset, v) for v in config.ct.visits)
    _check(
        config.ct.preop_days[1] <= 0 and all(a[1] < b[0] for a, b in pairwise(spans)) and spans[0][0] > 0,
        "ct_followup.visits: visit day ranges must be disjoint and after the pre-operative CT",
    )
    targets = [v for v in config.ct.visits if v.day == rules.progression_target_day]
    _check(
        len(targets) == 1,
        f"ct_followup.visits: exactly one visit must be scheduled on day {rules.progression_target_day}",
    )
    for a, b, visit in spans:
        if visit is not targets[0]:
            _check(b < lo or a > hi, f"ct_followup.visits.{visit.code}: can fall in the progression window")


def _validate_radiomics(config: SynthConfig, dictionary: DataDictionary) -> None:
    table = dictionary.table("radiomics")
    for name in config.radiomics.features:
        _check(table.match(name) is not None, f"radiomics: {name!r} does not match the dictionary's radiomics pattern")
    _check(len(set(config.radiomics.features)) == len(config.radiomics.features), "radiomics: duplicate feature names")
    _check(set(config.radiomics.signal) <= set(config.radiomics.features), "radiomics.signal: unknown feature")
    _check(
        config.radiomics.block_loading + config.radiomics.feature_loading <= 1,
        "radiomics: loadings must add up to <= 1",
    )
