"""The Try page: a sample through the model off the GUI thread, its probabilities as bars, and
the selected layer's output — with real numbers checked against the model itself."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from graph.fileformat import load
from runtime.training import train
from tests.conftest import EXAMPLES
from ui.document import Document
from ui.training.try_page import TryPage


@pytest.fixture(scope="module")
def digits_run(tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("runs") / "digits"
    events = list(train(load(EXAMPLES / "digits_cnn.json"), run_dir=run_dir,
                        overrides={"epochs": 1}, limit_batches=4))
    assert events[-1]["status"] == "completed"
    return run_dir


@pytest.fixture
def page(qtbot):
    document = Document(load(EXAMPLES / "digits_cnn.json"))
    widget = TryPage(document)
    qtbot.addWidget(widget)
    widget.resize(1000, 400)
    return widget


def _shown(qtbot, page, action):
    with qtbot.waitSignal(page.looked, timeout=60_000):
        action()


def test_a_test_sample_with_a_runs_weights(qtbot, page, digits_run):
    _shown(qtbot, page, lambda: page.use_run(str(digits_run)))
    assert page.model.source == "best" and page.samples.split == "test"
    probs = page.prediction.probabilities
    assert probs.sum() == pytest.approx(1.0, abs=1e-6)
    with torch.no_grad():
        expected = torch.softmax(page.model.module(page.samples.inputs[0:1]), dim=1)[0]
    np.testing.assert_allclose(probs, expected.numpy(), rtol=1e-5, atol=1e-7)
    heights = page.bars.opts["height"]
    np.testing.assert_allclose(heights, probs)  # the bar chart draws these numbers
    assert "true: <b>" + page.samples.label(0) in page.answer.text()
    assert page.truth_bar.opts["x"] == [int(page.samples.targets[0])]

    _shown(qtbot, page, lambda: page.index.setValue(5))  # another sample
    with torch.no_grad():
        expected = torch.softmax(page.model.module(page.samples.inputs[5:6]), dim=1)[0]
    np.testing.assert_allclose(page.prediction.probabilities, expected.numpy(), rtol=1e-5,
                               atol=1e-7)


def test_the_selected_layers_preview_is_its_output(qtbot, page, digits_run):
    _shown(qtbot, page, lambda: page.use_run(str(digits_run)))
    design = page.document.design
    conv = design.node_by_name("conv1").id
    page.follow_selection([conv])
    assert page.preview.kind == "maps"
    module = page.model.module
    with torch.no_grad():
        maps = getattr(module, page.model.compiled.idents[conv])(page.samples.inputs[0:1])[0]
    torch.testing.assert_close(page.outputs[conv].tensor, maps)
    tiles = page.preview.array  # the grid holds each map, scaled over its own range
    first = maps[0].numpy()
    scaled = (first - first.min()) / (first.max() - first.min())
    np.testing.assert_allclose(tiles[:8, :8], scaled, rtol=1e-5, atol=1e-6)
    assert "conv1" in page.preview.caption.text()

    logits = next(n for n in design.nodes if n.type == "Output").id
    page.follow_selection([logits])
    assert page.preview.kind == "vector"
    with torch.no_grad():
        np.testing.assert_allclose(page.preview.array,
                                   module(page.samples.inputs[0:1])[0].numpy(), rtol=1e-5)


def test_a_drawn_digit_and_the_untrained_design(qtbot, page):
    page.show()
    with qtbot.waitSignal(page.looked, timeout=60_000):
        pass  # shown: the untrained design opens by itself
    assert page.model.source == "untrained"
    assert page.pad.isVisible() and not page.features.isVisible()
    picture = np.zeros((28, 28), np.float32)
    picture[4:24, 12:16] = 1.0
    _shown(qtbot, page, lambda: page.try_picture(picture))
    assert page.true_label is None and "true:" not in page.answer.text()
    assert page.prediction.probabilities.sum() == pytest.approx(1.0, abs=1e-6)


def test_hovering_a_link_shows_the_tensor_it_carries(qtbot, page, digits_run):
    from PySide6.QtCore import QEvent
    from PySide6.QtGui import QHelpEvent
    from PySide6.QtWidgets import QApplication, QToolTip

    from ui.canvas.view import CanvasView
    from ui.training.try_page import LinkTooltips

    view = CanvasView(page.document)
    qtbot.addWidget(view)
    view.resize(800, 600)
    view.show()
    qtbot.waitExposed(view)
    LinkTooltips(view, page.link_tooltip)
    _shown(qtbot, page, lambda: page.use_run(str(digits_run)))
    design = page.document.design
    conv = design.node_by_name("conv1").id
    edge, item = next((e, i) for e, i in view.scene().links.items() if e.src == conv)
    view.centerOn(item.path().pointAtPercent(0.5))
    QApplication.processEvents()
    pos = view.mapFromScene(item.mapToScene(item.path().pointAtPercent(0.5)))
    event = QHelpEvent(QEvent.Type.ToolTip, pos, view.viewport().mapToGlobal(pos))
    QApplication.sendEvent(view.viewport(), event)
    text = QToolTip.text()
    assert text == page.link_tooltip(edge)
    assert "conv1 →" in text and "<img src='data:image/png;base64," in text
    assert "16×8×8" in text  # the shape of the tensor this link carries
    QToolTip.hideText()


def test_live_during_training_at_most_twice_a_second(qtbot, page, digits_run, monkeypatch):
    """The running run's newest weights are tried when it saves them (its "last" checkpoint),
    at most twice a second: checkpoints while a look is pending start no other; an epoch that
    saved none has no new weights to try. When the run ends, the pending look at its newest
    weights is dropped at once and one look at its best follows."""
    from ui.training import try_page
    from ui.training.try_page import UNTRAINED

    monkeypatch.setattr(page, "isVisible", lambda: True)  # on screen, without loading anything
    looks = []  # (the weights chosen, whether the look is at the training run's newest)
    monkeypatch.setattr(page, "reload", lambda: looks.append(
        (page.weights.currentData(), page._live_run == page.weights.currentData())))
    timer = page._live_timer
    starts = []
    start = timer.start
    monkeypatch.setattr(timer, "start", lambda *a: (starts.append(a), start(*a)))
    page.run_started(str(digits_run))
    page.training_event({"event": "epoch", "epoch": 1})  # no checkpoint yet: nothing to try
    assert page.weights.currentData() == UNTRAINED and not timer.isActive() and not starts
    for epoch in range(1, 11):  # ten checkpoints within a moment: one pending look
        page.training_event({"event": "checkpoint", "kind": "last", "epoch": epoch})
    assert page.weights.currentData() == str(digits_run)
    assert len(starts) == 1 and timer.isSingleShot() and not looks
    assert timer.interval() == try_page.LIVE_INTERVAL_S * 1000
    qtbot.waitUntil(lambda: looks == [(str(digits_run), True)])  # once, the run's newest
    page.training_event({"event": "checkpoint", "kind": "last", "epoch": 11})
    assert len(starts) == 2
    qtbot.waitUntil(lambda: len(looks) == 2)
    page.training_event({"event": "checkpoint", "kind": "last", "epoch": 12})
    assert timer.isActive()
    page.run_finished({"status": "completed", "run_dir": str(digits_run)})  # its best now
    assert not timer.isActive()  # the look at its newest weights dropped at once
    qtbot.waitUntil(lambda: len(looks) == 3)
    assert looks[2] == (str(digits_run), False)  # one look, with the best
    assert not timer.isActive() and not page._timer.isActive()  # and no other pending


def test_a_run_trained_here_is_tried_once_it_has_weights(qtbot, page, digits_run, monkeypatch):
    from types import SimpleNamespace
    from ui.training.try_page import UNTRAINED

    monkeypatch.setattr(page, "isVisible", lambda: True)
    looks = []
    monkeypatch.setattr(page, "reload", lambda: looks.append(page.weights.currentData()))
    run = SimpleNamespace(dir=digits_run, name="digits", status="completed")
    page.set_runs([])  # the design as opened, no runs yet
    page.set_runs([run])  # a run from before, listed later: the untrained design stays chosen
    assert page.weights.currentData() == UNTRAINED and looks == []
    page.run_started(str(digits_run))
    page.set_runs([run])  # it finished while the Curves tab was shown
    assert page.weights.currentData() == str(digits_run)
    qtbot.waitUntil(lambda: looks == [str(digits_run)])
    page.weights.setCurrentIndex(0)  # the user goes back to the untrained design: it stays
    page.set_runs([run])
    assert not page._timer.isActive()  # no look is scheduled for later either
    assert page.weights.currentData() == UNTRAINED and looks == [str(digits_run)]


def test_each_new_run_trained_here_is_followed_unless_the_user_picked_weights(
        qtbot, page, digits_run, monkeypatch, tmp_path):
    import shutil
    from types import SimpleNamespace

    monkeypatch.setattr(page, "isVisible", lambda: True)
    monkeypatch.setattr(page, "reload", lambda: None)
    second = shutil.copytree(digits_run, tmp_path / "second")
    first_run = SimpleNamespace(dir=digits_run, name="first", status="completed")
    second_run = SimpleNamespace(dir=second, name="second", status="completed")
    page.run_started(str(digits_run))
    page.set_runs([first_run])
    assert page.weights.currentData() == str(digits_run)
    page.run_started(str(second))  # the next run: the page moves on to it (as Results does)
    page.set_runs([second_run, first_run])
    assert page.weights.currentData() == str(second)
    page.weights.activated.emit(page.weights.findData(str(digits_run)))  # the user picks one
    page.weights.setCurrentIndex(page.weights.findData(str(digits_run)))
    page.run_started(str(tmp_path / "third"))
    page.training_event({"event": "epoch"})
    page.set_runs([second_run, first_run])
    assert page.weights.currentData() == str(digits_run)  # the user's choice stays


def test_attention_and_sequence_previews_of_an_untrained_design(qtbot):
    from tests.graph.util import row_attention

    b = row_attention()
    page = TryPage(Document(b.design))
    qtbot.addWidget(page)
    with qtbot.waitSignal(page.looked, timeout=60_000):
        page.show()
    assert page.model.source == "untrained"
    assert not page.pad.isVisible() and page.features.isVisible()
    page.follow_selection([b.id("attn")])
    out = page.outputs[b.id("attn")]
    assert page.preview.kind == "attention"
    np.testing.assert_allclose(page.preview.array, out.attention.numpy())
    np.testing.assert_allclose(page.preview.array.sum(axis=1), np.ones(8), rtol=1e-5)
    page.follow_selection([b.id("rows")])
    assert page.preview.kind == "sequence"
    np.testing.assert_allclose(page.preview.array, page.input[0].reshape(8, 8).numpy(),
                               rtol=1e-6)


def test_an_image_file_is_tried(qtbot, page, tmp_path, monkeypatch):
    from PIL import Image
    from PySide6.QtWidgets import QFileDialog

    picture = np.zeros((40, 40), np.uint8)
    picture[5:35, 18:23] = 255
    Image.fromarray(picture).save(tmp_path / "one.png")
    monkeypatch.setattr(QFileDialog, "getOpenFileName",
                        lambda *_a, **_k: (str(tmp_path / "one.png"), ""))
    with qtbot.waitSignal(page.looked, timeout=60_000):
        page.show()
    _shown(qtbot, page, page.open_button.click)
    assert page.true_label is None and page.input.shape == (1, 1, 8, 8)
    from runtime.inspect import picture_from_file, sample_from_picture

    expected = sample_from_picture(page.samples, picture_from_file(tmp_path / "one.png",
                                                                   (1, 8, 8)), (1, 8, 8))
    torch.testing.assert_close(page.input, expected)


def test_a_typed_row_of_features(qtbot):
    page = TryPage(Document(load(EXAMPLES / "iris_mlp.json")))
    qtbot.addWidget(page)
    with qtbot.waitSignal(page.looked, timeout=60_000):
        page.show()
    assert page.features.isVisible() and not page.pad.isVisible()
    page.features.setText("6.3, 3.3, 6.0, 2.5")
    _shown(qtbot, page, lambda: qtbot.keyClick(page.features, "\r"))
    mul, add = page.samples.normalization.affine((4,))
    expected = torch.tensor([[6.3, 3.3, 6.0, 2.5]]) * mul + add
    torch.testing.assert_close(page.input, expected)
    with torch.no_grad():
        probs = torch.softmax(page.model.module(expected), dim=1)[0].numpy()
    np.testing.assert_allclose(page.prediction.probabilities, probs, rtol=1e-5, atol=1e-7)
    page.features.setText("1, 2")
    qtbot.keyClick(page.features, "\r")
    assert "takes 4 feature values, not 2" in page.status.text()


def test_a_design_opened_with_runs_is_tried_with_its_newest_run(qtbot, page, digits_run,
                                                                monkeypatch):
    """Try your model: a design reopened with trained runs answers with the newest run's
    weights, not the untrained design (which stays one choice away)."""
    from types import SimpleNamespace
    from ui.training.try_page import UNTRAINED

    monkeypatch.setattr(page, "reload", lambda: None)
    page._reset()
    run = SimpleNamespace(dir=digits_run, name="digits", status="completed")
    page.set_runs([run])
    assert page.weights.currentData() == str(digits_run)
    assert page.weights.findData(UNTRAINED) == 0


def test_a_test_sample_replaces_the_drawing_on_the_pad(qtbot, page):
    """After drawing, Random (or another index, or Clear) shows a test sample: the pad is wiped,
    so it never shows a drawing that is not the input any more (nor is an old drawing the input
    while the pad is blank)."""
    from PySide6.QtCore import QPoint, Qt

    page.show()
    with qtbot.waitSignal(page.looked, timeout=60_000):
        pass  # the untrained design's first sample
    pad = page.pad

    def draw():
        with qtbot.waitSignal(page.looked, timeout=60_000):
            qtbot.mousePress(pad, Qt.MouseButton.LeftButton, pos=QPoint(50, 20))
            for y in range(25, 95, 5):
                qtbot.mouseMove(pad, QPoint(52, y))
            qtbot.mouseRelease(pad, Qt.MouseButton.LeftButton, pos=QPoint(52, 95))
        assert pad.ink().max() > 0.5 and page.true_label is None  # the drawing is the input

    for action in (lambda: qtbot.mouseClick(page.random_button, Qt.MouseButton.LeftButton),
                   lambda: page.index.setValue((page.index.value() + 1) % len(page.samples)),
                   lambda: qtbot.mouseClick(page.clear_button, Qt.MouseButton.LeftButton)):
        draw()
        with qtbot.waitSignal(page.looked, timeout=60_000):
            action()
        assert pad.ink().max() == 0  # wiped: the input shown is the test sample
        i = page.index.value()
        assert page.true_label == page.samples.label(i)
        np.testing.assert_array_equal(np.asarray(page.input), np.asarray(page.samples.inputs[i:i + 1]))


def test_small_feature_maps_keep_square_pixels(qtbot):
    """A grid of 4×4 maps in a wide, short preview is not stretched to the plot's shape."""
    from ui.training.previews import LayerPreview

    preview = LayerPreview()
    qtbot.addWidget(preview)
    preview.resize(700, 220)
    preview.show()
    qtbot.waitExposed(preview)
    preview.show_output("conv2", "maps", np.random.default_rng(0).normal(size=(8, 4, 4)))
    view = preview.plot.getPlotItem().getViewBox()
    qtbot.waitUntil(lambda: view.viewPixelSize()[0] > 0)
    across, down = view.viewPixelSize()  # data units per screen pixel, each way
    assert across == pytest.approx(down, rel=0.02)
    preview.show_output("fc1", "vector", np.arange(10.0))  # bars fill the plot again
    assert not view.state["aspectLocked"]


