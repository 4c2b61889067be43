"""Pipeline configuration: one YAML file per prediction task, validated before anything runs.

A pipeline names its outcome definition, eligibility, predictors (dictionary names or groups),
model families, tuning budget, validation scheme, decision thresholds and subgroups. Every name is
checked against the data dictionary and the outcome registry, and a misspelt one is reported with
its closest match.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from spineoutcome.comparators import ComparatorExpressionError, check_syntax, compile_expression
from spineoutcome.credentials import mask_secrets
from spineoutcome.dictionary import (
    DataDictionary,
    DictionaryError,
    PredictorError,
    UnknownVariableError,
    unknown_name_message,
)
from spineoutcome.errors import SpineoutcomeError
from spineoutcome.modeling.families import get_family
from spineoutcome.outcomes.definitions import KIND_ROLES, KIND_TABLE_ROLES, inline_definition, resolve_definition

AGE_GROUP = "age_group"
"""Derived subgroup: the patient-table variable with role ``age`` cut at ``subgroups.age_bands``."""


__all__ = ["mask_secrets"]  # re-exported: the one masking function lives in spineoutcome.credentials


class ConfigError(SpineoutcomeError, ValueError):
    """A pipeline file is invalid; the message names the file, the field and the rule."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class PredictorSpec(_Strict):
    groups: list[str] = Field(
        default_factory=list, description="Predictor groups: clinical, prom, landmark, radiomics."
    )
    include: list[str] = Field(default_factory=list, description="Single dictionary variables to add.")
    exclude: list[str] = Field(default_factory=list, description="Variables to leave out.")


class TuningSpec(_Strict):
    n_trials: int = Field(20, ge=0, le=10_000, description="Optuna trials per family and outer fold.")
    inner_folds: int = Field(3, ge=2, le=10)
    penalty_repeats: int = Field(
        1,
        ge=1,
        le=20,
        description="Repeated inner partitions on which a penalised regression (elastic net) tunes its "
        "penalty, scores averaged (inner_cv.RepeatedInnerFolds): the penalty sets the calibration slope, and "
        "one partition of a small sample chooses it noisily. Other families tune on one partition.",
    )
    metric: Literal["neg_log_loss", "roc_auc", "neg_brier_score"] = "neg_log_loss"
    storage: str | None = Field(None, description="Optuna storage URL (SQLite file, PostgreSQL); None = in memory.")
    timeout_s: float | None = Field(None, gt=0)


class BootstrapSpec(_Strict):
    replicates: int = Field(200, ge=2, le=5000)
    mode: Literal["full", "fixed_hyperparameters"] = Field(
        "fixed_hyperparameters",
        description="full: every replicate re-runs tuning (Harrell's procedure in full); fixed_hyperparameters: "
        "tuning once on all data, every replicate refits preprocessing and model with those hyperparameters "
        "(cheaper; does not count tuning optimism).",
    )


class ValidationSpec(_Strict):
    folds: int = Field(5, ge=2, le=20)
    repeats: int = Field(1, ge=1, le=50)
    bootstrap: BootstrapSpec | None = Field(default_factory=BootstrapSpec)
    internal_external: bool = Field(True, description="Internal-external cross-validation by centre.")
    min_centre_events: int = Field(5, ge=1, description="Centres with fewer events are pooled out of IECV test folds.")
    temporal_split: str | None = Field(None, description="ISO date: develop before, validate from this surgery date.")


class SubgroupSpec(_Strict):
    variables: list[str] = Field(default_factory=list)
    age_bands: list[float] = Field(default_factory=lambda: [65.0, 75.0], description="Cut points for age groups.")
    min_events: int = Field(10, ge=1, description="Below this, a subgroup result is 'too few events to estimate'.")


