"""Pre-flight checks: refuse work that cannot fit in the machine before allocating anything.

The estimate is the design summary's (:mod:`graph.summary`); the machine's side is
:func:`runtime.devices.memory_budget`. Validation shows the same text as a warning.
"""
from __future__ import annotations

from typing import Any, Mapping

from graph.design import Design
from graph.shapes import Inference
from graph.summary import export_memory_problem, summarize, training_memory_problem

from .devices import memory_budget


class ResourceError(ValueError):
    """The work needs more memory than the device has; the message holds the estimate."""


def check_training_fits(design: Design, overrides: Mapping[str, Any] | None = None,
                        inference: Inference | None = None) -> None:
    """Raise :class:`ResourceError` when training ``design`` (its training settings with
    ``overrides``, such as ``--batch-size`` and ``--device``) cannot fit in the memory of the
    device it would train on. ``inference``: the design's shapes, when already inferred."""
    overrides = overrides or {}
    budget = memory_budget(str(overrides.get("device", design.training.get("device", "auto"))))
    if not budget:
        return
    if "batch_size" in overrides and overrides["batch_size"] != design.training.get("batch_size"):
        design = design.copy()  # the estimate reads the design's own batch size
        design.training["batch_size"] = overrides["batch_size"]
    problem = training_memory_problem(summarize(design, inference, rows=False), budget)
    if problem:
        raise ResourceError(f"cannot train {design.name}: {problem}")


def check_export_fits(design: Design) -> None:
    """Raise :class:`ResourceError` when exporting ``design`` (on the CPU) cannot fit in RAM."""
    budget = memory_budget("cpu")
    problem = budget and export_memory_problem(summarize(design), budget)
    if problem:
        raise ResourceError(f"cannot export {design.name}: {problem}")
