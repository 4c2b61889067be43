"""The data dictionary: the single source of truth for every column the package reads.

Validation schemas, the predictor leakage guard (only pre-operative variables can be predictors),
the synthetic generator, the report's predictor table and the scoring input contract are derived
from it. A hospital can supply its own dictionary directory with the same layout; nothing in the
package assumes the built-in one. Code refers to structural columns by *role* (``key``,
``centre``, ``day``, ...) and never by a literal column name.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from functools import cached_property
from importlib import resources
from pathlib import Path
from typing import Any, Literal

import yaml

from spineoutcome.errors import SpineoutcomeError

DType = Literal["float", "int", "category", "bool", "date", "string"]
_DTYPES: frozenset[str] = frozenset({"float", "int", "category", "bool", "date", "string"})
PROM_GROUP = "prom"
RADIOMICS_GROUP = "radiomics"
LINE_KEY = "line_number"
"""The key of a one-table dictionary without a ``key`` column: the row's line number in the export."""
UNDECIDED = "undecided"
"""``preoperative: undecided``: the timing of a variable drafted by ``dictionary init`` that nobody has
decided yet; such a variable can be neither a predictor nor silently left out of one."""
STUDY_FIELDS = ("population", "setting", "intended_use", "prediction_time", "data_source")
"""Study metadata a dictionary may give (``study:`` in variables.yaml; a pipeline may override the
first three): the report and model card describe the study from these, never from wording in code.
``prediction_time``: when the prediction is made (e.g. "before surgery"); ``data_source``: the
exports the data come from."""


class DictionaryError(SpineoutcomeError, ValueError):
    """The dictionary files themselves are inconsistent."""


class UnknownVariableError(SpineoutcomeError, KeyError):
    """A name is not in the dictionary; the message names the closest matches."""

    def __str__(self) -> str:
        return str(self.args[0])


class PredictorError(SpineoutcomeError, ValueError):
    """A variable was offered as a predictor but can never be one (leakage guard)."""


@dataclass(frozen=True)
class Variable:
    """One column (or, with ``regex``, a family of columns) of an export."""

    name: str
    table: str
    dtype: DType
    description: str = ""
    label: str | None = None
    unit: str | None = None
    range: tuple[float, float] | None = None
    categories: tuple[str, ...] | None = None
    ordered: bool = False
    preoperative: bool | None = False
    predictor: bool = False
    group: str | None = None
    role: str | None = None
    required: bool = True
    nullable: bool = True
    source: str | None = None
    regex: str | None = None
    derived: bool = False
    missing_codes: tuple[str, ...] = ("",)
    identifying: bool = False

    @cached_property
    def pattern(self) -> re.Pattern[str] | None:
        return re.compile(self.regex) if self.regex else None

    def matches(self, column: str) -> bool:
        """True when ``column`` is this variable (by name, or by pattern for a family)."""
        return bool(self.pattern.match(column)) if self.pattern else column == self.name


@dataclass(frozen=True)
class Table:
    """One export (clinical, proms, imaging, radiomics, ...), as the dictionary describes it."""

    name: str
    description: str
    layout: Literal["wide", "long"]
    unique_key: bool
    variables: tuple[Variable, ...]
    patterns: tuple[Variable, ...] = ()
    unique_together: tuple[str, ...] = ()

    def __getitem__(self, name: str) -> Variable:
        for var in self.variables:
            if var.name == name:
                return var
        raise UnknownVariableError(unknown_name_message(name, [v.name for v in self.variables], f"table {self.name!r}"))

    @property
    def names(self) -> list[str]:
        return [v.name for v in self.variables]

    @property
    def required(self) -> list[str]:
        return [v.name for v in self.variables if v.required]

    def column(self, role: str) -> str:
        """Column name that plays ``role`` in this table (e.g. ``key``, ``day``)."""
        for var in self.variables:
            if var.role == role:
                return var.name
        raise DictionaryError(f"table {self.name!r} has no column with role {role!r}")

    def has_role(self, role: str) -> bool:
        return any(v.role == role for v in self.variables)

    def match(self, column: str) -> Variable | None:
        """The variable or pattern family that describes ``column``, if any."""
        for var in self.variables:
            if var.name == column:
                return var
        for pat in self.patterns:
            if pat.matches(column):
                return pat
        return None


