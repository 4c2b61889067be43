"""Clinical rules and scores written over dictionary variables, parsed safely and evaluated per patient.

A pipeline's ``comparators:`` name the rules surgeons use today (``k_line == 'negative'``,
``occupying_ratio >= 60``, ``age > 65 and planned_levels >= 4``) or a single score
(``occupying_ratio``), so that the models can be judged against them on the same patients.

The expression language is a small, closed subset of Python's expression syntax, read with
:func:`ast.parse` and interpreted node by node here; nothing is ever passed to ``eval`` or
``exec``. Allowed: variable names of the data dictionary (pre-operative, predictor-eligible),
numbers, quoted category labels, ``True``/``False``; ``+ - * /`` on numbers and ``**`` with a
literal exponent of at most :data:`MAX_EXPONENT` in absolute value; comparisons (chains too:
``40 <= occupying_ratio < 60``); ``in`` / ``not in`` with a literal list; ``and``, ``or``, ``not``.
Everything else (calls, attribute access, subscripts, lambdas, comprehensions, names starting
with ``_``, ...) is refused with the offending token named. A category label must be one of the
variable's categories and a number is in the dictionary's unit of the variable.

Missing values follow Kleene's three-valued logic (as SQL does): a comparison with a missing
operand is unknown; ``False and unknown`` is false and ``True or unknown`` is true, because the
answer does not depend on the missing value; otherwise the result stays unknown. A rule that is
unknown for a patient cannot be applied to them: :class:`Evaluated` keeps the mask ``known`` so
the count is reported, and in the comparison such a patient counts as not flagged (a rule that
cannot be applied triggers no action). A score that is unknown is missing (NaN).
"""

from __future__ import annotations

import ast
import operator
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd

from spineoutcome.dictionary import DataDictionary, UnknownVariableError, Variable
from spineoutcome.errors import SpineoutcomeError

MAX_LENGTH = 500
"""Longest expression accepted (characters)."""
MAX_NODES = 200
"""Largest expression accepted (syntax-tree nodes): a rule is a line a clinician can read."""
MAX_EXPONENT = 3
"""Largest absolute value of a literal exponent (``x ** 2`` yes, ``x ** 99999`` no)."""
MAX_NUMBER = 1e12
"""Largest absolute value of a number written in an expression (no overflow, no infinity)."""

Kind = Literal["rule", "score"]
_Type = Literal["number", "boolean", "category", "text"]

_ALLOWED: tuple[type[ast.AST], ...] = (
    ast.Expression,
    ast.BoolOp,
    ast.And,
    ast.Or,
    ast.UnaryOp,
    ast.Not,
    ast.USub,
    ast.UAdd,
    ast.BinOp,
    ast.Add,
    ast.Sub,
    ast.Mult,
    ast.Div,
    ast.Pow,
    ast.Compare,
    ast.Eq,
    ast.NotEq,
    ast.Lt,
    ast.LtE,
    ast.Gt,
    ast.GtE,
    ast.In,
    ast.NotIn,
    ast.Name,
    ast.Load,
    ast.Constant,
    ast.List,
    ast.Tuple,
)
_REFUSED_WHY: dict[type[ast.AST], str] = {
    ast.Call: "function calls are not allowed",
    ast.Attribute: "attribute access is not allowed",
    ast.Subscript: "subscripts are not allowed",
    ast.Lambda: "lambda is not allowed",
    ast.IfExp: "conditional expressions are not allowed (write two comparators)",
    ast.BitAnd: "'&' is not allowed (write 'and')",
    ast.BitOr: "'|' is not allowed (write 'or')",
    ast.Invert: "'~' is not allowed (write 'not')",
    ast.Mod: "'%' is not allowed",
    ast.FloorDiv: "'//' is not allowed",
    ast.Is: "'is' is not allowed (write '==')",
    ast.IsNot: "'is not' is not allowed (write '!=')",
}
_COMPARE: dict[type[ast.AST], Callable[[Any, Any], Any]] = {
    ast.Eq: operator.eq,
    ast.NotEq: operator.ne,
    ast.Lt: operator.lt,
    ast.LtE: operator.le,
    ast.Gt: operator.gt,
    ast.GtE: operator.ge,
}
_ARITHMETIC: dict[type[ast.AST], Callable[[Any, Any], Any]] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.Pow: operator.pow,
}
_RESULT: dict[Kind, _Type] = {"rule": "boolean", "score": "number"}


