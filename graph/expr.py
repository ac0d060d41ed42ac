"""Integer arithmetic on block arguments, parsed by a whitelist — never ``eval``.

A param of a layer inside a block may be an expression such as ``channels * 4`` or
``(size + 1) // 2``; a node's "present when" condition may compare and combine them
(``stride != 1 or project``). :func:`parse` walks ``ast.parse(text, mode="eval")`` and accepts
only these node types: whole-number literals (and ``True``/``False``), argument names,
``+ - * // %``, unary ``- + not``, comparisons and ``and``/``or``, and parentheses. Anything else
(calls, attributes, ``**``, floats, strings, subscripts …) is an :class:`ExprError` that says
what was found. Values stay integers (``True`` is 1); magnitudes are capped so no expression
can build a huge number.
"""
from __future__ import annotations

import ast
import operator
import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Callable, Mapping

MAX_TEXT = 200
_ATOM = re.compile(r"[A-Za-z_][A-Za-z0-9_]*|[0-9]+")  # needs no parentheses where substituted
MAX_MAGNITUDE = 2**62


class ExprError(ValueError):
    """An expression that does not parse, names an unknown argument or cannot be computed."""


_BINARY: dict[type, Callable[[int, int], int]] = {
    ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul,
    ast.FloorDiv: operator.floordiv, ast.Mod: operator.mod,
}
_COMPARE: dict[type, Callable[[int, int], bool]] = {
    ast.Eq: operator.eq, ast.NotEq: operator.ne, ast.Lt: operator.lt, ast.LtE: operator.le,
    ast.Gt: operator.gt, ast.GtE: operator.ge,
}
_SYMBOL = {ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.FloorDiv: "//", ast.Mod: "%",
           ast.Div: "/", ast.Pow: "**"}

Env = Mapping[str, int]
Evaluator = Callable[[Env], int]


@dataclass(frozen=True)
class Expr:
    """A parsed expression: ``names`` it reads, ``evaluate(env)`` its integer value."""

    text: str
    names: frozenset[str]
    _run: Evaluator

    def evaluate(self, env: Env) -> int:
        missing = sorted(self.names.difference(env))
        if missing:
            raise ExprError(f"unknown argument {missing[0]!r} in {self.text!r}"
                            + (f" (arguments: {', '.join(sorted(env))})" if env else
                               " (there are no arguments here)"))
        return self._run(env)


@lru_cache(maxsize=8192)
def parse(text: str) -> Expr:
    """Parse ``text``; raises :class:`ExprError` naming what is not allowed."""
    if not isinstance(text, str) or not text.strip():
        raise ExprError("an empty expression")
    if len(text) > MAX_TEXT:
        raise ExprError(f"expression longer than {MAX_TEXT} characters")
    try:
        tree = ast.parse(text.strip(), mode="eval")
    except SyntaxError as exc:
        raise ExprError(f"{text!r} does not parse: {exc.msg}") from None
    except (ValueError, RecursionError, MemoryError):
        raise ExprError(f"{text!r} does not parse") from None
    names: set[str] = set()
    run = _build(tree.body, names, text)
    return Expr(text, frozenset(names), run)


def evaluate(text: str, env: Env) -> int:
    """The value of ``text`` with the arguments ``env``."""
    return parse(text).evaluate(env)


def rename(text: str, old: str, new: str) -> str:
    """``text`` with every use of the argument ``old`` read as ``new`` (``channels * 4`` →
    ``width * 4``); the rest is kept as written. The names are found by parsing, so a longer
    name containing ``old`` (``channels_in``) is never touched. Raises :class:`ExprError` when
    ``text`` does not parse."""
    return substitute(text, {old: new})