@dataclass(frozen=True)
class Instrument:
    """A scored outcome instrument (JOA, mJOA, NDI, pain NRS, EQ-5D)."""

    code: str
    label: str
    range: tuple[float, float]
    higher_is_better: bool
    unit: str
    items: Mapping[str, tuple[float, float]] = field(default_factory=dict)
    item_scoring: Literal["sum", "value_set"] = "sum"
    source: str = ""

    @property
    def maximum(self) -> float:
        return self.range[1]


@dataclass(frozen=True)
class Timepoint:
    code: str
    day: int
    preoperative: bool


@dataclass(frozen=True)
class DataDictionary:
    """A loaded data dictionary: tables of variables, instruments and time points.

    Load the built-in one with ``DataDictionary.load()`` or a hospital's own with
    ``DataDictionary.load("path/to/dictionary_dir")``.
    """

    name: str
    version: str
    tables: Mapping[str, Table]
    instruments: Mapping[str, Instrument]
    timepoints: Mapping[str, Timepoint]
    missing_codes: tuple[str, ...]
    true_values: tuple[str, ...]
    false_values: tuple[str, ...]
    date_format: str
    directory: Path
    study: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def load(cls, path: str | Path | None = None) -> DataDictionary:
        """Read ``variables.yaml`` and ``instruments.yaml`` from a directory (default: built-in)."""
        directory = Path(path) if path is not None else builtin_dictionary_dir()
        if directory.is_file():
            directory = directory.parent
        variables_file = directory / "variables.yaml"
        if not variables_file.exists():
            raise DictionaryError(f"no variables.yaml in dictionary directory {directory}")
        doc = _read_yaml(variables_file)
        instruments_file = directory / "instruments.yaml"
        instruments_doc = _read_yaml(instruments_file) if instruments_file.exists() else {}
        instruments = {
            code: Instrument(
                code=code,
                label=spec.get("label", code),
                range=_pair(spec["range"], f"instrument {code} range"),
                higher_is_better=bool(spec["higher_is_better"]),
                unit=spec.get("unit", ""),
                items={k: _pair(v, f"instrument {code} item {k}") for k, v in (spec.get("items") or {}).items()},
                item_scoring=spec.get("item_scoring", "sum"),
                source=spec.get("source", ""),
            )
            for code, spec in (instruments_doc.get("instruments") or {}).items()
        }
        timepoints = {
            code: Timepoint(code=code, day=int(spec["day"]), preoperative=bool(spec["preoperative"]))
            for code, spec in (instruments_doc.get("timepoints") or {}).items()
        }
        lists = {"instruments": tuple(instruments), "timepoints": tuple(timepoints)}
        defaults = doc.get("defaults") or {}
        rules = ValueRules(
            missing_codes=tuple(str(c) for c in defaults.get("missing_codes", ["", "NA"])),
            true_values=tuple(str(c) for c in defaults.get("true_values", ["1", "true", "yes"])),
            false_values=tuple(str(c) for c in defaults.get("false_values", ["0", "false", "no"])),
            date_format=str(defaults.get("date_format", "%Y-%m-%d")),
        )
        try:
            tables = {
                tname: _parse_table(tname, tspec, lists, rules) for tname, tspec in (doc.get("tables") or {}).items()
            }
        except (DictionaryError, UnknownVariableError) as exc:
            raise DictionaryError(f"{variables_file}: {exc}") from None
        if not tables:
            raise DictionaryError(f"{variables_file}: no tables (rule: 'tables:' maps table names to their variables)")
        tables = _with_line_key(tables, variables_file)
        study = doc.get("study") or {}
        unknown_study = sorted(set(study) - set(STUDY_FIELDS))
        if not isinstance(study, Mapping) or unknown_study:
            raise DictionaryError(
                f"{variables_file}: study: unknown field(s) {unknown_study}; allowed: {list(STUDY_FIELDS)}"
            )
        dictionary = cls(
            name=str(doc.get("name", directory.name)),
            version=str(doc.get("version", "unversioned")),
            tables=tables,
            instruments=instruments,
            timepoints=timepoints,
            missing_codes=rules.missing_codes,
            true_values=rules.true_values,
            false_values=rules.false_values,
            date_format=rules.date_format,
            directory=directory,
            study={str(k): " ".join(str(v).split()) for k, v in study.items() if v is not None},
        )
        dictionary._check()
        return dictionary

    def _check(self) -> None:
        without = [t.name for t in self.tables.values() if not t.has_role("key")]
        if without:
            raise DictionaryError(
                f"{self.directory / 'variables.yaml'}: table(s) {without} have no column with role "
                "'key' (rule: with several tables, every table names the patient key that joins "
                "them; a one-table dictionary may omit it and the line number is the key)"
            )
        keys = {t.column("key") for t in self.tables.values()}
        if len(keys) != 1:
            raise DictionaryError(
                f"every table must share one patient key column with role 'key'; found {sorted(keys)}"
            )
        if self.patient_table.layout != "wide" or not self.patient_table.unique_key:
            raise DictionaryError(f"the patient table {self.patient_table.name!r} must be wide with a unique key")

    @property
    def line_number_key(self) -> bool:
        """True when the data have no key column and each row's line number in the export is its key."""
        return self.key == LINE_KEY and self.patient_table[LINE_KEY].derived

    def has_role(self, role: str) -> bool:
        """Whether the patient table has a column with ``role`` (``centre``, ``surgery_date``, ``age``...)."""
        return self.patient_table.has_role(role)

    @property
    def undecided(self) -> list[str]:
        """Variables whose timing (``preoperative:``) is still ``undecided``."""
        return [v.name for t in self.tables.values() for v in (*t.variables, *t.patterns) if v.preoperative is None]

    @property
    def key(self) -> str:
        """Name of the patient key column (role ``key``)."""
        return next(iter(self.tables.values())).column("key")

    @property
    def patient_table(self) -> Table:
        """The one-row-per-patient table that defines the cohort: the one with role ``centre``, else the
        only wide table (a single-centre study need not have a centre column)."""
        for table in self.tables.values():
            if table.has_role("centre"):
                return table
        wide = [t for t in self.tables.values() if t.layout == "wide"]
        if len(wide) == 1:
            return wide[0]
        raise DictionaryError(
            f"{self.directory / 'variables.yaml'}: no table has a column with role 'centre' and "
            f"there are {len(wide)} wide tables (rule: the patient table is the one with role "
            "'centre', or the only wide table)"
        )

    def column(self, role: str) -> str:
        """Column with ``role`` in the patient table (``centre``, ``surgery_date``, ``approach``...)."""
        return self.patient_table.column(role)

    def table_with_role(self, role: str) -> str | None:
        """Name of the first table that has a column with ``role`` (e.g. ``instrument``: the PROM table)."""
        return next((t.name for t in self.tables.values() if t.has_role(role)), None)

    def table(self, name: str) -> Table:
        try:
            return self.tables[name]
        except KeyError:
            message = unknown_name_message(name, list(self.tables), "the dictionary's tables")
            raise UnknownVariableError(message) from None

    @property
    def _prom_value_codes(self) -> tuple[str, ...]:
        """The missing codes of the PROM table's ``value`` column (role value), for the wide PROM columns."""
        for table in self.tables.values():
            if table.has_role("instrument") and table.has_role("value"):
                return table[table.column("value")].missing_codes
        return self.missing_codes

    @cached_property
    def prom_variables(self) -> tuple[Variable, ...]:
        """Wide PROM columns ``<instrument>_<timepoint>`` that the cohort builds from the long table
        (the table with the ``instrument`` role; none without one)."""
        table = self.table_with_role("instrument")
        if table is None:
            return ()
        return tuple(
            Variable(
                name=prom_column(inst.code, tp.code),
                table=table,
                dtype="float",
                description=f"{inst.label} at {tp.code}",
                label=f"{inst.label}, {tp.code}",
                unit=inst.unit,
                range=inst.range,
                preoperative=tp.preoperative,
                predictor=tp.preoperative,
                group=PROM_GROUP,
                source=inst.source,
                derived=True,
                missing_codes=usable_missing_codes(self._prom_value_codes, "float", inst.range, None),
            )
            for inst in self.instruments.values()
            for tp in self.timepoints.values()
        )

    @cached_property
    def wide_variables(self) -> tuple[Variable, ...]:
        """Every named column of the assembled one-row-per-patient cohort (patterns excluded)."""
        seen: dict[str, Variable] = {}
        for table in self.tables.values():
            if table.layout == "wide":
                for var in table.variables:
                    seen.setdefault(var.name, var)
        for var in self.prom_variables:
            seen.setdefault(var.name, var)
        return tuple(seen.values())

    @property
    def patterns(self) -> tuple[Variable, ...]:
        return tuple(p for t in self.tables.values() if t.layout == "wide" for p in t.patterns)

    def variable(self, name: str) -> Variable:
        """The variable called ``name`` in any table, a derived PROM column, or a pattern family member."""
        for var in self.wide_variables:
            if var.name == name:
                return var
        for table in self.tables.values():
            for var in table.variables:
                if var.name == name:
                    return var
        for pat in self.patterns:
            if pat.matches(name):
                return pat
        names = [v.name for v in self.wide_variables] + [v.name for t in self.tables.values() for v in t.variables]
        raise UnknownVariableError(unknown_name_message(name, names, "the data dictionary"))

    @property
    def groups(self) -> list[str]:
        groups = {v.group for v in self.wide_variables if v.group} | {p.group for p in self.patterns if p.group}
        return sorted(groups)

    def resolve_predictors(
        self,
        groups: Iterable[str] = (),
        include: Iterable[str] = (),
        exclude: Iterable[str] = (),
        available: Sequence[str] | None = None,
    ) -> list[str]:
        """Predictor columns for a pipeline, with the leakage guard applied.

        ``groups`` name predictor groups (clinical, prom, landmark, radiomics); ``include`` adds
        single variables; ``exclude`` removes. Pattern families (radiomics) are expanded against
        ``available`` columns. Any variable that is not known before surgery, or is bookkeeping
        (key, centre, dates), raises :class:`PredictorError` naming the variable and the rule.
        """
        known_groups = self.groups
        undecided = [n for n in include if self.variable(n).preoperative is None]
        undecided += [
            v.name
            for g in groups
            for v in (*self.wide_variables, *self.patterns)
            if v.group == g and v.preoperative is None
        ]
        if undecided:
            raise PredictorError(
                f"the timing of {len(undecided)} predictor(s) is undecided: {', '.join(dict.fromkeys(undecided))} "
                f"(rule: set preoperative: true or false for each in {self.directory / 'variables.yaml'}; only "
                "variables known before the prediction is made can be predictors)"
            )
        selected: list[str] = []
        for group in groups:
            if group not in known_groups:
                raise UnknownVariableError(unknown_name_message(group, known_groups, "the predictor groups"))
            selected += [v.name for v in self.wide_variables if v.group == group and v.predictor]
            for pat in self.patterns:
                if pat.group == group and available is not None:
                    selected += [c for c in available if pat.matches(c)]
        for name in include:
            var = self.variable(name)
            if not var.preoperative:
                raise PredictorError(
                    f"{name!r} (table {var.table!r}) is recorded after surgery and can never be a predictor "
                    "(rule: only variables marked preoperative: true in the data dictionary; leakage guard)"
                )
            if not var.predictor:
                raise PredictorError(
                    f"{name!r} (table {var.table!r}, role {var.role!r}) is a bookkeeping column, not a predictor "
                    "(rule: predictor: false in the data dictionary)"
                )
            selected.append(name)
        excluded = set(exclude)
        for name in excluded:
            self.variable(name)
        return list(dict.fromkeys(c for c in selected if c not in excluded))