class ComparatorExpressionError(SpineoutcomeError, ValueError):
    """A comparator's expression is not allowed or does not fit the dictionary; the message names the token."""


@dataclass(frozen=True)
class Evaluated:
    """An expression's value for every patient and whether it could be evaluated (``known``).

    ``values`` is float (NaN where unknown) for a score, bool (False where unknown) for a rule.
    """

    values: np.ndarray
    known: np.ndarray

    @property
    def n_unknown(self) -> int:
        """Patients for whom the expression could not be evaluated (a variable it needs is missing)."""
        return int((~self.known).sum())


@dataclass(frozen=True)
class _Node:
    """A typed, compiled sub-expression: ``run(frame)`` gives (values, known)."""

    type: _Type
    run: Callable[[pd.DataFrame], tuple[np.ndarray, np.ndarray]]
    variable: Variable | None = None
    literal: Any = None


def check_syntax(text: str) -> ast.Expression:
    """The syntax tree of ``text`` when it uses only the allowed constructs (module docstring).

    Needs no dictionary: the pipeline schema calls it; names and categories are checked by
    :func:`compile_expression`. Raises :class:`ComparatorExpressionError` naming the offending token.
    """
    if not isinstance(text, str) or not text.strip():
        raise ComparatorExpressionError("the expression is empty")
    if len(text) > MAX_LENGTH:
        raise ComparatorExpressionError(f"the expression is longer than {MAX_LENGTH} characters")
    try:
        tree = ast.parse(text.strip(), mode="eval")
    except SyntaxError as exc:
        raise ComparatorExpressionError(f"{text.strip()!r} is not a valid expression ({exc.msg})") from None
    except (RecursionError, MemoryError, ValueError):
        raise ComparatorExpressionError("the expression is nested too deeply") from None
    nodes = list(ast.walk(tree))
    if len(nodes) > MAX_NODES:
        raise ComparatorExpressionError(f"the expression has more than {MAX_NODES} parts")
    source = text.strip()
    for node in nodes:
        token = _token(source, node)
        operators = [getattr(node, "op", None), *getattr(node, "ops", [])]
        refused = next((op for op in operators if op is not None and not isinstance(op, _ALLOWED)), None)
        if refused is not None:
            why = _REFUSED_WHY.get(type(refused), f"the operator {type(refused).__name__} is not allowed")
            raise ComparatorExpressionError(f"{token!r}: {why}")
        if isinstance(node, ast.operator | ast.cmpop | ast.boolop | ast.unaryop | ast.expr_context):
            continue
        if not isinstance(node, _ALLOWED):
            why = _REFUSED_WHY.get(type(node), f"{type(node).__name__} is not allowed")
            raise ComparatorExpressionError(f"{token!r}: {why}")
        if isinstance(node, ast.Name) and node.id.startswith("_"):
            raise ComparatorExpressionError(f"{token!r}: names starting with '_' are not allowed")
        if isinstance(node, ast.Constant) and not isinstance(node.value, bool | int | float | str):
            raise ComparatorExpressionError(f"{token!r}: only numbers, quoted labels, True and False are allowed")
        if isinstance(node, ast.Constant) and isinstance(node.value, int | float) and not abs(node.value) <= MAX_NUMBER:
            raise ComparatorExpressionError(f"{token!r}: numbers must lie within +/-{MAX_NUMBER:g}")
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Pow):
            exponent = _literal_number(node.right)
            if exponent is None or abs(exponent) > MAX_EXPONENT:
                raise ComparatorExpressionError(
                    f"{token!r}: an exponent must be a number between -{MAX_EXPONENT} and {MAX_EXPONENT}"
                )
    return tree


