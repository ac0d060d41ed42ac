"""The data panel: choosing data is an undoable edit; the preview and the Input follow it."""
from __future__ import annotations

import numpy as np
import pytest

from graph.fileformat import load, save
from ui.document import Document
from ui.training.data_panel import DataPanel

from ..conftest import EXAMPLES


@pytest.fixture
def panel(qtbot, tmp_path):
    def make(example="iris_mlp.json"):
        path = tmp_path / example
        save(load(EXAMPLES / example), path)
        document = Document()
        document.open(path)
        p = DataPanel(document)
        qtbot.addWidget(p)
        qtbot.waitUntil(lambda: not p.reading, timeout=30_000)
        return p

    return make


def _choose(qtbot, p, name):
    index = p.dataset_combo.findData(name)
    p.dataset_combo.setCurrentIndex(index)
    p.dataset_combo.activated.emit(index)
    assert p.document.design.data["name"] == name
    qtbot.waitUntil(lambda: not p.reading, timeout=30_000)


def test_tabular_preview_shows_rows_classes_and_splits(panel):
    p = panel()
    assert p.preview.kind == "table" and p.preview.total == 150
    assert p.preview_stack.currentWidget() is p.table
    assert p.table.columnCount() == 5 and p.table.rowCount() == 150
    assert p.table.horizontalHeaderItem(4).text() == "class"
    text = p.summary.text()
    assert "3 classes" in text and "setosa: 50" in text and "train" in text
    assert not p.fit_button.isVisibleTo(p)  # iris fits the iris MLP


def test_choosing_images_shows_thumbnails_and_fits_the_input(qtbot, panel):
    p = panel()
    doc = p.document
    _choose(qtbot, p, "digits")
    assert doc.design.data["name"] == "digits"
    assert p.gallery.count() == p.preview.samples.shape[0] > 0
    assert p.fit_button.isVisibleTo(p)
    doc.revalidate()
    assert any(d.code == "data-shape" for d in doc.report.errors)  # the canvas shows it
    p.fit_button.click()
    node = p.input_node()
    assert node.params["shape"] == [1, 8, 8]
    doc.revalidate()
    assert not any(d.code == "data-shape" for d in doc.report.errors)
    assert not p.fit_button.isVisibleTo(p)
    doc.undo_stack.undo()  # the shape edit
    doc.undo_stack.undo()  # the dataset choice
    assert doc.design.data["name"] == "iris" and p.input_node().params["shape"] == [4]


def test_two_d_data_shows_a_scatter(qtbot, panel):
    p = panel()
    _choose(qtbot, p, "moons")
    assert p.preview_stack.currentWidget() is p.scatter
    x, y = p.scatter_points.getData()
    assert len(x) == 1000


def test_csv_with_column_picker_tells_validation_its_shape(qtbot, panel, tmp_path):
    p = panel()
    doc = p.document
    rows = ["a,b,c,label"] + [f"{i},{i % 3},{i * 0.5},{'yes' if i % 2 else 'no'}"
                              for i in range(40)]
    (tmp_path / "table.csv").write_text("\n".join(rows) + "\n")
    _choose(qtbot, p, "csv")  # no file yet: a message, not a crash
    assert "Cannot read the data" in p.summary.text()
    form = p.options_form
    assert form.shown("target") and form.shown("features") and p.columns_box.isHidden()
    p.set_path_option("path", str(tmp_path / "table.csv"))
    assert doc.design.data["options"]["path"] == "table.csv"  # relative to the design
    assert form.editors["path"].line.toolTip().startswith("table.csv\n")  # the whole path
    qtbot.waitUntil(lambda: not p.reading, timeout=30_000)
    assert p.preview.total == 40
    qtbot.waitUntil(lambda: p.feature_list.count() == 3, timeout=10_000)
    assert p.target_combo.currentText() == "label"
    # One place edits the columns: the picker stands in for the typed fields.
    assert not p.columns_box.isHidden()
    assert not form.shown("target") and not form.shown("features")
    assert [p.table.horizontalHeaderItem(i).text() for i in range(4)] == ["a", "b", "c", "class"]
    assert p.preview.sample_shape == (3,) and p.preview.class_names == ["no", "yes"]
    assert doc.data_facts["data_shape"] == (3,)
    doc.revalidate()
    assert any(d.code == "data-shape" for d in doc.report.errors)  # Input takes 4 values
    p.feature_list.item(0).setCheckState(p.feature_list.item(0).checkState().Unchecked)
    assert doc.design.data["options"]["features"] == "b,c"
    qtbot.waitUntil(lambda: not p.reading, timeout=30_000)
    assert p.preview.sample_shape == (2,)
    assert p.preview.kind == "points"  # two features: shown as a scatter
    assert p.preview_stack.currentWidget() is p.scatter


