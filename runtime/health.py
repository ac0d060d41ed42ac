"""Gradient health of each layer, from the trainer's ``diagnostics`` records (pure Python).

The app colours each canvas node by it while a run trains, so vanishing or exploding gradients
in a deep stack, and ReLUs that have died, are visible at a glance.
"""
from __future__ import annotations

import math
from typing import Any, Mapping

VANISHING, WEAK = 1e-4, 1e-2  # a layer's gradient norm relative to the largest layer's
EXPLODING, LARGE = 1e3, 1e1  # absolute gradient norms
DEAD_ERROR, DEAD_WARNING = 0.9, 0.5  # share of ReLU units that never fire on a batch


def _finite(value: Any) -> float | None:
    return float(value) if isinstance(value, (int, float)) and math.isfinite(value) else None


def gradient_health(layers: list[Mapping[str, Any]]) -> dict[str, tuple[str, str]]:
    """``{node id: (level, explanation)}`` from one ``diagnostics`` event's layer rows; level is
    "ok", "warning" or "error". Gradients that vanish (tiny next to the largest layer's) or
    explode (huge or non-finite), and ReLUs whose units are mostly dead, are flagged."""
    norms = [g for g in (_finite(row.get("grad_norm")) for row in layers) if g is not None]
    largest = max(norms, default=0.0)
    out: dict[str, tuple[str, str]] = {}
    for row in layers:
        node, raw = row.get("node"), row.get("grad_norm")
        findings: list[tuple[str, str]] = []
        grad = _finite(raw)
        has_params = raw is not None  # the trainer reports None for layers without weights
        if has_params and grad is None:
            findings.append(("error", "gradient is NaN or infinite (exploding)"))
        elif grad is not None:
            ratio = grad / largest if largest > 0 else 1.0
            text = f"gradient norm {grad:.3g}"
            if grad > EXPLODING:
                findings.append(("error", f"{text}: exploding"))
            elif grad > LARGE:
                findings.append(("warning", f"{text}: large"))
            elif ratio < VANISHING or grad == 0.0:
                findings.append(("error", f"{text}: vanishing ({ratio:.1e} of the largest layer's)"))
            elif ratio < WEAK:
                findings.append(("warning", f"{text}: weak ({ratio:.1e} of the largest layer's)"))
            else:
                findings.append(("ok", f"{text}: healthy"))
        dead = _finite(row.get("dead_fraction"))
        if dead is not None:
            level = "error" if dead >= DEAD_ERROR else "warning" if dead >= DEAD_WARNING else "ok"
            findings.append((level, f"{dead:.0%} of its units are dead (never positive)"))
        if node and findings:
            worst = max(findings, key=lambda f: ("ok", "warning", "error").index(f[0]))[0]
            out[str(node)] = (worst, "; ".join(text for _, text in findings))
    return out
