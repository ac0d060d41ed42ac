"""The Training panel shows every training setting its owner (graph/settings.py) declares,
grouped as declared there — the new accumulate and compile settings included — and editing one
is an undoable change of the design."""
from __future__ import annotations

from graph.fileformat import load
from graph.settings import TRAINING_GROUPS
from tests.conftest import EXAMPLES
from ui.document import Document
from ui.training.controller import TrainingController
from ui.training.panel import TrainingPanel


def test_panel_shows_and_edits_accumulate_and_compile(qtbot, tmp_path):
    document = Document(load(EXAMPLES / "digits_mlp.json"))
    controller = TrainingController(document, runs_root=tmp_path)
    panel = TrainingPanel(document, controller)
    qtbot.addWidget(panel)
    assert list(panel.forms) == [title for title, _names in TRAINING_GROUPS]
    loop = panel.forms["Loop"].editors
    assert {"accumulate", "compile"} <= set(loop)
    loop["accumulate"].set_value(4)
    panel._edit("accumulate", loop["accumulate"].value())
    panel._edit("compile", True)
    assert document.design.training["accumulate"] == 4
    assert document.design.training["compile"] is True
    document.undo_stack.undo()
    assert document.design.training["compile"] is False