def test_bad_file_gives_a_message_naming_the_place(qtbot, panel, tmp_path):
    p = panel()
    (tmp_path / "bad.csv").write_text("x,y\n1,0\nhello,1\n")
    _choose(qtbot, p, "csv")
    p.set_path_option("path", str(tmp_path / "bad.csv"))
    qtbot.waitUntil(lambda: not p.reading, timeout=30_000)
    assert "Cannot read" in p.summary.text() and "bad.csv" in p.summary.text()
    assert p.preview is None


def test_npz_preview(qtbot, panel, tmp_path):
    p = panel()
    np.savez(tmp_path / "points.npz", x=np.random.default_rng(0).normal(size=(60, 4)),
             y=np.arange(60) % 3)
    _choose(qtbot, p, "npz")
    p.set_path_option("path", str(tmp_path / "points.npz"))
    qtbot.waitUntil(lambda: not p.reading, timeout=30_000)
    assert p.preview.total == 60
    assert p.preview.task == "classification" and p.preview.class_counts == [20, 20, 20]


@pytest.mark.parametrize("name, options", [
    ("csv", {"path": "data/iris.csv"}),
    ("idx", {"images": "mnist/train-images", "labels": "/abs/train-labels"}),
])
def test_the_training_copy_reads_file_datasets_from_the_designs_folder(tmp_path, name, options):
    """The child process reads a copy of the design from a temporary file: every option that
    names a file (the dataset's ``path`` params) is made absolute against the design's folder;
    absolute paths and other options stay as they are."""
    from graph.settings import DATASETS
    from ui.training.controller import TrainingController

    path = tmp_path / "designs" / "net.json"
    path.parent.mkdir()
    design = load(EXAMPLES / "iris_mlp.json")
    design.set_data(dict(design.data, name=name, options=DATASETS[name].resolve(options)))
    save(design, path)
    document = Document()
    document.open(path)
    copy = TrainingController(document).snapshot_design().data["options"]
    for option in DATASETS[name].path_options:
        given = options[option]
        expected = given if given.startswith("/") else str((path.parent / given).resolve())
        assert copy[option] == expected
    assert {k: v for k, v in copy.items() if k not in DATASETS[name].path_options} == {
        k: v for k, v in design.data["options"].items() if k not in DATASETS[name].path_options}


def test_the_status_bar_says_valid_only_so_far_while_a_data_file_is_read(qtbot, tmp_path):
    """Until the file is read, validation cannot check the Input against it: the status bar
    says "valid so far" (it said "✓ valid" for seconds after a start, then "✗ 1 error")."""
    from tests.conftest import example_window
    from ui.editing import SettingsEdit

    rows = ["a,b,c,d,label"] + [f"{i},{i % 3},{i * 0.5},{i % 7},{i % 3}" for i in range(40)]
    (tmp_path / "four.csv").write_text("\n".join(rows) + "\n")
    window = example_window(qtbot, (1280, 800), "iris_mlp.json")  # 4 features → 3 classes
    document, panel = window.document, window.training.data_panel
    data = dict(document.design.data, name="csv", options={"path": str(tmp_path / "four.csv")})
    document.push(SettingsEdit(document.design, "data", data, "Read four.csv"))
    document.revalidate()
    assert document.data_unread
    assert window.status_label.text().startswith("✓ valid so far (reading the data)")
    qtbot.waitUntil(lambda: not panel.reading and bool(document.data_facts), timeout=30_000)
    qtbot.waitUntil(lambda: "so far" not in window.status_label.text(), timeout=5_000)
    assert window.status_label.text().startswith("✓ valid"), window.status_label.text()
    assert not document.data_unread