def prom_column(instrument: str, timepoint: str) -> str:
    """Wide cohort column of one instrument at one time point (e.g. ``ndi_12m``)."""
    return f"{instrument}_{timepoint}"


def builtin_dictionary_dir() -> Path:
    """Directory of the built-in dictionary: bundled in the wheel, or the source tree's copy."""
    return _bundled("data_dictionary")


def builtin_pipelines_dir() -> Path:
    """Directory of the shipped pipeline configurations."""
    return _bundled("pipelines")


def _bundled(name: str) -> Path:
    wheel_copy = Path(str(resources.files("spineoutcome"))) / "_bundled" / name
    if wheel_copy.is_dir():
        return wheel_copy
    source_copy = Path(__file__).resolve().parents[2] / name
    if source_copy.is_dir():
        return source_copy
    raise DictionaryError(f"built-in {name} not found (looked in {wheel_copy} and {source_copy})")


def _read_yaml(path: Path) -> dict[str, Any]:
    try:
        with path.open(encoding="utf-8") as fh:
            doc = yaml.safe_load(fh)
    except yaml.YAMLError as exc:
        raise DictionaryError(f"{path}: not valid YAML ({' '.join(str(exc).split())})") from None
    if not isinstance(doc, dict):
        raise DictionaryError(f"{path}: expected a mapping at the top level")
    return doc