class ComparatorSpec(_Strict):
    """A rule or score clinicians use today, evaluated next to the models (:mod:`spineoutcome.comparators`)."""

    name: str = Field(min_length=1, description="How the report names it, e.g. 'K-line (-)'.")
    rule: str | None = Field(None, description="True/false expression over dictionary variables (flags a patient).")
    score: str | None = Field(None, description="Numeric expression over dictionary variables; higher = higher risk.")
    source: str = Field(min_length=1, description="Citation: authors, journal, year, volume:pages (or DOI).")
    description: str = ""

    @model_validator(mode="after")
    def _one_expression(self) -> ComparatorSpec:
        if (self.rule is None) == (self.score is None):
            raise ValueError(f"comparator {self.name!r}: give exactly one of rule or score")
        try:
            check_syntax(self.expression)
        except ComparatorExpressionError as exc:
            raise ValueError(f"comparator {self.name!r}: {exc}") from None
        return self

    @property
    def kind(self) -> Literal["rule", "score"]:
        """``rule`` or ``score``."""
        return "rule" if self.rule is not None else "score"

    @property
    def expression(self) -> str:
        """The rule's or the score's expression."""
        return self.rule if self.rule is not None else str(self.score)


class SampleSizeSpec(_Strict):
    anticipated_c_statistic: float = Field(
        0.75, gt=0.5, lt=1.0, description="C-statistic expected of the model, for Riley's minimum sample size."
    )
    source: str | None = Field(None, description="Where the anticipated C-statistic comes from (report).")


class PipelineConfig(_Strict):
    """One experiment: an outcome, predictors, model families and how they are validated."""

    name: str
    description: str = ""
    outcome: str | dict[str, Any] = Field(
        description="A named definition (the dictionary's outcomes.yaml) or an inline one: {column: NAME, positive: "
        "VALUE or [VALUES]} (the outcome is recorded in a column), or {time: COLUMN, event: COLUMN, event_value: "
        "VALUE, horizon: NUMBER} (right-censored time to event, labelled at the horizon)."
    )
    population: str | None = Field(None, description="Who the model is for (report, model card).")
    setting: str | None = Field(None, description="Where and when it is used (report, model card).")
    intended_use: str | None = Field(None, description="The decision it supports (report, model card).")
    data_source: str | None = Field(None, description="Where the data come from (report, model card).")
    treatment: str | None = Field(
        None, description="What acting on a risk above a threshold means, the decision curves' 'treat' (report)."
    )
    eligibility: dict[str, list[str] | list[float]] = Field(
        default_factory=dict, description="Variable -> allowed categories, or [min, max] for numbers."
    )
    predictors: PredictorSpec
    families: list[str] = Field(
        default_factory=lambda: ["logistic", "xgboost", "lightgbm"],
        description="Binary model families (modeling.families.REGISTRY).",
    )
    survival_families: list[str] = Field(
        default_factory=list, description="Time-to-event model families (modeling.families.REGISTRY)."
    )
    horizon_days: int | None = Field(None, gt=0)
    imputation: Literal["simple", "iterative"] = "simple"
    radiomics_selection: Literal["none", "lasso", "rad_score"] = Field(
        "lasso", description="Radiomics feature selection inside each training fold (see modeling.preprocess)."
    )
    spline_knots: int | None = Field(4, ge=3, le=7)
    spline_budget: Literal["harrell", "riley", "fixed"] = Field(
        "harrell",
        description="harrell: spline_knots is the most a continuous predictor of the reference "
        "regression may get; fewer knots, or linear terms, when the design would exceed m / 15 parameters "
        "(modeling.budget). riley: the same with Riley's criteria (expected shrinkage >= 0.9, Nagelkerke "
        "optimism <= 0.05) instead of m / 15. fixed: always spline_knots.",
    )
    care_choices: list[str] = Field(
        default_factory=list,
        description="Subgroup variables that are decisions of care (e.g. the planned approach): the report gives "
        "the discrimination within each of their levels and says that the model cannot tell which choice lowers risk.",
    )
    class_weight: Literal["balanced"] | None = None
    boosting_calibration: Literal["logistic", "none"] = Field(
        "logistic",
        description="Families marked recalibrated in modeling.families.REGISTRY (boosted trees): "
        "logistic recalibration on the tuned model's inner "
        "out-of-fold risks (modeling.tuning.TunedClassifier), part of every fit and so validated with it.",
    )
    tuning: TuningSpec = Field(default_factory=TuningSpec)
    validation: ValidationSpec = Field(default_factory=ValidationSpec)
    thresholds: list[float] = Field(default_factory=lambda: [0.1, 0.2])
    subgroups: SubgroupSpec = Field(default_factory=SubgroupSpec)
    comparators: list[ComparatorSpec] = Field(
        default_factory=list,
        description="Rules or scores clinicians use today, evaluated on the same patients and folds as the models "
        "(spineoutcome.comparators): [{name, rule: EXPRESSION or score: EXPRESSION, source, description}].",
    )
    sample_size: SampleSizeSpec = Field(default_factory=SampleSizeSpec)
    seed: int = 2026

    @field_validator("thresholds")
    @classmethod
    def _thresholds_in_unit_interval(cls, value: list[float]) -> list[float]:
        if any(not 0 < t < 1 for t in value):
            raise ValueError("decision thresholds must lie strictly between 0 and 1")
        return sorted(value)

    @field_validator("families")
    @classmethod
    def _binary_families(cls, value: list[str]) -> list[str]:
        for name in value:
            get_family(name, "binary")
        return value

    @field_validator("survival_families")
    @classmethod
    def _survival_families(cls, value: list[str]) -> list[str]:
        for name in value:
            get_family(name, "time_to_event")
        return value

    @model_validator(mode="after")
    def _families_present(self) -> PipelineConfig:
        if not self.families and not self.survival_families:
            raise ValueError("name at least one model family")
        names = [c.name for c in self.comparators]
        if len(set(names)) < len(names):
            raise ValueError("comparators: every comparator needs its own name")
        if missing := [c for c in self.care_choices if c not in self.subgroups.variables]:
            raise ValueError(f"care_choices {missing} must also be subgroups.variables (their levels are compared)")
        return self

    @property
    def outcome_name(self) -> str:
        """Name of the outcome: the named definition, or an inline one's ``name`` (default: the pipeline's)."""
        return self.outcome if isinstance(self.outcome, str) else str(self.outcome.get("name", self.name))

    @property
    def outcome_spec(self) -> str | dict[str, Any]:
        """What :func:`~spineoutcome.outcomes.derive_outcome` takes: the name, or the full inline definition."""
        return self.outcome if isinstance(self.outcome, str) else inline_definition(self.outcome, self.outcome_name)

    def flat(self) -> dict[str, Any]:
        """The configuration flattened to dotted keys (for MLflow params)."""
        out: dict[str, Any] = {}

        def walk(prefix: str, value: Any) -> None:
            if isinstance(value, dict):
                for k, v in value.items():
                    walk(f"{prefix}.{k}" if prefix else str(k), v)
            else:
                out[prefix] = ",".join(map(str, value)) if isinstance(value, list) else value

        walk("", self.model_dump())
        return out