def test_an_empty_preview_draws_no_axes(qtbot):
    """Before a layer is chosen (and after it is cleared) the chart shows no axes: an empty
    0…1 scale, upside down for pictures, meant nothing. Bars get their axes; maps none."""
    from ui.training.previews import LayerPreview

    preview = LayerPreview()
    qtbot.addWidget(preview)
    item = preview.plot.getPlotItem()

    def axes() -> list[bool]:
        return [item.getAxis(name).isVisible() for name in ("left", "bottom")]

    preview.show()
    qtbot.waitExposed(preview)
    assert axes() == [False, False]
    preview.show_output("fc1", "vector", np.arange(10.0))
    assert axes() == [True, True] and not item.getViewBox().yInverted()
    preview.show_output("conv1", "maps", np.ones((2, 4, 4)))
    assert axes() == [False, False] and item.getViewBox().yInverted()
    preview.show_output("fc1", "vector", np.arange(10.0))
    preview.clear("Select a layer on the canvas to see its output.")
    assert axes() == [False, False]


def test_a_link_carrying_a_vector_shows_readable_bars_below_its_caption(qtbot, page, digits_run):
    """The trial: hovering a link between Linear layers showed a 1–2 px colour strip over the
    caption's last line. A vector is a strip of bars of a readable height, on its own line."""
    from PySide6.QtGui import QColor, QTextDocument

    from ui.training.previews import tensor_thumbnail
    from ui.training.theme import PALETTE

    _shown(qtbot, page, lambda: page.use_run(str(digits_run)))
    design = page.document.design
    edge = next(e for e in design.edges
                if page.outputs.get(e.src) is not None and page.outputs[e.src].tensor.ndim == 1)
    text = page.link_tooltip(edge)
    doc = QTextDocument()
    doc.setHtml(text)
    blocks = [doc.findBlockByNumber(i).text() for i in range(doc.blockCount())]
    caption = next(i for i, b in enumerate(blocks) if "for the sample" in b)
    image = next(i for i, b in enumerate(blocks) if "\ufffc" in b)  # the <img>'s character
    assert image > caption and blocks[image].strip() == "\ufffc"  # alone, below the caption

    values = np.array([3.0, -1.0, 0.5, 0.0, 2.0], np.float32)
    picture = tensor_thumbnail("vector", values).toImage()
    assert picture.height() >= 24 and picture.width() >= 96

    def ink(column: int, colour: str) -> int:
        x = int((column + 0.5) * picture.width() / len(values))
        return sum(picture.pixelColor(x, y) == QColor(colour) for y in range(picture.height()))

    up = [ink(i, PALETTE[0]) for i in range(len(values))]
    down = [ink(i, PALETTE[1]) for i in range(len(values))]
    assert up[0] > up[4] > up[2] > 0 == up[1] == up[3]  # taller for larger values
    assert down[1] > 0 and down[0] == down[2] == down[4] == 0
    assert up[0] >= 0.6 * picture.height() * 3 / 4  # 3 of the 4 units of range lie above zero


