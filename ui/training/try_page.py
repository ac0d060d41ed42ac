"""The *Try* page: one sample through the model, its answer, and what each layer made of it.

Pick the weights (a run's best checkpoint, or the untrained design), then a sample: one of the
test split (with its true label), a digit drawn on the pad, an image file or a typed row of
features. The page shows the class probabilities as bars (or the regression value) and the
output of the layer selected on the canvas (:class:`~ui.training.previews.LayerPreview`).

All model work runs on the thread pool through :func:`runtime.inspect` (never on the GUI
thread), one task at a time: a request made while one runs replaces any waiting one. While a
run trains, the page follows it: its newest weights are tried each time it saves them (at most
twice a second); once it ends, its best weights.
"""
from __future__ import annotations

import html
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QEvent, QObject, Qt, QTimer, Signal
from PySide6.QtWidgets import (QComboBox, QFileDialog, QGraphicsView, QGridLayout,
                               QHBoxLayout, QLabel, QLineEdit, QPushButton, QSpinBox, QSplitter,
                               QToolTip, QVBoxLayout, QWidget)

from ..document import Document
from ..loading import heavy_imports
from ..widgets.fitted import DockHeightLayout
from ..widgets.params import ElidingCombo, compact_combo
from .previews import DrawPad, LayerPreview, pixmap_html, sample_pixmap, tensor_thumbnail
from .tasks import adopt_popups, run_task
from .theme import PALETTE, style_plot

LIVE_INTERVAL_S = 0.5  # while training, the newest weights are read at most this often
# The three panes' least widths add up to the dock of the window a 1280×800 screen opens.
CHART_MIN_WIDTH, CHART_MIN_HEIGHT = 150, 120  # room for ten labelled bars
PREVIEW_MIN_WIDTH, PREVIEW_MIN_HEIGHT = 140, 120  # the selected layer's output
INPUT_SIZE = 64  # the sample's picture beside the bars
UNTRAINED = ""  # the weights choice meaning "the design as it is, freshly initialized"


def _open(design_text: str | None, run_dir: str | None, checkpoint: str, base_dir: str | None):
    """Worker: the model and its samples (see :mod:`runtime.inspect`)."""
    from graph.fileformat import loads
    from runtime.inspect import load_samples, open_model

    design = loads(design_text) if design_text is not None else None
    model = open_model(design=design, run_dir=run_dir, checkpoint=checkpoint)
    return model, load_samples(model, base_dir=base_dir)


def _look(model, samples, x):
    """Worker: the prediction and every layer's output for one input."""
    from runtime.inspect import layer_outputs, predict

    return predict(model, x, samples.task, samples.normalization), layer_outputs(model, x)