def load_pipeline(
    path: str | Path, dictionary: DataDictionary | None = None, outcomes: list[str] | None = None
) -> PipelineConfig:
    """Read and validate a pipeline YAML against the schema, the dictionary and its outcome definitions.

    Every problem the pipeline implies (unknown or undecided predictors, an outcome that cannot be
    made from the dictionary, a role an analysis needs) is reported at once, in one :class:`ConfigError`.
    ``outcomes`` is accepted for compatibility: the outcome is resolved in the dictionary's own
    ``outcomes.yaml`` (the built-in one when the dictionary has none).
    """
    path = Path(path)
    try:
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"{path}: cannot be read as YAML ({exc})") from None
    try:
        config = PipelineConfig.model_validate(doc)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or '<top>'}: {e['msg']}" for e in exc.errors())
        raise ConfigError(f"{path}: {problems}") from None
    check_names(config, dictionary or DataDictionary.load(), outcomes, source=str(path))
    return config


def check_names(
    config: PipelineConfig, dictionary: DataDictionary, outcomes: list[str] | None = None, source: str = "pipeline"
) -> None:
    """Pre-flight check: raise one :class:`ConfigError` listing every problem of :func:`pipeline_problems`."""
    problems = pipeline_problems(config, dictionary)
    if problems:
        listed = "\n".join(f"  - {p}" for p in problems)
        raise ConfigError(f"{source}: {len(problems)} problem(s) before the first fit:\n{listed}")


