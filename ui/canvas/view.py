"""The canvas view: where users place, wire, move and select layers.

Every edit is an undo command pushed on the document's stack; the scene then follows the
model's events. Mouse: drag a port to connect, click a link (also near an end) to select it,
drag a link's end to re-route or (dropped on empty canvas) disconnect it, drag nodes to move them (one undo step per drag), drag on empty
canvas to rubber-band select, wheel to zoom about the cursor, middle drag or Space+drag to pan.
Keys: Delete/Backspace, Ctrl+C/V/D/A, Ctrl+Z / Ctrl+Shift+Z, Tab (quick add), F (fit),
Ctrl+= / Ctrl+- / Ctrl+0 (zoom in, out, 100 %). Paste lands at the mouse when it is over the
canvas. A minimap in the corner shows the whole design whenever it is larger than the view.
"""
from __future__ import annotations

import os

from PySide6.QtCore import QEvent, QPoint, QPointF, QRect, QRectF, Qt, Signal
from PySide6.QtGui import (
    QAction,
    QBrush,
    QGuiApplication,
    QKeySequence,
    QPainter,
    QPen,
    QPixmap,
    QTransform,
)
from PySide6.QtWidgets import QApplication, QGraphicsView, QMenu, QWidget

from graph.block_args import block_of
from graph.blocks import BlockError
from graph.catalog import CATALOG
from graph.design import Edge, Node
from graph.fileformat import DesignFileError

from ..commands import (
    AddEdgeCommand,
    AddNodeCommand,
    Command,
    MacroCommand,
    MoveNodesCommand,
    RemoveEdgeCommand,
    RemoveNodesCommand,
    auto_layout_command,
    group_command,
    insert_on_link_command,
    paste_command,
    ungroup_command,
)
from ..document import Document
from ..fixes import applicable, apply_fix, fix_menu
from . import LAYER_MIME
from .clipboard import fragment_text, from_mime, read_fragment, to_mime
from .interactions import LinkDrag, QuickAddPopup, connect_after, connect_before, start_link_drag
from .items import BadgeItem, HealthBadgeItem, NodeItem, PortItem
from .breadcrumb import Breadcrumb
from .links import LinkItem
from .minimap import Minimap
from .scene import CanvasScene
from .placement import free_spot, rank_after
from .style import GRID_MAJOR, GRID_MINOR, NAME_ZOOM, NODE_HEIGHT, NODE_WIDTH, Theme

MIN_ZOOM, MAX_ZOOM, MAX_FIT_ZOOM = 0.08, 3.0, 1.25
READABLE_ZOOM = 0.4  # below this, even the names of the overview (style.DETAIL_ZOOM) are too small
OPEN_ZOOM = 0.5  # a design too large to show whole opens at most this close: more of it in view
ZOOM_STEP = 1.25  # one Ctrl+= / Ctrl+- step
PASTE_OFFSET = 40.0
# Fit to View stops at FIT_ZOOM, a step above where the layers' names show (style.NAME_ZOOM), when
# at that zoom the design spans at most FIT_MAX_VIEWS views: a little scrolling beats an unlabelled
# picture.
FIT_ZOOM = round(NAME_ZOOM * 1.1, 2)
FIT_MAX_VIEWS = 2.0



def distinct_keys(shortcuts) -> list[QKeySequence]:
    """``shortcuts`` (key sequences, standard keys or one of them) without repeats: a key given
    twice — ``Ctrl+-`` and the platform's ZoomOut, which is ``Ctrl+-`` too — is an ambiguous
    shortcut to Qt, and then it does nothing at all."""
    if not isinstance(shortcuts, list):
        shortcuts = [shortcuts]
    keys: list[QKeySequence] = []
    for shortcut in shortcuts:
        for key in (QKeySequence.keyBindings(shortcut)
                    if isinstance(shortcut, QKeySequence.StandardKey) else [shortcut]):
            if not key.isEmpty() and key not in keys:
                keys.append(key)
    return keys

