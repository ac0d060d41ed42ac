"""The training panel: device, settings, Train / Pause / Stop and progress.

Settings are the design's ``training`` section, edited through :class:`SetSettingsCommand` so
they undo like any edit; the form follows the model's ``settings_changed`` event. The device list
shows what is really there (read in the background, since it imports torch).
"""
from __future__ import annotations

import math
import time
from typing import Any

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtWidgets import (QCheckBox, QComboBox, QFormLayout, QGridLayout, QGroupBox,
                               QHBoxLayout, QLabel,
                               QPushButton, QScrollArea, QVBoxLayout, QWidget)

from graph.design import Design
from graph import metrics as M
from graph.settings import METRIC_CHOICES, TRAINING_GROUPS, TRAINING_PARAMS

from ..document import Document
from ..editing import SettingsEdit
from ..loading import heavy_imports
from ..widgets.fitted import ElidedLabel, PartsProgressBar
from ..widgets.params import compact_combo
from .controller import TrainingController
from .form import ParamForm
from .runner import IDLE, PAUSED, RUNNING, STARTING, STOPPING
from .tasks import run_task

_BY_NAME = {p.name: p for p in TRAINING_PARAMS}
PROGRESS_EVERY_S = 0.1  # the progress bar shows a new step at most this often
METRIC_COLUMNS = 2  # "macro precision" and "top-5 accuracy" side by side still fit the dock
STATUS_LINES = 2  # an epoch's losses and accuracy fit in two lines of the dock


def list_devices() -> list[tuple[str, str]]:
    """``(setting, label)`` for "auto" and every device torch can use here."""
    from runtime.devices import available_devices

    return [("auto", "Auto (best available)")] + [(d.id, d.describe()) for d in
                                                   available_devices()]


def fmt_duration(seconds: float | None) -> str:
    if seconds is None or not math.isfinite(seconds):
        return "–"
    seconds = int(round(seconds))
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


def fmt_rate(rate: float | None) -> str:
    if rate is None or not math.isfinite(rate):
        return "–"
    return f"{rate / 1000:.1f}k" if rate >= 1000 else f"{rate:.0f}"


NBSP = "\u00a0"  # a space a wrapped line does not break at

STAGES = {"checking settings": "checking the settings", "loading data": "loading the data",
          "compiling": "building the model", "preparing": "preparing the first step"}