def _pair(value: Sequence[float], what: str) -> tuple[float, float]:
    if len(value) != 2 or value[0] > value[1]:
        raise DictionaryError(f"{what}: expected [min, max], got {value!r}")
    return float(value[0]), float(value[1])


_VARIABLE_KEYS = frozenset(
    {
        "name",
        "label",
        "dtype",
        "unit",
        "range",
        "categories",
        "categories_from",
        "ordered",
        "description",
        "preoperative",
        "predictor",
        "group",
        "role",
        "required",
        "nullable",
        "source",
        "regex",
        "missing_codes",
        "identifying",
    }
)


@dataclass(frozen=True)
class ValueRules:
    """The dictionary's ``defaults``: text codes that mean missing for every variable, yes/no spellings, date format."""

    missing_codes: tuple[str, ...]
    true_values: tuple[str, ...]
    false_values: tuple[str, ...]
    date_format: str


def is_valid_value(
    text: str,
    dtype: str,
    value_range: Sequence[float] | None,
    categories: Sequence[str] | None,
    true_values: Sequence[str] = (),
    false_values: Sequence[str] = (),
    date_format: str = "",
) -> bool:
    """True when ``text`` is a valid value of a variable (a number in its range, one of its categories, ...).

    A missing code that is a valid value would erase real data (a follow-up of 999 days), so such a
    code never means missing for that variable. Free-text (``string``) values and numbers of a
    variable without a declared range (the long PROM ``value``, checked per instrument) are not
    judged here.
    """
    text = text.strip()
    if not text:
        return False
    if dtype in ("float", "int"):
        if value_range is None:
            return False  # no declared range: only the checks of the table (an instrument's range) can judge
        try:
            number = float(text)
        except ValueError:
            return False
        if number != number or number in (float("inf"), float("-inf")) or (dtype == "int" and not number.is_integer()):
            return False
        return value_range[0] <= number <= value_range[1]
    if dtype == "category":
        return text.lower() in {c.lower() for c in categories or ()}
    if dtype == "bool":
        return text.lower() in {v.lower() for v in (*true_values, *false_values)}
    if dtype == "date":
        import datetime as dt

        try:
            dt.datetime.strptime(text, date_format)
        except ValueError:
            return False
        return True
    return False


