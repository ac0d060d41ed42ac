"""Dropdowns show people's words, never stored snake_case values: every choice of the training
settings, the datasets and the layer parameters is shown by the label its owner declares, while
the combo box's data (what is saved) stays the stored value."""
from __future__ import annotations

from PySide6.QtWidgets import QComboBox

from graph.catalog import CATALOG
from graph.settings import DATASETS, TRAINING_PARAMS
from ui.document import Document
from ui.widgets.params import make_editor


def _texts(combo: QComboBox) -> list[str]:
    return [combo.itemText(i) for i in range(combo.count())]


def _assert_readable(combos, where: str) -> int:
    count = 0
    for combo in combos:
        for text in _texts(combo):
            assert "_" not in text, f"{where}: {text!r}"
            count += 1
    return count


def test_training_settings_show_labels_and_keep_values(qtbot):
    from ui.training.controller import TrainingController
    from ui.training.panel import TrainingPanel

    document = Document()
    panel = TrainingPanel(document, TrainingController(document))
    qtbot.addWidget(panel)
    assert _assert_readable(panel.findChildren(QComboBox), "training panel") >= 20
    combo = next(f.editors["loss"] for f in panel.forms.values() if "loss" in f.editors).combo
    index = combo.findData("cross_entropy")
    assert combo.itemText(index) == "Cross-entropy"
    combo.activated.emit(combo.findData("bce_with_logits"))  # the user picks a label …
    assert document.design.training["loss"] == "bce_with_logits"  # … the file keeps the value
    by_name = {p.name: p for p in TRAINING_PARAMS}
    assert by_name["schedule"].choice_label("plateau") == "Reduce on plateau"


def test_every_dataset_and_its_options_show_labels(qtbot):
    from ui.training.data_panel import DataPanel

    panel = DataPanel(Document())
    qtbot.addWidget(panel)
    _assert_readable([panel.dataset_combo], "dataset list")
    names = [panel.dataset_combo.itemData(i) for i in range(panel.dataset_combo.count())]
    assert sorted(names) == sorted(DATASETS)  # the data of each entry is the stored name
    assert "Breast cancer" in " ".join(_texts(panel.dataset_combo))
    for name in DATASETS:
        panel._build_options(name)
        if panel.options_form is not None:
            _assert_readable(panel.options_form.findChildren(QComboBox), name)


def test_every_layer_parameter_choice_shows_a_label(qtbot):
    checked = 0
    for layer in CATALOG:
        for param in layer.params:
            if param.kind != "choice":
                continue
            editor = make_editor(param, param.default)  # the inspector's editor
            qtbot.addWidget(editor)
            checked += _assert_readable(editor.findChildren(QComboBox), layer.type_id)
            combo = editor.findChildren(QComboBox)[0]
            assert [combo.itemData(i) for i in range(combo.count())] == list(param.choices)
    assert checked >= 20
