"""Depth diagnostics: the layers × time heatmap and the gradient-health badges on the canvas."""
from __future__ import annotations

import math

import numpy as np
import pytest

from graph.fileformat import load
from runtime.health import gradient_health
from tests.conftest import EXAMPLES
from ui.canvas.view import CanvasView
from ui.document import Document
from ui.training.diagnostics import DiagnosticsView


def _event(step, grads, dead=0.1):
    layers = [{"node": f"n{i + 2}", "name": f"layer{i}", "type": "Linear" if g is not None
               else "ReLU", "grad_norm": g, "act_mean": 0.1 * i, "act_std": 1.0,
               "dead_fraction": dead if g is None else None} for i, g in enumerate(grads)]
    return {"event": "diagnostics", "step": step, "epoch": 1, "layers": layers}


def test_health_flags_vanishing_exploding_and_dead_units():
    health = gradient_health(_event(1, [1.0, None, 1e-7, 0.005])["layers"])
    assert health["n2"][0] == "ok"
    assert health["n3"] == ("ok", "10% of its units are dead (never positive)")
    assert health["n4"][0] == "error" and "vanishing" in health["n4"][1]
    assert health["n5"][0] == "warning" and "weak" in health["n5"][1]
    assert gradient_health(_event(1, [5e3, 1.0])["layers"])["n2"][0] == "error"
    assert gradient_health(_event(1, [1.0, None], dead=0.95)["layers"])["n3"][0] == "error"


def test_heatmap_grows_with_records_and_handles_missing_values(qtbot):
    view = DiagnosticsView()
    qtbot.addWidget(view)
    for step in range(1, 201):  # past the initial capacity
        view.add_event(_event(step, [1.0, None, 1e-6, math.nan]))
    view.redraw()
    assert view.count == 200 and view.image.image.shape == (200, 4, 4)
    grads = view.matrix("grad_norm")
    assert grads[0, 0] == 0.0 and np.isnan(grads[0, 1])  # log10(1); ReLU has no gradient
    # No value (a parameterless layer): unobtrusive on the dark theme, close to the background
    # and darker than every colour of the scale (never a light-grey band).
    from PySide6.QtGui import QColor

    from ui.training.theme import BACKGROUND

    missing = view.image.image[0, 1].astype(int)
    background = np.array(QColor(BACKGROUND).getRgb()[:3])
    assert np.abs(missing[:3] - background).max() <= 24 and missing[:3].sum() < 200
    view.stat_combo.setCurrentIndex(3)  # dead fraction
    view.redraw()
    assert view.table.rowCount() == 4
    assert view.table.item(2, view.table.columnCount() - 1).text() == "error"  # vanishing


def test_health_badges_on_canvas_nodes(qtbot):
    document = Document(load(EXAMPLES / "moons_mlp.json"))
    canvas = CanvasView(document)
    qtbot.addWidget(canvas)
    view = DiagnosticsView()
    qtbot.addWidget(view)
    view.health_changed.connect(canvas.set_node_health)
    view.add_event(_event(50, [1.0, None, 1e-7]))
    view.redraw()  # badges follow at most once a frame
    assert canvas.node_health("n2")[0] == "ok"
    level, text = canvas.node_health("n4")
    assert level == "error" and "vanishing" in text
    badge = canvas.canvas.nodes["n4"].health_badge
    pos = badge.mapToScene(badge.boundingRect().center())
    assert "vanishing" in canvas.canvas.tooltip_at(pos)
    view.clear()  # a new run
    assert canvas.node_health("n4") is None