def test_a_link_tooltip_shows_layer_names_as_written(qtbot, page, digits_run):
    """Layer names are the user's text, not markup: '<i>a & b' is shown as typed."""
    from PySide6.QtGui import QTextDocument

    _shown(qtbot, page, lambda: page.use_run(str(digits_run)))
    design = page.document.design
    edge = next(e for e in design.edges if page.outputs.get(e.src) is not None)
    design.rename_node(edge.src, "<i>a & b")
    doc = QTextDocument()
    doc.setHtml(page.link_tooltip(edge))
    assert doc.toPlainText().startswith("<i>a & b → ")


def test_a_new_design_does_not_keep_the_old_designs_drawing(qtbot, page):
    """The trial: a digit drawn for one design was still on the pad, and the input, after New
    from Template; a new design starts from its own first test sample."""
    from PySide6.QtCore import QPoint, Qt

    page.show()
    with qtbot.waitSignal(page.looked, timeout=60_000):
        pass
    with qtbot.waitSignal(page.looked, timeout=60_000):
        qtbot.mousePress(page.pad, Qt.MouseButton.LeftButton, pos=QPoint(50, 20))
        for y in range(25, 95, 5):
            qtbot.mouseMove(page.pad, QPoint(52, y))
        qtbot.mouseRelease(page.pad, Qt.MouseButton.LeftButton, pos=QPoint(52, 95))
    assert page.true_label is None  # the drawing is the input
    with qtbot.waitSignal(page.looked, timeout=60_000):
        page.document.replace(load(EXAMPLES / "digits_cnn.json"))  # the same input shape
    assert page.pad.ink().max() == 0
    assert page.true_label == page.samples.label(page.index.value())


def test_weights_picked_while_the_page_loads_are_the_ones_it_ends_with(qtbot, page, digits_run):
    """A run's weights picked while the untrained design still loads: the load's own first
    look goes first, then the pick is loaded; it is never dropped (the weights box would name
    the run while the untrained design answered)."""
    page.reload()  # the untrained design, in the background
    assert page._busy
    page.use_run(str(digits_run))  # picked meanwhile: waits for the load
    qtbot.waitUntil(lambda: page.model is not None and page.model.source == "best"
                    and not page._busy, timeout=60_000)
    assert page.model.run_dir.name == digits_run.name
    assert page.status.text().startswith("best weights")
