"""Small, safe array expressions for the synthetic-cohort parameter file.

The data-generating process in ``data_dictionary/synthetic_cohort.yaml`` writes effects as
readable terms such as ``"(age - 65) / 10"`` or ``"(true_k_line == 'negative') * (approach ==
'laminoplasty')"``. This module compiles such a term once, checks that it only uses arithmetic,
comparisons, ``&``/``|``/``~`` and a fixed set of numpy functions, reports the variable names it
reads (so the YAML can be validated against the data dictionary), and evaluates it on a block of
patients as a numpy array.
"""

from __future__ import annotations

import ast
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy.special import expit

from spineoutcome.errors import SpineoutcomeError


def _hinge(x: np.ndarray) -> np.ndarray:
    return np.maximum(x, 0.0)


def _isin(x: np.ndarray, *values: Any) -> np.ndarray:
    return np.isin(x, values)


FUNCTIONS: Mapping[str, Callable[..., Any]] = {
    "log": np.log,
    "exp": np.exp,
    "sqrt": np.sqrt,
    "abs": np.abs,
    "tan": np.tan,
    "radians": np.radians,
    "expit": expit,
    "hinge": _hinge,
    "minimum": np.minimum,
    "maximum": np.maximum,
    "where": np.where,
    "isin": _isin,
}

_NODES: tuple[type[ast.AST], ...] = (
    ast.Expression,
    ast.BinOp,
    ast.UnaryOp,
    ast.Compare,
    ast.Call,
    ast.Name,
    ast.Load,
    ast.Constant,
    ast.Add,
    ast.Sub,
    ast.Mult,
    ast.Div,
    ast.Pow,
    ast.USub,
    ast.UAdd,
    ast.Invert,
    ast.BitAnd,
    ast.BitOr,
    ast.Eq,
    ast.NotEq,
    ast.Lt,
    ast.LtE,
    ast.Gt,
    ast.GtE,
)


class ExpressionError(SpineoutcomeError, ValueError):
    """A term of the parameter file is not a valid array expression."""


@dataclass(frozen=True)
class Expr:
    """A compiled expression and the variable names it reads."""

    source: str
    names: frozenset[str]
    _code: Any = field(repr=False, compare=False)

    @classmethod
    def parse(cls, source: str | float | int) -> Expr:
        text = str(source)
        try:
            tree = ast.parse(text, mode="eval")
        except SyntaxError as exc:
            raise ExpressionError(f"cannot parse {text!r}: {exc.msg}") from None
        names: set[str] = set()
        for node in ast.walk(tree):
            if not isinstance(node, _NODES):
                raise ExpressionError(f"{text!r}: {type(node).__name__} is not allowed in a term")
            if isinstance(node, ast.Compare) and len(node.ops) != 1:
                raise ExpressionError(f"{text!r}: chained comparisons are not allowed (use &)")
            if isinstance(node, ast.Call):
                if not isinstance(node.func, ast.Name) or node.func.id not in FUNCTIONS or node.keywords:
                    raise ExpressionError(f"{text!r}: only the functions {sorted(FUNCTIONS)} may be called")
            elif isinstance(node, ast.Name) and node.id not in FUNCTIONS:
                names.add(node.id)
        return cls(text, frozenset(names), compile(tree, f"<term {text}>", "eval"))

    def __call__(self, state: Mapping[str, np.ndarray], n: int) -> np.ndarray:
        """Evaluate on ``state`` (variable name -> array of length ``n``)."""
        value = eval(self._code, {"__builtins__": {}, **FUNCTIONS}, state)  # the AST was whitelisted in parse()
        return np.broadcast_to(np.asarray(value), (n,))