def compile_expression(text: str, dictionary: DataDictionary, kind: Kind) -> Expression:
    """``text`` checked against ``dictionary`` and compiled: a rule must be true/false, a score a number.

    Raises :class:`ComparatorExpressionError` naming the offending token: an unknown or
    post-operative variable, a category that is not one of the variable's, a type mismatch.
    """
    tree = check_syntax(text)
    compiler = _Compiler(text.strip(), dictionary)
    node = compiler.visit(tree.body)
    wanted = _RESULT[kind]
    if node.type != wanted:
        shown = {"boolean": "true/false", "number": "a number", "category": "a category", "text": "a label"}
        raise ComparatorExpressionError(
            f"{text.strip()!r}: a {kind} must give {shown[wanted]}, this gives {shown[node.type]}"
        )
    return Expression(text.strip(), kind, frozenset(compiler.names), node)


@dataclass(frozen=True)
class Expression:
    """A compiled comparator expression: its text, kind, the variables it reads, and how to evaluate it."""

    text: str
    kind: Kind
    names: frozenset[str]
    _node: _Node

    def evaluate(self, frame: pd.DataFrame) -> Evaluated:
        """Value for every row of ``frame`` (one row per patient, columns named as in the dictionary)."""
        absent = sorted(n for n in self.names if n not in frame.columns)
        if absent:
            raise ComparatorExpressionError(f"{self.text!r}: the data have no column {', '.join(absent)}")
        values, known = self._node.run(frame)
        values = np.broadcast_to(values, (len(frame),)).copy()
        known = np.broadcast_to(known, (len(frame),)).copy()
        if self.kind == "rule":
            return Evaluated(values.astype(bool) & known, known)
        out = values.astype(float)
        known &= np.isfinite(out)
        return Evaluated(np.where(known, out, np.nan), known)


def _token(source: str, node: ast.AST) -> str:
    segment = ast.get_source_segment(source, node) if hasattr(node, "lineno") else None
    return segment or type(node).__name__


def _literal_number(node: ast.AST) -> float | None:
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub | ast.UAdd):
        inner = _literal_number(node.operand)
        return None if inner is None else (-inner if isinstance(node.op, ast.USub) else inner)
    if isinstance(node, ast.Constant) and isinstance(node.value, int | float) and not isinstance(node.value, bool):
        return float(node.value)
    return None