def usable_missing_codes(
    codes: Sequence[str],
    dtype: str,
    value_range: Sequence[float] | None,
    categories: Sequence[str] | None,
    true_values: Sequence[str] = (),
    false_values: Sequence[str] = (),
    date_format: str = "",
) -> tuple[str, ...]:
    """``codes`` without those that are valid values of the variable (see :func:`is_valid_value`); '' always."""
    kept = [
        c
        for c in codes
        if not is_valid_value(c, dtype, value_range, categories, true_values, false_values, date_format)
    ]
    return tuple(dict.fromkeys(["", *kept]))


def _parse_variable(
    table: str, spec: Mapping[str, Any], lists: Mapping[str, tuple[str, ...]], rules: ValueRules
) -> Variable:
    name = spec.get("name")
    unknown = sorted(str(k) for k in set(spec) - _VARIABLE_KEYS)
    if unknown:
        raise DictionaryError(
            f"{table}.{name}: unknown field(s) {unknown}; a description with a comma inside {{...}} must be quoted"
        )
    dtype = spec.get("dtype")
    if not name or dtype not in _DTYPES:
        raise DictionaryError(
            f"table {table!r}: variable {name!r} needs a name and a dtype in {sorted(_DTYPES)}; got dtype {dtype!r}"
        )
    categories = spec.get("categories")
    if "categories_from" in spec:
        categories = lists.get(spec["categories_from"])
        if not categories:
            raise DictionaryError(f"{table}.{name}: categories_from {spec['categories_from']!r} is empty")
    if dtype == "category" and not categories:
        raise DictionaryError(f"{table}.{name}: a category variable needs categories")
    timing = spec.get("preoperative", False)
    if timing != UNDECIDED and not isinstance(timing, bool):
        raise DictionaryError(f"{table}.{name}: preoperative must be true, false or {UNDECIDED!r}; got {timing!r}")
    preoperative = None if timing == UNDECIDED else timing
    value_range = _pair(spec["range"], f"{table}.{name} range") if "range" in spec else None
    own = tuple(str(c) for c in spec.get("missing_codes") or ())
    valid = [
        c
        for c in own
        if is_valid_value(c, dtype, value_range, categories, rules.true_values, rules.false_values, rules.date_format)
    ]
    if valid:
        raise DictionaryError(
            f"{table}.{name}: missing code(s) {valid} are valid values of the variable; a "
            "missing code must never erase a real value"
        )
    missing_codes = usable_missing_codes(
        (*rules.missing_codes, *own),
        dtype,
        value_range,
        categories,
        rules.true_values,
        rules.false_values,
        rules.date_format,
    )
    return Variable(
        name=str(name),
        table=table,
        dtype=dtype,
        description=str(spec.get("description", "")),
        label=spec.get("label"),
        unit=spec.get("unit"),
        range=value_range,
        categories=tuple(str(c) for c in categories) if categories else None,
        ordered=bool(spec.get("ordered", False)),
        preoperative=preoperative,
        predictor=bool(spec.get("predictor", bool(preoperative))),
        group=spec.get("group"),
        role=spec.get("role"),
        required=bool(spec.get("required", True)),
        nullable=bool(spec.get("nullable", True)),
        source=spec.get("source"),
        regex=spec.get("regex"),
        missing_codes=missing_codes,
        identifying=bool(spec.get("identifying", spec.get("role") == "key")),
    )