class CanvasView(QGraphicsView):
    """The node editor for ``document``. Emits :attr:`selection_changed` with node ids."""

    selection_changed = Signal(list)  # selected node ids, in design order
    status_message = Signal(str)  # short feedback for the window's status bar
    node_activated = Signal(str)  # a node was double-clicked (the window may focus the inspector)
    zoom_changed = Signal(float)  # the new zoom factor (1.0 = 100 %)
    view_changed = Signal()  # the visible part of the canvas moved, grew or zoomed
    resized = Signal()  # the view has a new size, and its scroll ranges follow it already
    scope_changed = Signal(object)  # the design now edited (entering or leaving a block)

    def __init__(self, document: Document, parent: QWidget | None = None, opengl: bool | None = None):
        super().__init__(parent)
        self.document = document
        self.canvas = CanvasScene(document, self)
        self.setScene(self.canvas)
        self._setup_viewport(opengl)
        self._link_drag: LinkDrag | None = None
        self._pan_from: QPoint | None = None
        self._space_held = False
        self._move_start: dict[str, tuple[float, float]] | None = None
        self._drop_link: LinkItem | None = None
        self._paste_count = 0
        self._last_copy = ""
        self._grid_tile: tuple[float, QPixmap] | None = None
        self._readable_fit: tuple[float, QPointF] | None = None  # the zoom and centre it chose
        self._mouse: QPoint | None = None  # the cursor's viewport position while over the canvas
        self.last_feedback = ""  # the latest link feedback or refusal (also sent as status)
        self.quick_add = QuickAddPopup(self)
        self.quick_add.chosen.connect(self._quick_add_chosen)
        self.quick_add.closed.connect(lambda: self.setFocus())
        self._quick_add_request: tuple[QPointF, tuple | None] = (QPointF(), None)
        self._actions = self._make_actions()
        self.canvas.selectionChanged.connect(self._emit_selection)
        self.rubberBandChanged.connect(self._rubber_band_selects_nodes_only)
        self.minimap = Minimap(self)
        self.breadcrumb = Breadcrumb(self)
        self._views: list[tuple[QTransform, QPointF]] = []  # the framing of each level left
        self._enable_block_actions()
        document.design_replaced.connect(self._design_replaced)  # a method: goes with the view
        self.canvas.scope_lost.connect(lambda: self.leave_to(0))
        subscriptions = (self.canvas, self.minimap)
        self.destroyed.connect(lambda *_: [_safe_detach(s) for s in subscriptions])

    # ---- set-up --------------------------------------------------------------------------------

    def _setup_viewport(self, opengl: bool | None) -> None:
        if opengl is None:
            opengl = os.environ.get("NETWRIGHT_OPENGL", "") == "1"
        if opengl and QGuiApplication.platformName() not in ("offscreen", "minimal"):
            try:
                from PySide6.QtOpenGLWidgets import QOpenGLWidget

                self.setViewport(QOpenGLWidget())
            except ImportError:  # an install without OpenGL support: the raster viewport works
                pass
        self.setRenderHints(QPainter.RenderHint.Antialiasing | QPainter.RenderHint.TextAntialiasing)
        self.setViewportUpdateMode(QGraphicsView.ViewportUpdateMode.BoundingRectViewportUpdate)
        self.setCacheMode(QGraphicsView.CacheModeFlag.CacheBackground)
        self.setOptimizationFlags(QGraphicsView.OptimizationFlag.DontAdjustForAntialiasing)
        self.setTransformationAnchor(QGraphicsView.ViewportAnchor.NoAnchor)
        self.setResizeAnchor(QGraphicsView.ViewportAnchor.AnchorViewCenter)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setDragMode(QGraphicsView.DragMode.RubberBandDrag)
        self.setRubberBandSelectionMode(Qt.ItemSelectionMode.IntersectsItemShape)
        self.setAcceptDrops(True)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.setFrameShape(QGraphicsView.Shape.NoFrame)
        self.setMouseTracking(True)

    def _make_actions(self) -> list[QAction]:
        stack = self.document.undo_stack
        undo = stack.createUndoAction(self, "Undo")
        redo = stack.createRedoAction(self, "Redo")
        undo.setShortcuts(QKeySequence.StandardKey.Undo)
        redo.setShortcuts([QKeySequence("Ctrl+Shift+Z"), QKeySequence("Ctrl+Y")])

        def action(name: str, text: str, slot, shortcuts) -> QAction:
            act = QAction(text, self)
            act.triggered.connect(lambda _checked=False: slot())
            act.setShortcuts(distinct_keys(shortcuts))
            act.setObjectName(name)
            return act

        actions = [
            undo, redo,
            action("copy", "Copy", self.copy, QKeySequence.StandardKey.Copy),
            action("paste", "Paste", self.paste, QKeySequence.StandardKey.Paste),
            action("duplicate", "Duplicate", self.duplicate, [QKeySequence("Ctrl+D")]),
            action("delete", "Delete", self.delete_selected,
                   [QKeySequence(Qt.Key.Key_Delete), QKeySequence(Qt.Key.Key_Backspace)]),
            action("select_all", "Select All", self.select_all, QKeySequence.StandardKey.SelectAll),
            # Tab is handled in event() (a Tab shortcut would also fire inside the popup);
            # the text after the tab is what menus show in their shortcut column.
            action("quick_add", "Add Layer…\tTab", self.open_quick_add, []),
            action("auto_layout", "Auto-Layout", self.auto_layout, [QKeySequence("Ctrl+L")]),
            action("layout_down", "Auto-Layout Top to Bottom", lambda: self.auto_layout("down"), []),
            action("layout_right", "Auto-Layout Left to Right", lambda: self.auto_layout("right"), []),
            action("fit_all", "Fit to View", self.fit_all, [QKeySequence(Qt.Key.Key_F)]),
            action("zoom_in", "Zoom In", lambda: self.set_zoom(self.zoom() * ZOOM_STEP),
                   [QKeySequence("Ctrl+="), QKeySequence("Ctrl++"), QKeySequence.StandardKey.ZoomIn]),
            action("zoom_out", "Zoom Out", lambda: self.set_zoom(self.zoom() / ZOOM_STEP),
                   [QKeySequence("Ctrl+-"), QKeySequence.StandardKey.ZoomOut]),
            action("zoom_reset", "Actual Size (100 %)", lambda: self.set_zoom(1.0),
                   [QKeySequence("Ctrl+0")]),
            action("group", "Group into Block", self.group_selected, [QKeySequence("Ctrl+G")]),
            action("ungroup", "Ungroup Block", self.ungroup_selected,
                   [QKeySequence("Ctrl+Shift+G")]),
            action("enter_block", "Open Block", self.enter_selected_block, []),
            action("leave_block", "Leave Block", lambda: self.leave_to(len(self.canvas.scope) - 1),
                   []),
            action("block_args", "Block Arguments…", self.edit_block_args, []),
        ]
        undo.setObjectName("undo")
        redo.setObjectName("redo")
        for act in actions:
            act.setShortcutContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
            self.addAction(act)
        return actions

    def edit_actions(self) -> list[QAction]:
        """The view's actions (undo, redo, copy, paste, duplicate, delete, select_all, quick_add,
        auto_layout, layout_down, layout_right, fit_all, zoom_in, zoom_out, zoom_reset, group,
        ungroup, enter_block, leave_block, block_args — each's ``objectName``), for the window's menus. Their shortcuts
        work while the canvas has focus; the window may widen a context if it wants."""
        return list(self._actions)

    def action(self, name: str) -> QAction:
        return next(a for a in self._actions if a.objectName() == name)

    # ---- public API ------------------------------------------------------------------------------

    @property
    def design(self):
        """The network being edited: the document's design, or the body of an entered block."""
        return self.canvas.design

    # ---- blocks: grouping, entering and leaving --------------------------------------------------

    def group_selected(self) -> str | None:
        """Replace the selected layers with one instance of a new block (one undo step); the
        ports are the links that cross the selection. Returns the instance's id."""
        ids = self.selected_node_ids()
        try:
            command = group_command(self.design, ids)
        except BlockError as exc:
            self.status_message.emit(f"Cannot group: {exc}")
            return None
        self.document.push(command)
        self.select_nodes([command.edit.result])
        name = self.design.node(command.edit.result).type
        self.status_message.emit(f"Grouped {len(ids)} layers into block {name} "
                                 "(double-click it to edit inside)")
        return command.edit.result

    def ungroup_selected(self) -> list[str]:
        """Replace each selected block instance with its layers (one undo step)."""
        instances = [nid for nid in self.selected_node_ids() if self.design.node(nid).is_block]
        if not instances:
            self.status_message.emit("Select a block to ungroup")
            return []
        try:
            command, new_ids = self._ungroup_plan(instances)
        except BlockError as exc:  # e.g. a block present only sometimes, not a chain
            self.status_message.emit(f"Cannot ungroup: {exc.reason}")
            return []
        self.document.push(command)
        self.select_nodes(new_ids)
        return new_ids

    def _ungroup_plan(self, instances: list[str]) -> tuple[Command, list[str]]:
        """The one-step command ungrouping ``instances`` and the new layers' ids."""
        if len(instances) == 1:  # planned on the design as it is: no rehearsal needed
            command = ungroup_command(self.design, instances[0])
            return command, list(command.edit.result or [])
        macro = MacroCommand("Ungroup")
        new_ids: list[str] = []
        try:
            for nid in instances:  # each edit is planned on the design as the previous left it
                command = ungroup_command(self.design, nid)
                command.redo()
                macro.steps.append(command)
                new_ids += list(command.edit.result or [])
        finally:
            for command in reversed(macro.steps):
                command.undo()
        return macro, new_ids

    def args_block(self) -> str | None:
        """The block whose arguments *Block Arguments…* edits: the selected instance's, else
        the block the canvas is inside (None at the top with no single block selected)."""
        ids = self.selected_node_ids()
        if len(ids) == 1 and self.design.has_node(ids[0]) and self.design.node(ids[0]).is_block:
            return self.design.node(ids[0]).type
        block = block_of(self.design) if self.canvas.scope else None
        return block.name if block is not None else None

    def edit_block_args(self, block_name: str | None = None) -> None:
        """Open *Block Arguments…* for ``block_name`` (default: :meth:`args_block`)."""
        from ui.block_args_dialog import BlockArgsDialog

        block_name = block_name or self.args_block()
        if block_name is None:
            self.status_message.emit("Select a block, or open one, to edit its arguments")
            return
        dialog = BlockArgsDialog(self.document, block_name, self.window())
        dialog.exec()
        dialog.deleteLater()

    def enter_selected_block(self) -> None:
        selected = self.selected_node_ids()
        if len(selected) == 1:
            self.enter_block(selected[0])

    def enter_block(self, instance_id: str) -> bool:
        """Edit the body of the block that node ``instance_id`` (in the shown design) is an
        instance of; an edit there changes every instance. False when it is no block."""
        design = self.design
        if not design.has_node(instance_id) or not design.node(instance_id).is_block:
            return False
        block = design.blocks[design.node(instance_id).type]
        self._views.append((self.transform(), self.mapToScene(self.viewport().rect().center())))
        self.canvas.enter(self.canvas.scope + [instance_id], block.body)
        self._scope_shown()
        self.show_design()
        return True

    def leave_to(self, depth: int) -> None:
        """Go back out to level ``depth`` (0: the design itself)."""
        scope = self.canvas.scope
        if depth >= len(scope):
            return
        design = self.document.design
        for instance in scope[:depth]:
            design = design.blocks[design.node(instance).type].body
        framing = self._views[depth] if depth < len(self._views) else None
        del self._views[depth:]
        self.canvas.enter(scope[:depth], design)
        self._scope_shown()
        if framing is not None:
            self.setTransform(framing[0])
            self.centerOn(framing[1])

    def scope_path(self) -> list[str]:
        """The breadcrumb's steps: the design's name, then ``instance (Block)`` per level."""
        names = [self.document.design.name or "Design"]
        design = self.document.design
        for instance in self.canvas.scope:
            node = design.node(instance) if design.has_node(instance) else None
            block_name = node.type if node is not None else "?"
            names.append(f"{node.name if node else instance} ({block_name})")
            block = design.blocks.get(block_name)
            if block is None:
                break
            design = block.body
        return names

    def _scope_shown(self) -> None:
        self.breadcrumb.set_path(self.scope_path())
        self.canvas.clearSelection()
        self.scope_changed.emit(self.design)
        self._emit_selection()

    def _design_replaced(self, _design) -> None:
        self._scope_reset()

    def _scope_reset(self) -> None:
        self._views.clear()
        self.breadcrumb.set_path(self.scope_path())
        self._enable_block_actions()
        self.scope_changed.emit(self.design)

    def selected_node_ids(self) -> list[str]:
        return self.canvas.selected_node_ids()

    def select_nodes(self, ids) -> None:
        wanted = set(ids)
        self.canvas.blockSignals(True)
        try:
            self.canvas.clearSelection()
            for nid in wanted:
                item = self.canvas.nodes.get(nid)
                if item is not None:
                    item.setSelected(True)
        finally:
            self.canvas.blockSignals(False)
        self._emit_selection()

    def set_node_health(self, health: dict[str, tuple[str, str]]) -> None:
        """Show a gradient-health disc (level "ok", "warning" or "error", with a tooltip) on the
        nodes in ``health``; nodes left out lose theirs. Training diagnostics call this."""
        from .items import HealthBadgeItem

        for node_id, item in self.canvas.nodes.items():
            badge = getattr(item, "health_badge", None)
            if node_id in health:
                level, text = health[node_id]
                if badge is None:
                    badge = item.health_badge = HealthBadgeItem(item)
                if badge.severity != level:
                    badge.set_problem(level, text)
                badge.text = text  # the numbers change each record; only a new level repaints
                badge.show()
            elif badge is not None:
                badge.hide()

    def node_health(self, node_id: str) -> tuple[str, str] | None:
        """The health shown on a node, if any."""
        badge = getattr(self.canvas.nodes.get(node_id), "health_badge", None)
        return (badge.severity, badge.text) if badge is not None and badge.isVisible() else None

    def select_all(self) -> None:
        self.select_nodes(self.canvas.nodes)

    def center_on_node(self, node_id: str) -> None:
        item = self.canvas.nodes.get(node_id)
        if item is not None:
            self.centerOn(item.center())

    def fit_all(self, readable: bool = True) -> None:
        """Fit to View. The whole design when its names stay readable so; a design that would
        shrink past that but spans at most :data:`FIT_MAX_VIEWS` views at :data:`FIT_ZOOM`
        is shown at that zoom instead — names in view, the rest a little scroll away, as the
        minimap shows — and a second Fit in a row (or ``readable=False``) shows it whole."""
        rect = self.canvas.nodes_bounding_rect()
        if rect.isNull():
            self.resetTransform()
            self.centerOn(0, 0)
            return
        rect = rect.adjusted(-40, -40, 40, 40)
        zoom = self._readable_fit_zoom(rect) if readable else None
        if zoom is None or self._at_readable_fit():
            self._readable_fit = None
            self.fit_rect(rect)
            return
        self._fit_readable(rect, zoom)

    def _readable_fit_zoom(self, rect: QRectF) -> float | None:
        """:data:`FIT_ZOOM` when fitting ``rect`` whole would go below it and, at it, ``rect``
        spans no more than :data:`FIT_MAX_VIEWS` views each way; else None (a plain fit)."""
        view = self._framing_area()
        if view.width() <= 0 or view.height() <= 0:
            return None
        spans = (rect.width() * FIT_ZOOM / view.width(), rect.height() * FIT_ZOOM / view.height())
        if max(spans) <= 1.0 or max(spans) > FIT_MAX_VIEWS:
            return None
        return FIT_ZOOM

    def _fit_readable(self, rect: QRectF, zoom: float) -> None:
        """Show ``rect`` at ``zoom``: centred along a side that fits; along one that does not,
        the part in view now stays in view (brought inside ``rect``), so Fit does not jump."""
        view = self._framing_area()
        here = self.mapToScene(view.center())
        half_w, half_h = view.width() / zoom / 2, view.height() / zoom / 2

        def settle(now: float, low: float, high: float, half: float) -> float:
            if high - low <= 2 * half:
                return (low + high) / 2
            return max(low + half, min(high - half, now))

        center = QPointF(settle(here.x(), rect.left(), rect.right(), half_w),
                         settle(here.y(), rect.top(), rect.bottom(), half_h))
        self.setTransform(QTransform.fromScale(zoom, zoom))
        self._center_in(center, view)
        self._readable_fit = (zoom, self.mapToScene(self.viewport().rect().center()))
        self.status_message.emit(f"Fit at {zoom * 100:.0f}% so the names stay readable; "
                                 "Fit again (F) shows the whole design")

    def _at_readable_fit(self) -> bool:
        """Whether the view is still where the last readable Fit put it (Fit again: all)."""
        if self._readable_fit is None:
            return False
        zoom, center = self._readable_fit
        moved = self.mapToScene(self.viewport().rect().center()) - center
        return abs(self.zoom() - zoom) < 1e-6 and moved.manhattanLength() < 2.0

    def show_design(self) -> None:
        """Frame a freshly opened design: all of it when that stays readable; otherwise its
        start (the top, or the left when it flows right) at a readable zoom that fits its
        breadth, no closer than :data:`OPEN_ZOOM` so many layers are in view — the minimap shows
        the rest. A deep network never opens as specks, nor as a few giant nodes."""
        rect = self.canvas.nodes_bounding_rect()
        view = self._framing_area()
        if rect.isNull() or view.width() <= 0 or view.height() <= 0:
            self.fit_all()
            return
        rect = rect.adjusted(-40, -40, 40, 40)
        if min(view.width() / rect.width(), view.height() / rect.height()) >= READABLE_ZOOM:
            self.fit_rect(rect)
            return
        down = self.document.design.flow == "down"
        breadth = view.width() / rect.width() if down else view.height() / rect.height()
        zoom = max(READABLE_ZOOM, min(OPEN_ZOOM, breadth))
        self.setTransform(QTransform.fromScale(zoom, zoom))
        if down:
            self._center_in(QPointF(rect.center().x(), rect.top() + view.height() / zoom / 2), view)
        else:
            self._center_in(QPointF(rect.left() + view.width() / zoom / 2, rect.center().y()), view)

    def fit_rect(self, rect: QRectF) -> None:
        """Show ``rect`` whole, no larger than a comfortable reading zoom (and as small as it
        takes: the wheel then zooms in from there, not further out)."""
        view = self._framing_area()
        if rect.width() <= 0 or rect.height() <= 0 or view.width() <= 0:
            return
        zoom = min(view.width() / rect.width(), view.height() / rect.height())
        zoom = min(MAX_FIT_ZOOM, zoom)  # below MIN_ZOOM too: a huge design still fits whole
        self.setTransform(QTransform.fromScale(zoom, zoom))
        self._center_in(rect.center(), view)

    def _framing_area(self) -> QRect:
        """The part of the viewport that Fit and opening a design frame: below the block path
        while one shows, so a block's first layers never open under it."""
        area = self.viewport().rect()
        if not self.breadcrumb.isHidden():
            below = self.viewport().mapFrom(self, self.breadcrumb.geometry().bottomLeft()).y()
            area.setTop(min(area.bottom(), below + 6))
        return area

    def _center_in(self, scene_point: QPointF, area: QRect) -> None:
        """Scroll so ``scene_point`` lies at the middle of ``area`` (viewport pixels)."""
        shift = QPointF(area.center() - self.viewport().rect().center()) / self.zoom()
        self.centerOn(scene_point - shift)

    def zoom(self) -> float:
        return self.transform().m11()

    def set_zoom(self, zoom: float, anchor: QPointF | None = None) -> None:
        """Zoom to ``zoom`` (1.0 = 100 %, clamped to what the canvas allows), keeping the scene
        point ``anchor`` where it is on screen: by default the middle of the selection when it is
        in view (Ctrl+0 at a fit kept the middle of the view and lost a selected layer), else the
        middle of the view; then the selection is scrolled whole into view if it fits."""
        zoom = max(min(MIN_ZOOM, self.zoom()), min(MAX_ZOOM, zoom))  # never out past a fit
        selection = self._selection_in_view() if anchor is None else QRectF()
        if anchor is None:
            middle = selection if not selection.isNull() else self.visible_scene_rect()
            anchor = middle.center()
        on_screen = self.mapFromScene(anchor)
        self.setTransform(QTransform.fromScale(zoom, zoom))
        self.centerOn(anchor)
        shift = self.mapFromScene(anchor) - on_screen
        self.horizontalScrollBar().setValue(self.horizontalScrollBar().value() + shift.x())
        self.verticalScrollBar().setValue(self.verticalScrollBar().value() + shift.y())
        shown = self.visible_scene_rect()
        if not selection.isNull() and selection.width() + 32 <= shown.width() \
                and selection.height() + 32 <= shown.height():  # (a taller one: kept anchored)
            self.ensureVisible(selection, 16, 16)

    def _selection_in_view(self) -> QRectF:
        """The bounds of the selected layers in view, wholly or partly (a null rectangle: none)."""
        shown = self.visible_scene_rect()
        selected = [item.sceneBoundingRect() for nid in self.selected_node_ids()
                    if (item := self.canvas.nodes.get(nid)) is not None]
        in_view = QRectF()
        for rect in selected:
            in_view = in_view.united(rect) if rect.intersects(shown) else in_view
        return in_view

    def visible_scene_rect(self) -> QRectF:
        return self.mapToScene(self.viewport().rect()).boundingRect()

    def auto_layout(self, flow: str | None = None) -> None:
        """Arrange the layers by topological generation along ``flow`` ("down" or "right";
        default: the design's own flow), turning the design's flow if needed — one undo step."""
        command = auto_layout_command(self.design, flow, self.document.design)
        if command is not None:
            self.document.push(command)
        self.fit_all()

    def add_node_at_center(self, type_id: str) -> str | None:
        """Add a ``type_id`` layer in view (palette double-click). With one node selected, the
        new layer goes one step after it along the flow and is linked after it when the link is
        allowed (either way on a free spot: :mod:`ui.canvas.placement`)."""
        type_id = self._usable_type(type_id)
        if type_id is None:
            return None
        selected = self.selected_node_ids()
        if len(selected) == 1:
            return self._add_node(type_id, rank_after(self.design, selected[0]), after=selected[0])
        center = self.mapToScene(self.viewport().rect().center())
        return self._add_node(type_id, (center.x() - NODE_WIDTH / 2, center.y() - NODE_HEIGHT / 2))

    def copy(self) -> None:
        ids = self.selected_node_ids()
        if not ids:
            self.status_message.emit("Nothing selected to copy")
            return
        text = fragment_text(self.design, ids)
        self._last_copy = text
        self._paste_count = 0
        QGuiApplication.clipboard().setMimeData(to_mime(text))
        self.status_message.emit(f"Copied {len(ids)} layer{'s' if len(ids) > 1 else ''}")

    def paste(self, at: QPointF | None = None) -> None:
        """Paste the clipboard's layers centred on ``at`` (a scene point; default: the mouse when
        it is over the canvas, else a little below and right of the copied ones)."""
        try:
            content = from_mime(QGuiApplication.clipboard().mimeData())
        except DesignFileError as exc:
            self.status_message.emit(f"Cannot paste: the clipboard holds no Netwright layers ({exc})")
            return
        if not content or not content[0]:
            self.status_message.emit("Nothing to paste")
            return
        text = QGuiApplication.clipboard().text()
        if text != self._last_copy:
            self._last_copy, self._paste_count = text, 0
        self._paste_count += 1
        if at is None and self._mouse is not None and self.viewport().rect().contains(self._mouse):
            at = self.mapToScene(self._mouse)
        if at is None:
            self._paste(*content, offset=PASTE_OFFSET * self._paste_count, text="Paste")
            return
        nodes = content[0]
        xs, ys = [n.position[0] for n in nodes], [n.position[1] for n in nodes]
        dx = at.x() - (min(xs) + max(xs) + NODE_WIDTH) / 2
        dy = at.y() - (min(ys) + max(ys) + NODE_HEIGHT) / 2
        self._paste(*content, offset=(round(dx, 1), round(dy, 1)), text="Paste")

    def duplicate(self) -> None:
        ids = self.selected_node_ids()
        if not ids:
            return
        nodes, edges = read_fragment(fragment_text(self.design, ids))
        self._paste(nodes, edges, offset=PASTE_OFFSET, text="Duplicate")

    def delete_selected(self) -> None:
        design = self.design
        ids = self.selected_node_ids()
        links = [e for e in self.canvas.selected_edges() if e.src not in ids and e.dst not in ids]
        if not ids and not links:
            return
        if ids and not links:
            self.document.push(RemoveNodesCommand(design, ids))
            return
        macro = MacroCommand("Delete")
        if ids:
            RemoveNodesCommand(design, ids, macro)
        for edge in sorted(links, key=design.edge_index, reverse=True):
            RemoveEdgeCommand(design, edge, macro)
        self.document.push(macro)

    def open_quick_add(self, view_pos: QPoint | None = None, connect: tuple | None = None) -> None:
        """Open the quick-add search at ``view_pos`` (default: the cursor, or the centre).

        ``connect`` is ``("after", node_id, port)`` or ``("before", node_id, port)``; without it,
        the new layer follows the selected node when one node is selected."""
        if view_pos is None:
            cursor = self.viewport().mapFromGlobal(self.cursor().pos())
            inside = self.viewport().rect().contains(cursor)
            view_pos = cursor if inside else self.viewport().rect().center()
        if connect is None:
            selected = self.selected_node_ids()
            if len(selected) == 1:
                connect = ("after", selected[0], None)
        self._quick_add_request = (self.mapToScene(view_pos), connect)
        hint = ""
        design = self.design
        if connect is not None and connect[1] is not None and design.has_node(connect[1]):
            where = "after" if connect[0] == "after" else "into"
            hint = f"Enter adds the layer, linked {where} {design.node(connect[1]).name}"
        self.quick_add.popup(self.viewport().mapTo(self, view_pos), hint)

    # ---- edits --------------------------------------------------------------------------------------

    def _add_node(self, type_id: str, position: tuple[float, float], after: str | None = None,
                  before: tuple[str, str] | None = None) -> str:
        """Add a ``type_id`` layer at the free spot nearest ``position`` (its top-left), linked
        ``after`` a node or ``before`` a node's input port when given; selected and in view."""
        design = self.design
        node = design.make_node(type_id, position=position)
        edge = None
        if after is not None and design.has_node(after):
            edge = connect_after(design, after, node)
        elif before is not None and design.has_node(before[0]):
            edge = connect_before(design, before[0], before[1], node)
        x, y = free_spot(design, position, node, [edge] if edge is not None else [])
        node.position = (round(x, 1), round(y, 1))
        if edge is None:
            self.document.push(AddNodeCommand(design, node))
        else:
            macro = MacroCommand(f"Add {node.name}")
            AddNodeCommand(design, node, macro)
            AddEdgeCommand(design, edge, None, macro)
            self.document.push(macro)
        self.select_nodes([node.id])
        item = self.canvas.nodes.get(node.id)
        if item is not None:
            self.ensure_visible(item.sceneBoundingRect())
        return node.id

    def ensure_visible(self, rect: QRectF, margin: int = 20) -> None:
        """Scroll the scene rectangle ``rect`` into view with ``margin`` pixels around it and out
        from under the minimap (moved left or up, whichever is less, where it fits)."""
        self.ensureVisible(rect, margin, margin)
        blocked = self.minimap.footprint()
        shown = self.mapFromScene(rect).boundingRect().adjusted(-margin, -margin, margin, margin)
        if blocked.isNull() or not shown.intersects(blocked):
            return
        left, up = shown.right() - blocked.left() + 1, shown.bottom() - blocked.top() + 1
        moves = [(dx, dy) for dx, dy, room in ((left, 0, shown.left()), (0, up, shown.top()))
                 if room >= dx + dy]
        if moves:
            dx, dy = min(moves, key=sum)
            self.horizontalScrollBar().setValue(self.horizontalScrollBar().value() + dx)
            self.verticalScrollBar().setValue(self.verticalScrollBar().value() + dy)

    def _paste(self, nodes: list[Node], edges: list[Edge], offset, text: str) -> None:
        design = self.design
        if not isinstance(offset, tuple):
            offset = (offset, offset)
        macro, new_ids = paste_command(design, nodes, edges, offset, text)
        self.document.push(macro)
        self.select_nodes(new_ids)
        done = "Pasted" if text == "Paste" else "Duplicated"
        self.status_message.emit(f"{done} {len(new_ids)} layer{'s' if len(new_ids) > 1 else ''}")

    def _quick_add_chosen(self, type_id: str) -> None:
        scene_pos, connect = self._quick_add_request
        x, y = scene_pos.x() - NODE_WIDTH / 2, scene_pos.y() - NODE_HEIGHT / 2
        if connect is not None and connect[0] == "after":
            self._add_node(type_id, (x, scene_pos.y() if connect[2] else y), after=connect[1])
        elif connect is not None and connect[0] == "before":
            self._add_node(type_id, (x, scene_pos.y() - NODE_HEIGHT), before=(connect[1], connect[2]))
        else:
            self._add_node(type_id, (x, y))

    def _rubber_band_selects_nodes_only(self, *_args) -> None:
        """A band drawn over a long link should not select (and so delete) that link."""
        for item in self.canvas.selectedItems():
            if isinstance(item, LinkItem):
                item.setSelected(False)

    def _emit_selection(self) -> None:
        self._enable_block_actions()
        self.selection_changed.emit(self.selected_node_ids())

    def _enable_block_actions(self) -> None:
        """Group, Ungroup, Open and Leave Block are enabled where they would do something."""
        ids = self.selected_node_ids()
        blocks = [nid for nid in ids if self.design.has_node(nid) and self.design.node(nid).is_block]
        self.action("group").setEnabled(bool(ids))
        self.action("ungroup").setEnabled(bool(blocks))
        self.action("enter_block").setEnabled(len(ids) == 1 and bool(blocks))
        self.action("leave_block").setEnabled(bool(self.canvas.scope))
        self.action("block_args").setEnabled(self.args_block() is not None)

    def _say(self, text: str) -> None:
        self.last_feedback = text
        if text:
            self.status_message.emit(text)

    # ---- mouse -----------------------------------------------------------------------------------

    def _item_at(self, scene_pos: QPointF):
        for item in self.canvas.items(scene_pos):
            if isinstance(item, (PortItem, NodeItem, LinkItem)):
                return item
            parent = item.parentItem()
            if isinstance(parent, NodeItem):  # the badge
                return parent
        return None

    def mousePressEvent(self, event) -> None:
        self.quick_add.dismiss()
        pos = event.position().toPoint()
        if event.button() == Qt.MouseButton.MiddleButton or (
                event.button() == Qt.MouseButton.LeftButton and self._space_held):
            self._pan_from = pos
            self.viewport().setCursor(Qt.CursorShape.ClosedHandCursor)
            event.accept()
            return
        if event.button() == Qt.MouseButton.LeftButton:
            scene_pos = self.mapToScene(pos)
            if self._open_badge_fixes(scene_pos, event.globalPosition().toPoint()):
                event.accept()
                return
            item = self._item_at(scene_pos)
            drag = start_link_drag(self.canvas, item, scene_pos)
            if drag is not None:
                if isinstance(item, LinkItem):  # its end: a click selects it, a drag re-wires
                    self._select_link(item, event.modifiers())
                self._link_drag = drag
                self._press_pos = pos
                event.accept()
                return
        super().mousePressEvent(event)
        if event.button() == Qt.MouseButton.LeftButton and isinstance(self.canvas.mouseGrabberItem(), NodeItem):
            design = self.design
            self._move_start = {nid: design.node(nid).position for nid in self.selected_node_ids()}

    def _select_link(self, link: LinkItem, modifiers) -> None:
        """Select ``link`` as a press on its middle does: alone, or added with Ctrl — so Delete
        never removes something else the user no longer sees selected."""
        if not modifiers & Qt.KeyboardModifier.ControlModifier:
            self.canvas.clearSelection()
        link.setSelected(True)

    def node_fixes(self, node_id: str) -> list:
        """The suggested fixes of ``node_id``'s problems that a click can apply (those of the
        document's own network: an entered block's body has none)."""
        if self.design is not self.document.design:
            return []
        actions = [a for d in self.document.report.for_node(node_id) for a in d.actions]
        return applicable(self.design, actions)

    def apply_fix(self, action) -> None:
        if apply_fix(self.document, action, self.design):
            self._say(f"Fixed: {action.text} (Ctrl+Z undoes it)")

    def _open_badge_fixes(self, scene_pos: QPointF, global_pos: QPoint) -> bool:
        """A click on a node's error badge: the menu of its fixes (True when one opened)."""
        badge = next((i for i in self.canvas.items(scene_pos) if type(i) is BadgeItem), None)
        if badge is None or not badge.isVisible():
            return False
        actions = self.node_fixes(badge.parentItem().node_id)
        if not actions:
            return False
        menu = fix_menu(self, actions, self.apply_fix)
        menu.exec(global_pos)
        menu.deleteLater()
        return True

    def mouseMoveEvent(self, event) -> None:
        pos = event.position().toPoint()
        self._mouse = pos
        if self._pan_from is not None:
            delta = pos - self._pan_from
            self._pan_from = pos
            self.horizontalScrollBar().setValue(self.horizontalScrollBar().value() - delta.x())
            self.verticalScrollBar().setValue(self.verticalScrollBar().value() - delta.y())
            event.accept()
            return
        if self._link_drag is not None:
            self._link_drag.move(self.mapToScene(pos), self.zoom())
            self.last_feedback = self._link_drag.feedback.text
            event.accept()
            return
        super().mouseMoveEvent(event)

    def mouseReleaseEvent(self, event) -> None:
        if self._pan_from is not None and event.button() in (Qt.MouseButton.MiddleButton,
                                                              Qt.MouseButton.LeftButton):
            self._pan_from = None
            self.viewport().setCursor(Qt.CursorShape.OpenHandCursor if self._space_held
                                      else Qt.CursorShape.ArrowCursor)
            event.accept()
            return
        if self._link_drag is not None and event.button() == Qt.MouseButton.LeftButton:
            self._finish_link_drag(event.position().toPoint(), event.modifiers())
            event.accept()
            return
        super().mouseReleaseEvent(event)
        if event.button() == Qt.MouseButton.LeftButton and self._move_start is not None:
            self._commit_move()

    def _finish_link_drag(self, pos: QPoint, modifiers=Qt.KeyboardModifier.NoModifier) -> None:
        drag, self._link_drag = self._link_drag, None
        if (pos - self._press_pos).manhattanLength() < QApplication.startDragDistance():
            drag.cleanup()  # a click: on a link's end (or the input it feeds) it selects the link
            picked = self.canvas.links.get(drag.moving) if drag.moving is not None else None
            if picked is not None and not picked.isSelected():
                self._select_link(picked, modifiers)
            return
        drag.move(self.mapToScene(pos), self.zoom())
        command, message = drag.finish()
        self._say(message)
        if command is not None:
            self.document.push(command)
        elif drag.target is None and drag.moving is None:
            # A new link dropped on empty canvas: pick the layer to put there, already linked.
            fixed = drag.fixed
            kind = "after" if fixed.direction == "out" else "before"
            self.open_quick_add(pos, (kind, fixed.node, fixed.port))

    def _commit_move(self) -> None:
        start, self._move_start = self._move_start, None
        moves = {}
        for nid, old in start.items():
            item = self.canvas.nodes.get(nid)
            if item is None:
                continue
            new = (round(item.pos().x(), 1), round(item.pos().y(), 1))
            if new != old:
                moves[nid] = (old, new)
        if moves:
            name = self.design.node(next(iter(moves))).name
            text = f"Move {name}" if len(moves) == 1 else f"Move {len(moves)} layers"
            self.document.push(MoveNodesCommand(self.design, moves, text))

    def mouseDoubleClickEvent(self, event) -> None:
        if event.button() == Qt.MouseButton.LeftButton:
            item = self._item_at(self.mapToScene(event.position().toPoint()))
            if item is None:
                self.canvas.clearSelection()
                self.open_quick_add(event.position().toPoint(), ("none", None, None))
                event.accept()
                return
            if isinstance(item, NodeItem):
                if not self.enter_block(item.node_id):
                    self.node_activated.emit(item.node_id)
                event.accept()
                return
        super().mouseDoubleClickEvent(event)

    def wheelEvent(self, event) -> None:
        steps = event.angleDelta().y() / 120.0
        if not steps:
            return
        factor = 1.15 ** steps
        zoom = self.zoom()
        factor = max(min(MIN_ZOOM, zoom) / zoom, min(MAX_ZOOM / zoom, factor))
        pos = event.position().toPoint()
        before = self.mapToScene(pos)
        self.scale(factor, factor)
        after = self.mapToScene(pos)
        shift = (after - before) * self.zoom()
        self.horizontalScrollBar().setValue(round(self.horizontalScrollBar().value() - shift.x()))
        self.verticalScrollBar().setValue(round(self.verticalScrollBar().value() - shift.y()))
        event.accept()

    def leaveEvent(self, event) -> None:
        self._mouse = None
        super().leaveEvent(event)

    def contextMenuEvent(self, event) -> None:
        item = self._item_at(self.mapToScene(event.pos()))
        if isinstance(item, NodeItem) and not item.isSelected():
            self.select_nodes([item.node_id])
        self._mouse = event.pos()  # Paste from this menu lands where it was opened
        menu = QMenu(self)
        if isinstance(item, NodeItem):
            names = ("copy", "duplicate", "delete", "group")
            if item.is_block:
                names += ("enter_block", "ungroup", "block_args")
        else:
            names = ("quick_add", "paste", "select_all", "auto_layout", "layout_down",
                     "layout_right", "fit_all")
        if self.canvas.scope:
            names += ("leave_block",) + (("block_args",) if not isinstance(item, NodeItem) else ())
        for name in names:
            menu.addAction(self.action(name))
        if isinstance(item, NodeItem):
            fixes = self.node_fixes(item.node_id)
            if fixes:
                menu.addSeparator()
            for action in fixes:
                menu.addAction(f"Fix: {action.text}").triggered.connect(
                    lambda _checked=False, a=action: self.apply_fix(a))
        menu.exec(event.globalPos())
        menu.deleteLater()

    # ---- keys ------------------------------------------------------------------------------------

    def event(self, event) -> bool:
        if event.type() == QEvent.Type.KeyPress and event.key() == Qt.Key.Key_Tab \
                and not self.quick_add.isVisible():
            self.open_quick_add()
            return True
        return super().event(event)

    def keyPressEvent(self, event) -> None:
        if event.key() == Qt.Key.Key_Space and not event.isAutoRepeat():
            self._space_held = True
            self.viewport().setCursor(Qt.CursorShape.OpenHandCursor)
            event.accept()
            return
        if event.key() == Qt.Key.Key_Escape:
            if self._link_drag is not None:
                self._link_drag.cleanup()
                self._link_drag = None
            elif not self.canvas.selectedItems() and self.canvas.scope:
                self.leave_to(len(self.canvas.scope) - 1)  # Esc with nothing selected goes up
            self.canvas.clearSelection()
            event.accept()
            return
        super().keyPressEvent(event)

    def keyReleaseEvent(self, event) -> None:
        if event.key() == Qt.Key.Key_Space and not event.isAutoRepeat():
            self._space_held = False
            self.viewport().setCursor(Qt.CursorShape.ArrowCursor)
            event.accept()
            return
        super().keyReleaseEvent(event)

    # ---- drops from the palette --------------------------------------------------------------------

    def _dropped_type(self, event) -> str | None:
        mime = event.mimeData()
        if mime is None or not mime.hasFormat(LAYER_MIME):
            return None
        type_id = bytes(mime.data(LAYER_MIME).data()).decode("utf-8", errors="replace").strip()
        return self._usable_type(type_id)

    def _usable_type(self, type_id: str) -> str | None:
        """``type_id`` as a layer type or block the edited network may use (a block may not be
        used inside itself), or None."""
        design = self.design
        if type_id in design.blocks:
            shown = next((b.name for b in design.blocks if b.body is design), None)
            if shown is not None and (type_id == shown or _uses(design.blocks, type_id, shown)):
                self.status_message.emit(f"{type_id} cannot be used inside {shown}: "
                                         "a block cannot contain itself")
                return None
            return type_id
        return CATALOG.current_id(type_id)

    def _link_under(self, scene_pos: QPointF, type_id: str) -> LinkItem | None:
        layer = self.design.layer_type(type_id)
        if layer is None or not layer.inputs or not layer.outputs:
            return None
        for item in self.canvas.items(QRectF(scene_pos.x() - 6, scene_pos.y() - 6, 12, 12)):
            if isinstance(item, NodeItem):
                return None
            if isinstance(item, LinkItem) and item.isVisible():
                return item
        return None

    def _set_drop_link(self, link: LinkItem | None) -> None:
        if link is not self._drop_link:
            if self._drop_link is not None and self._drop_link.scene() is not None:
                self._drop_link.set_highlight(False)
            self._drop_link = link
            if link is not None:
                link.set_highlight(True)

    def dragEnterEvent(self, event) -> None:
        if self._dropped_type(event):
            event.acceptProposedAction()
        else:
            event.ignore()

    def dragMoveEvent(self, event) -> None:
        type_id = self._dropped_type(event)
        if not type_id:
            event.ignore()
            return
        link = self._link_under(self.mapToScene(event.position().toPoint()), type_id)
        self._set_drop_link(link)
        event.acceptProposedAction()

    def dragLeaveEvent(self, event) -> None:
        self._set_drop_link(None)
        event.accept()

    def dropEvent(self, event) -> None:
        type_id = self._dropped_type(event)
        self._set_drop_link(None)
        if not type_id:
            event.ignore()
            return
        scene_pos = self.mapToScene(event.position().toPoint())
        design = self.design
        position = (scene_pos.x() - NODE_WIDTH / 2, scene_pos.y() - NODE_HEIGHT / 2)
        link = self._link_under(scene_pos, type_id)
        if link is not None and link.edge in design.edges:
            node = design.make_node(type_id, position=(round(position[0], 1), round(position[1], 1)))
            self.document.push(insert_on_link_command(design, node, link.edge))
            self.select_nodes([node.id])
        else:
            self._add_node(type_id, position)
        self.setFocus()
        event.acceptProposedAction()

    # ---- background ---------------------------------------------------------------------------------

    def drawBackground(self, painter: QPainter, rect: QRectF) -> None:
        """A grid from one cached tile, rendered at the current zoom and tiled by a brush."""
        transform = painter.worldTransform()
        scale = transform.m11()
        tile = self._tile(scale)
        painter.save()
        painter.resetTransform()
        device = transform.mapRect(rect)
        origin = transform.map(QPointF(0, 0))
        brush = QBrush(tile[1])
        brush.setTransform(QTransform.fromTranslate(origin.x(), origin.y()).scale(tile[0], tile[0]))
        painter.fillRect(device, brush)
        painter.restore()

    def _tile(self, scale: float) -> tuple[float, QPixmap]:
        """A GRID_MAJOR-square tile drawn at ``scale`` (cached until the zoom changes)."""
        key = round(scale, 4)
        if self._grid_tile is not None and self._grid_tile[2] == key:
            return self._grid_tile[:2]
        size = max(4, round(GRID_MAJOR * scale))
        pixmap = QPixmap(size, size)
        pixmap.fill(Theme.background)
        painter = QPainter(pixmap)
        step = size / (GRID_MAJOR / GRID_MINOR)
        if step >= 12:  # minor lines only when they are far enough apart to read as a grid
            painter.setPen(QPen(Theme.grid_minor, 1))
            for i in range(1, GRID_MAJOR // GRID_MINOR):
                v = round(i * step)
                painter.drawLine(v, 0, v, size)
                painter.drawLine(0, v, size, v)
        painter.setPen(QPen(Theme.grid_major, 1))
        painter.drawLine(0, 0, size, 0)
        painter.drawLine(0, 0, 0, size)
        painter.end()
        ratio = GRID_MAJOR * scale / size  # the tile's pixels per device pixel
        self._grid_tile = (ratio, pixmap, key)
        return ratio, pixmap

    def setTransform(self, matrix: QTransform, combine: bool = False) -> None:  # noqa: N802
        super().setTransform(matrix, combine)
        self.resetCachedContent()
        self.zoom_changed.emit(self.zoom())
        self.view_changed.emit()

    def resetTransform(self) -> None:  # noqa: N802 (Qt API; Qt's own skips setTransform above)
        self.setTransform(QTransform())

    def scale(self, sx: float, sy: float) -> None:
        super().scale(sx, sy)
        self.resetCachedContent()
        self.zoom_changed.emit(self.zoom())
        self.view_changed.emit()

    def scrollContentsBy(self, dx: int, dy: int) -> None:  # noqa: N802 (Qt API)
        super().scrollContentsBy(dx, dy)
        self.view_changed.emit()

    def resizeEvent(self, event) -> None:  # noqa: N802 (Qt API)
        super().resizeEvent(event)
        if hasattr(self, "minimap"):
            self.minimap.place()
        self.view_changed.emit()
        self.resized.emit()


def _uses(library, name: str, target: str) -> bool:
    """Whether block ``name`` uses block ``target``, directly or through other blocks."""
    seen, stack = set(), [name]
    while stack:
        block = library.get(stack.pop())
        for used in block.uses() if block is not None else ():
            if used == target:
                return True
            if used not in seen:
                seen.add(used)
                stack.append(used)
    return False


def _safe_detach(follower) -> None:
    """Unsubscribe a dying view's scene or minimap from the design's (pure Python) events."""
    try:
        follower.detach()
    except RuntimeError:  # the C++ side is gone already; the Python lists are what matter
        pass
