"""The editor window: canvas in the middle, palette on the left, inspector on the right, and
diagnostics / summary / code tabs at the bottom.

The window owns the file workflow — New, Open, Open Recent, Examples, Save, Save As, a prompt
before unsaved changes are lost, ``.json`` files dropped on the window, autosave and crash
recovery — and wires the panels to the canvas. Editing itself happens in the canvas and the
inspector, through the document's undo stack.
"""
from __future__ import annotations

import json
import re
from pathlib import Path

from PySide6.QtCore import QByteArray, QEvent, QObject, QSize, Qt, QTimer
from PySide6.QtGui import QAction, QCloseEvent, QIcon, QKeySequence
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QDockWidget,
    QFileDialog,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QMainWindow,
    QMessageBox,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from graph.design import DEFAULT_NAME
from graph.fileformat import DesignFileError, load
from graph.summary import human_count
from graph.validate import Report
from ui.canvas.view import CanvasView
from ui.commands import SetDesignInfoCommand
from ui.canvas.zoom import ZoomBox
from ui.document import Document
from ui.files import (AutosaveEntry, Autosaver, RecentFiles, app_settings, data_dir,
                      distinct_labels, find_recoverable)
from ui.inspector import Inspector
from ui.palette import Palette
from ui.panels import CodePanel, DiagnosticsPanel, SummaryPanel
from ui.training.try_page import LinkTooltips
from ui.widgets.screen import clamp_to_screen, open_fitted
from ui.training.workspace import DOCK_FEATURES, TrainingWorkspace, fit_bottom_dock

RESOURCES = Path(__file__).resolve().parents[1] / "resources"
EXAMPLES = RESOURCES / "examples"
ICONS = RESOURCES / "icons"
FILE_FILTER = "Netwright designs (*.json);;All files (*)"
PREFERRED_SIZE = QSize(1400, 900)  # the first window on a screen with room for it
BOTTOM_DOCK_HEIGHT = 270  # px: the Summary's six rows and Total line at 1280×800


def icon(name: str) -> QIcon:
    path = ICONS / f"{name}.svg"
    return QIcon(str(path)) if path.exists() else QIcon()


def examples() -> list[tuple[str, Path]]:
    """``(design name, path)`` of every shipped example, sorted by name."""
    out = []
    for path in sorted(EXAMPLES.glob("*.json")):
        try:
            name = json.loads(path.read_text(encoding="utf-8")).get("name") or path.stem
        except (OSError, ValueError, AttributeError):
            continue
        out.append((str(name), path))
    return sorted(out, key=lambda pair: pair[0].lower())


def is_example(path: Path) -> bool:
    try:
        return Path(path).resolve().parent == EXAMPLES.resolve()
    except OSError:
        return False


def _json_urls(mime) -> list[Path]:
    if not mime.hasUrls():
        return []
    return [Path(u.toLocalFile()) for u in mime.urls()
            if u.isLocalFile() and u.toLocalFile().lower().endswith(".json")]


class RecoveryDialog(QDialog):
    """Lists autosaves left by sessions that did not exit cleanly. *Recover* opens the selected
    one (:attr:`chosen`); *Discard* deletes it; *Not now* keeps them for the next start."""

    def __init__(self, entries: list[AutosaveEntry], parent: QWidget | None = None):
        super().__init__(parent)
        self.setWindowTitle("Recover unsaved work")
        self.setMinimumWidth(520)
        self.chosen: AutosaveEntry | None = None
        layout = QVBoxLayout(self)
        text = QLabel("Netwright did not close properly last time. These designs had unsaved "
                      "changes:")
        text.setWordWrap(True)
        layout.addWidget(text)
        self.list = QListWidget()
        # Rows as wide as the list: a long path loses its middle, not its file name, and
        # nothing scrolls sideways; the tooltip has it whole.
        self.list.setTextElideMode(Qt.TextElideMode.ElideMiddle)
        self.list.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.list.setSpacing(2)
        for entry in entries:
            item = QListWidgetItem(entry.describe())
            item.setToolTip(entry.describe())
            item.setData(Qt.ItemDataRole.UserRole, entry)
            self.list.addItem(item)
            item.setSizeHint(QSize(0, self.list.sizeHintForRow(self.list.row(item))))
        self.list.setCurrentRow(0)
        layout.addWidget(self.list)
        buttons = QDialogButtonBox()
        self.recover_button = buttons.addButton("Recover", QDialogButtonBox.ButtonRole.AcceptRole)
        self.discard_button = buttons.addButton("Discard", QDialogButtonBox.ButtonRole.DestructiveRole)
        self.later_button = buttons.addButton("Not now", QDialogButtonBox.ButtonRole.RejectRole)
        self.recover_button.setDefault(True)
        self.recover_button.clicked.connect(self._recover)
        self.discard_button.clicked.connect(self._discard)
        self.later_button.clicked.connect(self.reject)
        layout.addWidget(buttons)

    def _current(self) -> AutosaveEntry | None:
        item = self.list.currentItem()
        return item.data(Qt.ItemDataRole.UserRole) if item is not None else None

    def _recover(self) -> None:
        self.chosen = self._current()
        if self.chosen is not None:
            self.accept()

    def _discard(self) -> None:
        entry = self._current()
        if entry is None:
            return
        entry.delete()
        self.list.takeItem(self.list.currentRow())
        if self.list.count() == 0:
            self.reject()


