"""The node canvas: a QGraphicsScene that follows the design model, and the view users edit in.

Import :class:`ui.canvas.view.CanvasView` to embed the editor. Palette drags carry
:data:`LAYER_MIME` with the layer type id as UTF-8 bytes; the canvas adds that layer where it is
dropped (or at the nearest spot clear of other layers and links: :mod:`.placement`), or splices
it into the link it is dropped on.
"""
from __future__ import annotations

LAYER_MIME = "application/x-netwright-layer"
"""MIME type of a palette drag; the payload is the layer type id, UTF-8 encoded."""

NODES_MIME = "application/x-netwright-nodes+json"
"""MIME type of copied nodes on the clipboard: a Netwright design document as JSON text."""
