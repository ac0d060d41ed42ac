"""Pieces of generated Python shared by the exporters: literals and harmless comment text."""
from __future__ import annotations

import math
import re
from typing import Any


def literal(value: Any) -> str:
    """Python source for a constructor argument; refuses anything but plain data."""
    if value is None or isinstance(value, (bool, int, str)):
        return repr(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"cannot write the non-finite number {value!r} as a literal")
        return repr(value)
    if isinstance(value, (tuple, list)):
        items = ", ".join(literal(v) for v in value)
        return f"({items},)" if len(value) == 1 else f"({items})"
    raise TypeError(f"cannot write {type(value).__name__} {value!r} as a literal")


def comment_text(text: str, limit: int = 80) -> str:
    """``text`` reduced to characters that are harmless (and readable) in a ``#`` comment."""
    cleaned = re.sub(r"[^\w .,:()+\-]", " ", text)
    return re.sub(r"\s+", " ", cleaned).strip()[:limit]




LINE_WIDTH = 100


def call_source(head: str, args: list[str], indent: str, tail: str = "") -> str:
    """``head(args)tail``, wrapped one argument per line when it would be too wide."""
    one_line = f"{indent}{head}({', '.join(args)}){tail}"
    if len(one_line) <= LINE_WIDTH or not args:
        return one_line
    inner = indent + "    "
    return f"{indent}{head}(\n" + "".join(f"{inner}{a},\n" for a in args) + f"{indent}){tail}"