def _dataset_classes(design) -> int | None:
    from graph.settings import dataset_classes

    return dataset_classes(design.data)


class _UrlDropFilter(QObject):
    """Lets ``.json`` files dropped on the canvas open as designs (layer drags still go to the
    canvas)."""

    def __init__(self, window: "MainWindow"):
        super().__init__(window)
        self.window = window

    def eventFilter(self, obj: QObject, event: QEvent) -> bool:  # noqa: N802 (Qt name)
        kind = event.type()
        if kind in (QEvent.Type.DragEnter, QEvent.Type.DragMove, QEvent.Type.Drop) \
                and _json_urls(event.mimeData()):
            event.acceptProposedAction()
            if kind == QEvent.Type.Drop:
                QTimer.singleShot(0, lambda paths=_json_urls(event.mimeData()):
                                  self.window.open_path(paths[0]))
            return True
        return False


class MainWindow(QMainWindow):
    """The editor. ``autosave=False`` and ``remember_layout=False`` are for headless uses such
    as the ``screenshot`` command."""

    def __init__(self, document: Document | None = None, *, autosave: bool = True,
                 remember_layout: bool = True, autosave_dir: Path | None = None,
                 parent: QWidget | None = None):
        super().__init__(parent)
        self.document = document or Document()
        self.remember_layout = remember_layout
        self._restored_geometry = False  # clamped to the screen when first shown
        self.recent = RecentFiles()
        self.setWindowIcon(icon("app"))
        self.setObjectName("mainWindow")
        self.setDockNestingEnabled(True)
        self.setAcceptDrops(True)

        self.canvas = CanvasView(self.document)
        self.setCentralWidget(self.canvas)
        self._url_filter = _UrlDropFilter(self)
        self.canvas.viewport().installEventFilter(self._url_filter)
        self._build_panels()
        self._build_docks()
        self._build_status_bar()
        self._build_actions()
        self._build_menus()
        self._build_toolbar()
        self._connect_signals()

        open_fitted(self, PREFERRED_SIZE)  # a first start fits the screen (saved sizes too)
        self.resizeDocks([self.palette_dock, self.inspector_dock], [220, 330],
                         Qt.Orientation.Horizontal)
        self.resizeDocks([self.bottom_dock], [BOTTOM_DOCK_HEIGHT], Qt.Orientation.Vertical)
        if remember_layout:
            self._restore_layout()

        self.autosaver: Autosaver | None = None
        if autosave:
            self.autosaver = Autosaver(self.document, autosave_dir, parent=self)
            self.autosaver.failed.connect(lambda msg: self.statusBar().showMessage(msg, 10_000))
            self.autosaver.start()

        self._diagnostic_counts(len(self.document.report.errors),
                                len(self.document.report.diagnostics) - len(self.document.report.errors))
        self._report_changed(self.document.report)
        self._pick_bottom_tab()
        self._update_title()

    # ---- construction ----------------------------------------------------------------------------

    def _build_panels(self) -> None:
        """The palette, inspector and the analysis tabs' first pages."""
        self.palette = Palette()
        self.inspector = Inspector(self.document)
        self.diagnostics = DiagnosticsPanel(self.document)
        self.summary = SummaryPanel(self.document)
        self.code = CodePanel(self.document)
        self.bottom_tabs = QTabWidget()
        self.bottom_tabs.setObjectName("bottomTabs")
        self.bottom_tabs.setDocumentMode(True)
        self.bottom_tabs.tabBar().setDrawBase(False)
        # Every tab stays reachable and readable when the dock is narrow: arrows scroll the
        # bar rather than titles being cut or pushed out of sight.
        self.bottom_tabs.tabBar().setUsesScrollButtons(True)
        self.bottom_tabs.tabBar().setElideMode(Qt.TextElideMode.ElideNone)
        self.bottom_tabs.addTab(self.diagnostics, "Diagnostics")
        self.bottom_tabs.addTab(self.summary, "Summary")
        self.bottom_tabs.addTab(self.code, "Code")

    def _build_docks(self) -> None:
        """Layers on the left; inspector, data and training settings on the right; the analysis
        tabs below, the training pages among them."""
        self.palette_dock = self._dock("Layers", "paletteDock", self.palette,
                                       Qt.DockWidgetArea.LeftDockWidgetArea)
        self.inspector_dock = self._dock("Inspector", "inspectorDock", self.inspector,
                                         Qt.DockWidgetArea.RightDockWidgetArea)
        self.bottom_dock = self._dock("Analysis", "bottomDock", self.bottom_tabs,
                                      Qt.DockWidgetArea.BottomDockWidgetArea)
        # Training: data and settings beside the inspector; curves, runs, results and layer
        # stats as pages of the analysis tabs (one tab group per side: Qt leaves stray tab bars
        # behind when a second group is tabified).
        self.training = TrainingWorkspace(self.document, self)
        self.training_docks = self.training.install(self, self.bottom_tabs)
        self.tabifyDockWidget(self.inspector_dock, self.training_docks["data"])
        self.tabifyDockWidget(self.training_docks["data"], self.training_docks["training"])
        self.inspector_dock.raise_()
        self.bottom_dock.raise_()
        self.setCorner(Qt.Corner.BottomLeftCorner, Qt.DockWidgetArea.LeftDockWidgetArea)
        self.setCorner(Qt.Corner.BottomRightCorner, Qt.DockWidgetArea.RightDockWidgetArea)

    def _build_status_bar(self) -> None:
        self.status_label = QLabel()
        self.status_label.setObjectName("statusSummary")
        self.statusBar().addPermanentWidget(self.status_label)
        self.zoom_box = ZoomBox(self.canvas)
        self.statusBar().addPermanentWidget(self.zoom_box)
        self._scope_hint = ""  # the status line's hint while inside a block

    def _connect_signals(self) -> None:
        """The panels, the canvas and the document, wired to each other and to the window."""
        self.inspector.panel_requested.connect(lambda key: self.training_docks[key].raise_())
        self.inspector.block_args_requested.connect(self.canvas.edit_block_args)
        self.inspector_dock.visibilityChanged.connect(self.inspector.come_into_view)
        self.training.diagnostics.health_changed.connect(self.canvas.set_node_health)
        self.palette.add_requested.connect(self.canvas.add_node_at_center)
        self.palette.block_args_requested.connect(self.canvas.edit_block_args)
        self.palette.follow(self.document)
        self.canvas.scope_changed.connect(self._scope_changed)
        self.canvas.status_message.connect(lambda text: self.statusBar().showMessage(text, 5000))
        self.canvas.node_activated.connect(self._node_activated)
        self.canvas.selection_changed.connect(self._selection_changed)
        LinkTooltips(self.canvas, self.training.try_page.link_tooltip)  # what links carry
        self.diagnostics.node_activated.connect(self.focus_node)
        self.summary.node_activated.connect(self.focus_node)
        self.diagnostics.counts_changed.connect(self._diagnostic_counts)
        self.document.modified_changed.connect(self._update_title)
        self.document.path_changed.connect(self._update_title)
        self.document.design_replaced.connect(self._design_replaced)
        self.document.report_changed.connect(self._report_changed)
        self.document.report_changed.connect(self._update_title)  # a renamed design

    def _dock(self, title: str, name: str, widget: QWidget, area: Qt.DockWidgetArea) -> QDockWidget:
        dock = QDockWidget(title, self)
        dock.setObjectName(name)
        dock.setWidget(widget)
        dock.setFeatures(DOCK_FEATURES)
        self.addDockWidget(area, dock)
        return dock

    def _action(self, text: str, slot, shortcut=None, icon_name: str | None = None,
                tip: str | None = None) -> QAction:
        action = QAction(text, self)
        if shortcut is not None:
            action.setShortcut(QKeySequence(shortcut))
        if icon_name:
            action.setIcon(icon(icon_name))
        if tip:
            action.setStatusTip(tip)
            action.setToolTip(tip)
        action.triggered.connect(lambda _checked=False: slot())
        return action

    def _build_actions(self) -> None:
        K = QKeySequence.StandardKey
        self.new_action = self._action("&New", self.new, K.New, "new", "Start a new, empty design")
        self.template_action = self._action(
            "New from &Template…", self.new_from_template, "Ctrl+Shift+N", None,
            "Start a design from a template (MLP, LeNet-5, VGG, ResNet) with its arguments")
        self.template_args_action = self._action(
            "Template &Arguments…", self.edit_template_args, None, None,
            "Change the arguments of the template this design was made from (one undo step)")
        self.open_action = self._action("&Open…", self.open_dialog, K.Open, "open", "Open a design file")
        self.save_action = self._action("&Save", self.save, K.Save, "save", "Save the design")
        self.save_as_action = self._action("Save &As…", self.save_as, K.SaveAs, None,
                                           "Save the design under a new name")
        self.import_action = self._action(
            "&Import…", self.import_dialog, "Ctrl+Shift+I", None,
            "Bring in an ONNX file, a torch.export program or a PyTorch class as a design")
        self.load_weights_action = self._action(
            "Load &Weights…", self.load_weights_dialog, None, None,
            "Start the design from pretrained weights (matched by name, then by shape)")
        self.replace_head_action = self._action(
            "Replace &Head", self.replace_head, None, None,
            "Set the last classifier layer to the dataset's classes (its weights start fresh)")
        self.freeze_action = self._action(
            "&Freeze All but Head", self.freeze_all_but_head, None, None,
            "Make every layer but the classifier head not trainable (fine-tune the head)")
        self.quit_action = self._action("&Quit", self.close, K.Quit, None, "Close Netwright")
        self.quit_action.setMenuRole(QAction.MenuRole.QuitRole)

        # Undo, redo and the edit actions are the canvas's own (one QAction per shortcut, so no
        # ambiguous shortcuts). Undo/redo work anywhere in the window; text fields keep their
        # own Ctrl+Z. Copy, paste, delete… act while the canvas has focus.
        canvas = self.canvas
        self.undo_action = canvas.action("undo")
        self.redo_action = canvas.action("redo")
        for action, name in ((self.undo_action, "undo"), (self.redo_action, "redo")):
            action.setIcon(icon(name))
            action.setShortcutContext(Qt.ShortcutContext.WindowShortcut)
            self.addAction(action)
        self.cut_action = self._action("Cu&t", self.cut, K.Cut)
        self.cut_action.setShortcutContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
        canvas.addAction(self.cut_action)
        self.copy_action = canvas.action("copy")
        self.paste_action = canvas.action("paste")
        self.duplicate_action = canvas.action("duplicate")
        self.delete_action = canvas.action("delete")
        self.select_all_action = canvas.action("select_all")
        self.quick_add_action = canvas.action("quick_add")
        self.canvas_actions = [self.cut_action, self.copy_action, self.paste_action,
                               self.duplicate_action, self.delete_action, self.select_all_action]

        self.fit_action = canvas.action("fit_all")
        self.fit_action.setIcon(icon("fit"))
        self.fit_action.setToolTip("Show the whole network (F)")
        self.layout_action = canvas.action("auto_layout")
        self.layout_action.setIcon(icon("layout"))
        self.layout_action.setToolTip("Arrange the layers along the design's flow (Ctrl+L)")
        self.layout_flow_actions = [canvas.action("layout_down"), canvas.action("layout_right")]
        self.zoom_actions = [canvas.action(name) for name in ("zoom_in", "zoom_out", "zoom_reset")]
        self.find_action = self._action("Find Layer…", self.focus_palette_search, K.Find, None,
                                        "Search the layer palette")

    def _build_menus(self) -> None:
        bar = self.menuBar()
        file_menu = bar.addMenu("&File")
        file_menu.addAction(self.new_action)
        file_menu.addAction(self.template_action)
        file_menu.addAction(self.open_action)
        self.recent_menu = file_menu.addMenu("Open &Recent")
        self.recent_menu.setToolTipsVisible(True)  # the full path of each file
        self.recent_menu.aboutToShow.connect(self._fill_recent_menu)
        self._fill_recent_menu()
        self.examples_menu = file_menu.addMenu("&Examples")
        for name, path in examples():
            action = self.examples_menu.addAction(name)
            action.setStatusTip(str(path))
            action.triggered.connect(lambda _checked=False, p=path: self.open_example(p))
        file_menu.addAction(self.import_action)
        file_menu.addSeparator()
        file_menu.addAction(self.save_action)
        file_menu.addAction(self.save_as_action)
        file_menu.addAction(self.training.export_action)
        file_menu.addAction(self.load_weights_action)
        file_menu.addSeparator()
        file_menu.addAction(self.quit_action)

        edit_menu = bar.addMenu("&Edit")
        edit_menu.addAction(self.undo_action)
        edit_menu.addAction(self.redo_action)
        edit_menu.addSeparator()
        for action in self.canvas_actions:
            edit_menu.addAction(action)
        edit_menu.addSeparator()
        edit_menu.addAction(self.quick_add_action)
        edit_menu.addAction(self.find_action)
        edit_menu.addSeparator()
        for name in ("group", "ungroup", "enter_block", "leave_block", "block_args"):
            edit_menu.addAction(self.canvas.action(name))
        edit_menu.addAction(self.template_args_action)
        edit_menu.aboutToShow.connect(
            lambda: self.template_args_action.setEnabled(bool(self.document.design.template)))

        view_menu = bar.addMenu("&View")
        view_menu.addAction(self.fit_action)
        for action in self.zoom_actions:
            view_menu.addAction(action)
        view_menu.addSeparator()
        view_menu.addAction(self.layout_action)
        for action in self.layout_flow_actions:
            view_menu.addAction(action)
        view_menu.addSeparator()
        for dock in (self.palette_dock, self.inspector_dock, self.bottom_dock,
                     *self.training_docks.values()):
            view_menu.addAction(dock.toggleViewAction())

        train_menu = bar.addMenu("&Train")
        for action in (self.training.train_action, self.training.pause_action,
                       self.training.stop_action, None, self.load_weights_action,
                       self.replace_head_action, self.freeze_action, None,
                       self.training.export_action):
            if action is None:
                train_menu.addSeparator()
            else:
                train_menu.addAction(action)

    def _build_toolbar(self) -> None:
        bar = self.addToolBar("Main")
        bar.setObjectName("mainToolbar")
        bar.setMovable(False)
        bar.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        for action in (self.new_action, self.open_action, self.save_action, None,
                       self.undo_action, self.redo_action, None, self.fit_action, self.layout_action,
                       None, self.training.train_action, self.training.pause_action,
                       self.training.stop_action):
            if action is None:
                bar.addSeparator()
            else:
                bar.addAction(action)
        for action in (self.undo_action, self.redo_action):  # their text changes with each edit
            bar.widgetForAction(action).setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonIconOnly)

    def _fill_recent_menu(self) -> None:
        self.recent_menu.clear()
        paths = self.recent.paths()
        for path, label in zip(paths, distinct_labels(paths)):
            action = self.recent_menu.addAction(label.replace("&", "&&"))
            action.setStatusTip(str(path))
            action.setToolTip(str(path))
            action.triggered.connect(lambda _checked=False, p=path: self.open_path(p))
        if paths:
            self.recent_menu.addSeparator()
            self.recent_menu.addAction("Clear Menu", self.recent.clear)
        else:
            self.recent_menu.addAction("No recent files").setEnabled(False)

    # ---- panels ↔ canvas -------------------------------------------------------------------------

    def focus_node(self, node_id: str) -> None:
        """Select ``node_id`` on the canvas and scroll it into the middle of the view; a block
        instance whose error lies inside it opens at the inner layer the error names."""
        if not self.document.design.has_node(node_id):
            return
        inner = self._error_path_into(node_id)
        if inner or self.canvas.canvas.scope:
            self.canvas.leave_to(0)
        for instance, target in zip([node_id, *inner], inner):
            self.canvas.enter_block(instance)
            node_id = target
        self.canvas.select_nodes([node_id])
        self.canvas.center_on_node(node_id)
        if not inner:
            self.inspector.show_nodes([node_id])

    def _error_path_into(self, node_id: str) -> list[str]:
        """The ids, level by level, of the inner layers a block instance's error names
        (``block.0 › add``: the body's ``add``); empty for any other node."""
        design = self.document.design
        error = self.document.report.inference.errors.get(node_id)
        node = design.node(node_id)
        ids: list[str] = []
        for label in error.path[1:] if error is not None and node.is_block else ():
            body = design.blocks[node.type].body
            inner = body.node_by_name(label) or body.node_by_name(re.sub(r"\.\d+$", "", label))
            if inner is None:
                break
            ids.append(inner.id)
            design, node = body, inner
            if not node.is_block:
                break
        return ids

    def _node_activated(self, node_id: str) -> None:
        """A double-clicked node: bring the inspector forward on its name."""
        self.inspector_dock.show()
        self.inspector_dock.raise_()
        self.inspector.show_nodes([node_id])

    def focus_palette_search(self) -> None:
        self.palette_dock.show()
        self.palette_dock.raise_()
        self.palette.search.setFocus()
        self.palette.search.selectAll()

    def cut(self) -> None:
        self.canvas.copy()
        self.canvas.delete_selected()

    def _diagnostic_counts(self, errors: int, warnings: int) -> None:
        """The Diagnostics tab shows its counts as a compact badge ("✗3 ⚠2": with both, every
        other tab still fits the bar of a 1280 px screen's window) and says them in words in its
        tooltip."""
        index = self.bottom_tabs.indexOf(self.diagnostics)
        badge = ([f"✗{errors}"] if errors else []) + ([f"⚠{warnings}"] if warnings else [])
        words = ([f"{errors} error{'s' * (errors != 1)}"] if errors else []) + (
            [f"{warnings} warning{'s' * (warnings != 1)}"] if warnings else [])
        text = " ".join(["Diagnostics", *badge])
        if self.bottom_tabs.tabText(index) != text:  # setTabText lays the tabs out (and so
            self.bottom_tabs.setTabText(index, text)  # repaints the whole dock) even if equal
            self.bottom_tabs.setTabToolTip(
                index, "Diagnostics: " + (", ".join(words) if words else "no problems"))

    def _report_changed(self, report: Report) -> None:
        nodes = len(self.document.design)
        layers = max(report.inference.total_layers, nodes)  # blocks expanded, as the summary counts
        count = f"{layers} layer{'s' * (layers != 1)}" + (f" in {nodes} nodes" if layers > nodes else "")
        params = report.inference.total_params
        more = ""  # the network's error stops the counting: what is counted is a part, said so
        if not report.network_ok:
            count, more = f"{nodes} node{'s' * (nodes != 1)}", "+"
        if report.ok:
            state = "✓ valid so far (reading the data)" if self.document.data_unread else "✓ valid"
        else:
            n = len(report.errors)
            state = f"✗ {n} error{'s' * (n != 1)}"
        self.status_label.setText(f"{state}  ·  {count}  ·  {params:,}{more} parameters  ·  "
                                  f"{human_count(report.inference.total_macs)}{more} MACs")
        self.status_label.setToolTip("Counted up to the error: the rest is counted once it is "
                                     "fixed" if more else "")
        self.status_label.setProperty("invalid", not report.ok)
        self.status_label.style().unpolish(self.status_label)
        self.status_label.style().polish(self.status_label)

    def _pick_bottom_tab(self) -> None:
        """After opening: the diagnostics when something is wrong, else the summary."""
        target = self.diagnostics if not self.document.report.ok else self.summary
        self.bottom_tabs.setCurrentWidget(target)

    def _design_replaced(self, _design) -> None:
        self._update_title()
        # The document revalidates right after this signal: choose the tab on the new report.
        QTimer.singleShot(0, self._pick_bottom_tab)
        QTimer.singleShot(0, self.canvas.show_design)

    # ---- title --------------------------------------------------------------------------------------

    def display_name(self) -> str:
        path = self.document.path
        return path.name if path else (self.document.design.name or "Untitled")

    def _update_title(self, *_args) -> None:
        self.setWindowTitle(f"{self.display_name()}[*] — Netwright")
        self.setWindowModified(self.document.modified)

    # ---- files -------------------------------------------------------------------------------------

    def maybe_save(self, replacement: str | None = None) -> bool:
        """Ask what to do with unsaved changes before the design is replaced (by
        ``replacement`` when named); False when the user cancels."""
        if not self.document.modified:
            return True
        first = f"before opening “{replacement}”" if replacement else "first"
        answer = QMessageBox.question(
            self, "Unsaved changes",
            f"“{self.display_name()}” has unsaved changes. Save them {first}?",
            QMessageBox.StandardButton.Save | QMessageBox.StandardButton.Discard
            | QMessageBox.StandardButton.Cancel, QMessageBox.StandardButton.Save)
        if answer == QMessageBox.StandardButton.Save:
            return self.save()
        return answer == QMessageBox.StandardButton.Discard

    def new_from_template(self) -> bool:
        """Pick a template and its arguments; the design it makes opens untitled, once unsaved
        changes to the current one are saved or discarded (asked when the pick is made)."""
        from ui.template_dialog import TemplateDialog

        dialog = TemplateDialog(self)
        accepted = dialog.exec() == QDialog.DialogCode.Accepted
        design = dialog.design() if accepted else None
        dialog.deleteLater()
        if design is None or not self.maybe_save(design.name):
            return False
        self.document.replace(design, None)
        self.statusBar().showMessage(f"New {design.name} from its template; save it to keep it", 5000)
        return True

    def edit_template_args(self) -> bool:
        """Change the remembered template arguments (e.g. depth 18 → 34) in one undo step."""
        design = self.document.design
        if not design.template:
            self.statusBar().showMessage("This design was not made from a template", 5000)
            return False
        from ui.template_dialog import TemplateDialog

        dialog = TemplateDialog(self, current=design)
        accepted = dialog.exec() == QDialog.DialogCode.Accepted
        args = dialog.args() if accepted else None
        dialog.deleteLater()
        return bool(args) and self.apply_template_args(args)

    def apply_template_args(self, args: dict) -> bool:
        """Rebuild the network from its template with ``args`` (one undo step)."""
        from graph.templates import TemplateError, rebuild
        from ui.commands import replace_network_command

        design = self.document.design
        try:
            fresh = rebuild(design, args)
        except TemplateError as exc:
            QMessageBox.warning(self, "Template arguments", str(exc))
            return False
        if fresh.template == design.template:
            return False
        changed = ", ".join(f"{k} {design.template['args'].get(k)} → {v}"
                            for k, v in fresh.template["args"].items()
                            if design.template["args"].get(k) != v)
        self.canvas.leave_to(0)
        self.document.push(replace_network_command(design, fresh, f"Template: {changed}"))
        QTimer.singleShot(0, self.canvas.show_design)
        return True

    def _selection_changed(self, node_ids: list[str]) -> None:
        """The inspector edits the selected layer, of the design or of the block entered."""
        if self.canvas.canvas.scope:  # inside a block: its layers, edited for every instance
            self.inspector.show_nodes(node_ids, self.canvas.design, self.canvas.canvas.scoped_inference)
            return
        self.inspector.show_nodes(node_ids)
        self.training.try_page.follow_selection(node_ids)

    def _scope_changed(self, _design) -> None:
        scope = self.canvas.canvas.scope
        shown = self.statusBar().currentMessage()
        if scope:  # the innermost block only: the path at the top of the canvas has the rest
            self._scope_hint = (f"Inside {self.canvas.scope_path()[-1]}: an edit changes every "
                                "instance; Esc goes back out")
            self.statusBar().showMessage(self._scope_hint, 8000)
        elif shown and shown == self._scope_hint:
            self.statusBar().clearMessage()  # back at the top: the hint no longer applies

    def new(self) -> None:
        if self.maybe_save():
            self.document.new()

    def open_dialog(self) -> None:
        if not self.maybe_save():
            return
        start = str(self.document.path.parent) if self.document.path else str(Path.home())
        path, _ = QFileDialog.getOpenFileName(self, "Open design", start, FILE_FILTER)
        if path:
            self._open(Path(path))

    def open_path(self, path: str | Path, ask: bool = True) -> bool:
        """Open ``path`` (examples open as untitled copies). A broken file shows why and leaves
        the current design as it was."""
        if ask and not self.maybe_save():
            return False
        return self._open(Path(path))

    def reopen_last(self, fallback: Path) -> None:
        """Open the design the user had last (the newest recent file), as a desktop tool
        does at start; ``fallback`` (the example) when there is none, or when it is gone or
        cannot be read, with the status bar saying why (never a dialog at start-up)."""
        last = self.recent.last()
        reason = None
        if last is not None and last.is_file():
            try:
                self.document.open(last)
            except (DesignFileError, OSError) as exc:
                why = str(exc).removeprefix(f"{last}: ")  # the name is said already
                reason = f"Could not reopen {last.name}: {why}"
            else:
                self.statusBar().showMessage(f"Reopened {last}", 5000)
                return
        elif last is not None:
            reason = f"{last} is no longer there"
        self.document.replace(load(fallback), None)
        if reason:
            self.statusBar().showMessage(f"{reason}; showing the example instead", 20_000)

    def open_example(self, path: Path) -> bool:
        if not self.maybe_save():
            return False
        return self._open(path)

    def _open(self, path: Path) -> bool:
        try:
            if is_example(path):
                design = load(path)
                self.document.replace(design, None)  # Save asks where, never over the example
            else:
                self.document.open(path)
        except DesignFileError as exc:
            QMessageBox.critical(self, "Cannot open design", f"Could not open the design.\n\n{exc}")
            return False
        if not is_example(path):
            self.recent.add(path)
        self.statusBar().showMessage(f"Opened {path}", 5000)
        return True

    # ---- import and fine-tuning -------------------------------------------------------------------

    def import_dialog(self) -> None:
        from .import_dialog import ImportDialog

        start = str(self.document.path.parent) if self.document.path else str(Path.home())
        dialog = ImportDialog(self, start)
        dialog.imported.connect(lambda path: self.open_path(path))
        dialog.exec()

    def load_weights_dialog(self) -> None:
        from .commands import SetInitialWeightsCommand
        from .import_dialog import LoadWeightsDialog

        if self.document.path is None:
            QMessageBox.information(self, "Load Weights", "Save the design first: its weights "
                                    "are written beside the design file.")
            if not self.save_as():
                return
        dialog = LoadWeightsDialog(self.document.design, self.document.path, self)
        if dialog.exec() != QDialog.DialogCode.Accepted or dialog.preview is None:
            return
        try:
            name = dialog.apply()
        except (OSError, ValueError) as exc:
            QMessageBox.critical(self, "Load Weights", f"Could not apply the weights:\n\n{exc}")
            return
        self.document.push(SetInitialWeightsCommand(self.document.design, name))
        self.statusBar().showMessage(
            f"The design now starts from the weights of {dialog.preview.source.name}, written "
            f"to {name} beside it ({dialog.preview.matching.describe()}); save to keep it",
            10_000)

    def replace_head(self) -> None:
        from graph.finetune import WIDTH_PARAM, head_layer

        from .commands import Command, SetParamCommand, SetTrainingFlagsCommand

        design = self.document.design
        head = head_layer(design)
        classes = _dataset_classes(design)
        if head is None or not classes:
            QMessageBox.information(self, "Replace Head", "No classifier layer before the Output, "
                                    "or the dataset does not say how many classes it has.")
            return
        command = Command("Replace head")
        SetParamCommand(design, head.id, WIDTH_PARAM[head.type], classes, parent=command)
        SetTrainingFlagsCommand(design, [head.id], trainable=True, parent=command)
        self.document.push(command)
        self.statusBar().showMessage(f"{head.name} now gives {classes} classes; its weights "
                                     "start fresh", 8000)

    def freeze_all_but_head(self) -> None:
        from graph.finetune import head_layer

        from .commands import SetTrainingFlagsCommand

        design = self.document.design
        head = head_layer(design)
        others = [n.id for n in design.nodes if n.type not in ("Input", "Output")
                  and (head is None or n.id != head.id)]
        self.document.push(SetTrainingFlagsCommand(design, others, trainable=False,
                                                   text="Freeze all but the head"))
        trains = f"only {head.name} trains" if head is not None else "nothing trains"
        layers = f"{len(others)} layer{'s' if len(others) != 1 else ''}"
        self.statusBar().showMessage(f"Froze {layers}: {trains} (the Summary "
                                     "splits the parameters; Edit ▸ Undo unfreezes)", 10_000)

    def save(self) -> bool:
        if self.document.path is None:
            return self.save_as()
        return self._save_to(self.document.path)

    def save_as(self) -> bool:
        if self.document.path is not None:
            start = self.document.path
        else:
            stem = re.sub(r"[^\w\-]+", "_", self.document.design.name).strip("_").lower() or "design"
            start = Path.home() / f"{stem}.json"
        path, _ = QFileDialog.getSaveFileName(self, "Save design as", str(start), FILE_FILTER)
        if not path:
            return False
        path = Path(path)
        if not path.suffix:
            path = path.with_suffix(".json")
        return self._save_to(path)

    def _save_to(self, path: Path) -> bool:
        controller = self.training.controller
        old_path = self.document.path
        runs = controller.listed_runs() if old_path != path else []
        design = self.document.design
        if old_path is None and design.name == DEFAULT_NAME:  # named after its file, as a file
            # without a name opens; one undo step (the title, runs and code follow the name)
            self.document.push(SetDesignInfoCommand(design, path.stem, design.description))
        try:
            self.document.save(path)
        except OSError as exc:
            QMessageBox.critical(self, "Cannot save design",
                                 f"Could not save {path}:\n\n{exc.strerror or exc}")
            return False
        self.recent.add(path)
        carried = controller.adopt_runs(runs, move=old_path is None) if runs else None
        self.statusBar().showMessage(f"Saved {path}" + (f". {carried}" if carried else ""), 10_000)
        return True

    # ---- recovery --------------------------------------------------------------------------------------

    def offer_recovery(self) -> bool:
        """Offer autosaves left by crashed sessions; True when one was recovered."""
        entries = find_recoverable(
            None if self.autosaver is None or self.autosaver.directory == data_dir()
            else self.autosaver.directory)
        if not entries:
            return False
        dialog = RecoveryDialog(entries, self)
        dialog.exec()
        entry = dialog.chosen
        dialog.deleteLater()
        if entry is None:
            return False
        try:
            self.document.restore_snapshot(entry.read(), entry.original, modified=True,
                                           runs_key=entry.runs_key)
        except (OSError, DesignFileError) as exc:
            QMessageBox.critical(self, "Cannot recover design",
                                 f"The autosave {entry.snapshot.name} cannot be read:\n\n{exc}")
            return False
        entry.delete()
        if self.autosaver is not None:
            self.autosaver.save_now()  # the recovered work is safe again straight away
        self.statusBar().showMessage(f"Recovered {entry.name}; save it to keep it.", 10_000)
        return True

    # ---- drops --------------------------------------------------------------------------------------

    def dragEnterEvent(self, event) -> None:  # noqa: N802 (Qt name)
        if _json_urls(event.mimeData()):
            event.acceptProposedAction()
        else:
            super().dragEnterEvent(event)

    def dragMoveEvent(self, event) -> None:  # noqa: N802
        if _json_urls(event.mimeData()):
            event.acceptProposedAction()
        else:
            super().dragMoveEvent(event)

    def showEvent(self, event) -> None:  # noqa: N802 (Qt name)
        super().showEvent(event)
        if self._restored_geometry and not event.spontaneous():
            self._restored_geometry = False  # once: now the frame (title bar) has its size
            clamp_to_screen(self)

    def dropEvent(self, event) -> None:  # noqa: N802
        paths = _json_urls(event.mimeData())
        if not paths:
            super().dropEvent(event)
            return
        event.acceptProposedAction()
        # Open after the drop returns: a dialog inside a drop handler blocks the drag source.
        QTimer.singleShot(0, lambda: self.open_path(paths[0]))

    # ---- window state ---------------------------------------------------------------------------------

    def _restore_layout(self) -> None:
        settings = app_settings()
        geometry, state = settings.value("window/geometry"), settings.value("window/state")
        if isinstance(geometry, QByteArray):
            self.restoreGeometry(geometry)
            clamp_to_screen(self)  # saved on a larger screen; again when shown
            self._restored_geometry = True
        if isinstance(state, QByteArray):
            self.restoreState(state)
            # An analysis dock saved too tall (e.g. by an older version) would leave the
            # canvas a sliver: trim it once the restored layout has its sizes.
            QTimer.singleShot(0, self.fit_bottom_dock)

    def fit_bottom_dock(self) -> None:
        """Keep the canvas at least half the window's height (see fit_bottom_dock)."""
        fit_bottom_dock(self, self.bottom_dock)

    def _save_layout(self) -> None:
        self.fit_bottom_dock()  # never remember a bottom dock that squeezes the canvas
        settings = app_settings()
        settings.setValue("window/geometry", self.saveGeometry())
        settings.setValue("window/state", self.saveState())
        settings.sync()

    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802 (Qt name)
        if not self.maybe_save():
            event.ignore()
            return
        if self.remember_layout:
            self._save_layout()
        if self.autosaver is not None:
            self.autosaver.close()
        self.training.shutdown()  # a running child stops and keeps its checkpoint
        event.accept()