def _parse_table(name: str, spec: Mapping[str, Any], lists: Mapping[str, tuple[str, ...]], rules: ValueRules) -> Table:
    layout = spec.get("layout")
    if layout not in ("wide", "long"):
        raise DictionaryError(f"table {name!r}: layout must be 'wide' or 'long'")
    variables = tuple(_parse_variable(name, v, lists, rules) for v in spec.get("variables") or [])
    patterns = tuple(_parse_variable(name, v, lists, rules) for v in spec.get("patterns") or [])
    if any(p.regex is None for p in patterns):
        raise DictionaryError(f"table {name!r}: every pattern needs a regex")
    table = Table(
        name=name,
        description=str(spec.get("description", "")).strip(),
        layout=layout,
        unique_key=bool(spec.get("unique_key", layout == "wide")),
        variables=variables,
        patterns=patterns,
        unique_together=tuple(spec.get("unique_together") or ()),
    )
    for col in table.unique_together:
        table[col]
    return table


def _with_line_key(tables: dict[str, Table], source: Path) -> dict[str, Table]:
    """A one-table dictionary without a ``key`` column gets the derived :data:`LINE_KEY` as its key."""
    if len(tables) != 1 or any(t.has_role("key") for t in tables.values()):
        return tables
    ((name, table),) = tables.items()
    if LINE_KEY in table.names:
        raise DictionaryError(
            f"{source}: table {name!r} has a column {LINE_KEY!r} but no role 'key' "
            f"(rule: {LINE_KEY!r} is reserved for the line-number key; rename it or give it "
            "role: key)"
        )
    line = Variable(
        name=LINE_KEY,
        table=name,
        dtype="int",
        role="key",
        required=False,
        nullable=False,
        derived=True,
        description="line number of the row in the export (the data have no key column)",
    )
    return {name: replace(table, variables=(line, *table.variables))}


def unknown_name_message(name: str, candidates: Sequence[str], where: str) -> str:
    close = difflib.get_close_matches(name, list(dict.fromkeys(candidates)), n=3, cutoff=0.6)
    hint = f"; did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
    return f"{name!r} is not in {where}{hint}"