def substitute(text: str, values: Mapping[str, str]) -> str:
    """``text`` with each argument named in ``values`` read as that text: ``planes * 4`` with
    ``{"planes": "width // 2"}`` gives ``(width // 2) * 4`` (parentheses unless the value is a
    name or a whole number, or the whole text is that argument). Names are found by parsing;
    the rest is kept as written. Raises :class:`ExprError` when ``text`` does not parse."""
    expr = parse(text)
    if not expr.names.intersection(values):
        return text
    source = text.strip()
    tree = ast.parse(source, mode="eval")
    data = source.encode("utf-8")  # the offsets count UTF-8 bytes from each line's start
    starts = [0]
    for line in data.split(b"\n"):
        starts.append(starts[-1] + len(line) + 1)
    spots = [(starts[n.lineno - 1] + n.col_offset, starts[n.end_lineno - 1] + n.end_col_offset,
              n.id) for n in ast.walk(tree) if isinstance(n, ast.Name) and n.id in values]
    whole = isinstance(tree.body, ast.Name)
    for start, end, name in sorted(spots, reverse=True):
        value = values[name].strip()
        if not (whole or _ATOM.fullmatch(value)):
            value = f"({value})"
        data = data[:start] + value.encode("utf-8") + data[end:]
    result = data.decode("utf-8")
    parse(result)  # what it gives parses too
    return result


def _checked(value: int, text: str) -> int:
    if abs(value) > MAX_MAGNITUDE:
        raise ExprError(f"{text!r} gives a number too large")
    return value


def _build(node: ast.AST, names: set[str], text: str) -> Evaluator:
    """An evaluator for one whitelisted AST node (recursively)."""
    if isinstance(node, ast.Constant):
        value = node.value
        if isinstance(value, bool) or (isinstance(value, int) and abs(value) <= MAX_MAGNITUDE):
            return lambda env, v=int(value): v
        raise ExprError(f"only whole numbers are allowed in {text!r}, not {value!r}")
    if isinstance(node, ast.Name):
        names.add(node.id)
        return lambda env, key=node.id: int(env[key])
    if isinstance(node, ast.BinOp):
        return _binary(node, names, text)
    if isinstance(node, ast.UnaryOp):
        inner = _build(node.operand, names, text)
        if isinstance(node.op, ast.USub):
            return lambda env: -inner(env)
        if isinstance(node.op, ast.UAdd):
            return inner
        if isinstance(node.op, ast.Not):
            return lambda env: int(not inner(env))
    if isinstance(node, ast.Compare):
        return _compare(node, names, text)
    if isinstance(node, ast.BoolOp):
        parts = [_build(v, names, text) for v in node.values]
        if isinstance(node.op, ast.And):
            return lambda env: int(all(p(env) for p in parts))
        return lambda env: int(any(p(env) for p in parts))
    raise ExprError(f"{_describe(node)} is not allowed in {text!r} (use whole numbers, argument "
                    "names, + - * // %, comparisons, and/or/not and parentheses)")


def _binary(node: ast.BinOp, names: set[str], text: str) -> Evaluator:
    op = _BINARY.get(type(node.op))
    if op is None:
        symbol = _SYMBOL.get(type(node.op), type(node.op).__name__)
        hint = " (use // for whole-number division)" if symbol == "/" else ""
        raise ExprError(f"the operator {symbol} is not allowed in {text!r}{hint}")
    left, right = _build(node.left, names, text), _build(node.right, names, text)

    def run(env: Env) -> int:
        a, b = left(env), right(env)
        if b == 0 and op in (operator.floordiv, operator.mod):
            raise ExprError(f"division by zero in {text!r}")
        return _checked(op(a, b), text)

    return run


def _compare(node: ast.Compare, names: set[str], text: str) -> Evaluator:
    first = _build(node.left, names, text)
    steps = []
    for op_node, right in zip(node.ops, node.comparators):
        op = _COMPARE.get(type(op_node))
        if op is None:
            raise ExprError(f"the comparison {type(op_node).__name__} is not allowed in {text!r}")
        steps.append((op, _build(right, names, text)))

    def run(env: Env) -> int:
        left = first(env)
        for op, right in steps:
            value = right(env)
            if not op(left, value):
                return 0
            left = value
        return 1

    return run


def _describe(node: ast.AST) -> str:
    kinds = {ast.Call: "a function call", ast.Attribute: "an attribute", ast.Subscript:
             "indexing", ast.Lambda: "a lambda", ast.IfExp: "an if-expression"}
    return kinds.get(type(node), type(node).__name__)
