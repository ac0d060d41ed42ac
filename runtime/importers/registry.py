"""Converters keyed by (operator type, opset version), as onnx2torch's ``node_converters``.

Each converter handles one operator pattern and is registered for the first opset version whose
semantics it implements; :meth:`Registry.fetch` picks the newest registration not newer than the
model's opset. An operator with no converter is *unsupported*: the importer lists it (name,
count, place) and never approximates it.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, NamedTuple


class OperatorKey(NamedTuple):
    op_type: str
    version: int


@dataclass(frozen=True)
class Converter:
    key: OperatorKey
    convert: Callable
    doc: str


class Registry:
    """One table of converters for one source format (ONNX operators, ATen operators)."""

    def __init__(self, source: str) -> None:
        self.source = source
        self._by_op: dict[str, dict[int, Converter]] = {}

    def register(self, *op_types: str, since: int = 1) -> Callable[[Callable], Callable]:
        """Decorator: ``fn`` converts every op in ``op_types`` from opset ``since`` on."""

        def wrap(fn: Callable) -> Callable:
            for op_type in op_types:
                versions = self._by_op.setdefault(op_type, {})
                if since in versions:
                    raise ValueError(f"{self.source} converter for {op_type} v{since} declared twice")
                versions[since] = Converter(OperatorKey(op_type, since), fn, (fn.__doc__ or "").strip())
            return fn

        return wrap

    def fetch(self, op_type: str, version: int = 1) -> Converter | None:
        """The converter for ``op_type`` at ``version`` (newest not newer), or None."""
        versions = self._by_op.get(op_type)
        if not versions:
            return None
        usable = [v for v in versions if v <= version]
        return versions[max(usable)] if usable else None

    def operators(self) -> list[str]:
        return sorted(self._by_op)

    def __contains__(self, op_type: object) -> bool:
        return op_type in self._by_op