class TryPage(QWidget):
    """Try the model on one sample; preview the selected layer's output."""

    looked = Signal()  # a prediction and the layer outputs are on screen

    def __init__(self, document: Document, parent: QWidget | None = None):
        super().__init__(parent)
        self.document = document
        self.model = None
        self.samples = None
        self.input = None  # the (1, *shape) tensor shown
        self.true_label: str | None = None
        self.prediction = None
        self.outputs: dict[str, Any] = {}
        self.node_id: str | None = None
        self._busy = False
        self._waiting: Callable[[], None] | None = None
        self._live_run: str | None = None
        self._follow: str | None = None  # the run trained here, until the list offers it
        self._user_chose = False  # the weights shown were picked by the user: keep them
        self._just_opened = True  # the design was just opened: its newest run is what to try
        self._stale = True

        self.preview = LayerPreview()
        panes = QSplitter()
        for layout in (self._build_sources(), self._build_answer()):
            layout.setContentsMargins(0, 0, 4, 0)  # the splitter's handle separates them
            holder = QWidget()
            holder.setLayout(layout)
            panes.addWidget(holder)
        self.preview.setMinimumSize(PREVIEW_MIN_WIDTH, PREVIEW_MIN_HEIGHT)
        panes.addWidget(self.preview)
        for i, stretch in enumerate((0, 1, 2)):  # the layer preview gets the most room
            panes.setStretchFactor(i, stretch)
            panes.setCollapsible(i, False)
        panes.setSizes([190, 220, 1000])  # at first the preview takes what the others leave
        self.panes = panes
        outer = DockHeightLayout(self)  # the wrapped caption does not make the page scroll
        outer.setContentsMargins(6, 4, 6, 4)
        outer.addLayout(self._build_weights_row())
        outer.addWidget(panes, 1)

        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(300)
        self._timer.timeout.connect(self.reload)
        self._live_timer = QTimer(self)  # the newest weights of a run training here
        self._live_timer.setSingleShot(True)
        self._live_timer.setInterval(int(LIVE_INTERVAL_S * 1000))
        self._live_timer.timeout.connect(self.reload)
        document.report_changed.connect(self._design_changed)
        document.design_replaced.connect(self._design_replaced)  # a method: goes with the page

    def _build_weights_row(self) -> QHBoxLayout:
        """The top row, across the page: whose weights answer, and the caption saying which
        were loaded and on what samples (the short dock keeps its height for the panes)."""
        self.weights = compact_combo(ElidingCombo(), 10)
        self.weights.setToolTip("Whose weights answer: a run's best checkpoint (its newest "
                                "while it trains here), or the design as it is, untrained")
        self.weights.addItem("Untrained design", UNTRAINED)
        self.weights.activated.connect(self._weights_picked)
        self.status = QLabel()
        self.status.setObjectName("muted")
        self.status.setWordWrap(True)
        row = QHBoxLayout()
        row.addWidget(QLabel("Weights"))
        row.addWidget(self.weights, 1)  # run names are long: as much room as the caption
        row.addSpacing(6)
        row.addWidget(self.status, 1)
        return row

    def _build_sources(self) -> QGridLayout:
        """The left column: where the sample comes from."""
        self.index = QSpinBox()
        self.index.setToolTip("Which sample of the test split")
        self.index.setKeyboardTracking(False)
        self.index.valueChanged.connect(lambda _v: self.show_sample())
        self.random_button = random_button = QPushButton("Random")
        random_button.setToolTip("A random sample of the test split")
        random_button.clicked.connect(self._random)
        self.pad = DrawPad()
        self.pad.drawn.connect(self.try_drawing)
        self.clear_button = clear = QPushButton("Clear")
        clear.setToolTip("Wipe the drawing and try the test sample again")
        clear.clicked.connect(self.show_sample)  # which wipes the pad
        self.open_button = QPushButton("Image…")
        self.open_button.setToolTip("Try an image file (PNG, JPEG, …)")
        self.open_button.clicked.connect(self._open_image)
        self.features = QLineEdit()
        self.features.setPlaceholderText("feature values, comma-separated, e.g. 5.1, 3.5, 1.4, 0.2")
        self.features.returnPressed.connect(self._typed)

        # The buttons in a column beside the pad, under the sample's number: the column is
        # narrow enough for all three panes to fit the window a 1280×800 screen opens.
        left = QGridLayout()
        left.addWidget(QLabel("Sample"), 0, 0)
        left.addWidget(self.index, 0, 1)
        left.addWidget(self.pad, 1, 0, 3, 1, Qt.AlignmentFlag.AlignTop)
        for row, button in enumerate((random_button, clear, self.open_button), start=1):
            left.addWidget(button, row, 1)
        left.addWidget(self.features, 4, 0, 1, 2)
        left.setRowStretch(5, 1)
        left.setColumnStretch(1, 1)
        return left

    def _build_answer(self) -> QVBoxLayout:
        """The middle column: the input, the prediction and the probability bars."""
        self.input_view = QLabel()
        self.input_view.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.input_view.setFixedSize(INPUT_SIZE, INPUT_SIZE)
        self.answer = QLabel()
        self.answer.setObjectName("answer")
        self.answer.setWordWrap(True)
        self.answer.setTextFormat(Qt.TextFormat.RichText)
        self.chart = adopt_popups(self, lambda: pg.PlotWidget())
        chart = style_plot(self.chart)
        chart.setMenuEnabled(False)
        self.chart.setToolTip("The probability of each class (the true one outlined)")
        chart.setYRange(0, 1)
        self.bars = pg.BarGraphItem(x=[], height=[], width=0.7, brush=PALETTE[0])
        self.truth_bar = pg.BarGraphItem(x=[], height=[], width=0.7, brush=None,
                                         pen=pg.mkPen(PALETTE[2], width=2))
        chart.addItem(self.bars)
        chart.addItem(self.truth_bar)
        self.chart.setMinimumSize(CHART_MIN_WIDTH, CHART_MIN_HEIGHT)
        # The answer on top, then the input beside the bars: the chart gets the column's height.
        row = QHBoxLayout()
        row.addWidget(self.input_view, 0, Qt.AlignmentFlag.AlignTop)
        row.addWidget(self.chart, 1)
        middle = QVBoxLayout()
        middle.addWidget(self.answer)
        middle.addLayout(row, 1)
        return middle

    # ---- choosing the weights ---------------------------------------------------------------------

    def _weights_picked(self, _index: int) -> None:
        self._user_chose = True
        self.reload()

    def set_runs(self, runs: list) -> None:
        """Offer each run with a checkpoint (newest first) besides the untrained design; the run
        trained here is chosen in place of the untrained design once it has weights."""
        current = self.weights.currentData()
        self.weights.clear()
        self.weights.addItem("Untrained design", UNTRAINED)
        for run in runs:
            if (Path(run.dir) / "checkpoints").is_dir():
                self.weights.addItem(f"{run.name} · {run.status.replace('_', ' ')}",
                                     str(run.dir))
        index = self.weights.findData(current)
        trained = self.weights.findData(self._follow) if self._follow else -1
        if trained < 0 and self._just_opened and self.weights.count() > 1 \
                and not self._user_chose:
            trained = 1  # a design opened with runs: its newest run's weights, not untrained
        self._just_opened = False
        if trained >= 0 and (current in (None, UNTRAINED) or not self._user_chose):
            self._follow = None  # once: a later choice of the untrained design stays
            self.weights.setCurrentIndex(trained)
            self._look_again()
            return
        self.weights.setCurrentIndex(max(index, 0))
        if index < 0 and current != UNTRAINED:
            self.reload()

    def use_run(self, run_dir: str | None) -> None:
        """Answer with ``run_dir``'s weights (None: the untrained design)."""
        data = str(run_dir) if run_dir else UNTRAINED
        if self.weights.findData(data) < 0:
            self.weights.addItem(Path(data).name, data)
        self.weights.setCurrentIndex(self.weights.findData(data))
        self.reload()

    def _design_replaced(self, _design) -> None:
        self._reset()

    def _reset(self) -> None:
        """After New/Open: the untrained new design, no runs of the old one (the newest run of
        the design opened is chosen once its runs are listed)."""
        self._user_chose = False
        self._just_opened = True
        self.weights.clear()
        self.weights.addItem("Untrained design", UNTRAINED)
        self.model = self.samples = self.prediction = None
        self.input = self.true_label = None  # a drawing or typed row was for the old design
        self.pad.clear()
        self.outputs = {}
        self.node_id = None
        self._live_run = self._follow = None
        self._live_timer.stop()
        self.preview.clear("Select a layer on the canvas to see its output.")
        self._stale = True
        if self.isVisible():
            self._timer.start()

    def _design_changed(self, _report) -> None:
        if self.weights.currentData() == UNTRAINED:
            self._look_again()

    def _look_again(self) -> None:
        """Look again now when on screen, else when next shown."""
        self._stale = True
        if self.isVisible():
            self._timer.start()

    def showEvent(self, event) -> None:  # noqa: N802 (Qt name)
        super().showEvent(event)
        if self._stale:
            self._timer.start(0)

    def reload(self) -> None:
        """Open the chosen weights and their samples (in the background), then look again."""
        run_dir = self.weights.currentData() or None
        if not run_dir and not self.document.report.ok:
            self.status.setText("Fix the design's errors to try it.")
            return
        loader = heavy_imports()
        if loader.loading:  # PyTorch is still loading in the background: try once it is there
            self.status.setText(loader.describe())
            loader.when_loaded(self.reload, receiver=self)
            return
        self._stale = False
        text = None if run_dir else self.document.snapshot()
        base = str(self.document.path.parent) if self.document.path else None
        live = bool(run_dir) and run_dir == self._live_run  # training: its newest weights
        checkpoint = "last" if live else "best"
        self.status.setText("Loading the model and the test split…")
        self.status.setToolTip("")
        self._submit(lambda: lambda: _open(text, run_dir, checkpoint, base),
                     lambda result: self._opened(result, live))

    def _opened(self, result, live: bool = False) -> None:
        self.model, self.samples = result
        samples = self.samples
        self._caption(live)
        self.index.blockSignals(True)
        self.index.setRange(0, max(len(samples) - 1, 0))
        self.index.blockSignals(False)
        shape = tuple(samples.inputs.shape[1:])
        for widget in (self.pad, self.clear_button, self.open_button):  # pictures only
            widget.setVisible(len(shape) == 3)
        self.features.setVisible(len(shape) == 1)
        if self.input is not None and tuple(self.input.shape[1:]) == shape \
                and self.true_label is None:
            self._look(self.input, None)  # keep a drawn or typed input across a reload
        else:
            self.show_sample()

    def _caption(self, live: bool) -> None:
        """Say which weights answer (those loaded: a run's best, its last when it has no best,
        or its newest while it trains here) and on what samples; the tooltip names the run."""
        model, samples = self.model, self.samples
        if model.source == "untrained":
            weights, whose = "untrained (initialized from the design's seed)", ""
        else:
            weights = "newest weights (still training)" if live else f"{model.source} weights"
            whose = f" of {model.run_dir.name}"
        data = f"{len(samples)} samples of the {samples.split} split"
        self.status.setText(f"{weights} · {data}")  # the weights box names the run
        self.status.setToolTip(f"{weights}{whose} · {data}")

    # ---- choosing the sample ------------------------------------------------------------------------

    def show_sample(self) -> None:
        """The test sample the index names (the pad's old drawing is wiped: it is not what is
        shown any more)."""
        if self.samples is None or not len(self.samples):
            return
        self.pad.clear()
        i = self.index.value()
        self._look(self.samples.inputs[i:i + 1], self.samples.label(i))

    def _random(self) -> None:
        if self.samples is not None and len(self.samples):
            i = int(np.random.default_rng().integers(len(self.samples)))
            if i == self.index.value():
                self.show_sample()  # the same index: no valueChanged, but a look all the same
            self.index.setValue(i)

    def try_drawing(self, picture: np.ndarray) -> None:
        """A digit drawn on the pad, framed as the data's pictures are (see ``frame_drawing``)."""
        if self.samples is None:
            return
        from runtime.inspect import frame_drawing

        self.try_picture(frame_drawing(self.samples, picture))

    def try_picture(self, picture: np.ndarray) -> None:
        """A drawn or loaded picture (values in [0, 1]) as the input."""
        if self.samples is None:
            return
        from runtime.inspect import sample_from_picture

        shape = tuple(self.samples.inputs.shape[1:])
        self._look(sample_from_picture(self.samples, picture, shape), None)

    def _open_image(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Open an image to try", str(Path.home()),
                                              "Images (*.png *.jpg *.jpeg *.bmp *.gif);;All files (*)")
        if path and self.samples is not None:
            from runtime.inspect import picture_from_file

            try:
                self.try_picture(picture_from_file(path, tuple(self.samples.inputs.shape[1:])))
                self.pad.clear()
            except ValueError as exc:
                self.status.setText(str(exc))

    def _typed(self) -> None:
        if self.samples is None:
            return
        from runtime.inspect import sample_from_features

        try:
            values = [float(v) for v in self.features.text().replace(";", ",").split(",")
                      if v.strip()]
            x = sample_from_features(self.samples, values)
        except ValueError as exc:
            self.status.setText(f"Features: {exc}")
            return
        self.pad.clear()
        self._look(x, None)

    # ---- looking -------------------------------------------------------------------------------------

    def _look(self, x, true_label: str | None) -> None:
        self.input, self.true_label = x, true_label

        def work():
            model, samples = self.model, self.samples  # those of when the task starts
            return lambda: _look(model, samples, x)
        self._submit(work, self._show)

    def _submit(self, make_work: Callable[[], Callable[[], Any]],
                done: Callable[[Any], None]) -> None:
        """Run ``make_work()`` (made when the task starts) in the background, one task at a
        time; a request made meanwhile waits, replacing any that already waited."""
        def start() -> None:
            if done == self._show and self.model is None:
                return  # nothing to look with yet: opening the model shows the sample
            self._busy = True
            run_task(make_work(), lambda result: self._finished(done, result),
                     lambda message: self._finished(self._failed, message), receiver=self,
                     needs=("runtime.inspect", "graph.fileformat"))
        if self._busy:
            self._waiting = start
        else:
            start()

    def _finished(self, callback: Callable[[Any], None], value: Any) -> None:
        self._busy = False
        waiting, self._waiting = self._waiting, None
        callback(value)
        if waiting is None:
            return
        if self._busy:  # the callback started work of its own (a look with the model it
            self._waiting = waiting  # opened): the request, made later, still comes after it
        else:
            waiting()

    def _failed(self, message: str) -> None:
        self.status.setText(message)
        self.status.setToolTip("")

    def _show(self, result) -> None:
        self.prediction, self.outputs = result
        x = self.input[0].float().numpy()
        self.input_view.setPixmap(sample_pixmap(x, INPUT_SIZE))
        p, samples = self.prediction, self.samples
        truth = f" · true: <b>{self.true_label}</b>" if self.true_label is not None else ""
        if p.probabilities is not None:
            names = samples.class_names
            probs = p.probabilities
            self.bars.setOpts(x=np.arange(len(probs)), height=probs, width=0.7)
            true_index = names.index(self.true_label) if self.true_label in names else None
            self.truth_bar.setOpts(x=[true_index] if true_index is not None else [],
                                   height=[1.0] if true_index is not None else [], width=0.7)
            axis = self.chart.getPlotItem().getAxis("bottom")
            axis.setTicks([list(enumerate(names))] if len(names) <= 20 else None)
            self.chart.getPlotItem().setXRange(-0.6, len(probs) - 0.4, padding=0)
            self.chart.show()
            self.answer.setText(f"Prediction: <b>{names[p.predicted]}</b> "
                                f"({probs[p.predicted]:.0%}){truth}")
        else:
            self.chart.hide()
            value = ", ".join(f"{v:.4g}" for v in p.value)
            self.answer.setText(f"Prediction: <b>{value}</b>{truth}")
        self.show_layer(self.node_id)
        self.looked.emit()

    # ---- the layer preview -------------------------------------------------------------------------

    def show_layer(self, node_id: str | None) -> None:
        """Preview ``node_id``'s output for the current sample."""
        self.node_id = node_id
        design = self.document.design
        if node_id is None or not design.has_node(node_id):
            self.preview.clear("Select a layer on the canvas to see its output.")
            return
        name = design.node(node_id).name
        out = self.outputs.get(node_id)
        if out is None:
            self.preview.clear(f"{name}: no output yet (it is not on the way to an Output, "
                               "or the model is still loading).")
            return
        attention = out.attention.numpy() if out.attention is not None else None
        self.preview.show_output(name, out.kind, out.tensor.numpy(), attention)

    def follow_selection(self, node_ids: list[str]) -> None:
        if len(node_ids) == 1:
            self.show_layer(node_ids[0])

    # ---- live during training -----------------------------------------------------------------------

    def run_started(self, run_dir: str) -> None:
        self._live_run = self._follow = run_dir

    def run_finished(self, result: dict) -> None:
        """The run trained here ended: its best weights answer from now on (as the weights box
        says and Results evaluates), no longer its newest."""
        run_dir = str(result.get("run_dir") or "")
        if not run_dir or run_dir != self._live_run:
            return
        self._live_run = None
        self._live_timer.stop()  # its newest weights are its last: the best answer now
        if self.weights.currentData() == run_dir:
            self._look_again()

    def training_event(self, event: dict) -> None:
        """The run training here saved its newest weights: try them, at most twice a second
        (until its first checkpoint the page keeps the weights it has: the run has none yet)."""
        if event.get("event") != "checkpoint" or event.get("kind") != "last" \
                or not self._live_run:
            return
        if self._user_chose and self.weights.currentData() not in (self._live_run, UNTRAINED):
            return  # the user picked other weights: keep them
        if self.weights.findData(self._live_run) < 0:
            self.weights.addItem(f"{Path(self._live_run).name} · live", self._live_run)
        self.weights.setCurrentIndex(self.weights.findData(self._live_run))
        self._stale = True  # looked at when next shown, if not on screen now
        if self.isVisible() and not self._live_timer.isActive():  # else a look is due already
            self._live_timer.start()

    # ---- what a link carries --------------------------------------------------------------------

    def link_tooltip(self, edge) -> str | None:
        """Rich text for hovering ``edge`` on the canvas: a thumbnail of the tensor it carries
        for the current sample (None before the page has looked at one)."""
        out = self.outputs.get(edge.src)
        design = self.document.design
        if out is None or not design.has_node(edge.src) or not design.has_node(edge.dst):
            return None
        shape = "×".join(str(s) for s in out.tensor.shape)
        attention = out.attention.numpy() if out.attention is not None else None
        picture = pixmap_html(tensor_thumbnail(out.kind, out.tensor.numpy(), attention))
        names = [html.escape(design.node(n).name) for n in (edge.src, edge.dst)]
        return (f"<p style='margin:0'><b>{names[0]} → {names[1]}</b></p>"
                f"<p style='margin:0'>{shape} for the sample on the Try page</p>"
                f"<p style='margin-top:6px; margin-bottom:0'>{picture}</p>")


class LinkTooltips(QObject):
    """Shows ``provider(edge)`` as the tooltip of the link under the mouse in ``view`` (the
    canvas); links without one keep their usual behaviour."""

    def __init__(self, view: QGraphicsView, provider: Callable[[Any], str | None]):
        super().__init__(view)
        self.view, self.provider = view, provider
        view.viewport().installEventFilter(self)

    def eventFilter(self, obj: QObject, event: QEvent) -> bool:  # noqa: N802 (Qt name)
        if event.type() != QEvent.Type.ToolTip:
            return False
        item = self.view.itemAt(event.pos())
        while item is not None and not hasattr(item, "edge"):
            item = item.parentItem()
        text = self.provider(item.edge) if item is not None else None
        if text is None:
            return False
        QToolTip.showText(event.globalPos(), text, self.view.viewport())
        return True