class TrainingPanel(QWidget):
    """Edits the design's training settings and drives the controller."""

    ended = Signal()  # the run said it ended (before its process has exited)

    def __init__(self, document: Document, controller: TrainingController,
                 parent: QWidget | None = None):
        super().__init__(parent)
        self.document, self.controller = document, controller
        self.design: Design | None = None

        self.scroll = scroll = self._settings_area(document)

        # Run controls and progress.
        self.train_button = QPushButton("Train")
        self.train_button.setToolTip("Train a snapshot of this design in a separate process")
        self.pause_button = QPushButton("Pause")
        self.stop_button = QPushButton("Stop")
        self.stop_button.setToolTip("Stop after the current step, keeping a checkpoint")
        self.train_button.clicked.connect(self.start_training)
        self.pause_button.clicked.connect(self._pause_or_resume)
        self.stop_button.clicked.connect(controller.stop)
        buttons = QHBoxLayout()
        for b in (self.train_button, self.pause_button, self.stop_button):
            buttons.addWidget(b)
        self.progress = PartsProgressBar()
        self.progress.setRange(0, 1000)
        self.run_folder = ElidedLabel()  # where the run writes; the whole path as tooltip
        self.run_folder.setObjectName("muted")
        self.run_folder.setVisible(False)
        # What the run does, in two lines at most (all of it in the tooltip): a longer text
        # never pushes the run folder or the settings out of the way.
        self.status = ElidedLabel(self._idle_text(), mode=Qt.TextElideMode.ElideRight,
                                  lines=STATUS_LINES)
        self.messages = QLabel()  # the run's warnings and notes, kept until the next run
        self.messages.setWordWrap(True)
        self.messages.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.messages.setVisible(False)

        layout = QVBoxLayout(self)
        layout.addWidget(scroll, 1)
        layout.addWidget(self.run_folder)
        layout.addWidget(self.status)  # text of changing length above the controls, so
        layout.addWidget(self.messages)  # that Train/Pause/Stop never move under the mouse
        layout.addWidget(self.progress)
        layout.addLayout(buttons)

        self._total_epochs = 0
        self._steps_per_epoch = 0
        self._eta: tuple[float, float] | None = None  # the newest ETA and when it came
        self._started = (0.0, 0)  # the start event's time and first epoch (for the ETA)
        self._ended = False  # the child said "end"; its process may take a while to exit
        self._epochs_completed: int | None = None  # the "end" event's (= status.json's)
        self._pending_progress: tuple[int, list] | None = None  # shown at most every 0.1 s
        self._pending_status: str | None = None  # the newest epoch's line, shown with it
        self._progress_shown = 0.0
        self._progress_timer = QTimer(self)
        self._progress_timer.setSingleShot(True)
        self._progress_timer.timeout.connect(self._flush_progress)
        controller.event.connect(self._on_event)
        controller.run_finished.connect(self._on_finished)
        controller.state_changed.connect(self._on_state)
        document.design_replaced.connect(self._bind)
        document.design_replaced.connect(self._design_replaced)  # a method: goes with the panel
        self._bind(document.design)
        self._on_state(controller.state)
        run_task(list_devices, self._set_devices, receiver=self, needs=("runtime.devices",))
        if heavy_imports().loading:
            heavy_imports().progress.connect(self._loading)
            heavy_imports().finished.connect(self._loaded)

    def _settings_area(self, document: Document) -> QScrollArea:
        """The device, the settings generated from their declarations (grouped) and the
        metrics, in a scroll area."""
        # Device.
        self.device_combo = compact_combo(QComboBox(), 12)
        self.device_combo.setObjectName("device")
        self.device_combo.setToolTip(_BY_NAME["device"].doc)
        self.device_combo.addItem("Auto (best available)", "auto")
        self.device_combo.activated.connect(
            lambda i: self._edit("device", self.device_combo.itemData(i), whole=True))

        # Settings, generated from the declarations and grouped.
        self.forms: dict[str, ParamForm] = {}
        settings = QVBoxLayout()
        device_box = QGroupBox("Device")
        QFormLayout(device_box).addRow("Train on", self.device_combo)
        settings.addWidget(device_box)
        for title, names in TRAINING_GROUPS:
            box = QGroupBox(title)
            form = ParamForm([_BY_NAME[n] for n in names])
            form.edited.connect(self._edit)
            form.finished.connect(document.edits.seal)
            QVBoxLayout(box).addWidget(form)
            self.forms[title] = form
            settings.addWidget(box)
        metrics_box = QGroupBox("Metrics")
        metrics_layout = QGridLayout(metrics_box)  # a few per row: fits a narrow dock
        self.metric_boxes: dict[str, QCheckBox] = {}
        for i, metric in enumerate(METRIC_CHOICES):
            box = QCheckBox(M.METRICS[metric].label)
            box.setToolTip(f"{M.METRICS[metric].description} ({M.METRICS[metric].task})")
            box.toggled.connect(self._metrics_edited)
            self.metric_boxes[metric] = box
            metrics_layout.addWidget(box, *divmod(i, METRIC_COLUMNS))
        settings.addWidget(metrics_box)
        settings.addStretch(1)
        inner = QWidget()
        inner.setLayout(settings)
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QScrollArea.Shape.NoFrame)
        scroll.setWidget(inner)
        return scroll

    # ---- model ↔ view ---------------------------------------------------------------------------

    def _bind(self, design: Design) -> None:
        if self.design is not None:
            self.design.settings_changed.disconnect(self._on_settings_changed)
        self.design = design
        design.settings_changed.connect(self._on_settings_changed)
        self.refresh()

    def _on_settings_changed(self, section: str) -> None:
        if section == "training":
            self.refresh()

    def refresh(self) -> None:
        """Show the design's training settings."""
        training = self.design.training
        for form in self.forms.values():
            form.set_values(training)
        self._select_device(training.get("device", "auto"))
        chosen = {m.strip() for m in str(training.get("metrics", "")).split(",") if m.strip()}
        for metric, box in self.metric_boxes.items():
            box.blockSignals(True)
            box.setChecked(metric in chosen)
            box.blockSignals(False)

    def _select_device(self, device: str) -> None:
        index = self.device_combo.findData(device)
        if index < 0:  # a device this machine lacks (the design came from elsewhere)
            self.device_combo.addItem(f"{device} (not available here)", device)
            index = self.device_combo.count() - 1
        self.device_combo.setCurrentIndex(index)

    @staticmethod
    def _idle_text() -> str:
        """"Ready", or what is still loading in the background (training itself runs in its
        own process, so Train works already)."""
        loading = heavy_imports().describe()
        return f"{loading} (Train works already)" if loading else "Ready"

    def _loading(self, _what: str) -> None:
        if self.status.full_text().startswith("Loading"):
            self.status.set_full_text(self._idle_text())

    def _loaded(self, error: str) -> None:
        if self.status.full_text().startswith("Loading"):
            self.status.set_full_text(error or "Ready")

    def _set_devices(self, devices: list[tuple[str, str]]) -> None:
        self.device_combo.clear()
        for setting, label in devices:
            self.device_combo.addItem(label, setting)
        self._select_device(self.design.training.get("device", "auto"))

    def _edit(self, name: str, value: Any, whole: bool = False) -> None:
        """Push one setting's change through the document's edit session: the changes of one
        gesture merge into one undo step (``whole``: a step of its own)."""
        training = dict(self.design.training)
        if training.get(name) == value:
            return
        training[name] = value
        command = SettingsEdit(self.design, "training", training,
                               f"Set {_BY_NAME[name].title.lower()}")
        edits = self.document.edits
        edits.push_whole(command) if whole else edits.push(command)

    def _metrics_edited(self) -> None:
        chosen = [m for m, box in self.metric_boxes.items() if box.isChecked()]
        self._edit("metrics", ",".join(chosen), whole=True)

    # ---- runs ----------------------------------------------------------------------------------

    def start_training(self) -> None:
        try:
            run_dir = self.controller.train()
        except ValueError as exc:
            self._show_messages([])
            self._fail("Not started", str(exc))
            return
        self._total_epochs = int(self.design.training.get("epochs", 0))
        self._steps_per_epoch = 0
        self._ended = False
        self.progress.setValue(0)
        self.progress.set_parts([("starting the training process…", 0)])
        self.run_folder.set_full_text(f"Run folder: {run_dir}")
        self.run_folder.setVisible(True)
        self.status.set_full_text("Starting…")

    def _pause_or_resume(self) -> None:
        if self.controller.state == PAUSED:
            self.controller.resume()
        else:
            self.controller.pause()

    def _on_state(self, state: str) -> None:
        self._flush_progress()
        if state == STARTING:
            self._ended = False
            self._epochs_completed = None
            self._show_messages([])
        active = state != IDLE
        self.train_button.setEnabled(not active)
        self.pause_button.setEnabled(state in (RUNNING, PAUSED) and not self._ended)
        self.pause_button.setText("Resume" if state == PAUSED else "Pause")
        self.stop_button.setEnabled(state in (RUNNING, PAUSED, STARTING) and not self._ended)
        if state == PAUSED:
            self.progress.set_suffix("paused")
            self.status.set_full_text("Paused: Resume continues the same curve")
        elif state == STOPPING:
            self.status.set_full_text("Stopping after this step…")
        elif state == RUNNING and self.status.full_text().startswith("Paused"):
            self.progress.set_suffix("")
            self.status.set_full_text("Resumed")

    def _design_replaced(self, _design) -> None:
        self._reset()

    def _reset(self) -> None:
        """Forget the previous design's run (New / Open): Ready, an empty progress bar."""
        if self.controller.busy:
            return  # a run of the old design still reports here until it ends
        self._pending_progress = None
        self.progress.setValue(0)
        self.progress.set_parts([])
        self.run_folder.set_full_text("")
        self.run_folder.setVisible(False)
        self.status.set_full_text(self._idle_text())
        self._show_messages([])
        self._total_epochs = self._steps_per_epoch = 0
        self._eta, self._started = None, (0.0, 0)

    def _show_messages(self, lines: list[str]) -> None:
        """The run's warnings (⚠) and notes (ℹ) under the status line; hidden when none."""
        self.messages.setText("\n".join(lines))
        self.messages.setVisible(bool(lines))

    def _fail(self, what: str, why: str) -> None:
        """``what`` happened ("Run failed") on the status line, ``why`` whole and selectable
        under it (the status' two lines would cut a long reason)."""
        line = f"✗ {why}"
        current = self.messages.text().split("\n") if self.messages.text() else []
        if why and line not in current:
            self._show_messages(current + [line])
        self.status.set_full_text(f"{what}; the reason is below" if why else what)

    def _add_messages(self, event: dict) -> None:
        lines = [f"⚠ {w}" for w in event.get("warnings") or ()]
        lines += [f"ℹ {n}" for n in event.get("notes") or ()]
        if event.get("event") == "warning" and event.get("message"):
            lines.append(f"⚠ {event['message']}")
        if lines:
            current = self.messages.text().split("\n") if self.messages.text() else []
            self._show_messages(current + lines)

    def _on_event(self, event: dict) -> None:
        kind = event.get("event")
        if kind == "stage":  # what the child does before the first epoch
            self.progress.set_parts([(f"{STAGES.get(event.get('stage'), event.get('stage'))}…", 0)])
        elif kind == "end":  # the run is over: nothing left to pause or stop
            self._ended = True
            done = event.get("epochs_completed")
            self._epochs_completed = done if isinstance(done, int) else None
            self.pause_button.setEnabled(False)
            self.stop_button.setEnabled(False)
            self.ended.emit()
        if kind in ("start", "warning"):
            self._add_messages(event)
        if kind == "start":
            self._total_epochs = int(event.get("epochs") or self._total_epochs or 0)
            self._steps_per_epoch = int(event.get("steps_per_epoch") or 0)
            self._started = (float(event.get("time") or 0.0), int(event.get("start_epoch") or 0))
            device = event.get("device_name") or event.get("device")
            if device:
                self.status.set_full_text(f"Training on {device}")
            self.progress.set_parts([("first step…", 0)])
        elif kind == "step":
            self._show_progress(event)
        elif kind == "epoch":
            parts = [f"epoch {event.get('epoch')}"]
            for key in ("train_loss", "val_loss", "val_accuracy"):
                value = event.get(key)
                if isinstance(value, (int, float)):
                    parts.append(f"{M.label(key)} {value:.4g}")
            # Lines break between "name value" parts only, never inside one.
            self._pending_status = " · ".join(p.replace(" ", NBSP) for p in parts)
            self._show_progress(event)
        elif kind == "error":
            self._flush_progress()
            self._fail("Run failed", str(event.get("message", "")))

    def _show_progress(self, event: dict) -> None:
        """Progress from a step event, or from an epoch event (which ends that epoch)."""
        step = int(event.get("step", 0))
        epoch = event.get("epoch", 0)
        total_steps = self._steps_per_epoch * self._total_epochs
        if total_steps:
            fraction = step / total_steps
        elif self._total_epochs:
            fraction = float(epoch) / self._total_epochs
        else:
            fraction = 0.0
        eta = event.get("eta_s") if event.get("event") == "step" else self._epochs_eta(event)
        if eta is not None:
            self._eta = (float(eta), time.monotonic())
        # What the bar says, by rank: where it is too narrow, the step goes first, then the
        # speed; the epoch and the ETA stay (everything is in the tooltip).
        self._pending_progress = (
            int(1000 * min(max(fraction, 0.0), 1.0)),
            [(f"epoch {epoch}/{self._total_epochs or '?'}", 0), (f"step {step}", 3),
             (f"{fmt_rate(event.get('samples_per_s'))} samples/s", 2),
             (f"ETA {fmt_duration(self._eta_left())}", 1)])
        wait_ms = int((self._progress_shown + PROGRESS_EVERY_S - time.monotonic()) * 1000)
        if wait_ms <= 0:
            self._flush_progress()
        elif not self._progress_timer.isActive():
            self._progress_timer.start(wait_ms)

    def _epochs_eta(self, event: dict) -> float | None:
        """Time left from an epoch event: the run's time per epoch so far times the epochs
        left (a run whose epochs are shorter than the step interval sends no step events)."""
        start_time, start_epoch = self._started
        done, now = int(event.get("epoch") or 0) - start_epoch, event.get("time")
        if done <= 0 or not self._total_epochs or not isinstance(now, (int, float)):
            return None
        return (now - start_time) / done * max(0, self._total_epochs - done - start_epoch)

    def _eta_left(self) -> float | None:
        """The newest estimate (a step event's, or one from the epochs so far), less the time
        since it came: "–" after each epoch event, which carries none, hid it for whole runs."""
        if self._eta is None:
            return None
        eta, since = self._eta
        return max(0.0, eta - (time.monotonic() - since))

    def _flush_progress(self) -> None:
        """Show the newest progress (and epoch line). A progress bar repaints at once on each
        new value and the status lays its text out again, so a burst of events (a fast run, or
        after the window was busy) shows only its last."""
        if self._pending_status is not None:
            self.status.set_full_text(self._pending_status)
            self._pending_status = None
        if self._pending_progress is None:
            return
        value, parts = self._pending_progress
        self._pending_progress = None
        self._progress_shown = time.monotonic()
        # QProgressBar.setValue repaints at once; held, the bar is painted with the next frame.
        self.progress.setUpdatesEnabled(False)
        self.progress.setValue(value)
        paused = self.controller.state == PAUSED
        self.progress.set_parts(parts, "epoch, optimizer step, training samples per second and "
                                       "the estimated time left")
        if paused:
            self.progress.set_suffix("paused")
        self.progress.setUpdatesEnabled(True)

    def _on_finished(self, result: dict) -> None:
        self._flush_progress()
        status, message = result["status"], result.get("message") or ""
        if status == "completed":
            self.progress.setValue(1000)
        if not self.progress.full_text().startswith("epoch"):  # ended before any progress
            self.progress.set_parts([])
        self.progress.drop_part("ETA")
        if self._epochs_completed is not None:  # the epochs done, as the Runs page lists them
            self.progress.replace_part("epoch ", f"epoch {self._epochs_completed}/"
                                                 f"{self._total_epochs or '?'}")
        self.progress.set_suffix(status)
        if status == "completed" or not message:
            self.status.set_full_text(f"Run {status}")
        else:
            self._fail(f"Run {status}", message)

    def closeEvent(self, event) -> None:  # noqa: N802 (Qt)
        if self.design is not None:
            self.design.settings_changed.disconnect(self._on_settings_changed)
        super().closeEvent(event)