def _constant(value: Any, type_: _Type) -> _Node:
    def run(frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
        return np.full(len(frame), value, dtype=object if type_ == "text" else None), np.ones(len(frame), bool)

    return _Node(type_, run, literal=value)


class _Compiler:
    """Turns a whitelisted syntax tree into typed :class:`_Node` closures, checking names and categories."""

    def __init__(self, source: str, dictionary: DataDictionary) -> None:
        self.source = source
        self.dictionary = dictionary
        self.names: set[str] = set()

    def fail(self, node: ast.AST, why: str) -> ComparatorExpressionError:
        return ComparatorExpressionError(f"{_token(self.source, node)!r}: {why}")

    def visit(self, node: ast.AST) -> _Node:
        handler = getattr(self, f"visit_{type(node).__name__}", None)
        if handler is None:
            raise self.fail(node, f"{type(node).__name__} is not allowed here")
        return handler(node)

    def visit_Constant(self, node: ast.Constant) -> _Node:
        value = node.value
        if isinstance(value, bool):
            return _constant(value, "boolean")
        if isinstance(value, int | float):
            return _constant(float(value), "number")
        return _constant(value, "text")

    def visit_Name(self, node: ast.Name) -> _Node:
        name = node.id
        try:
            var = self.dictionary.variable(name)
        except UnknownVariableError as exc:
            raise self.fail(node, str(exc)) from None
        if not var.preoperative or not var.predictor:
            raise self.fail(
                node,
                "not a pre-operative predictor variable in the data dictionary (a rule applied before surgery "
                "can only read what is known before surgery)",
            )
        types: dict[str, _Type] = {"float": "number", "int": "number", "bool": "boolean", "category": "category"}
        if var.dtype not in types:
            raise self.fail(node, f"a {var.dtype} variable cannot be used in a rule or score")
        self.names.add(name)
        return _Node(types[var.dtype], _column_reader(name, types[var.dtype]), variable=var)

    def visit_UnaryOp(self, node: ast.UnaryOp) -> _Node:
        operand = self.visit(node.operand)
        if isinstance(node.op, ast.Not):
            self._expect(node.operand, operand, "boolean", "'not' needs true/false")
            return _Node("boolean", lambda f: (lambda v, k: (~v.astype(bool), k))(*operand.run(f)))
        self._expect(node.operand, operand, "number", "a sign needs a number")
        sign = -1.0 if isinstance(node.op, ast.USub) else 1.0
        literal = None if operand.literal is None else sign * operand.literal
        return _Node("number", lambda f: (lambda v, k: (sign * v, k))(*operand.run(f)), literal=literal)

    def visit_BinOp(self, node: ast.BinOp) -> _Node:
        left, right = self.visit(node.left), self.visit(node.right)
        for side, typed in ((node.left, left), (node.right, right)):
            self._expect(side, typed, "number", "arithmetic needs numbers")
        op = _ARITHMETIC[type(node.op)]

        def run(frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
            lv, lk = left.run(frame)
            rv, rk = right.run(frame)
            with np.errstate(all="ignore"):
                value = op(np.asarray(lv, dtype=float), np.asarray(rv, dtype=float))
            return value, lk & rk & np.isfinite(value)

        return _Node("number", run)

    def visit_BoolOp(self, node: ast.BoolOp) -> _Node:
        parts = [self.visit(v) for v in node.values]
        word = "and" if isinstance(node.op, ast.And) else "or"
        for value, typed in zip(node.values, parts, strict=True):
            self._expect(value, typed, "boolean", f"'{word}' needs true/false")
        combine = _kleene_and if isinstance(node.op, ast.And) else _kleene_or

        def run(frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
            value, known = parts[0].run(frame)
            for part in parts[1:]:
                value, known = combine((value, known), part.run(frame))
            return value, known

        return _Node("boolean", run)

    def visit_Compare(self, node: ast.Compare) -> _Node:
        operands = [node.left, *node.comparators]
        pairs = [
            self._comparison(node, a, op, b) for a, op, b in zip(operands[:-1], node.ops, operands[1:], strict=True)
        ]

        def run(frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
            value, known = pairs[0](frame)
            for pair in pairs[1:]:
                value, known = _kleene_and((value, known), pair(frame))
            return value, known

        return _Node("boolean", run)

    def _comparison(
        self, node: ast.Compare, left_node: ast.AST, op: ast.cmpop, right_node: ast.AST
    ) -> Callable[[pd.DataFrame], tuple[np.ndarray, np.ndarray]]:
        left = self.visit(left_node)
        if isinstance(op, ast.In | ast.NotIn):
            return self._membership(left_node, left, op, right_node)
        right = self.visit(right_node)
        compare = _COMPARE[type(op)]
        types = {left.type, right.type}
        if types == {"number"}:
            pass
        elif types in ({"category", "text"}, {"boolean"}):
            if not isinstance(op, ast.Eq | ast.NotEq):
                raise self.fail(node, "labels and true/false can only be compared with == or !=")
            variable, label_node, label = (
                (left.variable, right_node, right.literal)
                if left.type == "category"
                else (right.variable, left_node, left.literal)
            )
            if "category" in types:
                self._check_label(variable, label_node, label)
        elif "category" in types or "text" in types:
            raise self.fail(node, "a category variable is compared with a quoted label, e.g. k_line == 'negative'")
        else:
            raise self.fail(node, "both sides of a comparison must be numbers, or a category and a label")

        def run(frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
            lv, lk = left.run(frame)
            rv, rk = right.run(frame)
            known = lk & rk
            with np.errstate(invalid="ignore"):
                value = np.asarray(compare(np.asarray(lv, dtype=object), np.asarray(rv, dtype=object)), dtype=bool)
            return value & known, known

        return run

    def _membership(
        self, left_node: ast.AST, left: _Node, op: ast.cmpop, right_node: ast.AST
    ) -> Callable[[pd.DataFrame], tuple[np.ndarray, np.ndarray]]:
        if not isinstance(right_node, ast.List | ast.Tuple) or not right_node.elts:
            raise self.fail(right_node, "'in' needs a non-empty literal list, e.g. ['continuous', 'mixed']")
        members = [self.visit(e) for e in right_node.elts]
        if left.type == "category":
            for element, member in zip(right_node.elts, members, strict=True):
                if member.type != "text":
                    raise self.fail(element, "a category is compared with quoted labels")
                self._check_label(left.variable, element, member.literal)
        elif left.type == "number":
            for element, member in zip(right_node.elts, members, strict=True):
                if member.type != "number" or member.literal is None:
                    raise self.fail(element, "a number is compared with literal numbers")
        else:
            raise self.fail(left_node, "'in' applies to a number or a category variable")
        values = [m.literal for m in members]
        negate = isinstance(op, ast.NotIn)

        def run(frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
            lv, lk = left.run(frame)
            inside = np.isin(np.asarray(lv, dtype=object), np.asarray(values, dtype=object))
            value = ~inside if negate else inside
            return value & lk, lk

        return run

    def visit_List(self, node: ast.List) -> _Node:
        raise self.fail(node, "a list is only allowed after 'in'")

    visit_Tuple = visit_List

    def _check_label(self, variable: Variable | None, node: ast.AST, label: Any) -> None:
        categories = list(variable.categories or ()) if variable is not None else []
        if label not in categories:
            name = variable.name if variable is not None else "the variable"
            raise self.fail(node, f"not a category of {name} (its categories: {', '.join(map(repr, categories))})")

    def _expect(self, node: ast.AST, typed: _Node, wanted: _Type, why: str) -> None:
        if typed.type != wanted:
            raise self.fail(node, why)


def _column_reader(name: str, type_: _Type) -> Callable[[pd.DataFrame], tuple[np.ndarray, np.ndarray]]:
    def run(frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
        column = frame[name]
        known = column.notna().to_numpy(dtype=bool)
        if type_ == "number":
            values = pd.to_numeric(column, errors="coerce").astype("float64").to_numpy()
            return values, known & np.isfinite(values)
        if type_ == "boolean":
            return column.astype("boolean").fillna(False).to_numpy(dtype=bool), known
        return column.astype(object).where(column.notna(), None).to_numpy(dtype=object), known

    return run


def _kleene_and(a: tuple[np.ndarray, np.ndarray], b: tuple[np.ndarray, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Three-valued AND: false when either side is known false, true when both are known true."""
    (av, ak), (bv, bk) = a, b
    av, bv = av.astype(bool) & ak, bv.astype(bool) & bk
    known = (ak & bk) | (ak & ~av) | (bk & ~bv)
    return av & bv, known


def _kleene_or(a: tuple[np.ndarray, np.ndarray], b: tuple[np.ndarray, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Three-valued OR: true when either side is known true, false when both are known false."""
    (av, ak), (bv, bk) = a, b
    av, bv = av.astype(bool) & ak, bv.astype(bool) & bk
    known = (ak & bk) | av | bv
    return av | bv, known