def pipeline_problems(config: PipelineConfig, dictionary: DataDictionary) -> list[str]:
    """Everything a pipeline implies that the dictionary cannot give, each as ``field: problem (rule)``.

    Predictors (unknown, post-operative, bookkeeping, timing undecided), eligibility and subgroup
    variables, the outcome definition and the columns and roles its rule reads, and the roles the
    validation scheme needs (``surgery_date`` for a temporal split, ``age`` for age groups).
    """
    problems: list[str] = []
    spec = config.predictors
    undecided = [n for n in spec.include if _timing_undecided(dictionary, n)]
    undecided += [
        v.name
        for g in spec.groups
        for v in (*dictionary.wide_variables, *dictionary.patterns)
        if v.group == g and v.preoperative is None
    ]
    if undecided:
        problems.append(
            f"predictors: timing undecided for {', '.join(dict.fromkeys(undecided))} (rule: set "
            f"preoperative: true or false in {dictionary.directory / 'variables.yaml'}; only variables "
            "known before the prediction is made can be predictors)"
        )
    problems += [
        f"predictors.groups: {unknown_name_message(g, dictionary.groups, 'the predictor groups')}"
        for g in spec.groups
        if g not in dictionary.groups
    ]
    for name in spec.include:
        if name not in undecided:
            _collect(problems, "predictors.include", lambda n=name: dictionary.resolve_predictors([], [n], []))
    for name in spec.exclude:
        _collect(problems, "predictors.exclude", lambda n=name: dictionary.variable(n))
    for name in config.eligibility:
        _collect(problems, "eligibility", lambda n=name: dictionary.variable(n))
    for name in config.subgroups.variables:
        if name == AGE_GROUP:
            if not dictionary.has_role("age"):
                problems.append(f"subgroups.variables: {AGE_GROUP} needs a patient-table column with role 'age'")
        else:
            _collect(problems, "subgroups.variables", lambda n=name: dictionary.variable(n))
    try:
        definition = resolve_definition(config.outcome_spec, dictionary)
    except (UnknownVariableError, DictionaryError, ValueError) as exc:
        problems.append(f"outcome: {exc}")
    else:
        problems += [
            f"outcome: a {definition['kind']} outcome needs a patient-table column with role {role!r}"
            for role in KIND_ROLES[definition["kind"]]
            if not dictionary.has_role(role)
        ]
        problems += [
            f"outcome: a {definition['kind']} outcome needs a follow-up table with a column of role {role!r}"
            for role in KIND_TABLE_ROLES.get(definition["kind"], ())
            if dictionary.table_with_role(role) is None
        ]
    if config.validation.temporal_split and not dictionary.has_role("surgery_date"):
        problems.append("validation.temporal_split: needs a patient-table column with role 'surgery_date'")
    return problems + comparator_problems(config, dictionary)


def comparator_problems(config: PipelineConfig, dictionary: DataDictionary) -> list[str]:
    """Each comparator whose expression does not fit the dictionary, naming the comparator and the token."""
    if config.comparators and not config.families:
        return ["comparators: rules are compared with binary-outcome models; this pipeline names no binary family"]
    problems = []
    for spec in config.comparators:
        try:
            compile_expression(spec.expression, dictionary, spec.kind)
        except ComparatorExpressionError as exc:
            problems.append(f"comparators: {spec.name!r} ({spec.kind}): {exc}")
    return problems


def pipeline_warnings(config: PipelineConfig, dictionary: DataDictionary) -> list[str]:
    """What the pipeline asked for that the data's structure cannot give; skipped, with this reason."""
    if config.validation.internal_external and not dictionary.has_role("centre"):
        return [f"{SINGLE_CENTRE}: internal-external validation by centre is skipped"]
    return []


SINGLE_CENTRE = "single-centre study (no column with role 'centre')"


def _timing_undecided(dictionary: DataDictionary, name: str) -> bool:
    try:
        return dictionary.variable(name).preoperative is None
    except UnknownVariableError:
        return False


def _collect(problems: list[str], field: str, check: Any) -> None:
    try:
        check()
    except (UnknownVariableError, PredictorError, ValueError) as exc:
        problems.append(f"{field}: {exc}")
